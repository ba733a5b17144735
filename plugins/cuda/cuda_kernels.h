/* cuda_kernels.h — the launchers of cuda_kernels.cu, callable from C.
 *
 * Each enqueues its kernel(s) on `stream` and returns the cudaError_t of the
 * launch as an int (0: launched). Pointers are device memory. fp32 only for
 * now; the C side (cuda_ops.c) checks descriptors and dtypes first. */
#ifndef LLMRT_CUDA_KERNELS_H
#define LLMRT_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st *cuda_stream_t; /* cudaStream_t without cuda_runtime.h */

int cuk_bias_add_rows(cuda_stream_t s, float *c, int64_t ldc, const float *bias, int64_t m,
                      int64_t n, int64_t batch, int64_t stride_c);
int cuk_bias_grad(cuda_stream_t s, float *dbias, const float *dout, int64_t rows, int64_t cols);
int cuk_norm_forward(cuda_stream_t s, float *out, float *mean, float *rstd, const float *x,
                     const float *w, const float *b, int64_t rows, int64_t cols, float eps,
                     int rms);
int cuk_norm_backward(cuda_stream_t s, float *dx, float *dw, float *db, const float *x,
                      const float *w, const float *dy, const float *mean, const float *rstd,
                      int64_t rows, int64_t cols, int rms);
int cuk_gelu_forward(cuda_stream_t s, float *out, const float *inp, size_t n, int kind);
int cuk_gelu_backward(cuda_stream_t s, float *dinp, const float *inp, const float *dout,
                      size_t n, int kind);
int cuk_softmax_xent(cuda_stream_t s, const float *logits, const int32_t *targets,
                     float *losses, float *dlogits, float dloss, int64_t rows, int64_t V,
                     int64_t Vp);
int cuk_embedding_forward(cuda_stream_t s, float *out, const int32_t *ids, const float *table,
                          int64_t rows, int64_t dim, int accumulate);
int cuk_embedding_backward(cuda_stream_t s, float *dtable, const int32_t *ids, const float *dout,
                           int64_t rows, int64_t dim);
int cuk_add(cuda_stream_t s, float *out, const float *a, const float *b, size_t n);
int cuk_scale(cuda_stream_t s, float *x, size_t n, float alpha);
/* partial: device scratch of at least CUK_SSQ_BLOCKS doubles; result: device
 * memory of one double (the final sum). */
#define CUK_SSQ_BLOCKS 1024
int cuk_sum_squares(cuda_stream_t s, const float *x, size_t n, double *partial, double *result);

/* Attention (the fields of llmrt_attention_desc, fp32). delta: device
 * scratch of batch * heads * q_len floats (backward only). head_dim at most
 * CUK_ATT_MAX_D. */
#define CUK_ATT_MAX_D 256
typedef struct cuk_att {
    int64_t batch, heads, q_len, kv_len, head_dim;
    float scale;
    int causal;
    const float *q, *k, *v, *dout, *bias;
    int64_t q_row_stride, k_row_stride, v_row_stride, out_row_stride;
    float *out, *lse, *dq, *dk, *dv, *dbias, *delta;
} cuk_att;
int cuk_attention_forward(cuda_stream_t s, const cuk_att *p);
int cuk_attention_backward(cuda_stream_t s, const cuk_att *p);

/* Elementwise conversions (convert.h rules), one kind per supported pair. */
enum cuk_conv_kind {
    CUK_F16_F32, CUK_BF16_F32, CUK_F32_F16, CUK_F32_BF16, CUK_F32_BF16_SR, CUK_F16_BF16,
    CUK_BF16_F16, CUK_F32_I8, CUK_I8_F32, CUK_I32_F32, CUK_F32_I32
};
/* n = rows * cols elements; i8: scales per row (axis 0), per column (axis 1)
 * or one (axis -1); stochastic: element i uses llmrt_sr_bits(seed, offset + i). */
int cuk_convert(cuda_stream_t s, int kind, void *dst, const void *src, size_t n, int64_t cols,
                uint64_t seed, uint64_t offset, const float *scales, int axis);

/* LSQ fake quantization (compute.h llmrt_fake_quant_desc, fp32); partial:
 * CUK_SSQ_BLOCKS doubles of scratch (axis -1). */
int cuk_fake_quant_forward(cuda_stream_t s, float *out, const float *x, const float *scale,
                           int64_t rows, int64_t cols, int axis, int qmin, int qmax);
int cuk_fake_quant_backward(cuda_stream_t s, float *dx, float *dscale, const float *x,
                            const float *dy, const float *scale, int64_t rows, int64_t cols,
                            int axis, int qmin, int qmax, float grad_factor, double *partial);

#ifdef __cplusplus
}
#endif
#endif
