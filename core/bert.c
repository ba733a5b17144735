/* bert.c — the encoder-only transformer in the Hugging Face BertForMaskedLM
 * layout (bert.h), forward and backward written out over the compute
 * backend's kernels like gpt.c: the same kernels, hooks and dtypes, with
 * bidirectional attention, post-LayerNorm blocks, GELU (erf), an embedding
 * LayerNorm and the MLM head (transform + GELU + LayerNorm, tied decoder with
 * its own bias). Linear weights are HF nn.Linear [out, in]: y = x @ W^T + b. */
#include "bert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/convert.h>

#include "error.h"
#include "precision.h"
#include "qat.h"
#include "rng.h"
#include "runtime.h"

/* ------------------------------------------------------------------------ */
/* Parameter layout                                                         */
/* ------------------------------------------------------------------------ */

typedef enum dim_code { D_NONE = 0, D_C, D_4C, D_VOCAB, D_CONTEXT, D_TYPES } dim_code;
typedef enum init_kind {
    INIT_NORMAL,
    INIT_ZERO,
    INIT_ONE,
    INIT_LSQ /* 2 mean|w| / sqrt(qmax) over the output channel (row) of weight scale_of */
} init_kind;

typedef struct tensor_spec {
    const char *name; /* full name, or the suffix after "bert.encoder.layer.<l>." */
    dim_code d0, d1;  /* d1 == D_NONE: a vector */
    int weight_decay;
    init_kind init;
    int scale_of;     /* INIT_LSQ: the index of the weight this is the step size of */
} tensor_spec;

enum { EMB_WORD, EMB_POS, EMB_TYPE, EMB_LN_W, EMB_LN_B, EMB_N };
static const tensor_spec embedding_tensors[EMB_N] = {
    [EMB_WORD] = {"bert.embeddings.word_embeddings.weight", D_VOCAB, D_C, 1, INIT_NORMAL},
    [EMB_POS] = {"bert.embeddings.position_embeddings.weight", D_CONTEXT, D_C, 1, INIT_NORMAL},
    [EMB_TYPE] = {"bert.embeddings.token_type_embeddings.weight", D_TYPES, D_C, 1, INIT_NORMAL},
    [EMB_LN_W] = {"bert.embeddings.LayerNorm.weight", D_C, D_NONE, 0, INIT_ONE},
    [EMB_LN_B] = {"bert.embeddings.LayerNorm.bias", D_C, D_NONE, 0, INIT_ZERO},
};

/* q, k, v weights adjacent (one [3C, C] matrix), then their biases ([3C]).
 * With QAT the step sizes of the four linear layers follow the sixteen
 * tensors (so a QAT unit starts like a plain one); q, k, v's are adjacent
 * too, one [3C] vector for the fused [3C, C] matrix. */
enum {
    BLK_Q_W, BLK_K_W, BLK_V_W, BLK_Q_B, BLK_K_B, BLK_V_B,
    BLK_AO_W, BLK_AO_B, BLK_ALN_W, BLK_ALN_B,
    BLK_IN_W, BLK_IN_B, BLK_OUT_W, BLK_OUT_B, BLK_OLN_W, BLK_OLN_B,
    BLK_N,
    BLK_Q_S = BLK_N, BLK_K_S, BLK_V_S, BLK_AO_S, BLK_IN_S, BLK_OUT_S,
    BLK_QAT_N
};
static const tensor_spec block_tensors[BLK_QAT_N] = {
    [BLK_Q_W] = {"attention.self.query.weight", D_C, D_C, 1, INIT_NORMAL},
    [BLK_K_W] = {"attention.self.key.weight", D_C, D_C, 1, INIT_NORMAL},
    [BLK_V_W] = {"attention.self.value.weight", D_C, D_C, 1, INIT_NORMAL},
    [BLK_Q_B] = {"attention.self.query.bias", D_C, D_NONE, 0, INIT_ZERO},
    [BLK_K_B] = {"attention.self.key.bias", D_C, D_NONE, 0, INIT_ZERO},
    [BLK_V_B] = {"attention.self.value.bias", D_C, D_NONE, 0, INIT_ZERO},
    [BLK_AO_W] = {"attention.output.dense.weight", D_C, D_C, 1, INIT_NORMAL},
    [BLK_AO_B] = {"attention.output.dense.bias", D_C, D_NONE, 0, INIT_ZERO},
    [BLK_ALN_W] = {"attention.output.LayerNorm.weight", D_C, D_NONE, 0, INIT_ONE},
    [BLK_ALN_B] = {"attention.output.LayerNorm.bias", D_C, D_NONE, 0, INIT_ZERO},
    [BLK_IN_W] = {"intermediate.dense.weight", D_4C, D_C, 1, INIT_NORMAL},
    [BLK_IN_B] = {"intermediate.dense.bias", D_4C, D_NONE, 0, INIT_ZERO},
    [BLK_OUT_W] = {"output.dense.weight", D_C, D_4C, 1, INIT_NORMAL},
    [BLK_OUT_B] = {"output.dense.bias", D_C, D_NONE, 0, INIT_ZERO},
    [BLK_OLN_W] = {"output.LayerNorm.weight", D_C, D_NONE, 0, INIT_ONE},
    [BLK_OLN_B] = {"output.LayerNorm.bias", D_C, D_NONE, 0, INIT_ZERO},
    /* QAT only: one step size per output channel (row of [out, in]). */
    [BLK_Q_S] = {"attention.self.query.weight_scale", D_C, D_NONE, 0, INIT_LSQ, BLK_Q_W},
    [BLK_K_S] = {"attention.self.key.weight_scale", D_C, D_NONE, 0, INIT_LSQ, BLK_K_W},
    [BLK_V_S] = {"attention.self.value.weight_scale", D_C, D_NONE, 0, INIT_LSQ, BLK_V_W},
    [BLK_AO_S] = {"attention.output.dense.weight_scale", D_C, D_NONE, 0, INIT_LSQ, BLK_AO_W},
    [BLK_IN_S] = {"intermediate.dense.weight_scale", D_4C, D_NONE, 0, INIT_LSQ, BLK_IN_W},
    [BLK_OUT_S] = {"output.dense.weight_scale", D_C, D_NONE, 0, INIT_LSQ, BLK_OUT_W},
};

enum { HEAD_TR_W, HEAD_TR_B, HEAD_LN_W, HEAD_LN_B, HEAD_BIAS, HEAD_N };
static const tensor_spec head_tensors[HEAD_N] = {
    [HEAD_TR_W] = {"cls.predictions.transform.dense.weight", D_C, D_C, 1, INIT_NORMAL},
    [HEAD_TR_B] = {"cls.predictions.transform.dense.bias", D_C, D_NONE, 0, INIT_ZERO},
    [HEAD_LN_W] = {"cls.predictions.transform.LayerNorm.weight", D_C, D_NONE, 0, INIT_ONE},
    [HEAD_LN_B] = {"cls.predictions.transform.LayerNorm.bias", D_C, D_NONE, 0, INIT_ZERO},
    [HEAD_BIAS] = {"cls.predictions.bias", D_VOCAB, D_NONE, 0, INIT_ZERO},
};

static const float LN_EPS = 1e-12f; /* HF BertConfig.layer_norm_eps */

static size_t dim_value(const llmrt_bert_config *c, dim_code d)
{
    switch (d) {
    case D_C: return (size_t)c->dim;
    case D_4C: return 4 * (size_t)c->dim;
    case D_VOCAB: return (size_t)c->vocab;
    case D_CONTEXT: return (size_t)c->context;
    case D_TYPES: return LLMRT_BERT_TYPE_VOCAB;
    default: return 1;
    }
}

static size_t spec_numel(const llmrt_bert_config *c, const tensor_spec *s)
{
    return dim_value(c, s->d0) * dim_value(c, s->d1);
}

static const tensor_spec *unit_specs(const llmrt_bert_config *c, size_t unit, size_t *n)
{
    if (unit == 0) return *n = EMB_N, embedding_tensors;
    if (unit <= (size_t)c->layers) return *n = c->qat ? BLK_QAT_N : BLK_N, block_tensors;
    if (unit == (size_t)c->layers + 1) return *n = HEAD_N, head_tensors;
    *n = 0;
    return NULL;
}

static void spec_offsets(const llmrt_bert_config *c, const tensor_spec *s, size_t n, size_t *off)
{
    off[0] = 0;
    for (size_t i = 0; i < n; i++) off[i + 1] = off[i] + spec_numel(c, &s[i]);
}

int llmrt_bert_config_check(const llmrt_bert_config *c)
{
    if (c->layers < 1 || c->layers > 4096)
        return llmrt_error(LLMRT_ERR_INVALID, "model.layers = %d: expected 1 .. 4096", c->layers);
    if (c->dim < 1 || c->dim > 65536)
        return llmrt_error(LLMRT_ERR_INVALID, "model.dim = %d: expected 1 .. 65536", c->dim);
    if (c->heads < 1 || c->heads > c->dim || c->dim % c->heads != 0)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "model.heads = %d: expected a divisor of model.dim = %d", c->heads,
                           c->dim);
    if (c->context < 1 || c->context > (1 << 20))
        return llmrt_error(LLMRT_ERR_INVALID, "model.context = %d: expected 1 .. %d",
                           c->context, 1 << 20);
    if (c->vocab < 1 || c->vocab > (1 << 30))
        return llmrt_error(LLMRT_ERR_INVALID, "model.vocab = %d: expected 1 .. %d", c->vocab,
                           1 << 30);
    if (c->dtype != LLMRT_DTYPE_F32 && c->dtype != LLMRT_DTYPE_BF16 &&
        c->dtype != LLMRT_DTYPE_F16)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "bert: compute dtype %d: expected f32, bf16 or f16", (int)c->dtype);
    if (c->qat != 0 && c->qat != 1)
        return llmrt_error(LLMRT_ERR_INVALID, "bert: qat = %d: expected 0 or 1", c->qat);
    /* The fake-quant kernels are fp32 only (compute.h), as for gpt. */
    if (c->qat && c->dtype != LLMRT_DTYPE_F32)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "bert: int8 QAT needs fp32 compute, not %s: [runtime] format = int8 "
                           "trains fp32 weights fake-quantized to int8 and combines with no "
                           "other format",
                           llmrt_precision_dtype_name(c->dtype));
    return LLMRT_OK;
}

size_t llmrt_bert_n_units(const llmrt_bert_config *c) { return (size_t)c->layers + 2; }

static size_t unit_numel(const llmrt_bert_config *c, size_t unit)
{
    size_t n, total = 0;
    const tensor_spec *s = unit_specs(c, unit, &n);
    for (size_t i = 0; i < n; i++) total += spec_numel(c, &s[i]);
    return total;
}

size_t llmrt_bert_n_params(const llmrt_bert_config *c)
{
    size_t total = 0;
    for (size_t u = 0; u < llmrt_bert_n_units(c); u++) total += unit_numel(c, u);
    return total;
}

int llmrt_bert_tensor_shape(const llmrt_bert_config *c, size_t unit, size_t tensor,
                            int64_t dims[2])
{
    size_t n;
    const tensor_spec *s = unit_specs(c, unit, &n);
    if (!s || tensor >= n) return 0;
    dims[0] = (int64_t)dim_value(c, s[tensor].d0);
    if (s[tensor].d1 == D_NONE) return 1;
    dims[1] = (int64_t)dim_value(c, s[tensor].d1);
    return 2;
}

static int tensor_name(const llmrt_bert_config *c, size_t unit, const tensor_spec *s, char *buf,
                       size_t size)
{
    if (unit >= 1 && unit <= (size_t)c->layers)
        return snprintf(buf, size, "bert.encoder.layer.%zu.%s", unit - 1, s->name);
    return snprintf(buf, size, "%s", s->name);
}

static int unit_name(const llmrt_bert_config *c, size_t unit, char *buf, size_t size)
{
    if (unit == 0) return snprintf(buf, size, "embedding");
    if (unit <= (size_t)c->layers) return snprintf(buf, size, "block.%zu", unit - 1);
    return snprintf(buf, size, "head");
}

int llmrt_bert_layout_build(const llmrt_bert_config *c, llmrt_model_layout *layout)
{
    memset(layout, 0, sizeof *layout);
    int rc = llmrt_bert_config_check(c);
    if (rc) return rc;
    size_t n_units = llmrt_bert_n_units(c), n_tensors = 0, chars = 0;
    for (size_t u = 0; u < n_units; u++) {
        size_t n;
        const tensor_spec *s = unit_specs(c, u, &n);
        n_tensors += n;
        chars += (size_t)unit_name(c, u, NULL, 0) + 1;
        for (size_t i = 0; i < n; i++) chars += (size_t)tensor_name(c, u, &s[i], NULL, 0) + 1;
    }
    size_t bytes = n_units * sizeof(llmrt_unit_desc) + n_tensors * sizeof(llmrt_tensor_desc) +
                   chars;
    char *block = calloc(1, bytes);
    if (!block) return llmrt_error(LLMRT_ERR_NOMEM, "bert: out of host memory for the layout");
    llmrt_unit_desc *units = (llmrt_unit_desc *)block;
    llmrt_tensor_desc *tensors = (llmrt_tensor_desc *)(units + n_units);
    char *names = (char *)(tensors + n_tensors), *names_end = block + bytes;
    for (size_t u = 0; u < n_units; u++) {
        size_t n, off[BLK_QAT_N + 1];
        const tensor_spec *s = unit_specs(c, u, &n);
        spec_offsets(c, s, n, off);
        units[u].name = names;
        names += unit_name(c, u, names, (size_t)(names_end - names)) + 1;
        units[u].numel = off[n];
        units[u].n_tensors = n;
        units[u].tensors = tensors;
        for (size_t i = 0; i < n; i++, tensors++) {
            tensors->name = names;
            names += tensor_name(c, u, &s[i], names, (size_t)(names_end - names)) + 1;
            tensors->offset = off[i];
            tensors->numel = off[i + 1] - off[i];
            tensors->weight_decay = s[i].weight_decay;
        }
    }
    layout->struct_size = sizeof *layout;
    layout->n_units = n_units;
    layout->units = units;
    layout->param_type = layout->grad_type = layout->reduce_type = c->dtype;
    layout->param_rounding = LLMRT_ROUND_NEAREST_EVEN;
    layout->rounding_seed = 0;
    return LLMRT_OK;
}

void llmrt_bert_layout_free(llmrt_model_layout *layout)
{
    if (!layout) return;
    free((void *)layout->units);
    memset(layout, 0, sizeof *layout);
}

void llmrt_bert_init_unit(const llmrt_bert_config *c, size_t unit, uint64_t seed,
                          float *host_params)
{
    size_t n;
    const tensor_spec *s = unit_specs(c, unit, &n);
    llmrt_rng rng;
    llmrt_rng_seed(&rng, seed + 0x9e3779b97f4a7c15ull * (uint64_t)(unit + 1));
    float *p = host_params;
    for (size_t i = 0; i < n; i++) {
        size_t numel = spec_numel(c, &s[i]);
        for (size_t j = 0; j < numel; j++)
            p[j] = s[i].init == INIT_NORMAL ? (float)(0.02 * llmrt_rng_normal(&rng))
                   : s[i].init == INIT_ONE  ? 1.0f
                                            : 0.0f;
        p += numel;
    }
    /* The step sizes come last and draw no random numbers, so a QAT model
     * starts from the weights of the same model without QAT. */
    if (c->qat) llmrt_bert_qat_init_scales(c, unit, host_params);
}

int llmrt_bert_qat_init_scales(const llmrt_bert_config *c, size_t unit, float *host_unit)
{
    if (!c->qat)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "bert: step sizes asked for a model without QAT ([runtime] format "
                           "is not int8)");
    size_t n, off[BLK_QAT_N + 1];
    const tensor_spec *s = unit_specs(c, unit, &n);
    if (!s)
        return llmrt_error(LLMRT_ERR_INVALID, "bert: unit %zu: the model has %zu units", unit,
                           llmrt_bert_n_units(c));
    spec_offsets(c, s, n, off);
    for (size_t i = 0; i < n; i++) {
        if (s[i].init != INIT_LSQ) continue;
        const tensor_spec *w = &s[s[i].scale_of];
        int64_t rows = (int64_t)dim_value(c, w->d0), cols = (int64_t)dim_value(c, w->d1);
        const float *weight = host_unit + off[s[i].scale_of];
        /* Row r of the [out, in] weight is the one column of the [in, 1]
         * matrix at weight + r in: qat.c's per-column rule, per row. */
        for (int64_t r = 0; r < rows; r++)
            host_unit[off[i] + (size_t)r] = llmrt_qat_init_step(weight + r * cols, cols, 1, 0);
    }
    return LLMRT_OK;
}

int llmrt_bert_tensor_scale(const llmrt_bert_config *c, size_t unit, size_t tensor)
{
    size_t n;
    const tensor_spec *s = unit_specs(c, unit, &n);
    for (size_t i = 0; s && i < n; i++)
        if (s[i].init == INIT_LSQ && (size_t)s[i].scale_of == tensor) return (int)i;
    return -1;
}

double llmrt_bert_flops_per_token(const llmrt_bert_config *c, int T)
{
    return 6.0 * (double)llmrt_bert_n_params(c) + 12.0 * c->layers * (double)T * (double)c->dim;
}

/* ------------------------------------------------------------------------ */
/* Activations                                                              */
/* ------------------------------------------------------------------------ */

typedef struct bert_layer_acts {
    void *qkv;                  /* [BT, 3C] q | k | v                          */
    void *atty;                 /* [BT, C]  attention output                   */
    float *att_lse;             /* [B, NH, T]                                  */
    void *pre1;                 /* [BT, C]  x + attention.output.dense(atty)   */
    void *attn_ln;              /* [BT, C]  attention.output.LayerNorm(pre1)   */
    float *ln1_mean, *ln1_rstd; /* [BT]                                        */
    void *inter;                /* [BT, 4C] intermediate.dense output          */
    void *inter_gelu;           /* [BT, 4C]                                    */
    void *pre2;                 /* [BT, C]  attn_ln + output.dense(inter_gelu) */
    void *out;                  /* [BT, C]  output.LayerNorm(pre2): block output */
    float *ln2_mean, *ln2_rstd; /* [BT]                                        */
} bert_layer_acts;

typedef struct bert_acts {
    void *emb_sum;              /* [BT, C] word + position + type               */
    void *encoded;              /* [BT, C] embeddings.LayerNorm(emb_sum)        */
    float *emb_mean, *emb_rstd;
    bert_layer_acts *layer;
    void *tr;                   /* [BT, C] transform.dense output               */
    void *tr_gelu;              /* [BT, C]                                      */
    void *tr_ln;                /* [BT, C] transform.LayerNorm output           */
    float *tr_mean, *tr_rstd;
    void *logits;               /* [BT, Vp] (dlogits after the backward)        */
    float *losses;              /* [BT] */
    int32_t *inputs, *targets, *positions, *types; /* [BT] */
    void *dbias;                /* [Vp] column sums of dlogits                  */
    /* Backward scratch. */
    void *d_resid, *d_norm, *d_pre1, *d_pre2; /* [BT, C]  */
    void *d_big, *d_gelu;                     /* [BT, 4C] */
    /* QAT only (fp32): the fake-quantized weight of the linear layer at hand
     * and the gradient with respect to it. */
    float *qat_w, *qat_dw;                    /* [4C^2] */
} bert_acts;

enum { ACT_ALIGN = 64 };

static size_t padded_vocab(const llmrt_bert_config *c) { return ((size_t)c->vocab + 63) / 64 * 64; }

typedef struct carver {
    char *base;
    size_t off;
    int overflow;
} carver;

static void *carve(carver *cv, size_t count, size_t elem)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, elem, &bytes) || bytes > SIZE_MAX - ACT_ALIGN ||
        cv->off > SIZE_MAX - bytes - ACT_ALIGN) {
        cv->overflow = 1;
        return NULL;
    }
    bytes = (bytes + ACT_ALIGN - 1) / ACT_ALIGN * ACT_ALIGN;
    void *p = cv->base ? cv->base + cv->off : NULL;
    cv->off += bytes;
    return p;
}

/* The one list of activation buffers (sizes and, with base, addresses). */
static size_t plan_activations(const llmrt_bert_config *c, size_t B, size_t T, char *base,
                               bert_acts *a)
{
    carver cv = {base, 0, 0};
    size_t C = (size_t)c->dim, NH = (size_t)c->heads, Vp = padded_vocab(c);
    size_t es = llmrt_dtype_size(c->dtype), f = sizeof(float), i32 = sizeof(int32_t);
    size_t BT;
    if (!es || __builtin_mul_overflow(B, T, &BT) || BT > SIZE_MAX / (4 * C + Vp)) return 0;
    bert_acts dummy;
    if (!a) a = &dummy;
    a->emb_sum = carve(&cv, BT * C, es);
    a->encoded = carve(&cv, BT * C, es);
    a->emb_mean = carve(&cv, BT, f);
    a->emb_rstd = carve(&cv, BT, f);
    for (size_t l = 0; l < (size_t)c->layers; l++) {
        bert_layer_acts scratch, *la = base ? &a->layer[l] : &scratch;
        la->qkv = carve(&cv, BT * 3 * C, es);
        la->atty = carve(&cv, BT * C, es);
        la->att_lse = carve(&cv, BT * NH, f);
        la->pre1 = carve(&cv, BT * C, es);
        la->attn_ln = carve(&cv, BT * C, es);
        la->ln1_mean = carve(&cv, BT, f);
        la->ln1_rstd = carve(&cv, BT, f);
        la->inter = carve(&cv, BT * 4 * C, es);
        la->inter_gelu = carve(&cv, BT * 4 * C, es);
        la->pre2 = carve(&cv, BT * C, es);
        la->out = carve(&cv, BT * C, es);
        la->ln2_mean = carve(&cv, BT, f);
        la->ln2_rstd = carve(&cv, BT, f);
    }
    a->tr = carve(&cv, BT * C, es);
    a->tr_gelu = carve(&cv, BT * C, es);
    a->tr_ln = carve(&cv, BT * C, es);
    a->tr_mean = carve(&cv, BT, f);
    a->tr_rstd = carve(&cv, BT, f);
    a->logits = carve(&cv, BT * Vp, es);
    a->losses = carve(&cv, BT, f);
    a->inputs = carve(&cv, BT, i32);
    a->targets = carve(&cv, BT, i32);
    a->positions = carve(&cv, BT, i32);
    a->types = carve(&cv, BT, i32);
    a->dbias = carve(&cv, Vp, es);
    a->d_resid = carve(&cv, BT * C, es);
    a->d_norm = carve(&cv, BT * C, es);
    a->d_pre1 = carve(&cv, BT * C, es);
    a->d_pre2 = carve(&cv, BT * C, es);
    a->d_big = carve(&cv, BT * 4 * C, es);
    a->d_gelu = carve(&cv, BT * 4 * C, es);
    a->qat_w = a->qat_dw = NULL;
    if (c->qat) {
        a->qat_w = carve(&cv, 4 * C * C, f);
        a->qat_dw = carve(&cv, 4 * C * C, f);
    }
    return cv.overflow ? 0 : cv.off;
}

size_t llmrt_bert_activation_bytes(const llmrt_bert_config *c, int B, int T)
{
    if (B < 1 || T < 1) return 0;
    return plan_activations(c, (size_t)B, (size_t)T, NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* The model                                                                */
/* ------------------------------------------------------------------------ */

struct llmrt_bert {
    llmrt_bert_config cfg;
    llmrt_rt *rt;
    const llmrt_compute_vtable *vt;
    void *cc;
    llmrt_model_layout layout;
    size_t emb_off[EMB_N + 1], blk_off[BLK_QAT_N + 1], head_off[HEAD_N + 1];
    llmrt_dtype dt;
    size_t es;
    int B_max, T_max;
    void *act_memory;
    size_t act_bytes;
    bert_acts acts;
    int32_t *host_ids;
    float *host_losses;
    int B, T, pos_B, pos_T, n_targets, backward_ready, logits_valid;
};

static void *at(const llmrt_bert *m, const void *base, size_t i)
{
    return (char *)(uintptr_t)base + i * m->es;
}

/* The step sizes (or their gradients) of block tensor `blk` in the unit at
 * base; NULL without QAT, which then leaves the weights as they are. QAT is
 * fp32, so `at` addresses them in floats. */
static float *qscale(const llmrt_bert *m, const void *base, int blk)
{
    return m->cfg.qat ? at(m, base, m->blk_off[blk]) : NULL;
}

#define CHECK(call)                                                                        \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_) return rc_;                                                               \
    } while (0)

static int check_backend(const llmrt_bert *m, const char *backend)
{
    const llmrt_compute_vtable *vt = m->vt;
    size_t sz = vt->struct_size;
    const char *missing = NULL;
    if (!LLMRT_HAS(vt, sz, gemm)) missing = "gemm";
    else if (!LLMRT_HAS(vt, sz, bias_grad)) missing = "bias_grad";
    else if (!LLMRT_HAS(vt, sz, norm_forward)) missing = "norm_forward";
    else if (!LLMRT_HAS(vt, sz, norm_backward)) missing = "norm_backward";
    else if (!LLMRT_HAS(vt, sz, gelu_forward)) missing = "gelu_forward";
    else if (!LLMRT_HAS(vt, sz, gelu_backward)) missing = "gelu_backward";
    else if (!LLMRT_HAS(vt, sz, attention_forward)) missing = "attention_forward";
    else if (!LLMRT_HAS(vt, sz, attention_backward)) missing = "attention_backward";
    else if (!LLMRT_HAS(vt, sz, softmax_xent)) missing = "softmax_xent";
    else if (!LLMRT_HAS(vt, sz, embedding_forward)) missing = "embedding_forward";
    else if (!LLMRT_HAS(vt, sz, embedding_backward)) missing = "embedding_backward";
    else if (!LLMRT_HAS(vt, sz, add)) missing = "add";
    else if (!LLMRT_HAS(vt, sz, copy)) missing = "copy";
    else if (!LLMRT_HAS(vt, sz, memset)) missing = "memset";
    else if (m->cfg.qat && !LLMRT_HAS(vt, sz, fake_quant_forward))
        missing = "fake_quant_forward (int8 QAT)";
    else if (m->cfg.qat && !LLMRT_HAS(vt, sz, fake_quant_backward))
        missing = "fake_quant_backward (int8 QAT)";
    if (missing)
        return llmrt_error(LLMRT_ERR_UNSUPPORTED,
                           "backend %s does not support %s, which the bert model needs",
                           backend ? backend : "?", missing);
    return LLMRT_OK;
}

void llmrt_bert_destroy(llmrt_bert *m)
{
    if (!m) return;
    if (m->act_memory) llmrt_rt_free(m->rt, m->act_memory);
    llmrt_bert_layout_free(&m->layout);
    free(m->acts.layer);
    free(m->host_ids);
    free(m->host_losses);
    free(m);
}

int llmrt_bert_create(llmrt_bert **out, const llmrt_bert_config *cfg, llmrt_rt *rt, int B_max,
                      int T_max)
{
    *out = NULL;
    int rc = llmrt_bert_config_check(cfg);
    if (rc) return rc;
    if (B_max < 1 || T_max < 1 || T_max > cfg->context)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "bert: batch %d x %d: expected B >= 1 and T in 1 .. model.context "
                           "(%d)",
                           B_max, T_max, cfg->context);
    size_t act_bytes = llmrt_bert_activation_bytes(cfg, B_max, T_max);
    if (!act_bytes)
        return llmrt_error(LLMRT_ERR_INVALID, "bert: activations for B = %d, T = %d overflow",
                           B_max, T_max);
    llmrt_bert *m = calloc(1, sizeof *m);
    if (!m) return llmrt_error(LLMRT_ERR_NOMEM, "bert: out of host memory");
    llmrt_backend be = llmrt_rt_backend(rt);
    m->cfg = *cfg;
    m->rt = rt;
    m->vt = be.vt;
    m->cc = be.ctx;
    m->dt = cfg->dtype;
    m->es = llmrt_dtype_size(cfg->dtype);
    m->B_max = B_max;
    m->T_max = T_max;
    spec_offsets(cfg, embedding_tensors, EMB_N, m->emb_off);
    spec_offsets(cfg, block_tensors, cfg->qat ? BLK_QAT_N : BLK_N, m->blk_off);
    spec_offsets(cfg, head_tensors, HEAD_N, m->head_off);
    if ((rc = check_backend(m, llmrt_rt_component_name(rt, LLMRT_KIND_COMPUTE))) ||
        (rc = llmrt_bert_layout_build(cfg, &m->layout)))
        goto fail;
    size_t BT = (size_t)B_max * (size_t)T_max;
    m->acts.layer = calloc((size_t)cfg->layers, sizeof *m->acts.layer);
    m->host_ids = calloc(BT, sizeof *m->host_ids);
    m->host_losses = malloc(BT * sizeof *m->host_losses);
    if (!m->acts.layer || !m->host_ids || !m->host_losses) {
        rc = llmrt_error(LLMRT_ERR_NOMEM, "bert: out of host memory");
        goto fail;
    }
    if ((rc = llmrt_rt_alloc(rt, LLMRT_MEM_ACTIVATIONS, act_bytes, &m->act_memory))) {
        rc = llmrt_error_prefix(rc, "bert: activations (%zu bytes for B = %d, T = %d)",
                                act_bytes, B_max, T_max);
        goto fail;
    }
    m->act_bytes = act_bytes;
    if (plan_activations(cfg, (size_t)B_max, (size_t)T_max, m->act_memory, &m->acts) !=
        act_bytes) {
        rc = llmrt_error(LLMRT_ERR_INTERNAL, "bert: activation plan changed size");
        goto fail;
    }
    /* Zero everything once: logits' padding columns and the token types (0). */
    if ((rc = m->vt->memset(m->cc, m->act_memory, 0, act_bytes, NULL))) goto fail;
    *out = m;
    return LLMRT_OK;
fail:
    llmrt_bert_destroy(m);
    return rc;
}

const llmrt_bert_config *llmrt_bert_get_config(const llmrt_bert *m) { return &m->cfg; }
const llmrt_model_layout *llmrt_bert_layout(const llmrt_bert *m) { return &m->layout; }

/* ------------------------------------------------------------------------ */
/* Layers, as kernel calls                                                  */
/* ------------------------------------------------------------------------ */

/* LSQ fake quantization of an nn.Linear weight [n, k] (out, in) with one
 * step size per output channel: axis 0 (rows), k values per channel; the
 * same rule as gpt.c's per column of [in, out]. */
static llmrt_fake_quant_desc weight_quant_desc(const void *w, const float *scale, int64_t k,
                                               int64_t n)
{
    return (llmrt_fake_quant_desc){
        .struct_size = sizeof(llmrt_fake_quant_desc),
        .rows = n, .cols = k,
        .axis = 0,
        .qmin = LLMRT_I8_QMIN, .qmax = LLMRT_I8_QMAX,
        .x = w, .scale = scale,
        .grad_factor = llmrt_qat_grad_factor(k),
    };
}

/* With QAT (scale != NULL) the weight a matmul uses: fake_quant(w, scale) in
 * the scratch buffer qat_w. Otherwise w itself. */
static int effective_weight(llmrt_bert *m, const void *w, const float *scale, int64_t k,
                            int64_t n, const void **out)
{
    *out = w;
    if (!scale) return LLMRT_OK;
    llmrt_fake_quant_desc d = weight_quant_desc(w, scale, k, n);
    d.out = m->acts.qat_w;
    CHECK(m->vt->fake_quant_forward(m->cc, &d));
    *out = m->acts.qat_w;
    return LLMRT_OK;
}

/* out[rows, n] (+)= inp[rows, k] @ w[n, k]^T + bias (nn.Linear; with QAT,
 * fake_quant(w, scale) in place of w). */
static int linear_forward(llmrt_bert *m, void *out, const void *inp, const void *w,
                          const float *scale, const void *bias, int64_t rows, int64_t k,
                          int64_t n, int accumulate)
{
    const void *wq;
    CHECK(effective_weight(m, w, scale, k, n, &wq));
    llmrt_gemm_desc d = {
        .struct_size = sizeof d,
        .trans_b = 1,
        .m = rows, .n = n, .k = k,
        .alpha = 1.0f, .beta = accumulate ? 1.0f : 0.0f,
        .a = inp, .lda = k, .a_type = m->dt,
        .b = wq, .ldb = k, .b_type = m->dt,
        .c = out, .ldc = n, .c_type = m->dt,
        .bias = bias,
    };
    return m->vt->gemm(m->cc, &d);
}

/* dinp = dout @ w (overwritten), dw[n, k] += dout^T @ inp, dbias += column
 * sums of dout. With QAT the product used w_q = fake_quant(w, scale): dinp
 * uses w_q, d w_q goes to scratch (beta 0), and fake_quant_backward turns it
 * into dw (straight-through) and dscale (LSQ), both added. */
static int linear_backward(llmrt_bert *m, void *dinp, void *dw, float *dscale, void *dbias,
                           const void *dout, const void *inp, const void *w,
                           const float *scale, int64_t rows, int64_t k, int64_t n)
{
    const void *wq;
    CHECK(effective_weight(m, w, scale, k, n, &wq));
    llmrt_gemm_desc dx = {
        .struct_size = sizeof dx,
        .m = rows, .n = k, .k = n,
        .alpha = 1.0f, .beta = 0.0f,
        .a = dout, .lda = n, .a_type = m->dt,
        .b = wq, .ldb = k, .b_type = m->dt,
        .c = dinp, .ldc = k, .c_type = m->dt,
    };
    llmrt_gemm_desc dW = {
        .struct_size = sizeof dW,
        .trans_a = 1,
        .m = n, .n = k, .k = rows,
        .alpha = 1.0f, .beta = scale ? 0.0f : 1.0f,
        .a = dout, .lda = n, .a_type = m->dt,
        .b = inp, .ldb = k, .b_type = m->dt,
        .c = scale ? (void *)m->acts.qat_dw : dw, .ldc = k, .c_type = m->dt,
    };
    CHECK(m->vt->gemm(m->cc, &dx));
    CHECK(m->vt->gemm(m->cc, &dW));
    if (scale) {
        llmrt_fake_quant_desc fq = weight_quant_desc(w, scale, k, n);
        fq.dout = m->acts.qat_dw;
        fq.dx = dw;
        fq.dscale = dscale;
        CHECK(m->vt->fake_quant_backward(m->cc, &fq));
    }
    return m->vt->bias_grad(m->cc, dbias, dout, rows, n, m->dt);
}

static llmrt_norm_desc layernorm_desc(const llmrt_bert *m, int64_t rows, const void *inp,
                                      const void *w, const void *b, float *mean, float *rstd)
{
    return (llmrt_norm_desc){
        .struct_size = sizeof(llmrt_norm_desc),
        .rows = rows, .cols = m->cfg.dim,
        .eps = LN_EPS,
        .dtype = m->dt,
        .inp = inp, .weight = w, .bias = b,
        .mean = mean, .rstd = rstd,
    };
}

static int layernorm_forward(llmrt_bert *m, void *out, float *mean, float *rstd,
                             const void *inp, const void *w, const void *b, int64_t rows)
{
    llmrt_norm_desc d = layernorm_desc(m, rows, inp, w, b, mean, rstd);
    d.out = out;
    return m->vt->norm_forward(m->cc, &d);
}

/* dinp is overwritten here (zeroed, then the kernel adds); dw, db +=. */
static int layernorm_backward(llmrt_bert *m, void *dinp, void *dw, void *db, const void *dout,
                              const void *inp, const void *w, float *mean, float *rstd,
                              int64_t rows)
{
    CHECK(m->vt->memset(m->cc, dinp, 0, (size_t)rows * (size_t)m->cfg.dim * m->es, NULL));
    llmrt_norm_desc d = layernorm_desc(m, rows, inp, w, NULL, mean, rstd);
    d.dout = dout;
    d.dinp = dinp;
    d.dweight = dw;
    d.dbias = db;
    return m->vt->norm_backward(m->cc, &d);
}

/* Bidirectional self-attention over the fused qkv rows [B*T, 3C]. */
static llmrt_attention_desc attention_desc(const llmrt_bert *m, int B, int T, const void *qkv,
                                           void *out, float *lse)
{
    int64_t C = m->cfg.dim, NH = m->cfg.heads, hd = C / NH;
    return (llmrt_attention_desc){
        .struct_size = sizeof(llmrt_attention_desc),
        .batch = B, .heads = NH, .q_len = T, .kv_len = T, .head_dim = hd,
        .dtype = m->dt,
        .scale = (float)(1.0 / sqrt((double)hd)),
        .causal = 0,
        .q = qkv, .q_row_stride = 3 * C,
        .k = at(m, qkv, (size_t)C), .k_row_stride = 3 * C,
        .v = at(m, qkv, 2 * (size_t)C), .v_row_stride = 3 * C,
        .out = out, .out_row_stride = C,
        .lse = lse,
    };
}

/* ------------------------------------------------------------------------ */
/* Forward                                                                  */
/* ------------------------------------------------------------------------ */

static int upload_batch(llmrt_bert *m, const int32_t *inputs, const int32_t *targets, int B,
                        int T)
{
    size_t BT = (size_t)B * (size_t)T;
    for (size_t i = 0; i < BT; i++)
        if (inputs[i] < 0 || inputs[i] >= m->cfg.vocab)
            return llmrt_error(LLMRT_ERR_INVALID,
                               "bert: input token %d at row %zu, position %zu is outside "
                               "[0, model.vocab = %d)",
                               inputs[i], i / (size_t)T, i % (size_t)T, m->cfg.vocab);
    CHECK(llmrt_rt_upload(m->rt, m->acts.inputs, inputs, BT * sizeof *inputs));
    m->n_targets = 0;
    if (targets) {
        for (size_t i = 0; i < BT; i++) {
            if (targets[i] >= m->cfg.vocab)
                return llmrt_error(LLMRT_ERR_INVALID,
                                   "bert: target token %d at row %zu, position %zu is outside "
                                   "[0, model.vocab = %d)",
                                   targets[i], i / (size_t)T, i % (size_t)T, m->cfg.vocab);
            m->n_targets += targets[i] >= 0;
        }
        CHECK(llmrt_rt_upload(m->rt, m->acts.targets, targets, BT * sizeof *targets));
    }
    if (m->pos_B != B || m->pos_T != T) {
        for (size_t i = 0; i < BT; i++) m->host_ids[i] = (int32_t)(i % (size_t)T);
        CHECK(llmrt_rt_upload(m->rt, m->acts.positions, m->host_ids, BT * sizeof(int32_t)));
        m->pos_B = B;
        m->pos_T = T;
    }
    return LLMRT_OK;
}

static int forward(llmrt_bert *m, const int32_t *inputs, const int32_t *targets, int B, int T,
                   float *mean_loss)
{
    const llmrt_compute_vtable *vt = m->vt;
    void *cc = m->cc;
    llmrt_rt *rt = m->rt;
    bert_acts *a = &m->acts;
    const int L = m->cfg.layers;
    const int64_t BT = (int64_t)B * T, C = m->cfg.dim, V = m->cfg.vocab;
    const int64_t Vp = (int64_t)padded_vocab(&m->cfg);
    const llmrt_dtype dt = m->dt;
    const size_t act_bytes_c = (size_t)BT * (size_t)C * m->es;
    void *p;

    m->backward_ready = 0;
    m->logits_valid = 0;
    CHECK(upload_batch(m, inputs, targets, B, T));
    m->B = B;
    m->T = T;

    /* Embeddings: LN(word[inputs] + position[t] + token_type[0]). */
    CHECK(llmrt_rt_pre_forward(rt, 0, &p));
    CHECK(vt->embedding_forward(cc, a->emb_sum, a->inputs, at(m, p, m->emb_off[EMB_WORD]), BT,
                                C, dt, 0));
    CHECK(vt->embedding_forward(cc, a->emb_sum, a->positions, at(m, p, m->emb_off[EMB_POS]),
                                BT, C, dt, 1));
    CHECK(vt->embedding_forward(cc, a->emb_sum, a->types, at(m, p, m->emb_off[EMB_TYPE]), BT,
                                C, dt, 1));
    CHECK(layernorm_forward(m, a->encoded, a->emb_mean, a->emb_rstd, a->emb_sum,
                            at(m, p, m->emb_off[EMB_LN_W]), at(m, p, m->emb_off[EMB_LN_B]), BT));
    CHECK(llmrt_rt_post_forward(rt, 0));

    /* Post-LN encoder blocks. */
    const void *x = a->encoded;
    const size_t *o = m->blk_off;
    for (int l = 0; l < L; l++) {
        bert_layer_acts *la = &a->layer[l];
        CHECK(llmrt_rt_pre_forward(rt, 1 + (size_t)l, &p));
        /* a = LN(x + dense(attention(qkv(x)))) */
        CHECK(linear_forward(m, la->qkv, x, at(m, p, o[BLK_Q_W]), qscale(m, p, BLK_Q_S),
                             at(m, p, o[BLK_Q_B]), BT, C, 3 * C, 0));
        llmrt_attention_desc ad = attention_desc(m, B, T, la->qkv, la->atty, la->att_lse);
        CHECK(vt->attention_forward(cc, &ad));
        CHECK(vt->copy(cc, la->pre1, x, act_bytes_c, NULL));
        CHECK(linear_forward(m, la->pre1, la->atty, at(m, p, o[BLK_AO_W]),
                             qscale(m, p, BLK_AO_S), at(m, p, o[BLK_AO_B]), BT, C, C, 1));
        CHECK(layernorm_forward(m, la->attn_ln, la->ln1_mean, la->ln1_rstd, la->pre1,
                                at(m, p, o[BLK_ALN_W]), at(m, p, o[BLK_ALN_B]), BT));
        /* x = LN(a + output.dense(gelu(intermediate.dense(a)))) */
        CHECK(linear_forward(m, la->inter, la->attn_ln, at(m, p, o[BLK_IN_W]),
                             qscale(m, p, BLK_IN_S), at(m, p, o[BLK_IN_B]), BT, C, 4 * C, 0));
        CHECK(vt->gelu_forward(cc, la->inter_gelu, la->inter, (size_t)(BT * 4 * C), dt,
                               LLMRT_GELU_ERF));
        CHECK(vt->copy(cc, la->pre2, la->attn_ln, act_bytes_c, NULL));
        CHECK(linear_forward(m, la->pre2, la->inter_gelu, at(m, p, o[BLK_OUT_W]),
                             qscale(m, p, BLK_OUT_S), at(m, p, o[BLK_OUT_B]), BT, 4 * C, C, 1));
        CHECK(layernorm_forward(m, la->out, la->ln2_mean, la->ln2_rstd, la->pre2,
                                at(m, p, o[BLK_OLN_W]), at(m, p, o[BLK_OLN_B]), BT));
        CHECK(llmrt_rt_post_forward(rt, 1 + (size_t)l));
        x = la->out;
    }

    /* MLM head: LN(gelu(transform(x))) @ word^T + bias. */
    void *h;
    const size_t *ho = m->head_off;
    CHECK(llmrt_rt_pre_forward(rt, (size_t)L + 1, &h));
    CHECK(linear_forward(m, a->tr, x, at(m, h, ho[HEAD_TR_W]), NULL, at(m, h, ho[HEAD_TR_B]),
                         BT, C, C, 0));
    CHECK(vt->gelu_forward(cc, a->tr_gelu, a->tr, (size_t)(BT * C), dt, LLMRT_GELU_ERF));
    CHECK(layernorm_forward(m, a->tr_ln, a->tr_mean, a->tr_rstd, a->tr_gelu,
                            at(m, h, ho[HEAD_LN_W]), at(m, h, ho[HEAD_LN_B]), BT));
    CHECK(llmrt_rt_pre_forward(rt, 0, &p));
    llmrt_gemm_desc lg = {
        .struct_size = sizeof lg,
        .trans_b = 1,
        .m = BT, .n = V, .k = C,
        .alpha = 1.0f, .beta = 0.0f,
        .a = a->tr_ln, .lda = C, .a_type = dt,
        .b = at(m, p, m->emb_off[EMB_WORD]), .ldb = C, .b_type = dt,
        .c = a->logits, .ldc = Vp, .c_type = dt,
        .bias = at(m, h, ho[HEAD_BIAS]),
    };
    CHECK(vt->gemm(cc, &lg));
    CHECK(llmrt_rt_post_forward(rt, 0));
    CHECK(llmrt_rt_post_forward(rt, (size_t)L + 1));
    m->logits_valid = 1;

    if (targets) m->backward_ready = 1;
    if (mean_loss) *mean_loss = 0.0f;
    if (!targets || !mean_loss) return LLMRT_OK;
    llmrt_xent_desc xd = {
        .struct_size = sizeof xd,
        .rows = BT, .vocab = V, .padded_vocab = Vp,
        .dtype = dt,
        .logits = a->logits, .targets = a->targets, .losses = a->losses,
    };
    CHECK(vt->softmax_xent(cc, &xd));
    CHECK(llmrt_rt_download(rt, m->host_losses, a->losses, (size_t)BT * sizeof(float)));
    double sum = 0.0;
    for (int64_t i = 0; i < BT; i++) sum += m->host_losses[i];
    *mean_loss = m->n_targets ? (float)(sum / m->n_targets) : 0.0f;
    return LLMRT_OK;
}

static int check_attached(const llmrt_bert *m)
{
    void *sctx = NULL;
    llmrt_rt_strategy(m->rt, &sctx);
    if (!sctx)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "bert: no strategy yet: attach the model's layout with "
                           "llmrt_rt_attach_model() before the first forward");
    return LLMRT_OK;
}

int llmrt_bert_forward(llmrt_bert *m, const int32_t *inputs, const int32_t *targets, int B,
                       int T, float *mean_loss)
{
    if (B < 1 || B > m->B_max || T < 1 || T > m->T_max)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "bert forward: batch %d x %d tokens: the model was created for at "
                           "most %d x %d",
                           B, T, m->B_max, m->T_max);
    CHECK(check_attached(m));
    int rc = forward(m, inputs, targets, B, T, mean_loss);
    if (!rc) return LLMRT_OK;
    m->backward_ready = 0;
    m->logits_valid = 0;
    return llmrt_error_prefix(rc, "bert forward");
}

/* ------------------------------------------------------------------------ */
/* Backward                                                                 */
/* ------------------------------------------------------------------------ */

static int backward(llmrt_bert *m, float loss_scale)
{
    const llmrt_compute_vtable *vt = m->vt;
    void *cc = m->cc;
    llmrt_rt *rt = m->rt;
    bert_acts *a = &m->acts;
    const int L = m->cfg.layers, B = m->B, T = m->T;
    const int64_t BT = (int64_t)B * T, C = m->cfg.dim, V = m->cfg.vocab;
    const int64_t Vp = (int64_t)padded_vocab(&m->cfg);
    const llmrt_dtype dt = m->dt;
    const size_t *ho = m->head_off, *o = m->blk_off;
    void *hp, *hg, *ep, *eg, *p, *g;

    CHECK(llmrt_rt_pre_backward(rt, (size_t)L + 1, &hp, &hg));
    CHECK(llmrt_rt_pre_backward(rt, 0, &ep, &eg));
    const void *word = at(m, ep, m->emb_off[EMB_WORD]);
    void *dword = at(m, eg, m->emb_off[EMB_WORD]);

    m->logits_valid = 0;
    llmrt_xent_desc xd = {
        .struct_size = sizeof xd,
        .rows = BT, .vocab = V, .padded_vocab = Vp,
        .dtype = dt,
        .logits = a->logits, .targets = a->targets, .losses = a->losses,
        .dlogits = a->logits,
        .dloss = m->n_targets ? loss_scale / (float)m->n_targets : 0.0f,
    };
    CHECK(vt->softmax_xent(cc, &xd));
    const void *dlogits = a->logits;

    /* cls.predictions.bias: column sums of dlogits (the padding columns are
     * never written, so they stay 0). */
    CHECK(vt->memset(cc, a->dbias, 0, (size_t)Vp * m->es, NULL));
    CHECK(vt->bias_grad(cc, a->dbias, dlogits, BT, Vp, dt));
    void *dhbias = at(m, hg, ho[HEAD_BIAS]);
    CHECK(vt->add(cc, dhbias, dhbias, a->dbias, (size_t)V, dt));

    /* logits = tr_ln @ word^T: d tr_ln = dlogits @ word, dword += dlogits^T @ tr_ln. */
    llmrt_gemm_desc dln = {
        .struct_size = sizeof dln,
        .m = BT, .n = C, .k = V,
        .alpha = 1.0f, .beta = 0.0f,
        .a = dlogits, .lda = Vp, .a_type = dt,
        .b = word, .ldb = C, .b_type = dt,
        .c = a->d_norm, .ldc = C, .c_type = dt,
    };
    llmrt_gemm_desc dwd = {
        .struct_size = sizeof dwd,
        .trans_a = 1,
        .m = V, .n = C, .k = BT,
        .alpha = 1.0f, .beta = 1.0f,
        .a = dlogits, .lda = Vp, .a_type = dt,
        .b = a->tr_ln, .ldb = C, .b_type = dt,
        .c = dword, .ldc = C, .c_type = dt,
    };
    CHECK(vt->gemm(cc, &dln));
    CHECK(vt->gemm(cc, &dwd));
    /* Transform: LN, GELU, dense; d_resid gets d(encoder output). */
    CHECK(layernorm_backward(m, a->d_pre1, at(m, hg, ho[HEAD_LN_W]), at(m, hg, ho[HEAD_LN_B]),
                             a->d_norm, a->tr_gelu, at(m, hp, ho[HEAD_LN_W]), a->tr_mean,
                             a->tr_rstd, BT));
    CHECK(vt->memset(cc, a->d_pre2, 0, (size_t)(BT * C) * m->es, NULL));
    CHECK(vt->gelu_backward(cc, a->d_pre2, a->tr, a->d_pre1, (size_t)(BT * C), dt,
                            LLMRT_GELU_ERF));
    const void *last = a->layer[L - 1].out;
    CHECK(linear_backward(m, a->d_resid, at(m, hg, ho[HEAD_TR_W]), NULL,
                          at(m, hg, ho[HEAD_TR_B]), a->d_pre2, last, at(m, hp, ho[HEAD_TR_W]),
                          NULL, BT, C, C));
    CHECK(llmrt_rt_post_backward(rt, (size_t)L + 1));

    /* Blocks, last to first: d_resid holds d(block output) on entry and
     * d(block input) on exit. */
    for (int l = L - 1; l >= 0; l--) {
        bert_layer_acts *la = &a->layer[l];
        const void *x = l ? a->layer[l - 1].out : a->encoded;
        CHECK(llmrt_rt_pre_backward(rt, 1 + (size_t)l, &p, &g));
        /* out = LN(pre2), pre2 = attn_ln + output.dense(inter_gelu). */
        CHECK(layernorm_backward(m, a->d_pre2, at(m, g, o[BLK_OLN_W]), at(m, g, o[BLK_OLN_B]),
                                 a->d_resid, la->pre2, at(m, p, o[BLK_OLN_W]), la->ln2_mean,
                                 la->ln2_rstd, BT));
        CHECK(linear_backward(m, a->d_gelu, at(m, g, o[BLK_OUT_W]), qscale(m, g, BLK_OUT_S),
                              at(m, g, o[BLK_OUT_B]), a->d_pre2, la->inter_gelu,
                              at(m, p, o[BLK_OUT_W]), qscale(m, p, BLK_OUT_S), BT, 4 * C, C));
        CHECK(vt->memset(cc, a->d_big, 0, (size_t)(BT * 4 * C) * m->es, NULL));
        CHECK(vt->gelu_backward(cc, a->d_big, la->inter, a->d_gelu, (size_t)(BT * 4 * C), dt,
                                LLMRT_GELU_ERF));
        CHECK(linear_backward(m, a->d_norm, at(m, g, o[BLK_IN_W]), qscale(m, g, BLK_IN_S),
                              at(m, g, o[BLK_IN_B]), a->d_big, la->attn_ln,
                              at(m, p, o[BLK_IN_W]), qscale(m, p, BLK_IN_S), BT, C, 4 * C));
        /* d attn_ln = the residual's d_pre2 + the feed-forward's d_norm. */
        CHECK(vt->add(cc, a->d_pre2, a->d_pre2, a->d_norm, (size_t)(BT * C), dt));
        /* attn_ln = LN(pre1), pre1 = x + attention.output.dense(atty). */
        CHECK(layernorm_backward(m, a->d_pre1, at(m, g, o[BLK_ALN_W]), at(m, g, o[BLK_ALN_B]),
                                 a->d_pre2, la->pre1, at(m, p, o[BLK_ALN_W]), la->ln1_mean,
                                 la->ln1_rstd, BT));
        void *d_atty = a->d_norm, *d_qkv = a->d_big;
        CHECK(linear_backward(m, d_atty, at(m, g, o[BLK_AO_W]), qscale(m, g, BLK_AO_S),
                              at(m, g, o[BLK_AO_B]), a->d_pre1, la->atty, at(m, p, o[BLK_AO_W]),
                              qscale(m, p, BLK_AO_S), BT, C, C));
        CHECK(vt->memset(cc, d_qkv, 0, (size_t)(BT * 3 * C) * m->es, NULL));
        llmrt_attention_desc ad = attention_desc(m, B, T, la->qkv, la->atty, la->att_lse);
        ad.dout = d_atty;
        ad.dq = d_qkv;
        ad.dk = at(m, d_qkv, (size_t)C);
        ad.dv = at(m, d_qkv, 2 * (size_t)C);
        CHECK(vt->attention_backward(cc, &ad));
        CHECK(linear_backward(m, a->d_norm, at(m, g, o[BLK_Q_W]), qscale(m, g, BLK_Q_S),
                              at(m, g, o[BLK_Q_B]), d_qkv, x, at(m, p, o[BLK_Q_W]),
                              qscale(m, p, BLK_Q_S), BT, C, 3 * C));
        /* d x = the residual's d_pre1 + the attention's d_norm. */
        CHECK(vt->add(cc, a->d_resid, a->d_pre1, a->d_norm, (size_t)(BT * C), dt));
        CHECK(llmrt_rt_post_backward(rt, 1 + (size_t)l));
    }

    /* Embeddings: d_resid is d encoded. */
    CHECK(layernorm_backward(m, a->d_pre1, at(m, eg, m->emb_off[EMB_LN_W]),
                             at(m, eg, m->emb_off[EMB_LN_B]), a->d_resid, a->emb_sum,
                             at(m, ep, m->emb_off[EMB_LN_W]), a->emb_mean, a->emb_rstd, BT));
    CHECK(vt->embedding_backward(cc, dword, a->inputs, a->d_pre1, BT, C, dt));
    CHECK(vt->embedding_backward(cc, at(m, eg, m->emb_off[EMB_POS]), a->positions, a->d_pre1,
                                 BT, C, dt));
    CHECK(vt->embedding_backward(cc, at(m, eg, m->emb_off[EMB_TYPE]), a->types, a->d_pre1, BT,
                                 C, dt));
    CHECK(llmrt_rt_post_backward(rt, 0));
    return LLMRT_OK;
}

int llmrt_bert_backward(llmrt_bert *m, float loss_scale)
{
    if (!m->backward_ready)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "bert backward: needs a forward with targets first (and one "
                           "backward per forward)");
    m->backward_ready = 0;
    int rc = backward(m, loss_scale);
    return rc ? llmrt_error_prefix(rc, "bert backward") : LLMRT_OK;
}

int llmrt_bert_logits(llmrt_bert *m, int b, int t, float *host_row)
{
    if (!m->logits_valid)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "bert logits: no forward since the last backward (which overwrites "
                           "the logits with their gradient)");
    if (b < 0 || b >= m->B || t < 0 || t >= m->T)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "bert logits: row %d, position %d outside the last forward's %d x %d",
                           b, t, m->B, m->T);
    size_t row = (size_t)b * (size_t)m->T + (size_t)t, V = (size_t)m->cfg.vocab;
    CHECK(llmrt_rt_download(m->rt, host_row, at(m, m->acts.logits, row * padded_vocab(&m->cfg)),
                            V * m->es));
    if (m->dt == LLMRT_DTYPE_F32) return LLMRT_OK;
    for (size_t i = V; i-- > 0;) {
        uint16_t h16;
        memcpy(&h16, (const char *)host_row + 2 * i, sizeof h16);
        host_row[i] = m->dt == LLMRT_DTYPE_BF16 ? llmrt_bf16_to_f32(h16) : llmrt_f16_to_f32(h16);
    }
    return LLMRT_OK;
}
