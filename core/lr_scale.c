/* lr_scale.c — per-tensor learning-rate multipliers (lr_scale.h). */
#include "lr_scale.h"

#include <math.h>

size_t llmrt_lr_scale_count(const llmrt_model_layout *layout)
{
    size_t n = 0;
    for (size_t u = 0; u < layout->n_units; u++) n += layout->units[u].n_tensors;
    return n;
}

void llmrt_lr_scale_rms(const llmrt_model_layout *layout, const double *sq_sums, double floor,
                        float *scales)
{
    size_t k = 0;
    for (size_t u = 0; u < layout->n_units; u++) {
        const llmrt_unit_desc *unit = &layout->units[u];
        for (size_t t = 0; t < unit->n_tensors; t++, k++) {
            double rms = sqrt(sq_sums[k] / (double)unit->tensors[t].numel);
            /* fmax would turn a NaN into the floor and hide a divergence. */
            scales[k] = (float)(rms > floor || isnan(rms) ? rms : floor);
        }
    }
}
