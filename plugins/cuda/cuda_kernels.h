/* cuda_kernels.h — the launchers of the kernel files (cuda_*.cu), callable
 * from C.
 *
 * Each enqueues its kernel(s) on `stream` and returns the cudaError_t of the
 * launch as an int (0: launched). Pointers are device memory. Launchers
 * that take a cuk_dtype `dt` handle f32, f16 and bf16; the others are fp32.
 * The C side (cuda_ops.c) checks descriptors and dtypes first. */
#ifndef LLMRT_CUDA_KERNELS_H
#define LLMRT_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st *cuda_stream_t; /* cudaStream_t without cuda_runtime.h */

/* The storage dtype of a kernel's tensors (cuda_ops.c maps llmrt_dtype):
 * 16-bit values are widened to fp32, computed in fp32 and rounded back with
 * convert.h nearest-even on every store (compute.h rules 7-8). */
typedef enum cuk_dtype { CUK_DT_F32 = 0, CUK_DT_F16 = 1, CUK_DT_BF16 = 2 } cuk_dtype;

/* cuda_reduce.cu. bias_grad needs cuk_bias_grad_scratch bytes of device
 * scratch. sum_squares: partial, device scratch of at least CUK_SSQ_BLOCKS
 * doubles; result, device memory of one double (the final sum). */
#define CUK_SSQ_BLOCKS 1024
size_t cuk_bias_grad_scratch(int64_t rows, int64_t cols);
int cuk_bias_grad(cuda_stream_t s, int dt, void *dbias, const void *dout, int64_t rows,
                  int64_t cols, void *scratch);
int cuk_sum_squares(cuda_stream_t s, int dt, const void *x, size_t n, double *partial,
                    double *result);

/* cuda_norm.cu. The backward's dweight/dbias need cuk_norm_backward_scratch
 * bytes of device scratch (0 when neither is wanted). */
int cuk_norm_forward(cuda_stream_t s, int dt, void *out, float *mean, float *rstd, const void *x,
                     const void *w, const void *b, int64_t rows, int64_t cols, float eps,
                     int rms);
size_t cuk_norm_backward_scratch(int64_t rows, int64_t cols);
int cuk_norm_backward(cuda_stream_t s, int dt, void *dx, void *dw, void *db, const void *x,
                      const void *w, const void *dy, const float *mean, const float *rstd,
                      int64_t rows, int64_t cols, int rms, void *scratch);

/* cuda_elementwise.cu: n elements, any n (grid-stride, 64-bit indices). */
int cuk_gelu_forward(cuda_stream_t s, int dt, void *out, const void *inp, size_t n, int kind);
int cuk_gelu_backward(cuda_stream_t s, int dt, void *dinp, const void *inp, const void *dout,
                      size_t n, int kind);
int cuk_relu_forward(cuda_stream_t s, int dt, void *out, const void *inp, size_t n);
int cuk_relu_backward(cuda_stream_t s, int dt, void *dinp, const void *inp, const void *dout,
                      size_t n);
int cuk_add(cuda_stream_t s, int dt, void *out, const void *a, const void *b, size_t n);
int cuk_mul(cuda_stream_t s, int dt, void *out, const void *a, const void *b, size_t n);
int cuk_scale(cuda_stream_t s, int dt, void *x, size_t n, float alpha);

/* cuda_xent.cu: logits/dlogits of dt, losses fp32. rows < 2^31. */
int cuk_softmax_xent(cuda_stream_t s, int dt, const void *logits, const int32_t *targets,
                     float *losses, void *dlogits, float dloss, int64_t rows, int64_t V,
                     int64_t Vp);

/* cuda_embedding.cu. The backward sorts (id, position) pairs and needs
 * cuk_embedding_backward_scratch(rows) bytes of device scratch; rows < 2^31. */
int cuk_embedding_forward(cuda_stream_t s, int dt, void *out, const int32_t *ids,
                          const void *table, int64_t rows, int64_t dim, int accumulate);
size_t cuk_embedding_backward_scratch(int64_t rows);
int cuk_embedding_backward(cuda_stream_t s, int dt, void *dtable, const int32_t *ids,
                           const void *dout, int64_t rows, int64_t dim, void *scratch,
                           size_t scratch_bytes);


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
