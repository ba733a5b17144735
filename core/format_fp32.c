/* format_fp32.c — fp32, the core's reference number format. Other formats
 * are plugins (quant); fp32 is built in so a job always has one. */
#include <math.h>
#include <float.h>
#include <string.h>

#include <llmrt/format.h>
#include <llmrt/plugin.h>
#include "format_fp32.h"

static int fp32_encode(const llmrt_format *f, void *dst, const float *src, size_t n,
                       const float *scales, llmrt_rounding rounding, uint64_t seed)
{
    (void)f, (void)scales, (void)rounding, (void)seed;
    memmove(dst, src, n * sizeof(float)); /* fp32 to fp32 is exact */
    return LLMRT_OK;
}

static int fp32_decode(const llmrt_format *f, float *dst, const void *src, size_t n,
                       const float *scales)
{
    (void)f, (void)scales;
    memmove(dst, src, n * sizeof(float));
    return LLMRT_OK;
}

static const llmrt_format fp32_format = {
    .struct_size = sizeof(llmrt_format),
    .name = "fp32",
    .storage = LLMRT_DTYPE_F32,
    .bits = 32,
    .exponent_bits = 8,
    .fraction_bits = 23,
    .is_integer = 0,
    .block_size = 0,
    .needs_loss_scaling = 0,
    .needs_master_weights = 0,
    .max_finite = FLT_MAX,
    .min_normal = FLT_MIN,
    .epsilon = FLT_EPSILON,
    .encode = fp32_encode,
    .decode = fp32_decode,
};

static const llmrt_component fp32_component = {
    .struct_size = sizeof(llmrt_component),
    .kind = LLMRT_KIND_FORMAT,
    .name = "fp32",
    .description = "IEEE 754 binary32, the reference format (built in)",
    .probe = NULL,
    .vtable = &fp32_format,
};

const llmrt_component *llmrt_format_fp32_component(void) { return &fp32_component; }
