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
 * checkpoints write and the initialisation are all derived from them.
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
#include "qat.h"
#include "rng.h"
#include "runtime.h"

/* ------------------------------------------------------------------------ */
/* Parameter layout                                                         */
/* ------------------------------------------------------------------------ */

/* A tensor dimension in terms of the config. */
typedef enum dim_code { D_NONE = 0, D_C, D_3C, D_4C, D_VOCAB, D_CONTEXT } dim_code;

typedef enum init_kind {
    INIT_NORMAL,   /* N(0, 0.02)                     */
    INIT_RESIDUAL, /* N(0, 0.02 / sqrt(2 * layers))  */
    INIT_ZERO,
    INIT_ONE,
    INIT_LSQ       /* 2 mean|w| / sqrt(qmax) over the channel of weight scale_of */
} init_kind;

typedef struct tensor_spec {
    const char *name;  /* full name, or the suffix after "transformer.h.<l>." */
    dim_code d0, d1;   /* d1 == D_NONE: a vector */
    int weight_decay;
    init_kind init;
    int scale_of;      /* INIT_LSQ: the index of the weight this is the step size of */
} tensor_spec;

/* Unit 0. */
enum { EMB_WTE, EMB_WPE, EMB_N };
static const tensor_spec embedding_tensors[EMB_N] = {
    [EMB_WTE] = {"transformer.wte.weight", D_VOCAB, D_C, 1, INIT_NORMAL},
    [EMB_WPE] = {"transformer.wpe.weight", D_CONTEXT, D_C, 1, INIT_NORMAL},
};

/* Units 1 .. layers: BLK_N tensors, and with QAT the step sizes of the four
 * linear weights appended (so that a QAT unit starts like a plain one). */
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
static const tensor_spec block_tensors[BLK_QAT_N] = {
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
static const tensor_spec head_tensors[HEAD_N] = {
    [HEAD_LNF_W] = {"transformer.ln_f.weight", D_C, D_NONE, 0, INIT_ONE},
    [HEAD_LNF_B] = {"transformer.ln_f.bias", D_C, D_NONE, 0, INIT_ZERO},
};

static const char *dtype_name(llmrt_dtype t)
{
    switch (t) {
    case LLMRT_DTYPE_F32: return "f32";
    case LLMRT_DTYPE_BF16: return "bf16";
    case LLMRT_DTYPE_F16: return "f16";
    default: return "an unsupported dtype";
    }
}

static size_t dim_value(const llmrt_gpt_config *c, dim_code d)
{
    switch (d) {
    case D_C: return (size_t)c->dim;
    case D_3C: return 3 * (size_t)c->dim;
    case D_4C: return 4 * (size_t)c->dim;
    case D_VOCAB: return (size_t)c->vocab;
    case D_CONTEXT: return (size_t)c->context;
    default: return 1;
    }
}

static size_t spec_numel(const llmrt_gpt_config *c, const tensor_spec *s)
{
    return dim_value(c, s->d0) * dim_value(c, s->d1);
}

/* The tensor table of a unit and how many tensors it has. */
static const tensor_spec *unit_specs(const llmrt_gpt_config *c, size_t unit, size_t *n)
{
    if (unit == 0) {
        *n = EMB_N;
        return embedding_tensors;
    }
    if (unit <= (size_t)c->layers) {
        *n = c->qat ? BLK_QAT_N : BLK_N;
        return block_tensors;
    }
    if (unit == (size_t)c->layers + 1) {
        *n = HEAD_N;
        return head_tensors;
    }
    *n = 0;
    return NULL;
}

/* Offsets (in floats) of every tensor of a table, tensors back to back;
 * off[n] is the unit's numel. */
static void spec_offsets(const llmrt_gpt_config *c, const tensor_spec *s, size_t n, size_t *off)
{
    off[0] = 0;
    for (size_t i = 0; i < n; i++) off[i + 1] = off[i] + spec_numel(c, &s[i]);
}

int llmrt_gpt_config_check(const llmrt_gpt_config *c)
{
    if (c->layers < 1 || c->layers > 4096)
        return llmrt_error(LLMRT_ERR_INVALID, "model.layers = %d: expected 1 .. 4096", c->layers);
    if (c->dim < 1 || c->dim > 65536)
        return llmrt_error(LLMRT_ERR_INVALID, "model.dim = %d: expected 1 .. 65536", c->dim);
    if (c->heads < 1 || c->heads > c->dim)
        return llmrt_error(LLMRT_ERR_INVALID, "model.heads = %d: expected 1 .. model.dim (%d)",
                           c->heads, c->dim);
    if (c->dim % c->heads != 0)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "model.heads = %d does not divide model.dim = %d: the head size "
                           "is model.dim / model.heads",
                           c->heads, c->dim);
    if (c->context < 1 || c->context > (1 << 20))
        return llmrt_error(LLMRT_ERR_INVALID, "model.context = %d: expected 1 .. %d",
                           c->context, 1 << 20);
    if (c->vocab < 1 || c->vocab > (1 << 30))
        return llmrt_error(LLMRT_ERR_INVALID, "model.vocab = %d: expected 1 .. %d", c->vocab,
                           1 << 30);
    if (c->dtype != LLMRT_DTYPE_F32 && c->dtype != LLMRT_DTYPE_BF16 &&
        c->dtype != LLMRT_DTYPE_F16)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "gpt: compute dtype %d: expected f32, bf16 or f16 (the [runtime] "
                           "format fp32, bf16 or fp16)",
                           (int)c->dtype);
    if (c->qat != 0 && c->qat != 1)
        return llmrt_error(LLMRT_ERR_INVALID, "gpt: qat = %d: expected 0 or 1", c->qat);
    /* LSQ learns fp32 step sizes against fp32 weights (the fake-quant kernels
     * are fp32 only), so int8 QAT computes in fp32. */
    if (c->qat && c->dtype != LLMRT_DTYPE_F32)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "gpt: int8 QAT needs fp32 compute, not %s: [runtime] format = int8 "
                           "trains fp32 weights fake-quantized to int8 and combines with no "
                           "other format",
                           dtype_name(c->dtype));
    return LLMRT_OK;
}

size_t llmrt_gpt_n_units(const llmrt_gpt_config *c) { return (size_t)c->layers + 2; }

static size_t unit_numel(const llmrt_gpt_config *c, size_t unit)
{
    size_t n, total = 0;
    const tensor_spec *s = unit_specs(c, unit, &n);
    for (size_t i = 0; i < n; i++) total += spec_numel(c, &s[i]);
    return total;
}

size_t llmrt_gpt_n_params(const llmrt_gpt_config *c)
{
    size_t total = 0;
    for (size_t u = 0; u < llmrt_gpt_n_units(c); u++) total += unit_numel(c, u);
    return total;
}

int llmrt_gpt_tensor_shape(const llmrt_gpt_config *c, size_t unit, size_t tensor,
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

/* The name of tensor i of `unit` into buf (snprintf semantics). */
static int tensor_name(const llmrt_gpt_config *c, size_t unit, const tensor_spec *s, char *buf,
                       size_t size)
{
    if (unit >= 1 && unit <= (size_t)c->layers)
        return snprintf(buf, size, "transformer.h.%zu.%s", unit - 1, s->name);
    return snprintf(buf, size, "%s", s->name);
}

static int unit_name(const llmrt_gpt_config *c, size_t unit, char *buf, size_t size)
{
    if (unit == 0) return snprintf(buf, size, "embedding");
    if (unit <= (size_t)c->layers) return snprintf(buf, size, "block.%zu", unit - 1);
    return snprintf(buf, size, "head");
}

int llmrt_gpt_layout_build(const llmrt_gpt_config *c, llmrt_model_layout *layout)
{
    memset(layout, 0, sizeof *layout);
    int rc = llmrt_gpt_config_check(c);
    if (rc) return rc;
    size_t n_units = llmrt_gpt_n_units(c), n_tensors = 0, chars = 0;
    for (size_t u = 0; u < n_units; u++) {
        size_t n;
        const tensor_spec *s = unit_specs(c, u, &n);
        n_tensors += n;
        chars += (size_t)unit_name(c, u, NULL, 0) + 1;
        for (size_t i = 0; i < n; i++) chars += (size_t)tensor_name(c, u, &s[i], NULL, 0) + 1;
    }
    /* One block: units, then tensors, then the names. */
    size_t bytes = n_units * sizeof(llmrt_unit_desc) + n_tensors * sizeof(llmrt_tensor_desc) +
                   chars;
    char *block = calloc(1, bytes);
    if (!block) return llmrt_error(LLMRT_ERR_NOMEM, "gpt: out of host memory for the layout");
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
    /* The training loop overrides reduce_type, param_rounding and
     * rounding_seed from the precision policy. */
    layout->param_type = c->dtype;
    layout->grad_type = c->dtype;
    layout->reduce_type = c->dtype;
    layout->param_rounding = LLMRT_ROUND_NEAREST_EVEN;
    layout->rounding_seed = 0;
    return LLMRT_OK;
}

void llmrt_gpt_layout_free(llmrt_model_layout *layout)
{
    if (!layout) return;
    free((void *)layout->units);
    memset(layout, 0, sizeof *layout);
}

void llmrt_gpt_init_unit(const llmrt_gpt_config *c, size_t unit, uint64_t seed,
                         float *host_params)
{
    size_t n;
    const tensor_spec *s = unit_specs(c, unit, &n);
    /* One stream per unit: splitmix64 (inside llmrt_rng_seed) decorrelates
     * neighbouring seeds, so seed + unit * golden ratio is enough. */
    llmrt_rng rng;
    llmrt_rng_seed(&rng, seed + 0x9e3779b97f4a7c15ull * (uint64_t)(unit + 1));
    const double std = 0.02, std_residual = 0.02 / sqrt(2.0 * c->layers);
    float *p = host_params;
    for (size_t i = 0; i < n; i++) {
        size_t numel = spec_numel(c, &s[i]);
        for (size_t j = 0; j < numel; j++) {
            switch (s[i].init) {
            case INIT_NORMAL: p[j] = (float)(std * llmrt_rng_normal(&rng)); break;
            case INIT_RESIDUAL: p[j] = (float)(std_residual * llmrt_rng_normal(&rng)); break;
            case INIT_ZERO: p[j] = 0.0f; break;
            case INIT_ONE: p[j] = 1.0f; break;
            case INIT_LSQ: p[j] = 0.0f; break; /* from the weights, below */
            }
        }
        p += numel;
    }
    /* The step sizes come last in the unit and draw no random numbers, so a
     * QAT model starts from the same weights as a plain one. */
    if (c->qat) llmrt_gpt_qat_init_scales(c, unit, host_params);
}

int llmrt_gpt_qat_init_scales(const llmrt_gpt_config *c, size_t unit, float *host_unit)
{
    if (!c->qat)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "gpt: step sizes asked for a model without QAT ([runtime] format "
                           "is not int8)");
    size_t n, off[BLK_QAT_N + 1];
    const tensor_spec *s = unit_specs(c, unit, &n);
    if (!s)
        return llmrt_error(LLMRT_ERR_INVALID, "gpt: unit %zu: the model has %zu units", unit,
                           llmrt_gpt_n_units(c));
    spec_offsets(c, s, n, off);
    for (size_t i = 0; i < n; i++) {
        if (s[i].init != INIT_LSQ) continue;
        const tensor_spec *w = &s[s[i].scale_of];
        int64_t rows = (int64_t)dim_value(c, w->d0), cols = (int64_t)dim_value(c, w->d1);
        const float *weight = host_unit + off[s[i].scale_of];
        for (int64_t col = 0; col < cols; col++)
            host_unit[off[i] + (size_t)col] = llmrt_qat_init_step(weight, rows, cols, col);
    }
    return LLMRT_OK;
}

int llmrt_gpt_tensor_scale(const llmrt_gpt_config *c, size_t unit, size_t tensor)
{
    size_t n;
    const tensor_spec *s = unit_specs(c, unit, &n);
    for (size_t i = 0; s && i < n; i++)
        if (s[i].init == INIT_LSQ && (size_t)s[i].scale_of == tensor) return (int)i;
    return -1;
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
    void *logits;               /* [BT, Vp]  Vp = vocab rounded up to 64; the
                                   backward overwrites it with dlogits           */
    float *losses;              /* [BT]                                         */
    int32_t *inputs, *targets, *positions; /* [BT] token ids, targets, t of each row */
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

enum { ACT_ALIGN = 64 };

static size_t padded_vocab(const llmrt_gpt_config *c)
{
    return ((size_t)c->vocab + 63) / 64 * 64;
}

/* Carves buffers out of one allocation (or, with base NULL, only counts). */
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

/* The one place that lists the activation buffers; llmrt_gpt_activation_bytes
 * and create both go through it, so they cannot disagree. Returns the total
 * size in bytes (0 on overflow); with base != NULL also fills *a. */
static size_t plan_activations(const llmrt_gpt_config *c, size_t B, size_t T, char *base,
                               gpt_acts *a)
{
    carver cv = {base, 0, 0};
    size_t C = (size_t)c->dim, NH = (size_t)c->heads, Vp = padded_vocab(c);
    size_t es = llmrt_dtype_size(c->dtype), f = sizeof(float), i32 = sizeof(int32_t);
    size_t BT;
    if (!es || __builtin_mul_overflow(B, T, &BT) || BT > SIZE_MAX / (4 * C + Vp)) return 0;
    gpt_acts dummy;
    if (!a) a = &dummy;
    a->encoded = carve(&cv, BT * C, es);
    for (size_t l = 0; l < (size_t)c->layers; l++) {
        gpt_layer_acts scratch, *la = base ? &a->layer[l] : &scratch;
        la->ln1 = carve(&cv, BT * C, es);
        la->ln1_mean = carve(&cv, BT, f);
        la->ln1_rstd = carve(&cv, BT, f);
        la->qkv = carve(&cv, BT * 3 * C, es);
        la->atty = carve(&cv, BT * C, es);
        la->att_lse = carve(&cv, BT * NH, f);
        la->res_att = carve(&cv, BT * C, es);
        la->ln2 = carve(&cv, BT * C, es);
        la->ln2_mean = carve(&cv, BT, f);
        la->ln2_rstd = carve(&cv, BT, f);
        la->fch = carve(&cv, BT * 4 * C, es);
        la->fch_gelu = carve(&cv, BT * 4 * C, es);
        la->res_mlp = carve(&cv, BT * C, es);
    }
    a->lnf = carve(&cv, BT * C, es);
    a->lnf_mean = carve(&cv, BT, f);
    a->lnf_rstd = carve(&cv, BT, f);
    a->logits = carve(&cv, BT * Vp, es);
    a->losses = carve(&cv, BT, f);
    a->inputs = carve(&cv, BT, i32);
    a->targets = carve(&cv, BT, i32);
    a->positions = carve(&cv, BT, i32);
    a->d_resid = carve(&cv, BT * C, es);
    a->d_norm = carve(&cv, BT * C, es);
    a->d_fch = carve(&cv, BT * 4 * C, es);
    a->d_gelu = carve(&cv, BT * 4 * C, es);
    a->qat_w = a->qat_dw = NULL;
    if (c->qat) {
        a->qat_w = carve(&cv, 4 * C * C, f);
        a->qat_dw = carve(&cv, 4 * C * C, f);
    }
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
    llmrt_rt *rt;
    const llmrt_compute_vtable *vt;
    void *cc;                   /* the backend's context */
    llmrt_model_layout layout;
    size_t emb_off[EMB_N + 1], blk_off[BLK_QAT_N + 1], head_off[HEAD_N + 1];
    llmrt_dtype dt;             /* cfg.dtype: parameters, gradients, activations */
    size_t es;                  /* its element size in bytes */
    int gemm_gelu;              /* the backend's gemm has the GELU epilogue (ABI 1.2) */

    int B_max, T_max;
    void *act_memory;           /* the one LLMRT_MEM_ACTIVATIONS buffer */
    size_t act_bytes;
    gpt_acts acts;

    int32_t *host_ids;          /* [B_max * T_max] staging for ids and positions */
    float *host_losses;         /* [B_max * T_max] */

    /* State of the last forward. */
    int B, T;                   /* its shape (0: none yet)                     */
    int pos_B, pos_T;           /* the shape the positions buffer holds         */
    int n_targets;              /* positions that had a target                  */
    int backward_ready;         /* a forward with targets, not yet backpropagated */
    int logits_valid;           /* logits hold the last forward's values        */
};

/* Element i of a buffer of the model's dtype. */
static void *at(const llmrt_gpt *m, const void *base, int64_t i)
{
    return (char *)(uintptr_t)base + (size_t)i * m->es;
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

/* The kernels the model calls, by member; create() checks each is there. */
static int check_backend(const llmrt_gpt *m, const char *backend)
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
    else if (!LLMRT_HAS(vt, sz, copy)) missing = "copy";
    else if (!LLMRT_HAS(vt, sz, memset)) missing = "memset";
    else if (!LLMRT_HAS(vt, sz, copy_to_device)) missing = "copy_to_device";
    else if (!LLMRT_HAS(vt, sz, copy_to_host)) missing = "copy_to_host";
    else if (m->cfg.qat && !LLMRT_HAS(vt, sz, fake_quant_forward))
        missing = "fake_quant_forward (int8 QAT)";
    else if (m->cfg.qat && !LLMRT_HAS(vt, sz, fake_quant_backward))
        missing = "fake_quant_backward (int8 QAT)";
    if (missing)
        return llmrt_error(LLMRT_ERR_UNSUPPORTED,
                           "backend %s does not support %s, which the gpt model needs",
                           backend ? backend : "?", missing);
    return LLMRT_OK;
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
    if (!act_bytes)
        return llmrt_error(LLMRT_ERR_INVALID, "gpt: activations for B = %d, T = %d overflow",
                           B_max, T_max);

    llmrt_gpt *m = calloc(1, sizeof *m);
    if (!m) return llmrt_error(LLMRT_ERR_NOMEM, "gpt: out of host memory");
    llmrt_backend be = llmrt_rt_backend(rt);
    m->cfg = *cfg;
    m->rt = rt;
    m->vt = be.vt;
    m->cc = be.ctx;
    m->dt = cfg->dtype;
    m->es = llmrt_dtype_size(cfg->dtype);
    m->gemm_gelu = (llmrt_rt_compute_caps(rt)->gemm_epilogues >> LLMRT_EPILOGUE_GELU) & 1u;
    m->B_max = B_max;
    m->T_max = T_max;
    spec_offsets(cfg, embedding_tensors, EMB_N, m->emb_off);
    spec_offsets(cfg, block_tensors, cfg->qat ? BLK_QAT_N : BLK_N, m->blk_off);
    spec_offsets(cfg, head_tensors, HEAD_N, m->head_off);
    if ((rc = check_backend(m, llmrt_rt_component_name(rt, LLMRT_KIND_COMPUTE))) ||
        (rc = llmrt_gpt_layout_build(cfg, &m->layout)))
        goto fail;

    size_t BT = (size_t)B_max * (size_t)T_max;
    m->acts.layer = calloc((size_t)cfg->layers, sizeof *m->acts.layer);
    m->host_ids = malloc(BT * sizeof *m->host_ids);
    m->host_losses = malloc(BT * sizeof *m->host_losses);
    if (!m->acts.layer || !m->host_ids || !m->host_losses) {
        rc = llmrt_error(LLMRT_ERR_NOMEM, "gpt: out of host memory");
        goto fail;
    }
    if ((rc = llmrt_rt_alloc(rt, LLMRT_MEM_ACTIVATIONS, act_bytes, &m->act_memory))) {
        rc = llmrt_error_prefix(rc, "gpt: activations (%zu bytes for B = %d, T = %d)",
                                act_bytes, B_max, T_max);
        goto fail;
    }
    m->act_bytes = act_bytes;
    if (plan_activations(cfg, (size_t)B_max, (size_t)T_max, m->act_memory, &m->acts) !=
        act_bytes) {
        rc = llmrt_error(LLMRT_ERR_INTERNAL, "gpt: activation plan changed size");
        goto fail;
    }
    /* Zero everything once: the logits' padding columns are never written. */
    if ((rc = m->vt->memset(m->cc, m->act_memory, 0, act_bytes, NULL))) goto fail;
    *out = m;
    return LLMRT_OK;
fail:
    llmrt_gpt_destroy(m);
    return rc;
}

void llmrt_gpt_destroy(llmrt_gpt *m)
{
    if (!m) return;
    if (m->act_memory) llmrt_rt_free(m->rt, m->act_memory);
    llmrt_gpt_layout_free(&m->layout);
    free(m->acts.layer);
    free(m->host_ids);
    free(m->host_losses);
    free(m);
}

const llmrt_gpt_config *llmrt_gpt_get_config(const llmrt_gpt *m) { return &m->cfg; }
const llmrt_model_layout *llmrt_gpt_layout(const llmrt_gpt *m) { return &m->layout; }

/* ------------------------------------------------------------------------ */
/* Layers, as kernel calls                                                  */
/* ------------------------------------------------------------------------ */

/* LSQ fake quantization of a [k, n] weight (HF Conv1D [in, out]) with one
 * step size per output channel: axis 1, N = k values per channel. */
static llmrt_fake_quant_desc weight_quant_desc(const float *w, const float *scale, int64_t k,
                                               int64_t n)
{
    return (llmrt_fake_quant_desc){
        .struct_size = sizeof(llmrt_fake_quant_desc),
        .rows = k, .cols = n,
        .axis = 1,
        .qmin = LLMRT_I8_QMIN, .qmax = LLMRT_I8_QMAX,
        .x = w, .scale = scale,
        .grad_factor = llmrt_qat_grad_factor(k),
    };
}

/* With QAT (scale != NULL) the weight a matmul uses: fake_quant(w, scale) in
 * the scratch buffer qat_w. Otherwise w itself. */
static int effective_weight(llmrt_gpt *m, const void *w, const float *scale, int64_t k,
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

/* out[rows, n] = inp[rows, k] @ w[k, n] + bias (w in HF Conv1D layout; with
 * QAT, fake_quant(w, scale)). With accumulate, out += instead (a residual
 * connection). */
static int matmul_forward(llmrt_gpt *m, void *out, const void *inp, const void *w,
                          const float *scale, const void *bias, int64_t rows, int64_t k,
                          int64_t n, int accumulate)
{
    const void *wq;
    CHECK(effective_weight(m, w, scale, k, n, &wq));
    llmrt_gemm_desc d = {
        .struct_size = sizeof d,
        .m = rows, .n = n, .k = k,
        .alpha = 1.0f, .beta = accumulate ? 1.0f : 0.0f,
        .a = inp, .lda = k, .a_type = m->dt,
        .b = wq, .ldb = n, .b_type = m->dt,
        .c = out, .ldc = n, .c_type = m->dt,
        .bias = bias,
    };
    return m->vt->gemm(m->cc, &d);
}

/* out = gelu_tanh(inp @ w + bias) in one gemm (the backend's GELU
 * epilogue), pre_gelu = inp @ w + bias for the backward: the same values as
 * matmul_forward into pre_gelu then gelu_forward into out. */
static int matmul_gelu_forward(llmrt_gpt *m, void *out, void *pre_gelu, const void *inp,
                               const void *w, const float *scale, const void *bias,
                               int64_t rows, int64_t k, int64_t n)
{
    const void *wq;
    CHECK(effective_weight(m, w, scale, k, n, &wq));
    llmrt_gemm_desc d = {
        .struct_size = sizeof d,
        .m = rows, .n = n, .k = k,
        .alpha = 1.0f, .beta = 0.0f,
        .a = inp, .lda = k, .a_type = m->dt,
        .b = wq, .ldb = n, .b_type = m->dt,
        .c = out, .ldc = n, .c_type = m->dt,
        .bias = bias,
        .epilogue = LLMRT_EPILOGUE_GELU,
        .gelu_kind = LLMRT_GELU_TANH,
        .pre_gelu = pre_gelu,
    };
    return m->vt->gemm(m->cc, &d);
}

/* Backward of matmul_forward: dinp = dout @ w^T (overwritten), dw += inp^T @
 * dout, dbias += column sums of dout. With QAT the product used w_q =
 * fake_quant(w, scale): dinp uses w_q, d w_q goes to scratch (beta 0), and
 * fake_quant_backward turns it into dw (straight-through) and dscale (LSQ). */
static int matmul_backward(llmrt_gpt *m, void *dinp, void *dw, float *dscale, void *dbias,
                           const void *dout, const void *inp, const void *w,
                           const float *scale, int64_t rows, int64_t k, int64_t n)
{
    const void *wq;
    CHECK(effective_weight(m, w, scale, k, n, &wq));
    llmrt_gemm_desc dx = {
        .struct_size = sizeof dx,
        .trans_b = 1,
        .m = rows, .n = k, .k = n,
        .alpha = 1.0f, .beta = 0.0f,
        .a = dout, .lda = n, .a_type = m->dt,
        .b = wq, .ldb = n, .b_type = m->dt,
        .c = dinp, .ldc = k, .c_type = m->dt,
    };
    llmrt_gemm_desc dW = {
        .struct_size = sizeof dW,
        .trans_a = 1,
        .m = k, .n = n, .k = rows,
        .alpha = 1.0f, .beta = scale ? 0.0f : 1.0f,
        .a = inp, .lda = k, .a_type = m->dt,
        .b = dout, .ldb = n, .b_type = m->dt,
        .c = scale ? (void *)m->acts.qat_dw : dw, .ldc = n, .c_type = m->dt,
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

static llmrt_norm_desc layernorm_desc(const llmrt_gpt *m, int64_t rows, const void *inp,
                                      const void *w, const void *b, float *mean, float *rstd)
{
    return (llmrt_norm_desc){
        .struct_size = sizeof(llmrt_norm_desc),
        .rows = rows, .cols = m->cfg.dim,
        .eps = 1e-5f,
        .dtype = m->dt,
        .inp = inp, .weight = w, .bias = b,
        .mean = mean, .rstd = rstd,
    };
}

static int layernorm_forward(llmrt_gpt *m, void *out, float *mean, float *rstd,
                             const void *inp, const void *w, const void *b, int64_t rows)
{
    llmrt_norm_desc d = layernorm_desc(m, rows, inp, w, b, mean, rstd);
    d.out = out;
    return m->vt->norm_forward(m->cc, &d);
}

/* dinp, dw, db += (rule 8). */
static int layernorm_backward(llmrt_gpt *m, void *dinp, void *dw, void *db, const void *dout,
                              const void *inp, const void *w, float *mean, float *rstd,
                              int64_t rows)
{
    llmrt_norm_desc d = layernorm_desc(m, rows, inp, w, NULL, mean, rstd);
    d.dout = dout;
    d.dinp = dinp;
    d.dweight = dw;
    d.dbias = db;
    return m->vt->norm_backward(m->cc, &d);
}

/* Causal self-attention over the fused qkv rows [B*T, 3C] (q | k | v, head h
 * at h * head_dim inside each). */
static llmrt_attention_desc attention_desc(const llmrt_gpt *m, int B, int T, const void *qkv,
                                           void *out, float *lse)
{
    int64_t C = m->cfg.dim, NH = m->cfg.heads, hd = C / NH;
    return (llmrt_attention_desc){
        .struct_size = sizeof(llmrt_attention_desc),
        .batch = B, .heads = NH, .q_len = T, .kv_len = T, .head_dim = hd,
        .dtype = m->dt,
        .scale = (float)(1.0 / sqrt((double)hd)),
        .causal = 1,
        .q = qkv, .q_row_stride = 3 * C,
        .k = at(m, qkv, C), .k_row_stride = 3 * C,
        .v = at(m, qkv, 2 * C), .v_row_stride = 3 * C,
        .out = out, .out_row_stride = C,
        .lse = lse,
    };
}

/* ------------------------------------------------------------------------ */
/* Forward                                                                  */
/* ------------------------------------------------------------------------ */

static int check_attached(const llmrt_gpt *m)
{
    void *sctx = NULL;
    llmrt_rt_strategy(m->rt, &sctx);
    if (!sctx)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "gpt: no strategy yet: attach the model's layout with "
                           "llmrt_rt_attach_model() before the first forward");
    return LLMRT_OK;
}

/* Upload token ids (and targets) after checking them; positions only when
 * the shape changed. */
static int upload_batch(llmrt_gpt *m, const int32_t *inputs, const int32_t *targets, int B,
                        int T)
{
    size_t BT = (size_t)B * (size_t)T;
    for (size_t i = 0; i < BT; i++)
        if (inputs[i] < 0 || inputs[i] >= m->cfg.vocab)
            return llmrt_error(LLMRT_ERR_INVALID,
                               "gpt: input token %d at row %zu, position %zu is outside "
                               "[0, model.vocab = %d)",
                               inputs[i], i / (size_t)T, i % (size_t)T, m->cfg.vocab);
    CHECK(llmrt_rt_upload(m->rt, m->acts.inputs, inputs, BT * sizeof *inputs));
    m->n_targets = 0;
    if (targets) {
        for (size_t i = 0; i < BT; i++) {
            if (targets[i] >= m->cfg.vocab)
                return llmrt_error(LLMRT_ERR_INVALID,
                                   "gpt: target token %d at row %zu, position %zu is outside "
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

static int forward(llmrt_gpt *m, const int32_t *inputs, const int32_t *targets, int B, int T,
                   float *mean_loss)
{
    const llmrt_compute_vtable *vt = m->vt;
    void *cc = m->cc;
    llmrt_rt *rt = m->rt;
    gpt_acts *a = &m->acts;
    const int L = m->cfg.layers;
    const int64_t BT = (int64_t)B * T, C = m->cfg.dim, V = m->cfg.vocab;
    const int64_t Vp = (int64_t)padded_vocab(&m->cfg);
    const llmrt_dtype dt = m->dt;
    const size_t row_bytes = (size_t)BT * m->es; /* one column of BT rows */
    void *p;

    m->backward_ready = 0;
    m->logits_valid = 0;
    CHECK(upload_batch(m, inputs, targets, B, T));
    m->B = B;
    m->T = T;

    /* Embedding: encoded = wte[inputs] + wpe[positions]. */
    CHECK(llmrt_rt_pre_forward(rt, 0, &p));
    const void *wte = at(m, p, (int64_t)m->emb_off[EMB_WTE]);
    const void *wpe = at(m, p, (int64_t)m->emb_off[EMB_WPE]);
    CHECK(vt->embedding_forward(cc, a->encoded, a->inputs, wte, BT, C, dt, 0));
    CHECK(vt->embedding_forward(cc, a->encoded, a->positions, wpe, BT, C, dt, 1));
    CHECK(llmrt_rt_post_forward(rt, 0));

    /* Blocks. */
    const void *residual = a->encoded;
    for (int l = 0; l < L; l++) {
        gpt_layer_acts *la = &a->layer[l];
        CHECK(llmrt_rt_pre_forward(rt, 1 + (size_t)l, &p));
        block_params w = block_at(m, p);

        /* x + attn.c_proj(attention(attn.c_attn(ln_1(x)))) */
        CHECK(layernorm_forward(m, la->ln1, la->ln1_mean, la->ln1_rstd, residual, w.ln1_w,
                                w.ln1_b, BT));
        CHECK(matmul_forward(m, la->qkv, la->ln1, w.qkv_w, w.qkv_s, w.qkv_b, BT, C, 3 * C, 0));
        llmrt_attention_desc ad = attention_desc(m, B, T, la->qkv, la->atty, la->att_lse);
        CHECK(vt->attention_forward(cc, &ad));
        CHECK(vt->copy(cc, la->res_att, residual, row_bytes * (size_t)C, NULL));
        CHECK(matmul_forward(m, la->res_att, la->atty, w.attproj_w, w.attproj_s, w.attproj_b,
                             BT, C, C, 1));

        /* x + mlp.c_proj(gelu(mlp.c_fc(ln_2(x)))) */
        CHECK(layernorm_forward(m, la->ln2, la->ln2_mean, la->ln2_rstd, la->res_att, w.ln2_w,
                                w.ln2_b, BT));
        if (m->gemm_gelu) {
            CHECK(matmul_gelu_forward(m, la->fch_gelu, la->fch, la->ln2, w.fc_w, w.fc_s,
                                      w.fc_b, BT, C, 4 * C));
        } else {
            CHECK(matmul_forward(m, la->fch, la->ln2, w.fc_w, w.fc_s, w.fc_b, BT, C, 4 * C, 0));
            CHECK(vt->gelu_forward(cc, la->fch_gelu, la->fch, (size_t)(BT * 4 * C), dt,
                                   LLMRT_GELU_TANH));
        }
        CHECK(vt->copy(cc, la->res_mlp, la->res_att, row_bytes * (size_t)C, NULL));
        CHECK(matmul_forward(m, la->res_mlp, la->fch_gelu, w.fcproj_w, w.fcproj_s, w.fcproj_b,
                             BT, 4 * C, C, 1));

        CHECK(llmrt_rt_post_forward(rt, 1 + (size_t)l));
        residual = la->res_mlp;
    }

    /* Head: ln_f, then logits = ln_f(x) @ wte^T with the tied embedding. */
    void *h;
    CHECK(llmrt_rt_pre_forward(rt, (size_t)L + 1, &h));
    CHECK(layernorm_forward(m, a->lnf, a->lnf_mean, a->lnf_rstd, residual,
                            at(m, h, (int64_t)m->head_off[HEAD_LNF_W]),
                            at(m, h, (int64_t)m->head_off[HEAD_LNF_B]), BT));
    CHECK(llmrt_rt_pre_forward(rt, 0, &p));
    llmrt_gemm_desc lg = {
        .struct_size = sizeof lg,
        .trans_b = 1,
        .m = BT, .n = V, .k = C,
        .alpha = 1.0f, .beta = 0.0f,
        .a = a->lnf, .lda = C, .a_type = dt,
        .b = at(m, p, (int64_t)m->emb_off[EMB_WTE]), .ldb = C, .b_type = dt,
        .c = a->logits, .ldc = Vp, .c_type = dt,
    };
    CHECK(vt->gemm(cc, &lg));
    CHECK(llmrt_rt_post_forward(rt, 0));
    CHECK(llmrt_rt_post_forward(rt, (size_t)L + 1));
    m->logits_valid = 1;

    if (targets) m->backward_ready = 1;
    if (mean_loss) *mean_loss = 0.0f;
    if (!targets || !mean_loss) return LLMRT_OK; /* the backward computes its own xent */

    /* Loss: per-row cross-entropy (fp32 whatever the dtype), averaged here on
     * the host. */
    llmrt_xent_desc xd = {
        .struct_size = sizeof xd,
        .rows = BT, .vocab = V, .padded_vocab = Vp,
        .dtype = dt,
        .logits = a->logits,
        .targets = a->targets,
        .losses = a->losses,
    };
    CHECK(vt->softmax_xent(cc, &xd));
    CHECK(llmrt_rt_download(rt, m->host_losses, a->losses, (size_t)BT * sizeof(float)));
    double sum = 0.0;
    for (int64_t i = 0; i < BT; i++) sum += m->host_losses[i];
    *mean_loss = m->n_targets ? (float)(sum / m->n_targets) : 0.0f;
    return LLMRT_OK;
}

int llmrt_gpt_forward(llmrt_gpt *m, const int32_t *inputs, const int32_t *targets, int B, int T,
                      float *mean_loss)
{
    if (B < 1 || B > m->B_max || T < 1 || T > m->T_max)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "gpt forward: batch %d x %d tokens: the model was created for at "
                           "most %d x %d",
                           B, T, m->B_max, m->T_max);
    CHECK(check_attached(m));
    int rc = forward(m, inputs, targets, B, T, mean_loss);
    if (!rc) return LLMRT_OK;
    m->backward_ready = 0;
    m->logits_valid = 0;
    return llmrt_error_prefix(rc, "gpt forward");
}

/* ------------------------------------------------------------------------ */
/* Backward                                                                 */
/* ------------------------------------------------------------------------ */

static int backward(llmrt_gpt *m, float loss_scale)
{
    const llmrt_compute_vtable *vt = m->vt;
    void *cc = m->cc;
    llmrt_rt *rt = m->rt;
    gpt_acts *a = &m->acts;
    const int L = m->cfg.layers, B = m->B, T = m->T;
    const int64_t BT = (int64_t)B * T, C = m->cfg.dim, V = m->cfg.vocab;
    const int64_t Vp = (int64_t)padded_vocab(&m->cfg);
    const llmrt_dtype dt = m->dt;
    const size_t row_bytes = (size_t)BT * m->es; /* one column of BT rows */
    void *hp, *hg, *ep, *eg, *p, *g;

    /* The head and the embedding (tied wte) open; the embedding stays open
     * until its own backward at the end. */
    CHECK(llmrt_rt_pre_backward(rt, (size_t)L + 1, &hp, &hg));
    CHECK(llmrt_rt_pre_backward(rt, 0, &ep, &eg));
    const void *wte = at(m, ep, (int64_t)m->emb_off[EMB_WTE]);
    void *dwte = at(m, eg, (int64_t)m->emb_off[EMB_WTE]);
    void *dwpe = at(m, eg, (int64_t)m->emb_off[EMB_WPE]);

    /* dlogits = dloss * (softmax - onehot), written over the logits. */
    m->logits_valid = 0;
    llmrt_xent_desc xd = {
        .struct_size = sizeof xd,
        .rows = BT, .vocab = V, .padded_vocab = Vp,
        .dtype = dt,
        .logits = a->logits,
        .targets = a->targets,
        .losses = a->losses,
        .dlogits = a->logits,
        .dloss = m->n_targets ? loss_scale / (float)m->n_targets : 0.0f,
    };
    CHECK(vt->softmax_xent(cc, &xd));
    const void *dlogits = a->logits;

    /* logits = lnf @ wte^T: d lnf = dlogits @ wte, dwte += dlogits^T @ lnf. */
    llmrt_gemm_desc dlnf_gemm = {
        .struct_size = sizeof dlnf_gemm,
        .m = BT, .n = C, .k = V,
        .alpha = 1.0f, .beta = 0.0f,
        .a = dlogits, .lda = Vp, .a_type = dt,
        .b = wte, .ldb = C, .b_type = dt,
        .c = a->d_norm, .ldc = C, .c_type = dt,
    };
    llmrt_gemm_desc dwte_gemm = {
        .struct_size = sizeof dwte_gemm,
        .trans_a = 1,
        .m = V, .n = C, .k = BT,
        .alpha = 1.0f, .beta = 1.0f,
        .a = dlogits, .lda = Vp, .a_type = dt,
        .b = a->lnf, .ldb = C, .b_type = dt,
        .c = dwte, .ldc = C, .c_type = dt,
    };
    CHECK(vt->gemm(cc, &dlnf_gemm));
    CHECK(vt->gemm(cc, &dwte_gemm));

    /* ln_f: the residual stream's gradient starts here. */
    const void *last = a->layer[L - 1].res_mlp;
    CHECK(vt->memset(cc, a->d_resid, 0, row_bytes * (size_t)C, NULL));
    CHECK(layernorm_backward(m, a->d_resid, at(m, hg, (int64_t)m->head_off[HEAD_LNF_W]),
                             at(m, hg, (int64_t)m->head_off[HEAD_LNF_B]), a->d_norm, last,
                             at(m, hp, (int64_t)m->head_off[HEAD_LNF_W]), a->lnf_mean,
                             a->lnf_rstd, BT));
    CHECK(llmrt_rt_post_backward(rt, (size_t)L + 1));

    /* Blocks, last to first. d_resid holds d(block output) on entry and
     * d(block input) on exit: the residual connections add into it. */
    for (int l = L - 1; l >= 0; l--) {
        gpt_layer_acts *la = &a->layer[l];
        const void *residual = l ? a->layer[l - 1].res_mlp : a->encoded;
        CHECK(llmrt_rt_pre_backward(rt, 1 + (size_t)l, &p, &g));
        block_params w = block_at(m, p), dw = block_at(m, g);

        /* MLP. */
        CHECK(matmul_backward(m, a->d_gelu, dw.fcproj_w, dw.fcproj_s, dw.fcproj_b, a->d_resid,
                              la->fch_gelu, w.fcproj_w, w.fcproj_s, BT, 4 * C, C));
        CHECK(vt->memset(cc, a->d_fch, 0, row_bytes * (size_t)(4 * C), NULL));
        CHECK(vt->gelu_backward(cc, a->d_fch, la->fch, a->d_gelu, (size_t)(BT * 4 * C), dt,
                                LLMRT_GELU_TANH));
        CHECK(matmul_backward(m, a->d_norm, dw.fc_w, dw.fc_s, dw.fc_b, a->d_fch, la->ln2,
                              w.fc_w, w.fc_s, BT, C, 4 * C));
        CHECK(layernorm_backward(m, a->d_resid, dw.ln2_w, dw.ln2_b, a->d_norm, la->res_att,
                                 w.ln2_w, la->ln2_mean, la->ln2_rstd, BT));

        /* Attention: d_norm holds d atty, d_fch holds d qkv. */
        void *d_atty = a->d_norm, *d_qkv = a->d_fch;
        CHECK(matmul_backward(m, d_atty, dw.attproj_w, dw.attproj_s, dw.attproj_b, a->d_resid,
                              la->atty, w.attproj_w, w.attproj_s, BT, C, C));
        CHECK(vt->memset(cc, d_qkv, 0, row_bytes * (size_t)(3 * C), NULL));
        llmrt_attention_desc ad = attention_desc(m, B, T, la->qkv, la->atty, la->att_lse);
        ad.dout = d_atty;
        ad.dq = d_qkv;
        ad.dk = at(m, d_qkv, C);
        ad.dv = at(m, d_qkv, 2 * C);
        CHECK(vt->attention_backward(cc, &ad));
        CHECK(matmul_backward(m, a->d_norm, dw.qkv_w, dw.qkv_s, dw.qkv_b, d_qkv, la->ln1,
                              w.qkv_w, w.qkv_s, BT, C, 3 * C));
        CHECK(layernorm_backward(m, a->d_resid, dw.ln1_w, dw.ln1_b, a->d_norm, residual,
                                 w.ln1_w, la->ln1_mean, la->ln1_rstd, BT));

        CHECK(llmrt_rt_post_backward(rt, 1 + (size_t)l));
    }

    /* Embedding: d_resid is d encoded. */
    CHECK(vt->embedding_backward(cc, dwte, a->inputs, a->d_resid, BT, C, dt));
    CHECK(vt->embedding_backward(cc, dwpe, a->positions, a->d_resid, BT, C, dt));
    CHECK(llmrt_rt_post_backward(rt, 0));
    return LLMRT_OK;
}

int llmrt_gpt_backward(llmrt_gpt *m, float loss_scale)
{
    if (!m->backward_ready)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "gpt backward: needs a forward with targets first (and one "
                           "backward per forward)");
    m->backward_ready = 0;
    int rc = backward(m, loss_scale);
    return rc ? llmrt_error_prefix(rc, "gpt backward") : LLMRT_OK;
}

int llmrt_gpt_logits(llmrt_gpt *m, int b, int t, float *host_row)
{
    if (!m->logits_valid)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "gpt logits: no forward since the last backward (which overwrites "
                           "the logits with their gradient)");
    if (b < 0 || b >= m->B || t < 0 || t >= m->T)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "gpt logits: row %d, position %d outside the last forward's %d x %d",
                           b, t, m->B, m->T);
    size_t row = (size_t)b * (size_t)m->T + (size_t)t, V = (size_t)m->cfg.vocab;
    const void *src = at(m, m->acts.logits, (int64_t)(row * padded_vocab(&m->cfg)));
    CHECK(llmrt_rt_download(m->rt, host_row, src, V * m->es));
    if (m->dt == LLMRT_DTYPE_F32) return LLMRT_OK;
    /* Widen the 16-bit values in place (exactly, convert.h), last first: the
     * float written at i covers halves 2i and 2i + 1, both already read. */
    for (size_t i = V; i-- > 0;) {
        uint16_t h;
        memcpy(&h, (const char *)host_row + 2 * i, sizeof h);
        host_row[i] = m->dt == LLMRT_DTYPE_BF16 ? llmrt_bf16_to_f32(h) : llmrt_f16_to_f32(h);
    }
    return LLMRT_OK;
}
