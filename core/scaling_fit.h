/* scaling_fit.h — fit L(N, D) = E + A/N^α + B/D^β to measured losses the
 * way Hoffmann et al. 2022 (Approach 3) and Besiroglu et al. 2024 did:
 * minimise
 *     Σ_i Huber_δ( LSE(a − α·log N_i, b − β·log D_i, e) − log L_i )
 * over θ = (a, b, e, α, β), with A = e^a, B = e^b, E = e^e, from every
 * point of a grid of starting values, keeping the best; confidence
 * intervals from a seeded bootstrap over the points.
 *
 * The minimiser is GSL's BFGS (gsl_multimin_fdfminimizer_vector_bfgs2) with
 * the analytic gradient. The papers used L-BFGS; with 5 parameters, L-BFGS
 * keeping 5 or more pairs is the full BFGS update, so the two methods are
 * the same here (docs/scaling.md). */
#ifndef LLMRT_CORE_SCALING_FIT_H
#define LLMRT_CORE_SCALING_FIT_H

#include <stddef.h>
#include <stdint.h>

#include "scaling_law.h"

typedef struct llmrt_scaling_point {
    double N;    /* parameters */
    double D;    /* training tokens */
    double loss; /* final validation loss, nats per token */
} llmrt_scaling_point;

/* Index of each parameter in θ. */
enum { LLMRT_FIT_A, LLMRT_FIT_B, LLMRT_FIT_E, LLMRT_FIT_ALPHA, LLMRT_FIT_BETA, LLMRT_FIT_NPARAM };

/* Starting values: for each θ component, `steps` values evenly from lo to
 * hi (steps 1: lo alone). The starts are every combination. */
typedef struct llmrt_fit_grid {
    double lo[LLMRT_FIT_NPARAM], hi[LLMRT_FIT_NPARAM];
    int steps[LLMRT_FIT_NPARAM];
} llmrt_fit_grid;

/* The grid of Hoffmann et al. (appendix D.2): a, b ∈ {0, 5, …, 25},
 * e ∈ {−1, −0.5, …, 1}, α, β ∈ {0, 0.5, …, 2}: 4,500 starts. */
extern const llmrt_fit_grid llmrt_fit_grid_chinchilla;

/* The Huber threshold both papers used. */
#define LLMRT_FIT_HUBER_DELTA 1e-3

typedef struct llmrt_fit_result {
    double theta[LLMRT_FIT_NPARAM]; /* a, b, e, alpha, beta of the best start */
    double objective;               /* its Huber sum */
    size_t starts;                  /* starts tried */
    size_t starts_at_best;          /* starts that ended within 1e-9 (relative) of the best */
} llmrt_fit_result;

/* The objective at θ (for tests). */
double llmrt_scaling_fit_objective(const llmrt_scaling_point *pts, size_t n, double delta,
                                   const double theta[LLMRT_FIT_NPARAM]);

/* Fit from every start of `grid` and from `extra_start` (NULL: none). Points
 * must be positive and finite; at least 5 are needed. */
int llmrt_scaling_fit(const llmrt_scaling_point *pts, size_t n, const llmrt_fit_grid *grid,
                      const double *extra_start, double delta, llmrt_fit_result *out);

/* θ as a law (name "fitted"; source left to the caller). */
void llmrt_scaling_fit_law(const llmrt_fit_result *fit, llmrt_scaling_law *law);

/* Percentile bootstrap: `rounds` resamples of the points with replacement
 * (seeded: the same seed gives the same intervals), each refitted from
 * `grid` and from the full fit's θ; lo/hi are the (1−level)/2 and (1+level)/2
 * quantiles of E, A, B, α, β (in that order, natural scale). */
int llmrt_scaling_bootstrap(const llmrt_scaling_point *pts, size_t n,
                            const llmrt_fit_grid *grid, const llmrt_fit_result *full,
                            double delta, int rounds, uint64_t seed, double level,
                            double lo[LLMRT_FIT_NPARAM], double hi[LLMRT_FIT_NPARAM]);

#endif
