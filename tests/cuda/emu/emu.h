/* emu.h — just enough of CUDA, emulated on the host, to run the kernels of
 * plugins/cuda/cuda_attention.cu on a machine without a GPU (tests/cuda/emu/run).
 *
 * One block runs at a time; its threads are cooperative fibers (ucontext)
 * run round-robin, each until it waits at a barrier. __syncthreads and
 * __syncwarp are real barriers (a fiber waits until every member arrived),
 * shuffles and mma.sync exchange values through per-warp slots, and the
 * dynamic shared memory of a launch is a fresh heap buffer of exactly the
 * launched size filled with garbage, so AddressSanitizer sees an overrun.
 * transform.py rewrites the .cu file to use this header: the inline PTX
 * (cvt, mma) becomes emu_* calls and <<<grid, block, smem, s>>> launches
 * become emu_launch(). What it cannot show: alignment faults, speed, and the
 * accumulation order inside a real tensor core. */
#ifndef LLMRT_TESTS_CUDA_EMU_H
#define LLMRT_TESTS_CUDA_EMU_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tuple>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(x)

struct uint4 {
    unsigned x, y, z, w;
};
static inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d)
{
    return uint4{a, b, c, d};
}
struct emu_dim3 {
    unsigned x, y, z;
};
extern emu_dim3 blockIdx, blockDim;
extern emu_dim3 *emu_thread; /* the running fiber's threadIdx */
#define threadIdx (*emu_thread)

struct CUstream_st;
typedef CUstream_st *cudaStream_t;
enum { cudaFuncAttributeMaxDynamicSharedMemorySize = 1 };
/* H100's opt-in limit: a kernel asking for more fails as on the device. */
template <typename K> int cudaFuncSetAttribute(K, int, int bytes)
{
    return bytes > 227 * 1024 ? 1 : 0;
}
static inline int cudaGetLastError(void) { return 0; }

extern void *emu_smem; /* the running block's dynamic shared memory */
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
void emu_run_block(unsigned block, unsigned threads, size_t smem, emu_body body, void *arg);

/* kernel<<<grid, block, smem>>>(args...): the blocks one after another. */
template <typename K, typename... A>
void emu_launch(K kernel, unsigned grid, unsigned block, size_t smem, A... args)
{
    struct call {
        K k;
        std::tuple<A...> args;
    } c{kernel, std::tuple<A...>(args...)};
    for (unsigned b = 0; b < grid; b++)
        emu_run_block(b, block, smem,
                      [](void *p) {
                          call *cp = (call *)p;
                          std::apply(cp->k, cp->args);
                      },
                      &c);
}

#endif
