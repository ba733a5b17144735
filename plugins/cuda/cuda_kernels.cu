/* cuda_kernels.cu — the fp32 kernels of the cuda compute backend that have
 * no file of their own: the gemm bias, AdamW, attention, conversions and
 * LSQ fake quantization. (Norm, GELU/ReLU and the elementwise ops,
 * softmax_xent, embedding and the reductions live in cuda_norm.cu,
 * cuda_elementwise.cu, cuda_xent.cu, cuda_embedding.cu and cuda_reduce.cu,
 * in f32, f16 and bf16.)
 *
 * Each kernel follows the formulas of its plugins/cpu counterpart (the
 * reference; see the comments at the top of each cpu_*.c): same operations,
 * same fp32 intermediates, sums in a fixed order. Block-level reductions add
 * in a fixed tree, so results are bit-identical run to run (compute.h rule 9)
 * but may differ from the cpu's serial sums in the last bits (the tests allow
 * 1e-5 relative). Nothing uses atomics.
 *
 * Backward kernels add into their gradients (rule 8); softmax_xent
 * overwrites dlogits.
 *
 * UNTESTED: written and compiled on a machine without a GPU (docs/cuda.md).
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "cuda_device.cuh"

/* --- attention (cpu_attention.c's formulas), the simple version: one thread
 * per query row (forward, dq) or key row (dk, dv) or (head, i, j) (dbias),
 * scores recomputed from q, k and lse; nothing of size q_len x kv_len is
 * stored. Each output element is summed by one thread in key (or query, or
 * batch) order: deterministic, no atomics. Correct first, fast later: the
 * flash-attention style tiled kernel is the follow-up (docs/cuda.md). --- */

struct att_args {
    int64_t B, H, Tq, Tk, D, off;
    int causal;
    float scale;
    const float *q, *k, *v, *dout, *bias, *lse, *delta;
    float *out, *lsew, *dq, *dk, *dv, *dbias, *deltaw;
    int64_t qs, ks, vs, os;
};

__device__ __forceinline__ int64_t att_visible(const att_args &a, int64_t i)
{
    if (!a.causal) return a.Tk;
    int64_t n = i + a.off + 1;
    return n < 0 ? 0 : n > a.Tk ? a.Tk : n;
}

__device__ __forceinline__ float att_score(const att_args &a, const float *qi, const float *kj,
                                           int64_t h, int64_t i, int64_t j)
{
    float s = 0.0f;
    for (int64_t d = 0; d < a.D; d++) s += qi[d] * kj[d];
    s *= a.scale;
    if (a.bias) s += a.bias[(h * a.Tq + i) * a.Tk + j];
    return s;
}

__global__ void k_att_forward(att_args a)
{
    int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (r >= a.B * a.H * a.Tq) return;
    int64_t i = r % a.Tq, h = r / a.Tq % a.H, b = r / (a.Tq * a.H);
    const float *qi = a.q + (b * a.Tq + i) * a.qs + h * a.D;
    float *oi = a.out + (b * a.Tq + i) * a.os + h * a.D;
    int64_t n = att_visible(a, i);
    float acc[CUK_ATT_MAX_D];
    for (int64_t d = 0; d < a.D; d++) acc[d] = 0.0f;
    if (n == 0) {
        for (int64_t d = 0; d < a.D; d++) oi[d] = 0.0f;
        a.lsew[(b * a.H + h) * a.Tq + i] = -INFINITY;
        return;
    }
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++)
        m = fmaxf(m, att_score(a, qi, a.k + (b * a.Tk + j) * a.ks + h * a.D, h, i, j));
    float s = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        float p = expf(att_score(a, qi, a.k + (b * a.Tk + j) * a.ks + h * a.D, h, i, j) - m);
        s += p;
        const float *vj = a.v + (b * a.Tk + j) * a.vs + h * a.D;
        for (int64_t d = 0; d < a.D; d++) acc[d] += p * vj[d];
    }
    float inv = 1.0f / s;
    for (int64_t d = 0; d < a.D; d++) oi[d] = acc[d] * inv;
    a.lsew[(b * a.H + h) * a.Tq + i] = m + logf(s);
}

/* Per query row: delta_i = sum_j P_ij dP_ij (dP = dO V^T), then
 * dq_i += scale sum_j P_ij (dP_ij - delta_i) k_j. delta is kept for the
 * dk/dv and dbias kernels. */
__global__ void k_att_backward_dq(att_args a)
{
    int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (r >= a.B * a.H * a.Tq) return;
    int64_t i = r % a.Tq, h = r / a.Tq % a.H, b = r / (a.Tq * a.H);
    const float *qi = a.q + (b * a.Tq + i) * a.qs + h * a.D;
    const float *doi = a.dout + (b * a.Tq + i) * a.os + h * a.D;
    float lse = a.lse[(b * a.H + h) * a.Tq + i];
    int64_t n = att_visible(a, i);
    float delta = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        float p = expf(att_score(a, qi, a.k + (b * a.Tk + j) * a.ks + h * a.D, h, i, j) - lse);
        const float *vj = a.v + (b * a.Tk + j) * a.vs + h * a.D;
        float dp = 0.0f;
        for (int64_t d = 0; d < a.D; d++) dp += doi[d] * vj[d];
        delta += p * dp;
    }
    a.deltaw[r] = delta;
    if (!a.dq) return;
    float acc[CUK_ATT_MAX_D];
    for (int64_t d = 0; d < a.D; d++) acc[d] = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const float *kj = a.k + (b * a.Tk + j) * a.ks + h * a.D;
        float p = expf(att_score(a, qi, kj, h, i, j) - lse);
        const float *vj = a.v + (b * a.Tk + j) * a.vs + h * a.D;
        float dp = 0.0f;
        for (int64_t d = 0; d < a.D; d++) dp += doi[d] * vj[d];
        float ds = p * (dp - delta);
        for (int64_t d = 0; d < a.D; d++) acc[d] += ds * kj[d];
    }
    float *dqi = a.dq + (b * a.Tq + i) * a.qs + h * a.D;
    for (int64_t d = 0; d < a.D; d++) dqi[d] += a.scale * acc[d];
}

/* Per key row j: dv_j += sum_i P_ij dO_i, dk_j += scale sum_i dS_ij q_i over
 * the queries that see j. */
__global__ void k_att_backward_dkv(att_args a)
{
    int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (r >= a.B * a.H * a.Tk) return;
    int64_t j = r % a.Tk, h = r / a.Tk % a.H, b = r / (a.Tk * a.H);
    const float *kj = a.k + (b * a.Tk + j) * a.ks + h * a.D;
    const float *vj = a.v + (b * a.Tk + j) * a.vs + h * a.D;
    float adk[CUK_ATT_MAX_D], adv[CUK_ATT_MAX_D];
    for (int64_t d = 0; d < a.D; d++) adk[d] = adv[d] = 0.0f;
    for (int64_t i = 0; i < a.Tq; i++) {
        if (j >= att_visible(a, i)) continue;
        const float *qi = a.q + (b * a.Tq + i) * a.qs + h * a.D;
        const float *doi = a.dout + (b * a.Tq + i) * a.os + h * a.D;
        int64_t row = (b * a.H + h) * a.Tq + i;
        float p = expf(att_score(a, qi, kj, h, i, j) - a.lse[row]);
        float dp = 0.0f;
        for (int64_t d = 0; d < a.D; d++) dp += doi[d] * vj[d];
        float ds = p * (dp - a.delta[row]);
        for (int64_t d = 0; d < a.D; d++) {
            adv[d] += p * doi[d];
            adk[d] += ds * qi[d];
        }
    }
    float *dkj = a.dk ? a.dk + (b * a.Tk + j) * a.ks + h * a.D : NULL;
    float *dvj = a.dv ? a.dv + (b * a.Tk + j) * a.vs + h * a.D : NULL;
    for (int64_t d = 0; d < a.D; d++) {
        if (dkj) dkj[d] += a.scale * adk[d];
        if (dvj) dvj[d] += adv[d];
    }
}

/* dbias[h, i, j] += sum over the batch of dS_bhij. */
__global__ void k_att_backward_dbias(att_args a)
{
    int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (r >= a.H * a.Tq * a.Tk) return;
    int64_t j = r % a.Tk, i = r / a.Tk % a.Tq, h = r / (a.Tk * a.Tq);
    if (j >= att_visible(a, i)) return;
    float acc = 0.0f;
    for (int64_t b = 0; b < a.B; b++) {
        const float *qi = a.q + (b * a.Tq + i) * a.qs + h * a.D;
        const float *kj = a.k + (b * a.Tk + j) * a.ks + h * a.D;
        const float *vj = a.v + (b * a.Tk + j) * a.vs + h * a.D;
        const float *doi = a.dout + (b * a.Tq + i) * a.os + h * a.D;
        int64_t row = (b * a.H + h) * a.Tq + i;
        float p = expf(att_score(a, qi, kj, h, i, j) - a.lse[row]);
        float dp = 0.0f;
        for (int64_t d = 0; d < a.D; d++) dp += doi[d] * vj[d];
        acc += p * (dp - a.delta[row]);
    }
    a.dbias[r] += acc;
}

static att_args att_make(const cuk_att *p)
{
    att_args a;
    a.B = p->batch; a.H = p->heads; a.Tq = p->q_len; a.Tk = p->kv_len; a.D = p->head_dim;
    a.off = p->kv_len - p->q_len;
    a.causal = p->causal; a.scale = p->scale;
    a.q = p->q; a.k = p->k; a.v = p->v; a.dout = p->dout; a.bias = p->bias; a.lse = p->lse;
    a.delta = p->delta;
    a.out = p->out; a.lsew = p->lse; a.dq = p->dq; a.dk = p->dk; a.dv = p->dv;
    a.dbias = p->dbias; a.deltaw = p->delta;
    a.qs = p->q_row_stride; a.ks = p->k_row_stride; a.vs = p->v_row_stride;
    a.os = p->out_row_stride;
    return a;
}

#define ATT_TPB 128

extern "C" int cuk_attention_forward(cuda_stream_t s, const cuk_att *p)
{
    att_args a = att_make(p);
    size_t rows = (size_t)(a.B * a.H * a.Tq);
    if (rows == 0) return 0;
    k_att_forward<<<(unsigned)((rows + ATT_TPB - 1) / ATT_TPB), ATT_TPB, 0, s>>>(a);
    return launched();
}

extern "C" int cuk_attention_backward(cuda_stream_t s, const cuk_att *p)
{
    att_args a = att_make(p);
    size_t qrows = (size_t)(a.B * a.H * a.Tq), krows = (size_t)(a.B * a.H * a.Tk);
    if (qrows == 0) return 0;
    k_att_backward_dq<<<(unsigned)((qrows + ATT_TPB - 1) / ATT_TPB), ATT_TPB, 0, s>>>(a);
    if ((a.dk || a.dv) && krows)
        k_att_backward_dkv<<<(unsigned)((krows + ATT_TPB - 1) / ATT_TPB), ATT_TPB, 0, s>>>(a);
    if (a.dbias) {
        size_t n = (size_t)(a.H * a.Tq * a.Tk);
        if (n) k_att_backward_dbias<<<(unsigned)((n + ATT_TPB - 1) / ATT_TPB), ATT_TPB, 0, s>>>(a);
    }
    return launched();
}

/* --- conversions: convert.h itself, compiled for the device (convert_dev.h
 * is generated from it by plugins/cuda/local.mk), so the bits are those of
 * the specification. nvcc's default -prec-div=true and -ftz=false keep 1/s
 * and subnormals IEEE, as convert.h requires; nearbyintf and
 * __float2int_rn round half to even like the cpu's nearbyintf/lrintf. --- */

#include "convert_dev.h"

__device__ __forceinline__ int32_t f32_to_i32_dev(float v)
{
    if (v != v) return 0;
    if (v >= 2147483647.0f) return INT32_MAX;
    if (v <= -2147483648.0f) return INT32_MIN;
    return __float2int_rn(v);
}

__global__ void k_convert(int kind, void *dst, const void *src, size_t n, int64_t cols,
                          uint64_t seed, uint64_t offset, const float *scales, int axis)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        switch (kind) {
        case CUK_F16_F32: ((float *)dst)[i] = llmrt_f16_to_f32(((const uint16_t *)src)[i]); break;
        case CUK_BF16_F32: ((float *)dst)[i] = llmrt_bf16_to_f32(((const uint16_t *)src)[i]); break;
        case CUK_F32_F16: ((uint16_t *)dst)[i] = llmrt_f32_to_f16(((const float *)src)[i]); break;
        case CUK_F32_BF16: ((uint16_t *)dst)[i] = llmrt_f32_to_bf16(((const float *)src)[i]); break;
        case CUK_F32_BF16_SR:
            ((uint16_t *)dst)[i] =
                llmrt_f32_to_bf16_sr(((const float *)src)[i], llmrt_sr_bits(seed, offset + i));
            break;
        case CUK_F16_BF16:
            ((uint16_t *)dst)[i] = llmrt_f32_to_bf16(llmrt_f16_to_f32(((const uint16_t *)src)[i]));
            break;
        case CUK_BF16_F16:
            ((uint16_t *)dst)[i] = llmrt_f32_to_f16(llmrt_bf16_to_f32(((const uint16_t *)src)[i]));
            break;
        case CUK_F32_I8:
        case CUK_I8_F32: {
            float sc = scales[axis == 0 ? (int64_t)(i / (size_t)cols)
                              : axis == 1 ? (int64_t)(i % (size_t)cols) : 0];
            if (kind == CUK_F32_I8) {
                float inv = 1.0f / llmrt_quant_scale(sc);
                ((int8_t *)dst)[i] = (int8_t)llmrt_quant_round(((const float *)src)[i], inv,
                                                               LLMRT_I8_QMIN, LLMRT_I8_QMAX);
            } else {
                ((float *)dst)[i] = (float)((const int8_t *)src)[i] * llmrt_quant_scale(sc);
            }
            break;
        }
        case CUK_I32_F32: ((float *)dst)[i] = (float)((const int32_t *)src)[i]; break;
        case CUK_F32_I32: ((int32_t *)dst)[i] = f32_to_i32_dev(((const float *)src)[i]); break;
        }
    }
}

extern "C" int cuk_convert(cuda_stream_t s, int kind, void *dst, const void *src, size_t n,
                           int64_t cols, uint64_t seed, uint64_t offset, const float *scales,
                           int axis)
{
    k_convert<<<grid_for(n, TPB), TPB, 0, s>>>(kind, dst, src, n, cols, seed, offset, scales, axis);
    return launched();
}

/* --- LSQ fake quantization (cpu_fake_quant.c): elementwise forward and dx;
 * dscale sums dout * term in double per channel in a fixed order: axis 0 one
 * block per row, axis 1 one thread per column over the rows in order,
 * axis -1 CUK_SSQ_BLOCKS fixed partial sums then one block. --- */

__device__ __forceinline__ float fq_scale_of(const float *scale, int axis, size_t i,
                                             int64_t cols)
{
    return scale[axis == 0 ? (int64_t)(i / (size_t)cols) : axis == 1 ? (int64_t)(i % (size_t)cols) : 0];
}

__device__ __forceinline__ float lsq_term(float x, float inv, float qmin, float qmax)
{
    float v = x * inv, r = nearbyintf(v);
    return r < qmin ? qmin : r > qmax ? qmax : r - v;
}

__global__ void k_fq_forward(float *out, const float *x, const float *scale, size_t n,
                             int64_t cols, int axis, int qmin, int qmax)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float s = llmrt_quant_scale(fq_scale_of(scale, axis, i, cols)), inv = 1.0f / s;
        out[i] = llmrt_quant_round(x[i], inv, qmin, qmax) * s;
    }
}

__global__ void k_fq_dx(float *dx, const float *x, const float *dy, const float *scale, size_t n,
                        int64_t cols, int axis, float qmin, float qmax)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float inv = 1.0f / llmrt_quant_scale(fq_scale_of(scale, axis, i, cols));
        float r = nearbyintf(x[i] * inv);
        dx[i] += (r >= qmin && r <= qmax) ? dy[i] : 0.0f;
    }
}

__global__ void k_fq_dscale_rows(float *dscale, const float *x, const float *dy,
                                 const float *scale, int64_t cols, float qmin, float qmax,
                                 double g)
{
    __shared__ double sh[TPB];
    int64_t r = blockIdx.x;
    float inv = 1.0f / llmrt_quant_scale(scale[r]);
    double acc = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
        acc += (double)dy[r * cols + j] * (double)lsq_term(x[r * cols + j], inv, qmin, qmax);
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) dscale[r] += (float)(g * acc * llmrt_quant_scale_grad(scale[r]));
}

__global__ void k_fq_dscale_cols(float *dscale, const float *x, const float *dy,
                                 const float *scale, int64_t rows, int64_t cols, float qmin,
                                 float qmax, double g)
{
    int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= cols) return;
    float inv = 1.0f / llmrt_quant_scale(scale[j]);
    double acc = 0.0;
    for (int64_t r = 0; r < rows; r++)
        acc += (double)dy[r * cols + j] * (double)lsq_term(x[r * cols + j], inv, qmin, qmax);
    dscale[j] += (float)(g * acc * llmrt_quant_scale_grad(scale[j]));
}

__global__ void k_fq_dscale_one_partial(double *partial, const float *x, const float *dy,
                                        const float *scale, size_t n, float qmin, float qmax)
{
    __shared__ double sh[TPB];
    float inv = 1.0f / llmrt_quant_scale(scale[0]);
    double acc = 0.0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        acc += (double)dy[i] * (double)lsq_term(x[i], inv, qmin, qmax);
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void k_fq_dscale_one_final(float *dscale, const double *partial, int np,
                                      const float *scale, double g)
{
    __shared__ double sh[TPB];
    double s = 0.0;
    for (int i = threadIdx.x; i < np; i += blockDim.x) s += partial[i];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) dscale[0] += (float)(g * s * llmrt_quant_scale_grad(scale[0]));
}

extern "C" int cuk_fake_quant_forward(cuda_stream_t s, float *out, const float *x,
                                      const float *scale, int64_t rows, int64_t cols, int axis,
                                      int qmin, int qmax)
{
    size_t n = (size_t)(rows * cols);
    k_fq_forward<<<grid_for(n, TPB), TPB, 0, s>>>(out, x, scale, n, cols, axis, qmin, qmax);
    return launched();
}

extern "C" int cuk_fake_quant_backward(cuda_stream_t s, float *dx, float *dscale, const float *x,
                                       const float *dy, const float *scale, int64_t rows,
                                       int64_t cols, int axis, int qmin, int qmax,
                                       float grad_factor, double *partial)
{
    size_t n = (size_t)(rows * cols);
    float fmin = (float)qmin, fmax = (float)qmax;
    double g = (double)grad_factor;
    if (dx) k_fq_dx<<<grid_for(n, TPB), TPB, 0, s>>>(dx, x, dy, scale, n, cols, axis, fmin, fmax);
    if (dscale) {
        if (axis == 0)
            k_fq_dscale_rows<<<(unsigned)rows, TPB, 0, s>>>(dscale, x, dy, scale, cols, fmin, fmax, g);
        else if (axis == 1)
            k_fq_dscale_cols<<<grid_for((size_t)cols, TPB), TPB, 0, s>>>(dscale, x, dy, scale, rows,
                                                                        cols, fmin, fmax, g);
        else {
            k_fq_dscale_one_partial<<<CUK_SSQ_BLOCKS, TPB, 0, s>>>(partial, x, dy, scale, n, fmin,
                                                                   fmax);
            k_fq_dscale_one_final<<<1, TPB, 0, s>>>(dscale, partial, CUK_SSQ_BLOCKS, scale, g);
        }
    }
    return launched();
}
