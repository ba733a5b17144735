/* loss_scale.h — dynamic loss scaling for fp16 (DeepSpeed's
 * DynamicLossScaler, with its defaults in precision.h).
 *
 * The loop multiplies the loss by scale before the backward, unscales the
 * gradients in the optimizer step, and calls llmrt_loss_scale_update() once
 * per step with whether the gradients overflowed (the global gradient norm is
 * not finite: the same on every rank, strategy.h rule 4, so every rank skips
 * alike). On overflow the step is skipped; after `hysteresis` overflows
 * (counted since the last growth) the scale shrinks by `factor`, never below
 * `min`; after `window` steps without overflow it grows by `factor`. An
 * overflow with the scale at its floor and no hysteresis left means fp16
 * cannot represent this model's gradients: update() says stop. */
#ifndef LLMRT_CORE_LOSS_SCALE_H
#define LLMRT_CORE_LOSS_SCALE_H

#include <stdint.h>

typedef struct llmrt_loss_scale {
    int dynamic;
    double scale, min, factor;
    long window, hysteresis;
    long hysteresis_left;
    int64_t step;               /* updates so far */
    int64_t last_overflow;      /* step of the last overflow, -1 before any */
    uint64_t overflows;         /* skipped steps in all */
} llmrt_loss_scale;

void llmrt_loss_scale_init(llmrt_loss_scale *ls, int dynamic, double initial, long window,
                           long hysteresis, double min, double factor);

typedef enum llmrt_loss_scale_action {
    LLMRT_LOSS_SCALE_STEP = 0, /* gradients finite: take the step      */
    LLMRT_LOSS_SCALE_SKIP = 1, /* overflow: skip this step             */
    LLMRT_LOSS_SCALE_STOP = 2  /* overflow at the floor: stop training */
} llmrt_loss_scale_action;

/* Record one step's outcome; the new scale is ls->scale. A static scale
 * (dynamic = 0) skips overflowing steps and never changes. */
llmrt_loss_scale_action llmrt_loss_scale_update(llmrt_loss_scale *ls, int overflow);

#endif
