/* cmd_sweep.c — `llmrt sweep`: the IsoFLOP grid of training runs (core/sweep.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#include "sweep.h"

static const char usage[] =
    "usage: llmrt sweep CONFIG [--max-runs K] [--dry-run] [--set section.key=value]...\n"
    "\n"
    "Train a grid of models, [sweep] shapes at [sweep] budgets (IsoFLOP profiles),\n"
    "each an ordinary llmrt train of CONFIG in its own directory [sweep] out/RUN,\n"
    "with D = C / (6 N) tokens; write N, D, FLOPs and the final validation loss of\n"
    "every finished run to one table ([sweep] table: .csv or .jsonl). Runs that\n"
    "finished earlier are skipped and a stopped run resumes from its checkpoint,\n"
    "so a sweep can be stopped and started again. Then: llmrt fit TABLE.\n"
    "\n"
    "  --max-runs K  train at most K runs this time, then stop\n"
    "  --dry-run     print the grid (N, D, steps of each run) and train nothing\n"
    "\n"
    "Keys: [sweep] out, table, budgets, shapes, head_dim, min_steps (docs/config.md);\n"
    "the method: docs/scaling.md.\n";

int llmrt_cmd_sweep(int argc, char **argv)
{
    /* --dry-run is a flag; the shared parser takes options with values. */
    char **args = malloc(((size_t)argc + 1) * sizeof *args);
    if (!args) return llmrt_cli_fail();
    int n = 0, dry_run = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--dry-run")) dry_run = 1;
        else args[n++] = argv[i];
    }
    args[n] = NULL;
    const char *max_runs_s = NULL;
    const llmrt_cli_option opts[] = {{"--max-runs", &max_runs_s}};
    llmrt_config *cfg;
    int rc = llmrt_cli_parse(n, args, usage, opts, 1, 1, &cfg);
    if (rc) {
        free(args);
        return rc < 0 ? 0 : rc;
    }
    llmrt_sweep_opts so = {.dry_run = dry_run};
    if (max_runs_s) {
        char *end;
        so.max_runs = strtol(max_runs_s, &end, 10);
        if (!*max_runs_s || *end || so.max_runs < 1) {
            fprintf(stderr, "llmrt sweep: --max-runs %s: expected a positive integer\n",
                    max_runs_s);
            rc = 2;
        }
    }
    if (!rc && llmrt_sweep_run(cfg, &so)) rc = llmrt_cli_fail();
    llmrt_config_free(cfg);
    free(args);
    return rc;
}
