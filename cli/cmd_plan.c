/* cmd_plan.c — `llmrt plan`: memory per rank by category, before a run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#include "plan.h"
#include "precision.h"

static const char usage[] =
    "usage: llmrt plan [CONFIG] [--params N] [--world N] [--strategy S] [--format F]\n"
    "                  [--batch B] [--unit U] [--set section.key=value]...\n"
    "       llmrt plan [CONFIG] (--budget FLOPS | --hours H --peak FLOPS | --params N\n"
    "                  | --tokens D) [--law L] [--mfu M] [--world N] [--device-memory M]\n"
    "                  [--format F] [--batch B]\n"
    "\n"
    "Memory each rank needs, by category (parameters, gradients, optimizer state,\n"
    "activations, communication buffers), for every strategy or the one given.\n"
    "\n"
    "With a budget, a token count or a law: the compute-optimal parameters N and\n"
    "tokens D from a scaling law (C = 6 N D), the predicted loss, tokens per\n"
    "parameter, a model shape of about N parameters (CONFIG's [model] family:\n"
    "its dim/layers, head width, context, vocab; else GPT-3-like), memory per\n"
    "device for every strategy (fits or not) and the wall-clock time.\n"
    "\n"
    "  --budget C    compute in FLOPs (5.76e23)\n"
    "  --hours H     device-hours instead: C = H x 3600 x --peak x --mfu\n"
    "  --peak F      peak FLOP/s of one device (989e12), for the time\n"
    "  --mfu M       expected model FLOPs utilisation (default 0.4)\n"
    "  --tokens D    a token count (1.4T): with --params, both fixed; alone, the N\n"
    "                for which D is compute-optimal\n"
    "  --law L       chinchilla, besiroglu (default), kaplan, tpp20, or a FILE\n"
    "                written by llmrt fit\n"
    "  --device-memory M  bytes per device (80GB, 80GiB): mark what fits, and the\n"
    "                fewest devices on which each strategy would\n"
    "  (--params N with any of these: the D that is optimal for N)\n"
    "\n"
    "  CONFIG        the [model] shape to plan for (and [train] batch); the strategy\n"
    "                plugins' own plan() gives the figures a run will measure\n"
    "  --params N    a bare parameter count instead (124M, 7B, 7.5e9): the ZeRO paper's\n"
    "                formula; activations are not estimated (a count has no shape)\n"
    "  --world N     ranks (default 1)\n"
    "  --strategy S  ddp, zero1, zero2, zero3 or fsdp (default: a table of all)\n"
    "  --format F    fp32 (default), bf16 or fp16 (mixed precision: 2 B params,\n"
    "                2 B grads, 12 B fp32 master + Adam m, v per parameter)\n"
    "  --batch B     sequences per micro-batch (default [train] batch)\n"
    "  --unit U      B, kB, MB, GB (1e3 steps, as the ZeRO paper), MiB, GiB\n"
    "                (default: GB, MB or kB by size)\n"
    "\n"
    "See docs/memory.md for the formulas, docs/scaling.md for the laws.\n";

static const struct {
    const char *name;
    double scale;
} units[] = {{"B", 1}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"MiB", 1048576.0},
             {"GiB", 1073741824.0}};

static int parse_int(const char *opt, const char *text, long min, long max, long *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < min || v > max) {
        fprintf(stderr, "llmrt plan: %s %s: expected an integer from %ld to %ld\n", opt, text,
                min, max);
        return 2;
    }
    *out = v;
    return 0;
}

typedef struct plan_row {
    const char *strategy;
    double bytes[LLMRT_MEM_CATEGORY_COUNT];
    int has_activations, has_comm;
    char source[160];
} plan_row;

static void print_value(double v, double scale, int integers)
{
    if (integers) printf(" %13.0f", v);
    else printf(" %11.1f", v / scale);
}

static void print_table(const plan_row *rows, size_t n, const char *unit, double scale)
{
    int integers = scale == 1.0;
    printf("%-9s", "strategy");
    static const char *const heads[] = {"params", "grads", "optimizer", "activations", "comm"};
    for (int c = 0; c < 5; c++) printf(integers ? " %13s" : " %11s", heads[c]);
    printf(integers ? " %13s" : " %11s", "total");
    printf("  source\n");
    for (size_t i = 0; i < n; i++) {
        double total = 0;
        printf("%-9s", rows[i].strategy);
        for (int c = 0; c < 5; c++) {
            if ((c == LLMRT_MEM_ACTIVATIONS && !rows[i].has_activations) ||
                (c == LLMRT_MEM_COMM && !rows[i].has_comm))
                printf(integers ? " %13s" : " %11s", "-");
            else print_value(rows[i].bytes[c], scale, integers);
            total += rows[i].bytes[c];
        }
        total += rows[i].bytes[LLMRT_MEM_OTHER];
        print_value(total, scale, integers);
        printf("  %s\n", rows[i].source);
    }
    printf("(%s per rank, the largest rank%s)\n", unit, integers ? "" : "; 1 kB = 1e3 B");
}

int llmrt_cmd_plan(int argc, char **argv)
{
    const char *params_s = NULL, *world_s = NULL, *strategy = NULL, *format = NULL,
               *batch_s = NULL, *unit_s = NULL;
    llmrt_plan_scaling_args sc = {0};
    const llmrt_cli_option opts[] = {{"--params", &params_s}, {"--world", &world_s},
                                     {"--strategy", &strategy}, {"--format", &format},
                                     {"--batch", &batch_s}, {"--unit", &unit_s},
                                     {"--budget", &sc.budget}, {"--hours", &sc.hours},
                                     {"--peak", &sc.peak}, {"--mfu", &sc.mfu},
                                     {"--tokens", &sc.tokens}, {"--law", &sc.law},
                                     {"--device-memory", &sc.memory}};
    llmrt_config *cfg;
    int rc = llmrt_cli_parse(argc, argv, usage, opts, sizeof opts / sizeof opts[0], 0, &cfg);
    if (rc) return rc < 0 ? 0 : rc;
    int has_config = 0;
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--", 2)) {
            if (strcmp(argv[i], "--help") && !strchr(argv[i], '=')) i++;
            continue;
        }
        has_config = 1;
    }
    long world = 1, batch = 0;
    uint64_t count = 0;
    double pp, pg, po;
    plan_row rows[8];
    size_t n_rows = 0;
    const char *const *names = llmrt_plan_strategies;
    const char *one[2] = {strategy, NULL};
    llmrt_model_config mc;
    if (strategy) names = one;
    if ((world_s && (rc = parse_int("--world", world_s, 1, 1 << 24, &world))) ||
        (batch_s && (rc = parse_int("--batch", batch_s, 1, 1 << 20, &batch))))
        goto out;
    /* The format: --format, else the config's [runtime] format. */
    if (!format && llmrt_config_string(cfg, "runtime", "format", "fp32",
                                       "number format of parameters and activations",
                                       &format)) {
        rc = llmrt_cli_fail();
        goto out;
    }
    llmrt_precision prec;
    if (llmrt_precision_read(cfg, format, NULL, &prec)) {
        rc = llmrt_cli_fail();
        goto out;
    }
    if (params_s && llmrt_plan_parse_count(params_s, &count)) {
        rc = llmrt_cli_fail();
        goto out;
    }
    if (llmrt_plan_format_bytes(format, &pp, &pg, &po)) {
        rc = llmrt_cli_fail();
        goto out;
    }
    double unit_scale = 0;
    const char *unit = NULL;
    if (unit_s) {
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (!strcmp(unit_s, units[i].name)) unit = units[i].name, unit_scale = units[i].scale;
        if (!unit) {
            fprintf(stderr, "llmrt plan: --unit %s: expected B, kB, MB, GB, MiB or GiB\n",
                    unit_s);
            rc = 2;
            goto out;
        }
    }
    for (size_t i = 0; names[i]; i++) {
        double b[LLMRT_MEM_CATEGORY_COUNT];
        if (llmrt_plan_formula(1.0, 1, names[i], format, b)) {
            rc = llmrt_cli_fail();
            goto out;
        }
    }
    if (sc.budget || sc.hours || sc.peak || sc.mfu || sc.tokens || sc.law || sc.memory) {
        if (strategy || unit_s) {
            fprintf(stderr, "llmrt plan: --strategy and --unit are for the memory table alone; "
                            "a plan from a budget shows every strategy in GB\n");
            rc = 2;
            goto out;
        }
        sc.params = params_s;
        sc.format = format;
        sc.world = world;
        sc.batch = batch ? batch : 1;
        sc.activation_dtype = prec.compute_type;
        rc = llmrt_cmd_plan_scaling(cfg, has_config, &sc);
        goto out;
    }
    if (!params_s && !has_config) {
        fprintf(stderr, "llmrt plan: nothing to plan for: give a CONFIG with a [model] "
                        "section or --params N (see llmrt plan --help)\n");
        rc = 2;
        goto out;
    }

    if (params_s) {
        printf("%llu parameters (--params %s): the ZeRO paper's formula, no activations "
               "(a parameter count has no shape)\n", (unsigned long long)count, params_s);
        for (size_t i = 0; names[i]; i++, n_rows++) {
            plan_row *r = &rows[n_rows];
            memset(r, 0, sizeof *r);
            r->strategy = names[i];
            llmrt_plan_formula((double)count, (int)world, names[i], format, r->bytes);
            snprintf(r->source, sizeof r->source, "formula");
        }
    } else {
        long cfg_batch;
        if (llmrt_read_model_config(cfg, &mc) ||
            llmrt_config_int(cfg, "train", "batch", 8, 1, 1 << 20,
                             "sequences per micro-batch per rank", &cfg_batch)) {
            rc = llmrt_cli_fail();
            goto out;
        }
        if (!batch) batch = cfg_batch;
        mc.dtype = prec.compute_type;
        mc.qat = prec.qat;
        size_t n_params = llmrt_model_n_params(&mc);
        double acts = (double)llmrt_model_activation_bytes(&mc, (int)batch, mc.context);
        if (mc.arch == LLMRT_ARCH_T5)
            printf("model: t5, %d encoder + %d decoder layers, dim %d, d_ff %d, %d heads, "
                   "context %d (decoder %d), vocab %d: %zu parameters; activations for batch "
                   "%ld x %d + %d tokens (%s, as the training loop runs them)\n",
                   mc.layers, mc.decoder_layers, mc.dim, mc.d_ff, mc.heads, mc.context,
                   mc.decoder_context, mc.vocab, n_params, batch, mc.context,
                   mc.decoder_context, llmrt_precision_dtype_name(mc.dtype));
        else
            printf("model: %d layers, dim %d, %d heads, context %d, vocab %d: %zu parameters; "
                   "activations for batch %ld x %d tokens (%s, as the training loop runs "
                   "them)\n",
                   mc.layers, mc.dim, mc.heads, mc.context, mc.vocab, n_params, batch,
                   mc.context, llmrt_precision_dtype_name(mc.dtype));
        for (size_t i = 0; names[i]; i++, n_rows++) {
            plan_row *r = &rows[n_rows];
            memset(r, 0, sizeof *r);
            r->strategy = names[i];
            r->has_activations = 1;
            int plugin_ok = 0;
            {
                size_t best[LLMRT_MEM_CATEGORY_COUNT] = {0}, b[LLMRT_MEM_CATEGORY_COUNT];
                int err = 0;
                /* Ranks differ only by padding: the first and the last tell. */
                for (long k = 0; k < world && !err; k = k ? world : (world > 1 ? world - 1 : world)) {
                    err = llmrt_plan_layout(cfg, names[i], &mc, &prec, (int)world, (int)k,
                                            (int)batch, mc.context, b);
                    size_t tb = 0, tbest = 0;
                    for (int c = 0; c < LLMRT_MEM_CATEGORY_COUNT; c++) tb += b[c], tbest += best[c];
                    if (!err && tb > tbest) memcpy(best, b, sizeof best);
                }
                if (!err) {
                    for (int c = 0; c < LLMRT_MEM_CATEGORY_COUNT; c++) r->bytes[c] = (double)best[c];
                    snprintf(r->source, sizeof r->source, "plugin plan()");
                    r->has_comm = 1;
                    plugin_ok = 1;
                } else {
                    const char *why = llmrt_last_error();
                    snprintf(r->source, sizeof r->source, "formula (plugin: %.120s)", why);
                    char *nl = strchr(r->source, '\n');
                    if (nl) *nl = '\0';
                }
            }
            if (!plugin_ok) {
                llmrt_plan_formula((double)n_params, (int)world, names[i], format, r->bytes);
                r->bytes[LLMRT_MEM_ACTIVATIONS] = acts;
            }
        }
    }
    printf("format %s: %g B params + %g B grads + %g B optimizer per parameter before "
           "sharding; world size %ld\n", format, pp, pg, po, world);
    if (!unit) {
        double max = 0;
        for (size_t i = 0; i < n_rows; i++) {
            double t = 0;
            for (int c = 0; c < LLMRT_MEM_CATEGORY_COUNT; c++) t += rows[i].bytes[c];
            if (t > max) max = t;
        }
        unit = max >= 1e9 ? "GB" : max >= 1e6 ? "MB" : "kB";
        unit_scale = max >= 1e9 ? 1e9 : max >= 1e6 ? 1e6 : 1e3;
    }
    print_table(rows, n_rows, unit, unit_scale);
    rc = 0;
out:
    llmrt_config_free(cfg);
    return rc;
}
