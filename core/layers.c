/* layers.c — layers as calls of the compute backend (layers.h). */
#include "layers.h"

#include <math.h>

#include "qat.h"
#include "runtime.h"

#define CHECK(call)                                                                        \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_) return rc_;                                                               \
    } while (0)

void llmrt_layers_init(llmrt_layers *ly, llmrt_rt *rt, llmrt_dtype dt, int dim, int heads,
                       float norm_eps, float attn_scale, llmrt_weight_layout weights)
{
    llmrt_backend be = llmrt_rt_backend(rt);
    *ly = (llmrt_layers){
        .vt = be.vt, .cc = be.ctx,
        .dt = dt, .es = llmrt_dtype_size(dt),
        .dim = dim, .heads = heads,
        .norm_eps = norm_eps, .attn_scale = attn_scale,
        .weights = weights,
    };
}

int llmrt_zero(const llmrt_layers *ly, void *p, size_t elems)
{
    return ly->vt->memset(ly->cc, p, 0, elems * ly->es, NULL);
}

/* ------------------------------------------------------------------------ */
/* Linear layers                                                            */
/* ------------------------------------------------------------------------ */

/* LSQ fake quantization of a weight with k inputs and n outputs, one step
 * size per output channel: the columns of [in, out], the rows of [out, in];
 * k values per channel either way. */
static llmrt_fake_quant_desc weight_quant_desc(const llmrt_layers *ly, const void *w,
                                               const float *scale, int64_t k, int64_t n)
{
    int in_out = ly->weights == LLMRT_WEIGHT_IN_OUT;
    return (llmrt_fake_quant_desc){
        .struct_size = sizeof(llmrt_fake_quant_desc),
        .rows = in_out ? k : n, .cols = in_out ? n : k,
        .axis = in_out ? 1 : 0,
        .qmin = LLMRT_I8_QMIN, .qmax = LLMRT_I8_QMAX,
        .x = w, .scale = scale,
        .grad_factor = llmrt_qat_grad_factor(k),
    };
}

/* With QAT (scale != NULL) the weight a product uses: fake_quant(w, scale)
 * in the scratch buffer qat_w. Otherwise w itself. */
static int effective_weight(const llmrt_layers *ly, const void *w, const float *scale,
                            int64_t k, int64_t n, const void **out)
{
    *out = w;
    if (!scale) return LLMRT_OK;
    llmrt_fake_quant_desc d = weight_quant_desc(ly, w, scale, k, n);
    d.out = ly->qat_w;
    CHECK(ly->vt->fake_quant_forward(ly->cc, &d));
    *out = ly->qat_w;
    return LLMRT_OK;
}

/* inp[rows, k] @ w (either layout) into out[rows, n]: everything of the
 * forward gemm but alpha, beta and the epilogue. */
static llmrt_gemm_desc linear_desc(const llmrt_layers *ly, void *out, const void *inp,
                                   const void *wq, const void *bias, int64_t rows, int64_t k,
                                   int64_t n)
{
    int in_out = ly->weights == LLMRT_WEIGHT_IN_OUT;
    return (llmrt_gemm_desc){
        .struct_size = sizeof(llmrt_gemm_desc),
        .trans_b = in_out ? 0 : 1,
        .m = rows, .n = n, .k = k,
        .alpha = 1.0f,
        .a = inp, .lda = k, .a_type = ly->dt,
        .b = wq, .ldb = in_out ? n : k, .b_type = ly->dt,
        .c = out, .ldc = n, .c_type = ly->dt,
        .bias = bias,
    };
}

int llmrt_linear_forward(const llmrt_layers *ly, void *out, const void *inp, const void *w,
                         const float *scale, const void *bias, int64_t rows, int64_t k,
                         int64_t n, int accumulate)
{
    const void *wq;
    CHECK(effective_weight(ly, w, scale, k, n, &wq));
    llmrt_gemm_desc d = linear_desc(ly, out, inp, wq, bias, rows, k, n);
    d.beta = accumulate ? 1.0f : 0.0f;
    return ly->vt->gemm(ly->cc, &d);
}

int llmrt_linear_gelu_forward(const llmrt_layers *ly, void *out, void *pre_gelu,
                              const void *inp, const void *w, const float *scale,
                              const void *bias, int64_t rows, int64_t k, int64_t n,
                              llmrt_gelu_kind gelu)
{
    const void *wq;
    CHECK(effective_weight(ly, w, scale, k, n, &wq));
    llmrt_gemm_desc d = linear_desc(ly, out, inp, wq, bias, rows, k, n);
    d.epilogue = LLMRT_EPILOGUE_GELU;
    d.gelu_kind = gelu;
    d.pre_gelu = pre_gelu;
    return ly->vt->gemm(ly->cc, &d);
}

int llmrt_linear_backward(const llmrt_layers *ly, void *dinp, void *dw, float *dscale,
                          void *dbias, const void *dout, const void *inp, const void *w,
                          const float *scale, int64_t rows, int64_t k, int64_t n,
                          int accumulate)
{
    const void *wq;
    CHECK(effective_weight(ly, w, scale, k, n, &wq));
    const int in_out = ly->weights == LLMRT_WEIGHT_IN_OUT;
    /* dinp = dout @ w^T ([in, out]) or dout @ w ([out, in]). */
    llmrt_gemm_desc dx = {
        .struct_size = sizeof dx,
        .trans_b = in_out,
        .m = rows, .n = k, .k = n,
        .alpha = 1.0f, .beta = accumulate ? 1.0f : 0.0f,
        .a = dout, .lda = n, .a_type = ly->dt,
        .b = wq, .ldb = in_out ? n : k, .b_type = ly->dt,
        .c = dinp, .ldc = k, .c_type = ly->dt,
    };
    /* dw += inp^T @ dout as [k, n], or dout^T @ inp as [n, k]; with QAT d w_q
     * into qat_dw first (beta 0). */
    llmrt_gemm_desc dW = {
        .struct_size = sizeof dW,
        .trans_a = 1,
        .m = in_out ? k : n, .n = in_out ? n : k, .k = rows,
        .alpha = 1.0f, .beta = scale ? 0.0f : 1.0f,
        .a = in_out ? inp : dout, .lda = in_out ? k : n, .a_type = ly->dt,
        .b = in_out ? dout : inp, .ldb = in_out ? n : k, .b_type = ly->dt,
        .c = scale ? (void *)ly->qat_dw : dw, .ldc = in_out ? n : k, .c_type = ly->dt,
    };
    CHECK(ly->vt->gemm(ly->cc, &dx));
    CHECK(ly->vt->gemm(ly->cc, &dW));
    if (scale) {
        llmrt_fake_quant_desc fq = weight_quant_desc(ly, w, scale, k, n);
        fq.dout = ly->qat_dw;
        fq.dx = dw;
        fq.dscale = dscale;
        CHECK(ly->vt->fake_quant_backward(ly->cc, &fq));
    }
    if (!dbias) return LLMRT_OK;
    return ly->vt->bias_grad(ly->cc, dbias, dout, rows, n, ly->dt);
}

/* ------------------------------------------------------------------------ */
/* Norms                                                                    */
/* ------------------------------------------------------------------------ */

static llmrt_norm_desc norm_desc(const llmrt_layers *ly, int rms, int64_t rows, const void *inp,
                                 const void *w, const void *b, float *mean, float *rstd)
{
    return (llmrt_norm_desc){
        .struct_size = sizeof(llmrt_norm_desc),
        .rows = rows, .cols = ly->dim,
        .eps = ly->norm_eps, .rms = rms,
        .dtype = ly->dt,
        .inp = inp, .weight = w, .bias = b,
        .mean = mean, .rstd = rstd,
    };
}

int llmrt_layernorm_forward(const llmrt_layers *ly, void *out, float *mean, float *rstd,
                            const void *inp, const void *w, const void *b, int64_t rows)
{
    llmrt_norm_desc d = norm_desc(ly, 0, rows, inp, w, b, mean, rstd);
    d.out = out;
    return ly->vt->norm_forward(ly->cc, &d);
}

int llmrt_layernorm_backward(const llmrt_layers *ly, void *dinp, void *dw, void *db,
                             const void *dout, const void *inp, const void *w, float *mean,
                             float *rstd, int64_t rows, int accumulate)
{
    if (!accumulate) CHECK(llmrt_zero(ly, dinp, (size_t)rows * (size_t)ly->dim));
    llmrt_norm_desc d = norm_desc(ly, 0, rows, inp, w, NULL, mean, rstd);
    d.dout = dout;
    d.dinp = dinp;
    d.dweight = dw;
    d.dbias = db;
    return ly->vt->norm_backward(ly->cc, &d);
}

int llmrt_rmsnorm_forward(const llmrt_layers *ly, void *out, float *rstd, const void *inp,
                          const void *w, int64_t rows)
{
    llmrt_norm_desc d = norm_desc(ly, 1, rows, inp, w, NULL, NULL, rstd);
    d.out = out;
    return ly->vt->norm_forward(ly->cc, &d);
}

int llmrt_rmsnorm_backward(const llmrt_layers *ly, void *dinp, void *dw, const void *dout,
                           const void *inp, const void *w, float *rstd, int64_t rows)
{
    llmrt_norm_desc d = norm_desc(ly, 1, rows, inp, w, NULL, NULL, rstd);
    d.dout = dout;
    d.dinp = dinp;
    d.dweight = dw;
    return ly->vt->norm_backward(ly->cc, &d);
}

/* ------------------------------------------------------------------------ */
/* Attention                                                                */
/* ------------------------------------------------------------------------ */

llmrt_attention_desc llmrt_attention_make_desc(const llmrt_layers *ly, int B, int Tq, int Tk,
                                               int causal, const void *q, int64_t q_stride,
                                               const void *k, const void *v,
                                               int64_t kv_stride, void *out, float *lse,
                                               const float *bias)
{
    return (llmrt_attention_desc){
        .struct_size = sizeof(llmrt_attention_desc),
        .batch = B, .heads = ly->heads, .q_len = Tq, .kv_len = Tk,
        .head_dim = ly->dim / ly->heads,
        .dtype = ly->dt,
        .scale = ly->attn_scale,
        .causal = causal,
        .q = q, .q_row_stride = q_stride,
        .k = k, .k_row_stride = kv_stride,
        .v = v, .v_row_stride = kv_stride,
        .out = out, .out_row_stride = ly->dim,
        .lse = lse,
        .bias = bias,
    };
}

static llmrt_attention_desc self_attention_desc(const llmrt_layers *ly, int B, int T,
                                                int causal, const void *qkv, void *out,
                                                float *lse, const float *bias)
{
    const int64_t C = ly->dim;
    return llmrt_attention_make_desc(ly, B, T, T, causal, qkv, 3 * C, llmrt_at(ly, qkv, (size_t)C),
                                     llmrt_at(ly, qkv, 2 * (size_t)C), 3 * C, out, lse, bias);
}

int llmrt_self_attention_forward(const llmrt_layers *ly, int B, int T, int causal,
                                 const void *qkv, void *out, float *lse, const float *bias)
{
    llmrt_attention_desc ad = self_attention_desc(ly, B, T, causal, qkv, out, lse, bias);
    return ly->vt->attention_forward(ly->cc, &ad);
}

int llmrt_self_attention_backward(const llmrt_layers *ly, int B, int T, int causal,
                                  const void *qkv, void *out, float *lse, const float *bias,
                                  const void *d_out, void *d_qkv, float *dbias)
{
    const size_t C = (size_t)ly->dim;
    CHECK(llmrt_zero(ly, d_qkv, (size_t)B * (size_t)T * 3 * C));
    llmrt_attention_desc ad = self_attention_desc(ly, B, T, causal, qkv, out, lse, bias);
    ad.dout = d_out;
    ad.dq = d_qkv;
    ad.dk = llmrt_at(ly, d_qkv, C);
    ad.dv = llmrt_at(ly, d_qkv, 2 * C);
    ad.dbias = dbias;
    return ly->vt->attention_backward(ly->cc, &ad);
}

/* ------------------------------------------------------------------------ */
/* Logits                                                                   */
/* ------------------------------------------------------------------------ */

size_t llmrt_padded_vocab(int vocab) { return ((size_t)vocab + 63) / 64 * 64; }

int llmrt_logits_forward(const llmrt_layers *ly, void *logits, const void *x, const void *w,
                         const void *bias, int64_t rows, int64_t V, int64_t Vp)
{
    const int64_t C = ly->dim;
    llmrt_gemm_desc d = {
        .struct_size = sizeof d,
        .trans_b = 1,
        .m = rows, .n = V, .k = C,
        .alpha = 1.0f, .beta = 0.0f,
        .a = x, .lda = C, .a_type = ly->dt,
        .b = w, .ldb = C, .b_type = ly->dt,
        .c = logits, .ldc = Vp, .c_type = ly->dt,
        .bias = bias,
    };
    return ly->vt->gemm(ly->cc, &d);
}

int llmrt_logits_backward(const llmrt_layers *ly, void *dx, void *dw, const void *dlogits,
                          const void *x, const void *w, int64_t rows, int64_t V, int64_t Vp,
                          float alpha)
{
    const int64_t C = ly->dim;
    llmrt_gemm_desc ddx = {
        .struct_size = sizeof ddx,
        .m = rows, .n = C, .k = V,
        .alpha = alpha, .beta = 0.0f,
        .a = dlogits, .lda = Vp, .a_type = ly->dt,
        .b = w, .ldb = C, .b_type = ly->dt,
        .c = dx, .ldc = C, .c_type = ly->dt,
    };
    llmrt_gemm_desc ddw = {
        .struct_size = sizeof ddw,
        .trans_a = 1,
        .m = V, .n = C, .k = rows,
        .alpha = 1.0f, .beta = 1.0f,
        .a = dlogits, .lda = Vp, .a_type = ly->dt,
        .b = x, .ldb = C, .b_type = ly->dt,
        .c = dw, .ldc = C, .c_type = ly->dt,
    };
    CHECK(ly->vt->gemm(ly->cc, &ddx));
    return ly->vt->gemm(ly->cc, &ddw);
}
