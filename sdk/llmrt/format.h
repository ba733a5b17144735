/* llmrt/format.h — the number format interface.
 *
 * A number format is a descriptor (bits, exponent and fraction, block size,
 * scale, range) plus its reference encode/decode on host memory. Compute
 * backends implement the same conversions on their devices and are tested
 * bit for bit against these references. fp32 lives in the core as the
 * reference format; other formats come from plugins (e.g. `quant`).
 *
 * Rules:
 *  1. The component's vtable pointer points at an llmrt_format, which is
 *     immutable and lives as long as the process.
 *  2. encode/decode are pure functions of their inputs (and of the seed for
 *     stochastic rounding), thread-safe, and work on host memory.
 *  3. For formats with a scale (block_size > 0), `scales` holds one fp32
 *     scale per block of block_size consecutive values; decode(x) = q * scale.
 *     An integer format with block_size 0 (int8) takes one scale for all n
 *     values in encode/decode, and per-row or per-column scales of a matrix
 *     in encode_matrix/decode_matrix (ABI 1.1).
 *  4. The rounding of every in-tree format is specified in convert.h.
 */
#ifndef LLMRT_FORMAT_H
#define LLMRT_FORMAT_H

#include <llmrt/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum llmrt_rounding {
    LLMRT_ROUND_NEAREST_EVEN = 0,
    LLMRT_ROUND_STOCHASTIC = 1
} llmrt_rounding;

typedef struct llmrt_format {
    size_t struct_size;
    const char *name;          /* "fp32", "fp16", "bf16", "int8" */
    llmrt_dtype storage;       /* element type in memory */
    int bits;                  /* bits per value */
    int exponent_bits;         /* 0 for integer formats */
    int fraction_bits;         /* stored mantissa bits; integers: bits - 1 */
    int is_integer;
    size_t block_size;         /* values per scale; 0: no scale */
    int needs_loss_scaling;    /* 1: gradients underflow without it (fp16) */
    int needs_master_weights;  /* 1: keep fp32 masters for the optimizer */
    double max_finite;         /* largest finite value (integers: of q * 1) */
    double min_normal;         /* smallest positive normal; 1 for integers */
    double epsilon;            /* distance from 1 to the next value */

    /* Encode n fp32 values into dst (storage dtype). scales may be NULL when
     * block_size is 0. seed is used only for LLMRT_ROUND_STOCHASTIC. */
    int (*encode)(const struct llmrt_format *f, void *dst, const float *src, size_t n,
                  const float *scales, llmrt_rounding rounding, uint64_t seed);
    int (*decode)(const struct llmrt_format *f, float *dst, const void *src, size_t n,
                  const float *scales);

    /* --- ABI 1.1 --- */
    int qmin, qmax;            /* integer formats: the range of q; 0, 0 otherwise */
    int stochastic_rounding;   /* 1: encode() accepts LLMRT_ROUND_STOCHASTIC */
    /* Optional: a rows x cols row-major matrix with one scale per row
     * (axis 0), per column (axis 1) or one (axis -1). NULL when the format
     * has no scale. */
    int (*encode_matrix)(const struct llmrt_format *f, void *dst, const float *src,
                         int64_t rows, int64_t cols, int axis, const float *scales);
    int (*decode_matrix)(const struct llmrt_format *f, float *dst, const void *src,
                         int64_t rows, int64_t cols, int axis, const float *scales);
} llmrt_format;

#ifdef __cplusplus
}
#endif
#endif /* LLMRT_FORMAT_H */
