/* cpu_convert.c — number conversions: the ABI 1.1 convert_ex, the 1.0
 * convert, and the fp32 <-> f16/bf16 staging helpers the kernels use for
 * their 16-bit paths (cpu_internal.h).
 *
 * Every element goes through the scalar functions of llmrt/convert.h (the
 * specification), inlined into loops that GCC vectorises, except two
 * rewritten so that they vectorise well (f16 -> f32 with selects, f32 -> f16
 * as PyTorch computes it); tests/cpu/test_cpu_formats.c checks both against
 * the spec over every input. Work is split into contiguous parts of
 * the row-major element range, one per thread; each element's result depends
 * only on its value, its scale and (stochastic rounding) its index, so the
 * result does not depend on the thread count or the split.
 *
 * convert_ex pairs: f32/f16/bf16 to any of them (f16 <-> bf16 through fp32,
 * which is exact for the widening), f32 -> i8 and i8 -> f32 with scales per
 * row (axis 0), per column (axis 1) or one (axis -1), i32 <-> f32 as
 * convert(). Stochastic rounding: f32 -> bf16 only. dst and src must not
 * overlap unless both have the same type (then it is a memmove); compute.h
 * does not say, and in-place narrowing would race between threads.
 */
#include "cpu_internal.h"

#include <math.h>
#include <omp.h>

#include <llmrt/convert.h>

/* --- serial loops (one thread's part) --- */

/* llmrt_f16_to_f32 with its three returns turned into selects, so that GCC
 * vectorises it: it does not vectorise the early returns, and it sinks the
 * (possibly trapping) float product of the subnormal case into a branch
 * unless the last select is written as a mask. Same bits for all 65536
 * inputs (tests/cpu/test_cpu_formats.c checks every one). */
static inline float f16_to_f32_sel(uint16_t h)
{
    uint32_t sign = ((uint32_t)h & 0x8000u) << 16;
    uint32_t e = ((uint32_t)h >> 10) & 0x1Fu, m = (uint32_t)h & 0x3FFu;
    uint32_t bits = sign | ((e + 112u) << 23) | (m << 13);             /* normal */
    bits = e == 0x1Fu ? (sign | 0x7F800000u | (m << 13)) : bits;         /* inf, NaN */
    uint32_t sub = sign | llmrt_f32_bits((float)(int32_t)m * 0x1p-24f); /* exact; m = 0: +-0 */
    uint32_t zero_e = 0u - (uint32_t)(e == 0u);
    bits = (sub & zero_e) | (bits & ~zero_e);
    return llmrt_f32_from_bits(bits);
}

CPU_HOT static void f16_to_f32_loop(float *restrict dst, const uint16_t *restrict src, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32_sel(src[i]);
}

CPU_HOT static void bf16_to_f32_loop(float *restrict dst, const uint16_t *restrict src, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) dst[i] = llmrt_bf16_to_f32(src[i]);
}

/* llmrt_f32_to_f16 as PyTorch's fp16_ieee_from_fp32_value computes it (the
 * behaviour convert.h's rule 1 specifies): scaling by 2^112 then 2^-110
 * sends overflow to infinity, and adding a power of two chosen from the
 * exponent makes the FPU's own nearest-even rounding drop exactly the bits
 * fp16 cannot hold (subnormals included). Branch-free: 1.7-2.8x faster than
 * the spec's branches once vectorised (measured with AVX-512, AVX2 and SSE2
 * builds), and the same bits for all 2^32 inputs (test_cpu_formats.c).
 * Needs the default floating-point environment, as convert.h does; the
 * products are exact or overflow, so an FMA contraction changes nothing. */
static inline uint16_t f32_to_f16_sel(float f)
{
    float base = (fabsf(f) * 0x1p+112f) * 0x1p-110f;
    uint32_t w = llmrt_f32_bits(f), sign = w & 0x80000000u;
    int32_t a = (int32_t)(w & 0x7FFFFFFFu), e = a >> 23; /* signed compares vectorise on AVX2 */
    e = e < 0x71 ? 0x71 : e;
    base = llmrt_f32_from_bits((uint32_t)(e << 23) + 0x07800000u) + base;
    uint32_t bits = llmrt_f32_bits(base);
    uint32_t nonsign = ((bits >> 13) & 0x7C00u) + (bits & 0x0FFFu);
    /* a mask, not ?:, or GCC sinks the float add into a branch (no vectors) */
    uint32_t nan_mask = 0u - (uint32_t)(a > 0x7F800000);
    return (uint16_t)((sign >> 16) | (nan_mask & 0x7E00u) | (~nan_mask & nonsign));
}

CPU_HOT static void f32_to_f16_loop(uint16_t *restrict dst, const float *restrict src, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) dst[i] = f32_to_f16_sel(src[i]);
}

CPU_HOT static void f32_to_bf16_loop(uint16_t *restrict dst, const float *restrict src, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) dst[i] = llmrt_f32_to_bf16(src[i]);
}

/* Element i uses the random bits of index first + i (convert.h rule 3). */
CPU_HOT static void f32_to_bf16_sr_loop(uint16_t *restrict dst, const float *restrict src,
                                        size_t n, uint64_t seed, uint64_t first)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        dst[i] = llmrt_f32_to_bf16_sr(src[i], llmrt_sr_bits(seed, first + i));
}

/* Through fp32: the widening is exact, so this is the one rounding of rule 1. */
CPU_HOT static void f16_to_bf16_loop(uint16_t *restrict dst, const uint16_t *restrict src,
                                     size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) dst[i] = llmrt_f32_to_bf16(f16_to_f32_sel(src[i]));
}

CPU_HOT static void bf16_to_f16_loop(uint16_t *restrict dst, const uint16_t *restrict src,
                                     size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) dst[i] = f32_to_f16_sel(llmrt_bf16_to_f32(src[i]));
}

/* int8 with one scale for the n elements (axis 0 within a row, axis -1). */
CPU_HOT static void f32_to_i8_one(int8_t *restrict dst, const float *restrict src, size_t n,
                                  float scale)
{
    const float inv = 1.0f / llmrt_quant_scale(scale);
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        dst[i] = (int8_t)llmrt_quant_round(src[i], inv, LLMRT_I8_QMIN, LLMRT_I8_QMAX);
}

/* int8 with inv[i] = 1 / llmrt_quant_scale(scale[i]) for element i (a run
 * of one row, axis 1; the inverses are computed once per call). */
CPU_HOT static void f32_to_i8_each(int8_t *restrict dst, const float *restrict src, size_t n,
                                   const float *restrict inv)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        dst[i] = (int8_t)llmrt_quant_round(src[i], inv[i], LLMRT_I8_QMIN, LLMRT_I8_QMAX);
}

CPU_HOT static void i8_to_f32_one(float *restrict dst, const int8_t *restrict src, size_t n,
                                  float scale)
{
    const float s = llmrt_quant_scale(scale);
#pragma omp simd
    for (size_t i = 0; i < n; i++) dst[i] = (float)src[i] * s;
}

/* eff[i] = llmrt_quant_scale(scale[i]), computed once per call. */
CPU_HOT static void i8_to_f32_each(float *restrict dst, const int8_t *restrict src, size_t n,
                                   const float *restrict eff)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) dst[i] = (float)src[i] * eff[i];
}

static int32_t f32_to_i32(float v)
{
    if (v != v) return 0;
    if (v >= 2147483647.0f) return INT32_MAX; /* 2^31 as a float */
    if (v <= -2147483648.0f) return INT32_MIN;
    return (int32_t)lrintf(v);
}

/* --- helpers for the kernels' 16-bit paths (cpu_internal.h) --- */

int cpu_is_float(llmrt_dtype t)
{
    return t == LLMRT_DTYPE_F32 || t == LLMRT_DTYPE_F16 || t == LLMRT_DTYPE_BF16;
}

int cpu_require_float(const cpu_ctx *c, const char *kernel, llmrt_dtype t)
{
    if (cpu_is_float(t)) return LLMRT_OK;
    return c->host->error(LLMRT_ERR_UNSUPPORTED,
                          "cpu: %s does not support dtype %s (%d); supported: f32, f16, bf16",
                          kernel, cpu_dtype_name(t), (int)t);
}

void cpu_load_f32(float *dst, const void *src, llmrt_dtype t, size_t n)
{
    if (t == LLMRT_DTYPE_F16) f16_to_f32_loop(dst, src, n);
    else if (t == LLMRT_DTYPE_BF16) bf16_to_f32_loop(dst, src, n);
    else if (dst != src) memmove(dst, src, n * sizeof(float));
}

void cpu_store_f32(void *dst, llmrt_dtype t, const float *src, size_t n)
{
    if (t == LLMRT_DTYPE_F16) f32_to_f16_loop(dst, src, n);
    else if (t == LLMRT_DTYPE_BF16) f32_to_bf16_loop(dst, src, n);
    else if (dst != src) memmove(dst, src, n * sizeof(float));
}

static int threads_for(const cpu_ctx *c, size_t n)
{
    size_t t = n / CPU_PAR_MIN;
    if (t < 1) t = 1;
    return t < (size_t)c->threads ? (int)t : c->threads;
}

void cpu_load_f32_par(cpu_ctx *c, float *dst, const void *src, llmrt_dtype t, size_t n)
{
    size_t es = llmrt_dtype_size(t);
    int nt = threads_for(c, n);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 64, &lo, &hi);
        if (hi > lo) cpu_load_f32(dst + lo, (const char *)src + lo * es, t, hi - lo);
    }
}

void cpu_store_f32_par(cpu_ctx *c, void *dst, llmrt_dtype t, const float *src, size_t n)
{
    size_t es = llmrt_dtype_size(t);
    int nt = threads_for(c, n);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 64, &lo, &hi);
        if (hi > lo) cpu_store_f32((char *)dst + lo * es, t, src + lo, hi - lo);
    }
}

void cpu_load_rows(cpu_ctx *c, float *dst, int64_t dst_ld, const void *src, int64_t src_ld,
                   llmrt_dtype t, int64_t rows, int64_t cols)
{
    size_t es = llmrt_dtype_size(t);
    int nt = threads_for(c, (size_t)(rows * cols));
    if (nt > rows) nt = rows > 0 ? (int)rows : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t i = 0; i < rows; i++)
        cpu_load_f32(dst + i * dst_ld, (const char *)src + (size_t)(i * src_ld) * es, t,
                     (size_t)cols);
}

void cpu_store_rows(cpu_ctx *c, void *dst, int64_t dst_ld, llmrt_dtype t, const float *src,
                    int64_t src_ld, int64_t rows, int64_t cols)
{
    size_t es = llmrt_dtype_size(t);
    int nt = threads_for(c, (size_t)(rows * cols));
    if (nt > rows) nt = rows > 0 ? (int)rows : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t i = 0; i < rows; i++)
        cpu_store_f32((char *)dst + (size_t)(i * dst_ld) * es, t, src + i * src_ld,
                      (size_t)cols);
}

/* --- convert_ex --- */

typedef enum pair_kind {
    PAIR_COPY, PAIR_F16_F32, PAIR_BF16_F32, PAIR_F32_F16, PAIR_F32_BF16, PAIR_F32_BF16_SR,
    PAIR_F16_BF16, PAIR_BF16_F16, PAIR_F32_I8, PAIR_I8_F32, PAIR_I32_F32, PAIR_F32_I32,
    PAIR_NONE
} pair_kind;

static pair_kind classify(llmrt_dtype dst, llmrt_dtype src, int stochastic)
{
    if (stochastic)
        return dst == LLMRT_DTYPE_BF16 && src == LLMRT_DTYPE_F32 ? PAIR_F32_BF16_SR : PAIR_NONE;
    if (cpu_is_float(dst) && dst == src) return PAIR_COPY;
    if (dst == LLMRT_DTYPE_F32) {
        switch (src) {
        case LLMRT_DTYPE_F16: return PAIR_F16_F32;
        case LLMRT_DTYPE_BF16: return PAIR_BF16_F32;
        case LLMRT_DTYPE_I8: return PAIR_I8_F32;
        case LLMRT_DTYPE_I32: return PAIR_I32_F32;
        default: return PAIR_NONE;
        }
    }
    if (src == LLMRT_DTYPE_F32) {
        switch (dst) {
        case LLMRT_DTYPE_F16: return PAIR_F32_F16;
        case LLMRT_DTYPE_BF16: return PAIR_F32_BF16;
        case LLMRT_DTYPE_I8: return PAIR_F32_I8;
        case LLMRT_DTYPE_I32: return PAIR_F32_I32;
        default: return PAIR_NONE;
        }
    }
    if (dst == LLMRT_DTYPE_BF16 && src == LLMRT_DTYPE_F16) return PAIR_F16_BF16;
    if (dst == LLMRT_DTYPE_F16 && src == LLMRT_DTYPE_BF16) return PAIR_BF16_F16;
    return PAIR_NONE;
}

typedef struct conv_job {
    pair_kind kind;
    int64_t cols;
    void *dst;
    const void *src;
    size_t dst_size, src_size;
    uint64_t seed, offset;
    const float *scales;
    const float *col_factor; /* axis 1: per column 1/s (encode) or s (decode), effective */
    int axis;
} conv_job;

/* int8 over elements [lo, hi) of the row-major matrix: cut at row ends so
 * each run has one scale (axis 0 / -1) or a contiguous slice of them (axis 1). */
static void int8_range(const conv_job *j, size_t lo, size_t hi)
{
    size_t cols = (size_t)j->cols;
    for (size_t i = lo; i < hi;) {
        size_t row = i / cols, col = i % cols;
        size_t run = cols - col < hi - i ? cols - col : hi - i;
        const float *sc = j->axis == 1 ? j->col_factor + col : NULL;
        float one = j->axis == 0 ? j->scales[row] : j->scales[0];
        if (j->kind == PAIR_F32_I8) {
            int8_t *d = (int8_t *)j->dst + i;
            const float *s = (const float *)j->src + i;
            if (sc) f32_to_i8_each(d, s, run, sc);
            else f32_to_i8_one(d, s, run, one);
        } else {
            float *d = (float *)j->dst + i;
            const int8_t *s = (const int8_t *)j->src + i;
            if (sc) i8_to_f32_each(d, s, run, sc);
            else i8_to_f32_one(d, s, run, one);
        }
        i += run;
    }
}

static void convert_range(const conv_job *j, size_t lo, size_t hi)
{
    size_t n = hi - lo;
    char *d = (char *)j->dst + lo * j->dst_size;
    const char *s = (const char *)j->src + lo * j->src_size;
    switch (j->kind) {
    case PAIR_COPY: memmove(d, s, n * j->dst_size); break;
    case PAIR_F16_F32: f16_to_f32_loop((float *)d, (const uint16_t *)s, n); break;
    case PAIR_BF16_F32: bf16_to_f32_loop((float *)d, (const uint16_t *)s, n); break;
    case PAIR_F32_F16: f32_to_f16_loop((uint16_t *)d, (const float *)s, n); break;
    case PAIR_F32_BF16: f32_to_bf16_loop((uint16_t *)d, (const float *)s, n); break;
    case PAIR_F32_BF16_SR:
        f32_to_bf16_sr_loop((uint16_t *)d, (const float *)s, n, j->seed, j->offset + lo);
        break;
    case PAIR_F16_BF16: f16_to_bf16_loop((uint16_t *)d, (const uint16_t *)s, n); break;
    case PAIR_BF16_F16: bf16_to_f16_loop((uint16_t *)d, (const uint16_t *)s, n); break;
    case PAIR_F32_I8:
    case PAIR_I8_F32: int8_range(j, lo, hi); break;
    case PAIR_I32_F32: {
        float *df = (float *)d;
        const int32_t *si = (const int32_t *)s;
#pragma omp simd
        for (size_t i = 0; i < n; i++) df[i] = (float)si[i];
        break;
    }
    case PAIR_F32_I32: {
        int32_t *di = (int32_t *)d;
        const float *sf = (const float *)s;
        for (size_t i = 0; i < n; i++) di[i] = f32_to_i32(sf[i]);
        break;
    }
    case PAIR_NONE: break;
    }
}

static void convert_run(const cpu_ctx *c, const conv_job *j, size_t n)
{
    if (j->kind == PAIR_COPY) { /* in place is a no-op; overlap needs one memmove */
        if (n && j->dst != j->src) memmove(j->dst, j->src, n * j->dst_size);
        return;
    }
    int nt = threads_for(c, n);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 64, &lo, &hi);
        if (hi > lo) convert_range(j, lo, hi);
    }
}

int cpu_convert_ex(void *ctx, const llmrt_convert_desc *d)
{
    cpu_ctx *c = ctx;
    int rc = cpu_require_desc(c, "convert_ex", d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    if (d->rows < 0 || d->cols < 0)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: convert_ex: rows %lld, cols %lld < 0",
                              (long long)d->rows, (long long)d->cols);
    if (d->rounding != LLMRT_ROUND_NEAREST_EVEN && d->rounding != LLMRT_ROUND_STOCHASTIC)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: convert_ex: unknown rounding %d",
                              (int)d->rounding);
    pair_kind kind = classify(d->dst_type, d->src_type, d->rounding == LLMRT_ROUND_STOCHASTIC);
    if (kind == PAIR_NONE)
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cpu: convert_ex does not support %s -> %s with %s rounding; "
                              "supported: f32/f16/bf16 to each other, f32<->i8, f32<->i32 "
                              "(nearest-even), f32->bf16 (stochastic)",
                              cpu_dtype_name(d->src_type), cpu_dtype_name(d->dst_type),
                              d->rounding == LLMRT_ROUND_STOCHASTIC ? "stochastic"
                                                                    : "nearest-even");
    size_t n = (size_t)d->rows * (size_t)d->cols;
    if (n == 0) return LLMRT_OK;
    if (!d->dst || !d->src)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: convert_ex: dst or src is NULL");
    if (kind == PAIR_F32_I8 || kind == PAIR_I8_F32) {
        if (d->axis != 0 && d->axis != 1 && d->axis != -1)
            return c->host->error(LLMRT_ERR_INVALID,
                                  "cpu: convert_ex: axis %d must be 0 (rows), 1 (columns) or "
                                  "-1 (one scale)",
                                  d->axis);
        if (!d->scales)
            return c->host->error(LLMRT_ERR_INVALID,
                                  "cpu: convert_ex: %s -> %s needs scales",
                                  cpu_dtype_name(d->src_type), cpu_dtype_name(d->dst_type));
    }
    conv_job j = {
        .kind = kind, .cols = d->cols, .dst = d->dst, .src = d->src,
        .dst_size = llmrt_dtype_size(d->dst_type), .src_size = llmrt_dtype_size(d->src_type),
        .seed = d->seed, .offset = d->offset, .scales = d->scales, .axis = d->axis,
    };
    if ((kind == PAIR_F32_I8 || kind == PAIR_I8_F32) && d->axis == 1) {
        /* One division per column instead of one per element (same values). */
        float *f = cpu_scratch(c, (size_t)d->cols * sizeof(float));
        if (!f) return LLMRT_ERR_NOMEM;
        for (int64_t k = 0; k < d->cols; k++)
            f[k] = kind == PAIR_F32_I8 ? 1.0f / llmrt_quant_scale(d->scales[k])
                                       : llmrt_quant_scale(d->scales[k]);
        j.col_factor = f;
    }
    convert_run(c, &j, n);
    return LLMRT_OK;
}

int cpu_convert(void *ctx, void *dst, llmrt_dtype dst_type, const void *src,
                llmrt_dtype src_type, size_t n)
{
    cpu_ctx *c = ctx;
    pair_kind kind = classify(dst_type, src_type, 0);
    if (kind == PAIR_NONE || kind == PAIR_F32_I8 || kind == PAIR_I8_F32)
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cpu: convert does not support %s -> %s; supported: f32, f16 and "
                              "bf16 to each other, i32->f32, f32->i32 (int8 needs convert_ex)",
                              cpu_dtype_name(src_type), cpu_dtype_name(dst_type));
    if (n == 0) return LLMRT_OK;
    conv_job j = {
        .kind = kind, .cols = (int64_t)n, .dst = dst, .src = src,
        .dst_size = llmrt_dtype_size(dst_type), .src_size = llmrt_dtype_size(src_type),
    };
    convert_run(c, &j, n);
    return LLMRT_OK;
}
