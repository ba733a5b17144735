/* cmd_plan_budget.c — `llmrt plan --budget/--hours/--tokens/--law`: the
 * compute-optimal model and data for a budget from a scaling law, its
 * predicted loss, the memory per device of every strategy for that model
 * (which ones fit) and the wall-clock time (docs/scaling.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#include "plan.h"
#include "scaling_plan.h"
#include "train.h"

/* A positive finite number, the whole text (5.76e23, 989e12, 0.4). */
static int parse_positive(const char *opt, const char *text, double max, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (!*text || *end || !isfinite(v) || v <= 0 || v > max) {
        fprintf(stderr, "llmrt plan: %s %s: expected a positive number up to %g (like 5.76e23)\n",
                opt, text, max);
        return 2;
    }
    *out = v;
    return 0;
}

/* Bytes with an optional unit: 80GB, 80GiB, 8e10, 512MiB. */
static int parse_bytes(const char *opt, const char *text, double *out)
{
    static const struct {
        const char *unit;
        double scale;
    } units[] = {{"", 1}, {"B", 1}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
                 {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
                 {"TiB", 1099511627776.0}};
    char *end;
    double v = strtod(text, &end);
    for (size_t i = 0; *text && end != text && i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].unit) && isfinite(v) && v > 0) {
            *out = v * units[i].scale;
            return 0;
        }
    fprintf(stderr, "llmrt plan: %s %s: expected bytes with an optional unit B, kB, MB, GB, "
                    "TB, KiB, MiB, GiB or TiB (like 80GB)\n", opt, text);
    return 2;
}

static double device_total(const double b[LLMRT_MEM_CATEGORY_COUNT], double acts)
{
    return b[LLMRT_MEM_PARAMS] + b[LLMRT_MEM_GRADS] + b[LLMRT_MEM_OPTIMIZER] + acts;
}

/* The fewest devices on which `strategy` fits in `memory` bytes each (memory
 * only falls as devices are added), or 0 when none up to 2^24 does. */
static long min_devices(double params, const char *strategy, const char *format, double acts,
                        double memory)
{
    double b[LLMRT_MEM_CATEGORY_COUNT];
    long lo = 1, hi = 1L << 24;
    llmrt_plan_formula(params, (int)hi, strategy, format, b);
    if (device_total(b, acts) > memory) return 0;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        llmrt_plan_formula(params, (int)mid, strategy, format, b);
        if (device_total(b, acts) <= memory) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

static void print_count(const char *what, double v)
{
    printf("%-10s %.3g", what, v);
}

static void print_duration(double seconds)
{
    if (seconds < 3600) printf("%.1f s", seconds);
    else if (seconds < 2 * 86400) printf("%.1f hours", seconds / 3600);
    else printf("%.1f days", seconds / 86400);
}

int llmrt_cmd_plan_scaling(llmrt_config *cfg, int has_config, const llmrt_plan_scaling_args *a)
{
    double budget = 0, hours = 0, peak = 0, mfu = 0.4, params = 0, tokens = 0, memory = 0;
    int rc;
    if ((a->budget && (rc = parse_positive("--budget", a->budget, 1e40, &budget))) ||
        (a->hours && (rc = parse_positive("--hours", a->hours, 1e15, &hours))) ||
        (a->peak && (rc = parse_positive("--peak", a->peak, 1e21, &peak))) ||
        (a->mfu && (rc = parse_positive("--mfu", a->mfu, 1.0, &mfu))) ||
        (a->memory && (rc = parse_bytes("--device-memory", a->memory, &memory))))
        return rc;
    uint64_t count;
    if (a->params) {
        if (llmrt_plan_parse_count(a->params, &count)) return llmrt_cli_fail();
        params = (double)count;
    }
    if (a->tokens) {
        if (llmrt_plan_parse_count(a->tokens, &count)) {
            fprintf(stderr, "llmrt plan: --tokens %s: expected a token count like 1.4T, "
                            "300B or 2e11\n", a->tokens);
            return 2;
        }
        tokens = (double)count;
    }
    if (hours > 0) {
        if (budget > 0) {
            fprintf(stderr, "llmrt plan: --budget and --hours both given: give one\n");
            return 2;
        }
        if (peak <= 0) {
            fprintf(stderr, "llmrt plan: --hours %s needs --peak FLOP/s per device (and "
                            "--mfu, default 0.4)\n", a->hours);
            return 2;
        }
        budget = hours * 3600.0 * peak * mfu;
    }
    llmrt_scaling_law law;
    if (llmrt_scaling_law_get(a->law ? a->law : "besiroglu", &law)) return llmrt_cli_fail();

    /* The shape family: the config's model, else GPT-3-like. */
    llmrt_shape_family family = llmrt_shape_family_default;
    if (has_config) {
        llmrt_model_config mc;
        if (llmrt_read_model_config(cfg, &mc)) return llmrt_cli_fail();
        family.aspect = (double)mc.dim / mc.layers;
        family.head_dim = mc.dim / mc.heads;
        family.context = mc.context;
        family.vocab = mc.vocab;
    }
    llmrt_scaling_plan p;
    if (llmrt_scaling_plan_make(&law, budget, params, tokens, &family, &p)) {
        fprintf(stderr, "llmrt plan: %s (--budget, --hours, --params, --tokens)\n",
                llmrt_last_error());
        return 2;
    }

    printf("law %s: %s\n", law.name, law.source);
    if (law.form == LLMRT_LAW_PARAMETRIC)
        printf("    L(N, D) = %.4g + %.6g / N^%.4g + %.6g / D^%.4g\n", law.E, law.A, law.alpha,
               law.B, law.beta);
    print_count("compute", p.compute);
    printf(" FLOPs (C = 6 N D)%s\n", budget > 0 ? ": the budget" : "");
    if (hours > 0)
        printf("           = %g device-hours x %g FLOP/s x MFU %g\n", hours, peak, mfu);
    print_count("params", p.params);
    printf(" (N%s)\n", law.form == LLMRT_LAW_KAPLAN ? ", without embeddings, as Kaplan counts" : "");
    print_count("tokens", p.tokens);
    printf(" (D)\nratio      %.1f tokens per parameter\n", p.tokens / p.params);
    if (isnan(p.loss)) printf("loss       - (law %s predicts no loss)\n", law.name);
    else printf("loss       %.4f nats per token (predicted)\n", p.loss);
    printf("shape      %d layers, dim %d, %d heads, context %d, vocab %d: %.4g parameters\n",
           p.shape.layers, p.shape.dim, p.shape.heads, p.shape.context, p.shape.vocab,
           p.shape_params);
    printf("FLOPs      %.4g per token (6N + 12 L T d, attention included), %.4g for the run\n",
           p.flops_per_token, p.train_flops);

    long world = a->world;
    if (peak > 0) {
        double seconds = p.train_flops / ((double)world * peak * mfu);
        printf("time       ");
        print_duration(seconds);
        printf(" on %ld device%s at %g FLOP/s peak, MFU %g\n", world, world > 1 ? "s" : "",
               peak, mfu);
    } else {
        printf("time       - (give --peak FLOP/s per device, and --mfu)\n");
    }

    /* Memory per device: the ZeRO formula for the model state of N (the
     * shape's own count), plus the shape's activations for one micro-batch. */
    double pp, pg, po;
    if (llmrt_plan_format_bytes(a->format, &pp, &pg, &po)) return llmrt_cli_fail();
    llmrt_gpt_config act = p.shape;
    act.dtype = a->activation_dtype;
    double acts = (double)llmrt_gpt_activation_bytes(&act, (int)a->batch, act.context);
    printf("\nmemory per device (GB = 1e9 B): format %s, %ld device%s, activations of %ld x %d "
           "tokens\n", a->format, world, world > 1 ? "s" : "", a->batch, act.context);
    printf("%-9s %11s %11s %11s %11s %11s", "strategy", "params", "grads", "optimizer",
           "activations", "total");
    if (memory > 0) printf("  %-4s %11s", "fits", "min devices");
    printf("\n");
    for (size_t i = 0; llmrt_plan_strategies[i]; i++) {
        const char *st = llmrt_plan_strategies[i];
        double b[LLMRT_MEM_CATEGORY_COUNT];
        if (llmrt_plan_formula(p.shape_params, (int)world, st, a->format, b))
            return llmrt_cli_fail();
        double total = device_total(b, acts);
        printf("%-9s %11.1f %11.1f %11.1f %11.1f %11.1f", st, b[LLMRT_MEM_PARAMS] / 1e9,
               b[LLMRT_MEM_GRADS] / 1e9, b[LLMRT_MEM_OPTIMIZER] / 1e9, acts / 1e9, total / 1e9);
        if (memory > 0) {
            long need = min_devices(p.shape_params, st, a->format, acts, memory);
            printf("  %-4s", total <= memory ? "yes" : "no");
            if (need > 0) printf(" %11ld", need);
            else printf(" %11s", "none");
        }
        printf("\n");
    }
    if (memory > 0)
        printf("(fits: total <= --device-memory %s on %ld device%s; min devices: the fewest on "
               "which it would)\n", a->memory, world, world > 1 ? "s" : "");
    return 0;
}
