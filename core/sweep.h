/* sweep.h — `llmrt sweep`: a grid of training runs, several model shapes at
 * several compute budgets (IsoFLOP profiles, Hoffmann et al. 2022 Approach
 * 2), each an ordinary `llmrt train` of the base config in its own run
 * directory, and one table of N, D, FLOPs and final validation loss
 * (docs/scaling.md).
 *
 * Keys, section [sweep] of the config (docs/config.md):
 *   out       the sweep directory (runs/sweep): runs in OUT/<run>/
 *   table     the table file (OUT/results.csv; .jsonl for JSON lines)
 *   budgets   compute budgets C in FLOPs, comma-separated
 *   shapes    model shapes LAYERSxDIM, comma-separated (2x64, 4x128)
 *   head_dim  channels per head (heads = dim / head_dim)
 *   min_steps grid points with fewer optimizer steps are left out
 *   max_steps grid points with more optimizer steps are left out (0: none)
 *
 * A run's tokens: D = C / (6 N), N the shape's parameters, rounded to whole
 * steps of [train] batch x accum x context tokens. Each run resumes from its
 * own latest checkpoint ([train] resume = auto), and a run whose
 * metrics.jsonl already ends at its last step with a validation loss is
 * finished and skipped, so a stopped sweep continues where it stopped. */
#ifndef LLMRT_CORE_SWEEP_H
#define LLMRT_CORE_SWEEP_H

#include "config.h"

typedef struct llmrt_sweep_opts {
    long max_runs; /* train at most this many runs, then stop (0: all) */
    int dry_run;   /* print the grid, train nothing */
} llmrt_sweep_opts;

/* Run the sweep of `cfg` (the base config with its [sweep] section). Each
 * run is trained in a child process (fork), its output in OUT/<run>/train.log;
 * progress goes to stdout. Returns 0 when every run of the grid (or
 * max_runs of them) finished. */
int llmrt_sweep_run(llmrt_config *cfg, const llmrt_sweep_opts *opts);

#endif
