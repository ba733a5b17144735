/* lr_scale.h — per-tensor learning-rate multipliers ([train] lr_scale).
 *
 * `rms` is Adafactor's relative step size (Shazeer & Stern 2018, section 8)
 * applied to AdamW, as nanoT5's AdamWScale does: tensor k steps with
 *   lr * max(floor, RMS(p_k)),   RMS(p_k) = sqrt(sum(p_k^2) / numel_k)
 * measured on its fp32 parameters just before the step. A tensor's step is
 * then proportional to its own scale: T5's N(0, 1) embedding moves as fast
 * relative to its size as a matrix initialised at 0.02 does, where plain
 * AdamW moves every tensor by about lr per step regardless of its size. The
 * decoupled weight decay, which AdamW multiplies by lr, is scaled alike
 * (nanoT5 keeps it at the base lr). The strategy measures the sums of
 * squares and applies the scales (strategy.h rule 10). */
#ifndef LLMRT_CORE_LR_SCALE_H
#define LLMRT_CORE_LR_SCALE_H

#include <stddef.h>

#include <llmrt/strategy.h>

typedef enum llmrt_lr_scale_kind {
    LLMRT_LR_SCALE_NONE = 0, /* plain AdamW: every tensor at lr */
    LLMRT_LR_SCALE_RMS = 1   /* lr * max(floor, RMS of the tensor) */
} llmrt_lr_scale_kind;

/* Adafactor's epsilon_2: the floor of the RMS multiplier, so that a tensor
 * initialised to zero (a bias) still moves. */
#define LLMRT_LR_SCALE_RMS_FLOOR 1e-3

/* The number of tensors of `layout` (units in order, their tensors in order). */
size_t llmrt_lr_scale_count(const llmrt_model_layout *layout);

/* scales[k] = max(floor, sqrt(sq_sums[k] / numel_k)) for every tensor k of
 * `layout`, sq_sums as the strategy's param_sq_sums() gives them. A non-finite
 * sum (diverged parameters) gives a non-finite scale; the caller checks. */
void llmrt_lr_scale_rms(const llmrt_model_layout *layout, const double *sq_sums, double floor,
                        float *scales);

#endif
