/* cpu_relu.c — ReLU forward and backward (T5's DenseReluDense).
 *
 *   relu(x)  = x < 0 ? 0 : x   (NaN propagates, so an fp16 overflow upstream
 *                               still reaches the loss scaler's check)
 *   dinp    += dout where x > 0 (the subgradient 0 at x = 0, as PyTorch);
 *              elsewhere dinp is left as it is (a -0 stays -0)
 *
 * Split over the threads in equal contiguous parts (results do not depend on
 * the split). f16/bf16: each thread widens blocks of RELU_BLOCK elements of
 * its part into stack buffers, runs the fp32 loop and rounds the block back
 * (backward: dinp is widened too, since it is added into).
 */
#include "cpu_internal.h"

#include <omp.h>

CPU_HOT static void fwd_chunk(float *out, const float *inp, size_t n) /* may be in place */
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = inp[i] < 0.0f ? 0.0f : inp[i];
}

CPU_HOT static void bwd_chunk(float *restrict dinp, const float *restrict inp,
                              const float *restrict dout, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) dinp[i] = inp[i] > 0.0f ? dinp[i] + dout[i] : dinp[i];
}

#define RELU_BLOCK 1024

static void fwd_part16(void *out, const void *inp, size_t lo, size_t hi, llmrt_dtype t)
{
    float x[RELU_BLOCK];
    for (size_t i = lo; i < hi; i += RELU_BLOCK) {
        size_t w = hi - i < RELU_BLOCK ? hi - i : RELU_BLOCK;
        cpu_load_f32(x, (const uint16_t *)inp + i, t, w);
        fwd_chunk(x, x, w);
        cpu_store_f32((uint16_t *)out + i, t, x, w);
    }
}

static void bwd_part16(void *dinp, const void *inp, const void *dout, size_t lo, size_t hi,
                       llmrt_dtype t)
{
    float dx[RELU_BLOCK], x[RELU_BLOCK], dy[RELU_BLOCK];
    for (size_t i = lo; i < hi; i += RELU_BLOCK) {
        size_t w = hi - i < RELU_BLOCK ? hi - i : RELU_BLOCK;
        cpu_load_f32(dx, (const uint16_t *)dinp + i, t, w);
        cpu_load_f32(x, (const uint16_t *)inp + i, t, w);
        cpu_load_f32(dy, (const uint16_t *)dout + i, t, w);
        bwd_chunk(dx, x, dy, w);
        cpu_store_f32((uint16_t *)dinp + i, t, dx, w);
    }
}

static int threads_for(const cpu_ctx *c, size_t n)
{
    size_t t = n / CPU_PAR_MIN;
    if (t < 1) t = 1;
    return t < (size_t)c->threads ? (int)t : c->threads;
}

int cpu_relu_forward(void *ctx, void *out, const void *inp, size_t n, llmrt_dtype dtype)
{
    cpu_ctx *c = ctx;
    int rc = cpu_require_float(c, "relu_forward", dtype);
    if (rc) return rc;
    int nt = threads_for(c, n);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
        if (hi > lo && dtype != LLMRT_DTYPE_F32)
            fwd_part16(out, inp, lo, hi, dtype);
        else if (hi > lo)
            fwd_chunk((float *)out + lo, (const float *)inp + lo, hi - lo);
    }
    return LLMRT_OK;
}

int cpu_relu_backward(void *ctx, void *dinp, const void *inp, const void *dout, size_t n,
                      llmrt_dtype dtype)
{
    cpu_ctx *c = ctx;
    int rc = cpu_require_float(c, "relu_backward", dtype);
    if (rc) return rc;
    int nt = threads_for(c, n);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
        if (hi > lo && dtype != LLMRT_DTYPE_F32)
            bwd_part16(dinp, inp, dout, lo, hi, dtype);
        else if (hi > lo)
            bwd_chunk((float *)dinp + lo, (const float *)inp + lo, (const float *)dout + lo,
                      hi - lo);
    }
    return LLMRT_OK;
}
