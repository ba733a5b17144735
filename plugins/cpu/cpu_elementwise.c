/* cpu_elementwise.c — add, mul and scale: one pass over memory, split in equal
 * contiguous parts over the threads (results do not depend on the split).
 *
 * f16/bf16: each thread widens blocks of CPU_EW_BLOCK elements of its part
 * into stack buffers, runs the fp32 loop and rounds the block back
 * (convert.h nearest-even), so nothing larger than a block is staged.
 * Conversions live in cpu_convert.c.
 */
#include "cpu_internal.h"

#include <omp.h>

CPU_HOT static void add_chunk(float *out, const float *a, const float *b, size_t n)
{
    /* out may alias a or b: each element is read before it is written. */
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

CPU_HOT static void mul_chunk(float *out, const float *a, const float *b, size_t n)
{
    /* out may alias a or b, as in add_chunk. */
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = a[i] * b[i];
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

#define CPU_EW_BLOCK 1024

typedef void (*binary_chunk_fn)(float *out, const float *a, const float *b, size_t n);

/* One thread's part of a 16-bit binary op; out may alias a or b (a block is
 * read whole before it is written). */
static void binary_part16(binary_chunk_fn op, void *out, const void *a, const void *b, size_t lo,
                          size_t hi, llmrt_dtype t)
{
    float fa[CPU_EW_BLOCK], fb[CPU_EW_BLOCK];
    for (size_t i = lo; i < hi; i += CPU_EW_BLOCK) {
        size_t w = hi - i < CPU_EW_BLOCK ? hi - i : CPU_EW_BLOCK;
        cpu_load_f32(fa, (const uint16_t *)a + i, t, w);
        cpu_load_f32(fb, (const uint16_t *)b + i, t, w);
        op(fa, fa, fb, w);
        cpu_store_f32((uint16_t *)out + i, t, fa, w);
    }
}

static void scale_part16(void *x, size_t lo, size_t hi, llmrt_dtype t, float alpha)
{
    float fx[CPU_EW_BLOCK];
    for (size_t i = lo; i < hi; i += CPU_EW_BLOCK) {
        size_t w = hi - i < CPU_EW_BLOCK ? hi - i : CPU_EW_BLOCK;
        cpu_load_f32(fx, (const uint16_t *)x + i, t, w);
        scale_chunk(fx, w, alpha);
        cpu_store_f32((uint16_t *)x + i, t, fx, w);
    }
}

/* out = a op b over n elements of dtype, `kernel` naming it in errors. */
static int binary(cpu_ctx *c, const char *kernel, binary_chunk_fn op, void *out, const void *a,
                  const void *b, size_t n, llmrt_dtype dtype)
{
    int rc = cpu_require_float(c, kernel, dtype);
    if (rc) return rc;
    int nt = threads_for(c, n);
    if (dtype != LLMRT_DTYPE_F32) {
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            size_t lo, hi;
            cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
            if (hi > lo) binary_part16(op, out, a, b, lo, hi, dtype);
        }
        return LLMRT_OK;
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
        if (hi > lo) op((float *)out + lo, (const float *)a + lo, (const float *)b + lo, hi - lo);
    }
    return LLMRT_OK;
}

int cpu_add(void *ctx, void *out, const void *a, const void *b, size_t n, llmrt_dtype dtype)
{
    return binary(ctx, "add", add_chunk, out, a, b, n, dtype);
}

int cpu_mul(void *ctx, void *out, const void *a, const void *b, size_t n, llmrt_dtype dtype)
{
    return binary(ctx, "mul", mul_chunk, out, a, b, n, dtype);
}

int cpu_scale(void *ctx, void *x, size_t n, llmrt_dtype dtype, float alpha)
{
    cpu_ctx *c = ctx;
    int rc = cpu_require_float(c, "scale", dtype);
    if (rc) return rc;
    int nt = threads_for(c, n);
    if (dtype != LLMRT_DTYPE_F32) {
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            size_t lo, hi;
            cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
            if (hi > lo) scale_part16(x, lo, hi, dtype, alpha);
        }
        return LLMRT_OK;
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
        if (hi > lo) scale_chunk((float *)x + lo, hi - lo, alpha);
    }
    return LLMRT_OK;
}
