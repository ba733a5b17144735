/* cuda_ops.c — the vtable entries of the non-gemm kernels: descriptor and
 * dtype checks (f32/f16/bf16 where the kernel file has them; cuk_dtype), device
 * scratch from the context's work area, then the launchers of cuda_*.cu on
 * the compute stream (attention: cuda_attention.cu).
 *
 * Unlike the cpu backend, ids (embedding) and targets (softmax_xent) are in
 * device memory and are not range-checked on the host: an id outside the
 * table is a device fault (compute-sanitizer names it), not an error return.
 * Launch errors are reported here; faults inside a kernel surface at the
 * next synchronising call (copy_to_host, sum_squares, *_synchronize). */
#include "cuda_internal.h"
#include "cuda_attention.h"

#include <math.h>

#define LAUNCH(c, call, what) cuda_check((c), (call), (what))

int cuda_bias_grad(void *ctx, void *dbias, const void *dout, int64_t rows, int64_t cols,
                   llmrt_dtype dtype)
{
    cuda_ctx *c = ctx;
    int dt, rc = cuda_require_float(c, "bias_grad", dtype, &dt);
    if (rc) return rc;
    if (rows < 0 || cols < 0)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: bias_grad: rows %lld, cols %lld < 0",
                              (long long)rows, (long long)cols);
    if (rows == 0 || cols == 0) return LLMRT_OK;
    void *scratch = NULL;
    if ((rc = cuda_work(c, cuk_bias_grad_scratch(rows, cols), "bias_grad", &scratch))) return rc;
    return LAUNCH(c, cuk_bias_grad(c->stream, dt, dbias, dout, rows, cols, scratch), "bias_grad");
}

static int norm_check(const cuda_ctx *c, const char *kernel, const llmrt_norm_desc *d, int *dt)
{
    int rc = cuda_require_desc(c, kernel, d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    if ((rc = cuda_require_float(c, kernel, d->dtype, dt))) return rc;
    if (d->rows < 0 || d->cols < 1)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: %s: rows %lld must be >= 0, cols %lld >= 1",
                              kernel, (long long)d->rows, (long long)d->cols);
    if (d->rows > 2147483647LL)
        return c->host->error(LLMRT_ERR_UNSUPPORTED, "cuda: %s: more than 2^31 rows", kernel);
    if (!d->inp || !d->weight || !d->rstd || (!d->rms && !d->mean))
        return c->host->error(LLMRT_ERR_INVALID,
                              "cuda: %s: inp, weight, rstd and (LayerNorm) mean are required",
                              kernel);
    return LLMRT_OK;
}

int cuda_norm_forward(void *ctx, const llmrt_norm_desc *d)
{
    cuda_ctx *c = ctx;
    int dt, rc = norm_check(c, "norm_forward", d, &dt);
    if (rc) return rc;
    if (!d->out) return c->host->error(LLMRT_ERR_INVALID, "cuda: norm_forward: out is NULL");
    return LAUNCH(c,
                  cuk_norm_forward(c->stream, dt, d->out, d->mean, d->rstd, d->inp, d->weight,
                                   d->rms ? NULL : d->bias, d->rows, d->cols, d->eps, d->rms),
                  "norm_forward");
}

int cuda_norm_backward(void *ctx, const llmrt_norm_desc *d)
{
    cuda_ctx *c = ctx;
    int dt, rc = norm_check(c, "norm_backward", d, &dt);
    if (rc) return rc;
    if (!d->dout) return c->host->error(LLMRT_ERR_INVALID, "cuda: norm_backward: dout is NULL");
    void *dbias = d->rms ? NULL : d->dbias, *scratch = NULL;
    if (d->rows > 0 && (d->dweight || dbias)) {
        rc = cuda_work(c, cuk_norm_backward_scratch(d->rows, d->cols), "norm_backward",
                       &scratch);
        if (rc) return rc;
    }
    return LAUNCH(c,
                  cuk_norm_backward(c->stream, dt, d->dinp, d->dweight, dbias, d->inp, d->weight,
                                    d->dout, d->mean, d->rstd, d->rows, d->cols, d->rms,
                                    scratch),
                  "norm_backward");
}

static int gelu_check(const cuda_ctx *c, const char *kernel, llmrt_dtype dtype,
                      llmrt_gelu_kind kind, int *dt)
{
    int rc = cuda_require_float(c, kernel, dtype, dt);
    if (rc) return rc;
    if (kind != LLMRT_GELU_TANH && kind != LLMRT_GELU_ERF)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: %s: unknown gelu kind %d (0 tanh, 1 erf)",
                              kernel, (int)kind);
    return LLMRT_OK;
}

int cuda_gelu_forward(void *ctx, void *out, const void *inp, size_t n, llmrt_dtype dtype,
                      llmrt_gelu_kind kind)
{
    cuda_ctx *c = ctx;
    int dt, rc = gelu_check(c, "gelu_forward", dtype, kind, &dt);
    if (rc || n == 0) return rc;
    return LAUNCH(c, cuk_gelu_forward(c->stream, dt, out, inp, n, (int)kind), "gelu_forward");
}

int cuda_gelu_backward(void *ctx, void *dinp, const void *inp, const void *dout, size_t n,
                       llmrt_dtype dtype, llmrt_gelu_kind kind)
{
    cuda_ctx *c = ctx;
    int dt, rc = gelu_check(c, "gelu_backward", dtype, kind, &dt);
    if (rc || n == 0) return rc;
    return LAUNCH(c, cuk_gelu_backward(c->stream, dt, dinp, inp, dout, n, (int)kind),
                  "gelu_backward");
}

int cuda_relu_forward(void *ctx, void *out, const void *inp, size_t n, llmrt_dtype dtype)
{
    cuda_ctx *c = ctx;
    int dt, rc = cuda_require_float(c, "relu_forward", dtype, &dt);
    if (rc || n == 0) return rc;
    return LAUNCH(c, cuk_relu_forward(c->stream, dt, out, inp, n), "relu_forward");
}

int cuda_relu_backward(void *ctx, void *dinp, const void *inp, const void *dout, size_t n,
                       llmrt_dtype dtype)
{
    cuda_ctx *c = ctx;
    int dt, rc = cuda_require_float(c, "relu_backward", dtype, &dt);
    if (rc || n == 0) return rc;
    return LAUNCH(c, cuk_relu_backward(c->stream, dt, dinp, inp, dout, n), "relu_backward");
}

int cuda_softmax_xent(void *ctx, const llmrt_xent_desc *d)
{
    cuda_ctx *c = ctx;
    int rc = cuda_require_desc(c, "softmax_xent", d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    int dt;
    if ((rc = cuda_require_float(c, "softmax_xent", d->dtype, &dt))) return rc;
    if (d->rows < 0 || d->vocab < 1 || d->padded_vocab < d->vocab)
        return c->host->error(LLMRT_ERR_INVALID,
                              "cuda: softmax_xent: rows %lld >= 0, vocab %lld >= 1 and "
                              "padded_vocab %lld >= vocab are required",
                              (long long)d->rows, (long long)d->vocab,
                              (long long)d->padded_vocab);
    if (d->rows == 0) return LLMRT_OK;
    if (d->rows > 2147483647LL)
        return c->host->error(LLMRT_ERR_UNSUPPORTED, "cuda: softmax_xent: more than 2^31 rows");
    if (!d->logits || !d->targets || !d->losses)
        return c->host->error(LLMRT_ERR_INVALID,
                              "cuda: softmax_xent: logits, targets and losses are required");
    return LAUNCH(c,
                  cuk_softmax_xent(c->stream, dt, d->logits, d->targets, d->losses, d->dlogits,
                                   d->dloss, d->rows, d->vocab, d->padded_vocab),
                  "softmax_xent");
}

int cuda_embedding_forward(void *ctx, void *out, const int32_t *ids, const void *table,
                           int64_t rows, int64_t dim, llmrt_dtype dtype, int accumulate)
{
    cuda_ctx *c = ctx;
    int dt, rc = cuda_require_float(c, "embedding_forward", dtype, &dt);
    if (rc) return rc;
    if (rows < 0 || dim < 0)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: embedding_forward: rows %lld, dim %lld < 0",
                              (long long)rows, (long long)dim);
    if (rows == 0 || dim == 0) return LLMRT_OK;
    return LAUNCH(c, cuk_embedding_forward(c->stream, dt, out, ids, table, rows, dim, accumulate),
                  "embedding_forward");
}

int cuda_embedding_backward(void *ctx, void *dtable, const int32_t *ids, const void *dout,
                            int64_t rows, int64_t dim, llmrt_dtype dtype)
{
    cuda_ctx *c = ctx;
    int dt, rc = cuda_require_float(c, "embedding_backward", dtype, &dt);
    if (rc) return rc;
    if (rows < 0 || dim < 0)
        return c->host->error(LLMRT_ERR_INVALID,
                              "cuda: embedding_backward: rows %lld, dim %lld < 0",
                              (long long)rows, (long long)dim);
    if (rows == 0 || dim == 0) return LLMRT_OK;
    /* One block per sorted id and cub's int item count. */
    if (rows > 2147483647LL)
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cuda: embedding_backward: more than 2^31 rows");
    size_t bytes = cuk_embedding_backward_scratch(rows);
    void *scratch = NULL;
    if ((rc = cuda_work(c, bytes, "embedding_backward", &scratch))) return rc;
    return LAUNCH(c,
                  cuk_embedding_backward(c->stream, dt, dtable, ids, dout, rows, dim, scratch,
                                         bytes),
                  "embedding_backward");
}

int cuda_add(void *ctx, void *out, const void *a, const void *b, size_t n, llmrt_dtype dtype)
{
    cuda_ctx *c = ctx;
    int dt, rc = cuda_require_float(c, "add", dtype, &dt);
    if (rc || n == 0) return rc;
    return LAUNCH(c, cuk_add(c->stream, dt, out, a, b, n), "add");
}

int cuda_mul(void *ctx, void *out, const void *a, const void *b, size_t n, llmrt_dtype dtype)
{
    cuda_ctx *c = ctx;
    int dt, rc = cuda_require_float(c, "mul", dtype, &dt);
    if (rc || n == 0) return rc;
    return LAUNCH(c, cuk_mul(c->stream, dt, out, a, b, n), "mul");
}

int cuda_scale(void *ctx, void *x, size_t n, llmrt_dtype dtype, float alpha)
{
    cuda_ctx *c = ctx;
    int dt, rc = cuda_require_float(c, "scale", dtype, &dt);
    if (rc || n == 0) return rc;
    return LAUNCH(c, cuk_scale(c->stream, dt, x, n, alpha), "scale");
}

int cuda_sum_squares(void *ctx, const void *x, size_t n, llmrt_dtype dtype, double *result)
{
    cuda_ctx *c = ctx;
    int dt, rc = cuda_require_float(c, "sum_squares", dtype, &dt);
    if (rc) return rc;
    if (!result) return c->host->error(LLMRT_ERR_INVALID, "cuda: sum_squares: result is NULL");
    if (n == 0) {
        *result = 0.0;
        return LLMRT_OK;
    }
    double *dres = c->ssq_scratch + CUK_SSQ_BLOCKS;
    if ((rc = LAUNCH(c, cuk_sum_squares(c->stream, dt, x, n, c->ssq_scratch, dres),
                     "sum_squares")))
        return rc;
    /* Rule 5: synchronous. */
    if ((rc = cuda_check(c, cudaMemcpyAsync(result, dres, sizeof *result, cudaMemcpyDeviceToHost,
                                            c->stream),
                         "sum_squares (copy)")))
        return rc;
    return cuda_check(c, cudaStreamSynchronize(c->stream), "sum_squares (synchronize)");
}

/* --- attention: the tiled kernels of cuda_attention.cu --- */

static int att_setup(const cuda_ctx *c, const char *kernel, const llmrt_attention_desc *d,
                     cuk_flash *p)
{
    int rc = cuda_require_desc(c, kernel, d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    int dtype;
    switch (d->dtype) {
    case LLMRT_DTYPE_F32: dtype = CUK_FLASH_F32; break;
    case LLMRT_DTYPE_BF16: dtype = CUK_FLASH_BF16; break;
    case LLMRT_DTYPE_F16: dtype = CUK_FLASH_F16; break;
    default:
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cuda: %s does not support dtype %s (f32, bf16 and f16 only)",
                              kernel, cuda_dtype_name(d->dtype));
    }
    if (d->batch < 0 || d->heads < 0 || d->q_len < 0 || d->kv_len < 0 || d->head_dim < 1)
        return c->host->error(LLMRT_ERR_INVALID,
                              "cuda: %s: batch %lld, heads %lld, q_len %lld, kv_len %lld must be "
                              ">= 0 and head_dim %lld >= 1",
                              kernel, (long long)d->batch, (long long)d->heads,
                              (long long)d->q_len, (long long)d->kv_len, (long long)d->head_dim);
    if (d->head_dim > CUK_FLASH_MAX_D)
        return c->host->error(LLMRT_ERR_UNSUPPORTED, "cuda: %s: head_dim %lld is above %d",
                              kernel, (long long)d->head_dim, CUK_FLASH_MAX_D);
    int64_t width = d->heads * d->head_dim;
    if (d->q_row_stride < width || d->k_row_stride < width || d->v_row_stride < width ||
        d->out_row_stride < width)
        return c->host->error(LLMRT_ERR_INVALID,
                              "cuda: %s: row strides must be at least heads * head_dim = %lld",
                              kernel, (long long)width);
    /* One block per tile of CUK_FLASH_MIN_TILE rows (forward, dq, dkv) or
     * per (head, query tile, key tile) (dbias), and one warp per query row
     * (delta): each count must fit grid.x. Checked in steps so that no
     * product overflows. */
    const int64_t lim = 2147483647LL, tile = CUK_FLASH_MIN_TILE;
    const int64_t len = d->q_len > d->kv_len ? d->q_len : d->kv_len;
    const int64_t tiles = (len + tile - 1) / tile;
    const int64_t qt = (d->q_len + tile - 1) / tile, kt = (d->kv_len + tile - 1) / tile;
    const int64_t bh = d->heads && d->batch > lim / d->heads ? lim + 1 : d->batch * d->heads;
    if (bh > lim || (tiles && bh > lim / tiles) || (d->q_len && bh > 8 * lim / d->q_len) ||
        (qt && kt && (d->heads > lim / qt || d->heads * qt > lim / kt)))
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cuda: %s: batch * heads * tiles is more than one grid holds",
                              kernel);
    if (!d->q || !d->k || !d->v || !d->lse)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: %s: q, k, v and lse are required",
                              kernel);
    *p = (cuk_flash){
        .batch = d->batch, .heads = d->heads, .q_len = d->q_len, .kv_len = d->kv_len,
        .head_dim = d->head_dim, .dtype = dtype, .scale = d->scale, .causal = d->causal,
        .q = d->q, .k = d->k, .v = d->v,
        .q_row_stride = d->q_row_stride, .k_row_stride = d->k_row_stride,
        .v_row_stride = d->v_row_stride, .out_row_stride = d->out_row_stride,
        .bias = d->bias, .out = d->out, .lse = d->lse, .dout = d->dout,
        .dq = d->dq, .dk = d->dk, .dv = d->dv, .dbias = d->dbias, .delta = NULL,
    };
    return LLMRT_OK;
}

int cuda_attention_forward(void *ctx, const llmrt_attention_desc *d)
{
    cuda_ctx *c = ctx;
    cuk_flash a;
    int rc = att_setup(c, "attention_forward", d, &a);
    if (rc) return rc;
    if (!d->out)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: attention_forward: out is NULL");
    return LAUNCH(c, cuk_flash_forward(c->stream, &a), "attention_forward");
}

/* out, when given, is the forward's output: delta = rowsum(dout * out) is
 * then one pass over it; without it delta is recomputed from the scores. */
int cuda_attention_backward(void *ctx, const llmrt_attention_desc *d)
{
    cuda_ctx *c = ctx;
    cuk_flash a;
    int rc = att_setup(c, "attention_backward", d, &a);
    if (rc) return rc;
    if (!d->dout)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: attention_backward: dout is NULL");
    size_t need = (size_t)(d->batch * d->heads * d->q_len);
    if (need == 0) return LLMRT_OK;
    if (need > c->att_scratch_floats) {
        /* cudaFree waits for the kernels that still read the old scratch. */
        if (c->att_scratch) cudaFree(c->att_scratch);
        c->att_scratch = NULL;
        c->att_scratch_floats = 0;
        if ((rc = cuda_check(c, cudaMalloc((void **)&c->att_scratch, need * sizeof(float)),
                             "attention_backward (scratch)")))
            return rc;
        c->att_scratch_floats = need;
    }
    a.delta = c->att_scratch;
    return LAUNCH(c, cuk_flash_backward(c->stream, &a), "attention_backward");
}

/* --- conversions (ABI 1.1): the pairs and checks of cpu_convert.c --- */

static int is_float(llmrt_dtype t)
{
    return t == LLMRT_DTYPE_F32 || t == LLMRT_DTYPE_F16 || t == LLMRT_DTYPE_BF16;
}

#define CONV_COPY (-1)
#define CONV_NONE (-2)

static int classify(llmrt_dtype dst, llmrt_dtype src, int stochastic)
{
    if (stochastic)
        return dst == LLMRT_DTYPE_BF16 && src == LLMRT_DTYPE_F32 ? CUK_F32_BF16_SR : CONV_NONE;
    if (is_float(dst) && dst == src) return CONV_COPY;
    if (dst == LLMRT_DTYPE_F32) {
        switch (src) {
        case LLMRT_DTYPE_F16: return CUK_F16_F32;
        case LLMRT_DTYPE_BF16: return CUK_BF16_F32;
        case LLMRT_DTYPE_I8: return CUK_I8_F32;
        case LLMRT_DTYPE_I32: return CUK_I32_F32;
        default: return CONV_NONE;
        }
    }
    if (src == LLMRT_DTYPE_F32) {
        switch (dst) {
        case LLMRT_DTYPE_F16: return CUK_F32_F16;
        case LLMRT_DTYPE_BF16: return CUK_F32_BF16;
        case LLMRT_DTYPE_I8: return CUK_F32_I8;
        case LLMRT_DTYPE_I32: return CUK_F32_I32;
        default: return CONV_NONE;
        }
    }
    if (dst == LLMRT_DTYPE_BF16 && src == LLMRT_DTYPE_F16) return CUK_F16_BF16;
    if (dst == LLMRT_DTYPE_F16 && src == LLMRT_DTYPE_BF16) return CUK_BF16_F16;
    return CONV_NONE;
}

static int run_convert(cuda_ctx *c, int kind, void *dst, const void *src, size_t n,
                       size_t elem, int64_t cols, uint64_t seed, uint64_t offset,
                       const float *scales, int axis)
{
    if (kind == CONV_COPY) {
        if (dst == src) return LLMRT_OK;
        return cuda_check(c, cudaMemcpyAsync(dst, src, n * elem, cudaMemcpyDeviceToDevice,
                                             c->stream),
                          "convert (copy)");
    }
    return LAUNCH(c, cuk_convert(c->stream, kind, dst, src, n, cols, seed, offset, scales, axis),
                  "convert");
}

int cuda_convert_ex(void *ctx, const llmrt_convert_desc *d)
{
    cuda_ctx *c = ctx;
    int rc = cuda_require_desc(c, "convert_ex", d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    if (d->rows < 0 || d->cols < 0)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: convert_ex: rows %lld, cols %lld < 0",
                              (long long)d->rows, (long long)d->cols);
    if (d->rounding != LLMRT_ROUND_NEAREST_EVEN && d->rounding != LLMRT_ROUND_STOCHASTIC)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: convert_ex: unknown rounding %d",
                              (int)d->rounding);
    int kind = classify(d->dst_type, d->src_type, d->rounding == LLMRT_ROUND_STOCHASTIC);
    if (kind == CONV_NONE)
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cuda: convert_ex does not support %s -> %s with %s rounding; "
                              "supported: f32/f16/bf16 to each other, f32<->i8, f32<->i32 "
                              "(nearest-even), f32->bf16 (stochastic)",
                              cuda_dtype_name(d->src_type), cuda_dtype_name(d->dst_type),
                              d->rounding == LLMRT_ROUND_STOCHASTIC ? "stochastic"
                                                                    : "nearest-even");
    size_t n = (size_t)d->rows * (size_t)d->cols;
    if (n == 0) return LLMRT_OK;
    if (!d->dst || !d->src)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: convert_ex: dst or src is NULL");
    if (kind == CUK_F32_I8 || kind == CUK_I8_F32) {
        if (d->axis != 0 && d->axis != 1 && d->axis != -1)
            return c->host->error(LLMRT_ERR_INVALID,
                                  "cuda: convert_ex: axis %d must be 0 (rows), 1 (columns) or "
                                  "-1 (one scale)",
                                  d->axis);
        if (!d->scales)
            return c->host->error(LLMRT_ERR_INVALID, "cuda: convert_ex: %s -> %s needs scales",
                                  cuda_dtype_name(d->src_type), cuda_dtype_name(d->dst_type));
    }
    return run_convert(c, kind, d->dst, d->src, n, llmrt_dtype_size(d->dst_type), d->cols,
                       d->seed, d->offset, d->scales, d->axis);
}

int cuda_convert(void *ctx, void *dst, llmrt_dtype dst_type, const void *src,
                 llmrt_dtype src_type, size_t n)
{
    cuda_ctx *c = ctx;
    int kind = classify(dst_type, src_type, 0);
    if (kind == CONV_NONE || kind == CUK_F32_I8 || kind == CUK_I8_F32)
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cuda: convert does not support %s -> %s; supported: f32, f16 and "
                              "bf16 to each other, i32->f32, f32->i32 (int8 needs convert_ex)",
                              cuda_dtype_name(src_type), cuda_dtype_name(dst_type));
    if (n == 0) return LLMRT_OK;
    return run_convert(c, kind, dst, src, n, llmrt_dtype_size(dst_type), (int64_t)n, 0, 0, NULL,
                       -1);
}

/* --- LSQ fake quantization (ABI 1.1), fp32 --- */

static int fq_check(const cuda_ctx *c, const char *kernel, const llmrt_fake_quant_desc *d)
{
    int rc = cuda_require_desc(c, kernel, d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    if (d->rows < 0 || d->cols < 0)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: %s: rows %lld, cols %lld < 0", kernel,
                              (long long)d->rows, (long long)d->cols);
    if (d->axis != 0 && d->axis != 1 && d->axis != -1)
        return c->host->error(LLMRT_ERR_INVALID,
                              "cuda: %s: axis %d must be 0 (rows), 1 (columns) or -1 (one scale)",
                              kernel, d->axis);
    if (d->qmin > d->qmax)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: %s: qmin %d > qmax %d", kernel, d->qmin,
                              d->qmax);
    if (d->rows > 2147483647LL)
        return c->host->error(LLMRT_ERR_UNSUPPORTED, "cuda: %s: more than 2^31 rows", kernel);
    if (d->rows * d->cols > 0 && (!d->x || !d->scale))
        return c->host->error(LLMRT_ERR_INVALID, "cuda: %s: x or scale is NULL", kernel);
    return LLMRT_OK;
}

int cuda_fake_quant_forward(void *ctx, const llmrt_fake_quant_desc *d)
{
    cuda_ctx *c = ctx;
    int rc = fq_check(c, "fake_quant_forward", d);
    if (rc) return rc;
    if (d->rows * d->cols == 0) return LLMRT_OK;
    if (!d->out)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: fake_quant_forward: out is NULL");
    return LAUNCH(c,
                  cuk_fake_quant_forward(c->stream, d->out, d->x, d->scale, d->rows, d->cols,
                                         d->axis, d->qmin, d->qmax),
                  "fake_quant_forward");
}

int cuda_fake_quant_backward(void *ctx, const llmrt_fake_quant_desc *d)
{
    cuda_ctx *c = ctx;
    int rc = fq_check(c, "fake_quant_backward", d);
    if (rc) return rc;
    if (d->rows * d->cols == 0 || (!d->dx && !d->dscale)) return LLMRT_OK;
    if (!d->dout)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: fake_quant_backward: dout is NULL");
    return LAUNCH(c,
                  cuk_fake_quant_backward(c->stream, d->dx, d->dscale, d->x, d->dout, d->scale,
                                          d->rows, d->cols, d->axis, d->qmin, d->qmax,
                                          d->grad_factor, c->ssq_scratch),
                  "fake_quant_backward");
}
