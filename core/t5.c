/* t5.c — the encoder-decoder transformer in the Hugging Face
 * T5ForConditionalGeneration layout (t5.h), forward and backward written out
 * over the compute backend's kernels like gpt.c and bert.c: pre-norm blocks
 * with RMS LayerNorm, attention without 1/sqrt(d) scaling plus a relative
 * position bias, cross-attention, ReLU or gated-GELU feed-forwards, and the
 * tied (scaled) or untied LM head. Linear weights are HF nn.Linear [out, in]
 * without bias: y = x @ W^T; with int8 QAT the blocks' linear weights are
 * fake-quantized per output row as in bert.c.
 *
 * The relative position bias is built on the host: the backend has no
 * gather into a [heads, q, k] layout, and the table is tiny (NB x H), so
 * block 0 of each stack downloads it, expands it to the fp32 bias the
 * attention kernel takes, and in the backward folds the kernel's fp32 dbias
 * (summed over the stack's blocks) back into NB x H in double precision, in
 * a fixed order (deterministic). */
#include "t5.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/convert.h>

#include "error.h"
#include "layers.h"
#include "model_check.h"
#include "model_layout.h"
#include "model_rt.h"
#include "runtime.h"
#include "span.h"

/* ------------------------------------------------------------------------ */
/* Parameter layout                                                         */
/* ------------------------------------------------------------------------ */

/* What a tensor is for; a unit holds some of them, in this order. */
typedef enum role {
    R_SHARED,
    R_SA_Q, R_SA_K, R_SA_V, R_SA_O, R_SA_REL, R_SA_LN,
    R_CA_Q, R_CA_K, R_CA_V, R_CA_O, R_CA_LN,
    R_FF_WI, R_FF_WI0, R_FF_WI1, R_FF_WO, R_FF_LN,
    R_ENC_FINAL_LN, R_DEC_FINAL_LN, R_LM_HEAD,
    /* QAT only: the step sizes of the linear weights, one per output row. */
    R_SA_Q_S, R_SA_K_S, R_SA_V_S, R_SA_O_S,
    R_CA_Q_S, R_CA_K_S, R_CA_V_S, R_CA_O_S,
    R_FF_WI_S, R_FF_WI0_S, R_FF_WI1_S, R_FF_WO_S,
    R_N
} role;

typedef enum dim_code { D_NONE = LLMRT_DIM_NONE, D_C, D_F, D_VOCAB, D_NB, D_H } dim_code;
/* Initial standard deviation (HF T5PreTrainedModel._init_weights, factor 1). */
typedef enum init_kind {
    I_ONE, I_UNIT, I_C, I_QK, I_F,
    I_LSQ /* 2 mean|w| / sqrt(qmax) over the output row of weight scale_of */
} init_kind;

/* Names are what follows the unit's prefix (tensor_name). */
static const llmrt_tensor_spec all_specs[R_N] = {
    [R_SHARED] = {"shared.weight", D_VOCAB, D_C, 1, I_UNIT, .role = R_SHARED},
    [R_SA_Q] = {"layer.0.SelfAttention.q.weight", D_C, D_C, 1, I_QK, .role = R_SA_Q},
    [R_SA_K] = {"layer.0.SelfAttention.k.weight", D_C, D_C, 1, I_C, .role = R_SA_K},
    [R_SA_V] = {"layer.0.SelfAttention.v.weight", D_C, D_C, 1, I_C, .role = R_SA_V},
    [R_SA_O] = {"layer.0.SelfAttention.o.weight", D_C, D_C, 1, I_C, .role = R_SA_O},
    [R_SA_REL] = {"layer.0.SelfAttention.relative_attention_bias.weight", D_NB, D_H, 1,
                  I_C, .role = R_SA_REL},
    [R_SA_LN] = {"layer.0.layer_norm.weight", D_C, D_NONE, 0, I_ONE, .role = R_SA_LN},
    [R_CA_Q] = {"layer.1.EncDecAttention.q.weight", D_C, D_C, 1, I_QK, .role = R_CA_Q},
    [R_CA_K] = {"layer.1.EncDecAttention.k.weight", D_C, D_C, 1, I_C, .role = R_CA_K},
    [R_CA_V] = {"layer.1.EncDecAttention.v.weight", D_C, D_C, 1, I_C, .role = R_CA_V},
    [R_CA_O] = {"layer.1.EncDecAttention.o.weight", D_C, D_C, 1, I_C, .role = R_CA_O},
    [R_CA_LN] = {"layer.1.layer_norm.weight", D_C, D_NONE, 0, I_ONE, .role = R_CA_LN},
    /* the feed-forward's layer index (1 encoder, 2 decoder) is filled in */
    [R_FF_WI] = {"DenseReluDense.wi.weight", D_F, D_C, 1, I_C, .role = R_FF_WI},
    [R_FF_WI0] = {"DenseReluDense.wi_0.weight", D_F, D_C, 1, I_C, .role = R_FF_WI0},
    [R_FF_WI1] = {"DenseReluDense.wi_1.weight", D_F, D_C, 1, I_C, .role = R_FF_WI1},
    [R_FF_WO] = {"DenseReluDense.wo.weight", D_C, D_F, 1, I_F, .role = R_FF_WO},
    [R_FF_LN] = {"layer_norm.weight", D_C, D_NONE, 0, I_ONE, .role = R_FF_LN},
    [R_ENC_FINAL_LN] = {"encoder.final_layer_norm.weight", D_C, D_NONE, 0, I_ONE,
                        .role = R_ENC_FINAL_LN},
    [R_DEC_FINAL_LN] = {"decoder.final_layer_norm.weight", D_C, D_NONE, 0, I_ONE,
                        .role = R_DEC_FINAL_LN},
    [R_LM_HEAD] = {"lm_head.weight", D_VOCAB, D_C, 1, I_UNIT, .role = R_LM_HEAD},
    /* scale_of is set by unit_specs (the weight's index in its unit) */
    [R_SA_Q_S] = {"layer.0.SelfAttention.q.weight_scale", D_C, D_NONE, 0, I_LSQ, .role = R_SA_Q_S},
    [R_SA_K_S] = {"layer.0.SelfAttention.k.weight_scale", D_C, D_NONE, 0, I_LSQ, .role = R_SA_K_S},
    [R_SA_V_S] = {"layer.0.SelfAttention.v.weight_scale", D_C, D_NONE, 0, I_LSQ, .role = R_SA_V_S},
    [R_SA_O_S] = {"layer.0.SelfAttention.o.weight_scale", D_C, D_NONE, 0, I_LSQ, .role = R_SA_O_S},
    [R_CA_Q_S] = {"layer.1.EncDecAttention.q.weight_scale", D_C, D_NONE, 0, I_LSQ,
                  .role = R_CA_Q_S},
    [R_CA_K_S] = {"layer.1.EncDecAttention.k.weight_scale", D_C, D_NONE, 0, I_LSQ,
                  .role = R_CA_K_S},
    [R_CA_V_S] = {"layer.1.EncDecAttention.v.weight_scale", D_C, D_NONE, 0, I_LSQ,
                  .role = R_CA_V_S},
    [R_CA_O_S] = {"layer.1.EncDecAttention.o.weight_scale", D_C, D_NONE, 0, I_LSQ,
                  .role = R_CA_O_S},
    [R_FF_WI_S] = {"DenseReluDense.wi.weight_scale", D_F, D_NONE, 0, I_LSQ, .role = R_FF_WI_S},
    [R_FF_WI0_S] = {"DenseReluDense.wi_0.weight_scale", D_F, D_NONE, 0, I_LSQ,
                    .role = R_FF_WI0_S},
    [R_FF_WI1_S] = {"DenseReluDense.wi_1.weight_scale", D_F, D_NONE, 0, I_LSQ,
                    .role = R_FF_WI1_S},
    [R_FF_WO_S] = {"DenseReluDense.wo.weight_scale", D_C, D_NONE, 0, I_LSQ, .role = R_FF_WO_S},
};

/* The weight a step-size role scales (QAT). */
static role scaled_weight(role r)
{
    static const role of[] = {R_SA_Q, R_SA_K, R_SA_V, R_SA_O, R_CA_Q, R_CA_K,
                              R_CA_V, R_CA_O, R_FF_WI, R_FF_WI0, R_FF_WI1, R_FF_WO};
    return of[r - R_SA_Q_S];
}

/* The step-size role of weight role w. */
static role scale_role(role w)
{
    role r = R_SA_Q_S;
    while (r < R_FF_WO_S && scaled_weight(r) != w) r++;
    return r;
}

/* The feed-forward's tensors, whose names take the layer index (tensor_name). */
static int is_ff(role r)
{
    return (r >= R_FF_WI && r <= R_FF_LN) || (r >= R_FF_WI_S && r <= R_FF_WO_S);
}

#define NO_OFFSET ((size_t)-1)

typedef enum unit_kind { U_EMB, U_ENC, U_ENC_FINAL, U_DEC, U_HEAD, U_NONE } unit_kind;

static unit_kind kind_of(const llmrt_t5_config *c, size_t unit, int *layer)
{
    size_t Le = (size_t)c->layers, Ld = (size_t)c->decoder_layers;
    *layer = 0;
    if (unit == 0) return U_EMB;
    if (unit <= Le) return *layer = (int)(unit - 1), U_ENC;
    if (unit == Le + 1) return U_ENC_FINAL;
    if (unit <= Le + 1 + Ld) return *layer = (int)(unit - Le - 2), U_DEC;
    if (unit == Le + Ld + 2) return U_HEAD;
    return U_NONE;
}

/* The tensors of a unit, in order; returns their number. */
static size_t unit_specs(const void *cfg, size_t unit, llmrt_tensor_spec *out)
{
    const llmrt_t5_config *c = cfg;
    int layer;
    unit_kind k = kind_of(c, unit, &layer);
    size_t n = 0;
    switch (k) {
    case U_EMB: out[n++] = all_specs[R_SHARED]; break;
    case U_ENC:
    case U_DEC:
        for (role r = R_SA_Q; r <= R_SA_LN; r++)
            if (r != R_SA_REL || layer == 0) out[n++] = all_specs[r];
        if (k == U_DEC)
            for (role r = R_CA_Q; r <= R_CA_LN; r++) out[n++] = all_specs[r];
        if (c->ff == LLMRT_T5_FF_RELU) out[n++] = all_specs[R_FF_WI];
        else out[n++] = all_specs[R_FF_WI0], out[n++] = all_specs[R_FF_WI1];
        out[n++] = all_specs[R_FF_WO];
        out[n++] = all_specs[R_FF_LN];
        if (c->qat) {
            /* The step sizes follow the plain tensors (a QAT unit starts like
             * a plain one), in the weights' order, so q, k, v's are one [3C]
             * vector for the fused [3C, C] matrix and the cross k, v's one
             * [2C] vector. */
            size_t plain = n;
            for (size_t i = 0; i < plain; i++) {
                if (out[i].d1 == D_NONE || out[i].role == R_SA_REL) continue;
                for (role r = R_SA_Q_S; r <= R_FF_WO_S; r++)
                    if (scaled_weight(r) == (role)out[i].role) {
                        out[n] = all_specs[r];
                        out[n++].scale_of = (int)i;
                    }
            }
        }
        break;
    case U_ENC_FINAL: out[n++] = all_specs[R_ENC_FINAL_LN]; break;
    case U_HEAD:
        out[n++] = all_specs[R_DEC_FINAL_LN];
        if (!c->tie_embeddings) out[n++] = all_specs[R_LM_HEAD];
        break;
    default: break;
    }
    return n;
}

static size_t dim_value(const void *cfg, int d)
{
    const llmrt_t5_config *c = cfg;
    switch ((dim_code)d) {
    case D_C: return (size_t)c->dim;
    case D_F: return (size_t)c->d_ff;
    case D_VOCAB: return (size_t)c->vocab;
    case D_NB: return (size_t)c->num_buckets;
    case D_H: return (size_t)c->heads;
    default: return 1;
    }
}

static int tensor_name(const void *cfg, size_t unit, const llmrt_tensor_spec *s, char *buf,
                       size_t size)
{
    int layer;
    unit_kind k = kind_of(cfg, unit, &layer);
    if (k != U_ENC && k != U_DEC) return snprintf(buf, size, "%s", s->name);
    const char *stack = k == U_ENC ? "encoder" : "decoder";
    if (is_ff((role)s->role))
        return snprintf(buf, size, "%s.block.%d.layer.%d.%s", stack, layer, k == U_ENC ? 1 : 2,
                        s->name);
    return snprintf(buf, size, "%s.block.%d.%s", stack, layer, s->name);
}

static int unit_name(const void *cfg, size_t unit, char *buf, size_t size)
{
    int layer;
    switch (kind_of(cfg, unit, &layer)) {
    case U_EMB: return snprintf(buf, size, "embedding");
    case U_ENC: return snprintf(buf, size, "encoder.block.%d", layer);
    case U_ENC_FINAL: return snprintf(buf, size, "encoder.final");
    case U_DEC: return snprintf(buf, size, "decoder.block.%d", layer);
    default: return snprintf(buf, size, "head");
    }
}

static double init_std(const void *cfg, const llmrt_tensor_spec *s, float *value)
{
    const llmrt_t5_config *c = cfg;
    const double C = c->dim, F = c->d_ff, dkv = (double)c->dim / c->heads;
    switch ((init_kind)s->init) {
    case I_UNIT: return 1.0;
    case I_C: return 1.0 / sqrt(C);
    case I_QK: return 1.0 / sqrt(C * dkv);
    case I_F: return 1.0 / sqrt(F);
    case I_LSQ: *value = 0.0f; return 0.0; /* step sizes: from the weights, later */
    default: *value = 1.0f; return 0.0; /* the norms' weights */
    }
}

static int check_config(const void *cfg) { return llmrt_t5_config_check(cfg); }
static size_t n_units(const void *cfg) { return llmrt_t5_n_units(cfg); }

static const llmrt_layout_model tables = {
    .name = "t5",
    .init_lsq = I_LSQ,
    .check = check_config, .n_units = n_units,
    .unit_specs = unit_specs, .dim = dim_value,
    .unit_name = unit_name, .tensor_name = tensor_name,
    .init_std = init_std,
};

/* off[role] of each tensor of the unit (NO_OFFSET where absent); the total. */
static size_t unit_offsets(const llmrt_t5_config *c, size_t unit, size_t off[R_N])
{
    llmrt_tensor_spec s[LLMRT_UNIT_MAX_TENSORS];
    size_t n = unit_specs(c, unit, s), pos[LLMRT_UNIT_MAX_TENSORS + 1];
    llmrt_layout_offsets(&tables, c, s, n, pos);
    for (int r = 0; r < R_N; r++) off[r] = NO_OFFSET;
    for (size_t i = 0; i < n; i++) off[s[i].role] = pos[i];
    return pos[n];
}

int llmrt_t5_config_check(const llmrt_t5_config *c)
{
    int rc;
    if ((rc = llmrt_model_check_range("layers", c->layers, 1, 4096)) ||
        (rc = llmrt_model_check_range("decoder_layers", c->decoder_layers, 1, 4096)) ||
        (rc = llmrt_model_check_range("dim", c->dim, 1, 65536)))
        return rc;
    if (c->heads < 1 || c->heads > c->dim || c->dim % c->heads != 0)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "model.heads = %d: expected a divisor of model.dim = %d", c->heads,
                           c->dim);
    if ((rc = llmrt_model_check_range("d_ff", c->d_ff, 1, 1 << 20)) ||
        (rc = llmrt_model_check_range("context", c->context, 1, 1 << 16)))
        return rc;
    if (c->decoder_context < 1 || c->decoder_context > (1 << 16))
        return llmrt_error(LLMRT_ERR_INVALID, "t5: decoder length %d: expected 1 .. %d",
                           c->decoder_context, 1 << 16);
    if (c->vocab < LLMRT_SPAN_VOCAB_MIN || c->vocab > (1 << 30))
        return llmrt_error(LLMRT_ERR_INVALID,
                           "model.vocab = %d: t5 needs %d .. %d (the 256 bytes, PAD, EOS and "
                           "at least one sentinel)",
                           c->vocab, (int)LLMRT_SPAN_VOCAB_MIN, 1 << 30);
    if (c->ff != LLMRT_T5_FF_RELU && c->ff != LLMRT_T5_FF_GATED_GELU)
        return llmrt_error(LLMRT_ERR_INVALID, "model.ff = %d: expected relu or gated-gelu",
                           (int)c->ff);
    if ((rc = llmrt_model_check_range("relative_attention_num_buckets", c->num_buckets, 2, 4096)))
        return rc;
    if (c->max_distance < c->num_buckets / 2 + 1 || c->max_distance > (1 << 20))
        return llmrt_error(LLMRT_ERR_INVALID,
                           "model.relative_attention_max_distance = %d: expected %d .. %d "
                           "(more than half the buckets)",
                           c->max_distance, c->num_buckets / 2 + 1, 1 << 20);
    return llmrt_model_check_dtype("t5", c->dtype, c->qat, "");
}

int llmrt_t5_relative_bucket(int relative_position, int bidirectional, int num_buckets,
                             int max_distance)
{
    /* HF's arithmetic step by step, in float32 like its torch tensors, so
     * the bucket boundaries fall where HF's do. */
    int bucket = 0, n = num_buckets, rp = relative_position;
    if (bidirectional) {
        n /= 2;
        if (rp > 0) bucket += n;
        rp = rp < 0 ? -rp : rp;
    } else {
        rp = rp < 0 ? -rp : 0;
    }
    int max_exact = n / 2;
    if (rp < max_exact) return bucket + rp;
    float ratio = (float)rp / (float)max_exact;
    float scaled = logf(ratio) / (float)log((double)max_distance / (double)max_exact) *
                   (float)(n - max_exact);
    int large = max_exact + (int)scaled;
    return bucket + (large < n - 1 ? large : n - 1);
}

size_t llmrt_t5_n_units(const llmrt_t5_config *c)
{
    return (size_t)c->layers + (size_t)c->decoder_layers + 3;
}

size_t llmrt_t5_n_params(const llmrt_t5_config *c)
{
    return llmrt_layout_n_params(&tables, c);
}

int llmrt_t5_tensor_shape(const llmrt_t5_config *c, size_t unit, size_t tensor, int64_t dims[2])
{
    return llmrt_layout_tensor_shape(&tables, c, unit, tensor, dims);
}

int llmrt_t5_layout_build(const llmrt_t5_config *c, llmrt_model_layout *layout)
{
    return llmrt_layout_build(&tables, c, c->dtype, layout);
}

void llmrt_t5_layout_free(llmrt_model_layout *layout) { llmrt_layout_free(layout); }

void llmrt_t5_init_unit(const llmrt_t5_config *c, size_t unit, uint64_t seed, float *host_params)
{
    llmrt_layout_init_unit(&tables, c, unit, seed, host_params);
    /* The step sizes come last and draw no random numbers, so a QAT model
     * starts from the weights of the same model without QAT. */
    if (c->qat) llmrt_t5_qat_init_scales(c, unit, host_params);
}

int llmrt_t5_qat_init_scales(const llmrt_t5_config *c, size_t unit, float *host_unit)
{
    return llmrt_layout_qat_init_scales(&tables, c, c->qat, 0, unit, host_unit);
}

int llmrt_t5_tensor_scale(const llmrt_t5_config *c, size_t unit, size_t tensor)
{
    return llmrt_layout_tensor_scale(&tables, c, unit, tensor);
}

double llmrt_t5_flops_per_token(const llmrt_t5_config *c, int T)
{
    /* Per token of the stack that runs it: 6 flops per weight it multiplies
     * by, and 12 T C for the two attention products (forward + backward). */
    double C = c->dim, F = c->d_ff, V = c->vocab, Te = T, Td = c->decoder_context;
    double ffw = (c->ff == LLMRT_T5_FF_RELU ? 2.0 : 3.0) * C * F;
    double enc = c->layers * (6.0 * (4.0 * C * C + ffw) + 12.0 * Te * C);
    double dec = c->decoder_layers * (6.0 * (8.0 * C * C + ffw) + 12.0 * (Td + Te) * C) +
                 6.0 * V * C;
    return enc + dec * (Td / Te);
}

/* ------------------------------------------------------------------------ */
/* Activations                                                              */
/* ------------------------------------------------------------------------ */

typedef struct ff_acts {
    void *ln;              /* [R, C] norm(input)                     */
    float *rstd;           /* [R]                                    */
    void *pre;             /* [R, F] wi x (gated: wi_0 x)            */
    void *lin;             /* [R, F] gated: wi_1 x                   */
    void *gelu;            /* [R, F] gated: gelu(pre)                */
    void *act;             /* [R, F] relu(pre) or gelu(pre) * lin    */
} ff_acts;

typedef struct attn_acts {
    void *ln;              /* [R, C] norm(input)                     */
    float *rstd;           /* [R]                                    */
    void *qkv;             /* [R, 3C] q | k | v (cross: q only, [R, C]) */
    void *kv;              /* cross: [Re, 2C] k | v of the encoder output */
    void *atty;            /* [R, C]                                 */
    float *lse;            /* [B, H, Tq]                             */
    void *res;             /* [R, C] input + o(atty)                 */
} attn_acts;

typedef struct block_acts {
    attn_acts self, cross; /* cross: decoder only */
    ff_acts ff;
    void *out;             /* [R, C] res + wo(act): the block output */
} block_acts;

typedef struct t5_acts {
    void *enc_x0, *dec_x0;        /* [R, C] embeddings                         */
    block_acts *enc, *dec;
    void *enc_out;                /* [Re, C] encoder.final_layer_norm output    */
    float *enc_rstd;
    void *dec_out;                /* [Rd, C] decoder.final_layer_norm output    */
    float *dec_rstd;
    void *head_in;                /* [Rd, C] dec_out * C^-0.5 (tied)            */
    void *logits;                 /* [Rd, Vp] (dlogits after the backward)      */
    float *losses;                /* [Rd]                                       */
    int32_t *enc_ids, *dec_ids, *targets;
    float *enc_bias, *dec_bias;   /* [H, T, T] relative position bias           */
    float *enc_dbias, *dec_dbias; /* their gradients, summed over the blocks    */
    void *rel_grad;               /* [NB, H] a stack's relative bias gradient   */
    /* Backward scratch, [max(Re, Rd), ...]. */
    void *d_resid, *d_enc, *d_norm, *d_tmp; /* C  */
    void *d_big, *d_big2, *d_big3;          /* max(F, 3C) */
    /* QAT only (fp32): the fake-quantized weight of the linear layer at hand
     * and the gradient with respect to it, [max(F, 3C), C]. */
    float *qat_w, *qat_dw;
} t5_acts;

static void plan_ff(llmrt_carver *cv, ff_acts *f, size_t R, size_t C, size_t F, size_t es,
                    int gated)
{
    f->ln = llmrt_carve(cv, R * C, es);
    f->rstd = llmrt_carve(cv, R, sizeof(float));
    f->pre = llmrt_carve(cv, R * F, es);
    f->lin = gated ? llmrt_carve(cv, R * F, es) : NULL;
    f->gelu = gated ? llmrt_carve(cv, R * F, es) : NULL;
    f->act = llmrt_carve(cv, R * F, es);
}

static void plan_attn(llmrt_carver *cv, attn_acts *a, size_t B, size_t T, size_t R, size_t Re,
                      size_t C, size_t H, size_t es, int cross)
{
    a->ln = llmrt_carve(cv, R * C, es);
    a->rstd = llmrt_carve(cv, R, sizeof(float));
    a->qkv = llmrt_carve(cv, R * (cross ? 1 : 3) * C, es);
    a->kv = cross ? llmrt_carve(cv, Re * 2 * C, es) : NULL;
    a->atty = llmrt_carve(cv, R * C, es);
    a->lse = llmrt_carve(cv, B * H * T, sizeof(float));
    a->res = llmrt_carve(cv, R * C, es);
}

/* The one list of activation buffers (sizes and, with base, addresses). */
static size_t plan_activations(const llmrt_t5_config *c, size_t B, size_t Te, size_t Td,
                               char *base, t5_acts *a)
{
    llmrt_carver cv = {base, 0, 0};
    size_t C = (size_t)c->dim, H = (size_t)c->heads, F = (size_t)c->d_ff;
    size_t Vp = llmrt_padded_vocab(c->vocab);
    size_t NB = (size_t)c->num_buckets, es = llmrt_dtype_size(c->dtype), f = sizeof(float);
    size_t i32 = sizeof(int32_t);
    int gated = c->ff == LLMRT_T5_FF_GATED_GELU;
    size_t Re, Rd;
    if (!es || __builtin_mul_overflow(B, Te, &Re) || __builtin_mul_overflow(B, Td, &Rd) ||
        Re > SIZE_MAX / (8 * (F + C) + Vp) || Rd > SIZE_MAX / (8 * (F + C) + Vp))
        return 0;
    size_t R = Re > Rd ? Re : Rd, W = F > 3 * C ? F : 3 * C;
    t5_acts dummy;
    if (!a) a = &dummy;
    a->enc_x0 = llmrt_carve(&cv, Re * C, es);
    a->dec_x0 = llmrt_carve(&cv, Rd * C, es);
    for (size_t l = 0; l < (size_t)c->layers; l++) {
        block_acts scratch, *ba = base ? &a->enc[l] : &scratch;
        plan_attn(&cv, &ba->self, B, Te, Re, Re, C, H, es, 0);
        plan_ff(&cv, &ba->ff, Re, C, F, es, gated);
        ba->out = llmrt_carve(&cv, Re * C, es);
    }
    a->enc_out = llmrt_carve(&cv, Re * C, es);
    a->enc_rstd = llmrt_carve(&cv, Re, f);
    for (size_t l = 0; l < (size_t)c->decoder_layers; l++) {
        block_acts scratch, *ba = base ? &a->dec[l] : &scratch;
        plan_attn(&cv, &ba->self, B, Td, Rd, Re, C, H, es, 0);
        plan_attn(&cv, &ba->cross, B, Td, Rd, Re, C, H, es, 1);
        plan_ff(&cv, &ba->ff, Rd, C, F, es, gated);
        ba->out = llmrt_carve(&cv, Rd * C, es);
    }
    a->dec_out = llmrt_carve(&cv, Rd * C, es);
    a->dec_rstd = llmrt_carve(&cv, Rd, f);
    a->head_in = c->tie_embeddings ? llmrt_carve(&cv, Rd * C, es) : NULL;
    a->logits = llmrt_carve(&cv, Rd * Vp, es);
    a->losses = llmrt_carve(&cv, Rd, f);
    a->enc_ids = llmrt_carve(&cv, Re, i32);
    a->dec_ids = llmrt_carve(&cv, Rd, i32);
    a->targets = llmrt_carve(&cv, Rd, i32);
    a->enc_bias = llmrt_carve(&cv, H * Te * Te, f);
    a->dec_bias = llmrt_carve(&cv, H * Td * Td, f);
    a->enc_dbias = llmrt_carve(&cv, H * Te * Te, f);
    a->dec_dbias = llmrt_carve(&cv, H * Td * Td, f);
    a->rel_grad = llmrt_carve(&cv, NB * H, es);
    a->d_resid = llmrt_carve(&cv, R * C, es);
    a->d_enc = llmrt_carve(&cv, Re * C, es);
    a->d_norm = llmrt_carve(&cv, R * C, es);
    a->d_tmp = llmrt_carve(&cv, R * C, es);
    a->d_big = llmrt_carve(&cv, R * W, es);
    a->d_big2 = llmrt_carve(&cv, R * W, es);
    a->d_big3 = llmrt_carve(&cv, R * W, es);
    a->qat_w = c->qat ? llmrt_carve(&cv, W * C, f) : NULL;
    a->qat_dw = c->qat ? llmrt_carve(&cv, W * C, f) : NULL;
    return cv.overflow ? 0 : cv.off;
}

size_t llmrt_t5_activation_bytes(const llmrt_t5_config *c, int B, int T)
{
    if (B < 1 || T < 1 || c->decoder_context < 1) return 0;
    return plan_activations(c, (size_t)B, (size_t)T, (size_t)c->decoder_context, NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* The model                                                                */
/* ------------------------------------------------------------------------ */

struct llmrt_t5 {
    llmrt_t5_config cfg;
    llmrt_model_base base; /* runtime, layers, layout, activation memory; host_ids
                              stages the decoder inputs of the seam's forward */
    size_t emb_off[R_N], enc_off[2][R_N], dec_off[2][R_N], encf_off[R_N], head_off[R_N];
    int Td_max;
    t5_acts acts;          /* carved out of base.act_memory */
    /* host scratch of the relative position bias */
    float *host_bias;      /* [H, T, T] for the larger stack                 */
    float *host_rel;       /* [NB, H] fp32                                   */
    double *host_rel_acc;  /* [NB, H]                                        */
    uint16_t *host_rel16;  /* [NB, H] 16-bit staging                         */
    int B, Te, Td;         /* the last forward's shape */
};

static void *at(const llmrt_t5 *m, const void *base, size_t i)
{
    return llmrt_at(&m->base.ly, base, i);
}

#define CHECK(call)                                                                        \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_) return rc_;                                                               \
    } while (0)

static size_t unit_enc(int l) { return 1 + (size_t)l; }
static size_t unit_encf(const llmrt_t5 *m) { return 1 + (size_t)m->cfg.layers; }
static size_t unit_dec(const llmrt_t5 *m, int l) { return 2 + (size_t)m->cfg.layers + (size_t)l; }
static size_t unit_head(const llmrt_t5 *m)
{
    return 2 + (size_t)m->cfg.layers + (size_t)m->cfg.decoder_layers;
}
/* Offsets of block l's tensors (block 0 has the relative bias, others not). */
static const size_t *enc_offsets(const llmrt_t5 *m, int l) { return m->enc_off[l ? 1 : 0]; }
static const size_t *dec_offsets(const llmrt_t5 *m, int l) { return m->dec_off[l ? 1 : 0]; }

static int check_backend(const llmrt_t5 *m)
{
    const llmrt_compute_vtable *vt = m->base.ly.vt;
    const size_t sz = vt->struct_size;
    const int relu = m->cfg.ff == LLMRT_T5_FF_RELU, gated = !relu;
    const llmrt_kernel_need extra[] = {
        LLMRT_KERNEL_NEED(vt, add),
        LLMRT_KERNEL_NEED(vt, scale),
        {"relu_forward (ABI 1.2)", !relu || LLMRT_HAS(vt, sz, relu_forward)},
        {"relu_backward (ABI 1.2)", !relu || LLMRT_HAS(vt, sz, relu_backward)},
        {"mul (ABI 1.2)", !gated || LLMRT_HAS(vt, sz, mul)},
        {"gelu_forward", !gated || LLMRT_HAS(vt, sz, gelu_forward)},
        {"gelu_backward", !gated || LLMRT_HAS(vt, sz, gelu_backward)},
    };
    return llmrt_model_check_backend(&m->base, m->cfg.qat, extra, sizeof extra / sizeof extra[0]);
}

void llmrt_t5_destroy(llmrt_t5 *m)
{
    if (!m) return;
    llmrt_model_base_free(&m->base);
    free(m->acts.enc);
    free(m->acts.dec);
    free(m->host_bias);
    free(m->host_rel);
    free(m->host_rel_acc);
    free(m->host_rel16);
    free(m);
}

int llmrt_t5_create(llmrt_t5 **out, const llmrt_t5_config *cfg, llmrt_rt *rt, int B_max,
                    int T_max)
{
    *out = NULL;
    int rc;
    if ((rc = llmrt_t5_config_check(cfg)) ||
        (rc = llmrt_model_check_limits("t5", B_max, T_max, cfg->context)))
        return rc;
    size_t act_bytes = llmrt_t5_activation_bytes(cfg, B_max, T_max);
    if ((rc = llmrt_model_check_act_bytes("t5", act_bytes, B_max, T_max))) return rc;
    llmrt_t5 *m = calloc(1, sizeof *m);
    if (!m) return llmrt_error(LLMRT_ERR_NOMEM, "t5: out of host memory");
    m->cfg = *cfg;
    llmrt_model_base_init(&m->base, "t5", rt, B_max, T_max);
    /* T5 scales no scores (the 1/sqrt(d) is folded into q's initialisation). */
    llmrt_layers_init(&m->base.ly, rt, cfg->dtype, cfg->dim, cfg->heads,
                      (float)LLMRT_T5_RMS_EPS, 1.0f, LLMRT_WEIGHT_OUT_IN);
    m->Td_max = cfg->decoder_context;
    unit_offsets(cfg, 0, m->emb_off);
    unit_offsets(cfg, 1, m->enc_off[0]);
    unit_offsets(cfg, 1 + (cfg->layers > 1), m->enc_off[1]);
    unit_offsets(cfg, 1 + (size_t)cfg->layers, m->encf_off);
    unit_offsets(cfg, 2 + (size_t)cfg->layers, m->dec_off[0]);
    unit_offsets(cfg, 2 + (size_t)cfg->layers + (cfg->decoder_layers > 1), m->dec_off[1]);
    unit_offsets(cfg, 2 + (size_t)cfg->layers + (size_t)cfg->decoder_layers, m->head_off);
    if ((rc = check_backend(m)) || (rc = llmrt_t5_layout_build(cfg, &m->base.layout))) goto fail;
    size_t Tmax = (size_t)(T_max > m->Td_max ? T_max : m->Td_max);
    size_t NBH = (size_t)cfg->num_buckets * (size_t)cfg->heads;
    m->acts.enc = calloc((size_t)cfg->layers, sizeof *m->acts.enc);
    m->acts.dec = calloc((size_t)cfg->decoder_layers, sizeof *m->acts.dec);
    m->host_bias = malloc((size_t)cfg->heads * Tmax * Tmax * sizeof *m->host_bias);
    m->host_rel = malloc(NBH * sizeof *m->host_rel);
    m->host_rel_acc = malloc(NBH * sizeof *m->host_rel_acc);
    m->host_rel16 = malloc(NBH * sizeof *m->host_rel16);
    if (!m->acts.enc || !m->acts.dec || !m->host_bias || !m->host_rel || !m->host_rel_acc ||
        !m->host_rel16) {
        rc = llmrt_error(LLMRT_ERR_NOMEM, "t5: out of host memory");
        goto fail;
    }
    if ((rc = llmrt_model_base_alloc(&m->base, (size_t)B_max * (size_t)m->Td_max, act_bytes)))
        goto fail;
    if (plan_activations(cfg, (size_t)B_max, (size_t)T_max, (size_t)m->Td_max,
                         m->base.act_memory, &m->acts) != act_bytes) {
        rc = llmrt_error(LLMRT_ERR_INTERNAL, "t5: activation plan changed size");
        goto fail;
    }
    m->base.ly.qat_w = m->acts.qat_w;
    m->base.ly.qat_dw = m->acts.qat_dw;
    *out = m;
    return LLMRT_OK;
fail:
    llmrt_t5_destroy(m);
    return rc;
}

const llmrt_t5_config *llmrt_t5_get_config(const llmrt_t5 *m) { return &m->cfg; }
const llmrt_model_layout *llmrt_t5_layout(const llmrt_t5 *m) { return &m->base.layout; }

/* ------------------------------------------------------------------------ */
/* Layers, as kernel calls                                                  */
/* ------------------------------------------------------------------------ */

/* T5's linear layers have no bias: out[rows, n] (+)= inp[rows, k] @ w[n,
 * k]^T, where the weight is tensor `r` of the unit at p (o: its offsets).
 * With QAT the weight is fake-quantized with its step sizes (layers.c). */
static int linear_forward(llmrt_t5 *m, void *out, const void *inp, const void *p,
                          const size_t *o, role r, int64_t rows, int64_t k, int64_t n,
                          int accumulate)
{
    const float *s = m->cfg.qat ? at(m, p, o[scale_role(r)]) : NULL;
    return llmrt_linear_forward(&m->base.ly, out, inp, at(m, p, o[r]), s, NULL, rows, k, n,
                                accumulate);
}

/* dinp (+)= dout @ w (accumulate 0 overwrites), dw[n, k] += dout^T @ inp
 * into the gradient unit g; with QAT the step sizes' gradient too. */
static int linear_backward(llmrt_t5 *m, void *dinp, const void *p, void *g, const size_t *o,
                           role r, const void *dout, const void *inp, int64_t rows, int64_t k,
                           int64_t n, int accumulate)
{
    const size_t rs = m->cfg.qat ? o[scale_role(r)] : 0;
    const float *s = m->cfg.qat ? at(m, p, rs) : NULL;
    float *ds = m->cfg.qat ? at(m, g, rs) : NULL;
    return llmrt_linear_backward(&m->base.ly, dinp, at(m, g, o[r]), ds, NULL, dout, inp,
                                 at(m, p, o[r]), s, rows, k, n, accumulate);
}

/* The relative bias table [NB, H] at w (device, model dtype) to fp32 host. */
static int download_rel(llmrt_t5 *m, const void *w)
{
    const llmrt_dtype dt = m->base.ly.dt;
    size_t n = (size_t)m->cfg.num_buckets * (size_t)m->cfg.heads;
    if (dt == LLMRT_DTYPE_F32) return llmrt_rt_download(m->base.rt, m->host_rel, w, n * 4);
    CHECK(llmrt_rt_download(m->base.rt, m->host_rel16, w, n * 2));
    for (size_t i = 0; i < n; i++)
        m->host_rel[i] = dt == LLMRT_DTYPE_BF16 ? llmrt_bf16_to_f32(m->host_rel16[i])
                                                : llmrt_f16_to_f32(m->host_rel16[i]);
    return LLMRT_OK;
}

/* bias[h, i, j] = W[bucket(j - i), h] for T x T, to the device. */
static int build_bias(llmrt_t5 *m, const void *w, int T, int bidirectional, float *dev_bias)
{
    CHECK(download_rel(m, w));
    const int H = m->cfg.heads;
    const size_t TT = (size_t)T * (size_t)T;
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) {
            int b = llmrt_t5_relative_bucket(j - i, bidirectional, m->cfg.num_buckets,
                                             m->cfg.max_distance);
            for (int h = 0; h < H; h++)
                m->host_bias[(size_t)h * TT + (size_t)i * (size_t)T + (size_t)j] =
                    m->host_rel[(size_t)b * (size_t)H + (size_t)h];
        }
    return llmrt_rt_upload(m->base.rt, dev_bias, m->host_bias, (size_t)H * TT * sizeof(float));
}

/* dW[bucket(j - i), h] += dbias[h, i, j], folded on the host in double in a
 * fixed order, then added into the gradient dw (device, model dtype). */
static int fold_dbias(llmrt_t5 *m, const float *dev_dbias, int T, int bidirectional, void *dw)
{
    const llmrt_dtype dt = m->base.ly.dt;
    const int H = m->cfg.heads, NB = m->cfg.num_buckets;
    const size_t TT = (size_t)T * (size_t)T, n = (size_t)NB * (size_t)H;
    CHECK(llmrt_rt_download(m->base.rt, m->host_bias, dev_dbias, (size_t)H * TT * sizeof(float)));
    for (size_t i = 0; i < n; i++) m->host_rel_acc[i] = 0.0;
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) {
            int b = llmrt_t5_relative_bucket(j - i, bidirectional, NB, m->cfg.max_distance);
            for (int h = 0; h < H; h++)
                m->host_rel_acc[(size_t)b * (size_t)H + (size_t)h] +=
                    m->host_bias[(size_t)h * TT + (size_t)i * (size_t)T + (size_t)j];
        }
    if (dt == LLMRT_DTYPE_F32) {
        for (size_t i = 0; i < n; i++) m->host_rel[i] = (float)m->host_rel_acc[i];
        CHECK(llmrt_rt_upload(m->base.rt, m->acts.rel_grad, m->host_rel, n * 4));
    } else {
        for (size_t i = 0; i < n; i++)
            m->host_rel16[i] = dt == LLMRT_DTYPE_BF16 ? llmrt_f32_to_bf16((float)m->host_rel_acc[i])
                                                      : llmrt_f32_to_f16((float)m->host_rel_acc[i]);
        CHECK(llmrt_rt_upload(m->base.rt, m->acts.rel_grad, m->host_rel16, n * 2));
    }
    return m->base.ly.vt->add(m->base.ly.cc, dw, dw, m->acts.rel_grad, n, dt);
}

/* ------------------------------------------------------------------------ */
/* Forward                                                                  */
/* ------------------------------------------------------------------------ */

/* The feed-forward sublayer: out = res + wo(act(norm(res))). */
static int ff_forward(llmrt_t5 *m, ff_acts *f, void *out, const void *res, const void *p,
                      const size_t *o, int64_t R)
{
    const llmrt_layers *ly = &m->base.ly;
    const int64_t C = m->cfg.dim, F = m->cfg.d_ff;
    const size_t nF = (size_t)(R * F);
    CHECK(llmrt_rmsnorm_forward(ly, f->ln, f->rstd, res, at(m, p, o[R_FF_LN]), R));
    if (m->cfg.ff == LLMRT_T5_FF_RELU) {
        CHECK(linear_forward(m, f->pre, f->ln, p, o, R_FF_WI, R, C, F, 0));
        CHECK(ly->vt->relu_forward(ly->cc, f->act, f->pre, nF, ly->dt));
    } else {
        CHECK(linear_forward(m, f->pre, f->ln, p, o, R_FF_WI0, R, C, F, 0));
        CHECK(linear_forward(m, f->lin, f->ln, p, o, R_FF_WI1, R, C, F, 0));
        CHECK(ly->vt->gelu_forward(ly->cc, f->gelu, f->pre, nF, ly->dt, LLMRT_T5_GELU));
        CHECK(ly->vt->mul(ly->cc, f->act, f->gelu, f->lin, nF, ly->dt));
    }
    CHECK(ly->vt->copy(ly->cc, out, res, (size_t)(R * C) * ly->es, NULL));
    return linear_forward(m, out, f->act, p, o, R_FF_WO, R, F, C, 1);
}

/* Self-attention sublayer: a->res = x + o(att(qkv(norm(x)))). */
static int self_attn_forward(llmrt_t5 *m, attn_acts *a, const void *x, const void *p,
                             const size_t *o, int B, int T, int causal, const float *bias)
{
    const llmrt_layers *ly = &m->base.ly;
    const int64_t R = (int64_t)B * T, C = m->cfg.dim;
    CHECK(llmrt_rmsnorm_forward(ly, a->ln, a->rstd, x, at(m, p, o[R_SA_LN]), R));
    CHECK(linear_forward(m, a->qkv, a->ln, p, o, R_SA_Q, R, C, 3 * C, 0));
    CHECK(llmrt_self_attention_forward(ly, B, T, causal, a->qkv, a->atty, a->lse, bias));
    CHECK(ly->vt->copy(ly->cc, a->res, x, (size_t)(R * C) * ly->es, NULL));
    return linear_forward(m, a->res, a->atty, p, o, R_SA_O, R, C, C, 1);
}

/* Cross-attention sublayer: a->res = y + o(att(q(norm(y)), kv(enc))). */
static int cross_attn_forward(llmrt_t5 *m, attn_acts *a, const void *y, const void *enc,
                              const void *p, const size_t *o, int B, int Td, int Te)
{
    const llmrt_layers *ly = &m->base.ly;
    const int64_t Rd = (int64_t)B * Td, Re = (int64_t)B * Te, C = m->cfg.dim;
    CHECK(llmrt_rmsnorm_forward(ly, a->ln, a->rstd, y, at(m, p, o[R_CA_LN]), Rd));
    CHECK(linear_forward(m, a->qkv, a->ln, p, o, R_CA_Q, Rd, C, C, 0));
    CHECK(linear_forward(m, a->kv, enc, p, o, R_CA_K, Re, C, 2 * C, 0));
    llmrt_attention_desc ad = llmrt_attention_make_desc(ly, B, Td, Te, 0, a->qkv, C, a->kv,
                                                        at(m, a->kv, (size_t)C), 2 * C, a->atty,
                                                        a->lse, NULL);
    CHECK(ly->vt->attention_forward(ly->cc, &ad));
    CHECK(ly->vt->copy(ly->cc, a->res, y, (size_t)(Rd * C) * ly->es, NULL));
    return linear_forward(m, a->res, a->atty, p, o, R_CA_O, Rd, C, C, 1);
}

static int forward(llmrt_t5 *m, const int32_t *enc_in, int Te, const int32_t *dec_in,
                   const int32_t *targets, int Td, int B, float *mean_loss)
{
    const llmrt_layers *ly = &m->base.ly;
    const llmrt_compute_vtable *vt = ly->vt;
    void *cc = ly->cc;
    llmrt_rt *rt = m->base.rt;
    t5_acts *a = &m->acts;
    const int Le = m->cfg.layers, Ld = m->cfg.decoder_layers, vocab = m->cfg.vocab;
    const int64_t Re = (int64_t)B * Te, Rd = (int64_t)B * Td, C = m->cfg.dim, V = vocab;
    const int64_t Vp = (int64_t)llmrt_padded_vocab(vocab);
    const llmrt_dtype dt = ly->dt;
    void *p, *e;

    m->base.backward_ready = 0;
    m->base.logits_valid = 0;
    CHECK(llmrt_model_check_ids("t5", "encoder input", enc_in, (size_t)Re, Te, vocab, 0));
    CHECK(llmrt_model_check_ids("t5", "decoder input", dec_in, (size_t)Rd, Td, vocab, 0));
    m->base.n_targets = 0;
    if (targets) {
        CHECK(llmrt_model_check_ids("t5", "target", targets, (size_t)Rd, Td, vocab, 1));
        for (int64_t i = 0; i < Rd; i++) m->base.n_targets += targets[i] >= 0;
        CHECK(llmrt_rt_upload(rt, a->targets, targets, (size_t)Rd * sizeof *targets));
    }
    CHECK(llmrt_rt_upload(rt, a->enc_ids, enc_in, (size_t)Re * sizeof *enc_in));
    CHECK(llmrt_rt_upload(rt, a->dec_ids, dec_in, (size_t)Rd * sizeof *dec_in));
    m->B = B;
    m->Te = Te;
    m->Td = Td;

    /* Embeddings of both stacks from shared.weight. */
    CHECK(llmrt_rt_pre_forward(rt, 0, &e));
    CHECK(vt->embedding_forward(cc, a->enc_x0, a->enc_ids, at(m, e, m->emb_off[R_SHARED]), Re, C,
                                dt, 0));
    CHECK(vt->embedding_forward(cc, a->dec_x0, a->dec_ids, at(m, e, m->emb_off[R_SHARED]), Rd, C,
                                dt, 0));
    CHECK(llmrt_rt_post_forward(rt, 0));

    /* Encoder. */
    const void *x = a->enc_x0;
    for (int l = 0; l < Le; l++) {
        block_acts *ba = &a->enc[l];
        const size_t *o = enc_offsets(m, l);
        CHECK(llmrt_rt_pre_forward(rt, unit_enc(l), &p));
        if (l == 0) CHECK(build_bias(m, at(m, p, o[R_SA_REL]), Te, 1, a->enc_bias));
        CHECK(self_attn_forward(m, &ba->self, x, p, o, B, Te, 0, a->enc_bias));
        CHECK(ff_forward(m, &ba->ff, ba->out, ba->self.res, p, o, Re));
        CHECK(llmrt_rt_post_forward(rt, unit_enc(l)));
        x = ba->out;
    }
    CHECK(llmrt_rt_pre_forward(rt, unit_encf(m), &p));
    CHECK(llmrt_rmsnorm_forward(ly, a->enc_out, a->enc_rstd, x,
                                at(m, p, m->encf_off[R_ENC_FINAL_LN]), Re));
    CHECK(llmrt_rt_post_forward(rt, unit_encf(m)));

    /* Decoder. */
    const void *y = a->dec_x0;
    for (int l = 0; l < Ld; l++) {
        block_acts *ba = &a->dec[l];
        const size_t *o = dec_offsets(m, l);
        CHECK(llmrt_rt_pre_forward(rt, unit_dec(m, l), &p));
        if (l == 0) CHECK(build_bias(m, at(m, p, o[R_SA_REL]), Td, 0, a->dec_bias));
        CHECK(self_attn_forward(m, &ba->self, y, p, o, B, Td, 1, a->dec_bias));
        CHECK(cross_attn_forward(m, &ba->cross, ba->self.res, a->enc_out, p, o, B, Td, Te));
        CHECK(ff_forward(m, &ba->ff, ba->out, ba->cross.res, p, o, Rd));
        CHECK(llmrt_rt_post_forward(rt, unit_dec(m, l)));
        y = ba->out;
    }

    /* Head: final norm, then (scaled) logits. */
    void *h;
    CHECK(llmrt_rt_pre_forward(rt, unit_head(m), &h));
    CHECK(llmrt_rmsnorm_forward(ly, a->dec_out, a->dec_rstd, y,
                                at(m, h, m->head_off[R_DEC_FINAL_LN]), Rd));
    const void *head_in = a->dec_out, *head_w;
    if (m->cfg.tie_embeddings) {
        CHECK(vt->copy(cc, a->head_in, a->dec_out, (size_t)(Rd * C) * ly->es, NULL));
        CHECK(vt->scale(cc, a->head_in, (size_t)(Rd * C), dt, (float)(1.0 / sqrt((double)C))));
        head_in = a->head_in;
        CHECK(llmrt_rt_pre_forward(rt, 0, &e));
        head_w = at(m, e, m->emb_off[R_SHARED]);
    } else {
        head_w = at(m, h, m->head_off[R_LM_HEAD]);
    }
    CHECK(llmrt_logits_forward(ly, a->logits, head_in, head_w, NULL, Rd, V, Vp));
    if (m->cfg.tie_embeddings) CHECK(llmrt_rt_post_forward(rt, 0));
    CHECK(llmrt_rt_post_forward(rt, unit_head(m)));
    m->base.logits_valid = 1;

    if (targets) m->base.backward_ready = 1;
    if (mean_loss) *mean_loss = 0.0f;
    if (!targets || !mean_loss) return LLMRT_OK;
    return llmrt_model_mean_loss(&m->base, a->logits, a->targets, a->losses, Rd,
                                 m->cfg.vocab, mean_loss);
}

int llmrt_t5_forward(llmrt_t5 *m, const int32_t *enc_inputs, int T_enc,
                     const int32_t *dec_inputs, const int32_t *targets, int T_dec, int B,
                     float *mean_loss)
{
    if (B < 1 || B > m->base.B_max || T_enc < 1 || T_enc > m->base.T_max || T_dec < 1 ||
        T_dec > m->Td_max)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "t5 forward: batch %d x (%d encoder, %d decoder) tokens: the model "
                           "was created for at most %d x (%d, %d)",
                           B, T_enc, T_dec, m->base.B_max, m->base.T_max, m->Td_max);
    CHECK(llmrt_model_check_attached(&m->base));
    return llmrt_model_forward_done(
        &m->base, forward(m, enc_inputs, T_enc, dec_inputs, targets, T_dec, B, mean_loss));
}

int llmrt_t5_forward_targets(llmrt_t5 *m, const int32_t *inputs, const int32_t *targets, int B,
                             int T, float *mean_loss)
{
    const int Td = m->Td_max;
    if (!targets)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "t5 forward: the decoder input comes from the targets: pass them");
    if (B < 1 || B > m->base.B_max)
        return llmrt_error(LLMRT_ERR_INVALID, "t5 forward: batch %d: expected 1 .. %d", B,
                           m->base.B_max);
    for (int b = 0; b < B; b++) {
        const int32_t *tg = targets + (size_t)b * (size_t)Td;
        int32_t *dec = m->base.host_ids + (size_t)b * (size_t)Td;
        llmrt_span_decoder_inputs(tg, (size_t)Td, dec);
        for (int t = 1; t < Td; t++)
            if (dec[t] < 0) dec[t] = LLMRT_SPAN_PAD; /* as HF's _shift_right */
    }
    return llmrt_t5_forward(m, inputs, T, m->base.host_ids, targets, Td, B, mean_loss);
}

/* ------------------------------------------------------------------------ */
/* Backward                                                                 */
/* ------------------------------------------------------------------------ */

/* The feed-forward sublayer: d_resid holds d out on entry (and keeps it: the
 * residual passes it to res), and gets d res on exit. */
static int ff_backward(llmrt_t5 *m, ff_acts *f, const void *res, const void *p, void *g,
                       const size_t *o, int64_t R)
{
    const llmrt_layers *ly = &m->base.ly;
    t5_acts *a = &m->acts;
    const int64_t C = m->cfg.dim, F = m->cfg.d_ff;
    const size_t nF = (size_t)(R * F);
    void *d_act = a->d_big, *d_pre = a->d_big2;
    CHECK(linear_backward(m, d_act, p, g, o, R_FF_WO, a->d_resid, f->act, R, F, C, 0));
    CHECK(llmrt_zero(ly, d_pre, nF));
    if (m->cfg.ff == LLMRT_T5_FF_RELU) {
        CHECK(ly->vt->relu_backward(ly->cc, d_pre, f->pre, d_act, nF, ly->dt));
        CHECK(linear_backward(m, a->d_norm, p, g, o, R_FF_WI, d_pre, f->ln, R, C, F, 0));
    } else {
        /* act = gelu(pre) * lin: d lin = d_act * gelu, d gelu = d_act * lin. */
        void *d_lin = a->d_big3;
        CHECK(ly->vt->mul(ly->cc, d_lin, d_act, f->gelu, nF, ly->dt));
        CHECK(ly->vt->mul(ly->cc, d_act, d_act, f->lin, nF, ly->dt)); /* d gelu, in place */
        CHECK(ly->vt->gelu_backward(ly->cc, d_pre, f->pre, d_act, nF, ly->dt, LLMRT_T5_GELU));
        CHECK(linear_backward(m, a->d_norm, p, g, o, R_FF_WI0, d_pre, f->ln, R, C, F, 0));
        CHECK(linear_backward(m, a->d_norm, p, g, o, R_FF_WI1, d_lin, f->ln, R, C, F, 1));
    }
    return llmrt_rmsnorm_backward(ly, a->d_resid, at(m, g, o[R_FF_LN]), a->d_norm, res,
                                  at(m, p, o[R_FF_LN]), f->rstd, R);
}

/* Self-attention sublayer: d_resid holds d res on entry, d x on exit. */
static int self_attn_backward(llmrt_t5 *m, attn_acts *sa, const void *x, const void *p, void *g,
                              const size_t *o, int B, int T, int causal, const float *bias,
                              float *dbias)
{
    const llmrt_layers *ly = &m->base.ly;
    t5_acts *a = &m->acts;
    const int64_t R = (int64_t)B * T, C = m->cfg.dim;
    void *d_atty = a->d_norm, *d_qkv = a->d_big;
    CHECK(linear_backward(m, d_atty, p, g, o, R_SA_O, a->d_resid, sa->atty, R, C, C, 0));
    CHECK(llmrt_self_attention_backward(ly, B, T, causal, sa->qkv, sa->atty, sa->lse, bias,
                                        d_atty, d_qkv, dbias));
    CHECK(linear_backward(m, a->d_tmp, p, g, o, R_SA_Q, d_qkv, sa->ln, R, C, 3 * C, 0));
    return llmrt_rmsnorm_backward(ly, a->d_resid, at(m, g, o[R_SA_LN]), a->d_tmp, x,
                                  at(m, p, o[R_SA_LN]), sa->rstd, R);
}

/* Cross-attention sublayer: d_resid holds d res on entry, d y on exit;
 * d_enc += d(encoder output). */
static int cross_attn_backward(llmrt_t5 *m, attn_acts *ca, const void *y, const void *p,
                               void *g, const size_t *o, int B, int Td, int Te)
{
    const llmrt_layers *ly = &m->base.ly;
    t5_acts *a = &m->acts;
    const int64_t Rd = (int64_t)B * Td, Re = (int64_t)B * Te, C = m->cfg.dim;
    void *d_atty = a->d_norm, *d_q = a->d_big, *d_kv = a->d_big2;
    CHECK(linear_backward(m, d_atty, p, g, o, R_CA_O, a->d_resid, ca->atty, Rd, C, C, 0));
    CHECK(llmrt_zero(ly, d_q, (size_t)(Rd * C)));
    CHECK(llmrt_zero(ly, d_kv, (size_t)(Re * 2 * C)));
    llmrt_attention_desc ad = llmrt_attention_make_desc(ly, B, Td, Te, 0, ca->qkv, C, ca->kv,
                                                        at(m, ca->kv, (size_t)C), 2 * C,
                                                        ca->atty, ca->lse, NULL);
    ad.dout = d_atty;
    ad.dq = d_q;
    ad.dk = d_kv;
    ad.dv = at(m, d_kv, (size_t)C);
    CHECK(ly->vt->attention_backward(ly->cc, &ad));
    CHECK(linear_backward(m, a->d_enc, p, g, o, R_CA_K, d_kv, m->acts.enc_out, Re, C, 2 * C, 1));
    CHECK(linear_backward(m, a->d_tmp, p, g, o, R_CA_Q, d_q, ca->ln, Rd, C, C, 0));
    return llmrt_rmsnorm_backward(ly, a->d_resid, at(m, g, o[R_CA_LN]), a->d_tmp, y,
                                  at(m, p, o[R_CA_LN]), ca->rstd, Rd);
}

static int backward(llmrt_t5 *m, float loss_scale)
{
    const llmrt_layers *ly = &m->base.ly;
    const llmrt_compute_vtable *vt = ly->vt;
    void *cc = ly->cc;
    llmrt_rt *rt = m->base.rt;
    t5_acts *a = &m->acts;
    const int Le = m->cfg.layers, Ld = m->cfg.decoder_layers, B = m->B, Te = m->Te, Td = m->Td;
    const int64_t Re = (int64_t)B * Te, Rd = (int64_t)B * Td, C = m->cfg.dim, V = m->cfg.vocab;
    const int64_t Vp = (int64_t)llmrt_padded_vocab(m->cfg.vocab);
    const int H = m->cfg.heads;
    const llmrt_dtype dt = ly->dt;
    void *hp, *hg, *ep, *eg, *p, *g;

    CHECK(llmrt_rt_pre_backward(rt, unit_head(m), &hp, &hg));
    CHECK(llmrt_rt_pre_backward(rt, 0, &ep, &eg));
    void *dshared = at(m, eg, m->emb_off[R_SHARED]);

    m->base.logits_valid = 0;
    CHECK(llmrt_model_dlogits(&m->base, a->logits, a->targets, a->losses, Rd, m->cfg.vocab,
                              loss_scale));

    /* logits = head_in @ W^T: d head_in = dlogits @ W, dW += dlogits^T @ head_in;
     * d_norm = d dec_out (the tie's scale folded into alpha). */
    const int tied = m->cfg.tie_embeddings;
    const void *head_in = tied ? a->head_in : a->dec_out;
    const void *head_w = tied ? at(m, ep, m->emb_off[R_SHARED]) : at(m, hp, m->head_off[R_LM_HEAD]);
    void *dhead_w = tied ? dshared : at(m, hg, m->head_off[R_LM_HEAD]);
    CHECK(llmrt_logits_backward(ly, a->d_norm, dhead_w, a->logits, head_in, head_w, Rd, V, Vp,
                                tied ? (float)(1.0 / sqrt((double)C)) : 1.0f));
    CHECK(llmrt_zero(ly, a->d_resid, (size_t)(Rd * C)));
    const void *y_last = a->dec[Ld - 1].out;
    CHECK(llmrt_rmsnorm_backward(ly, a->d_resid, at(m, hg, m->head_off[R_DEC_FINAL_LN]),
                                 a->d_norm, y_last, at(m, hp, m->head_off[R_DEC_FINAL_LN]),
                                 a->dec_rstd, Rd));
    CHECK(llmrt_rt_post_backward(rt, unit_head(m)));

    /* Decoder blocks, last to first; d_enc gathers d(encoder output). */
    CHECK(llmrt_zero(ly, a->d_enc, (size_t)(Re * C)));
    CHECK(vt->memset(cc, a->dec_dbias, 0, (size_t)H * (size_t)Td * (size_t)Td * sizeof(float),
                     NULL));
    for (int l = Ld - 1; l >= 0; l--) {
        block_acts *ba = &a->dec[l];
        const size_t *o = dec_offsets(m, l);
        const void *y = l ? a->dec[l - 1].out : a->dec_x0;
        CHECK(llmrt_rt_pre_backward(rt, unit_dec(m, l), &p, &g));
        CHECK(ff_backward(m, &ba->ff, ba->cross.res, p, g, o, Rd));
        CHECK(cross_attn_backward(m, &ba->cross, ba->self.res, p, g, o, B, Td, Te));
        CHECK(self_attn_backward(m, &ba->self, y, p, g, o, B, Td, 1, a->dec_bias, a->dec_dbias));
        if (l == 0) CHECK(fold_dbias(m, a->dec_dbias, Td, 0, at(m, g, o[R_SA_REL])));
        CHECK(llmrt_rt_post_backward(rt, unit_dec(m, l)));
    }
    CHECK(vt->embedding_backward(cc, dshared, a->dec_ids, a->d_resid, Rd, C, dt));

    /* Encoder: final norm, then the blocks. */
    void *fp, *fg;
    const void *x_last = a->enc[Le - 1].out;
    CHECK(llmrt_rt_pre_backward(rt, unit_encf(m), &fp, &fg));
    CHECK(llmrt_zero(ly, a->d_resid, (size_t)(Re * C)));
    CHECK(llmrt_rmsnorm_backward(ly, a->d_resid, at(m, fg, m->encf_off[R_ENC_FINAL_LN]),
                                 a->d_enc, x_last, at(m, fp, m->encf_off[R_ENC_FINAL_LN]),
                                 a->enc_rstd, Re));
    CHECK(llmrt_rt_post_backward(rt, unit_encf(m)));
    CHECK(vt->memset(cc, a->enc_dbias, 0, (size_t)H * (size_t)Te * (size_t)Te * sizeof(float),
                     NULL));
    for (int l = Le - 1; l >= 0; l--) {
        block_acts *ba = &a->enc[l];
        const size_t *o = enc_offsets(m, l);
        const void *x = l ? a->enc[l - 1].out : a->enc_x0;
        CHECK(llmrt_rt_pre_backward(rt, unit_enc(l), &p, &g));
        CHECK(ff_backward(m, &ba->ff, ba->self.res, p, g, o, Re));
        CHECK(self_attn_backward(m, &ba->self, x, p, g, o, B, Te, 0, a->enc_bias, a->enc_dbias));
        if (l == 0) CHECK(fold_dbias(m, a->enc_dbias, Te, 1, at(m, g, o[R_SA_REL])));
        CHECK(llmrt_rt_post_backward(rt, unit_enc(l)));
    }
    CHECK(vt->embedding_backward(cc, dshared, a->enc_ids, a->d_resid, Re, C, dt));
    CHECK(llmrt_rt_post_backward(rt, 0));
    return LLMRT_OK;
}

int llmrt_t5_backward(llmrt_t5 *m, float loss_scale)
{
    CHECK(llmrt_model_take_backward(&m->base));
    return llmrt_model_backward_done(&m->base, backward(m, loss_scale));
}

int llmrt_t5_logits(llmrt_t5 *m, int b, int t, float *host_row)
{
    return llmrt_model_logits_row(&m->base, m->acts.logits, m->cfg.vocab, b, t, m->B, m->Td,
                                  "decoder position", host_row);
}
