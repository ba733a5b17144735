/* llmrt/compute.h — the compute backend interface.
 *
 * A compute backend owns device memory, streams and events, and every kernel
 * the model and the optimizer need. The core holds it as {vtable, ctx} and
 * never looks behind the pointers it returns.
 *
 * Memory:
 *  1. alloc() returns a device address. Addresses may be offset with ordinary
 *     pointer arithmetic (a rank's shard is a slice of a flat buffer) but are
 *     dereferenced on the host only when caps.host_addressable is 1.
 *  2. The caller owns what alloc() returns and gives it back with free(). The
 *     core accounts every allocation by llmrt_mem_category; backends do not.
 *  3. alloc(0) returns a valid, unique address or NULL with LLMRT_OK.
 *
 * Execution and streams:
 *  4. Kernels and copies are enqueued on the backend's compute stream, in
 *     order. A stream argument of NULL means the compute stream. A backend
 *     that executes synchronously (cpu) may complete work before returning;
 *     callers must still synchronise before reading results on the host.
 *  5. copy_to_host() and sum_squares() return only when their result is in
 *     host memory.
 *  6. A context is used by one host thread at a time. Backends may use
 *     threads of their own inside a call (cpu: OpenMP).
 *
 * Kernels:
 *  7. Matrices are row-major. Every kernel accumulates in fp32 (or wider)
 *     whatever the storage dtype. A backend that does not implement a dtype
 *     for a kernel returns LLMRT_ERR_UNSUPPORTED with a message naming the
 *     backend, the kernel and the dtype.
 *  8. Backward kernels ADD (+=) into every gradient they produce, input and
 *     parameter gradients alike; the caller zeroes them. The one exception is
 *     softmax_xent, whose dlogits output is overwritten (it may alias logits).
 *     ABI 1.1: a backend that takes f16/bf16 stores and reads them in that
 *     format (convert.h rounding on every write) and may compute in fp32 in
 *     between. Per-row statistics (norm mean/rstd, attention lse, xent
 *     losses) stay fp32 whatever the dtype. gemm operands may each have
 *     their own type.
 *  9. Results are deterministic: the same inputs and the same thread count
 *     give bit-identical outputs (no atomics whose order varies).
 * 10. Descriptors (llmrt_*_desc) start with struct_size, like vtables, so
 *     that they can grow; a backend reads only the members it knows.
 */
#ifndef LLMRT_COMPUTE_H
#define LLMRT_COMPUTE_H

#include <llmrt/types.h>
#include <llmrt/host.h>
#include <llmrt/format.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llmrt_stream llmrt_stream; /* opaque, backend-defined */
typedef struct llmrt_event llmrt_event;   /* opaque, backend-defined */

typedef struct llmrt_compute_caps {
    size_t struct_size;
    const char *device_name;    /* "cpu: AMD EPYC (2 threads)", "NVIDIA H100" */
    int host_addressable;       /* device addresses are host pointers          */
    size_t total_memory;        /* bytes usable for buffers, 0 if unknown      */
    double peak_flops_f32;      /* dense peak for MFU, FLOP/s; 0 if unknown    */
    double peak_flops_bf16;     /* 0 if unknown or not supported               */
    const char *peak_source;    /* where the peak came from, for the log       */
    /* ABI 1.2 (0 in a backend built against an older SDK: its caps struct is
     * shorter, and the core zeroes what the backend does not write). */
    uint32_t gemm_epilogues;    /* bit (1u << e) for each llmrt_gemm_epilogue e  */
    int adamw_params_out;       /* adamw honours llmrt_adamw_desc.params_out     */
} llmrt_compute_caps;

/* ABI 1.2. What gemm applies to alpha op(A) op(B) + beta C + bias before it
 * stores C. LLMRT_EPILOGUE_GELU: C = gelu(that), with gemm_desc.gelu_kind;
 * when gemm_desc.pre_gelu is not NULL it receives the value before the GELU
 * (m x n, ldc, c_type) for the backward. A backend lists the epilogues it
 * implements in caps.gemm_epilogues; the core uses no other. */
typedef enum llmrt_gemm_epilogue {
    LLMRT_EPILOGUE_NONE = 0,
    LLMRT_EPILOGUE_GELU = 1,
} llmrt_gemm_epilogue;

/* C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b] (+ bias), b < batch.
 * op(X) is X or X^T; op(A) is m x k, op(B) is k x n, C is m x n. */
typedef struct llmrt_gemm_desc {
    size_t struct_size;
    int trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    const void *a; int64_t lda; llmrt_dtype a_type;
    const void *b; int64_t ldb; llmrt_dtype b_type;
    void *c;       int64_t ldc; llmrt_dtype c_type;
    const void *bias;           /* optional: n values of c_type added to every row */
    int64_t batch;              /* 0 or 1: a single product */
    int64_t stride_a, stride_b, stride_c; /* elements between batch entries */
    /* ABI 1.2 */
    llmrt_gemm_epilogue epilogue;
    int gelu_kind;              /* an llmrt_gelu_kind */
    void *pre_gelu;             /* optional, with LLMRT_EPILOGUE_GELU */
} llmrt_gemm_desc;

/* LayerNorm (or RMSNorm when rms != 0) over the last dimension of a
 * rows x cols input. Forward writes out, mean (not for rms) and rstd;
 * backward reads inp, weight, mean, rstd, dout and adds into dinp, dweight
 * and dbias (rule 8). */
typedef struct llmrt_norm_desc {
    size_t struct_size;
    int64_t rows, cols;
    float eps;
    int rms;                   /* 1: RMSNorm (no mean, no bias)              */
    llmrt_dtype dtype;         /* of inp, out, weight, bias and their grads  */
    const void *inp;
    const void *weight;
    const void *bias;          /* NULL: no bias                              */
    void *out;
    float *mean;               /* rows fp32 values; NULL when rms            */
    float *rstd;               /* rows fp32 values                           */
    /* backward */
    const void *dout;
    void *dinp, *dweight, *dbias;
} llmrt_norm_desc;

typedef enum llmrt_gelu_kind {
    LLMRT_GELU_TANH = 0, /* GPT-2: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
    LLMRT_GELU_ERF = 1   /* BERT: 0.5x(1+erf(x/sqrt(2)))                   */
} llmrt_gelu_kind;

/* Scaled dot-product attention over [batch, len, heads * head_dim] tensors
 * addressed by row strides (so q, k and v may be slices of one fused qkv
 * row). Head h of position t in batch b of q is at
 *   q + (b * q_len + t) * q_row_stride + h * head_dim.
 * Forward writes out and lse (the log-sum-exp of each score row, fp32,
 * [batch, heads, q_len]); backward recomputes the probabilities from q, k and
 * lse (no q_len x kv_len matrix is kept between the two) and adds into dq, dk,
 * dv and dbias. */
typedef struct llmrt_attention_desc {
    size_t struct_size;
    int64_t batch, heads, q_len, kv_len, head_dim;
    llmrt_dtype dtype;
    float scale;               /* multiplies q.k; GPT-2/BERT: 1/sqrt(head_dim), T5: 1 */
    int causal;                /* query i sees keys j <= i + (kv_len - q_len)   */
    const void *q; int64_t q_row_stride;
    const void *k; int64_t k_row_stride;
    const void *v; int64_t v_row_stride;
    void *out;     int64_t out_row_stride;
    float *lse;
    const float *bias;         /* optional additive fp32 [heads, q_len, kv_len]
                                  (T5 relative positions), shared by the batch */
    /* backward (dq, dk, dv use the strides of q, k, v) */
    const void *dout;
    void *dq, *dk, *dv;
    float *dbias;              /* optional, [heads, q_len, kv_len], summed over batch */
} llmrt_attention_desc;

/* Fused softmax + cross-entropy over rows of `vocab` logits stored with a row
 * stride of `padded_vocab` (columns past vocab are ignored and, in dlogits,
 * set to 0). losses[i] = -log softmax(logits[i])[targets[i]], or 0 when
 * targets[i] < 0 (ignored row). When dlogits is not NULL it is overwritten
 * with dloss * (softmax - onehot) (0 on ignored rows); it may equal logits. */
typedef struct llmrt_xent_desc {
    size_t struct_size;
    int64_t rows, vocab, padded_vocab;
    llmrt_dtype dtype;         /* of logits and dlogits */
    const void *logits;
    const int32_t *targets;    /* device memory, rows values */
    float *losses;             /* device memory, rows fp32 values */
    void *dlogits;
    float dloss;
} llmrt_xent_desc;

/* AdamW with decoupled weight decay (Loshchilov & Hutter), on n elements:
 *   g = grads * grad_scale
 *   m = beta1 m + (1-beta1) g;  v = beta2 v + (1-beta2) g^2
 *   p -= lr * ( (m / (1-beta1^t)) / (sqrt(v / (1-beta2^t)) + eps) + weight_decay * p )
 * params, m and v are fp32; grads are grad_type. t starts at 1. */
typedef struct llmrt_adamw_desc {
    size_t struct_size;
    size_t n;
    float *params;
    const void *grads; llmrt_dtype grad_type;
    float *m, *v;
    float lr, beta1, beta2, eps, weight_decay, grad_scale;
    int64_t t;
    /* ABI 1.2, when caps.adamw_params_out: if params_out is not NULL, the
     * updated params[i] are also written to params_out[i] converted to
     * params_out_type (f16 or bf16) with `rounding`; stochastic rounding uses
     * llmrt_sr_bits(seed, offset + i), exactly as convert_ex does, so that
     * the fused step equals adamw followed by convert_ex bit for bit. */
    void *params_out; llmrt_dtype params_out_type;
    llmrt_rounding rounding;
    uint64_t seed, offset;
} llmrt_adamw_desc;

/* ABI 1.1. Elementwise conversion with the rules of convert.h. dst and src
 * are device memory of n = rows * cols values (a row-major matrix; rows = 1
 * for a flat vector). Supported pairs: any of f32, f16, bf16 to any of them;
 * f32 -> i8 and i8 -> f32 with `scales`; i32 <-> f32 as convert() does.
 *  - rounding: LLMRT_ROUND_NEAREST_EVEN, or LLMRT_ROUND_STOCHASTIC for
 *    f32 -> bf16, where element i (row-major index within this call) uses
 *    llmrt_sr_bits(seed, offset + i).
 *  - i8: scales (device memory, fp32) holds one scale per row (axis 0), per
 *    column (axis 1) or one for the whole matrix (axis -1); the int8 range
 *    is [LLMRT_I8_QMIN, LLMRT_I8_QMAX]. */
typedef struct llmrt_convert_desc {
    size_t struct_size;
    int64_t rows, cols;
    void *dst;       llmrt_dtype dst_type;
    const void *src; llmrt_dtype src_type;
    llmrt_rounding rounding;
    uint64_t seed, offset;
    const float *scales;
    int axis;
} llmrt_convert_desc;

/* ABI 1.1. Fake quantization with a learned step size (LSQ, Esser et al.
 * 2019, arXiv 1902.08153) of a rows x cols row-major fp32 matrix x with one
 * scale per row (axis 0), per column (axis 1) or one (axis -1); s is the
 * effective scale llmrt_quant_scale(scale[c]) and v = x * (1/s):
 *   forward:  out = clamp(round_half_even(v), qmin, qmax) * s
 *   backward: dx += dout                        where qmin <= round(v) <= qmax
 *             dscale[c] += grad_factor * sum over the channel of dout *
 *                 (round(v) - v   inside the range,
 *                  qmin or qmax   where clamped below or above)
 * times llmrt_quant_scale_grad(scale[c]) (so the gradient is with respect
 * to the stored scale: its sign, 0 where the eps clamp holds it)
 * (the straight-through estimator for x, the LSQ gradient for the step;
 * grad_factor is LSQ's g = 1 / sqrt(N * qmax), N the channel's element
 * count). out may alias x. dx or dscale may be NULL (not wanted). The sum
 * over a channel is accumulated in fp32 or wider in a fixed order (rule 9). */
typedef struct llmrt_fake_quant_desc {
    size_t struct_size;
    int64_t rows, cols;
    int axis;
    int qmin, qmax;
    const float *x;
    const float *scale;
    float *out;
    /* backward */
    const float *dout;
    float *dx;
    float *dscale;
    float grad_factor;
} llmrt_fake_quant_desc;

typedef struct llmrt_compute_vtable {
    size_t struct_size;

    /* --- lifecycle --- */
    /* Read parameters through host->param_*(params, ...), set up the device
     * and return a context in *ctx. On failure record why and return non-zero;
     * *ctx is then untouched. */
    int (*create)(const llmrt_host_api *host, llmrt_params *params, void **ctx);
    void (*destroy)(void *ctx); /* frees everything the context still holds */
    int (*get_caps)(void *ctx, llmrt_compute_caps *caps);

    /* --- memory (rules 1-3) --- */
    int (*alloc)(void *ctx, size_t bytes, void **ptr);
    void (*free)(void *ctx, void *ptr); /* NULL is a no-op */
    int (*copy_to_device)(void *ctx, void *dst, const void *host_src, size_t bytes,
                          llmrt_stream *stream);
    int (*copy_to_host)(void *ctx, void *host_dst, const void *src, size_t bytes,
                        llmrt_stream *stream);
    int (*copy)(void *ctx, void *dst, const void *src, size_t bytes, llmrt_stream *stream);
    int (*memset)(void *ctx, void *dst, int value, size_t bytes, llmrt_stream *stream);
    /* Page-locked host memory for staging transfers (a collective that cannot
     * take device addresses is fed through it). Backends without such a notion
     * return ordinary host memory. */
    int (*host_alloc_pinned)(void *ctx, size_t bytes, void **ptr);
    void (*host_free_pinned)(void *ctx, void *ptr);

    /* --- streams and events (rule 4) --- */
    int (*stream_create)(void *ctx, llmrt_stream **stream);
    void (*stream_destroy)(void *ctx, llmrt_stream *stream);
    int (*stream_synchronize)(void *ctx, llmrt_stream *stream);
    /* The native handle a collective can enqueue on (cudaStream_t for cuda);
     * NULL where there is none (cpu). */
    void *(*stream_native)(void *ctx, llmrt_stream *stream);
    int (*event_create)(void *ctx, llmrt_event **event);
    void (*event_destroy)(void *ctx, llmrt_event *event);
    int (*event_record)(void *ctx, llmrt_event *event, llmrt_stream *stream);
    int (*stream_wait_event)(void *ctx, llmrt_stream *stream, llmrt_event *event);
    int (*event_synchronize)(void *ctx, llmrt_event *event);
    int (*synchronize)(void *ctx); /* every stream of the context */

    /* --- kernels (rules 7-9) --- */
    int (*gemm)(void *ctx, const llmrt_gemm_desc *d);
    /* dbias[j] += sum_i dout[i * cols + j] */
    int (*bias_grad)(void *ctx, void *dbias, const void *dout, int64_t rows, int64_t cols,
                     llmrt_dtype dtype);
    int (*norm_forward)(void *ctx, const llmrt_norm_desc *d);
    int (*norm_backward)(void *ctx, const llmrt_norm_desc *d);
    int (*gelu_forward)(void *ctx, void *out, const void *inp, size_t n, llmrt_dtype dtype,
                        llmrt_gelu_kind kind);
    /* dinp += dout * gelu'(inp) */
    int (*gelu_backward)(void *ctx, void *dinp, const void *inp, const void *dout, size_t n,
                         llmrt_dtype dtype, llmrt_gelu_kind kind);
    int (*attention_forward)(void *ctx, const llmrt_attention_desc *d);
    int (*attention_backward)(void *ctx, const llmrt_attention_desc *d);
    int (*softmax_xent)(void *ctx, const llmrt_xent_desc *d);
    /* out[i, :] (+)= table[ids[i], :] for i < rows; accumulate 0 overwrites.
     * ids are int32 in device memory, each in [0, table_rows). */
    int (*embedding_forward)(void *ctx, void *out, const int32_t *ids, const void *table,
                             int64_t rows, int64_t dim, llmrt_dtype dtype, int accumulate);
    /* dtable[ids[i], :] += dout[i, :], deterministically (rule 9). */
    int (*embedding_backward)(void *ctx, void *dtable, const int32_t *ids, const void *dout,
                              int64_t rows, int64_t dim, llmrt_dtype dtype);
    /* out = a + b elementwise; out may alias a or b. */
    int (*add)(void *ctx, void *out, const void *a, const void *b, size_t n, llmrt_dtype dtype);
    /* x *= alpha */
    int (*scale)(void *ctx, void *x, size_t n, llmrt_dtype dtype, float alpha);
    /* *result = sum x^2 accumulated in double (rule 5: synchronous). Non-finite
     * values propagate, so an overflow shows as inf or nan. */
    int (*sum_squares)(void *ctx, const void *x, size_t n, llmrt_dtype dtype, double *result);
    int (*adamw)(void *ctx, const llmrt_adamw_desc *d);
    /* dst = src converted elementwise; the pairs a backend supports are listed
     * in its documentation (rule 7 for the others). */
    int (*convert)(void *ctx, void *dst, llmrt_dtype dst_type, const void *src,
                   llmrt_dtype src_type, size_t n);

    /* --- ABI 1.1: number formats (convert.h) --- */
    int (*convert_ex)(void *ctx, const llmrt_convert_desc *d);
    int (*fake_quant_forward)(void *ctx, const llmrt_fake_quant_desc *d);
    int (*fake_quant_backward)(void *ctx, const llmrt_fake_quant_desc *d);

    /* --- ABI 1.2: the T5 feed-forwards (ReLU, gated GELU) --- */
    /* out = max(inp, 0); out may alias inp. */
    int (*relu_forward)(void *ctx, void *out, const void *inp, size_t n, llmrt_dtype dtype);
    /* dinp += dout where inp > 0 (rule 8). */
    int (*relu_backward)(void *ctx, void *dinp, const void *inp, const void *dout, size_t n,
                         llmrt_dtype dtype);
    /* out = a * b elementwise; out may alias a or b. */
    int (*mul)(void *ctx, void *out, const void *a, const void *b, size_t n, llmrt_dtype dtype);
} llmrt_compute_vtable;

#ifdef __cplusplus
}
#endif
#endif /* LLMRT_COMPUTE_H */
