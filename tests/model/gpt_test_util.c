/* gpt_test_util.c — see gpt_test_util.h. */
#include "gpt_test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/convert.h>

#include "error.h"
#include "rng.h"

const char *gpt_env_error(void) { return llmrt_last_error(); }

void gpt_env_open(gpt_env *e, const llmrt_gpt_config *cfg, int B_max, int T_max)
{
    OK(llmrt_config_new(&e->conf));
    if (cfg->qat) OK(llmrt_config_set(e->conf, "runtime.format=int8"));
    else if (cfg->dtype == LLMRT_DTYPE_BF16) OK(llmrt_config_set(e->conf, "runtime.format=bf16"));
    else if (cfg->dtype == LLMRT_DTYPE_F16) OK(llmrt_config_set(e->conf, "runtime.format=fp16"));
    OK(llmrt_rt_create(&e->rt, e->conf));
    e->act_before = llmrt_rt_mem_current(e->rt, LLMRT_MEM_ACTIVATIONS);
    OK(llmrt_gpt_create(&e->model, cfg, e->rt, B_max, T_max));
    OK(llmrt_gpt_layout_build(cfg, &e->layout_own));
    e->layout = &e->layout_own;
    OK(llmrt_rt_attach_model(e->rt, e->layout));
}

void gpt_env_close(gpt_env *e)
{
    llmrt_gpt_destroy(e->model);
    llmrt_rt_destroy(e->rt);
    llmrt_gpt_layout_free(&e->layout_own);
    llmrt_config_free(e->conf);
}

void gpt_env_init_params(gpt_env *e, uint64_t seed)
{
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(e->rt, &sctx);
    for (size_t u = 0; u < e->layout->n_units; u++) {
        float *h = malloc(e->layout->units[u].numel * sizeof *h);
        ck_assert_ptr_nonnull(h);
        llmrt_gpt_init_unit(llmrt_gpt_get_config(e->model), u, seed, h);
        OK(st->set_state(sctx, u, LLMRT_STATE_PARAMS, h));
        free(h);
    }
}

void gpt_env_read_grads(gpt_env *e, size_t unit, float *host)
{
    void *p, *g;
    size_t n = e->layout->units[unit].numel;
    llmrt_dtype t = e->layout->grad_type;
    OK(llmrt_rt_pre_backward(e->rt, unit, &p, &g));
    OK(llmrt_rt_download(e->rt, host, g, n * llmrt_dtype_size(t)));
    OK(llmrt_rt_post_backward(e->rt, unit));
    if (t == LLMRT_DTYPE_F32) return;
    ck_assert(t == LLMRT_DTYPE_BF16 || t == LLMRT_DTYPE_F16);
    for (size_t i = n; i-- > 0;) { /* widen in place, last first */
        uint16_t h;
        memcpy(&h, (const char *)host + 2 * i, sizeof h);
        host[i] = t == LLMRT_DTYPE_BF16 ? llmrt_bf16_to_f32(h) : llmrt_f16_to_f32(h);
    }
}

void gpt_env_get_params(gpt_env *e, size_t unit, float *host)
{
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(e->rt, &sctx);
    OK(st->get_state(sctx, unit, LLMRT_STATE_PARAMS, host));
}

void gpt_env_set_params(gpt_env *e, size_t unit, const float *host)
{
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(e->rt, &sctx);
    OK(st->set_state(sctx, unit, LLMRT_STATE_PARAMS, host));
}

/* A malloc'ed host copy of every unit, each read with `read`. */
static float **units_copy(gpt_env *e, void (*read)(gpt_env *, size_t, float *))
{
    float **units = calloc(e->layout->n_units, sizeof *units);
    ck_assert_ptr_nonnull(units);
    for (size_t u = 0; u < e->layout->n_units; u++) {
        units[u] = malloc(e->layout->units[u].numel * sizeof *units[u]);
        ck_assert_ptr_nonnull(units[u]);
        read(e, u, units[u]);
    }
    return units;
}

float **gpt_env_params_copy(gpt_env *e) { return units_copy(e, gpt_env_get_params); }
float **gpt_env_grads_copy(gpt_env *e) { return units_copy(e, gpt_env_read_grads); }

void gpt_units_free(float **units, size_t n_units)
{
    for (size_t u = 0; units && u < n_units; u++) free(units[u]);
    free(units);
}

void test_check_lsq_rows(const float *w, const float *s, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++) {
        double sum = 0.0;
        for (size_t j = 0; j < cols; j++) sum += fabs(w[r * cols + j]);
        double want = 2.0 * sum / (double)cols / sqrt(127.0);
        ck_assert_msg(fabs(s[r] - want) <= 1e-6 * want, "step size of row %zu: %g, want %g", r,
                      (double)s[r], want);
    }
}

float **test_grads_download(llmrt_rt *rt, const llmrt_model_layout *layout, llmrt_dtype dtype,
                            float loss_scale)
{
    float **grads = calloc(layout->n_units, sizeof *grads);
    ck_assert_ptr_nonnull(grads);
    for (size_t u = 0; u < layout->n_units; u++) {
        size_t n = layout->units[u].numel;
        float *h = malloc(n * sizeof *h);
        void *p, *g;
        ck_assert_ptr_nonnull(h);
        OK(llmrt_rt_pre_backward(rt, u, &p, &g));
        OK(llmrt_rt_download(rt, h, g, n * llmrt_dtype_size(dtype)));
        OK(llmrt_rt_post_backward(rt, u));
        for (size_t i = n; i-- > 0;) { /* widen in place, last first */
            float v = h[i];
            if (dtype != LLMRT_DTYPE_F32) {
                uint16_t b16;
                memcpy(&b16, (const char *)h + 2 * i, sizeof b16);
                v = dtype == LLMRT_DTYPE_BF16 ? llmrt_bf16_to_f32(b16) : llmrt_f16_to_f32(b16);
            }
            h[i] = v / loss_scale;
        }
        grads[u] = h;
    }
    return grads;
}

float gpt_env_loss(gpt_env *e, const int32_t *inputs, const int32_t *targets, int B, int T)
{
    float loss = 0.0f;
    OK(llmrt_gpt_forward(e->model, inputs, targets, B, T, &loss));
    return loss;
}

void gpt_random_batch(int32_t *inputs, int32_t *targets, size_t n, int vocab, uint64_t seed)
{
    llmrt_rng r;
    llmrt_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        inputs[i] = (int32_t)llmrt_rng_below(&r, (uint64_t)vocab);
        targets[i] = (int32_t)llmrt_rng_below(&r, (uint64_t)vocab);
    }
}

double rel_err_rms(const float *a, const float *b, size_t n)
{
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)b[i] * b[i];
    double rms = sqrt(ss / (double)(n ? n : 1)), worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double scale = fmax(fabs((double)b[i]), rms);
        double d = fabs((double)a[i] - (double)b[i]);
        double r = scale > 0.0 ? d / scale : d;
        if (!(r <= worst)) worst = r; /* NaN wins */
    }
    return worst;
}

/* --- reference fixtures ---------------------------------------------------- */

llmrt_st_file *gpt_fixture_open(const char *file)
{
    const char *dir = getenv("LLMRT_TEST_SRCDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/model/%s", dir ? dir : "tests", file);
    llmrt_st_file *f = NULL;
    OK(llmrt_st_open(&f, path));
    return f;
}

float *gpt_fixture_f32(const llmrt_st_file *f, const char *name, size_t numel)
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

int gpt_fixture_meta_int(const llmrt_st_file *f, const char *key)
{
    return atoi(fixture_meta(f, key));
}

double gpt_fixture_meta_double(const llmrt_st_file *f, const char *key)
{
    return atof(fixture_meta(f, key));
}

void gpt_fixture_config(const llmrt_st_file *f, llmrt_gpt_config *cfg)
{
    *cfg = (llmrt_gpt_config){
        .layers = gpt_fixture_meta_int(f, "model.layers"),
        .heads = gpt_fixture_meta_int(f, "model.heads"),
        .dim = gpt_fixture_meta_int(f, "model.dim"),
        .context = gpt_fixture_meta_int(f, "model.context"),
        .vocab = gpt_fixture_meta_int(f, "model.vocab"),
    };
}

void gpt_fixture_load_params(const llmrt_st_file *f, gpt_env *e)
{
    const llmrt_gpt_config *cfg = llmrt_gpt_get_config(e->model);
    for (size_t u = 0; u < e->layout->n_units; u++) {
        const llmrt_unit_desc *unit = &e->layout->units[u];
        float *h = malloc(unit->numel * sizeof *h);
        ck_assert_ptr_nonnull(h);
        for (size_t t = 0; t < unit->n_tensors; t++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            int64_t dims[2];
            uint64_t shape[2];
            int ndim = llmrt_gpt_tensor_shape(cfg, u, t, dims);
            ck_assert_int_ge(ndim, 1);
            for (int i = 0; i < ndim; i++) shape[i] = (uint64_t)dims[i];
            OK(llmrt_st_expect(f, td->name, ndim, shape));
            OK(llmrt_st_read_f32(f, td->name, h + td->offset, td->numel));
        }
        gpt_env_set_params(e, u, h);
        free(h);
    }
}

double gpt_fixture_check_grads(const llmrt_st_file *f, gpt_env *e, double tol,
                               double *ref_norm_sq)
{
    double worst = 0.0, norm_sq = 0.0;
    const char *worst_name = "";
    for (size_t u = 0; u < e->layout->n_units; u++) {
        const llmrt_unit_desc *unit = &e->layout->units[u];
        float *g = malloc(unit->numel * sizeof *g);
        ck_assert_ptr_nonnull(g);
        gpt_env_read_grads(e, u, g);
        for (size_t t = 0; t < unit->n_tensors; t++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            char name[256];
            snprintf(name, sizeof name, "grad.%s", td->name);
            float *ref = gpt_fixture_f32(f, name, td->numel);
            for (size_t i = 0; i < td->numel; i++) norm_sq += (double)ref[i] * ref[i];
            double err = rel_err_rms(g + td->offset, ref, td->numel);
            free(ref);
            printf("  %-46s rel err %.2e\n", td->name, err);
            ck_assert_msg(err <= tol, "gradient of %s: relative error %.3e > %.0e", td->name,
                          err, tol);
            if (err > worst) worst = err, worst_name = td->name;
        }
        free(g);
    }
    printf("gradients: max relative error %.2e (%s)\n", worst, worst_name);
    if (ref_norm_sq) *ref_norm_sq = norm_sq;
    return worst;
}

void gpt_fixture_run_open(gpt_fixture_run *r, const char *file, int qat)
{
    r->fx = gpt_fixture_open(file);
    gpt_fixture_config(r->fx, &r->cfg);
    r->cfg.qat = qat;
    r->B = gpt_fixture_meta_int(r->fx, "batch");
    r->T = gpt_fixture_meta_int(r->fx, "seq_len");
    size_t bt = (size_t)r->B * (size_t)r->T;
    r->inputs = malloc(bt * sizeof *r->inputs);
    r->targets = malloc(bt * sizeof *r->targets);
    ck_assert(r->inputs && r->targets);
    OK(llmrt_st_read_raw(r->fx, "inputs", LLMRT_ST_I32, r->inputs, bt * sizeof(int32_t)));
    OK(llmrt_st_read_raw(r->fx, "targets", LLMRT_ST_I32, r->targets, bt * sizeof(int32_t)));
    gpt_env_open(&r->env, &r->cfg, r->B, r->T);
    gpt_fixture_load_params(r->fx, &r->env);
}

void gpt_fixture_run_close(gpt_fixture_run *r)
{
    gpt_env_close(&r->env);
    llmrt_st_close(r->fx);
    free(r->inputs);
    free(r->targets);
}

void gpt_fixture_run_loss(gpt_fixture_run *r, double tol, const char *label)
{
    float *ref = gpt_fixture_f32(r->fx, "loss", 1);
    OK(llmrt_rt_begin_microbatch(r->env.rt, 0, 2));
    float loss = gpt_env_loss(&r->env, r->inputs, r->targets, r->B, r->T);
    double err = fabs((double)loss - ref[0]) / fabs((double)ref[0]);
    printf("%sloss %.7f, reference %.7f, relative error %.2e\n", label, loss, ref[0], err);
    ck_assert_msg(err <= tol, "loss %.8f vs reference %.8f", loss, ref[0]);
    OK(llmrt_gpt_backward(r->env.model, 1.0f));
    free(ref);
}

double gpt_fixture_run_adamw(gpt_fixture_run *r, double tol, const char *label)
{
    size_t n = (size_t)gpt_fixture_meta_int(r->fx, "adam.steps");
    float *ref = gpt_fixture_f32(r->fx, "adam_losses", n);
    llmrt_optim_step step = {
        .struct_size = sizeof step,
        .lr = (float)gpt_fixture_meta_double(r->fx, "adam.lr"),
        .beta1 = (float)gpt_fixture_meta_double(r->fx, "adam.beta1"),
        .beta2 = (float)gpt_fixture_meta_double(r->fx, "adam.beta2"),
        .eps = (float)gpt_fixture_meta_double(r->fx, "adam.eps"),
        .weight_decay = (float)gpt_fixture_meta_double(r->fx, "adam.weight_decay"),
        .grad_scale = 1.0f,
    };
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(r->env.rt, &sctx);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        OK(llmrt_rt_begin_microbatch(r->env.rt, 0, 1));
        float loss = gpt_env_loss(&r->env, r->inputs, r->targets, r->B, r->T);
        OK(llmrt_gpt_backward(r->env.model, 1.0f));
        step.t = (int64_t)i + 1;
        OK(st->optimizer_step(sctx, &step));
        double e = fabs((double)loss - ref[i]) / fabs((double)ref[i]);
        printf("%sadamw step %2zu: loss %.7f, reference %.7f, relative error %.2e\n", label,
               i + 1, loss, ref[i], e);
        ck_assert_msg(e <= tol, "step %zu: loss %.8f vs reference %.8f", i + 1, loss, ref[i]);
        if (e > worst) worst = e;
    }
    printf("%sadamw: max relative loss error %.2e over %zu steps\n", label, worst, n);
    free(ref);
    return worst;
}

void gpt_add_tcase(Suite *s, const char *name, double timeout, const TTest *const *tests,
                   size_t n)
{
    TCase *tc = tcase_create(name);
    if (timeout > 0) tcase_set_timeout(tc, timeout);
    for (size_t i = 0; i < n; i++) tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
}

int gpt_test_run(Suite *s)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
