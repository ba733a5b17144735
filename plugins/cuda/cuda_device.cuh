/* cuda_device.cuh — device helpers shared by the kernel files of the cuda
 * backend: launch sizing, fixed-tree block reductions, and the storage types
 * f32 / f16 / bf16 with their widening and rounding.
 *
 * 16-bit tensors follow compute.h rules 7-8 exactly as the cpu backend does:
 * every value is widened to fp32 when it is loaded, arithmetic is fp32, and
 * every store rounds with convert.h's nearest-even (convert_dev.h is
 * convert.h compiled for the device, so the bits are the specification's).
 */
#ifndef LLMRT_CUDA_DEVICE_CUH
#define LLMRT_CUDA_DEVICE_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "convert_dev.h"
#include "cuda_kernels.h"

#define TPB 256

/* Blocks for a grid-stride loop over n items. Capped (the loops stride), so
 * any n fits the grid limits; 64-bit counters inside the loops. */
static inline unsigned grid_for(size_t n, unsigned tpb)
{
    size_t g = (n + tpb - 1) / tpb;
    return g > 65535u * 16u ? 65535u * 16u : (unsigned)(g ? g : 1);
}

static inline int launched(void) { return (int)cudaGetLastError(); }

static inline int aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* Column sums over many rows (bias_grad, norm dweight/dbias) run in two
 * deterministic passes: the rows are cut into at most CUK_ROW_CHUNKS chunks
 * of at least CUK_ROW_CHUNK_MIN rows (a function of rows only, never of the
 * device); one thread per (chunk, column) sums its chunk's rows in order,
 * then one thread per column adds the chunk sums in chunk order. */
#define CUK_ROW_CHUNKS 256
#define CUK_ROW_CHUNK_MIN 64

static inline int64_t row_chunk_rows(int64_t rows)
{
    int64_t chunks = (rows + CUK_ROW_CHUNK_MIN - 1) / CUK_ROW_CHUNK_MIN;
    if (chunks > CUK_ROW_CHUNKS) chunks = CUK_ROW_CHUNKS;
    if (chunks < 1) chunks = 1;
    return (rows + chunks - 1) / chunks;
}

/* ceil(rows / row_chunk_rows(rows)): at most CUK_ROW_CHUNKS, and every
 * chunk holds at least one row. */
static inline int64_t row_chunks(int64_t rows)
{
    int64_t per = row_chunk_rows(rows);
    return per > 0 ? (rows + per - 1) / per : 1;
}

/* Block-wide sum (blockDim.x a power of two, sh of blockDim.x entries), the
 * same tree every time. The result is returned to every thread. */
template <typename T> __device__ T block_sum(T v, T *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    T r = sh[0];
    __syncthreads();
    return r;
}

__device__ __forceinline__ float block_max(float v, float *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    float r = sh[0];
    __syncthreads();
    return r;
}

/* --- storage types: distinct types for the two 16-bit formats, so that
 * overloads pick the right conversion --- */

struct f16_t {
    uint16_t bits;
};
struct bf16_t {
    uint16_t bits;
};

__device__ __forceinline__ float widen(float x) { return x; }
__device__ __forceinline__ float widen(f16_t x) { return llmrt_f16_to_f32(x.bits); }
__device__ __forceinline__ float widen(bf16_t x) { return llmrt_bf16_to_f32(x.bits); }

template <typename T> __device__ __forceinline__ T narrow(float x);
template <> __device__ __forceinline__ float narrow<float>(float x) { return x; }
template <> __device__ __forceinline__ f16_t narrow<f16_t>(float x)
{
    return f16_t{llmrt_f32_to_f16(x)};
}
template <> __device__ __forceinline__ bf16_t narrow<bf16_t>(float x)
{
    return bf16_t{llmrt_f32_to_bf16(x)};
}

/* 16 bytes of T: one 128-bit load or store. Only for 16-byte aligned
 * addresses (the launchers check). */
template <typename T> struct __align__(16) pack16 {
    static constexpr int N = 16 / (int)sizeof(T);
    T v[N];
};

/* Row-wise kernels (one block per row) read a row of n values with
 * row_read: f(j, widened value) for every j < n, thread threadIdx.x taking
 * the 16-byte packs threadIdx.x, + blockDim.x, ... when vec (the row starts
 * 16-byte aligned), then the n % N tail one element at a time. Which thread
 * sees which j depends only on n, vec and blockDim.x, so the block sums
 * built on it stay deterministic. */
template <typename T, typename F>
__device__ __forceinline__ void row_read(const T *row, int64_t n, int vec, F &&f)
{
    typedef pack16<T> P;
    const int64_t packs = vec ? n / P::N : 0;
    for (int64_t q = threadIdx.x; q < packs; q += blockDim.x) {
        P p = reinterpret_cast<const P *>(row)[q];
#pragma unroll
        for (int k = 0; k < P::N; k++) f(q * P::N + k, widen(p.v[k]));
    }
    for (int64_t j = packs * P::N + threadIdx.x; j < n; j += blockDim.x) f(j, widen(row[j]));
}

/* Whether a row-wise kernel may use packs: every row pointer it touches is
 * 16-byte aligned (the bases are, and a row is a whole number of packs). */
template <typename T> static inline int rows_vec(int64_t row_len, const void *const *ptrs, int np)
{
    if ((row_len * (int64_t)sizeof(T)) % 16 != 0) return 0;
    for (int i = 0; i < np; i++)
        if (ptrs[i] && !aligned16(ptrs[i])) return 0;
    return 1;
}

/* fn<float>(...), fn<f16_t>(...) or fn<bf16_t>(...) by a cuk_dtype. */
#define CUK_BY_DTYPE(dt, fn, ...)                                                              \
    ((dt) == CUK_DT_F16    ? fn<f16_t>(__VA_ARGS__)                                          \
     : (dt) == CUK_DT_BF16 ? fn<bf16_t>(__VA_ARGS__)                                         \
                           : fn<float>(__VA_ARGS__))

#endif
