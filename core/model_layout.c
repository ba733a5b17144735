/* model_layout.c — layout arithmetic over an architecture's tensor tables
 * (model_layout.h). */
#include "model_layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "qat.h"
#include "rng.h"

size_t llmrt_layout_numel(const llmrt_layout_model *lm, const void *cfg,
                          const llmrt_tensor_spec *s)
{
    return lm->dim(cfg, s->d0) * lm->dim(cfg, s->d1);
}

void llmrt_layout_offsets(const llmrt_layout_model *lm, const void *cfg,
                          const llmrt_tensor_spec *s, size_t n, size_t *off)
{
    off[0] = 0;
    for (size_t i = 0; i < n; i++) off[i + 1] = off[i] + llmrt_layout_numel(lm, cfg, &s[i]);
}

size_t llmrt_layout_unit_offsets(const llmrt_layout_model *lm, const void *cfg, size_t unit,
                                 size_t *off)
{
    llmrt_tensor_spec s[LLMRT_UNIT_MAX_TENSORS];
    size_t n = lm->unit_specs(cfg, unit, s);
    llmrt_layout_offsets(lm, cfg, s, n, off);
    return off[n];
}

size_t llmrt_layout_n_params(const llmrt_layout_model *lm, const void *cfg)
{
    size_t total = 0, off[LLMRT_UNIT_MAX_TENSORS + 1];
    for (size_t u = 0; u < lm->n_units(cfg); u++)
        total += llmrt_layout_unit_offsets(lm, cfg, u, off);
    return total;
}

int llmrt_layout_tensor_shape(const llmrt_layout_model *lm, const void *cfg, size_t unit,
                              size_t tensor, int64_t dims[2])
{
    llmrt_tensor_spec s[LLMRT_UNIT_MAX_TENSORS];
    size_t n = unit < lm->n_units(cfg) ? lm->unit_specs(cfg, unit, s) : 0;
    if (tensor >= n) return 0;
    dims[0] = (int64_t)lm->dim(cfg, s[tensor].d0);
    if (s[tensor].d1 == LLMRT_DIM_NONE) return 1;
    dims[1] = (int64_t)lm->dim(cfg, s[tensor].d1);
    return 2;
}

int llmrt_layout_build(const llmrt_layout_model *lm, const void *cfg, llmrt_dtype dtype,
                       llmrt_model_layout *layout)
{
    memset(layout, 0, sizeof *layout);
    int rc = lm->check(cfg);
    if (rc) return rc;
    size_t n_units = lm->n_units(cfg), n_tensors = 0, chars = 0;
    llmrt_tensor_spec s[LLMRT_UNIT_MAX_TENSORS];
    for (size_t u = 0; u < n_units; u++) {
        size_t n = lm->unit_specs(cfg, u, s);
        n_tensors += n;
        chars += (size_t)lm->unit_name(cfg, u, NULL, 0) + 1;
        for (size_t i = 0; i < n; i++) chars += (size_t)lm->tensor_name(cfg, u, &s[i], NULL, 0) + 1;
    }
    /* One block: units, then tensors, then the names. */
    size_t bytes = n_units * sizeof(llmrt_unit_desc) + n_tensors * sizeof(llmrt_tensor_desc) +
                   chars;
    char *block = calloc(1, bytes);
    if (!block)
        return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of host memory for the layout", lm->name);
    llmrt_unit_desc *units = (llmrt_unit_desc *)block;
    llmrt_tensor_desc *tensors = (llmrt_tensor_desc *)(units + n_units);
    char *names = (char *)(tensors + n_tensors), *names_end = block + bytes;
    for (size_t u = 0; u < n_units; u++) {
        size_t n = lm->unit_specs(cfg, u, s), off[LLMRT_UNIT_MAX_TENSORS + 1];
        llmrt_layout_offsets(lm, cfg, s, n, off);
        units[u].name = names;
        names += lm->unit_name(cfg, u, names, (size_t)(names_end - names)) + 1;
        units[u].numel = off[n];
        units[u].n_tensors = n;
        units[u].tensors = tensors;
        for (size_t i = 0; i < n; i++, tensors++) {
            tensors->name = names;
            names += lm->tensor_name(cfg, u, &s[i], names, (size_t)(names_end - names)) + 1;
            tensors->offset = off[i];
            tensors->numel = off[i + 1] - off[i];
            tensors->weight_decay = s[i].weight_decay;
        }
    }
    layout->struct_size = sizeof *layout;
    layout->n_units = n_units;
    layout->units = units;
    /* The training loop overrides reduce_type, param_rounding and
     * rounding_seed from the precision policy. */
    layout->param_type = dtype;
    layout->grad_type = dtype;
    layout->reduce_type = dtype;
    layout->param_rounding = LLMRT_ROUND_NEAREST_EVEN;
    layout->rounding_seed = 0;
    return LLMRT_OK;
}

void llmrt_layout_free(llmrt_model_layout *layout)
{
    if (!layout) return;
    free((void *)layout->units);
    memset(layout, 0, sizeof *layout);
}

void llmrt_layout_init_unit(const llmrt_layout_model *lm, const void *cfg, size_t unit,
                            uint64_t seed, float *host_params)
{
    llmrt_tensor_spec s[LLMRT_UNIT_MAX_TENSORS];
    size_t n = lm->unit_specs(cfg, unit, s);
    /* One stream per unit: splitmix64 (inside llmrt_rng_seed) decorrelates
     * neighbouring seeds, so seed + unit * golden ratio is enough. It depends
     * on neither world size nor sharding. */
    llmrt_rng rng;
    llmrt_rng_seed(&rng, seed + 0x9e3779b97f4a7c15ull * (uint64_t)(unit + 1));
    float *p = host_params;
    for (size_t i = 0; i < n; i++) {
        size_t numel = llmrt_layout_numel(lm, cfg, &s[i]);
        float value = 0.0f;
        double std = lm->init_std(cfg, &s[i], &value);
        for (size_t j = 0; j < numel; j++)
            p[j] = std != 0.0 ? (float)(std * llmrt_rng_normal(&rng)) : value;
        p += numel;
    }
}

int llmrt_layout_qat_init_scales(const llmrt_layout_model *lm, const void *cfg, int qat, int axis,
                                 size_t unit, float *host_unit)
{
    if (!qat)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "%s: step sizes asked for a model without QAT ([runtime] format "
                           "is not int8)",
                           lm->name);
    llmrt_tensor_spec s[LLMRT_UNIT_MAX_TENSORS];
    size_t n = unit < lm->n_units(cfg) ? lm->unit_specs(cfg, unit, s) : 0;
    if (!n)
        return llmrt_error(LLMRT_ERR_INVALID, "%s: unit %zu: the model has %zu units", lm->name,
                           unit, lm->n_units(cfg));
    size_t off[LLMRT_UNIT_MAX_TENSORS + 1];
    llmrt_layout_offsets(lm, cfg, s, n, off);
    for (size_t i = 0; i < n; i++) {
        if (s[i].init != lm->init_lsq) continue;
        const llmrt_tensor_spec *w = &s[s[i].scale_of];
        int64_t rows = (int64_t)lm->dim(cfg, w->d0), cols = (int64_t)lm->dim(cfg, w->d1);
        const float *weight = host_unit + off[s[i].scale_of];
        if (axis == 1) {
            for (int64_t col = 0; col < cols; col++)
                host_unit[off[i] + (size_t)col] = llmrt_qat_init_step(weight, rows, cols, col);
        } else {
            /* Row r of the [out, in] weight is the one column of the [in, 1]
             * matrix at weight + r in: qat.c's per-column rule, per row. */
            for (int64_t r = 0; r < rows; r++)
                host_unit[off[i] + (size_t)r] =
                    llmrt_qat_init_step(weight + r * cols, cols, 1, 0);
        }
    }
    return LLMRT_OK;
}

int llmrt_layout_tensor_scale(const llmrt_layout_model *lm, const void *cfg, size_t unit,
                              size_t tensor)
{
    llmrt_tensor_spec s[LLMRT_UNIT_MAX_TENSORS];
    size_t n = unit < lm->n_units(cfg) ? lm->unit_specs(cfg, unit, s) : 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].init == lm->init_lsq && (size_t)s[i].scale_of == tensor) return (int)i;
    return -1;
}
