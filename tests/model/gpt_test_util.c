/* gpt_test_util.c — see gpt_test_util.h. */
#include "gpt_test_util.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "error.h"

const char *gpt_env_error(void) { return llmrt_last_error(); }

#define OK(call)                                                                            \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        ck_assert_msg(rc_ == 0, "%s failed (%d): %s", #call, rc_, llmrt_last_error());     \
    } while (0)

void gpt_env_open(gpt_env *e, const llmrt_gpt_config *cfg, int B_max, int T_max)
{
    OK(llmrt_config_new(&e->conf));
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
    float *p, *g;
    OK(llmrt_rt_pre_backward(e->rt, unit, &p, &g));
    OK(llmrt_rt_download(e->rt, host, g, e->layout->units[unit].numel * sizeof(float)));
    OK(llmrt_rt_post_backward(e->rt, unit));
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
