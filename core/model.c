/* model.c — one table of operations per architecture (model.h). */
#include "model.h"

#include <stdlib.h>

#include "error.h"
#include "mlm.h"

const char *llmrt_arch_name(llmrt_arch arch)
{
    return arch == LLMRT_ARCH_BERT ? "bert" : arch == LLMRT_ARCH_T5 ? "t5" : "gpt";
}

llmrt_gpt_config llmrt_model_gpt_config(const llmrt_model_config *c)
{
    return (llmrt_gpt_config){.layers = c->layers, .heads = c->heads, .dim = c->dim,
                              .context = c->context, .vocab = c->vocab, .dtype = c->dtype,
                              .qat = c->qat};
}

llmrt_bert_config llmrt_model_bert_config(const llmrt_model_config *c)
{
    return (llmrt_bert_config){.layers = c->layers, .heads = c->heads, .dim = c->dim,
                               .context = c->context, .vocab = c->vocab, .dtype = c->dtype,
                               .qat = c->qat};
}

llmrt_t5_config llmrt_model_t5_config(const llmrt_model_config *c)
{
    return (llmrt_t5_config){.layers = c->layers, .decoder_layers = c->decoder_layers,
                             .heads = c->heads, .dim = c->dim, .d_ff = c->d_ff,
                             .context = c->context, .decoder_context = c->decoder_context,
                             .vocab = c->vocab, .ff = c->ff, .tie_embeddings = c->tie_embeddings,
                             .num_buckets = c->num_buckets, .max_distance = c->max_distance,
                             .dtype = c->dtype, .qat = c->qat};
}

/* The operations of one arch, on the shared config. */
typedef struct model_ops {
    int (*check)(const llmrt_model_config *c);
    size_t (*n_params)(const llmrt_model_config *c);
    int (*layout_build)(const llmrt_model_config *c, llmrt_model_layout *l);
    void (*layout_free)(llmrt_model_layout *l);
    int (*tensor_shape)(const llmrt_model_config *c, size_t u, size_t t, int64_t d[2]);
    void (*init_unit)(const llmrt_model_config *c, size_t u, uint64_t seed, float *h);
    double (*flops)(const llmrt_model_config *c, int T);
    size_t (*act_bytes)(const llmrt_model_config *c, int B, int T);
    int (*create)(void **m, const llmrt_model_config *c, llmrt_rt *rt, int B, int T);
    void (*destroy)(void *m);
    const llmrt_model_layout *(*layout)(const void *m);
    int (*forward)(void *m, const int32_t *in, const int32_t *tg, int B, int T, float *loss);
    int (*backward)(void *m, float loss_scale);
    int (*logits)(void *m, int b, int t, float *row);
} model_ops;

/* gpt */
static int g_check(const llmrt_model_config *c)
{
    llmrt_gpt_config g = llmrt_model_gpt_config(c);
    return llmrt_gpt_config_check(&g);
}
static size_t g_n_params(const llmrt_model_config *c)
{
    llmrt_gpt_config g = llmrt_model_gpt_config(c);
    return llmrt_gpt_n_params(&g);
}
static int g_layout_build(const llmrt_model_config *c, llmrt_model_layout *l)
{
    llmrt_gpt_config g = llmrt_model_gpt_config(c);
    return llmrt_gpt_layout_build(&g, l);
}
static int g_tensor_shape(const llmrt_model_config *c, size_t u, size_t t, int64_t d[2])
{
    llmrt_gpt_config g = llmrt_model_gpt_config(c);
    return llmrt_gpt_tensor_shape(&g, u, t, d);
}
static void g_init_unit(const llmrt_model_config *c, size_t u, uint64_t seed, float *h)
{
    llmrt_gpt_config g = llmrt_model_gpt_config(c);
    llmrt_gpt_init_unit(&g, u, seed, h);
}
static double g_flops(const llmrt_model_config *c, int T)
{
    llmrt_gpt_config g = llmrt_model_gpt_config(c);
    return llmrt_gpt_flops_per_token(&g, T);
}
static size_t g_act_bytes(const llmrt_model_config *c, int B, int T)
{
    llmrt_gpt_config g = llmrt_model_gpt_config(c);
    return llmrt_gpt_activation_bytes(&g, B, T);
}
static int g_create(void **m, const llmrt_model_config *c, llmrt_rt *rt, int B, int T)
{
    llmrt_gpt_config g = llmrt_model_gpt_config(c);
    return llmrt_gpt_create((llmrt_gpt **)m, &g, rt, B, T);
}
static void g_destroy(void *m) { llmrt_gpt_destroy(m); }
static const llmrt_model_layout *g_layout(const void *m) { return llmrt_gpt_layout(m); }
static int g_forward(void *m, const int32_t *in, const int32_t *tg, int B, int T, float *loss)
{
    return llmrt_gpt_forward(m, in, tg, B, T, loss);
}
static int g_backward(void *m, float s) { return llmrt_gpt_backward(m, s); }
static int g_logits(void *m, int b, int t, float *row) { return llmrt_gpt_logits(m, b, t, row); }

static const model_ops gpt_ops = {g_check, g_n_params, g_layout_build, llmrt_gpt_layout_free,
                                  g_tensor_shape, g_init_unit, g_flops, g_act_bytes, g_create,
                                  g_destroy, g_layout, g_forward, g_backward, g_logits};

/* bert */
static int b_check(const llmrt_model_config *c)
{
    if (c->vocab < LLMRT_MLM_VOCAB)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "model.vocab = %d: bert needs at least %d (the 256 bytes and "
                           "[PAD] [CLS] [SEP] [MASK])",
                           c->vocab, LLMRT_MLM_VOCAB);
    llmrt_bert_config b = llmrt_model_bert_config(c);
    return llmrt_bert_config_check(&b);
}
static size_t b_n_params(const llmrt_model_config *c)
{
    llmrt_bert_config b = llmrt_model_bert_config(c);
    return llmrt_bert_n_params(&b);
}
static int b_layout_build(const llmrt_model_config *c, llmrt_model_layout *l)
{
    llmrt_bert_config b = llmrt_model_bert_config(c);
    return llmrt_bert_layout_build(&b, l);
}
static int b_tensor_shape(const llmrt_model_config *c, size_t u, size_t t, int64_t d[2])
{
    llmrt_bert_config b = llmrt_model_bert_config(c);
    return llmrt_bert_tensor_shape(&b, u, t, d);
}
static void b_init_unit(const llmrt_model_config *c, size_t u, uint64_t seed, float *h)
{
    llmrt_bert_config b = llmrt_model_bert_config(c);
    llmrt_bert_init_unit(&b, u, seed, h);
}
static double b_flops(const llmrt_model_config *c, int T)
{
    llmrt_bert_config b = llmrt_model_bert_config(c);
    return llmrt_bert_flops_per_token(&b, T);
}
static size_t b_act_bytes(const llmrt_model_config *c, int B, int T)
{
    llmrt_bert_config b = llmrt_model_bert_config(c);
    return llmrt_bert_activation_bytes(&b, B, T);
}
static int b_create(void **m, const llmrt_model_config *c, llmrt_rt *rt, int B, int T)
{
    llmrt_bert_config b = llmrt_model_bert_config(c);
    return llmrt_bert_create((llmrt_bert **)m, &b, rt, B, T);
}
static void b_destroy(void *m) { llmrt_bert_destroy(m); }
static const llmrt_model_layout *b_layout(const void *m) { return llmrt_bert_layout(m); }
static int b_forward(void *m, const int32_t *in, const int32_t *tg, int B, int T, float *loss)
{
    return llmrt_bert_forward(m, in, tg, B, T, loss);
}
static int b_backward(void *m, float s) { return llmrt_bert_backward(m, s); }
static int b_logits(void *m, int b, int t, float *row) { return llmrt_bert_logits(m, b, t, row); }

static const model_ops bert_ops = {b_check, b_n_params, b_layout_build, llmrt_bert_layout_free,
                                   b_tensor_shape, b_init_unit, b_flops, b_act_bytes, b_create,
                                   b_destroy, b_layout, b_forward, b_backward, b_logits};

/* t5 */
static int t_check(const llmrt_model_config *c)
{
    llmrt_t5_config t = llmrt_model_t5_config(c);
    return llmrt_t5_config_check(&t);
}
static size_t t_n_params(const llmrt_model_config *c)
{
    llmrt_t5_config t = llmrt_model_t5_config(c);
    return llmrt_t5_n_params(&t);
}
static int t_layout_build(const llmrt_model_config *c, llmrt_model_layout *l)
{
    llmrt_t5_config t = llmrt_model_t5_config(c);
    return llmrt_t5_layout_build(&t, l);
}
static int t_tensor_shape(const llmrt_model_config *c, size_t u, size_t i, int64_t d[2])
{
    llmrt_t5_config t = llmrt_model_t5_config(c);
    return llmrt_t5_tensor_shape(&t, u, i, d);
}
static void t_init_unit(const llmrt_model_config *c, size_t u, uint64_t seed, float *h)
{
    llmrt_t5_config t = llmrt_model_t5_config(c);
    llmrt_t5_init_unit(&t, u, seed, h);
}
static double t_flops(const llmrt_model_config *c, int T)
{
    llmrt_t5_config t = llmrt_model_t5_config(c);
    return llmrt_t5_flops_per_token(&t, T);
}
static size_t t_act_bytes(const llmrt_model_config *c, int B, int T)
{
    llmrt_t5_config t = llmrt_model_t5_config(c);
    return llmrt_t5_activation_bytes(&t, B, T);
}
static int t_create(void **m, const llmrt_model_config *c, llmrt_rt *rt, int B, int T)
{
    llmrt_t5_config t = llmrt_model_t5_config(c);
    return llmrt_t5_create((llmrt_t5 **)m, &t, rt, B, T);
}
static void t_destroy(void *m) { llmrt_t5_destroy(m); }
static const llmrt_model_layout *t_layout(const void *m) { return llmrt_t5_layout(m); }
static int t_forward(void *m, const int32_t *in, const int32_t *tg, int B, int T, float *loss)
{
    return llmrt_t5_forward_targets(m, in, tg, B, T, loss);
}
static int t_backward(void *m, float s) { return llmrt_t5_backward(m, s); }
static int t_logits(void *m, int b, int t, float *row) { return llmrt_t5_logits(m, b, t, row); }

static const model_ops t5_ops = {t_check, t_n_params, t_layout_build, llmrt_t5_layout_free,
                                 t_tensor_shape, t_init_unit, t_flops, t_act_bytes, t_create,
                                 t_destroy, t_layout, t_forward, t_backward, t_logits};

static const model_ops *ops_of(const llmrt_model_config *c)
{
    return c->arch == LLMRT_ARCH_BERT ? &bert_ops : c->arch == LLMRT_ARCH_T5 ? &t5_ops : &gpt_ops;
}

int llmrt_model_config_check(const llmrt_model_config *c)
{
    if (c->arch != LLMRT_ARCH_GPT && c->arch != LLMRT_ARCH_BERT && c->arch != LLMRT_ARCH_T5)
        return llmrt_error(LLMRT_ERR_INVALID, "model.arch %d: expected gpt, bert or t5",
                           (int)c->arch);
    return ops_of(c)->check(c);
}
size_t llmrt_model_n_params(const llmrt_model_config *c) { return ops_of(c)->n_params(c); }
int llmrt_model_layout_build(const llmrt_model_config *c, llmrt_model_layout *l)
{
    return ops_of(c)->layout_build(c, l);
}
void llmrt_model_layout_free(const llmrt_model_config *c, llmrt_model_layout *l)
{
    ops_of(c)->layout_free(l);
}
int llmrt_model_tensor_shape(const llmrt_model_config *c, size_t u, size_t t, int64_t d[2])
{
    return ops_of(c)->tensor_shape(c, u, t, d);
}
void llmrt_model_init_unit(const llmrt_model_config *c, size_t u, uint64_t seed, float *h)
{
    ops_of(c)->init_unit(c, u, seed, h);
}
int llmrt_model_qat_init_scales(const llmrt_model_config *c, size_t u, float *h)
{
    if (c->arch == LLMRT_ARCH_BERT) {
        llmrt_bert_config b = llmrt_model_bert_config(c);
        return llmrt_bert_qat_init_scales(&b, u, h);
    }
    if (c->arch == LLMRT_ARCH_T5) {
        llmrt_t5_config t = llmrt_model_t5_config(c);
        return llmrt_t5_qat_init_scales(&t, u, h);
    }
    llmrt_gpt_config g = llmrt_model_gpt_config(c);
    return llmrt_gpt_qat_init_scales(&g, u, h);
}
double llmrt_model_flops_per_token(const llmrt_model_config *c, int T)
{
    return ops_of(c)->flops(c, T);
}
size_t llmrt_model_activation_bytes(const llmrt_model_config *c, int B, int T)
{
    return ops_of(c)->act_bytes(c, B, T);
}

struct llmrt_model {
    llmrt_model_config cfg;
    const model_ops *ops;
    void *impl;
};

int llmrt_model_create(llmrt_model **out, const llmrt_model_config *cfg, llmrt_rt *rt,
                       int B_max, int T_max)
{
    *out = NULL;
    int rc = llmrt_model_config_check(cfg);
    if (rc) return rc;
    llmrt_model *m = calloc(1, sizeof *m);
    if (!m) return llmrt_error(LLMRT_ERR_NOMEM, "model: out of host memory");
    m->cfg = *cfg;
    m->ops = ops_of(cfg);
    if ((rc = m->ops->create(&m->impl, cfg, rt, B_max, T_max))) {
        free(m);
        return rc;
    }
    *out = m;
    return LLMRT_OK;
}

void llmrt_model_destroy(llmrt_model *m)
{
    if (!m) return;
    m->ops->destroy(m->impl);
    free(m);
}

const llmrt_model_config *llmrt_model_get_config(const llmrt_model *m) { return &m->cfg; }
const llmrt_model_layout *llmrt_model_get_layout(const llmrt_model *m)
{
    return m->ops->layout(m->impl);
}
int llmrt_model_forward(llmrt_model *m, const int32_t *inputs, const int32_t *targets, int B,
                        int T, float *mean_loss)
{
    return m->ops->forward(m->impl, inputs, targets, B, T, mean_loss);
}
int llmrt_model_backward(llmrt_model *m, float s) { return m->ops->backward(m->impl, s); }
int llmrt_model_logits(llmrt_model *m, int b, int t, float *row)
{
    return m->ops->logits(m->impl, b, t, row);
}
llmrt_gpt *llmrt_model_gpt(llmrt_model *m)
{
    return m->cfg.arch == LLMRT_ARCH_GPT ? (llmrt_gpt *)m->impl : NULL;
}
llmrt_t5 *llmrt_model_t5(llmrt_model *m)
{
    return m->cfg.arch == LLMRT_ARCH_T5 ? (llmrt_t5 *)m->impl : NULL;
}
