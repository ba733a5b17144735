/* plan.h — memory per rank, predicted before a run (`llmrt plan`) and
 * reported beside what a run measured (docs/memory.md).
 *
 * Two paths:
 *  - a real layout (a [model] shape): the strategy plugin's own plan() for
 *    parameters, gradients, optimizer state and communication buffers, plus
 *    llmrt_gpt_activation_bytes() for activations and the runtime's own
 *    scratch buffer, so that the plan and a training run agree exactly;
 *  - a bare parameter count Psi (`--params 7.5B`): the ZeRO paper's formula
 *    (Rajbhandari et al., arXiv 1910.02054, section 3 and table 1), bytes per
 *    parameter by format and strategy; no activations (a count has no shape).
 *
 * Strategy names of the plan: ddp, zero1, zero2, zero3, fsdp. zeroN is the
 * `zero` plugin component with [zero] stage = N; fsdp is [fsdp] sharding =
 * full (ZeRO-3's arithmetic). */
#ifndef LLMRT_CORE_PLAN_H
#define LLMRT_CORE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include <llmrt/llmrt.h>
#include "config.h"
#include "model.h"

/* The strategies `llmrt plan` knows, NULL-terminated. */
extern const char *const llmrt_plan_strategies[];
/* The formats: fp32 (Adam: 4 B params + 4 B grads + 8 B m, v), the mixed
 * precision ones bf16, fp16 (2 + 2 + 12: fp32 master, m, v) and int8 QAT
 * (as fp32, plus per-channel scales). NULL-terminated. */
extern const char *const llmrt_plan_formats[];

/* The runtime's own device scratch (llmrt_rt_allreduce_host: 64 doubles),
 * accounted under communication buffers in every run. */
#define LLMRT_PLAN_RUNTIME_COMM_BYTES (64 * sizeof(double))

/* Parse a parameter count: an integer or decimal number with an optional
 * suffix K, M, B (or G), T (1e3, 1e6, 1e9, 1e12; case-insensitive) or an
 * exponent: "124M", "7B", "7.5e9", "1.5e9", "350000". The result is rounded
 * to the nearest integer and must be at least 1. Errors are one line naming
 * the text and the accepted forms. */
int llmrt_plan_parse_count(const char *text, uint64_t *out);

/* Bytes per parameter of model state for `format` under `strategy` on one of
 * `world` ranks (the formula path): params, grads and optimizer are filled,
 * everything else is 0. Unknown names are errors listing the accepted ones. */
int llmrt_plan_formula(double psi, int world, const char *strategy, const char *format,
                       double bytes[LLMRT_MEM_CATEGORY_COUNT]);

/* The formula's bytes per parameter before sharding, for the docs and the
 * table's header: params, grads, optimizer. */
int llmrt_plan_format_bytes(const char *format, double *params, double *grads,
                            double *optimizer);

/* The real-layout path on rank `rank` of `world`: loads the strategy's plugin
 * through the registry ([runtime] plugin_path and LLMRT_PLUGIN_PATH), calls its
 * plan() with the plugin's section of `cfg` (a `zeroN` name sets [zero]
 * stage = N in `cfg`), and adds activations for `batch` sequences of
 * `context` tokens and the runtime's scratch. prec (NULL: fp32) sets the
 * model's dtype, QAT and the layout's wire format, as a run would; [train]
 * accum of cfg the micro-batches the strategy's plan() replays. */
struct llmrt_precision;
int llmrt_plan_layout(llmrt_config *cfg, const char *strategy, const llmrt_model_config *mc,
                      const struct llmrt_precision *prec, int world, int rank, int batch,
                      int context, size_t bytes[LLMRT_MEM_CATEGORY_COUNT]);

/* The same for a strategy component already chosen ([runtime] strategy, with
 * its own section in `cfg`): what a training run predicts for itself. */
int llmrt_plan_component(llmrt_config *cfg, const llmrt_strategy_vtable *st,
                         const char *component, const llmrt_model_layout *layout,
                         const llmrt_model_config *mc, int world, int rank, int batch,
                         int context, size_t bytes[LLMRT_MEM_CATEGORY_COUNT]);

/* Short names of the categories, by llmrt_mem_category: "params", "grads",
 * "optimizer", "activations", "comm", "other". */
extern const char *const llmrt_plan_category_names[LLMRT_MEM_CATEGORY_COUNT];

#endif
