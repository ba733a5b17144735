/* quant_float.c — fp16 and bf16: the 16-bit floats. Every value goes
 * through the scalar functions of convert.h, which are the specification;
 * this file adds only argument checks and the stochastic rounding stream. */
#include <float.h>

#include "quant.h"

static int check_rounding(const llmrt_format *f, llmrt_rounding rounding)
{
    if (rounding == LLMRT_ROUND_NEAREST_EVEN) return LLMRT_OK;
    if (rounding == LLMRT_ROUND_STOCHASTIC && f->stochastic_rounding) return LLMRT_OK;
    if (rounding == LLMRT_ROUND_STOCHASTIC)
        return quant_error(LLMRT_ERR_INVALID,
                           "%s: stochastic rounding is not supported by this format "
                           "(accepted: nearest-even; bf16 accepts stochastic)", f->name);
    return quant_error(LLMRT_ERR_INVALID,
                       "%s: unknown rounding mode %d (accepted: nearest-even %d%s)", f->name,
                       (int)rounding, (int)LLMRT_ROUND_NEAREST_EVEN,
                       f->stochastic_rounding ? ", stochastic 1" : "");
}

static int fp16_encode(const llmrt_format *f, void *dst, const float *src, size_t n,
                       const float *scales, llmrt_rounding rounding, uint64_t seed)
{
    (void)scales, (void)seed; /* no scale; seed only matters for stochastic */
    int rc;
    if ((rc = check_rounding(f, rounding)) || (rc = quant_check_buffers(f, dst, src, n))) return rc;
    uint16_t *out = dst;
    for (size_t i = 0; i < n; i++) out[i] = llmrt_f32_to_f16(src[i]);
    return LLMRT_OK;
}

static int fp16_decode(const llmrt_format *f, float *dst, const void *src, size_t n,
                       const float *scales)
{
    (void)scales;
    int rc;
    if ((rc = quant_check_buffers(f, dst, src, n))) return rc;
    const uint16_t *in = src;
    for (size_t i = 0; i < n; i++) dst[i] = llmrt_f16_to_f32(in[i]);
    return LLMRT_OK;
}

static int bf16_encode(const llmrt_format *f, void *dst, const float *src, size_t n,
                       const float *scales, llmrt_rounding rounding, uint64_t seed)
{
    (void)scales;
    int rc;
    if ((rc = check_rounding(f, rounding)) || (rc = quant_check_buffers(f, dst, src, n))) return rc;
    uint16_t *out = dst;
    if (rounding == LLMRT_ROUND_STOCHASTIC) {
        /* Element i draws from (seed, i) alone (convert.h rule 3). */
        for (size_t i = 0; i < n; i++)
            out[i] = llmrt_f32_to_bf16_sr(src[i], llmrt_sr_bits(seed, (uint64_t)i));
    } else {
        for (size_t i = 0; i < n; i++) out[i] = llmrt_f32_to_bf16(src[i]);
    }
    return LLMRT_OK;
}

static int bf16_decode(const llmrt_format *f, float *dst, const void *src, size_t n,
                       const float *scales)
{
    (void)scales;
    int rc;
    if ((rc = quant_check_buffers(f, dst, src, n))) return rc;
    const uint16_t *in = src;
    for (size_t i = 0; i < n; i++) dst[i] = llmrt_bf16_to_f32(in[i]);
    return LLMRT_OK;
}

const llmrt_format quant_fp16_format = {
    .struct_size = sizeof(llmrt_format),
    .name = "fp16",
    .storage = LLMRT_DTYPE_F16,
    .bits = 16,
    .exponent_bits = 5,
    .fraction_bits = 10,
    .is_integer = 0,
    .block_size = 0,
    .needs_loss_scaling = 1, /* gradients below 2^-25 round to 0 */
    .needs_master_weights = 1,
    .max_finite = 65504.0,
    .min_normal = 0x1p-14,
    .epsilon = 0x1p-10,
    .encode = fp16_encode,
    .decode = fp16_decode,
    .qmin = 0,
    .qmax = 0,
    .stochastic_rounding = 0,
    .encode_matrix = NULL,
    .decode_matrix = NULL,
};

const llmrt_format quant_bf16_format = {
    .struct_size = sizeof(llmrt_format),
    .name = "bf16",
    .storage = LLMRT_DTYPE_BF16,
    .bits = 16,
    .exponent_bits = 8,
    .fraction_bits = 7,
    .is_integer = 0,
    .block_size = 0,
    .needs_loss_scaling = 0, /* fp32's exponent range */
    .needs_master_weights = 1, /* updates below 2^-8 of a weight are lost */
    .max_finite = 0x1.FEp127,
    .min_normal = FLT_MIN,
    .epsilon = 0x1p-7,
    .encode = bf16_encode,
    .decode = bf16_decode,
    .qmin = 0,
    .qmax = 0,
    .stochastic_rounding = 1,
    .encode_matrix = NULL,
    .decode_matrix = NULL,
};
