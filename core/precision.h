/* precision.h — the mixed-precision policy of a job (DESIGN.md section 4).
 *
 * [runtime] format names the number format of parameters and activations;
 * the [precision] section refines it. What each format means:
 *
 *   format  compute dtype   grads (default wire)  masters  loss scaling   model
 *   fp32    f32             f32                   none     off            as is
 *   bf16    bf16            bf16                  f32      off            as is
 *   fp16    f16             f16                   f32      dynamic        as is
 *   int8    f32             f32                   none     off            LSQ QAT of
 *                                                                          linear weights
 *
 * Matrix products and reductions accumulate in fp32 (compute.h rule 7);
 * AdamW state is fp32 always. The format's descriptor (format.h) is looked
 * up through the registry, so a format plugin that is missing fails here,
 * with the loader's message.
 *
 * [precision] keys:
 *   reduce_format         wire format of gradient reductions: fp32, bf16,
 *                         fp16, or "auto" (= the gradients' dtype)
 *   stochastic_rounding   bf16: write masters into bf16 params rounding
 *                         stochastically (convert.h rule 3)
 *   loss_scale            "dynamic", "off" (= 1) or a fixed positive number;
 *                         "auto": dynamic for fp16, off otherwise
 *   loss_scale_initial, loss_scale_window, loss_scale_hysteresis,
 *   loss_scale_min, loss_scale_factor
 *                         dynamic loss scaling (core/loss_scale.h); the
 *                         defaults are DeepSpeed's: 2^16, 1000, 2, 1, 2
 *   rounding_seed         seed of stochastic rounding
 */
#ifndef LLMRT_CORE_PRECISION_H
#define LLMRT_CORE_PRECISION_H

#include <llmrt/llmrt.h>

#include "config.h"

typedef struct llmrt_precision {
    const char *format;             /* [runtime] format, e.g. "bf16" */
    const llmrt_format *descriptor; /* that format's descriptor */
    llmrt_dtype compute_type;       /* parameters handed to the model, activations */
    llmrt_dtype grad_type;          /* gradient buffers (= compute_type) */
    llmrt_dtype reduce_type;        /* gradients on the wire */
    int master_weights;             /* fp32 masters beside compute_type params */
    int qat;                        /* int8: LSQ fake quantization */
    llmrt_rounding param_rounding;
    uint64_t rounding_seed;         /* [precision] rounding_seed */

    int loss_scale_dynamic;         /* 1: dynamic scaling */
    double loss_scale_initial;      /* the scale (dynamic: the first one) */
    long loss_scale_window;         /* overflow-free steps before growing */
    long loss_scale_hysteresis;     /* overflows tolerated before shrinking */
    double loss_scale_min;
    double loss_scale_factor;
} llmrt_precision;

/* Fill *p for the format `format` (the value of [runtime] format, which the
 * caller has read) from its descriptor and the [precision] section of cfg
 * (declaring the keys). descriptor may be NULL (llmrt plan: no plugins
 * loaded): the in-tree formats are then known by name. Errors name the key
 * and the accepted values. */
int llmrt_precision_read(llmrt_config *cfg, const char *format,
                         const llmrt_format *descriptor, llmrt_precision *p);

/* "f32", "bf16", "f16", ... */
const char *llmrt_precision_dtype_name(llmrt_dtype t);

/* Apply the policy to a model layout (param/grad/reduce types, rounding). */
void llmrt_precision_apply(const llmrt_precision *p, llmrt_model_layout *layout);

#endif
