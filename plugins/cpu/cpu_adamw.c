/* cpu_adamw.c — AdamW with decoupled weight decay, exactly as compute.h writes it:
 *   g = grads * grad_scale
 *   m = beta1 m + (1-beta1) g;  v = beta2 v + (1-beta2) g^2
 *   p -= lr * ( (m / (1-beta1^t)) / (sqrt(v / (1-beta2^t)) + eps) + weight_decay * p )
 * The bias corrections are computed once in double. One pass over p, g, m, v,
 * split in contiguous parts over the threads.
 *
 * f16/bf16 gradients are widened in blocks of ADAMW_BLOCK into a stack
 * buffer (params, m and v are always fp32).
 *
 * ABI 1.2 params_out: each block of updated params is rounded into
 * params_out while it is still in cache, with convert.h's functions (the
 * ones convert_ex uses; stochastic rounding with llmrt_sr_bits(seed,
 * offset + i), i the element's index in this call), so the fused step
 * equals adamw followed by convert_ex bit for bit.
 */
#include "cpu_internal.h"

#include <math.h>
#include <omp.h>

#define ADAMW_BLOCK 1024

typedef struct adamw_k {
    float lr, beta1, beta2, one_m_b1, one_m_b2, inv_bc1, inv_bc2, eps, wd, gs;
} adamw_k;

CPU_HOT static void adamw_chunk(float *restrict p, const float *restrict g, float *restrict m,
                                float *restrict v, size_t n, const adamw_k *k)
{
    const adamw_k q = *k;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * q.gs;
        float mi = q.beta1 * m[i] + q.one_m_b1 * gi;
        float vi = q.beta2 * v[i] + q.one_m_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float mhat = mi * q.inv_bc1, vhat = vi * q.inv_bc2;
        p[i] -= q.lr * (mhat / (sqrtf(vhat) + q.eps) + q.wd * p[i]);
    }
}

/* Where the updated params also go (ABI 1.2); out == NULL: nowhere. */
typedef struct adamw_out {
    void *out;
    llmrt_dtype type;
    int stochastic;
    uint64_t seed, offset;
} adamw_out;

CPU_HOT static void round_sr(uint16_t *restrict dst, const float *restrict src, size_t n,
                             uint64_t seed, uint64_t first)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        dst[i] = llmrt_f32_to_bf16_sr(src[i], llmrt_sr_bits(seed, first + i));
}

/* params_out[i0 : i0 + n] = p[0 : n] rounded. */
static void write_out(const adamw_out *o, const float *p, size_t i0, size_t n)
{
    uint16_t *dst = (uint16_t *)o->out + i0;
    if (o->stochastic) round_sr(dst, p, n, o->seed, o->offset + i0);
    else cpu_store_f32(dst, o->type, p, n);
}

static int check_out(const cpu_ctx *c, const llmrt_adamw_desc *d, adamw_out *o)
{
    memset(o, 0, sizeof *o);
    /* Members past the caller's struct_size are absent (compute.h rule 10). */
    if (d->struct_size < offsetof(llmrt_adamw_desc, offset) + sizeof d->offset || !d->params_out)
        return LLMRT_OK;
    if (d->rounding != LLMRT_ROUND_NEAREST_EVEN && d->rounding != LLMRT_ROUND_STOCHASTIC)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: adamw: unknown rounding %d",
                              (int)d->rounding);
    int sr = d->rounding == LLMRT_ROUND_STOCHASTIC;
    if (d->params_out_type != LLMRT_DTYPE_BF16 &&
        (d->params_out_type != LLMRT_DTYPE_F16 || sr))
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cpu: adamw: params_out of type %s with %s rounding is not "
                              "supported (bf16 nearest-even or stochastic, f16 nearest-even)",
                              cpu_dtype_name(d->params_out_type),
                              sr ? "stochastic" : "nearest-even");
    *o = (adamw_out){d->params_out, d->params_out_type, sr, d->seed, d->offset};
    return LLMRT_OK;
}

int cpu_adamw(void *ctx, const llmrt_adamw_desc *d)
{
    cpu_ctx *c = ctx;
    int rc = cpu_require_desc(c, "adamw", d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    if ((rc = cpu_require_float(c, "adamw (grads)", d->grad_type))) return rc;
    if (d->t < 1)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: adamw: step t = %lld, must be >= 1",
                              (long long)d->t);
    adamw_out out;
    if ((rc = check_out(c, d, &out))) return rc;
    if (d->n == 0) return LLMRT_OK;
    if (!d->params || !d->grads || !d->m || !d->v)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: adamw: params, grads, m or v is NULL");
    adamw_k k = {
        .lr = d->lr,
        .beta1 = d->beta1,
        .beta2 = d->beta2,
        .one_m_b1 = 1.0f - d->beta1,
        .one_m_b2 = 1.0f - d->beta2,
        .inv_bc1 = (float)(1.0 / (1.0 - pow((double)d->beta1, (double)d->t))),
        .inv_bc2 = (float)(1.0 / (1.0 - pow((double)d->beta2, (double)d->t))),
        .eps = d->eps,
        .wd = d->weight_decay,
        .gs = d->grad_scale,
    };
    size_t n = d->n;
    size_t want = n / CPU_PAR_MIN;
    int nt = want < 1 ? 1 : want < (size_t)c->threads ? (int)want : c->threads;
    const float *g = d->grads;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
        if (hi > lo && d->grad_type == LLMRT_DTYPE_F32 && !out.out) {
            adamw_chunk(d->params + lo, g + lo, d->m + lo, d->v + lo, hi - lo, &k);
        } else if (hi > lo) {
            float g32[ADAMW_BLOCK];
            for (size_t i = lo; i < hi; i += ADAMW_BLOCK) {
                size_t w = hi - i < ADAMW_BLOCK ? hi - i : ADAMW_BLOCK;
                const float *gi = g + i;
                if (d->grad_type != LLMRT_DTYPE_F32) {
                    cpu_load_f32(g32, (const uint16_t *)d->grads + i, d->grad_type, w);
                    gi = g32;
                }
                adamw_chunk(d->params + i, gi, d->m + i, d->v + i, w, &k);
                if (out.out) write_out(&out, d->params + i, i, w);
            }
        }
    }
    return LLMRT_OK;
}
