/* gpt.c — the decoder-only transformer in the GPT-2 layout, forward and
 * backward written out over the compute backend's kernels (as llm.c's
 * train_gpt2.c does: no autograd, every step readable top to bottom).
 *
 *   x      = wte[tokens] + wpe[positions]                      (embedding)
 *   for each block:
 *     x    = x + c_proj(attention(c_attn(ln_1(x))))            (causal MHA)
 *     x    = x + mlp.c_proj(gelu_tanh(mlp.c_fc(ln_2(x))))
 *   logits = ln_f(x) @ wte^T                                   (tied head)
 *   loss   = mean cross-entropy over positions with a target
 *
 * The parameter layout is spelled out once, in the tensor tables below; the
 * layout the strategy sees, the offsets the kernels use, the shapes the
 * checkpoints write and the initialisation are all derived from them
 * (model_layout.c). The layers are kernel calls (layers.c).
 *
 * Number formats: parameters, gradients and activations are in cfg.dtype
 * (f32, bf16 or f16), so every buffer is addressed in bytes through the
 * element size; only the per-row statistics the kernels keep in fp32 (norm
 * mean/rstd, attention lse, losses) and the int32 ids are typed. With QAT
 * (fp32 only) the four linear weights of each block are fake-quantized to
 * int8 with learned per-output-channel step sizes (LSQ, core/qat.h). */
#include "gpt.h"

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

/* A tensor dimension in terms of the config. */
typedef enum dim_code { D_NONE = LLMRT_DIM_NONE, D_C, D_3C, D_4C, D_VOCAB, D_CONTEXT } dim_code;

typedef enum init_kind {
    INIT_NORMAL,   /* N(0, 0.02)                     */
    INIT_RESIDUAL, /* N(0, 0.02 / sqrt(2 * layers))  */
    INIT_ZERO,
    INIT_ONE,
    INIT_LSQ       /* 2 mean|w| / sqrt(qmax) over the channel of weight scale_of */
} init_kind;

/* Unit 0. Names are full names. */
enum { EMB_WTE, EMB_WPE, EMB_N };
static const llmrt_tensor_spec embedding_tensors[EMB_N] = {
    [EMB_WTE] = {"transformer.wte.weight", D_VOCAB, D_C, 1, INIT_NORMAL},
    [EMB_WPE] = {"transformer.wpe.weight", D_CONTEXT, D_C, 1, INIT_NORMAL},
};

/* Units 1 .. layers: BLK_N tensors, and with QAT the step sizes of the four
 * linear weights appended (so that a QAT unit starts like a plain one).
 * Names are the suffix after "transformer.h.<l>.". */
enum {
    BLK_LN1_W, BLK_LN1_B,
    BLK_QKV_W, BLK_QKV_B,
    BLK_ATTPROJ_W, BLK_ATTPROJ_B,
    BLK_LN2_W, BLK_LN2_B,
    BLK_FC_W, BLK_FC_B,
    BLK_FCPROJ_W, BLK_FCPROJ_B,
    BLK_N,
    BLK_QKV_S = BLK_N, BLK_ATTPROJ_S, BLK_FC_S, BLK_FCPROJ_S,
    BLK_QAT_N
};
static const llmrt_tensor_spec block_tensors[BLK_QAT_N] = {
    [BLK_LN1_W] = {"ln_1.weight", D_C, D_NONE, 0, INIT_ONE},
    [BLK_LN1_B] = {"ln_1.bias", D_C, D_NONE, 0, INIT_ZERO},
    [BLK_QKV_W] = {"attn.c_attn.weight", D_C, D_3C, 1, INIT_NORMAL},
    [BLK_QKV_B] = {"attn.c_attn.bias", D_3C, D_NONE, 0, INIT_ZERO},
    [BLK_ATTPROJ_W] = {"attn.c_proj.weight", D_C, D_C, 1, INIT_RESIDUAL},
    [BLK_ATTPROJ_B] = {"attn.c_proj.bias", D_C, D_NONE, 0, INIT_ZERO},
    [BLK_LN2_W] = {"ln_2.weight", D_C, D_NONE, 0, INIT_ONE},
    [BLK_LN2_B] = {"ln_2.bias", D_C, D_NONE, 0, INIT_ZERO},
    [BLK_FC_W] = {"mlp.c_fc.weight", D_C, D_4C, 1, INIT_NORMAL},
    [BLK_FC_B] = {"mlp.c_fc.bias", D_4C, D_NONE, 0, INIT_ZERO},
    [BLK_FCPROJ_W] = {"mlp.c_proj.weight", D_4C, D_C, 1, INIT_RESIDUAL},
    [BLK_FCPROJ_B] = {"mlp.c_proj.bias", D_C, D_NONE, 0, INIT_ZERO},
    /* QAT only: one step size per output channel (column of [in, out]). */
    [BLK_QKV_S] = {"attn.c_attn.weight_scale", D_3C, D_NONE, 0, INIT_LSQ, BLK_QKV_W},
    [BLK_ATTPROJ_S] = {"attn.c_proj.weight_scale", D_C, D_NONE, 0, INIT_LSQ, BLK_ATTPROJ_W},
    [BLK_FC_S] = {"mlp.c_fc.weight_scale", D_4C, D_NONE, 0, INIT_LSQ, BLK_FC_W},
    [BLK_FCPROJ_S] = {"mlp.c_proj.weight_scale", D_C, D_NONE, 0, INIT_LSQ, BLK_FCPROJ_W},
};

/* Unit layers + 1. */
enum { HEAD_LNF_W, HEAD_LNF_B, HEAD_N };
static const llmrt_tensor_spec head_tensors[HEAD_N] = {
    [HEAD_LNF_W] = {"transformer.ln_f.weight", D_C, D_NONE, 0, INIT_ONE},
    [HEAD_LNF_B] = {"transformer.ln_f.bias", D_C, D_NONE, 0, INIT_ZERO},
};

static size_t dim_value(const void *cfg, int d)
{
    const llmrt_gpt_config *c = cfg;
    switch ((dim_code)d) {
    case D_C: return (size_t)c->dim;
    case D_3C: return 3 * (size_t)c->dim;
    case D_4C: return 4 * (size_t)c->dim;
    case D_VOCAB: return (size_t)c->vocab;
    case D_CONTEXT: return (size_t)c->context;
    default: return 1;
    }
}

/* The tensor table of a unit (and how many of it the unit has). */
static const llmrt_tensor_spec *unit_table(const llmrt_gpt_config *c, size_t unit, size_t *n)
{
    *n = 0;
    if (unit == 0) return *n = EMB_N, embedding_tensors;
    if (unit <= (size_t)c->layers) return *n = c->qat ? BLK_QAT_N : BLK_N, block_tensors;
    if (unit == (size_t)c->layers + 1) return *n = HEAD_N, head_tensors;
    return NULL;
}

static size_t unit_specs(const void *cfg, size_t unit, llmrt_tensor_spec *out)
{
    size_t n;
    const llmrt_tensor_spec *s = unit_table(cfg, unit, &n);
    if (n) memcpy(out, s, n * sizeof *s);
    return n;
}

static int tensor_name(const void *cfg, size_t unit, const llmrt_tensor_spec *s, char *buf,
                       size_t size)
{
    const llmrt_gpt_config *c = cfg;
    if (unit >= 1 && unit <= (size_t)c->layers)
        return snprintf(buf, size, "transformer.h.%zu.%s", unit - 1, s->name);
    return snprintf(buf, size, "%s", s->name);
}

static int unit_name(const void *cfg, size_t unit, char *buf, size_t size)
{
    const llmrt_gpt_config *c = cfg;
    if (unit == 0) return snprintf(buf, size, "embedding");
    if (unit <= (size_t)c->layers) return snprintf(buf, size, "block.%zu", unit - 1);
    return snprintf(buf, size, "head");
}

static double init_std(const void *cfg, const llmrt_tensor_spec *s, float *value)
{
    const llmrt_gpt_config *c = cfg;
    switch ((init_kind)s->init) {
    case INIT_NORMAL: return 0.02;
    case INIT_RESIDUAL: return 0.02 / sqrt(2.0 * c->layers);
    case INIT_ONE: *value = 1.0f; return 0.0;
    default: *value = 0.0f; return 0.0; /* zero; step sizes: from the weights, later */
    }
}

static int check_config(const void *cfg) { return llmrt_gpt_config_check(cfg); }
static size_t n_units(const void *cfg) { return llmrt_gpt_n_units(cfg); }

static const llmrt_layout_model tables = {
    .name = "gpt",
    .init_lsq = INIT_LSQ,
    .check = check_config, .n_units = n_units,
    .unit_specs = unit_specs, .dim = dim_value,
    .unit_name = unit_name, .tensor_name = tensor_name,
    .init_std = init_std,
};

int llmrt_gpt_config_check(const llmrt_gpt_config *c)
{
    int rc;
    if ((rc = llmrt_model_check_range("layers", c->layers, 1, 4096)) ||
        (rc = llmrt_model_check_range("dim", c->dim, 1, 65536)))
        return rc;
    if (c->heads < 1 || c->heads > c->dim)
        return llmrt_error(LLMRT_ERR_INVALID, "model.heads = %d: expected 1 .. model.dim (%d)",
                           c->heads, c->dim);
    if (c->dim % c->heads != 0)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "model.heads = %d does not divide model.dim = %d: the head size "
                           "is model.dim / model.heads",
                           c->heads, c->dim);
    if ((rc = llmrt_model_check_range("context", c->context, 1, 1 << 20)) ||
        (rc = llmrt_model_check_range("vocab", c->vocab, 1, 1 << 30)))
        return rc;
    /* LSQ learns fp32 step sizes against fp32 weights, so int8 QAT computes
     * in fp32. */
    return llmrt_model_check_dtype("gpt", c->dtype, c->qat,
                                   " (the [runtime] format fp32, bf16 or fp16)");
}

size_t llmrt_gpt_n_units(const llmrt_gpt_config *c) { return (size_t)c->layers + 2; }

size_t llmrt_gpt_n_params(const llmrt_gpt_config *c)
{
    return llmrt_layout_n_params(&tables, c);
}

int llmrt_gpt_tensor_shape(const llmrt_gpt_config *c, size_t unit, size_t tensor,
                           int64_t dims[2])
{
    return llmrt_layout_tensor_shape(&tables, c, unit, tensor, dims);
}

int llmrt_gpt_layout_build(const llmrt_gpt_config *c, llmrt_model_layout *layout)
{
    return llmrt_layout_build(&tables, c, c->dtype, layout);
}

void llmrt_gpt_layout_free(llmrt_model_layout *layout) { llmrt_layout_free(layout); }

void llmrt_gpt_init_unit(const llmrt_gpt_config *c, size_t unit, uint64_t seed,
                         float *host_params)
{
    llmrt_layout_init_unit(&tables, c, unit, seed, host_params);
    /* The step sizes come last in the unit and draw no random numbers, so a
     * QAT model starts from the same weights as a plain one. */
    if (c->qat) llmrt_gpt_qat_init_scales(c, unit, host_params);
}

int llmrt_gpt_qat_init_scales(const llmrt_gpt_config *c, size_t unit, float *host_unit)
{
    return llmrt_layout_qat_init_scales(&tables, c, c->qat, 1, unit, host_unit);
}

int llmrt_gpt_tensor_scale(const llmrt_gpt_config *c, size_t unit, size_t tensor)
{
    return llmrt_layout_tensor_scale(&tables, c, unit, tensor);
}

double llmrt_gpt_flops_per_token(const llmrt_gpt_config *c, int T)
{
    return 6.0 * (double)llmrt_gpt_n_params(c) +
           12.0 * c->layers * (double)T * (double)c->dim;
}

/* ------------------------------------------------------------------------ */
/* Activations                                                              */
/* ------------------------------------------------------------------------ */

/* What one block keeps for its backward. Row-major, rows = B * T. Buffers
 * typed void * hold cfg.dtype; the fp32 ones are fp32 in every dtype. */
typedef struct gpt_layer_acts {
    void *ln1;                  /* [BT, C]   ln_1 output                        */
    float *ln1_mean, *ln1_rstd; /* [BT]                                         */
    void *qkv;                  /* [BT, 3C]  c_attn output: q | k | v            */
    void *atty;                 /* [BT, C]   attention output, before c_proj     */
    float *att_lse;             /* [B, NH, T] log-sum-exp of each score row      */
    void *res_att;              /* [BT, C]   residual after the attention        */
    void *ln2;                  /* [BT, C]   ln_2 output                        */
    float *ln2_mean, *ln2_rstd; /* [BT]                                         */
    void *fch;                  /* [BT, 4C]  c_fc output (GELU input)            */
    void *fch_gelu;             /* [BT, 4C]  GELU output                         */
    void *res_mlp;              /* [BT, C]   residual after the MLP: block output */
} gpt_layer_acts;

typedef struct gpt_acts {
    void *encoded;              /* [BT, C]   wte[inputs] + wpe[positions]        */
    gpt_layer_acts *layer;      /* [layers]                                     */
    void *lnf;                  /* [BT, C]   ln_f output                        */
    float *lnf_mean, *lnf_rstd; /* [BT]                                         */
    llmrt_lm_io io;             /* ids, logits [BT, Vp] (Vp = vocab rounded up to
                                   64; dlogits after the backward), losses      */
    /* Backward scratch, shared by every block. */
    void *d_resid;              /* [BT, C]   gradient of the residual stream     */
    void *d_norm;               /* [BT, C]   of a LayerNorm output; also of atty  */
    void *d_fch;                /* [BT, 4C]  of c_fc's output; also of qkv       */
    void *d_gelu;               /* [BT, 4C]  of the GELU output                  */
    /* QAT only (fp32): the fake-quantized weight of the linear layer at hand
     * and, in the backward, the gradient with respect to it. */
    float *qat_w;               /* [4C^2] */
    float *qat_dw;              /* [4C^2] */
} gpt_acts;

/* The one place that lists the activation buffers; llmrt_gpt_activation_bytes
 * and create both go through it, so they cannot disagree. Returns the total
 * size in bytes (0 on overflow); with base != NULL also fills *a. */
static size_t plan_activations(const llmrt_gpt_config *c, size_t B, size_t T, char *base,
                               gpt_acts *a)
{
    llmrt_carver cv = {base, 0, 0};
    size_t C = (size_t)c->dim, NH = (size_t)c->heads, Vp = llmrt_padded_vocab(c->vocab);
    size_t es = llmrt_dtype_size(c->dtype), f = sizeof(float);
    size_t BT;
    if (!es || __builtin_mul_overflow(B, T, &BT) || BT > SIZE_MAX / (4 * C + Vp)) return 0;
    gpt_acts dummy;
    if (!a) a = &dummy;
    a->encoded = llmrt_carve(&cv, BT * C, es);
    for (size_t l = 0; l < (size_t)c->layers; l++) {
        gpt_layer_acts scratch, *la = base ? &a->layer[l] : &scratch;
        la->ln1 = llmrt_carve(&cv, BT * C, es);
        la->ln1_mean = llmrt_carve(&cv, BT, f);
        la->ln1_rstd = llmrt_carve(&cv, BT, f);
        la->qkv = llmrt_carve(&cv, BT * 3 * C, es);
        la->atty = llmrt_carve(&cv, BT * C, es);
        la->att_lse = llmrt_carve(&cv, BT * NH, f);
        la->res_att = llmrt_carve(&cv, BT * C, es);
        la->ln2 = llmrt_carve(&cv, BT * C, es);
        la->ln2_mean = llmrt_carve(&cv, BT, f);
        la->ln2_rstd = llmrt_carve(&cv, BT, f);
        la->fch = llmrt_carve(&cv, BT * 4 * C, es);
        la->fch_gelu = llmrt_carve(&cv, BT * 4 * C, es);
        la->res_mlp = llmrt_carve(&cv, BT * C, es);
    }
    a->lnf = llmrt_carve(&cv, BT * C, es);
    a->lnf_mean = llmrt_carve(&cv, BT, f);
    a->lnf_rstd = llmrt_carve(&cv, BT, f);
    llmrt_carve_lm_io(&cv, &a->io, BT, Vp, es);
    a->d_resid = llmrt_carve(&cv, BT * C, es);
    a->d_norm = llmrt_carve(&cv, BT * C, es);
    a->d_fch = llmrt_carve(&cv, BT * 4 * C, es);
    a->d_gelu = llmrt_carve(&cv, BT * 4 * C, es);
    llmrt_carve_qat(&cv, c->qat, C, &a->qat_w, &a->qat_dw);
    return cv.overflow ? 0 : cv.off;
}

size_t llmrt_gpt_activation_bytes(const llmrt_gpt_config *c, int B, int T)
{
    if (B < 1 || T < 1) return 0;
    return plan_activations(c, (size_t)B, (size_t)T, NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* The model                                                                */
/* ------------------------------------------------------------------------ */

struct llmrt_gpt {
    llmrt_gpt_config cfg;
    llmrt_model_base base;      /* runtime, layers, layout, activation memory */
    size_t emb_off[EMB_N + 1], blk_off[BLK_QAT_N + 1], head_off[HEAD_N + 1];
    int gemm_gelu;              /* the backend's gemm has the GELU epilogue (ABI 1.2) */
    gpt_acts acts;              /* carved out of base.act_memory */
    /* State of the last forward beyond base's. */
    int B, T;                   /* its shape (0: none yet)                     */
    int pos_B, pos_T;           /* the shape the positions buffer holds         */
};

/* Element i of a buffer of the model's dtype. */
static void *at(const llmrt_gpt *m, const void *base, int64_t i)
{
    return llmrt_at(&m->base.ly, base, (size_t)i);
}

/* Parameters (or gradients) of a block, at the offsets the table gives. The
 * step sizes (fp32) are NULL without QAT. */
typedef struct block_params {
    void *ln1_w, *ln1_b, *qkv_w, *qkv_b, *attproj_w, *attproj_b;
    void *ln2_w, *ln2_b, *fc_w, *fc_b, *fcproj_w, *fcproj_b;
    float *qkv_s, *attproj_s, *fc_s, *fcproj_s;
} block_params;

static block_params block_at(const llmrt_gpt *m, void *base)
{
    const size_t *o = m->blk_off;
    block_params b = {
        .ln1_w = at(m, base, (int64_t)o[BLK_LN1_W]), .ln1_b = at(m, base, (int64_t)o[BLK_LN1_B]),
        .qkv_w = at(m, base, (int64_t)o[BLK_QKV_W]), .qkv_b = at(m, base, (int64_t)o[BLK_QKV_B]),
        .attproj_w = at(m, base, (int64_t)o[BLK_ATTPROJ_W]),
        .attproj_b = at(m, base, (int64_t)o[BLK_ATTPROJ_B]),
        .ln2_w = at(m, base, (int64_t)o[BLK_LN2_W]), .ln2_b = at(m, base, (int64_t)o[BLK_LN2_B]),
        .fc_w = at(m, base, (int64_t)o[BLK_FC_W]), .fc_b = at(m, base, (int64_t)o[BLK_FC_B]),
        .fcproj_w = at(m, base, (int64_t)o[BLK_FCPROJ_W]),
        .fcproj_b = at(m, base, (int64_t)o[BLK_FCPROJ_B]),
    };
    if (m->cfg.qat) { /* fp32, so `at` addresses them in floats */
        b.qkv_s = at(m, base, (int64_t)o[BLK_QKV_S]);
        b.attproj_s = at(m, base, (int64_t)o[BLK_ATTPROJ_S]);
        b.fc_s = at(m, base, (int64_t)o[BLK_FC_S]);
        b.fcproj_s = at(m, base, (int64_t)o[BLK_FCPROJ_S]);
    }
    return b;
}

#define CHECK(call)                                                                        \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_) return rc_;                                                               \
    } while (0)

/* The kernels the model calls beyond every architecture's; create() checks
 * each is there. */
static int check_backend(const llmrt_gpt *m)
{
    const llmrt_compute_vtable *vt = m->base.ly.vt;
    const llmrt_kernel_need extra[] = {
        LLMRT_KERNEL_NEED(vt, bias_grad),
        LLMRT_KERNEL_NEED(vt, gelu_forward),
        LLMRT_KERNEL_NEED(vt, gelu_backward),
        LLMRT_KERNEL_NEED(vt, copy_to_device),
        LLMRT_KERNEL_NEED(vt, copy_to_host),
    };
    return llmrt_model_check_backend(&m->base, m->cfg.qat, extra, sizeof extra / sizeof extra[0]);
}

int llmrt_gpt_create(llmrt_gpt **out, const llmrt_gpt_config *cfg, llmrt_rt *rt, int B_max,
                     int T_max)
{
    *out = NULL;
    int rc = llmrt_gpt_config_check(cfg);
    if (rc) return rc;
    if (B_max < 1)
        return llmrt_error(LLMRT_ERR_INVALID, "gpt: batch size %d: expected >= 1", B_max);
    if (T_max < 1 || T_max > cfg->context)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "gpt: sequence length %d: expected 1 .. model.context (%d)", T_max,
                           cfg->context);
    size_t act_bytes = llmrt_gpt_activation_bytes(cfg, B_max, T_max);
    if ((rc = llmrt_model_check_act_bytes("gpt", act_bytes, B_max, T_max))) return rc;

    llmrt_gpt *m = calloc(1, sizeof *m);
    if (!m) return llmrt_error(LLMRT_ERR_NOMEM, "gpt: out of host memory");
    m->cfg = *cfg;
    llmrt_model_base_init(&m->base, "gpt", rt, B_max, T_max);
    llmrt_layers_init(&m->base.ly, rt, cfg->dtype, cfg->dim, cfg->heads,
                      (float)LLMRT_GPT_LN_EPS,
                      (float)(1.0 / sqrt((double)(cfg->dim / cfg->heads))), LLMRT_WEIGHT_IN_OUT);
    m->gemm_gelu = (llmrt_rt_compute_caps(rt)->gemm_epilogues >> LLMRT_EPILOGUE_GELU) & 1u;
    llmrt_layout_unit_offsets(&tables, cfg, 0, m->emb_off);
    llmrt_layout_unit_offsets(&tables, cfg, 1, m->blk_off);
    llmrt_layout_unit_offsets(&tables, cfg, (size_t)cfg->layers + 1, m->head_off);
    if ((rc = check_backend(m)) || (rc = llmrt_gpt_layout_build(cfg, &m->base.layout))) goto fail;
    m->acts.layer = calloc((size_t)cfg->layers, sizeof *m->acts.layer);
    if (!m->acts.layer) {
        rc = llmrt_error(LLMRT_ERR_NOMEM, "gpt: out of host memory");
        goto fail;
    }
    if ((rc = llmrt_model_base_alloc(&m->base, (size_t)B_max * (size_t)T_max, act_bytes)))
        goto fail;
    if (plan_activations(cfg, (size_t)B_max, (size_t)T_max, m->base.act_memory, &m->acts) !=
        act_bytes) {
        rc = llmrt_error(LLMRT_ERR_INTERNAL, "gpt: activation plan changed size");
        goto fail;
    }
    m->base.ly.qat_w = m->acts.qat_w;
    m->base.ly.qat_dw = m->acts.qat_dw;
    *out = m;
    return LLMRT_OK;
fail:
    llmrt_gpt_destroy(m);
    return rc;
}

void llmrt_gpt_destroy(llmrt_gpt *m)
{
    if (!m) return;
    llmrt_model_base_free(&m->base);
    free(m->acts.layer);
    free(m);
}

const llmrt_gpt_config *llmrt_gpt_get_config(const llmrt_gpt *m) { return &m->cfg; }
const llmrt_model_layout *llmrt_gpt_layout(const llmrt_gpt *m) { return &m->base.layout; }

/* ------------------------------------------------------------------------ */
/* Forward                                                                  */
/* ------------------------------------------------------------------------ */

static int forward(llmrt_gpt *m, const int32_t *inputs, const int32_t *targets, int B, int T,
                   float *mean_loss)
{
    const llmrt_layers *ly = &m->base.ly;
    const llmrt_compute_vtable *vt = ly->vt;
    void *cc = ly->cc;
    llmrt_rt *rt = m->base.rt;
    gpt_acts *a = &m->acts;
    const int L = m->cfg.layers;
    const int64_t BT = (int64_t)B * T, C = m->cfg.dim, V = m->cfg.vocab;
    const int64_t Vp = (int64_t)llmrt_padded_vocab(m->cfg.vocab);
    const llmrt_dtype dt = ly->dt;
    const size_t row_bytes = (size_t)BT * ly->es; /* one column of BT rows */
    void *p;

    m->base.backward_ready = 0;
    m->base.logits_valid = 0;
    CHECK(llmrt_model_upload_tokens(&m->base, &a->io, m->cfg.vocab, inputs, targets, B, T));
    CHECK(llmrt_model_upload_positions(&m->base, &a->io, B, T, &m->pos_B, &m->pos_T));
    m->B = B;
    m->T = T;

    /* Embedding: encoded = wte[inputs] + wpe[positions]. */
    CHECK(llmrt_rt_pre_forward(rt, 0, &p));
    const void *wte = at(m, p, (int64_t)m->emb_off[EMB_WTE]);
    const void *wpe = at(m, p, (int64_t)m->emb_off[EMB_WPE]);
    CHECK(vt->embedding_forward(cc, a->encoded, a->io.inputs, wte, BT, C, dt, 0));
    CHECK(vt->embedding_forward(cc, a->encoded, a->io.positions, wpe, BT, C, dt, 1));
    CHECK(llmrt_rt_post_forward(rt, 0));

    /* Blocks. */
    const void *residual = a->encoded;
    for (int l = 0; l < L; l++) {
        gpt_layer_acts *la = &a->layer[l];
        CHECK(llmrt_rt_pre_forward(rt, 1 + (size_t)l, &p));
        block_params w = block_at(m, p);

        /* x + attn.c_proj(attention(attn.c_attn(ln_1(x)))) */
        CHECK(llmrt_layernorm_forward(ly, la->ln1, la->ln1_mean, la->ln1_rstd, residual, w.ln1_w,
                                      w.ln1_b, BT));
        CHECK(llmrt_linear_forward(ly, la->qkv, la->ln1, w.qkv_w, w.qkv_s, w.qkv_b, BT, C, 3 * C,
                                   0));
        CHECK(llmrt_self_attention_forward(ly, B, T, 1, la->qkv, la->atty, la->att_lse, NULL));
        CHECK(vt->copy(cc, la->res_att, residual, row_bytes * (size_t)C, NULL));
        CHECK(llmrt_linear_forward(ly, la->res_att, la->atty, w.attproj_w, w.attproj_s,
                                   w.attproj_b, BT, C, C, 1));

        /* x + mlp.c_proj(gelu(mlp.c_fc(ln_2(x)))) */
        CHECK(llmrt_layernorm_forward(ly, la->ln2, la->ln2_mean, la->ln2_rstd, la->res_att,
                                      w.ln2_w, w.ln2_b, BT));
        if (m->gemm_gelu) {
            CHECK(llmrt_linear_gelu_forward(ly, la->fch_gelu, la->fch, la->ln2, w.fc_w, w.fc_s,
                                            w.fc_b, BT, C, 4 * C, LLMRT_GPT_GELU));
        } else {
            CHECK(llmrt_linear_forward(ly, la->fch, la->ln2, w.fc_w, w.fc_s, w.fc_b, BT, C, 4 * C,
                                       0));
            CHECK(vt->gelu_forward(cc, la->fch_gelu, la->fch, (size_t)(BT * 4 * C), dt,
                                   LLMRT_GPT_GELU));
        }
        CHECK(vt->copy(cc, la->res_mlp, la->res_att, row_bytes * (size_t)C, NULL));
        CHECK(llmrt_linear_forward(ly, la->res_mlp, la->fch_gelu, w.fcproj_w, w.fcproj_s,
                                   w.fcproj_b, BT, 4 * C, C, 1));

        CHECK(llmrt_rt_post_forward(rt, 1 + (size_t)l));
        residual = la->res_mlp;
    }

    /* Head: ln_f, then logits = ln_f(x) @ wte^T with the tied embedding. */
    void *h;
    CHECK(llmrt_rt_pre_forward(rt, (size_t)L + 1, &h));
    CHECK(llmrt_layernorm_forward(ly, a->lnf, a->lnf_mean, a->lnf_rstd, residual,
                                  at(m, h, (int64_t)m->head_off[HEAD_LNF_W]),
                                  at(m, h, (int64_t)m->head_off[HEAD_LNF_B]), BT));
    CHECK(llmrt_rt_pre_forward(rt, 0, &p));
    CHECK(llmrt_logits_forward(ly, a->io.logits, a->lnf, at(m, p, (int64_t)m->emb_off[EMB_WTE]),
                               NULL, BT, V, Vp));
    CHECK(llmrt_rt_post_forward(rt, 0));
    CHECK(llmrt_rt_post_forward(rt, (size_t)L + 1));
    m->base.logits_valid = 1;

    if (targets) m->base.backward_ready = 1;
    if (mean_loss) *mean_loss = 0.0f;
    if (!targets || !mean_loss) return LLMRT_OK; /* the backward computes its own xent */
    return llmrt_model_mean_loss(&m->base, a->io.logits, a->io.targets, a->io.losses, BT,
                                 m->cfg.vocab, mean_loss);
}

int llmrt_gpt_forward(llmrt_gpt *m, const int32_t *inputs, const int32_t *targets, int B, int T,
                      float *mean_loss)
{
    CHECK(llmrt_model_check_batch(&m->base, B, T));
    CHECK(llmrt_model_check_attached(&m->base));
    return llmrt_model_forward_done(&m->base, forward(m, inputs, targets, B, T, mean_loss));
}

/* ------------------------------------------------------------------------ */
/* Backward                                                                 */
/* ------------------------------------------------------------------------ */

static int backward(llmrt_gpt *m, float loss_scale)
{
    const llmrt_layers *ly = &m->base.ly;
    const llmrt_compute_vtable *vt = ly->vt;
    void *cc = ly->cc;
    llmrt_rt *rt = m->base.rt;
    gpt_acts *a = &m->acts;
    const int L = m->cfg.layers, B = m->B, T = m->T;
    const int64_t BT = (int64_t)B * T, C = m->cfg.dim, V = m->cfg.vocab;
    const int64_t Vp = (int64_t)llmrt_padded_vocab(m->cfg.vocab);
    const llmrt_dtype dt = ly->dt;
    const size_t row_bytes = (size_t)BT * ly->es; /* one column of BT rows */
    void *hp, *hg, *ep, *eg, *p, *g;

    /* The head and the embedding (tied wte) open; the embedding stays open
     * until its own backward at the end. */
    CHECK(llmrt_rt_pre_backward(rt, (size_t)L + 1, &hp, &hg));
    CHECK(llmrt_rt_pre_backward(rt, 0, &ep, &eg));
    const void *wte = at(m, ep, (int64_t)m->emb_off[EMB_WTE]);
    void *dwte = at(m, eg, (int64_t)m->emb_off[EMB_WTE]);
    void *dwpe = at(m, eg, (int64_t)m->emb_off[EMB_WPE]);

    /* dlogits = dloss * (softmax - onehot), written over the logits. */
    m->base.logits_valid = 0;
    CHECK(llmrt_model_dlogits(&m->base, a->io.logits, a->io.targets, a->io.losses, BT, m->cfg.vocab,
                              loss_scale));
    /* logits = lnf @ wte^T: d lnf = dlogits @ wte, dwte += dlogits^T @ lnf. */
    CHECK(llmrt_logits_backward(ly, a->d_norm, dwte, a->io.logits, a->lnf, wte, BT, V, Vp, 1.0f));

    /* ln_f: the residual stream's gradient starts here. */
    const void *last = a->layer[L - 1].res_mlp;
    CHECK(llmrt_layernorm_backward(ly, a->d_resid, at(m, hg, (int64_t)m->head_off[HEAD_LNF_W]),
                                   at(m, hg, (int64_t)m->head_off[HEAD_LNF_B]), a->d_norm, last,
                                   at(m, hp, (int64_t)m->head_off[HEAD_LNF_W]), a->lnf_mean,
                                   a->lnf_rstd, BT, 0));
    CHECK(llmrt_rt_post_backward(rt, (size_t)L + 1));

    /* Blocks, last to first. d_resid holds d(block output) on entry and
     * d(block input) on exit: the residual connections add into it. */
    for (int l = L - 1; l >= 0; l--) {
        gpt_layer_acts *la = &a->layer[l];
        const void *residual = l ? a->layer[l - 1].res_mlp : a->encoded;
        CHECK(llmrt_rt_pre_backward(rt, 1 + (size_t)l, &p, &g));
        block_params w = block_at(m, p), dw = block_at(m, g);

        /* MLP. */
        CHECK(llmrt_linear_backward(ly, a->d_gelu, dw.fcproj_w, dw.fcproj_s, dw.fcproj_b,
                                    a->d_resid, la->fch_gelu, w.fcproj_w, w.fcproj_s, BT, 4 * C,
                                    C, 0));
        CHECK(vt->memset(cc, a->d_fch, 0, row_bytes * (size_t)(4 * C), NULL));
        CHECK(vt->gelu_backward(cc, a->d_fch, la->fch, a->d_gelu, (size_t)(BT * 4 * C), dt,
                                LLMRT_GPT_GELU));
        CHECK(llmrt_linear_backward(ly, a->d_norm, dw.fc_w, dw.fc_s, dw.fc_b, a->d_fch, la->ln2,
                                    w.fc_w, w.fc_s, BT, C, 4 * C, 0));
        CHECK(llmrt_layernorm_backward(ly, a->d_resid, dw.ln2_w, dw.ln2_b, a->d_norm,
                                       la->res_att, w.ln2_w, la->ln2_mean, la->ln2_rstd, BT, 1));

        /* Attention: d_norm holds d atty, d_fch holds d qkv. */
        void *d_atty = a->d_norm, *d_qkv = a->d_fch;
        CHECK(llmrt_linear_backward(ly, d_atty, dw.attproj_w, dw.attproj_s, dw.attproj_b,
                                    a->d_resid, la->atty, w.attproj_w, w.attproj_s, BT, C, C, 0));
        CHECK(llmrt_self_attention_backward(ly, B, T, 1, la->qkv, la->atty, la->att_lse, NULL,
                                            d_atty, d_qkv, NULL));
        CHECK(llmrt_linear_backward(ly, a->d_norm, dw.qkv_w, dw.qkv_s, dw.qkv_b, d_qkv, la->ln1,
                                    w.qkv_w, w.qkv_s, BT, C, 3 * C, 0));
        CHECK(llmrt_layernorm_backward(ly, a->d_resid, dw.ln1_w, dw.ln1_b, a->d_norm, residual,
                                       w.ln1_w, la->ln1_mean, la->ln1_rstd, BT, 1));

        CHECK(llmrt_rt_post_backward(rt, 1 + (size_t)l));
    }

    /* Embedding: d_resid is d encoded. */
    CHECK(vt->embedding_backward(cc, dwte, a->io.inputs, a->d_resid, BT, C, dt));
    CHECK(vt->embedding_backward(cc, dwpe, a->io.positions, a->d_resid, BT, C, dt));
    CHECK(llmrt_rt_post_backward(rt, 0));
    return LLMRT_OK;
}

int llmrt_gpt_backward(llmrt_gpt *m, float loss_scale)
{
    CHECK(llmrt_model_take_backward(&m->base));
    return llmrt_model_backward_done(&m->base, backward(m, loss_scale));
}

int llmrt_gpt_logits(llmrt_gpt *m, int b, int t, float *host_row)
{
    return llmrt_model_logits_row(&m->base, m->acts.io.logits, m->cfg.vocab, b, t, m->B, m->T,
                                  "position", host_row);
}
