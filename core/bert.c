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

#include "error.h"
#include "layers.h"
#include "model_check.h"
#include "model_layout.h"
#include "model_rt.h"
#include "runtime.h"

/* ------------------------------------------------------------------------ */
/* Parameter layout                                                         */
/* ------------------------------------------------------------------------ */

typedef enum dim_code { D_NONE = LLMRT_DIM_NONE, D_C, D_4C, D_VOCAB, D_CONTEXT, D_TYPES } dim_code;
typedef enum init_kind {
    INIT_NORMAL,
    INIT_ZERO,
    INIT_ONE,
    INIT_LSQ /* 2 mean|w| / sqrt(qmax) over the output channel (row) of weight scale_of */
} init_kind;

/* Names: full names, or in the blocks the suffix after
 * "bert.encoder.layer.<l>.". */
enum { EMB_WORD, EMB_POS, EMB_TYPE, EMB_LN_W, EMB_LN_B, EMB_N };
static const llmrt_tensor_spec embedding_tensors[EMB_N] = {
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
static const llmrt_tensor_spec block_tensors[BLK_QAT_N] = {
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
static const llmrt_tensor_spec head_tensors[HEAD_N] = {
    [HEAD_TR_W] = {"cls.predictions.transform.dense.weight", D_C, D_C, 1, INIT_NORMAL},
    [HEAD_TR_B] = {"cls.predictions.transform.dense.bias", D_C, D_NONE, 0, INIT_ZERO},
    [HEAD_LN_W] = {"cls.predictions.transform.LayerNorm.weight", D_C, D_NONE, 0, INIT_ONE},
    [HEAD_LN_B] = {"cls.predictions.transform.LayerNorm.bias", D_C, D_NONE, 0, INIT_ZERO},
    [HEAD_BIAS] = {"cls.predictions.bias", D_VOCAB, D_NONE, 0, INIT_ZERO},
};

static size_t dim_value(const void *cfg, int d)
{
    const llmrt_bert_config *c = cfg;
    switch ((dim_code)d) {
    case D_C: return (size_t)c->dim;
    case D_4C: return 4 * (size_t)c->dim;
    case D_VOCAB: return (size_t)c->vocab;
    case D_CONTEXT: return (size_t)c->context;
    case D_TYPES: return LLMRT_BERT_TYPE_VOCAB;
    default: return 1;
    }
}

static size_t unit_specs(const void *cfg, size_t unit, llmrt_tensor_spec *out)
{
    const llmrt_bert_config *c = cfg;
    const llmrt_tensor_spec *s = NULL;
    size_t n = 0;
    if (unit == 0) s = embedding_tensors, n = EMB_N;
    else if (unit <= (size_t)c->layers) s = block_tensors, n = c->qat ? BLK_QAT_N : BLK_N;
    else if (unit == (size_t)c->layers + 1) s = head_tensors, n = HEAD_N;
    if (n) memcpy(out, s, n * sizeof *s);
    return n;
}

static int tensor_name(const void *cfg, size_t unit, const llmrt_tensor_spec *s, char *buf,
                       size_t size)
{
    const llmrt_bert_config *c = cfg;
    if (unit >= 1 && unit <= (size_t)c->layers)
        return snprintf(buf, size, "bert.encoder.layer.%zu.%s", unit - 1, s->name);
    return snprintf(buf, size, "%s", s->name);
}

static int unit_name(const void *cfg, size_t unit, char *buf, size_t size)
{
    const llmrt_bert_config *c = cfg;
    if (unit == 0) return snprintf(buf, size, "embedding");
    if (unit <= (size_t)c->layers) return snprintf(buf, size, "block.%zu", unit - 1);
    return snprintf(buf, size, "head");
}

static double init_std(const void *cfg, const llmrt_tensor_spec *s, float *value)
{
    (void)cfg;
    if (s->init == INIT_NORMAL) return 0.02;
    *value = s->init == INIT_ONE ? 1.0f : 0.0f; /* step sizes: from the weights, later */
    return 0.0;
}

static int check_config(const void *cfg) { return llmrt_bert_config_check(cfg); }
static size_t n_units(const void *cfg) { return llmrt_bert_n_units(cfg); }

static const llmrt_layout_model tables = {
    .name = "bert",
    .init_lsq = INIT_LSQ,
    .check = check_config, .n_units = n_units,
    .unit_specs = unit_specs, .dim = dim_value,
    .unit_name = unit_name, .tensor_name = tensor_name,
    .init_std = init_std,
};

int llmrt_bert_config_check(const llmrt_bert_config *c)
{
    int rc;
    if ((rc = llmrt_model_check_range("layers", c->layers, 1, 4096)) ||
        (rc = llmrt_model_check_range("dim", c->dim, 1, 65536)))
        return rc;
    if (c->heads < 1 || c->heads > c->dim || c->dim % c->heads != 0)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "model.heads = %d: expected a divisor of model.dim = %d", c->heads,
                           c->dim);
    if ((rc = llmrt_model_check_range("context", c->context, 1, 1 << 20)) ||
        (rc = llmrt_model_check_range("vocab", c->vocab, 1, 1 << 30)))
        return rc;
    return llmrt_model_check_dtype("bert", c->dtype, c->qat, "");
}

size_t llmrt_bert_n_units(const llmrt_bert_config *c) { return (size_t)c->layers + 2; }

size_t llmrt_bert_n_params(const llmrt_bert_config *c)
{
    return llmrt_layout_n_params(&tables, c);
}

int llmrt_bert_tensor_shape(const llmrt_bert_config *c, size_t unit, size_t tensor,
                            int64_t dims[2])
{
    return llmrt_layout_tensor_shape(&tables, c, unit, tensor, dims);
}

int llmrt_bert_layout_build(const llmrt_bert_config *c, llmrt_model_layout *layout)
{
    return llmrt_layout_build(&tables, c, c->dtype, layout);
}

void llmrt_bert_layout_free(llmrt_model_layout *layout) { llmrt_layout_free(layout); }

void llmrt_bert_init_unit(const llmrt_bert_config *c, size_t unit, uint64_t seed,
                          float *host_params)
{
    llmrt_layout_init_unit(&tables, c, unit, seed, host_params);
    /* The step sizes come last and draw no random numbers, so a QAT model
     * starts from the weights of the same model without QAT. */
    if (c->qat) llmrt_bert_qat_init_scales(c, unit, host_params);
}

int llmrt_bert_qat_init_scales(const llmrt_bert_config *c, size_t unit, float *host_unit)
{
    return llmrt_layout_qat_init_scales(&tables, c, c->qat, 0, unit, host_unit);
}

int llmrt_bert_tensor_scale(const llmrt_bert_config *c, size_t unit, size_t tensor)
{
    return llmrt_layout_tensor_scale(&tables, c, unit, tensor);
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
    llmrt_lm_io io;             /* ids, logits [BT, Vp], losses                 */
    int32_t *types;             /* [BT] token types (all 0)                     */
    void *dbias;                /* [Vp] column sums of dlogits                  */
    /* Backward scratch. */
    void *d_resid, *d_norm, *d_pre1, *d_pre2; /* [BT, C]  */
    void *d_big, *d_gelu;                     /* [BT, 4C] */
    /* QAT only (fp32): the fake-quantized weight of the linear layer at hand
     * and the gradient with respect to it. */
    float *qat_w, *qat_dw;                    /* [4C^2] */
} bert_acts;

/* The one list of activation buffers (sizes and, with base, addresses). */
static size_t plan_activations(const llmrt_bert_config *c, size_t B, size_t T, char *base,
                               bert_acts *a)
{
    llmrt_carver cv = {base, 0, 0};
    size_t C = (size_t)c->dim, NH = (size_t)c->heads, Vp = llmrt_padded_vocab(c->vocab);
    size_t es = llmrt_dtype_size(c->dtype), f = sizeof(float), i32 = sizeof(int32_t);
    size_t BT;
    if (!es || __builtin_mul_overflow(B, T, &BT) || BT > SIZE_MAX / (4 * C + Vp)) return 0;
    bert_acts dummy;
    if (!a) a = &dummy;
    a->emb_sum = llmrt_carve(&cv, BT * C, es);
    a->encoded = llmrt_carve(&cv, BT * C, es);
    a->emb_mean = llmrt_carve(&cv, BT, f);
    a->emb_rstd = llmrt_carve(&cv, BT, f);
    for (size_t l = 0; l < (size_t)c->layers; l++) {
        bert_layer_acts scratch, *la = base ? &a->layer[l] : &scratch;
        la->qkv = llmrt_carve(&cv, BT * 3 * C, es);
        la->atty = llmrt_carve(&cv, BT * C, es);
        la->att_lse = llmrt_carve(&cv, BT * NH, f);
        la->pre1 = llmrt_carve(&cv, BT * C, es);
        la->attn_ln = llmrt_carve(&cv, BT * C, es);
        la->ln1_mean = llmrt_carve(&cv, BT, f);
        la->ln1_rstd = llmrt_carve(&cv, BT, f);
        la->inter = llmrt_carve(&cv, BT * 4 * C, es);
        la->inter_gelu = llmrt_carve(&cv, BT * 4 * C, es);
        la->pre2 = llmrt_carve(&cv, BT * C, es);
        la->out = llmrt_carve(&cv, BT * C, es);
        la->ln2_mean = llmrt_carve(&cv, BT, f);
        la->ln2_rstd = llmrt_carve(&cv, BT, f);
    }
    a->tr = llmrt_carve(&cv, BT * C, es);
    a->tr_gelu = llmrt_carve(&cv, BT * C, es);
    a->tr_ln = llmrt_carve(&cv, BT * C, es);
    a->tr_mean = llmrt_carve(&cv, BT, f);
    a->tr_rstd = llmrt_carve(&cv, BT, f);
    llmrt_carve_lm_io(&cv, &a->io, BT, Vp, es);
    a->types = llmrt_carve(&cv, BT, i32);
    a->dbias = llmrt_carve(&cv, Vp, es);
    a->d_resid = llmrt_carve(&cv, BT * C, es);
    a->d_norm = llmrt_carve(&cv, BT * C, es);
    a->d_pre1 = llmrt_carve(&cv, BT * C, es);
    a->d_pre2 = llmrt_carve(&cv, BT * C, es);
    a->d_big = llmrt_carve(&cv, BT * 4 * C, es);
    a->d_gelu = llmrt_carve(&cv, BT * 4 * C, es);
    llmrt_carve_qat(&cv, c->qat, C, &a->qat_w, &a->qat_dw);
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
    llmrt_model_base base; /* runtime, layers, layout, activation memory */
    size_t emb_off[EMB_N + 1], blk_off[BLK_QAT_N + 1], head_off[HEAD_N + 1];
    bert_acts acts;        /* carved out of base.act_memory */
    int B, T, pos_B, pos_T; /* the last forward's shape; the positions buffer's */
};

static void *at(const llmrt_bert *m, const void *base, size_t i)
{
    return llmrt_at(&m->base.ly, base, i);
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

static int check_backend(const llmrt_bert *m)
{
    const llmrt_compute_vtable *vt = m->base.ly.vt;
    const llmrt_kernel_need extra[] = {
        LLMRT_KERNEL_NEED(vt, bias_grad),
        LLMRT_KERNEL_NEED(vt, gelu_forward),
        LLMRT_KERNEL_NEED(vt, gelu_backward),
        LLMRT_KERNEL_NEED(vt, add),
    };
    return llmrt_model_check_backend(&m->base, m->cfg.qat, extra, sizeof extra / sizeof extra[0]);
}

void llmrt_bert_destroy(llmrt_bert *m)
{
    if (!m) return;
    llmrt_model_base_free(&m->base);
    free(m->acts.layer);
    free(m);
}

int llmrt_bert_create(llmrt_bert **out, const llmrt_bert_config *cfg, llmrt_rt *rt, int B_max,
                      int T_max)
{
    *out = NULL;
    int rc;
    if ((rc = llmrt_bert_config_check(cfg)) ||
        (rc = llmrt_model_check_limits("bert", B_max, T_max, cfg->context)))
        return rc;
    size_t act_bytes = llmrt_bert_activation_bytes(cfg, B_max, T_max);
    if ((rc = llmrt_model_check_act_bytes("bert", act_bytes, B_max, T_max))) return rc;
    llmrt_bert *m = calloc(1, sizeof *m);
    if (!m) return llmrt_error(LLMRT_ERR_NOMEM, "bert: out of host memory");
    m->cfg = *cfg;
    llmrt_model_base_init(&m->base, "bert", rt, B_max, T_max);
    llmrt_layers_init(&m->base.ly, rt, cfg->dtype, cfg->dim, cfg->heads,
                      (float)LLMRT_BERT_LN_EPS,
                      (float)(1.0 / sqrt((double)(cfg->dim / cfg->heads))), LLMRT_WEIGHT_OUT_IN);
    llmrt_layout_unit_offsets(&tables, cfg, 0, m->emb_off);
    llmrt_layout_unit_offsets(&tables, cfg, 1, m->blk_off);
    llmrt_layout_unit_offsets(&tables, cfg, (size_t)cfg->layers + 1, m->head_off);
    if ((rc = check_backend(m)) || (rc = llmrt_bert_layout_build(cfg, &m->base.layout)))
        goto fail;
    m->acts.layer = calloc((size_t)cfg->layers, sizeof *m->acts.layer);
    if (!m->acts.layer) {
        rc = llmrt_error(LLMRT_ERR_NOMEM, "bert: out of host memory");
        goto fail;
    }
    /* Zeroed once: the token types stay 0 (and the logits' padding). */
    if ((rc = llmrt_model_base_alloc(&m->base, (size_t)B_max * (size_t)T_max, act_bytes)))
        goto fail;
    if (plan_activations(cfg, (size_t)B_max, (size_t)T_max, m->base.act_memory, &m->acts) !=
        act_bytes) {
        rc = llmrt_error(LLMRT_ERR_INTERNAL, "bert: activation plan changed size");
        goto fail;
    }
    m->base.ly.qat_w = m->acts.qat_w;
    m->base.ly.qat_dw = m->acts.qat_dw;
    *out = m;
    return LLMRT_OK;
fail:
    llmrt_bert_destroy(m);
    return rc;
}

const llmrt_bert_config *llmrt_bert_get_config(const llmrt_bert *m) { return &m->cfg; }
const llmrt_model_layout *llmrt_bert_layout(const llmrt_bert *m) { return &m->base.layout; }

/* ------------------------------------------------------------------------ */
/* Forward                                                                  */
/* ------------------------------------------------------------------------ */

static int forward(llmrt_bert *m, const int32_t *inputs, const int32_t *targets, int B, int T,
                   float *mean_loss)
{
    const llmrt_layers *ly = &m->base.ly;
    const llmrt_compute_vtable *vt = ly->vt;
    void *cc = ly->cc;
    llmrt_rt *rt = m->base.rt;
    bert_acts *a = &m->acts;
    const int L = m->cfg.layers;
    const int64_t BT = (int64_t)B * T, C = m->cfg.dim, V = m->cfg.vocab;
    const int64_t Vp = (int64_t)llmrt_padded_vocab(m->cfg.vocab);
    const llmrt_dtype dt = ly->dt;
    const size_t act_bytes_c = (size_t)BT * (size_t)C * ly->es;
    void *p;

    m->base.backward_ready = 0;
    m->base.logits_valid = 0;
    CHECK(llmrt_model_upload_tokens(&m->base, &a->io, m->cfg.vocab, inputs, targets, B, T));
    CHECK(llmrt_model_upload_positions(&m->base, &a->io, B, T, &m->pos_B, &m->pos_T));
    m->B = B;
    m->T = T;

    /* Embeddings: LN(word[inputs] + position[t] + token_type[0]). */
    CHECK(llmrt_rt_pre_forward(rt, 0, &p));
    CHECK(vt->embedding_forward(cc, a->emb_sum, a->io.inputs, at(m, p, m->emb_off[EMB_WORD]), BT,
                                C, dt, 0));
    CHECK(vt->embedding_forward(cc, a->emb_sum, a->io.positions, at(m, p, m->emb_off[EMB_POS]),
                                BT, C, dt, 1));
    CHECK(vt->embedding_forward(cc, a->emb_sum, a->types, at(m, p, m->emb_off[EMB_TYPE]), BT,
                                C, dt, 1));
    CHECK(llmrt_layernorm_forward(ly, a->encoded, a->emb_mean, a->emb_rstd, a->emb_sum,
                                  at(m, p, m->emb_off[EMB_LN_W]), at(m, p, m->emb_off[EMB_LN_B]),
                                  BT));
    CHECK(llmrt_rt_post_forward(rt, 0));

    /* Post-LN encoder blocks. */
    const void *x = a->encoded;
    const size_t *o = m->blk_off;
    for (int l = 0; l < L; l++) {
        bert_layer_acts *la = &a->layer[l];
        CHECK(llmrt_rt_pre_forward(rt, 1 + (size_t)l, &p));
        /* a = LN(x + dense(attention(qkv(x)))) */
        CHECK(llmrt_linear_forward(ly, la->qkv, x, at(m, p, o[BLK_Q_W]), qscale(m, p, BLK_Q_S),
                                   at(m, p, o[BLK_Q_B]), BT, C, 3 * C, 0));
        CHECK(llmrt_self_attention_forward(ly, B, T, 0, la->qkv, la->atty, la->att_lse, NULL));
        CHECK(vt->copy(cc, la->pre1, x, act_bytes_c, NULL));
        CHECK(llmrt_linear_forward(ly, la->pre1, la->atty, at(m, p, o[BLK_AO_W]),
                                   qscale(m, p, BLK_AO_S), at(m, p, o[BLK_AO_B]), BT, C, C, 1));
        CHECK(llmrt_layernorm_forward(ly, la->attn_ln, la->ln1_mean, la->ln1_rstd, la->pre1,
                                      at(m, p, o[BLK_ALN_W]), at(m, p, o[BLK_ALN_B]), BT));
        /* x = LN(a + output.dense(gelu(intermediate.dense(a)))) */
        CHECK(llmrt_linear_forward(ly, la->inter, la->attn_ln, at(m, p, o[BLK_IN_W]),
                                   qscale(m, p, BLK_IN_S), at(m, p, o[BLK_IN_B]), BT, C, 4 * C,
                                   0));
        CHECK(vt->gelu_forward(cc, la->inter_gelu, la->inter, (size_t)(BT * 4 * C), dt,
                               LLMRT_BERT_GELU));
        CHECK(vt->copy(cc, la->pre2, la->attn_ln, act_bytes_c, NULL));
        CHECK(llmrt_linear_forward(ly, la->pre2, la->inter_gelu, at(m, p, o[BLK_OUT_W]),
                                   qscale(m, p, BLK_OUT_S), at(m, p, o[BLK_OUT_B]), BT, 4 * C, C,
                                   1));
        CHECK(llmrt_layernorm_forward(ly, la->out, la->ln2_mean, la->ln2_rstd, la->pre2,
                                      at(m, p, o[BLK_OLN_W]), at(m, p, o[BLK_OLN_B]), BT));
        CHECK(llmrt_rt_post_forward(rt, 1 + (size_t)l));
        x = la->out;
    }

    /* MLM head: LN(gelu(transform(x))) @ word^T + bias. */
    void *h;
    const size_t *ho = m->head_off;
    CHECK(llmrt_rt_pre_forward(rt, (size_t)L + 1, &h));
    CHECK(llmrt_linear_forward(ly, a->tr, x, at(m, h, ho[HEAD_TR_W]), NULL,
                               at(m, h, ho[HEAD_TR_B]), BT, C, C, 0));
    CHECK(vt->gelu_forward(cc, a->tr_gelu, a->tr, (size_t)(BT * C), dt, LLMRT_BERT_GELU));
    CHECK(llmrt_layernorm_forward(ly, a->tr_ln, a->tr_mean, a->tr_rstd, a->tr_gelu,
                                  at(m, h, ho[HEAD_LN_W]), at(m, h, ho[HEAD_LN_B]), BT));
    CHECK(llmrt_rt_pre_forward(rt, 0, &p));
    CHECK(llmrt_logits_forward(ly, a->io.logits, a->tr_ln, at(m, p, m->emb_off[EMB_WORD]),
                               at(m, h, ho[HEAD_BIAS]), BT, V, Vp));
    CHECK(llmrt_rt_post_forward(rt, 0));
    CHECK(llmrt_rt_post_forward(rt, (size_t)L + 1));
    m->base.logits_valid = 1;

    if (targets) m->base.backward_ready = 1;
    if (mean_loss) *mean_loss = 0.0f;
    if (!targets || !mean_loss) return LLMRT_OK;
    return llmrt_model_mean_loss(&m->base, a->io.logits, a->io.targets, a->io.losses, BT,
                                 m->cfg.vocab, mean_loss);
}

int llmrt_bert_forward(llmrt_bert *m, const int32_t *inputs, const int32_t *targets, int B,
                       int T, float *mean_loss)
{
    CHECK(llmrt_model_check_batch(&m->base, B, T));
    CHECK(llmrt_model_check_attached(&m->base));
    return llmrt_model_forward_done(&m->base, forward(m, inputs, targets, B, T, mean_loss));
}

/* ------------------------------------------------------------------------ */
/* Backward                                                                 */
/* ------------------------------------------------------------------------ */

static int backward(llmrt_bert *m, float loss_scale)
{
    const llmrt_layers *ly = &m->base.ly;
    const llmrt_compute_vtable *vt = ly->vt;
    void *cc = ly->cc;
    llmrt_rt *rt = m->base.rt;
    bert_acts *a = &m->acts;
    const int L = m->cfg.layers, B = m->B, T = m->T;
    const int64_t BT = (int64_t)B * T, C = m->cfg.dim, V = m->cfg.vocab;
    const int64_t Vp = (int64_t)llmrt_padded_vocab(m->cfg.vocab);
    const llmrt_dtype dt = ly->dt;
    const size_t *ho = m->head_off, *o = m->blk_off;
    void *hp, *hg, *ep, *eg, *p, *g;

    CHECK(llmrt_rt_pre_backward(rt, (size_t)L + 1, &hp, &hg));
    CHECK(llmrt_rt_pre_backward(rt, 0, &ep, &eg));
    const void *word = at(m, ep, m->emb_off[EMB_WORD]);
    void *dword = at(m, eg, m->emb_off[EMB_WORD]);

    m->base.logits_valid = 0;
    CHECK(llmrt_model_dlogits(&m->base, a->io.logits, a->io.targets, a->io.losses, BT, m->cfg.vocab,
                              loss_scale));
    const void *dlogits = a->io.logits;

    /* cls.predictions.bias: column sums of dlogits (the padding columns are
     * never written, so they stay 0). */
    CHECK(llmrt_zero(ly, a->dbias, (size_t)Vp));
    CHECK(vt->bias_grad(cc, a->dbias, dlogits, BT, Vp, dt));
    void *dhbias = at(m, hg, ho[HEAD_BIAS]);
    CHECK(vt->add(cc, dhbias, dhbias, a->dbias, (size_t)V, dt));

    /* logits = tr_ln @ word^T: d tr_ln = dlogits @ word, dword += dlogits^T @ tr_ln. */
    CHECK(llmrt_logits_backward(ly, a->d_norm, dword, dlogits, a->tr_ln, word, BT, V, Vp, 1.0f));
    /* Transform: LN, GELU, dense; d_resid gets d(encoder output). */
    CHECK(llmrt_layernorm_backward(ly, a->d_pre1, at(m, hg, ho[HEAD_LN_W]),
                                   at(m, hg, ho[HEAD_LN_B]), a->d_norm, a->tr_gelu,
                                   at(m, hp, ho[HEAD_LN_W]), a->tr_mean, a->tr_rstd, BT, 0));
    CHECK(llmrt_zero(ly, a->d_pre2, (size_t)(BT * C)));
    CHECK(vt->gelu_backward(cc, a->d_pre2, a->tr, a->d_pre1, (size_t)(BT * C), dt,
                            LLMRT_BERT_GELU));
    const void *last = a->layer[L - 1].out;
    CHECK(llmrt_linear_backward(ly, a->d_resid, at(m, hg, ho[HEAD_TR_W]), NULL,
                                at(m, hg, ho[HEAD_TR_B]), a->d_pre2, last,
                                at(m, hp, ho[HEAD_TR_W]), NULL, BT, C, C, 0));
    CHECK(llmrt_rt_post_backward(rt, (size_t)L + 1));

    /* Blocks, last to first: d_resid holds d(block output) on entry and
     * d(block input) on exit. */
    for (int l = L - 1; l >= 0; l--) {
        bert_layer_acts *la = &a->layer[l];
        const void *x = l ? a->layer[l - 1].out : a->encoded;
        CHECK(llmrt_rt_pre_backward(rt, 1 + (size_t)l, &p, &g));
        /* out = LN(pre2), pre2 = attn_ln + output.dense(inter_gelu). */
        CHECK(llmrt_layernorm_backward(ly, a->d_pre2, at(m, g, o[BLK_OLN_W]),
                                       at(m, g, o[BLK_OLN_B]), a->d_resid, la->pre2,
                                       at(m, p, o[BLK_OLN_W]), la->ln2_mean, la->ln2_rstd, BT,
                                       0));
        CHECK(llmrt_linear_backward(ly, a->d_gelu, at(m, g, o[BLK_OUT_W]),
                                    qscale(m, g, BLK_OUT_S), at(m, g, o[BLK_OUT_B]), a->d_pre2,
                                    la->inter_gelu, at(m, p, o[BLK_OUT_W]),
                                    qscale(m, p, BLK_OUT_S), BT, 4 * C, C, 0));
        CHECK(llmrt_zero(ly, a->d_big, (size_t)(BT * 4 * C)));
        CHECK(vt->gelu_backward(cc, a->d_big, la->inter, a->d_gelu, (size_t)(BT * 4 * C), dt,
                                LLMRT_BERT_GELU));
        CHECK(llmrt_linear_backward(ly, a->d_norm, at(m, g, o[BLK_IN_W]), qscale(m, g, BLK_IN_S),
                                    at(m, g, o[BLK_IN_B]), a->d_big, la->attn_ln,
                                    at(m, p, o[BLK_IN_W]), qscale(m, p, BLK_IN_S), BT, C, 4 * C,
                                    0));
        /* d attn_ln = the residual's d_pre2 + the feed-forward's d_norm. */
        CHECK(vt->add(cc, a->d_pre2, a->d_pre2, a->d_norm, (size_t)(BT * C), dt));
        /* attn_ln = LN(pre1), pre1 = x + attention.output.dense(atty). */
        CHECK(llmrt_layernorm_backward(ly, a->d_pre1, at(m, g, o[BLK_ALN_W]),
                                       at(m, g, o[BLK_ALN_B]), a->d_pre2, la->pre1,
                                       at(m, p, o[BLK_ALN_W]), la->ln1_mean, la->ln1_rstd, BT,
                                       0));
        void *d_atty = a->d_norm, *d_qkv = a->d_big;
        CHECK(llmrt_linear_backward(ly, d_atty, at(m, g, o[BLK_AO_W]), qscale(m, g, BLK_AO_S),
                                    at(m, g, o[BLK_AO_B]), a->d_pre1, la->atty,
                                    at(m, p, o[BLK_AO_W]), qscale(m, p, BLK_AO_S), BT, C, C, 0));
        CHECK(llmrt_self_attention_backward(ly, B, T, 0, la->qkv, la->atty, la->att_lse, NULL,
                                            d_atty, d_qkv, NULL));
        CHECK(llmrt_linear_backward(ly, a->d_norm, at(m, g, o[BLK_Q_W]), qscale(m, g, BLK_Q_S),
                                    at(m, g, o[BLK_Q_B]), d_qkv, x, at(m, p, o[BLK_Q_W]),
                                    qscale(m, p, BLK_Q_S), BT, C, 3 * C, 0));
        /* d x = the residual's d_pre1 + the attention's d_norm. */
        CHECK(vt->add(cc, a->d_resid, a->d_pre1, a->d_norm, (size_t)(BT * C), dt));
        CHECK(llmrt_rt_post_backward(rt, 1 + (size_t)l));
    }

    /* Embeddings: d_resid is d encoded. */
    CHECK(llmrt_layernorm_backward(ly, a->d_pre1, at(m, eg, m->emb_off[EMB_LN_W]),
                                   at(m, eg, m->emb_off[EMB_LN_B]), a->d_resid, a->emb_sum,
                                   at(m, ep, m->emb_off[EMB_LN_W]), a->emb_mean, a->emb_rstd, BT,
                                   0));
    CHECK(vt->embedding_backward(cc, dword, a->io.inputs, a->d_pre1, BT, C, dt));
    CHECK(vt->embedding_backward(cc, at(m, eg, m->emb_off[EMB_POS]), a->io.positions, a->d_pre1,
                                 BT, C, dt));
    CHECK(vt->embedding_backward(cc, at(m, eg, m->emb_off[EMB_TYPE]), a->types, a->d_pre1, BT,
                                 C, dt));
    CHECK(llmrt_rt_post_backward(rt, 0));
    return LLMRT_OK;
}

int llmrt_bert_backward(llmrt_bert *m, float loss_scale)
{
    CHECK(llmrt_model_take_backward(&m->base));
    return llmrt_model_backward_done(&m->base, backward(m, loss_scale));
}

int llmrt_bert_logits(llmrt_bert *m, int b, int t, float *host_row)
{
    return llmrt_model_logits_row(&m->base, m->acts.io.logits, m->cfg.vocab, b, t, m->B, m->T,
                                  "position", host_row);
}
