/* cpu_gelu.c — GELU forward and backward, tanh (GPT-2) and erf (BERT) forms.
 *
 * Both are written as x * P(x) with P a smooth step, in forms that keep full
 * relative precision in the negative tail (no 1 + tanh(..) cancellation) and
 * that GCC vectorises (cpu_expf instead of libm calls):
 *
 *   tanh: 0.5 (1 + tanh(u)) = sigmoid(2u),  u = sqrt(2/pi) (x + 0.044715 x^3)
 *         gelu  = x / (1 + exp(-2u))
 *         gelu' = s + x * 2 s (1 - s) * u',  s = sigmoid(2u), u' = sqrt(2/pi)(1 + 3*0.044715 x^2)
 *   erf:  Phi(x) = 0.5 (1 + erf(x / sqrt 2)) = 0.5 erfc(-x / sqrt 2)
 *         gelu  = x Phi(x),  gelu' = Phi(x) + x exp(-x^2/2) / sqrt(2 pi)
 *         erfc from Numerical Recipes' erfcc (Chebyshev fit, fractional error
 *         below 1.2e-7 everywhere, so the tail keeps its relative precision).
 *
 * f16/bf16: each thread widens blocks of GELU_BLOCK elements of its part into
 * stack buffers, runs the fp32 loop and rounds the block back (backward:
 * dinp is widened too, since it is added into).
 */
#include "cpu_internal.h"

#include <omp.h>

#define GELU_S 0.7978845608028654f  /* sqrt(2/pi) */
#define GELU_C 0.044715f
#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.3989422804014327f

static inline float sigmoid2u(float x)
{
    float u = GELU_S * (x + GELU_C * x * x * x);
    return 1.0f / (1.0f + cpu_expf(-2.0f * u));
}

/* Phi(x) via erfc(w), w = -x / sqrt 2. */
static inline float phi_cdf(float x)
{
    float w = -x * INV_SQRT2;
    float z = w < 0.0f ? -w : w;
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    float ans = t * cpu_expf(-z * z + p); /* erfc(|w|) */
    float erfc_w = w >= 0.0f ? ans : 2.0f - ans;
    return 0.5f * erfc_w;
}

CPU_HOT static void fwd_tanh(float *out, const float *inp, size_t n) /* may be in place */
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = inp[i] * sigmoid2u(inp[i]);
}

CPU_HOT static void fwd_erf(float *out, const float *inp, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = inp[i] * phi_cdf(inp[i]);
}

CPU_HOT static void bwd_tanh(float *restrict dinp, const float *restrict inp,
                             const float *restrict dout, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float s = sigmoid2u(x);
        float du = GELU_S * (1.0f + 3.0f * GELU_C * x * x);
        dinp[i] += dout[i] * (s + x * 2.0f * s * (1.0f - s) * du);
    }
}

CPU_HOT static void bwd_erf(float *restrict dinp, const float *restrict inp,
                            const float *restrict dout, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float pdf = INV_SQRT_2PI * cpu_expf(-0.5f * x * x);
        dinp[i] += dout[i] * (phi_cdf(x) + x * pdf);
    }
}

static int check(const cpu_ctx *c, const char *kernel, llmrt_dtype dtype, llmrt_gelu_kind kind)
{
    int rc = cpu_require_float(c, kernel, dtype);
    if (rc) return rc;
    if (kind != LLMRT_GELU_TANH && kind != LLMRT_GELU_ERF)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: %s: unknown gelu kind %d (0 tanh, 1 erf)",
                              kernel, (int)kind);
    return LLMRT_OK;
}

#define GELU_BLOCK 1024

static void fwd_part16(void *out, const void *inp, size_t lo, size_t hi, llmrt_dtype t,
                       llmrt_gelu_kind kind)
{
    float x[GELU_BLOCK];
    for (size_t i = lo; i < hi; i += GELU_BLOCK) {
        size_t w = hi - i < GELU_BLOCK ? hi - i : GELU_BLOCK;
        cpu_load_f32(x, (const uint16_t *)inp + i, t, w);
        if (kind == LLMRT_GELU_TANH) fwd_tanh(x, x, w); /* in place */
        else fwd_erf(x, x, w);
        cpu_store_f32((uint16_t *)out + i, t, x, w);
    }
}

static void bwd_part16(void *dinp, const void *inp, const void *dout, size_t lo, size_t hi,
                       llmrt_dtype t, llmrt_gelu_kind kind)
{
    float dx[GELU_BLOCK], x[GELU_BLOCK], dy[GELU_BLOCK];
    for (size_t i = lo; i < hi; i += GELU_BLOCK) {
        size_t w = hi - i < GELU_BLOCK ? hi - i : GELU_BLOCK;
        cpu_load_f32(dx, (const uint16_t *)dinp + i, t, w);
        cpu_load_f32(x, (const uint16_t *)inp + i, t, w);
        cpu_load_f32(dy, (const uint16_t *)dout + i, t, w);
        if (kind == LLMRT_GELU_TANH) bwd_tanh(dx, x, dy, w);
        else bwd_erf(dx, x, dy, w);
        cpu_store_f32((uint16_t *)dinp + i, t, dx, w);
    }
}

static int threads_for(const cpu_ctx *c, size_t n)
{
    size_t t = n / (CPU_PAR_MIN / 4); /* a few flops per element: split sooner */
    if (t < 1) t = 1;
    return t < (size_t)c->threads ? (int)t : c->threads;
}

int cpu_gelu_forward(void *ctx, void *out, const void *inp, size_t n, llmrt_dtype dtype,
                     llmrt_gelu_kind kind)
{
    cpu_ctx *c = ctx;
    int rc = check(c, "gelu_forward", dtype, kind);
    if (rc) return rc;
    int nt = threads_for(c, n);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
        if (hi > lo && dtype != LLMRT_DTYPE_F32) {
            fwd_part16(out, inp, lo, hi, dtype, kind);
        } else if (hi > lo) {
            if (kind == LLMRT_GELU_TANH)
                fwd_tanh((float *)out + lo, (const float *)inp + lo, hi - lo);
            else
                fwd_erf((float *)out + lo, (const float *)inp + lo, hi - lo);
        }
    }
    return LLMRT_OK;
}

int cpu_gelu_backward(void *ctx, void *dinp, const void *inp, const void *dout, size_t n,
                      llmrt_dtype dtype, llmrt_gelu_kind kind)
{
    cpu_ctx *c = ctx;
    int rc = check(c, "gelu_backward", dtype, kind);
    if (rc) return rc;
    int nt = threads_for(c, n);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
        if (hi > lo && dtype != LLMRT_DTYPE_F32) {
            bwd_part16(dinp, inp, dout, lo, hi, dtype, kind);
        } else if (hi > lo) {
            if (kind == LLMRT_GELU_TANH)
                bwd_tanh((float *)dinp + lo, (const float *)inp + lo, (const float *)dout + lo,
                         hi - lo);
            else
                bwd_erf((float *)dinp + lo, (const float *)inp + lo, (const float *)dout + lo,
                        hi - lo);
        }
    }
    return LLMRT_OK;
}
