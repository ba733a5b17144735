/* cuda_kernels.cu — the number-format kernels of the cuda compute backend:
 * conversions (convert.h compiled for the device) and LSQ fake quantization.
 * (Norm, GELU/ReLU and the elementwise ops, softmax_xent, embedding and the
 * reductions live in cuda_norm.cu, cuda_elementwise.cu, cuda_xent.cu,
 * cuda_embedding.cu and cuda_reduce.cu; attention in cuda_attention.cu;
 * AdamW in cuda_adamw.cu.)
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
