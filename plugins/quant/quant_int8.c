/* quant_int8.c — symmetric int8 with fp32 scales (zero point 0, q in
 * [-127, 127]): q = clamp(round_half_even(x * (1/s)), -127, 127), decode
 * q * s, with s = max(|scale|, LLMRT_QUANT_SCALE_EPS) (convert.h rule 4).
 * encode/decode take one scale for all n values (block_size 0, format.h
 * rule 3); encode_matrix/decode_matrix take one per row, per column or one. */
#include "quant.h"

static int need_scales(const llmrt_format *f, const float *scales)
{
    if (!scales)
        return quant_error(LLMRT_ERR_INVALID,
                           "%s: scales is NULL (int8 needs an fp32 scale: one for encode/decode, "
                           "one per row or column for the matrix forms)", f->name);
    return LLMRT_OK;
}

static int int8_encode(const llmrt_format *f, void *dst, const float *src, size_t n,
                       const float *scales, llmrt_rounding rounding, uint64_t seed)
{
    (void)seed;
    int rc;
    if (rounding != LLMRT_ROUND_NEAREST_EVEN)
        return quant_error(LLMRT_ERR_INVALID,
                           "%s: rounding mode %d is not supported (accepted: nearest-even %d)",
                           f->name, (int)rounding, (int)LLMRT_ROUND_NEAREST_EVEN);
    if ((rc = need_scales(f, scales)) || (rc = quant_check_buffers(f, dst, src, n))) return rc;
    int8_t *out = dst;
    float inv = 1.0f / llmrt_quant_scale(scales[0]);
    for (size_t i = 0; i < n; i++)
        out[i] = (int8_t)llmrt_quant_round(src[i], inv, f->qmin, f->qmax);
    return LLMRT_OK;
}

static int int8_decode(const llmrt_format *f, float *dst, const void *src, size_t n,
                       const float *scales)
{
    int rc;
    if ((rc = need_scales(f, scales)) || (rc = quant_check_buffers(f, dst, src, n))) return rc;
    const int8_t *in = src;
    float s = llmrt_quant_scale(scales[0]);
    for (size_t i = 0; i < n; i++) dst[i] = (float)in[i] * s;
    return LLMRT_OK;
}

static int check_matrix(const llmrt_format *f, const void *dst, const void *src, int64_t rows,
                        int64_t cols, int axis, const float *scales)
{
    int rc;
    if (rows < 0 || cols < 0)
        return quant_error(LLMRT_ERR_INVALID, "%s: matrix shape %lld x %lld is negative", f->name,
                           (long long)rows, (long long)cols);
    if (axis != 0 && axis != 1 && axis != -1)
        return quant_error(LLMRT_ERR_INVALID,
                           "%s: axis %d is not supported (accepted: 0 = a scale per row, "
                           "1 = per column, -1 = one for the tensor)", f->name, axis);
    if (cols > 0 && (uint64_t)rows > SIZE_MAX / (uint64_t)cols)
        return quant_error(LLMRT_ERR_INVALID, "%s: matrix %lld x %lld is too large", f->name,
                           (long long)rows, (long long)cols);
    if ((rc = need_scales(f, scales)) ||
        (rc = quant_check_buffers(f, dst, src, (size_t)rows * (size_t)cols)))
        return rc;
    return LLMRT_OK;
}

/* The scale of element (r, c) for `axis`. */
static inline float scale_at(const float *scales, int axis, int64_t r, int64_t c)
{
    return llmrt_quant_scale(axis == 0 ? scales[r] : axis == 1 ? scales[c] : scales[0]);
}

static int int8_encode_matrix(const llmrt_format *f, void *dst, const float *src, int64_t rows,
                              int64_t cols, int axis, const float *scales)
{
    int rc;
    if ((rc = check_matrix(f, dst, src, rows, cols, axis, scales))) return rc;
    int8_t *out = dst;
    for (int64_t r = 0; r < rows; r++) {
        const float *x = src + r * cols;
        int8_t *q = out + r * cols;
        if (axis == 1) {
            for (int64_t c = 0; c < cols; c++)
                q[c] = (int8_t)llmrt_quant_round(x[c], 1.0f / scale_at(scales, axis, r, c),
                                                 f->qmin, f->qmax);
        } else {
            float inv = 1.0f / scale_at(scales, axis, r, 0);
            for (int64_t c = 0; c < cols; c++)
                q[c] = (int8_t)llmrt_quant_round(x[c], inv, f->qmin, f->qmax);
        }
    }
    return LLMRT_OK;
}

static int int8_decode_matrix(const llmrt_format *f, float *dst, const void *src, int64_t rows,
                              int64_t cols, int axis, const float *scales)
{
    int rc;
    if ((rc = check_matrix(f, dst, src, rows, cols, axis, scales))) return rc;
    const int8_t *in = src;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            dst[r * cols + c] = (float)in[r * cols + c] * scale_at(scales, axis, r, c);
    return LLMRT_OK;
}

const llmrt_format quant_int8_format = {
    .struct_size = sizeof(llmrt_format),
    .name = "int8",
    .storage = LLMRT_DTYPE_I8,
    .bits = 8,
    .exponent_bits = 0,
    .fraction_bits = 7,
    .is_integer = 1,
    .block_size = 0, /* one scale per tensor, or per row/column with the matrix forms */
    .needs_loss_scaling = 0,
    /* QAT keeps the fp32 weights themselves and fake-quantizes them on the
     * fly: there is no separate master copy. */
    .needs_master_weights = 0,
    .max_finite = LLMRT_I8_QMAX,
    .min_normal = 1.0,
    .epsilon = 1.0,
    .encode = int8_encode,
    .decode = int8_decode,
    .qmin = LLMRT_I8_QMIN,
    .qmax = LLMRT_I8_QMAX,
    .stochastic_rounding = 0,
    .encode_matrix = int8_encode_matrix,
    .decode_matrix = int8_decode_matrix,
};
