/* cuda_adamw.cu — fused AdamW on a (shard of a) flat fp32 buffer.
 *
 * One pass reads p, m, v and the gradient (f32, f16 or bf16), writes p, m, v
 * and, when asked, p rounded to f16 or bf16 (nearest-even, or stochastic to
 * bf16 with llmrt_sr_bits(seed, offset + i)) with convert.h's own functions
 * (convert_dev.h, generated from it), so params_out is bit for bit what
 * convert_ex makes of the updated params. The update is cpu_adamw.c's
 * expression order; nvcc may contract it into FMAs, so p can differ from the
 * cpu's in the last bit (tests/cuda/test_cuda_fused allows 1e-6 relative).
 *
 * Vectorised: four elements per thread (float4 for p, m, v and f32
 * gradients, 8-byte loads and stores for 16-bit gradients and params_out)
 * when every pointer is aligned for it, the n % 4 tail element by element;
 * otherwise a scalar kernel. Both are grid-stride loops over 64-bit indices,
 * so any n runs with a capped grid. Element i's result does not depend on
 * which path or thread computed it.
 *
 * UNTESTED: written and compiled on a machine without a GPU (docs/cuda.md).
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "cuda_adamw.h"
#include "convert_dev.h"

#define ADAMW_TPB 256
#define ADAMW_MAX_BLOCKS (65535u * 16u)

struct adamw_k {
    float lr, beta1, beta2, one_m_b1, one_m_b2, eps, wd, gs, inv_bc1, inv_bc2;
};

__device__ __forceinline__ void adamw_elem(float &p, float &m, float &v, float g,
                                           const adamw_k &k)
{
    float gi = g * k.gs;
    float mi = k.beta1 * m + k.one_m_b1 * gi;
    float vi = k.beta2 * v + k.one_m_b2 * gi * gi;
    m = mi;
    v = vi;
    float mhat = mi * k.inv_bc1, vhat = vi * k.inv_bc2;
    p -= k.lr * (mhat / (sqrtf(vhat) + k.eps) + k.wd * p);
}

template <int G> __device__ __forceinline__ float widen16(uint16_t h)
{
    return G == CUK_ADAMW_GRAD_F16 ? llmrt_f16_to_f32(h) : llmrt_bf16_to_f32(h);
}

template <int G> __device__ __forceinline__ float grad_at(const void *g, size_t i)
{
    if (G == CUK_ADAMW_GRAD_F32) return ((const float *)g)[i];
    return widen16<G>(((const uint16_t *)g)[i]);
}

template <int O> __device__ __forceinline__ uint16_t round_out(float p, uint64_t seed,
                                                               uint64_t index)
{
    if (O == CUK_ADAMW_OUT_F16) return llmrt_f32_to_f16(p);
    if (O == CUK_ADAMW_OUT_BF16) return llmrt_f32_to_bf16(p);
    return llmrt_f32_to_bf16_sr(p, llmrt_sr_bits(seed, index));
}

template <int G, int O> __device__ __forceinline__ void step_one(const cuk_adamw_args &a,
                                                                 const adamw_k &k, size_t i)
{
    float p = a.p[i], m = a.m[i], v = a.v[i];
    adamw_elem(p, m, v, grad_at<G>(a.g, i), k);
    a.p[i] = p;
    a.m[i] = m;
    a.v[i] = v;
    if (O != CUK_ADAMW_OUT_NONE) ((uint16_t *)a.out)[i] = round_out<O>(p, a.seed, a.offset + i);
}

template <int G, int O> __global__ void k_adamw(cuk_adamw_args a, adamw_k k)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < a.n;
         i += (size_t)gridDim.x * blockDim.x)
        step_one<G, O>(a, k, i);
}

/* Needs p, m, v (and f32 g) 16-byte aligned, 16-bit g and out 8-byte aligned. */
template <int G, int O> __global__ void k_adamw_vec4(cuk_adamw_args a, adamw_k k)
{
    const size_t nv = a.n / 4;
    const size_t tid = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (size_t q = tid; q < nv; q += (size_t)gridDim.x * blockDim.x) {
        float4 p4 = ((const float4 *)a.p)[q], m4 = ((const float4 *)a.m)[q],
               v4 = ((const float4 *)a.v)[q];
        float g[4];
        if (G == CUK_ADAMW_GRAD_F32) {
            float4 g4 = ((const float4 *)a.g)[q];
            g[0] = g4.x, g[1] = g4.y, g[2] = g4.z, g[3] = g4.w;
        } else {
            ushort4 h = ((const ushort4 *)a.g)[q];
            g[0] = widen16<G>(h.x), g[1] = widen16<G>(h.y), g[2] = widen16<G>(h.z),
            g[3] = widen16<G>(h.w);
        }
        adamw_elem(p4.x, m4.x, v4.x, g[0], k);
        adamw_elem(p4.y, m4.y, v4.y, g[1], k);
        adamw_elem(p4.z, m4.z, v4.z, g[2], k);
        adamw_elem(p4.w, m4.w, v4.w, g[3], k);
        ((float4 *)a.p)[q] = p4;
        ((float4 *)a.m)[q] = m4;
        ((float4 *)a.v)[q] = v4;
        if (O != CUK_ADAMW_OUT_NONE) {
            const uint64_t i0 = a.offset + 4 * (uint64_t)q;
            ushort4 o;
            o.x = round_out<O>(p4.x, a.seed, i0);
            o.y = round_out<O>(p4.y, a.seed, i0 + 1);
            o.z = round_out<O>(p4.z, a.seed, i0 + 2);
            o.w = round_out<O>(p4.w, a.seed, i0 + 3);
            ((ushort4 *)a.out)[q] = o;
        }
    }
    /* The n % 4 elements past the last full vector, one thread each. */
    const size_t i = nv * 4 + tid;
    if (i < a.n) step_one<G, O>(a, k, i);
}

static inline int aligned(const void *p, uintptr_t to) { return ((uintptr_t)p % to) == 0; }

template <int G, int O> static int launch(cudaStream_t s, const cuk_adamw_args *a,
                                          const adamw_k &k)
{
    const int vec = aligned(a->p, 16) && aligned(a->m, 16) && aligned(a->v, 16) &&
                    aligned(a->g, G == CUK_ADAMW_GRAD_F32 ? 16 : 8) &&
                    (O == CUK_ADAMW_OUT_NONE || aligned(a->out, 8));
    size_t work = vec ? a->n / 4 + 1 : a->n; /* threads wanted (vec: + the tail) */
    size_t blocks = (work + ADAMW_TPB - 1) / ADAMW_TPB;
    unsigned grid = blocks > ADAMW_MAX_BLOCKS ? ADAMW_MAX_BLOCKS : (unsigned)(blocks ? blocks : 1);
    if (vec) k_adamw_vec4<G, O><<<grid, ADAMW_TPB, 0, s>>>(*a, k);
    else k_adamw<G, O><<<grid, ADAMW_TPB, 0, s>>>(*a, k);
    return (int)cudaGetLastError();
}

template <int G> static int launch_out(cudaStream_t s, const cuk_adamw_args *a,
                                       const adamw_k &k)
{
    switch (a->out_kind) {
    case CUK_ADAMW_OUT_NONE: return launch<G, CUK_ADAMW_OUT_NONE>(s, a, k);
    case CUK_ADAMW_OUT_F16: return launch<G, CUK_ADAMW_OUT_F16>(s, a, k);
    case CUK_ADAMW_OUT_BF16: return launch<G, CUK_ADAMW_OUT_BF16>(s, a, k);
    case CUK_ADAMW_OUT_BF16_SR: return launch<G, CUK_ADAMW_OUT_BF16_SR>(s, a, k);
    }
    return (int)cudaErrorInvalidValue;
}

extern "C" int cuk_adamw(cuda_stream_t s, const cuk_adamw_args *a)
{
    adamw_k k = {a->lr, a->beta1, a->beta2, 1.0f - a->beta1, 1.0f - a->beta2,
                 a->eps, a->wd, a->grad_scale, a->inv_bc1, a->inv_bc2};
    if (a->n == 0) return 0;
    switch (a->grad) {
    case CUK_ADAMW_GRAD_F32: return launch_out<CUK_ADAMW_GRAD_F32>(s, a, k);
    case CUK_ADAMW_GRAD_F16: return launch_out<CUK_ADAMW_GRAD_F16>(s, a, k);
    case CUK_ADAMW_GRAD_BF16: return launch_out<CUK_ADAMW_GRAD_BF16>(s, a, k);
    }
    return (int)cudaErrorInvalidValue;
}
