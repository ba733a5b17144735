/* layers.h — the layers gpt.c, bert.c and t5.c write their forward and
 * backward in, each one or a few calls of the compute backend (compute.h):
 * linear layers (bias, GELU epilogue and int8 QAT fake quantization
 * optional), LayerNorm and RMSNorm, attention, the logits against a
 * [vocab, C] matrix.
 *
 * Buffers typed void * hold the model's dtype; the per-row statistics
 * (norm mean/rstd, attention lse) and QAT's step sizes are fp32.
 * Every backward adds (+=) into parameter gradients (docs/architecture.md,
 * "Who zeroes gradients"); what it does to the input's gradient is said
 * function by function. */
#ifndef LLMRT_CORE_LAYERS_H
#define LLMRT_CORE_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include <llmrt/llmrt.h>

/* How a model stores its linear weights. */
typedef enum llmrt_weight_layout {
    LLMRT_WEIGHT_IN_OUT, /* HF Conv1D [in, out]: y = x @ W (gpt)       */
    LLMRT_WEIGHT_OUT_IN  /* nn.Linear [out, in]: y = x @ W^T (bert, t5) */
} llmrt_weight_layout;

/* What the layers need of a model: its backend, number format and sizes.
 * The model owns it (and the QAT scratch it points to). */
typedef struct llmrt_layers {
    const llmrt_compute_vtable *vt;
    void *cc;                    /* the backend's context */
    llmrt_dtype dt;              /* parameters, gradients, activations */
    size_t es;                   /* its element size in bytes */
    int64_t dim, heads;          /* C (the norms' width) and attention heads */
    float norm_eps;
    float attn_scale;            /* of the scores: 1 / sqrt(head size), or 1 (t5) */
    llmrt_weight_layout weights;
    /* QAT only (fp32, as large as the largest quantized weight): the
     * fake-quantized weight of the layer at hand and, in the backward, the
     * gradient with respect to it. NULL without QAT. */
    float *qat_w, *qat_dw;
} llmrt_layers;

/* The backend from rt, the rest as given; no QAT scratch yet. */
void llmrt_layers_init(llmrt_layers *ly, llmrt_rt *rt, llmrt_dtype dt, int dim, int heads,
                       float norm_eps, float attn_scale, llmrt_weight_layout weights);

/* Element i of a buffer of the model's dtype. */
static inline void *llmrt_at(const llmrt_layers *ly, const void *base, size_t i)
{
    return (char *)(uintptr_t)base + i * ly->es;
}

/* Zero `elems` elements of the model's dtype at p. */
int llmrt_zero(const llmrt_layers *ly, void *p, size_t elems);

/* out[rows, n] = inp[rows, k] @ w + bias, with accumulate out += instead (a
 * residual connection). w is [k, n] or [n, k] as ly->weights says; with QAT
 * (scale != NULL: one step size per output channel) fake_quant(w, scale)
 * takes its place. bias may be NULL. */
int llmrt_linear_forward(const llmrt_layers *ly, void *out, const void *inp, const void *w,
                         const float *scale, const void *bias, int64_t rows, int64_t k,
                         int64_t n, int accumulate);
/* out = gelu(inp @ w + bias) in one gemm (the backend's GELU epilogue,
 * ABI 1.2) and pre_gelu = inp @ w + bias for the backward: the same values
 * as llmrt_linear_forward into pre_gelu, then gelu_forward into out. */
int llmrt_linear_gelu_forward(const llmrt_layers *ly, void *out, void *pre_gelu,
                              const void *inp, const void *w, const float *scale,
                              const void *bias, int64_t rows, int64_t k, int64_t n,
                              llmrt_gelu_kind gelu);
/* Backward of llmrt_linear_forward: dinp = dout @ w^T (accumulate: +=),
 * dw += inp^T @ dout, dbias += the column sums of dout (dbias NULL: no
 * bias). With QAT the product used w_q = fake_quant(w, scale): dinp uses
 * w_q, d w_q goes to qat_dw, and fake_quant_backward turns it into dw
 * (straight-through) and dscale (LSQ), both added. */
int llmrt_linear_backward(const llmrt_layers *ly, void *dinp, void *dw, float *dscale,
                          void *dbias, const void *dout, const void *inp, const void *w,
                          const float *scale, int64_t rows, int64_t k, int64_t n,
                          int accumulate);

/* LayerNorm over rows x dim: out, mean and rstd. */
int llmrt_layernorm_forward(const llmrt_layers *ly, void *out, float *mean, float *rstd,
                            const void *inp, const void *w, const void *b, int64_t rows);
/* dw, db += (compute.h rule 8); dinp += too with accumulate, otherwise
 * it is zeroed first. */
int llmrt_layernorm_backward(const llmrt_layers *ly, void *dinp, void *dw, void *db,
                             const void *dout, const void *inp, const void *w, float *mean,
                             float *rstd, int64_t rows, int accumulate);
/* RMSNorm (no mean, no bias) over rows x dim. */
int llmrt_rmsnorm_forward(const llmrt_layers *ly, void *out, float *rstd, const void *inp,
                          const void *w, int64_t rows);
/* dinp, dw +=. */
int llmrt_rmsnorm_backward(const llmrt_layers *ly, void *dinp, void *dw, const void *dout,
                           const void *inp, const void *w, float *rstd, int64_t rows);

/* Attention of B sequences, heads of dim / heads, scores scaled by
 * ly->attn_scale: q rows [B*Tq] and k, v rows [B*Tk] of their own strides,
 * out [B*Tq, dim], lse [B, heads, Tq]; bias an fp32 [heads, Tq, Tk] or NULL. */
llmrt_attention_desc llmrt_attention_make_desc(const llmrt_layers *ly, int B, int Tq, int Tk,
                                               int causal, const void *q, int64_t q_stride,
                                               const void *k, const void *v,
                                               int64_t kv_stride, void *out, float *lse,
                                               const float *bias);
/* Self-attention over fused rows [B*T, 3 dim] (q | k | v, head h at
 * h * head size inside each). */
int llmrt_self_attention_forward(const llmrt_layers *ly, int B, int T, int causal,
                                 const void *qkv, void *out, float *lse, const float *bias);
/* Its backward: d_qkv [B*T, 3 dim] is zeroed, then gets d q | d k | d v;
 * dbias (with bias) +=. */
int llmrt_self_attention_backward(const llmrt_layers *ly, int B, int T, int causal,
                                  const void *qkv, void *out, float *lse, const float *bias,
                                  const void *d_out, void *d_qkv, float *dbias);

/* The logits' row stride: vocab rounded up to 64. */
size_t llmrt_padded_vocab(int vocab);
/* logits[rows, Vp] = x[rows, dim] @ w[V, dim]^T + bias (bias may be NULL). */
int llmrt_logits_forward(const llmrt_layers *ly, void *logits, const void *x, const void *w,
                         const void *bias, int64_t rows, int64_t V, int64_t Vp);
/* Its backward: dx = alpha dlogits @ w (overwritten), dw += dlogits^T @ x. */
int llmrt_logits_backward(const llmrt_layers *ly, void *dx, void *dw, const void *dlogits,
                          const void *x, const void *w, int64_t rows, int64_t V, int64_t Vp,
                          float alpha);

#endif
