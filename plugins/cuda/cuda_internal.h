/* cuda_internal.h — private declarations of the cuda compute backend: the
 * context, error helpers and the kernel entry points of the vtable.
 *
 * The context owns one device (the [cuda] device parameter, default 0), one
 * non-blocking compute stream on which every kernel and copy is enqueued
 * (compute.h rule 4: a NULL stream argument means this one), the cuBLASLt
 * state of cuda_gemm.c (handle, workspace, plan cache), a small device
 * scratch (sum_squares partials) and a work area grown on demand (cuda_work)
 * for kernels whose scratch depends on the sizes.
 * Streams and events made by stream_create/event_create are real cudaStream_t /
 * cudaEvent_t, so a collective can run on a second stream and order itself
 * with events.
 */
#ifndef LLMRT_CUDA_INTERNAL_H
#define LLMRT_CUDA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include <llmrt/llmrt.h>

#include "cuda_kernels.h"

typedef struct cuda_obj cuda_obj; /* a live stream or event, listed for destroy() */
struct cuda_lt;                   /* cuBLASLt handle, workspace, plan cache (cuda_gemm.c) */

typedef struct cuda_ctx {
    const llmrt_host_api *host;
    int device;
    cudaStream_t stream;        /* the compute stream */
    struct cuda_lt *lt;
    double *ssq_scratch;        /* CUK_SSQ_BLOCKS + 1 doubles (sum_squares,
                                   fake_quant_backward axis -1) */
    float *att_scratch;         /* attention_backward's delta, grown on demand */
    size_t att_scratch_floats;
    void *work;                 /* bias_grad's and norm_backward's column
                                   partials, embedding_backward's sort;
                                   grown on demand (cuda_work) */
    size_t work_bytes;
    size_t total_memory;
    double peak_f32, peak_bf16;
    char device_name[1024];
    char peak_source[256];
    cuda_obj *objs;
} cuda_ctx;

/* Records "cuda: WHAT: cudaGetErrorString(err)" and returns LLMRT_ERR_DEVICE
 * (LLMRT_ERR_NOMEM for cudaErrorMemoryAllocation); LLMRT_OK when err is 0. */
int cuda_check(const cuda_ctx *c, int err, const char *what);
int cuda_require_desc(const cuda_ctx *c, const char *kernel, const void *desc, size_t desc_size,
                      size_t need);
/* LLMRT_OK for f32, else LLMRT_ERR_UNSUPPORTED naming the kernel and dtype. */
int cuda_require_f32(const cuda_ctx *c, const char *kernel, llmrt_dtype t);
/* f32, f16 or bf16: LLMRT_OK and *dt the cuk_dtype; any other dtype:
 * LLMRT_ERR_UNSUPPORTED naming the kernel and dtype. */
int cuda_require_float(const cuda_ctx *c, const char *kernel, llmrt_dtype t, int *dt);
/* *work = at least `bytes` of device scratch, c->work (grown, never shrunk;
 * freed by destroy). On failure returns the recorded error code. */
int cuda_work(cuda_ctx *c, size_t bytes, const char *kernel, void **work);
const char *cuda_dtype_name(llmrt_dtype t);
/* The cudaStream_t of an llmrt_stream (NULL: the compute stream). */
cudaStream_t cuda_stream_of(const cuda_ctx *c, llmrt_stream *s);

/* cuda_gemm.c's cuBLASLt state: made at create (after the stream), freed at
 * destroy; create records why it failed. */
int cuda_lt_create(cuda_ctx *c);
void cuda_lt_destroy(cuda_ctx *c);

/* --- kernels (cuda_gemm.c, cuda_adamw.c, cuda_ops.c) --- */
int cuda_gemm(void *ctx, const llmrt_gemm_desc *d);
int cuda_bias_grad(void *ctx, void *dbias, const void *dout, int64_t rows, int64_t cols,
                   llmrt_dtype dtype);
int cuda_norm_forward(void *ctx, const llmrt_norm_desc *d);
int cuda_norm_backward(void *ctx, const llmrt_norm_desc *d);
int cuda_gelu_forward(void *ctx, void *out, const void *inp, size_t n, llmrt_dtype dtype,
                      llmrt_gelu_kind kind);
int cuda_gelu_backward(void *ctx, void *dinp, const void *inp, const void *dout, size_t n,
                       llmrt_dtype dtype, llmrt_gelu_kind kind);
int cuda_attention_forward(void *ctx, const llmrt_attention_desc *d);
int cuda_attention_backward(void *ctx, const llmrt_attention_desc *d);
int cuda_softmax_xent(void *ctx, const llmrt_xent_desc *d);
int cuda_embedding_forward(void *ctx, void *out, const int32_t *ids, const void *table,
                           int64_t rows, int64_t dim, llmrt_dtype dtype, int accumulate);
int cuda_embedding_backward(void *ctx, void *dtable, const int32_t *ids, const void *dout,
                            int64_t rows, int64_t dim, llmrt_dtype dtype);
int cuda_add(void *ctx, void *out, const void *a, const void *b, size_t n, llmrt_dtype dtype);
int cuda_scale(void *ctx, void *x, size_t n, llmrt_dtype dtype, float alpha);
int cuda_sum_squares(void *ctx, const void *x, size_t n, llmrt_dtype dtype, double *result);
int cuda_adamw(void *ctx, const llmrt_adamw_desc *d);
int cuda_convert(void *ctx, void *dst, llmrt_dtype dst_type, const void *src,
                 llmrt_dtype src_type, size_t n);
int cuda_convert_ex(void *ctx, const llmrt_convert_desc *d);
int cuda_fake_quant_forward(void *ctx, const llmrt_fake_quant_desc *d);
int cuda_fake_quant_backward(void *ctx, const llmrt_fake_quant_desc *d);
int cuda_relu_forward(void *ctx, void *out, const void *inp, size_t n, llmrt_dtype dtype);
int cuda_relu_backward(void *ctx, void *dinp, const void *inp, const void *dout, size_t n,
                       llmrt_dtype dtype);
int cuda_mul(void *ctx, void *out, const void *a, const void *b, size_t n, llmrt_dtype dtype);

#endif
