/* cmd_fit.c — `llmrt fit`: L(N, D) = E + A/N^α + B/D^β fitted to a sweep's
 * table (core/scaling_fit.c), with bootstrap intervals, saved for
 * `llmrt plan --law FILE`, and optionally plotted (cli/fit_plot.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#include "fit_plot.h"
#include "scaling_fit.h"
#include "scaling_table.h"

static const char usage[] =
    "usage: llmrt fit TABLE [--out LAW.json] [--plot FILE.svg|FILE.png] [--bootstrap K]\n"
    "                 [--seed S] [--level P] [--grid chinchilla|coarse]\n"
    "\n"
    "Fit L(N, D) = E + A/N^alpha + B/D^beta to the final validation losses of a\n"
    "table from llmrt sweep (CSV or .jsonl with params, tokens, val_loss), as\n"
    "Hoffmann et al. 2022 (Approach 3) and Besiroglu et al. 2024 did: Huber loss\n"
    "(delta 1e-3) on log-loss residuals, BFGS from a grid of starts, the best kept.\n"
    "\n"
    "  --out F        save the law as JSON for llmrt plan --law F (default: TABLE's\n"
    "                 directory/law.json)\n"
    "  --plot F       the IsoFLOP profiles with their minima, the fitted law and its\n"
    "                 compute-optimal frontier, drawn by gnuplot (.svg or .png)\n"
    "  --bootstrap K  resamples for the confidence intervals (default 100; 0: none)\n"
    "  --seed S       the bootstrap's seed (default 1): the same seed, the same intervals\n"
    "  --level P      the intervals' coverage (default 0.95)\n"
    "  --grid G       chinchilla: the papers' 4,500 starts (default); coarse: 243\n"
    "\n"
    "See docs/scaling.md.\n";

static const llmrt_fit_grid coarse_grid = {
    .lo = {0, 0, -1, 0, 0}, .hi = {25, 25, 1, 2, 2}, .steps = {3, 3, 3, 3, 3}};
/* The bootstrap's starts besides the full fit's optimum: 32 corners. */
static const llmrt_fit_grid bootstrap_grid = {
    .lo = {2, 2, -0.5, 0.2, 0.2}, .hi = {15, 15, 0.5, 1, 1}, .steps = {2, 2, 2, 2, 2}};

static int parse_long(const char *opt, const char *text, long min, long max, long *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < min || v > max) {
        fprintf(stderr, "llmrt fit: %s %s: expected an integer from %ld to %ld\n", opt, text,
                min, max);
        return 2;
    }
    *out = v;
    return 0;
}

int llmrt_cmd_fit(int argc, char **argv)
{
    const char *out_s = NULL, *plot_s = NULL, *boot_s = NULL, *seed_s = NULL, *level_s = NULL,
               *grid_s = NULL, *table = NULL;
    const llmrt_cli_option opts[] = {{"--out", &out_s},       {"--plot", &plot_s},
                                     {"--bootstrap", &boot_s}, {"--seed", &seed_s},
                                     {"--level", &level_s},   {"--grid", &grid_s}};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strncmp(argv[i], "--", 2)) {
            size_t k;
            for (k = 0; k < sizeof opts / sizeof opts[0] && strcmp(argv[i], opts[k].name); k++) {}
            if (k == sizeof opts / sizeof opts[0]) {
                fprintf(stderr, "llmrt fit: unknown option '%s' (see llmrt fit --help)\n", argv[i]);
                return 2;
            }
            if (++i == argc) {
                fprintf(stderr, "llmrt fit: option '%s' needs a value\n", argv[i - 1]);
                return 2;
            }
            *opts[k].value = argv[i];
        } else if (table) {
            fprintf(stderr, "llmrt fit: one table only (got '%s' and '%s')\n", table, argv[i]);
            return 2;
        } else {
            table = argv[i];
        }
    }
    if (!table) {
        fprintf(stderr, "llmrt fit: no table given (usage: llmrt fit TABLE; see --help)\n");
        return 2;
    }
    long rounds = 100, seed = 1;
    double level = 0.95;
    int rc;
    if ((boot_s && (rc = parse_long("--bootstrap", boot_s, 0, 100000, &rounds))) ||
        (seed_s && (rc = parse_long("--seed", seed_s, 0, 0x7fffffffL, &seed))))
        return rc;
    if (rounds == 1) {
        fprintf(stderr, "llmrt fit: --bootstrap 1: expected 0 (none) or at least 2 resamples\n");
        return 2;
    }
    if (level_s) {
        char *end;
        level = strtod(level_s, &end);
        if (!*level_s || *end || !(level > 0 && level < 1)) {
            fprintf(stderr, "llmrt fit: --level %s: expected a number between 0 and 1 (0.95)\n",
                    level_s);
            return 2;
        }
    }
    const llmrt_fit_grid *grid = &llmrt_fit_grid_chinchilla;
    if (grid_s && !strcmp(grid_s, "coarse")) grid = &coarse_grid;
    else if (grid_s && strcmp(grid_s, "chinchilla")) {
        fprintf(stderr, "llmrt fit: --grid %s: expected chinchilla or coarse\n", grid_s);
        return 2;
    }

    if (plot_s) {
        size_t m = strlen(plot_s);
        if (m < 5 || (strcmp(plot_s + m - 4, ".svg") && strcmp(plot_s + m - 4, ".png"))) {
            fprintf(stderr, "llmrt fit: --plot %s: the file must end in .svg or .png\n", plot_s);
            return 2;
        }
    }
    llmrt_scaling_row *rows;
    size_t n;
    if (llmrt_scaling_table_read(table, &rows, &n)) return llmrt_cli_fail();
    llmrt_scaling_point *pts = malloc((n ? n : 1) * sizeof *pts);
    if (!pts) {
        free(rows);
        return llmrt_cli_fail();
    }
    for (size_t i = 0; i < n; i++) pts[i] = (llmrt_scaling_point){rows[i].params, rows[i].tokens,
                                                                  rows[i].val_loss};
    llmrt_fit_result fit;
    llmrt_scaling_law law;
    double lo[5], hi[5];
    rc = 0;
    if (llmrt_scaling_fit(pts, n, grid, NULL, LLMRT_FIT_HUBER_DELTA, &fit)) {
        fprintf(stderr, "llmrt fit: %s: %s\n", table, llmrt_last_error());
        rc = 1;
        goto out;
    }
    llmrt_scaling_fit_law(&fit, &law);
    snprintf(law.source, sizeof law.source, "llmrt fit of %s (%zu points)", table, n);
    printf("fit: %zu points from %s; Huber (delta %g) on log-loss residuals, GSL BFGS from "
           "%zu starts, %zu ended at the optimum; objective %.6g\n", n, table,
           LLMRT_FIT_HUBER_DELTA, fit.starts, fit.starts_at_best, fit.objective);
    if (rounds >= 2 &&
        llmrt_scaling_bootstrap(pts, n, &bootstrap_grid, &fit, LLMRT_FIT_HUBER_DELTA, (int)rounds,
                                (uint64_t)seed, level, lo, hi)) {
        rc = llmrt_cli_fail();
        goto out;
    }
    printf("L(N, D) = E + A / N^alpha + B / D^beta\n");
    static const char *const names[] = {"E", "A", "B", "alpha", "beta"};
    const double est[] = {law.E, law.A, law.B, law.alpha, law.beta};
    for (int i = 0; i < 5; i++) {
        printf("  %-6s %12.6g", names[i], est[i]);
        if (rounds >= 2) printf("   [%.6g, %.6g]", lo[i], hi[i]);
        printf("\n");
    }
    if (rounds >= 2)
        printf("  (%.0f%% percentile bootstrap, %ld resamples of the points, seed %ld)\n",
               100 * level, rounds, seed);
    double a = law.beta / (law.alpha + law.beta);
    printf("compute-optimal: N_opt ~ C^%.3f, D_opt ~ C^%.3f\n", a, 1 - a);
    printf("%12s %12s %12s %8s %8s\n", "budget", "N_opt", "D_opt", "D/N", "loss");
    double budgets[64];
    size_t nb = 0;
    for (size_t i = 0; i < n && nb < 64; i++) {
        double c = isfinite(rows[i].budget) ? rows[i].budget : 6 * rows[i].params * rows[i].tokens;
        size_t k;
        for (k = 0; k < nb && fabs(budgets[k] - c) > 1e-9 * c; k++) {}
        if (k == nb) budgets[nb++] = c;
    }
    for (size_t b = 0; b < nb; b++) {
        double N, D;
        llmrt_scaling_law_optimal(&law, budgets[b], &N, &D);
        printf("%12.4g %12.4g %12.4g %8.1f %8.4f\n", budgets[b], N, D, D / N,
               llmrt_scaling_law_loss(&law, N, D));
    }
    char out_default[4096];
    if (!out_s) {
        const char *slash = strrchr(table, '/');
        snprintf(out_default, sizeof out_default, "%.*slaw.json",
                 slash ? (int)(slash - table + 1) : 0, table);
        out_s = out_default;
    }
    if (llmrt_scaling_law_save(&law, rounds >= 2 ? lo : NULL, rounds >= 2 ? hi : NULL, out_s)) {
        rc = llmrt_cli_fail();
        goto out;
    }
    printf("saved %s (llmrt plan --law %s)\n", out_s, out_s);
    if (plot_s) {
        if (llmrt_fit_plot(plot_s, rows, n, &law)) {
            rc = llmrt_cli_fail();
            goto out;
        }
        printf("plot %s\n", plot_s);
    }
out:
    free(pts);
    free(rows);
    return rc;
}
