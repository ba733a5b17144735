/* cuda_attention.h — the launchers of cuda_attention.cu (tiled, flash-style
 * attention, fp32 / bf16 / f16), callable from C.
 *
 * The fields are those of llmrt_attention_desc (compute.h); cuda_ops.c checks
 * the descriptor first. Pointers are device memory; q, k, v, out, dout, dq,
 * dk, dv hold `dtype` values, lse, bias, dbias and delta are fp32. Each
 * launcher enqueues its kernels on `stream` and returns the cudaError_t of
 * the launches as an int (0: launched). */
#ifndef LLMRT_CUDA_ATTENTION_H
#define LLMRT_CUDA_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "cuda_kernels.h" /* cuda_stream_t */

#ifdef __cplusplus
extern "C" {
#endif

enum cuk_flash_dtype { CUK_FLASH_F32 = 0, CUK_FLASH_BF16 = 1, CUK_FLASH_F16 = 2 };

/* Largest head_dim, and the smallest tile of query or key rows any kernel
 * uses (the host bounds the grid with it: one block per tile). */
#define CUK_FLASH_MAX_D 256
#define CUK_FLASH_MIN_TILE 32

typedef struct cuk_flash {
    int64_t batch, heads, q_len, kv_len, head_dim;
    int dtype; /* a cuk_flash_dtype */
    float scale;
    int causal;
    const void *q, *k, *v;
    int64_t q_row_stride, k_row_stride, v_row_stride, out_row_stride;
    const float *bias; /* optional [heads, q_len, kv_len] */
    void *out;         /* forward: written; backward: read for delta when not NULL */
    float *lse;        /* [batch, heads, q_len] */
    const void *dout;
    void *dq, *dk, *dv; /* each optional; added into */
    float *dbias;       /* optional, added into */
    float *delta;       /* backward scratch: batch * heads * q_len floats */
} cuk_flash;

int cuk_flash_forward(cuda_stream_t s, const cuk_flash *p);
int cuk_flash_backward(cuda_stream_t s, const cuk_flash *p);

#ifdef __cplusplus
}
#endif
#endif
