/* emu.h — just enough of CUDA, emulated on the host, to run the kernel files
 * plugins/cuda/cuda_*.cu on a machine without a GPU (tests/cuda/emu/run).
 *
 * One block runs at a time; its threads are cooperative fibers (ucontext)
 * run round-robin, each until it waits at a barrier. __syncthreads and
 * __syncwarp are real barriers (a fiber waits until every member arrived),
 * shuffles and mma.sync exchange values through per-warp slots, and the
 * dynamic shared memory of a launch is a fresh heap buffer of exactly the
 * launched size filled with garbage, so AddressSanitizer sees an overrun;
 * so is each static __shared__ array (one per block, not per thread). A
 * launch with a configuration the device rejects (more than 1024 threads,
 * an empty grid, grid.y above 65535, too much shared memory) runs nothing
 * and sets the error cudaGetLastError returns, as on the device.
 * transform.py rewrites the .cu file to use this header: the inline PTX
 * (cvt, mma) becomes emu_* calls and <<<grid, block, smem, s>>> launches
 * become emu_launch(). The vector types carry their device alignment, so
 * UBSan's -fsanitize=alignment reports a misaligned 16-byte load. What it
 * cannot show: speed, the memory model of real concurrent warps, and the
 * accumulation order inside a real tensor core. */
#ifndef LLMRT_TESTS_CUDA_EMU_H
#define LLMRT_TESTS_CUDA_EMU_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <tuple>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __align__(n) alignas(n)

/* The vector types with their device alignment. */
struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) ushort4 {
    unsigned short x, y, z, w;
};
static inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d)
{
    return uint4{a, b, c, d};
}
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
extern dim3 blockIdx, blockDim, gridDim;
extern dim3 *emu_thread; /* the running fiber's threadIdx */
#define threadIdx (*emu_thread)

struct CUstream_st;
typedef CUstream_st *cudaStream_t;
enum { cudaFuncAttributeMaxDynamicSharedMemorySize = 1 };
/* H100's opt-in limit: a kernel asking for more fails as on the device. */
template <typename K> int cudaFuncSetAttribute(K, int, int bytes)
{
    return bytes > 227 * 1024 ? 1 : 0;
}
enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorInvalidConfiguration = 9
};
extern cudaError_t emu_last_error; /* of the last launch, as cudaGetLastError */
static inline cudaError_t cudaGetLastError(void)
{
    cudaError_t e = emu_last_error;
    emu_last_error = cudaSuccess;
    return e;
}
/* __float2int_rn: round half to even (the host's default rounding mode). */
static inline int __float2int_rn(float x) { return (int)nearbyintf(x); }

extern void *emu_smem; /* the running block's dynamic shared memory */
/* `__shared__ T a[n];` (transform.py): the block's k-th static array for
 * the k-th such declaration a thread executes, allocated by the first. */
void *emu_static_shared(size_t bytes);
void emu_sync_block(void);
void emu_sync_warp(void);
float emu_shfl_xor(float v, int lane_mask);
/* c += A B for the m16n8k16 fragments of this lane (a: 4 registers of two
 * 16-bit values, b: 2), A and B bf16 (bf16 = 1) or f16. */
void emu_mma(int bf16, float c[4], const uint32_t a[4], const uint32_t b[2]);
#define __syncthreads() emu_sync_block()
#define __syncwarp() emu_sync_warp()
#define __shfl_xor_sync(mask, v, m) emu_shfl_xor((v), (m))

typedef void (*emu_body)(void *);
void emu_run_block(dim3 block, unsigned threads, size_t smem, emu_body body, void *arg);
/* Whether the device accepts this launch configuration (else the error). */
bool emu_launch_ok(dim3 grid, dim3 block, size_t smem);

/* kernel<<<grid, block, smem>>>(args...): the arguments converted to the
 * kernel's parameter types (as a launch copies them), then the blocks one
 * after another, x fastest. */
template <typename... P, typename... A>
void emu_launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, A &&...args)
{
    if (!emu_launch_ok(grid, block, smem)) return;
    struct call {
        void (*k)(P...);
        std::tuple<P...> args;
    } c{kernel, std::tuple<P...>(std::forward<A>(args)...)};
    gridDim = grid;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++)
                emu_run_block(dim3(x, y, z), block.x, smem,
                              [](void *p) {
                                  call *cp = (call *)p;
                                  std::apply(cp->k, cp->args);
                              },
                              &c);
}

/* cub::DeviceRadixSort::SortPairs: a stable sort of (key, value) pairs by
 * the key bits [begin_bit, end_bit), ascending; with d_temp NULL it only
 * reports the temporary storage it needs, and it fails with
 * cudaErrorInvalidValue when given less. The pairs are staged in the
 * temporary storage, so ASan sees a caller that passes a shorter buffer
 * than it claims. */
namespace cub {
struct DeviceRadixSort {
    template <typename K, typename V>
    static cudaError_t SortPairs(void *d_temp, size_t &temp_bytes, const K *keys_in, K *keys_out,
                                 const V *values_in, V *values_out, int n, int begin_bit = 0,
                                 int end_bit = (int)sizeof(K) * 8, cudaStream_t = 0)
    {
        struct pair {
            K k;
            V v;
        };
        const size_t need = (size_t)(n > 0 ? n : 0) * sizeof(pair) + 256;
        if (!d_temp) {
            temp_bytes = need;
            return cudaSuccess;
        }
        if (temp_bytes < need || n < 0 || begin_bit < 0 || end_bit > (int)sizeof(K) * 8 ||
            begin_bit >= end_bit)
            return cudaErrorInvalidValue;
        pair *w = (pair *)d_temp;
        for (int i = 0; i < n; i++) w[i] = pair{keys_in[i], values_in[i]};
        const unsigned long long mask =
            (end_bit - begin_bit >= 64 ? ~0ull : (1ull << (end_bit - begin_bit)) - 1)
            << begin_bit;
        std::stable_sort(w, w + n, [mask](const pair &a, const pair &b) {
            return ((unsigned long long)a.k & mask) < ((unsigned long long)b.k & mask);
        });
        for (int i = 0; i < n; i++) {
            keys_out[i] = w[i].k;
            values_out[i] = w[i].v;
        }
        return cudaSuccess;
    }
};
} /* namespace cub */

#endif
