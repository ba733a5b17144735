/* test_bert_reference.c — core/bert.c against the PyTorch reference fixtures
 * (tests/model/bert_tiny_fixture.safetensors, made by make_bert_fixture.py,
 * and bert_qat_fixture.safetensors, made by make_bert_qat_fixture.py: the
 * same model with int8 LSQ fake quantization of the blocks' linear weights):
 * the MLM loss and every parameter gradient of one forward/backward (step
 * sizes included), the losses of 10 AdamW steps through the strategy's
 * optimizer_step, the QAT layout and initialisation, bf16 and f16 against
 * fp32, and a short training run with dynamic masking (core/mlm.c) whose
 * loss falls.
 * Error measure: rel_err_rms (gpt_test_util.h). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bert.h"
#include "gpt_test_util.h"
#include "mlm.h"
#include "rng.h"

static const double GRAD_TOL = 1e-5, LOSS_TOL = 1e-5, ADAM_TOL = 1e-5;
/* The QAT fixture's gradients depend on OpenBLAS's kernel (summation
 * order) more than the plain one's, as the fake-quantized weights' step
 * sizes amplify it: max 7.3e-6 with this machine's Cooperlake kernel, 5.3e-6
 * Haswell, 1.08e-5 Sandybridge (OPENBLAS_CORETYPE); the plain fixture stays
 * within 7.3e-6 with each. 3e-5. */
static const double QAT_GRAD_TOL = 3e-5;
static const char FIXTURE[] = "bert_tiny_fixture.safetensors";
static const char QAT_FIXTURE[] = "bert_qat_fixture.safetensors";

typedef struct bert_env {
    llmrt_config *conf;
    llmrt_rt *rt;
    llmrt_bert *model;
    llmrt_model_layout layout; /* attached: outlives the runtime */
    llmrt_bert_config cfg;
} bert_env;

static void env_open(bert_env *e, const llmrt_bert_config *cfg, int B, int T)
{
    e->cfg = *cfg;
    OK(llmrt_config_new(&e->conf));
    if (cfg->qat) OK(llmrt_config_set(e->conf, "runtime.format=int8"));
    else if (cfg->dtype == LLMRT_DTYPE_BF16) OK(llmrt_config_set(e->conf, "runtime.format=bf16"));
    else if (cfg->dtype == LLMRT_DTYPE_F16) OK(llmrt_config_set(e->conf, "runtime.format=fp16"));
    OK(llmrt_rt_create(&e->rt, e->conf));
    OK(llmrt_bert_create(&e->model, cfg, e->rt, B, T));
    OK(llmrt_bert_layout_build(cfg, &e->layout));
    OK(llmrt_rt_attach_model(e->rt, &e->layout));
}

static void env_close(bert_env *e)
{
    llmrt_bert_destroy(e->model);
    llmrt_rt_destroy(e->rt);
    llmrt_bert_layout_free(&e->layout);
    llmrt_config_free(e->conf);
}

static const llmrt_strategy_vtable *strategy(bert_env *e, void **sctx)
{
    return llmrt_rt_strategy(e->rt, sctx);
}

/* The fixture's model, batch and parameters. */
typedef struct fixture_run {
    llmrt_st_file *fx;
    int B, T;
    int32_t *inputs, *targets;
    bert_env env;
} fixture_run;

static void run_open_dtype(fixture_run *r, const char *fixture, int qat, llmrt_dtype dtype)
{
    r->fx = gpt_fixture_open(fixture);
    llmrt_bert_config cfg = {
        .qat = qat,
        .dtype = dtype,
        .layers = gpt_fixture_meta_int(r->fx, "model.layers"),
        .heads = gpt_fixture_meta_int(r->fx, "model.heads"),
        .dim = gpt_fixture_meta_int(r->fx, "model.dim"),
        .context = gpt_fixture_meta_int(r->fx, "model.context"),
        .vocab = gpt_fixture_meta_int(r->fx, "model.vocab"),
    };
    r->B = gpt_fixture_meta_int(r->fx, "batch");
    r->T = gpt_fixture_meta_int(r->fx, "seq_len");
    size_t bt = (size_t)r->B * (size_t)r->T;
    r->inputs = malloc(bt * sizeof *r->inputs);
    r->targets = malloc(bt * sizeof *r->targets);
    ck_assert(r->inputs && r->targets);
    OK(llmrt_st_read_raw(r->fx, "inputs", LLMRT_ST_I32, r->inputs, bt * sizeof(int32_t)));
    OK(llmrt_st_read_raw(r->fx, "targets", LLMRT_ST_I32, r->targets, bt * sizeof(int32_t)));
    env_open(&r->env, &cfg, r->B, r->T);
    void *sctx;
    const llmrt_strategy_vtable *st = strategy(&r->env, &sctx);
    for (size_t u = 0; u < r->env.layout.n_units; u++) {
        const llmrt_unit_desc *unit = &r->env.layout.units[u];
        float *h = malloc(unit->numel * sizeof *h);
        ck_assert_ptr_nonnull(h);
        for (size_t t = 0; t < unit->n_tensors; t++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            int64_t dims[2];
            uint64_t shape[2];
            int nd = llmrt_bert_tensor_shape(&cfg, u, t, dims);
            ck_assert_int_ge(nd, 1);
            for (int i = 0; i < nd; i++) shape[i] = (uint64_t)dims[i];
            OK(llmrt_st_expect(r->fx, td->name, nd, shape));
            OK(llmrt_st_read_f32(r->fx, td->name, h + td->offset, td->numel));
        }
        OK(st->set_state(sctx, u, LLMRT_STATE_PARAMS, h));
        free(h);
    }
}

static void run_open(fixture_run *r, const char *fixture, int qat)
{
    run_open_dtype(r, fixture, qat, LLMRT_DTYPE_F32);
}

static void run_close(fixture_run *r)
{
    env_close(&r->env);
    llmrt_st_close(r->fx);
    free(r->inputs);
    free(r->targets);
}

static void loss_and_gradients(const char *fixture, int qat)
{
    fixture_run r;
    run_open(&r, fixture, qat);
    float *ref = gpt_fixture_f32(r.fx, "loss", 1);
    /* Micro-batch 0 of 2: ddp keeps the gradients local to read them back. */
    OK(llmrt_rt_begin_microbatch(r.env.rt, 0, 2));
    float loss = 0.0f;
    OK(llmrt_bert_forward(r.env.model, r.inputs, r.targets, r.B, r.T, &loss));
    double err = fabs((double)loss - ref[0]) / fabs((double)ref[0]);
    printf("loss %.7f, reference %.7f, relative error %.2e\n", loss, ref[0], err);
    ck_assert(err <= LOSS_TOL);
    free(ref);
    OK(llmrt_bert_backward(r.env.model, 1.0f));

    double worst = 0.0;
    for (size_t u = 0; u < r.env.layout.n_units; u++) {
        const llmrt_unit_desc *unit = &r.env.layout.units[u];
        float *g = malloc(unit->numel * sizeof *g);
        void *p, *gd;
        ck_assert_ptr_nonnull(g);
        OK(llmrt_rt_pre_backward(r.env.rt, u, &p, &gd));
        OK(llmrt_rt_download(r.env.rt, g, gd, unit->numel * sizeof(float)));
        OK(llmrt_rt_post_backward(r.env.rt, u));
        for (size_t t = 0; t < unit->n_tensors; t++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            char name[256];
            snprintf(name, sizeof name, "grad.%s", td->name);
            float *gref = gpt_fixture_f32(r.fx, name, td->numel);
            double e = rel_err_rms(g + td->offset, gref, td->numel);
            /* The key bias adds q.b_k to every score of a row, which the
             * softmax cancels: its gradient is 0 in exact arithmetic and
             * rounding noise in both, so it is held to an absolute bound. */
            if (strstr(td->name, "key.bias")) {
                double a = 0.0;
                for (size_t i = 0; i < td->numel; i++) a = fmax(a, fabs(g[td->offset + i]));
                printf("  %-58s max |grad| %.2e (exactly 0 in exact arithmetic)\n", td->name,
                       a);
                ck_assert_msg(a <= 1e-7, "gradient of %s: %.3e, expected ~0", td->name, a);
                free(gref);
                continue;
            }
            printf("  %-58s rel err %.2e\n", td->name, e);
            ck_assert_msg(e <= (qat ? QAT_GRAD_TOL : GRAD_TOL),
                          "gradient of %s: relative error %.3e", td->name, e);
            if (e > worst) worst = e;
            free(gref);
        }
        free(g);
    }
    printf("gradients: max relative error %.2e\n", worst);
    run_close(&r);
}

static void adamw_trajectory(const char *fixture, int qat)
{
    fixture_run r;
    run_open(&r, fixture, qat);
    size_t n = (size_t)gpt_fixture_meta_int(r.fx, "adam.steps");
    float *ref = gpt_fixture_f32(r.fx, "adam_losses", n);
    llmrt_optim_step step = {
        .struct_size = sizeof step,
        .lr = (float)gpt_fixture_meta_double(r.fx, "adam.lr"),
        .beta1 = (float)gpt_fixture_meta_double(r.fx, "adam.beta1"),
        .beta2 = (float)gpt_fixture_meta_double(r.fx, "adam.beta2"),
        .eps = (float)gpt_fixture_meta_double(r.fx, "adam.eps"),
        .weight_decay = (float)gpt_fixture_meta_double(r.fx, "adam.weight_decay"),
        .grad_scale = 1.0f,
    };
    void *sctx;
    const llmrt_strategy_vtable *st = strategy(&r.env, &sctx);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        float loss = 0.0f;
        OK(llmrt_rt_begin_microbatch(r.env.rt, 0, 1));
        OK(llmrt_bert_forward(r.env.model, r.inputs, r.targets, r.B, r.T, &loss));
        OK(llmrt_bert_backward(r.env.model, 1.0f));
        step.t = (int64_t)i + 1;
        OK(st->optimizer_step(sctx, &step));
        double e = fabs((double)loss - ref[i]) / fabs((double)ref[i]);
        printf("adamw step %2zu: loss %.7f, reference %.7f, relative error %.2e\n", i + 1, loss,
               ref[i], e);
        ck_assert(e <= ADAM_TOL);
        if (e > worst) worst = e;
    }
    printf("adamw: max relative loss error %.2e over %zu steps\n", worst, n);
    free(ref);
    run_close(&r);
}

/* The loss and every gradient (divided by loss_scale, widened to fp32) of
 * one forward/backward of the fixture's model and batch in `dtype`. */
static float dtype_run(llmrt_dtype dtype, float loss_scale, float ***grads, size_t *n_units)
{
    fixture_run r;
    run_open_dtype(&r, FIXTURE, 0, dtype);
    ck_assert_int_eq(r.env.layout.grad_type, dtype);
    OK(llmrt_rt_begin_microbatch(r.env.rt, 0, 2)); /* gradients stay local (ddp) */
    float loss = 0.0f;
    OK(llmrt_bert_forward(r.env.model, r.inputs, r.targets, r.B, r.T, &loss));
    OK(llmrt_bert_backward(r.env.model, loss_scale));
    *n_units = r.env.layout.n_units;
    *grads = test_grads_download(r.env.rt, &r.env.layout, dtype, loss_scale);
    run_close(&r);
    return loss;
}

/* bf16 and f16 against fp32 from the fixture's weights, with test_gpt_dtype's
 * bounds and reasons (u = 2^-8 for bf16, 2^-11 for f16): loss within 4 u,
 * every gradient within 16 u norm-wise; f16 with a loss scale of 2^10. The
 * key biases are left out: their gradient is 0 in exact arithmetic (see
 * above), so only noise would be compared. */
static void dtype_compare(llmrt_dtype dtype, const char *name, double u, float loss_scale)
{
    float **ref, **low;
    size_t n_ref, n_low;
    float l32 = dtype_run(LLMRT_DTYPE_F32, 1.0f, &ref, &n_ref);
    float l16 = dtype_run(dtype, loss_scale, &low, &n_low);
    ck_assert_uint_eq(n_ref, n_low);
    double le = fabs((double)l16 - l32) / fabs((double)l32);
    printf("%s: loss %.6f, fp32 %.6f, relative error %.2e (%.2f u)\n", name, l16, l32, le,
           le / u);
    ck_assert_msg(le <= 4 * u, "%s loss error %.3e > 4 u", name, le);
    llmrt_bert_config cfg = {.layers = 2, .heads = 4, .dim = 64, .context = 16,
                             .vocab = LLMRT_MLM_VOCAB};
    llmrt_model_layout lay;
    OK(llmrt_bert_layout_build(&cfg, &lay));
    ck_assert_uint_eq(lay.n_units, n_ref);
    double worst = 0.0;
    for (size_t un = 0; un < lay.n_units; un++)
        for (size_t t = 0; t < lay.units[un].n_tensors; t++) {
            const llmrt_tensor_desc *td = &lay.units[un].tensors[t];
            if (strstr(td->name, "key.bias")) continue;
            const float *a = low[un] + td->offset, *b = ref[un] + td->offset;
            double d = 0.0, r2 = 0.0;
            for (size_t i = 0; i < td->numel; i++) {
                d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
                r2 += (double)b[i] * b[i];
            }
            double e = r2 > 0.0 ? sqrt(d / r2) : sqrt(d);
            ck_assert_msg(e <= 16 * u, "%s gradient of %s: error %.3e > 16 u", name, td->name,
                          e);
            if (e > worst) worst = e;
        }
    printf("%s: gradients max norm-wise error %.2e (%.2f u)\n", name, worst, worst / u);
    llmrt_bert_layout_free(&lay);
    for (size_t un = 0; un < n_ref; un++) {
        free(ref[un]);
        free(low[un]);
    }
    free(ref);
    free(low);
}

START_TEST(bf16_vs_fp32) { dtype_compare(LLMRT_DTYPE_BF16, "bf16", 1.0 / 256.0, 1.0f); }
END_TEST
START_TEST(f16_vs_fp32) { dtype_compare(LLMRT_DTYPE_F16, "f16", 1.0 / 2048.0, 1024.0f); }
END_TEST

START_TEST(fp32_loss_and_gradients) { loss_and_gradients(FIXTURE, 0); }
END_TEST
START_TEST(fp32_adamw) { adamw_trajectory(FIXTURE, 0); }
END_TEST
/* The fixture's batch has 144 weights clamped at +-127 steps, so both
 * branches of the straight-through and LSQ gradients are compared. */
START_TEST(qat_loss_and_gradients) { loss_and_gradients(QAT_FIXTURE, 1); }
END_TEST
START_TEST(qat_adamw) { adamw_trajectory(QAT_FIXTURE, 1); }
END_TEST

/* The QAT layout: the plain block's sixteen tensors first, then six step
 * sizes (9C values, fp32, no weight decay), each mapped from its weight;
 * LSQ's initialisation per output row from the weights of the model without
 * QAT (the same random draws); two fp32 weight-sized scratch buffers of
 * activations; qat with a 16-bit dtype refused. */
START_TEST(qat_layout_and_init)
{
    llmrt_bert_config plain = {.layers = 2, .heads = 4, .dim = 64, .context = 16,
                               .vocab = LLMRT_MLM_VOCAB};
    llmrt_bert_config q = plain;
    q.qat = 1;
    const size_t C = 64;
    ck_assert_uint_eq(llmrt_bert_n_params(&q), llmrt_bert_n_params(&plain) + 2 * 9 * C);
    llmrt_model_layout lp, lq;
    OK(llmrt_bert_layout_build(&plain, &lp));
    OK(llmrt_bert_layout_build(&q, &lq));
    ck_assert_uint_eq(lq.n_units, lp.n_units);
    static const char *const quantized[] = {"attention.self.query.weight",
                                            "attention.self.key.weight",
                                            "attention.self.value.weight",
                                            "attention.output.dense.weight",
                                            "intermediate.dense.weight", "output.dense.weight"};
    for (size_t u = 0; u < lq.n_units; u++) {
        const llmrt_unit_desc *a = &lp.units[u], *b = &lq.units[u];
        int block = u >= 1 && u <= 2;
        ck_assert_uint_eq(b->n_tensors, a->n_tensors + (block ? 6 : 0));
        for (size_t t = 0; t < a->n_tensors; t++) {
            ck_assert_str_eq(a->tensors[t].name, b->tensors[t].name);
            ck_assert_uint_eq(a->tensors[t].offset, b->tensors[t].offset);
        }
        size_t mapped = 0;
        for (size_t t = 0; t < b->n_tensors; t++) {
            int si = llmrt_bert_tensor_scale(&q, u, t);
            ck_assert_int_eq(llmrt_bert_tensor_scale(&plain, u, t), -1);
            if (si < 0) continue;
            mapped++;
            const llmrt_tensor_desc *w = &b->tensors[t], *sd = &b->tensors[si];
            int64_t dims[2];
            ck_assert_int_eq(llmrt_bert_tensor_shape(&q, u, t, dims), 2);
            ck_assert_uint_eq(sd->numel, (size_t)dims[0]); /* one step per output row */
            ck_assert_int_eq(sd->weight_decay, 0);
            char want[256];
            snprintf(want, sizeof want, "%s_scale", w->name);
            ck_assert_str_eq(sd->name, want);
            int known = 0;
            for (size_t k = 0; k < 6; k++) known |= strstr(w->name, quantized[k]) != NULL;
            ck_assert_msg(known, "%s is quantized", w->name);
        }
        ck_assert_uint_eq(mapped, block ? 6 : 0);
        /* Init: the weights of the plain model, then LSQ's step per row. */
        float *hp = malloc(a->numel * sizeof *hp), *hq = malloc(b->numel * sizeof *hq);
        ck_assert(hp && hq);
        llmrt_bert_init_unit(&plain, u, 99, hp);
        llmrt_bert_init_unit(&q, u, 99, hq);
        ck_assert(memcmp(hp, hq, a->numel * sizeof *hp) == 0);
        for (size_t t = 0; t < b->n_tensors; t++) {
            int si = llmrt_bert_tensor_scale(&q, u, t);
            if (si < 0) continue;
            const llmrt_tensor_desc *w = &b->tensors[t];
            size_t rows = b->tensors[si].numel;
            test_check_lsq_rows(hq + w->offset, hq + b->tensors[si].offset, rows,
                                w->numel / rows);
        }
        free(hp);
        free(hq);
    }
    ck_assert_int_eq(llmrt_bert_qat_init_scales(&plain, 1, NULL), LLMRT_ERR_INVALID);
    ck_assert_uint_eq(llmrt_bert_activation_bytes(&q, 2, 16),
                      llmrt_bert_activation_bytes(&plain, 2, 16) + 2 * 4 * 4 * C * C);
    q.dtype = LLMRT_DTYPE_BF16;
    ck_assert_int_eq(llmrt_bert_config_check(&q), LLMRT_ERR_INVALID);
    llmrt_bert_layout_free(&lp);
    llmrt_bert_layout_free(&lq);
}
END_TEST

/* From random init, AdamW on dynamically masked windows (random offsets) of
 * a repetitive text: the MLM loss starts near ln(260) = 5.56 and ends below
 * 2.9 nats. That is the byte distribution (3.05 nats) plus the identity of
 * the 10% of chosen bytes left unchanged (0.9 x 3.05 = 2.75): the model has
 * learnt through every kernel's gradient, though not yet to read the
 * context (the same model in PyTorch is on the same plateau at 600 steps). */
START_TEST(training_loss_falls)
{
    const int B = 8, T = 32, STEPS = 600;
    llmrt_bert_config cfg = {.layers = 2, .heads = 2, .dim = 32, .context = T,
                             .vocab = LLMRT_MLM_VOCAB};
    bert_env e;
    env_open(&e, &cfg, B, T);
    void *sctx;
    const llmrt_strategy_vtable *st = strategy(&e, &sctx);
    for (size_t u = 0; u < e.layout.n_units; u++) {
        float *h = malloc(e.layout.units[u].numel * sizeof *h);
        ck_assert_ptr_nonnull(h);
        llmrt_bert_init_unit(&cfg, u, 1234, h);
        OK(st->set_state(sctx, u, LLMRT_STATE_PARAMS, h));
        free(h);
    }
    static const char text[] = "the quick brown fox jumps over the lazy dog. ";
    const size_t len = sizeof text - 1;
    int32_t tok[8 * 32], in[8 * 32], tg[8 * 32];
    llmrt_rng rng;
    llmrt_rng_seed(&rng, 7);
    llmrt_mlm_config mc = llmrt_mlm_default();
    llmrt_optim_step step = {.struct_size = sizeof step, .lr = 3e-3f, .beta1 = 0.9f,
                             .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.0f,
                             .grad_scale = 1.0f};
    double first = 0.0, last = 0.0;
    for (int s = 0; s < STEPS; s++) {
        for (int b = 0; b < B; b++) {
            size_t start = (size_t)llmrt_rng_below(&rng, len);
            for (int t = 0; t < T; t++)
                tok[b * T + t] = (unsigned char)text[(start + (size_t)t) % len];
        }
        if (llmrt_mlm_mask(&mc, &rng, tok, in, tg, (size_t)(B * T)) == 0) tg[0] = tok[0];
        float loss = 0.0f;
        OK(llmrt_rt_begin_microbatch(e.rt, 0, 1));
        OK(llmrt_bert_forward(e.model, in, tg, B, T, &loss));
        OK(llmrt_bert_backward(e.model, 1.0f));
        step.t = s + 1;
        OK(st->optimizer_step(sctx, &step));
        if (s < 10) first += loss / 10.0;
        if (s >= STEPS - 10) last += loss / 10.0;
    }
    printf("training: mean MLM loss of steps 1-10 %.3f, of steps %d-%d %.3f\n", first,
           STEPS - 9, STEPS, last);
    ck_assert(first > 4.5);
    ck_assert(last < 2.9);
    env_close(&e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bert_reference");
    const TTest *pytorch[] = {fp32_loss_and_gradients, fp32_adamw, qat_loss_and_gradients,
                              qat_adamw, qat_layout_and_init, bf16_vs_fp32, f16_vs_fp32};
    const TTest *train[] = {training_loss_falls};
    GPT_ADD_TCASE(s, "pytorch", 300, pytorch);
    GPT_ADD_TCASE(s, "train", 300, train);
    return gpt_test_run(s);
}
