/* test_gpt_reference.c — core/gpt.c against the PyTorch reference fixture
 * (tests/model/gpt_tiny_fixture.safetensors, made by make_gpt_fixture.py):
 * the loss and every parameter gradient of one forward/backward, then the
 * losses of 10 AdamW steps through the strategy's optimizer_step.
 *
 * Error measure (gpt_test_util.h): for each tensor
 *   max_i |a_i - b_i| / max(|b_i|, rms(b))
 * i.e. relative error, with elements far below the tensor's RMS measured
 * against the RMS (an fp32 sum has absolute, not relative, rounding error).
 * The reference is float64, rounded to float32 when stored. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_test_util.h"
#include "safetensors.h"

/* Tolerances. */
static const double GRAD_TOL = 1e-5;  /* per tensor, rel_err_rms               */
static const double LOSS_TOL = 1e-5;  /* relative, the first forward          */
static const double ADAM_TOL = 1e-5;  /* relative, each of the 10 AdamW losses */

#define OK(call)                                                                            \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        ck_assert_msg(rc_ == 0, "%s failed (%d): %s", #call, rc_, gpt_env_error());        \
    } while (0)

/* --- the fixture, through core/safetensors.h ------------------------------- */

static llmrt_st_file *fixture_open(void)
{
    const char *dir = getenv("LLMRT_TEST_SRCDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/model/gpt_tiny_fixture.safetensors", dir ? dir : "tests");
    llmrt_st_file *f = NULL;
    OK(llmrt_st_open(&f, path));
    return f;
}

/* A malloc'ed float copy of tensor `name`, which must hold `numel` values. */
static float *fixture_f32(const llmrt_st_file *f, const char *name, size_t numel)
{
    float *x = malloc((numel ? numel : 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    OK(llmrt_st_read_f32(f, name, x, numel));
    return x;
}

static const char *fixture_meta(const llmrt_st_file *f, const char *key)
{
    const char *v = llmrt_st_metadata(f, key);
    ck_assert_msg(v != NULL, "fixture metadata has no %s", key);
    return v;
}

static int fixture_meta_int(const llmrt_st_file *f, const char *key)
{
    return atoi(fixture_meta(f, key));
}

static double fixture_meta_double(const llmrt_st_file *f, const char *key)
{
    return atof(fixture_meta(f, key));
}

/* --- setup ---------------------------------------------------------------- */

typedef struct ref_run {
    llmrt_st_file *fx;
    llmrt_gpt_config cfg;
    int B, T;
    int32_t *inputs, *targets;
    gpt_env env;
} ref_run;

/* Open the fixture, build the runtime and model, load the fixture's
 * parameters into the strategy (names and shapes checked against ours). */
static void ref_open(ref_run *r)
{
    r->fx = fixture_open();
    r->cfg = (llmrt_gpt_config){
        .layers = fixture_meta_int(r->fx, "model.layers"),
        .heads = fixture_meta_int(r->fx, "model.heads"),
        .dim = fixture_meta_int(r->fx, "model.dim"),
        .context = fixture_meta_int(r->fx, "model.context"),
        .vocab = fixture_meta_int(r->fx, "model.vocab"),
    };
    r->B = fixture_meta_int(r->fx, "batch");
    r->T = fixture_meta_int(r->fx, "seq_len");
    size_t bt = (size_t)r->B * (size_t)r->T;
    r->inputs = malloc(bt * sizeof *r->inputs);
    r->targets = malloc(bt * sizeof *r->targets);
    ck_assert(r->inputs && r->targets);
    OK(llmrt_st_read_raw(r->fx, "inputs", LLMRT_ST_I32, r->inputs, bt * sizeof(int32_t)));
    OK(llmrt_st_read_raw(r->fx, "targets", LLMRT_ST_I32, r->targets, bt * sizeof(int32_t)));

    gpt_env_open(&r->env, &r->cfg, r->B, r->T);
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(r->env.rt, &sctx);
    const llmrt_model_layout *lay = r->env.layout;
    for (size_t u = 0; u < lay->n_units; u++) {
        const llmrt_unit_desc *unit = &lay->units[u];
        float *h = malloc(unit->numel * sizeof *h);
        ck_assert_ptr_nonnull(h);
        for (size_t t = 0; t < unit->n_tensors; t++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            int64_t dims[2];
            uint64_t shape[2];
            int ndim = llmrt_gpt_tensor_shape(&r->cfg, u, t, dims);
            ck_assert_int_ge(ndim, 1);
            for (int i = 0; i < ndim; i++) shape[i] = (uint64_t)dims[i];
            OK(llmrt_st_expect(r->fx, td->name, ndim, shape));
            OK(llmrt_st_read_f32(r->fx, td->name, h + td->offset, td->numel));
        }
        OK(st->set_state(sctx, u, LLMRT_STATE_PARAMS, h));
        free(h);
    }
}

static void ref_close(ref_run *r)
{
    gpt_env_close(&r->env);
    llmrt_st_close(r->fx);
    free(r->inputs);
    free(r->targets);
}

/* --- tests ---------------------------------------------------------------- */

START_TEST(loss_and_gradients)
{
    ref_run r;
    ref_open(&r);
    float *ref_loss = fixture_f32(r.fx, "loss", 1);

    /* Micro-batch 0 of 2: ddp keeps the gradients local, so they can be read
     * back through the hooks without an allreduce in between. */
    OK(llmrt_rt_begin_microbatch(r.env.rt, 0, 2));
    float loss = 0.0f;
    OK(llmrt_gpt_forward(r.env.model, r.inputs, r.targets, r.B, r.T, &loss));
    double loss_err = fabs((double)loss - ref_loss[0]) / fabs((double)ref_loss[0]);
    printf("loss %.7f, reference %.7f, relative error %.2e\n", loss, ref_loss[0], loss_err);
    ck_assert_msg(loss_err <= LOSS_TOL, "loss %.8f vs reference %.8f", loss, ref_loss[0]);
    OK(llmrt_gpt_backward(r.env.model, 1.0f));

    const llmrt_model_layout *lay = r.env.layout;
    double worst = 0.0, ref_norm_sq = 0.0;
    const char *worst_name = "";
    for (size_t u = 0; u < lay->n_units; u++) {
        const llmrt_unit_desc *unit = &lay->units[u];
        float *g = malloc(unit->numel * sizeof *g);
        ck_assert_ptr_nonnull(g);
        gpt_env_read_grads(&r.env, u, g);
        for (size_t t = 0; t < unit->n_tensors; t++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            char name[256];
            snprintf(name, sizeof name, "grad.%s", td->name);
            float *ref = fixture_f32(r.fx, name, td->numel);
            for (size_t i = 0; i < td->numel; i++) ref_norm_sq += (double)ref[i] * ref[i];
            double e = rel_err_rms(g + td->offset, ref, td->numel);
            free(ref);
            printf("  %-40s rel err %.2e\n", td->name, e);
            ck_assert_msg(e <= GRAD_TOL, "gradient of %s: relative error %.3e > %.0e",
                          td->name, e, GRAD_TOL);
            if (e > worst) worst = e, worst_name = td->name;
        }
        free(g);
    }
    printf("gradients: max relative error %.2e (%s)\n", worst, worst_name);

    /* The strategy's view of the same gradients. */
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(r.env.rt, &sctx);
    double norm_sq = 0.0;
    OK(st->grad_norm_sq(sctx, &norm_sq));
    double norm_err = fabs(sqrt(norm_sq) - sqrt(ref_norm_sq)) / sqrt(ref_norm_sq);
    printf("gradient norm %.7f, reference %.7f, relative error %.2e\n", sqrt(norm_sq),
           sqrt(ref_norm_sq), norm_err);
    ck_assert(norm_err <= GRAD_TOL);
    free(ref_loss);
    ref_close(&r);
}
END_TEST

START_TEST(adamw_trajectory)
{
    ref_run r;
    ref_open(&r);
    size_t n = (size_t)fixture_meta_int(r.fx, "adam.steps");
    float *ref = fixture_f32(r.fx, "adam_losses", n);
    llmrt_optim_step step = {
        .struct_size = sizeof step,
        .lr = (float)fixture_meta_double(r.fx, "adam.lr"),
        .beta1 = (float)fixture_meta_double(r.fx, "adam.beta1"),
        .beta2 = (float)fixture_meta_double(r.fx, "adam.beta2"),
        .eps = (float)fixture_meta_double(r.fx, "adam.eps"),
        .weight_decay = (float)fixture_meta_double(r.fx, "adam.weight_decay"),
        .grad_scale = 1.0f,
    };
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(r.env.rt, &sctx);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        float loss = 0.0f;
        OK(llmrt_rt_begin_microbatch(r.env.rt, 0, 1));
        OK(llmrt_gpt_forward(r.env.model, r.inputs, r.targets, r.B, r.T, &loss));
        OK(llmrt_gpt_backward(r.env.model, 1.0f));
        step.t = (int64_t)i + 1;
        OK(st->optimizer_step(sctx, &step));
        double e = fabs((double)loss - ref[i]) / fabs((double)ref[i]);
        printf("adamw step %2zu: loss %.7f, reference %.7f, relative error %.2e\n", i + 1,
               loss, ref[i], e);
        ck_assert_msg(e <= ADAM_TOL, "step %zu: loss %.8f vs reference %.8f", i + 1, loss,
                      ref[i]);
        if (e > worst) worst = e;
    }
    printf("adamw: max relative loss error %.2e over %zu steps\n", worst, n);
    free(ref);
    ref_close(&r);
}
END_TEST

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* the figures survive the forked test */
    Suite *s = suite_create("gpt_reference");
    TCase *tc = tcase_create("pytorch");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, loss_and_gradients);
    tcase_add_test(tc, adamw_trajectory);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
