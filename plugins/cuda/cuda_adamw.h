/* cuda_adamw.h — the launcher of cuda_adamw.cu (fused AdamW), callable from C.
 *
 * cuda_adamw.c checks the descriptor and fills the arguments; the launcher
 * enqueues one kernel on `stream` and returns the launch's cudaError_t as an
 * int (0: launched). Pointers are device memory. */
#ifndef LLMRT_CUDA_ADAMW_H
#define LLMRT_CUDA_ADAMW_H

#include <stddef.h>
#include <stdint.h>

#include "cuda_kernels.h" /* cuda_stream_t */

#ifdef __cplusplus
extern "C" {
#endif

enum cuk_adamw_grad { CUK_ADAMW_GRAD_F32, CUK_ADAMW_GRAD_F16, CUK_ADAMW_GRAD_BF16 };
/* What the updated params are also written as (llmrt_adamw_desc.params_out). */
enum cuk_adamw_out {
    CUK_ADAMW_OUT_NONE,
    CUK_ADAMW_OUT_F16,     /* nearest-even */
    CUK_ADAMW_OUT_BF16,    /* nearest-even */
    CUK_ADAMW_OUT_BF16_SR  /* stochastic: element i uses llmrt_sr_bits(seed, offset + i) */
};

typedef struct cuk_adamw_args {
    size_t n;
    float *p, *m, *v;
    const void *g;
    int grad;              /* enum cuk_adamw_grad */
    float lr, beta1, beta2, eps, wd, grad_scale;
    float inv_bc1, inv_bc2; /* 1 / (1 - beta^t), computed on the host as the cpu does */
    void *out;             /* n 16-bit values, or NULL with CUK_ADAMW_OUT_NONE */
    int out_kind;          /* enum cuk_adamw_out */
    uint64_t seed, offset;
} cuk_adamw_args;

int cuk_adamw(cuda_stream_t s, const cuk_adamw_args *a);

#ifdef __cplusplus
}
#endif
#endif
