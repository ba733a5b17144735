/* cpu_elementwise.c — add, scale and convert: one pass over memory, split in
 * equal contiguous parts over the threads (results do not depend on the split).
 *
 * convert pairs: f32->f32 (copy), i32->f32 (exact below 2^24, else rounded to
 * nearest even), f32->i32 (rounded to nearest even, saturating at the int32
 * range; NaN gives 0). Other pairs are LLMRT_ERR_UNSUPPORTED until the number
 * formats' conversions arrive.
 */
#include "cpu_internal.h"

#include <math.h>
#include <omp.h>

CPU_HOT static void add_chunk(float *out, const float *a, const float *b, size_t n)
{
    /* out may alias a or b: each element is read before it is written. */
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

CPU_HOT static void scale_chunk(float *restrict x, size_t n, float alpha)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) x[i] *= alpha;
}

static int threads_for(const cpu_ctx *c, size_t n)
{
    size_t t = n / CPU_PAR_MIN;
    if (t < 1) t = 1;
    return t < (size_t)c->threads ? (int)t : c->threads;
}

int cpu_add(void *ctx, void *out, const void *a, const void *b, size_t n, llmrt_dtype dtype)
{
    cpu_ctx *c = ctx;
    int rc = cpu_require_f32(c, "add", dtype);
    if (rc) return rc;
    int nt = threads_for(c, n);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
        if (hi > lo)
            add_chunk((float *)out + lo, (const float *)a + lo, (const float *)b + lo, hi - lo);
    }
    return LLMRT_OK;
}

int cpu_scale(void *ctx, void *x, size_t n, llmrt_dtype dtype, float alpha)
{
    cpu_ctx *c = ctx;
    int rc = cpu_require_f32(c, "scale", dtype);
    if (rc) return rc;
    int nt = threads_for(c, n);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
        if (hi > lo) scale_chunk((float *)x + lo, hi - lo, alpha);
    }
    return LLMRT_OK;
}

static int32_t f32_to_i32(float v)
{
    if (v != v) return 0;
    if (v >= 2147483647.0f) return INT32_MAX; /* 2^31 as a float */
    if (v <= -2147483648.0f) return INT32_MIN;
    return (int32_t)lrintf(v);
}

int cpu_convert(void *ctx, void *dst, llmrt_dtype dst_type, const void *src,
                llmrt_dtype src_type, size_t n)
{
    cpu_ctx *c = ctx;
    if (dst_type == LLMRT_DTYPE_F32 && src_type == LLMRT_DTYPE_F32) {
        if (n && dst != src) memmove(dst, src, n * sizeof(float));
        return LLMRT_OK;
    }
    int nt = threads_for(c, n);
    if (dst_type == LLMRT_DTYPE_F32 && src_type == LLMRT_DTYPE_I32) {
        float *d = dst;
        const int32_t *s = src;
#pragma omp parallel for simd num_threads(nt) if (nt > 1) schedule(static)
        for (size_t i = 0; i < n; i++) d[i] = (float)s[i];
        return LLMRT_OK;
    }
    if (dst_type == LLMRT_DTYPE_I32 && src_type == LLMRT_DTYPE_F32) {
        int32_t *d = dst;
        const float *s = src;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
        for (size_t i = 0; i < n; i++) d[i] = f32_to_i32(s[i]);
        return LLMRT_OK;
    }
    return c->host->error(LLMRT_ERR_UNSUPPORTED,
                          "cpu: convert does not support %s -> %s; supported: f32->f32, "
                          "i32->f32, f32->i32",
                          cpu_dtype_name(src_type), cpu_dtype_name(dst_type));
}
