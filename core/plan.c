/* plan.c — memory per rank, predicted (see plan.h and docs/memory.md). */
#include "plan.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "host_api.h"
#include "precision.h"
#include "registry.h"

const char *const llmrt_plan_strategies[] = {"ddp", "zero1", "zero2", "zero3", "fsdp", NULL};
const char *const llmrt_plan_formats[] = {"fp32", "bf16", "fp16", "int8", NULL};
const char *const llmrt_plan_category_names[LLMRT_MEM_CATEGORY_COUNT] = {
    "params", "grads", "optimizer", "activations", "comm", "other"};

/* ------------------------------------------------------------------ counts */

int llmrt_plan_parse_count(const char *text, uint64_t *out)
{
    static const char accepted[] =
        "expected a parameter count like 124M, 7B, 7.5e9 or 350000 (suffixes K, M, B, T)";
    if (!text || !*text || isspace((unsigned char)*text) || *text == '-' || *text == '+')
        return llmrt_error(LLMRT_ERR_INVALID, "parameter count '%s': %s", text ? text : "",
                           accepted);
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno == ERANGE)
        return llmrt_error(LLMRT_ERR_INVALID, "parameter count '%s': %s", text, accepted);
    double scale = 1.0;
    if (*end) {
        switch (toupper((unsigned char)*end)) {
        case 'K': scale = 1e3; break;
        case 'M': scale = 1e6; break;
        case 'B': case 'G': scale = 1e9; break;
        case 'T': scale = 1e12; break;
        default:
            return llmrt_error(LLMRT_ERR_INVALID, "parameter count '%s': unknown suffix '%s' "
                               "(%s)", text, end, accepted);
        }
        if (end[1])
            return llmrt_error(LLMRT_ERR_INVALID, "parameter count '%s': trailing '%s' (%s)",
                               text, end + 1, accepted);
    }
    v *= scale;
    if (!isfinite(v) || v < 0.5 || v >= 1.8e19)
        return llmrt_error(LLMRT_ERR_INVALID, "parameter count '%s': out of range (1 to "
                           "1.8e19)", text);
    *out = (uint64_t)llround(v);
    return LLMRT_OK;
}

/* ------------------------------------------------------------------ formula */

/* Bytes per parameter before sharding (ZeRO paper, section 3.1: mixed
 * precision Adam keeps fp16 params and grads, and fp32 master params,
 * momentum and variance, K = 12). */
static const struct {
    const char *format;
    double params, grads, optimizer;
    const char *what;
} format_table[] = {
    {"fp32", 4, 4, 8, "fp32 params 4 + grads 4 + Adam m, v 8"},
    {"bf16", 2, 2, 12, "bf16 params 2 + grads 2 + fp32 master, m, v 12"},
    {"fp16", 2, 2, 12, "fp16 params 2 + grads 2 + fp32 master, m, v 12"},
    /* QAT trains fp32 weights (fake-quantized in the forward) and their
     * per-channel scales, which a parameter count does not show. */
    {"int8", 4, 4, 8, "int8 QAT: fp32 params 4 + grads 4 + Adam m, v 8 (+ scales)"},
};

/* Which of params, grads, optimizer each strategy divides by the world size
 * (ZeRO paper table 1: P_os, P_os+g, P_os+g+p; FSDP full sharding is ZeRO-3). */
static const struct {
    const char *strategy;
    int shard_params, shard_grads, shard_optimizer;
} strategy_table[] = {
    {"ddp", 0, 0, 0},
    {"zero1", 0, 0, 1},
    {"zero2", 0, 1, 1},
    {"zero3", 1, 1, 1},
    {"fsdp", 1, 1, 1},
};

static int unknown(const char *what, const char *value, const char *const *accepted)
{
    char list[128] = "";
    for (size_t i = 0; accepted[i]; i++) {
        if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, accepted[i], sizeof list - strlen(list) - 1);
    }
    return llmrt_error(LLMRT_ERR_INVALID, "unknown %s '%s' (accepted: %s)", what, value, list);
}

int llmrt_plan_format_bytes(const char *format, double *params, double *grads,
                            double *optimizer)
{
    for (size_t i = 0; i < sizeof format_table / sizeof format_table[0]; i++)
        if (!strcmp(format, format_table[i].format)) {
            *params = format_table[i].params;
            *grads = format_table[i].grads;
            *optimizer = format_table[i].optimizer;
            return LLMRT_OK;
        }
    return unknown("format", format, llmrt_plan_formats);
}

int llmrt_plan_formula(double psi, int world, const char *strategy, const char *format,
                       double bytes[LLMRT_MEM_CATEGORY_COUNT])
{
    double p, g, o;
    int rc = llmrt_plan_format_bytes(format, &p, &g, &o);
    if (rc) return rc;
    if (world < 1) return llmrt_error(LLMRT_ERR_INVALID, "world size %d: must be >= 1", world);
    for (size_t i = 0; i < sizeof strategy_table / sizeof strategy_table[0]; i++) {
        if (strcmp(strategy, strategy_table[i].strategy) != 0) continue;
        double n = (double)world;
        for (int c = 0; c < LLMRT_MEM_CATEGORY_COUNT; c++) bytes[c] = 0.0;
        bytes[LLMRT_MEM_PARAMS] = p * psi / (strategy_table[i].shard_params ? n : 1.0);
        bytes[LLMRT_MEM_GRADS] = g * psi / (strategy_table[i].shard_grads ? n : 1.0);
        bytes[LLMRT_MEM_OPTIMIZER] = o * psi / (strategy_table[i].shard_optimizer ? n : 1.0);
        return LLMRT_OK;
    }
    return unknown("strategy", strategy, llmrt_plan_strategies);
}

/* ------------------------------------------------------------------ layouts */

int llmrt_plan_component(llmrt_config *cfg, const llmrt_strategy_vtable *st,
                         const char *component, const llmrt_model_layout *layout,
                         const llmrt_model_config *mc, int world, int rank, int batch,
                         int context, size_t bytes[LLMRT_MEM_CATEGORY_COUNT])
{
    for (int c = 0; c < LLMRT_MEM_CATEGORY_COUNT; c++) bytes[c] = 0;
    if (!LLMRT_HAS(st, st->struct_size, plan))
        return llmrt_error(LLMRT_ERR_UNSUPPORTED, "strategy %s cannot predict its memory "
                           "(no plan())", component);
    int rc = st->plan(llmrt_host_api_get(), llmrt_config_params(cfg, component), layout, world,
                      rank, bytes);
    if (rc) return llmrt_error_prefix(rc, "strategy %s: plan", component);
    bytes[LLMRT_MEM_ACTIVATIONS] += llmrt_model_activation_bytes(mc, batch, context);
    bytes[LLMRT_MEM_COMM] += LLMRT_PLAN_RUNTIME_COMM_BYTES;
    return LLMRT_OK;
}

int llmrt_plan_layout(llmrt_config *cfg, const char *strategy, const llmrt_model_config *mc_in,
                      const llmrt_precision *prec, int world, int rank, int batch, int context,
                      size_t bytes[LLMRT_MEM_CATEGORY_COUNT])
{
    llmrt_model_config mcv = *mc_in, *mc = &mcv;
    if (prec) {
        mcv.dtype = prec->compute_type;
        mcv.qat = prec->qat;
    }
    const char *component = strategy;
    char set[32];
    size_t i;
    for (i = 0; llmrt_plan_strategies[i] && strcmp(llmrt_plan_strategies[i], strategy); i++) {}
    if (!llmrt_plan_strategies[i]) return unknown("strategy", strategy, llmrt_plan_strategies);
    if (!strncmp(strategy, "zero", 4)) {
        component = "zero";
        snprintf(set, sizeof set, "zero.stage=%s", strategy + 4);
        int rc = llmrt_config_set(cfg, set);
        if (rc) return rc;
    }
    const char *plugin_path;
    int rc = llmrt_config_string(cfg, "runtime", "plugin_path", "",
                                 "colon-separated directories searched first for plugins",
                                 &plugin_path);
    if (rc || (rc = llmrt_registry_init(plugin_path[0] ? plugin_path : NULL))) return rc;
    const llmrt_component *comp;
    if ((rc = llmrt_registry_find(LLMRT_KIND_STRATEGY, component, &comp, NULL))) return rc;
    llmrt_model_layout layout;
    long accum;
    if ((rc = llmrt_config_int(cfg, "train", "accum", 1, 1, 1 << 20,
                               "micro-batches accumulated per step", &accum)))
        return rc;
    if ((rc = llmrt_model_layout_build(mc, &layout))) return rc;
    if (prec) llmrt_precision_apply(prec, &layout);
    /* Stages 2 and 3 keep full gradient buffers across micro-batches. */
    layout.micro_batches = (int)accum;
    rc = llmrt_plan_component(cfg, (const llmrt_strategy_vtable *)comp->vtable, component, &layout, mc, world, rank, batch,
                              context, bytes);
    llmrt_model_layout_free(mc, &layout);
    return rc;
}
