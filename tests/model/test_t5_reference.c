/* test_t5_reference.c — core/t5.c against the PyTorch reference fixtures
 * (tests/model/t5_relu_fixture.safetensors: ReLU feed-forward, tied head;
 * t5_gated_fixture.safetensors: gated GELU, untied lm_head; both made by
 * make_t5_fixture.py): the loss and every parameter gradient of one
 * forward/backward within 1e-5 relative (rel_err_rms, gpt_test_util.h), the
 * losses of 10 AdamW steps through the strategy's optimizer_step, and HF's
 * relative position buckets for r = -300 .. 300 (32 buckets, distance 128),
 * bidirectional and causal, exactly. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_test_util.h"
#include "lr_scale.h"
#include "safetensors.h"
#include "t5.h"

static const double GRAD_TOL = 1e-5, LOSS_TOL = 1e-5, ADAM_TOL = 1e-5;
static const char *const FIXTURES[] = {"t5_relu_fixture.safetensors",
                                       "t5_gated_fixture.safetensors"};

typedef struct t5_run {
    llmrt_st_file *fx;
    llmrt_t5_config cfg;
    int B, T;
    int32_t *inputs, *targets; /* [B, T], [B, decoder_context] */
    llmrt_config *conf;
    llmrt_rt *rt;
    llmrt_t5 *model;
    llmrt_model_layout layout; /* attached: outlives the runtime */
} t5_run;

static const char *meta(const llmrt_st_file *f, const char *key)
{
    const char *v = llmrt_st_metadata(f, key);
    ck_assert_msg(v != NULL, "fixture metadata %s missing", key);
    return v;
}

static void run_open(t5_run *r, const char *file)
{
    memset(r, 0, sizeof *r);
    r->fx = gpt_fixture_open(file);
    r->cfg = (llmrt_t5_config){
        .layers = gpt_fixture_meta_int(r->fx, "model.layers"),
        .decoder_layers = gpt_fixture_meta_int(r->fx, "model.decoder_layers"),
        .heads = gpt_fixture_meta_int(r->fx, "model.heads"),
        .dim = gpt_fixture_meta_int(r->fx, "model.dim"),
        .d_ff = gpt_fixture_meta_int(r->fx, "model.d_ff"),
        .context = gpt_fixture_meta_int(r->fx, "model.context"),
        .decoder_context = gpt_fixture_meta_int(r->fx, "model.decoder_context"),
        .vocab = gpt_fixture_meta_int(r->fx, "model.vocab"),
        .ff = strcmp(meta(r->fx, "model.ff"), "relu") ? LLMRT_T5_FF_GATED_GELU : LLMRT_T5_FF_RELU,
        .tie_embeddings = gpt_fixture_meta_int(r->fx, "model.tie_embeddings"),
        .num_buckets = gpt_fixture_meta_int(r->fx, "model.relative_attention_num_buckets"),
        .max_distance = gpt_fixture_meta_int(r->fx, "model.relative_attention_max_distance"),
        .dtype = LLMRT_DTYPE_F32,
    };
    r->B = gpt_fixture_meta_int(r->fx, "batch");
    r->T = r->cfg.context;
    size_t ne = (size_t)r->B * (size_t)r->T, nd = (size_t)r->B * (size_t)r->cfg.decoder_context;
    r->inputs = malloc(ne * sizeof *r->inputs);
    r->targets = malloc(nd * sizeof *r->targets);
    ck_assert(r->inputs && r->targets);
    OK(llmrt_st_read_raw(r->fx, "inputs", LLMRT_ST_I32, r->inputs, ne * sizeof(int32_t)));
    OK(llmrt_st_read_raw(r->fx, "targets", LLMRT_ST_I32, r->targets, nd * sizeof(int32_t)));
    OK(llmrt_config_new(&r->conf));
    OK(llmrt_rt_create(&r->rt, r->conf));
    OK(llmrt_t5_create(&r->model, &r->cfg, r->rt, r->B, r->T));
    OK(llmrt_t5_layout_build(&r->cfg, &r->layout));
    OK(llmrt_rt_attach_model(r->rt, &r->layout));
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(r->rt, &sctx);
    size_t loaded = 0;
    for (size_t u = 0; u < r->layout.n_units; u++) {
        const llmrt_unit_desc *unit = &r->layout.units[u];
        float *h = malloc(unit->numel * sizeof *h);
        ck_assert_ptr_nonnull(h);
        for (size_t t = 0; t < unit->n_tensors; t++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            int64_t dims[2];
            uint64_t shape[2];
            int nd2 = llmrt_t5_tensor_shape(&r->cfg, u, t, dims);
            ck_assert_int_ge(nd2, 1);
            for (int i = 0; i < nd2; i++) shape[i] = (uint64_t)dims[i];
            OK(llmrt_st_expect(r->fx, td->name, nd2, shape));
            OK(llmrt_st_read_f32(r->fx, td->name, h + td->offset, td->numel));
            loaded += td->numel;
        }
        OK(st->set_state(sctx, u, LLMRT_STATE_PARAMS, h));
        free(h);
    }
    ck_assert_uint_eq(loaded, llmrt_t5_n_params(&r->cfg));
}

static void run_close(t5_run *r)
{
    llmrt_t5_destroy(r->model);
    llmrt_rt_destroy(r->rt);
    llmrt_t5_layout_free(&r->layout);
    llmrt_config_free(r->conf);
    llmrt_st_close(r->fx);
    free(r->inputs);
    free(r->targets);
}

START_TEST(loss_and_gradients)
{
    t5_run r;
    run_open(&r, FIXTURES[_i]);
    printf("%s\n", FIXTURES[_i]);
    float *ref = gpt_fixture_f32(r.fx, "loss", 1);
    /* Micro-batch 0 of 2: ddp keeps the gradients local to read them back. */
    OK(llmrt_rt_begin_microbatch(r.rt, 0, 2));
    float loss = 0.0f;
    OK(llmrt_t5_forward_targets(r.model, r.inputs, r.targets, r.B, r.T, &loss));
    double err = fabs((double)loss - ref[0]) / fabs((double)ref[0]);
    printf("loss %.7f, reference %.7f, relative error %.2e\n", loss, ref[0], err);
    ck_assert(err <= LOSS_TOL);
    free(ref);
    OK(llmrt_t5_backward(r.model, 1.0f));
    double worst = 0.0;
    size_t checked = 0;
    for (size_t u = 0; u < r.layout.n_units; u++) {
        const llmrt_unit_desc *unit = &r.layout.units[u];
        float *g = malloc(unit->numel * sizeof *g);
        void *p, *gd;
        ck_assert_ptr_nonnull(g);
        OK(llmrt_rt_pre_backward(r.rt, u, &p, &gd));
        OK(llmrt_rt_download(r.rt, g, gd, unit->numel * sizeof(float)));
        OK(llmrt_rt_post_backward(r.rt, u));
        for (size_t t = 0; t < unit->n_tensors; t++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            char name[256];
            snprintf(name, sizeof name, "grad.%s", td->name);
            float *gref = gpt_fixture_f32(r.fx, name, td->numel);
            double e = rel_err_rms(g + td->offset, gref, td->numel);
            printf("  %-62s rel err %.2e\n", td->name, e);
            ck_assert_msg(e <= GRAD_TOL, "gradient of %s: relative error %.3e", td->name, e);
            if (e > worst) worst = e;
            checked++;
            free(gref);
        }
        free(g);
    }
    printf("%zu gradients: max relative error %.2e\n", checked, worst);
    run_close(&r);
}
END_TEST

/* The fixture's `losses` (named by key) before each AdamW step at lr `lr`;
 * floor > 0: [train] lr_scale = rms with that floor, measured and applied
 * through the strategy as core/train.c does (strategy.h rule 10). */
static void check_trajectory(int fixture, const char *key, double lr, double floor)
{
    t5_run r;
    run_open(&r, FIXTURES[fixture]);
    size_t n = (size_t)gpt_fixture_meta_int(r.fx, "adam.steps");
    float *ref = gpt_fixture_f32(r.fx, key, n);
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(r.rt, &sctx);
    const llmrt_model_layout *layout = llmrt_t5_layout(r.model);
    size_t n_tensors = llmrt_lr_scale_count(layout);
    double *sums = calloc(n_tensors, sizeof *sums);
    float *scales = calloc(n_tensors, sizeof *scales);
    ck_assert(sums && scales);
    ck_assert(floor == 0.0 || LLMRT_HAS(st, st->struct_size, param_sq_sums));
    llmrt_optim_step step = {
        .struct_size = sizeof step,
        .lr = (float)lr,
        .beta1 = (float)gpt_fixture_meta_double(r.fx, "adam.beta1"),
        .beta2 = (float)gpt_fixture_meta_double(r.fx, "adam.beta2"),
        .eps = (float)gpt_fixture_meta_double(r.fx, "adam.eps"),
        .weight_decay = (float)gpt_fixture_meta_double(r.fx, "adam.weight_decay"),
        .grad_scale = 1.0f,
        .lr_scales = floor > 0.0 ? scales : NULL,
    };
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        float loss = 0.0f;
        OK(llmrt_rt_begin_microbatch(r.rt, 0, 1));
        OK(llmrt_t5_forward_targets(r.model, r.inputs, r.targets, r.B, r.T, &loss));
        OK(llmrt_t5_backward(r.model, 1.0f));
        if (floor > 0.0) {
            OK(st->param_sq_sums(sctx, sums));
            llmrt_lr_scale_rms(layout, sums, floor, scales);
        }
        step.t = (int64_t)i + 1;
        OK(st->optimizer_step(sctx, &step));
        double e = fabs((double)loss - ref[i]) / fabs((double)ref[i]);
        printf("%s %s step %2zu: loss %.7f, reference %.7f, relative error %.2e\n",
               FIXTURES[fixture], key, i + 1, loss, ref[i], e);
        ck_assert(e <= ADAM_TOL);
        if (e > worst) worst = e;
    }
    printf("%s: max relative loss error %.2e over %zu steps\n", key, worst, n);
    free(ref);
    free(sums);
    free(scales);
    run_close(&r);
}

START_TEST(adamw_trajectory)
{
    llmrt_st_file *fx = gpt_fixture_open(FIXTURES[_i]);
    double lr = gpt_fixture_meta_double(fx, "adam.lr");
    llmrt_st_close(fx);
    check_trajectory(_i, "adam_losses", lr, 0.0);
}
END_TEST

/* [train] lr_scale = rms against the same rule in PyTorch (per-tensor
 * groups whose lr is rescaled before each step). */
START_TEST(adamw_rms_trajectory)
{
    llmrt_st_file *fx = gpt_fixture_open(FIXTURES[_i]);
    double lr = gpt_fixture_meta_double(fx, "adam_rms.lr");
    double floor = gpt_fixture_meta_double(fx, "adam_rms.floor");
    llmrt_st_close(fx);
    check_trajectory(_i, "adam_rms_losses", lr, floor);
}
END_TEST

START_TEST(relative_buckets)
{
    llmrt_st_file *fx = gpt_fixture_open(FIXTURES[0]);
    int32_t bi[601], causal[601];
    OK(llmrt_st_read_raw(fx, "buckets.bidirectional", LLMRT_ST_I32, bi, sizeof bi));
    OK(llmrt_st_read_raw(fx, "buckets.causal", LLMRT_ST_I32, causal, sizeof causal));
    for (int r = -300; r <= 300; r++) {
        ck_assert_msg(llmrt_t5_relative_bucket(r, 1, 32, 128) == bi[r + 300],
                      "bidirectional bucket of %d: got %d, HF %d", r,
                      llmrt_t5_relative_bucket(r, 1, 32, 128), bi[r + 300]);
        ck_assert_msg(llmrt_t5_relative_bucket(r, 0, 32, 128) == causal[r + 300],
                      "causal bucket of %d: got %d, HF %d", r,
                      llmrt_t5_relative_bucket(r, 0, 32, 128), causal[r + 300]);
    }
    llmrt_st_close(fx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("t5_reference");
    TCase *tc = tcase_create("pytorch");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, loss_and_gradients, 0, 2);
    tcase_add_loop_test(tc, adamw_trajectory, 0, 2);
    tcase_add_loop_test(tc, adamw_rms_trajectory, 0, 2);
    tcase_add_test(tc, relative_buckets);
    suite_add_tcase(s, tc);
    return gpt_test_run(s);
}
