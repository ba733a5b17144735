/* test_bert_reference.c — core/bert.c against the PyTorch reference fixture
 * (tests/model/bert_tiny_fixture.safetensors, made by make_bert_fixture.py):
 * the MLM loss and every parameter gradient of one forward/backward, the
 * losses of 10 AdamW steps through the strategy's optimizer_step, and a
 * short training run with dynamic masking (core/mlm.c) whose loss falls.
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
static const char FIXTURE[] = "bert_tiny_fixture.safetensors";

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

static void run_open(fixture_run *r)
{
    r->fx = gpt_fixture_open(FIXTURE);
    llmrt_bert_config cfg = {
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

static void run_close(fixture_run *r)
{
    env_close(&r->env);
    llmrt_st_close(r->fx);
    free(r->inputs);
    free(r->targets);
}

START_TEST(loss_and_gradients)
{
    fixture_run r;
    run_open(&r);
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
            ck_assert_msg(e <= GRAD_TOL, "gradient of %s: relative error %.3e", td->name, e);
            if (e > worst) worst = e;
            free(gref);
        }
        free(g);
    }
    printf("gradients: max relative error %.2e\n", worst);
    run_close(&r);
}
END_TEST

START_TEST(adamw_trajectory)
{
    fixture_run r;
    run_open(&r);
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
END_TEST

/* From random init, AdamW on dynamically masked windows (random offsets) of
 * a repetitive text: the MLM loss starts near ln(260) = 5.56 and ends below
 * 2.9 nats, under the text's unigram entropy (3.05 nats), which only a model
 * that reads the context around a masked byte can beat. */
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
    const TTest *pytorch[] = {loss_and_gradients, adamw_trajectory};
    const TTest *train[] = {training_loss_falls};
    GPT_ADD_TCASE(s, "pytorch", 300, pytorch);
    GPT_ADD_TCASE(s, "train", 300, train);
    return gpt_test_run(s);
}
