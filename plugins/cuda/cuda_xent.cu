/* cuda_xent.cu — fused softmax + cross-entropy (cpu_xent.c's formulas);
 * logits and dlogits in f32, f16 or bf16, losses fp32.
 *
 * One block per row (rows < 2^31): m = max, s = sum exp(x - m) in double
 * (a fixed tree: deterministic), loss = m + log s - x[target], dlogits =
 * dloss exp(x - m) / s minus dloss at the target, 0 in the padding columns
 * and on ignored rows (target < 0). 16-byte packs when every row starts
 * 16-byte aligned (padded_vocab a whole number of packs), element-wise
 * otherwise and for the tails. Every read of x[target] happens before the
 * block's first barrier and in the last pass each element (or pack) is read
 * and then written by the same thread, so dlogits may alias logits.
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "cuda_device.cuh"

template <typename T>
__global__ void k_softmax_xent(const T *logits, const int32_t *targets, float *losses, T *dlogits,
                               float dloss, int64_t V, int64_t Vp, int vec)
{
    typedef pack16<T> P;
    __shared__ float shf[TPB];
    __shared__ double shd[TPB];
    const int64_t i = blockIdx.x;
    const T *x = logits + i * Vp;
    T *dl = dlogits ? dlogits + i * Vp : NULL;
    const int32_t t = targets[i];
    if (t < 0) {
        if (threadIdx.x == 0) losses[i] = 0.0f;
        if (dl)
            for (int64_t j = threadIdx.x; j < Vp; j += blockDim.x) dl[j] = narrow<T>(0.0f);
        return;
    }
    const float xt = widen(x[t]);
    float m = -INFINITY;
    row_read(x, V, vec, [&](int64_t, float v) { m = fmaxf(m, v); });
    m = block_max(m, shf);
    double s = 0.0;
    row_read(x, V, vec, [&](int64_t, float v) { s += (double)expf(v - m); });
    s = block_sum(s, shd);
    if (threadIdx.x == 0) losses[i] = (float)((double)m + log(s) - (double)xt);
    if (!dl) return;
    /* Every read of x happened before the block_sum barrier above, except
     * the element (or pack) each thread now reads and then overwrites. */
    const float f = (float)((double)dloss / s);
    const int64_t packs = vec ? Vp / P::N : 0;
    for (int64_t q = threadIdx.x; q < packs; q += blockDim.x) {
        const P px = reinterpret_cast<const P *>(x)[q];
        P pg;
#pragma unroll
        for (int k = 0; k < P::N; k++) {
            const int64_t j = q * P::N + k;
            float g = 0.0f;
            if (j < V) {
                g = expf(widen(px.v[k]) - m) * f;
                if (j == t) g -= dloss;
            }
            pg.v[k] = narrow<T>(g);
        }
        reinterpret_cast<P *>(dl)[q] = pg;
    }
    for (int64_t j = packs * P::N + threadIdx.x; j < Vp; j += blockDim.x) {
        float g = 0.0f;
        if (j < V) {
            g = expf(widen(x[j]) - m) * f;
            if (j == t) g -= dloss;
        }
        dl[j] = narrow<T>(g);
    }
}

template <typename T>
static int softmax_xent(cuda_stream_t s, const void *logits, const int32_t *targets,
                        float *losses, void *dlogits, float dloss, int64_t rows, int64_t V,
                        int64_t Vp)
{
    const void *ptrs[2] = {logits, dlogits};
    k_softmax_xent<T><<<(unsigned)rows, TPB, 0, s>>>((const T *)logits, targets, losses,
                                                     (T *)dlogits, dloss, V, Vp,
                                                     rows_vec<T>(Vp, ptrs, 2));
    return launched();
}

extern "C" int cuk_softmax_xent(cuda_stream_t s, int dt, const void *logits,
                                const int32_t *targets, float *losses, void *dlogits, float dloss,
                                int64_t rows, int64_t V, int64_t Vp)
{
    if (rows == 0) return 0;
    return CUK_BY_DTYPE(dt, softmax_xent, s, logits, targets, losses, dlogits, dloss, rows, V,
                        Vp);
}
