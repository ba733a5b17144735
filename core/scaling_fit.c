/* scaling_fit.c — the Huber/LSE fit of L(N, D) with GSL's BFGS, and its
 * bootstrap (see scaling_fit.h). */
#include "scaling_fit.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"

const llmrt_fit_grid llmrt_fit_grid_chinchilla = {
    .lo = {0, 0, -1, 0, 0},
    .hi = {25, 25, 1, 2, 2},
    .steps = {6, 6, 5, 5, 5},
};

/* The points in logs, computed once: the objective needs only log N,
 * log D and log L. */
typedef struct log_point {
    double lN, lD, lL;
} log_point;

typedef struct fit_data {
    const log_point *pts;
    size_t n;
    const size_t *index; /* a bootstrap sample (NULL: every point once) */
    double delta;
} fit_data;

static log_point *log_points(const llmrt_scaling_point *pts, size_t n)
{
    log_point *lp = malloc(n * sizeof *lp);
    for (size_t i = 0; lp && i < n; i++)
        lp[i] = (log_point){log(pts[i].N), log(pts[i].D), log(pts[i].loss)};
    return lp;
}

/* Objective and gradient in one pass; grad may be NULL. */
static double huber_lse(const fit_data *d, const double *th, double *grad)
{
    double f = 0;
    if (grad) memset(grad, 0, LLMRT_FIT_NPARAM * sizeof *grad);
    for (size_t k = 0; k < d->n; k++) {
        const log_point *p = &d->pts[d->index ? d->index[k] : k];
        double lN = p->lN, lD = p->lD;
        double t1 = th[LLMRT_FIT_A] - th[LLMRT_FIT_ALPHA] * lN;
        double t2 = th[LLMRT_FIT_B] - th[LLMRT_FIT_BETA] * lD;
        double t3 = th[LLMRT_FIT_E];
        double m = fmax(t1, fmax(t2, t3));
        double w1 = exp(t1 - m), w2 = exp(t2 - m), w3 = exp(t3 - m), s = w1 + w2 + w3;
        double r = m + log(s) - p->lL;
        double ar = fabs(r), psi;
        if (ar <= d->delta) {
            f += 0.5 * r * r;
            psi = r;
        } else {
            f += d->delta * (ar - 0.5 * d->delta);
            psi = r > 0 ? d->delta : -d->delta;
        }
        if (grad) {
            w1 /= s, w2 /= s, w3 /= s;
            grad[LLMRT_FIT_A] += psi * w1;
            grad[LLMRT_FIT_B] += psi * w2;
            grad[LLMRT_FIT_E] += psi * w3;
            grad[LLMRT_FIT_ALPHA] -= psi * w1 * lN;
            grad[LLMRT_FIT_BETA] -= psi * w2 * lD;
        }
    }
    return f;
}

static double gsl_f(const gsl_vector *x, void *params)
{
    return huber_lse(params, x->data, NULL);
}

static void gsl_df(const gsl_vector *x, void *params, gsl_vector *g)
{
    double grad[LLMRT_FIT_NPARAM];
    huber_lse(params, x->data, grad);
    for (int i = 0; i < LLMRT_FIT_NPARAM; i++) gsl_vector_set(g, (size_t)i, grad[i]);
}

static void gsl_fdf(const gsl_vector *x, void *params, double *f, gsl_vector *g)
{
    double grad[LLMRT_FIT_NPARAM];
    *f = huber_lse(params, x->data, grad);
    for (int i = 0; i < LLMRT_FIT_NPARAM; i++) gsl_vector_set(g, (size_t)i, grad[i]);
}

double llmrt_scaling_fit_objective(const llmrt_scaling_point *pts, size_t n, double delta,
                                   const double theta[LLMRT_FIT_NPARAM])
{
    log_point *lp = log_points(pts, n);
    if (!lp) return NAN;
    fit_data d = {lp, n, NULL, delta};
    double f = huber_lse(&d, theta, NULL);
    free(lp);
    return f;
}

/* One BFGS descent from `start`; the end point and value. The iteration
 * stops at a vanishing gradient, when the line search makes no progress
 * (GSL_ENOPROG, the usual end on the Huber loss's kinks), after 10
 * iterations that lowered the objective by less than 1e-12 of itself, or
 * after LLMRT_FIT_MAX_ITER iterations. */
#define LLMRT_FIT_MAX_ITER 500
static void descend(gsl_multimin_fdfminimizer *s, gsl_multimin_function_fdf *fn,
                    gsl_vector *x, const double *start, double *end, double *value)
{
    for (int i = 0; i < LLMRT_FIT_NPARAM; i++) gsl_vector_set(x, (size_t)i, start[i]);
    gsl_multimin_fdfminimizer_set(s, fn, x, 0.1, 0.1);
    double last = s->f;
    int stalled = 0;
    for (int it = 0; it < LLMRT_FIT_MAX_ITER && stalled < 10; it++) {
        if (gsl_multimin_fdfminimizer_iterate(s)) break;
        if (gsl_multimin_test_gradient(s->gradient, 1e-9) == GSL_SUCCESS) break;
        stalled = last - s->f <= 1e-12 * fabs(last) ? stalled + 1 : 0;
        last = s->f;
    }
    for (int i = 0; i < LLMRT_FIT_NPARAM; i++) end[i] = gsl_vector_get(s->x, (size_t)i);
    *value = s->f;
}

static int check_points(const llmrt_scaling_point *pts, size_t n)
{
    if (n < LLMRT_FIT_NPARAM)
        return llmrt_error(LLMRT_ERR_INVALID, "%zu points: the fit of E, A, B, alpha, beta "
                           "needs at least 5", n);
    for (size_t i = 0; i < n; i++)
        if (!(pts[i].N > 0 && pts[i].D > 0 && pts[i].loss > 0) || !isfinite(pts[i].N) ||
            !isfinite(pts[i].D) || !isfinite(pts[i].loss))
            return llmrt_error(LLMRT_ERR_INVALID, "point %zu (N=%g, D=%g, loss=%g): every "
                               "value must be positive and finite", i + 1, pts[i].N, pts[i].D,
                               pts[i].loss);
    return LLMRT_OK;
}

static int fit_data_run(const fit_data *d, const llmrt_fit_grid *grid, const double *extra,
                        llmrt_fit_result *out)
{
    gsl_set_error_handler_off(); /* GSL reports through return codes, never abort() */
    gsl_multimin_function_fdf fn = {.f = gsl_f, .df = gsl_df, .fdf = gsl_fdf,
                                    .n = LLMRT_FIT_NPARAM, .params = (void *)d};
    gsl_multimin_fdfminimizer *s =
        gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, LLMRT_FIT_NPARAM);
    gsl_vector *x = gsl_vector_alloc(LLMRT_FIT_NPARAM);
    if (!s || !x) {
        gsl_multimin_fdfminimizer_free(s);
        gsl_vector_free(x);
        return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    }
    size_t total = 1;
    for (int i = 0; i < LLMRT_FIT_NPARAM; i++) total *= (size_t)(grid->steps[i] > 0 ? grid->steps[i] : 1);
    double *values = malloc((total + 1) * sizeof *values);
    if (!values) {
        gsl_multimin_fdfminimizer_free(s);
        gsl_vector_free(x);
        return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    }
    memset(out, 0, sizeof *out);
    out->objective = INFINITY;
    size_t k = 0;
    for (size_t c = 0; c < total + (extra != NULL); c++, k++) {
        double start[LLMRT_FIT_NPARAM], end[LLMRT_FIT_NPARAM], v;
        if (c < total) {
            size_t rest = c;
            for (int i = 0; i < LLMRT_FIT_NPARAM; i++) {
                int m = grid->steps[i] > 0 ? grid->steps[i] : 1;
                int j = (int)(rest % (size_t)m);
                rest /= (size_t)m;
                start[i] = m > 1 ? grid->lo[i] + (grid->hi[i] - grid->lo[i]) * j / (m - 1)
                                 : grid->lo[i];
            }
        } else {
            memcpy(start, extra, sizeof start);
        }
        descend(s, &fn, x, start, end, &v);
        values[k] = isfinite(v) ? v : INFINITY;
        int ok = isfinite(v);
        for (int i = 0; i < LLMRT_FIT_NPARAM; i++) ok = ok && isfinite(end[i]);
        if (ok && v < out->objective) {
            out->objective = v;
            memcpy(out->theta, end, sizeof end);
        }
    }
    out->starts = k;
    for (size_t i = 0; i < k; i++)
        if (values[i] <= out->objective * (1 + 1e-9) + 1e-300) out->starts_at_best++;
    free(values);
    gsl_multimin_fdfminimizer_free(s);
    gsl_vector_free(x);
    if (!isfinite(out->objective))
        return llmrt_error(LLMRT_ERR_INTERNAL, "the fit diverged from every start");
    return LLMRT_OK;
}

int llmrt_scaling_fit(const llmrt_scaling_point *pts, size_t n, const llmrt_fit_grid *grid,
                      const double *extra_start, double delta, llmrt_fit_result *out)
{
    int rc = check_points(pts, n);
    if (rc) return rc;
    log_point *lp = log_points(pts, n);
    if (!lp) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    fit_data d = {lp, n, NULL, delta};
    rc = fit_data_run(&d, grid, extra_start, out);
    free(lp);
    return rc;
}

void llmrt_scaling_fit_law(const llmrt_fit_result *fit, llmrt_scaling_law *law)
{
    memset(law, 0, sizeof *law);
    snprintf(law->name, sizeof law->name, "fitted");
    law->form = LLMRT_LAW_PARAMETRIC;
    law->A = exp(fit->theta[LLMRT_FIT_A]);
    law->B = exp(fit->theta[LLMRT_FIT_B]);
    law->E = exp(fit->theta[LLMRT_FIT_E]);
    law->alpha = fit->theta[LLMRT_FIT_ALPHA];
    law->beta = fit->theta[LLMRT_FIT_BETA];
}

int llmrt_scaling_bootstrap(const llmrt_scaling_point *pts, size_t n,
                            const llmrt_fit_grid *grid, const llmrt_fit_result *full,
                            double delta, int rounds, uint64_t seed, double level,
                            double lo[LLMRT_FIT_NPARAM], double hi[LLMRT_FIT_NPARAM])
{
    int rc = check_points(pts, n);
    if (rc) return rc;
    if (rounds < 2 || !(level > 0 && level < 1))
        return llmrt_error(LLMRT_ERR_INVALID, "bootstrap: %d rounds at level %g (need at "
                           "least 2 rounds and a level in (0, 1))", rounds, level);
    size_t *index = malloc(n * sizeof *index);
    double *samples = malloc((size_t)rounds * LLMRT_FIT_NPARAM * sizeof *samples);
    log_point *lp = log_points(pts, n);
    if (!index || !samples || !lp) {
        free(lp);
        free(index);
        free(samples);
        return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    }
    llmrt_rng rng;
    llmrt_rng_seed(&rng, seed);
    for (int r = 0; r < rounds && !rc; r++) {
        for (size_t i = 0; i < n; i++) index[i] = (size_t)llmrt_rng_below(&rng, n);
        fit_data d = {lp, n, index, delta};
        llmrt_fit_result fr;
        if ((rc = fit_data_run(&d, grid, full->theta, &fr))) break;
        llmrt_scaling_law law;
        llmrt_scaling_fit_law(&fr, &law);
        const double v[LLMRT_FIT_NPARAM] = {law.E, law.A, law.B, law.alpha, law.beta};
        for (int p = 0; p < LLMRT_FIT_NPARAM; p++) samples[(size_t)p * (size_t)rounds + (size_t)r] = v[p];
    }
    for (int p = 0; p < LLMRT_FIT_NPARAM && !rc; p++) {
        double *col = samples + (size_t)p * (size_t)rounds;
        gsl_sort(col, 1, (size_t)rounds);
        lo[p] = gsl_stats_quantile_from_sorted_data(col, 1, (size_t)rounds, (1 - level) / 2);
        hi[p] = gsl_stats_quantile_from_sorted_data(col, 1, (size_t)rounds, (1 + level) / 2);
    }
    free(lp);
    free(index);
    free(samples);
    return rc;
}
