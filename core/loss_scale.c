/* loss_scale.c — dynamic loss scaling (see loss_scale.h). The rules follow
 * DeepSpeed's DynamicLossScaler.update_scale (consecutive_hysteresis off). */
#include "loss_scale.h"

void llmrt_loss_scale_init(llmrt_loss_scale *ls, int dynamic, double initial, long window,
                           long hysteresis, double min, double factor)
{
    *ls = (llmrt_loss_scale){.dynamic = dynamic, .scale = initial, .min = min,
                             .factor = factor, .window = window, .hysteresis = hysteresis,
                             .hysteresis_left = hysteresis, .last_overflow = -1};
}

llmrt_loss_scale_action llmrt_loss_scale_update(llmrt_loss_scale *ls, int overflow)
{
    llmrt_loss_scale_action action = LLMRT_LOSS_SCALE_STEP;
    if (overflow) {
        ls->overflows++;
        action = LLMRT_LOSS_SCALE_SKIP;
        if (ls->dynamic) {
            if (ls->hysteresis == 1 || ls->hysteresis_left <= 1) {
                if (ls->scale <= ls->min) action = LLMRT_LOSS_SCALE_STOP;
                else {
                    ls->scale /= ls->factor;
                    if (ls->scale < ls->min) ls->scale = ls->min;
                }
            } else {
                ls->hysteresis_left--;
            }
        }
        ls->last_overflow = ls->step;
    } else if (ls->dynamic && (ls->step - ls->last_overflow) % ls->window == 0) {
        ls->hysteresis_left = ls->hysteresis;
        ls->scale *= ls->factor;
    }
    ls->step++;
    return action;
}
