/* train.c — the training loop (DESIGN.md section 4): micro-batches with
 * gradient accumulation, the strategy's hooks around every unit, global-norm
 * clipping, AdamW on the local shard, warmup + cosine learning rate, periodic
 * validation, atomic checkpoints and a metrics record per step. */
#include "train.h"

#include "build_config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "ckpt_shards.h"
#include "data.h"
#include "error.h"
#include "fileio.h"
#include "hf_config.h"
#include "host_api.h"
#include "metrics.h"
#include "plan.h"
#include "precision.h"
#include "loss_scale.h"
#include "lr_scale.h"
#include "qat.h"
#include "rng.h"
#include "safetensors.h"

/* ------------------------------------------------------------------ session */

/* The span-corruption settings of [model] (t5). */
static int read_span_config(llmrt_config *cfg, llmrt_span_config *span)
{
    *span = llmrt_span_default();
    int rc;
    if ((rc = llmrt_config_double(cfg, "model", "noise_density", span->noise_density, 0.0, 1.0,
                                  "t5: fraction of the tokens span corruption hides",
                                  &span->noise_density)) ||
        (rc = llmrt_config_double(cfg, "model", "mean_span_length", span->mean_span_length, 1.0,
                                  1e6, "t5: mean length of a hidden span",
                                  &span->mean_span_length)))
        return rc;
    return llmrt_span_config_check(span);
}

/* The t5 keys of [model], and the decoder length span corruption gives. */
static int read_t5_config(llmrt_config *cfg, llmrt_model_config *mc, llmrt_span_config *span)
{
    static const char *const ffs[] = {"relu", "gated-gelu", NULL};
    const char *ff;
    long dec_layers, d_ff, buckets, max_distance;
    int tie, rc;
    if ((rc = llmrt_config_int(cfg, "model", "decoder_layers", mc->layers, 1, 1024,
                               "t5: decoder blocks (default: layers)", &dec_layers)) ||
        (rc = llmrt_config_choice(cfg, "model", "ff", "relu", ffs,
                                  "t5: feed-forward: relu (T5) or gated-gelu (T5 v1.1)", &ff)) ||
        (rc = llmrt_config_int(cfg, "model", "d_ff", 4L * mc->dim, 1, 1 << 20,
                               "t5: feed-forward width (default: 4 dim)", &d_ff)) ||
        (rc = llmrt_config_bool(cfg, "model", "tie_embeddings", 1,
                                "t5: LM head tied to shared.weight (scaled by dim^-0.5)",
                                &tie)) ||
        (rc = llmrt_config_int(cfg, "model", "relative_attention_num_buckets", 32, 2, 4096,
                               "t5: relative position buckets", &buckets)) ||
        (rc = llmrt_config_int(cfg, "model", "relative_attention_max_distance", 128, 2,
                               1 << 20, "t5: distance of the last relative position bucket",
                               &max_distance)) ||
        (rc = read_span_config(cfg, span)))
        return rc;
    mc->decoder_layers = (int)dec_layers;
    mc->ff = strcmp(ff, "relu") ? LLMRT_T5_FF_GATED_GELU : LLMRT_T5_FF_RELU;
    mc->d_ff = (int)d_ff;
    mc->tie_embeddings = tie;
    mc->num_buckets = (int)buckets;
    mc->max_distance = (int)max_distance;
    /* Windows of n tokens corrupt into exactly `context` encoder tokens. */
    size_t n = llmrt_span_raw_length(span, (size_t)mc->context), in_len, tg_len, noise, spans;
    if (n < 2)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "model.context = %d: t5 needs at least 3 (a kept token, a sentinel "
                           "and EOS)",
                           mc->context);
    llmrt_span_lengths(span, n, &in_len, &tg_len);
    llmrt_span_counts(span, n, &noise, &spans);
    mc->decoder_context = (int)tg_len;
    if (mc->vocab < LLMRT_SPAN_SENTINEL0 || spans > (size_t)(mc->vocab - LLMRT_SPAN_SENTINEL0))
        return llmrt_error(LLMRT_ERR_INVALID,
                           "model.vocab = %d: t5 with context = %d corrupts %zu-token windows "
                           "into %zu spans, so it needs vocab >= %zu (256 bytes, PAD, EOS and a "
                           "sentinel per span)",
                           mc->vocab, mc->context, n, spans,
                           (size_t)LLMRT_SPAN_SENTINEL0 + spans);
    return LLMRT_OK;
}

int llmrt_read_model_config(llmrt_config *cfg, llmrt_model_config *mc)
{
    llmrt_span_config span;
    return llmrt_read_model_config_span(cfg, mc, &span);
}

int llmrt_read_model_config_span(llmrt_config *cfg, llmrt_model_config *mc,
                                 llmrt_span_config *span)
{
    static const char *const archs[] = {"gpt", "bert", "t5", NULL};
    const char *arch;
    long layers, heads, dim, context, vocab;
    int rc;
    if ((rc = llmrt_config_choice(cfg, "model", "arch", "gpt", archs,
                                  "architecture: gpt (decoder-only, causal LM), bert "
                                  "(encoder-only, masked LM) or t5 (encoder-decoder, span "
                                  "corruption)",
                                  &arch)) ||
        (rc = llmrt_config_int(cfg, "model", "layers", 4, 1, 1024,
                               "transformer blocks (t5: of the encoder)", &layers)) ||
        (rc = llmrt_config_int(cfg, "model", "heads", 4, 1, 1024, "attention heads", &heads)) ||
        (rc = llmrt_config_int(cfg, "model", "dim", 256, 1, 65536, "model width (channels)",
                               &dim)) ||
        (rc = llmrt_config_int(cfg, "model", "context", 128, 1, 1 << 20,
                               "maximum sequence length (t5: of the encoder input)", &context)) ||
        (rc = llmrt_config_int(cfg, "model", "vocab", 256, 1, 1 << 24,
                               "vocabulary size (256 for the byte-level tokenizer)", &vocab)))
        return rc;
    *mc = (llmrt_model_config){.arch = !strcmp(arch, "bert") ? LLMRT_ARCH_BERT
                                       : !strcmp(arch, "t5") ? LLMRT_ARCH_T5
                                                             : LLMRT_ARCH_GPT,
                               .layers = (int)layers, .heads = (int)heads, .dim = (int)dim,
                               .context = (int)context, .vocab = (int)vocab};
    *span = llmrt_span_default();
    if (mc->arch == LLMRT_ARCH_T5 && (rc = read_t5_config(cfg, mc, span))) return rc;
    return llmrt_model_config_check(mc);
}

int llmrt_session_t5_batch(const llmrt_session *s, llmrt_rng *rng, const int32_t *windows,
                           int B, int32_t *inputs, int32_t *targets)
{
    const size_t W = (size_t)s->window, Te = (size_t)s->context,
                 Td = (size_t)s->model_cfg.decoder_context;
    for (int b = 0; b < B; b++) {
        int rc = llmrt_span_corrupt(&s->span, rng, windows + (size_t)b * W, W,
                                    s->model_cfg.vocab, inputs + (size_t)b * Te,
                                    targets + (size_t)b * Td);
        if (rc) return rc;
    }
    return LLMRT_OK;
}

int llmrt_session_open(llmrt_session *s, llmrt_config *cfg, int batch, int context)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    int rc;
    if ((rc = llmrt_read_model_config_span(cfg, &s->model_cfg, &s->span))) return rc;
    s->mlm = llmrt_mlm_default();
    if (s->model_cfg.arch == LLMRT_ARCH_BERT &&
        ((rc = llmrt_config_double(cfg, "model", "mask_prob", s->mlm.mask_prob, 0.0, 1.0,
                                   "bert: fraction of positions chosen for the MLM loss",
                                   &s->mlm.mask_prob)) ||
         (rc = llmrt_config_double(cfg, "model", "mask_token_frac", s->mlm.mask_token_frac,
                                   0.0, 1.0, "bert: of the chosen, replaced by [MASK]",
                                   &s->mlm.mask_token_frac)) ||
         (rc = llmrt_config_double(cfg, "model", "random_token_frac",
                                   s->mlm.random_token_frac, 0.0, 1.0,
                                   "bert: of the chosen, replaced by a random byte",
                                   &s->mlm.random_token_frac)) ||
         (rc = llmrt_mlm_config_check(&s->mlm))))
        return rc;
    s->batch = batch;
    s->context = context > 0 ? context : s->model_cfg.context;
    s->window = s->context;
    if (s->model_cfg.arch == LLMRT_ARCH_T5) {
        if (s->context != s->model_cfg.context)
            return llmrt_error(LLMRT_ERR_INVALID,
                               "t5: sequences of %d tokens: a t5 session runs the whole "
                               "[model] context (%d), whose span corruption fixes the decoder "
                               "length",
                               s->context, s->model_cfg.context);
        s->window = (int)llmrt_span_raw_length(&s->span, (size_t)s->context);
    }
    if ((rc = llmrt_rt_create(&s->rt, cfg))) return rc;
    /* The precision policy decides the model's dtype and whether it trains
     * with fake-quantized weights. */
    const llmrt_precision *prec = llmrt_rt_precision(s->rt);
    s->model_cfg.dtype = prec->compute_type;
    s->model_cfg.qat = prec->qat;
    if ((rc = llmrt_model_create(&s->model, &s->model_cfg, s->rt, s->batch, s->context)) ||
        (rc = llmrt_rt_attach_model(s->rt, llmrt_model_get_layout(s->model)))) {
        llmrt_session_close(s);
        return rc;
    }
    return LLMRT_OK;
}

void llmrt_session_close(llmrt_session *s)
{
    if (s->model) llmrt_model_destroy(s->model);
    if (s->rt) llmrt_rt_destroy(s->rt);
    s->model = NULL;
    s->rt = NULL;
}

/* One unit's parameters or optimizer state, full size, in host memory. */
static float *unit_host_buffer(const llmrt_unit_desc *u)
{
    float *p = malloc((u->numel ? u->numel : 1) * sizeof *p);
    if (!p) llmrt_error(LLMRT_ERR_NOMEM, "out of memory for unit %s", u->name);
    return p;
}

/* Give the strategy this rank's slice of a full unit vector. A slice that
 * reaches past the unit (padding to the world size) is zero there. */
static int set_unit_state(llmrt_session *s, size_t unit, llmrt_state_kind kind,
                          const float *full)
{
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(s->rt, &sctx);
    size_t begin, end, numel = llmrt_model_get_layout(s->model)->units[unit].numel;
    int rc = st->shard_range(sctx, unit, &begin, &end);
    if (rc) return rc;
    if (end <= numel) return st->set_state(sctx, unit, kind, full + begin);
    float *tmp = calloc(end - begin, sizeof *tmp);
    if (!tmp) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    if (begin < numel) memcpy(tmp, full + begin, (numel - begin) * sizeof *tmp);
    rc = st->set_state(sctx, unit, kind, tmp);
    free(tmp);
    return rc;
}

int llmrt_session_init_params(llmrt_session *s, uint64_t seed)
{
    const llmrt_model_layout *layout = llmrt_model_get_layout(s->model);
    for (size_t u = 0; u < layout->n_units; u++) {
        float *buf = unit_host_buffer(&layout->units[u]);
        if (!buf) return LLMRT_ERR_NOMEM;
        llmrt_model_init_unit(&s->model_cfg, u, seed, buf);
        int rc = set_unit_state(s, u, LLMRT_STATE_PARAMS, buf);
        free(buf);
        if (rc) return rc;
    }
    return LLMRT_OK;
}

/* Tensors that Hugging Face GPT-2 and BERT files carry and that hold no
 * parameters of ours: causal-mask buffers, BERT's position_ids buffer, and
 * the heads tied to the word embeddings (lm_head.weight; BertForMaskedLM's
 * cls.predictions.decoder.weight and .bias, tied to word_embeddings and
 * cls.predictions.bias), and T5's two embed_tokens, which are shared.weight.
 * An untied T5 lm_head.weight is a tensor of the layout and loads as one. */
static int ignorable_tensor(const char *name)
{
    size_t n = strlen(name);
    static const char *const suffixes[] = {".attn.bias", ".attn.masked_bias"};
    for (size_t i = 0; i < 2; i++) {
        size_t k = strlen(suffixes[i]);
        if (n >= k && !strcmp(name + n - k, suffixes[i])) return 1;
    }
    return !strcmp(name, "lm_head.weight") || !strcmp(name, "bert.embeddings.position_ids") ||
           !strcmp(name, "encoder.embed_tokens.weight") ||
           !strcmp(name, "decoder.embed_tokens.weight") ||
           !strcmp(name, "cls.predictions.decoder.weight") ||
           !strcmp(name, "cls.predictions.decoder.bias");
}

static const char *strip_prefix(const char *name)
{
    return strncmp(name, "transformer.", 12) ? name : name + 12;
}

/* 1 when tensor `name` of the layout is a QAT step size (NAME_scale). */
static int is_qat_scale(const char *name)
{
    size_t n = strlen(name), k = strlen(LLMRT_QAT_SCALE_SUFFIX);
    return n > k && !strcmp(name + n - k, LLMRT_QAT_SCALE_SUFFIX);
}

/* Load the tensors named after the model's (with `prefix` in front) from an
 * open file into one kind of state. Checks names and shapes. int8 weights
 * (an export) are dequantized; a QAT run loading parameters without step
 * sizes (an fp32 checkpoint) starts them from the weights (LSQ's init). */
static int load_state_tensors(llmrt_session *s, llmrt_st_file *f, const char *prefix,
                              llmrt_state_kind kind)
{
    const llmrt_model_layout *layout = llmrt_model_get_layout(s->model);
    char name[512];
    for (size_t u = 0; u < layout->n_units; u++) {
        const llmrt_unit_desc *unit = &layout->units[u];
        float *buf = unit_host_buffer(unit);
        if (!buf) return LLMRT_ERR_NOMEM;
        int rc = LLMRT_OK, init_scales = 0;
        for (size_t t = 0; t < unit->n_tensors && !rc; t++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            snprintf(name, sizeof name, "%s%s", prefix, td->name);
            const llmrt_st_tensor *st = llmrt_st_find(f, name);
            if (!st && !*prefix) {
                snprintf(name, sizeof name, "%s", strip_prefix(td->name));
                st = llmrt_st_find(f, name);
            }
            if (!st && kind == LLMRT_STATE_PARAMS && s->model_cfg.qat && is_qat_scale(td->name)) {
                init_scales = 1;
                continue;
            }
            if (!st) {
                rc = llmrt_error(LLMRT_ERR_FORMAT, "%s: tensor %s%s is missing",
                                 llmrt_st_path(f), prefix, td->name);
                break;
            }
            int64_t dims[2];
            uint64_t shape[2];
            int nd = llmrt_model_tensor_shape(&s->model_cfg, u, t, dims);
            for (int d = 0; d < nd; d++) shape[d] = (uint64_t)dims[d];
            if ((rc = llmrt_st_expect(f, name, nd, shape)) ||
                (rc = llmrt_qat_read_f32(s->rt, f, name, buf + td->offset, td->numel)))
                break;
        }
        if (!rc && init_scales) rc = llmrt_model_qat_init_scales(&s->model_cfg, u, buf);
        if (!rc) rc = set_unit_state(s, u, kind, buf);
        free(buf);
        if (rc) return rc;
    }
    return LLMRT_OK;
}

/* Every tensor of a weights file must be one of ours or ignorable. */
static int check_no_stray_tensors(llmrt_session *s, llmrt_st_file *f)
{
    const llmrt_model_layout *layout = llmrt_model_get_layout(s->model);
    for (size_t i = 0; i < llmrt_st_count(f); i++) {
        const char *name = llmrt_st_tensor_at(f, i)->name;
        if (ignorable_tensor(name)) continue;
        /* An int8 export's step sizes dequantize its weights. */
        if (!s->model_cfg.qat && llmrt_qat_is_export_scale(f, name)) continue;
        int found = 0;
        for (size_t u = 0; u < layout->n_units && !found; u++)
            for (size_t t = 0; t < layout->units[u].n_tensors && !found; t++)
                found = !strcmp(strip_prefix(layout->units[u].tensors[t].name),
                                strip_prefix(name));
        if (!found)
            return llmrt_error(LLMRT_ERR_FORMAT,
                               "%s: tensor %s is not part of this model (layers=%d, dim=%d); "
                               "is [model] the one the file was trained with?",
                               llmrt_st_path(f), name, s->model_cfg.layers, s->model_cfg.dim);
    }
    return LLMRT_OK;
}

int llmrt_session_load_weights(llmrt_session *s, const char *path)
{
    llmrt_st_file *f;
    int rc = llmrt_st_open(&f, path);
    if (rc) return rc;
    if (!(rc = check_no_stray_tensors(s, f))) rc = load_state_tensors(s, f, "", LLMRT_STATE_PARAMS);
    llmrt_st_close(f);
    return rc;
}

/* Host copies of every unit (full vectors) of one kind of state, kept alive
 * until the file that borrows them is written. */
typedef struct host_units {
    size_t n;
    float **units;
} host_units;

static void host_units_free(host_units *h)
{
    for (size_t u = 0; u < h->n; u++) free(h->units[u]);
    free(h->units);
    h->units = NULL;
}

/* Widen n values of a compute dtype to fp32 in place: buf holds n elements
 * of `type` at its start and has room for n floats. */
static void widen_to_f32(float *buf, llmrt_dtype type, size_t n)
{
    const uint16_t *h = (const uint16_t *)(void *)buf;
    if (type == LLMRT_DTYPE_BF16)
        for (size_t i = n; i-- > 0;) buf[i] = llmrt_bf16_to_f32(h[i]);
    else if (type == LLMRT_DTYPE_F16)
        for (size_t i = n; i-- > 0;) buf[i] = llmrt_f16_to_f32(h[i]);
}

/* Full fp32 parameters of every unit on this rank: the compute copy,
 * gathered (collective for sharded strategies) and widened. With mixed
 * precision the fp32 masters are saved beside the optimizer state. */
static int gather_params(llmrt_session *s, host_units *h)
{
    const llmrt_model_layout *layout = llmrt_model_get_layout(s->model);
    const llmrt_precision *prec = llmrt_rt_precision(s->rt);
    h->n = layout->n_units;
    h->units = calloc(h->n, sizeof *h->units);
    if (!h->units) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    for (size_t u = 0; u < h->n; u++) {
        size_t numel = layout->units[u].numel;
        void *dev;
        int rc;
        if (!(h->units[u] = unit_host_buffer(&layout->units[u]))) return LLMRT_ERR_NOMEM;
        if ((rc = llmrt_rt_pre_forward(s->rt, u, &dev))) return rc;
        rc = llmrt_rt_download(s->rt, h->units[u], dev,
                               numel * llmrt_dtype_size(prec->compute_type));
        int rc2 = llmrt_rt_post_forward(s->rt, u);
        if (rc || rc2) return rc ? rc : rc2;
        widen_to_f32(h->units[u], prec->compute_type, numel);
    }
    return LLMRT_OK;
}

/* Optimizer state of whole units, for optimizer.safetensors: only when this
 * rank owns every unit whole (save_checkpoint writes shards otherwise). */
static int gather_state(llmrt_session *s, llmrt_state_kind kind, host_units *h)
{
    const llmrt_model_layout *layout = llmrt_model_get_layout(s->model);
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(s->rt, &sctx);
    h->n = layout->n_units;
    h->units = calloc(h->n, sizeof *h->units);
    if (!h->units) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    for (size_t u = 0; u < h->n; u++) {
        size_t begin, end;
        int rc = st->shard_range(sctx, u, &begin, &end);
        if (rc) return rc;
        if (begin != 0 || end != layout->units[u].numel)
            return llmrt_error(LLMRT_ERR_INTERNAL,
                               "optimizer.safetensors of strategy %s, which shards unit %s "
                               "(a sharded checkpoint is needed)",
                               llmrt_rt_component_name(s->rt, LLMRT_KIND_STRATEGY),
                               layout->units[u].name);
        if (!(h->units[u] = unit_host_buffer(&layout->units[u]))) return LLMRT_ERR_NOMEM;
        if ((rc = st->get_state(sctx, u, kind, h->units[u]))) return rc;
    }
    return LLMRT_OK;
}

/* Add every tensor of `h` to the writer under prefix + its name. */
static int add_tensors(llmrt_session *s, llmrt_st_writer *w, const char *prefix,
                       const host_units *h)
{
    const llmrt_model_layout *layout = llmrt_model_get_layout(s->model);
    char name[512];
    for (size_t u = 0; u < layout->n_units; u++)
        for (size_t t = 0; t < layout->units[u].n_tensors; t++) {
            const llmrt_tensor_desc *td = &layout->units[u].tensors[t];
            int64_t dims[2];
            uint64_t shape[2];
            int nd = llmrt_model_tensor_shape(&s->model_cfg, u, t, dims);
            for (int d = 0; d < nd; d++) shape[d] = (uint64_t)dims[d];
            snprintf(name, sizeof name, "%s%s", prefix, td->name);
            int rc = llmrt_st_writer_add(w, name, LLMRT_ST_F32, nd, shape,
                                         h->units[u] + td->offset);
            if (rc) return rc;
        }
    return LLMRT_OK;
}

static int add_model_metadata(llmrt_session *s, llmrt_st_writer *w)
{
    char v[32];
    int rc = llmrt_st_writer_metadata(w, "format", "pt"); /* what transformers expects */
    const struct { const char *key; int value; } meta[] = {
        {"llmrt.layers", s->model_cfg.layers}, {"llmrt.heads", s->model_cfg.heads},
        {"llmrt.dim", s->model_cfg.dim},       {"llmrt.context", s->model_cfg.context},
        {"llmrt.vocab", s->model_cfg.vocab},
    };
    for (size_t i = 0; i < sizeof meta / sizeof meta[0] && !rc; i++) {
        snprintf(v, sizeof v, "%d", meta[i].value);
        rc = llmrt_st_writer_metadata(w, meta[i].key, v);
    }
    return rc ? rc : llmrt_st_writer_metadata(w, "llmrt.arch", llmrt_arch_name(s->model_cfg.arch));
}

/* Write gathered weights (model.safetensors). */
static int write_weights(llmrt_session *s, const host_units *h, const char *path)
{
    llmrt_st_writer *w = NULL;
    int rc;
    if (!(rc = llmrt_st_writer_new(&w)) && !(rc = add_model_metadata(s, w)) &&
        !(rc = add_tensors(s, w, "", h)))
        rc = llmrt_st_writer_write(w, path);
    if (w) llmrt_st_writer_free(w);
    return rc;
}

int llmrt_session_save_weights(llmrt_session *s, const char *path)
{
    host_units h = {0};
    int rc = gather_params(s, &h);
    if (!rc) rc = write_weights(s, &h, path);
    host_units_free(&h);
    return rc;
}

static int save_optimizer(llmrt_session *s, const char *path)
{
    host_units m = {0}, v = {0}, master = {0};
    llmrt_st_writer *w = NULL;
    int masters = llmrt_rt_precision(s->rt)->master_weights;
    int rc;
    if (!(rc = gather_state(s, LLMRT_STATE_ADAM_M, &m)) &&
        !(rc = gather_state(s, LLMRT_STATE_ADAM_V, &v)) &&
        !(masters && (rc = gather_state(s, LLMRT_STATE_PARAMS, &master))) &&
        !(rc = llmrt_st_writer_new(&w)) &&
        !(rc = add_tensors(s, w, LLMRT_CKPT_EXP_AVG_PREFIX, &m)) &&
        !(rc = add_tensors(s, w, LLMRT_CKPT_EXP_AVG_SQ_PREFIX, &v)) &&
        !(masters && (rc = add_tensors(s, w, LLMRT_CKPT_MASTER_PREFIX, &master))))
        rc = llmrt_st_writer_write(w, path);
    if (w) llmrt_st_writer_free(w);
    host_units_free(&m);
    host_units_free(&v);
    host_units_free(&master);
    return rc;
}

static int load_optimizer(llmrt_session *s, const char *path)
{
    llmrt_st_file *f;
    int rc = llmrt_st_open(&f, path);
    if (rc) return rc;
    if (!(rc = load_state_tensors(s, f, LLMRT_CKPT_EXP_AVG_PREFIX, LLMRT_STATE_ADAM_M)))
        rc = load_state_tensors(s, f, LLMRT_CKPT_EXP_AVG_SQ_PREFIX, LLMRT_STATE_ADAM_V);
    /* fp32 masters when both the run and the file have them; otherwise the
     * masters start from model.safetensors (a format change on resume). */
    char probe[512];
    const llmrt_model_layout *layout = llmrt_model_get_layout(s->model);
    snprintf(probe, sizeof probe, "%s%s", LLMRT_CKPT_MASTER_PREFIX,
             layout->n_units ? layout->units[0].tensors[0].name : "");
    if (!rc && llmrt_rt_precision(s->rt)->master_weights && llmrt_st_find(f, probe))
        rc = load_state_tensors(s, f, LLMRT_CKPT_MASTER_PREFIX, LLMRT_STATE_PARAMS);
    llmrt_st_close(f);
    return rc;
}

/* Correct predictions at the chosen positions (targets >= 0) of the last
 * forward, whose logits are still there. */
static int count_correct(llmrt_session *s, const int32_t *tg, size_t bt, float *row,
                         double *correct)
{
    for (size_t i = 0; i < bt; i++) {
        if (tg[i] < 0) continue;
        int rc = llmrt_model_logits(s->model, (int)(i / (size_t)s->context),
                                    (int)(i % (size_t)s->context), row);
        if (rc) return rc;
        int best = 0;
        for (int v = 1; v < s->model_cfg.vocab; v++)
            if (row[v] > row[best]) best = v;
        *correct += best == tg[i];
    }
    return LLMRT_OK;
}

int llmrt_session_eval(llmrt_session *s, const char *data_path, uint64_t n_batches,
                       double *loss, uint64_t *tokens, double *accuracy)
{
    const int mlm = s->model_cfg.arch == LLMRT_ARCH_BERT;
    const int t5 = s->model_cfg.arch == LLMRT_ARCH_T5;
    float *row = NULL;
    llmrt_rng mask_rng;
    llmrt_rng_seed(&mask_rng, 0x6d6c6d5f6576616cull + (uint64_t)llmrt_rt_rank(s->rt));
    if (accuracy) *accuracy = NAN;
    llmrt_dataset *ds = NULL;
    llmrt_batcher *b = NULL;
    int32_t *in = NULL, *tg = NULL, *t5_in = NULL, *t5_tg = NULL;
    size_t bt = (size_t)s->batch * (size_t)s->window;
    size_t t5_bt = (size_t)s->batch * (size_t)s->model_cfg.decoder_context;
    int rc;
    if ((rc = llmrt_dataset_open(&ds, data_path, (uint32_t)s->model_cfg.vocab))) return rc;
    llmrt_batcher_opts bo = {.batch = (size_t)s->batch, .context = (size_t)s->window,
                             .rank = llmrt_rt_rank(s->rt), .world = llmrt_rt_world_size(s->rt)};
    if ((rc = llmrt_batcher_new(&b, ds, &bo))) goto out;
    in = malloc(bt * sizeof *in);
    tg = malloc(bt * sizeof *tg);
    if (t5) {
        t5_in = malloc((size_t)s->batch * (size_t)s->context * sizeof *t5_in);
        t5_tg = malloc(t5_bt * sizeof *t5_tg);
    }
    if (!in || !tg || (t5 && (!t5_in || !t5_tg))) {
        rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        goto out;
    }
    uint64_t per_epoch = llmrt_batcher_per_epoch(b);
    if (n_batches == 0 || n_batches > per_epoch) n_batches = per_epoch;
    if (mlm && !(row = malloc((size_t)s->model_cfg.vocab * sizeof *row))) {
        rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* sum: loss over batches; for mlm also chosen positions and correct ones. */
    double sum[3] = {0.0, 0.0, 0.0};
    for (uint64_t i = 0; i < n_batches; i++) {
        float l;
        llmrt_batcher_next(b, in, tg);
        if (mlm) sum[1] += (double)llmrt_mlm_mask(&s->mlm, &mask_rng, in, in, tg, bt);
        /* t5: the windows are corrupted (from the fixed seed) into the
         * encoder inputs and the targets. */
        if (t5 && (rc = llmrt_session_t5_batch(s, &mask_rng, in, s->batch, t5_in, t5_tg)))
            goto out;
        if ((rc = llmrt_rt_begin_microbatch(s->rt, 0, 1)) ||
            (rc = llmrt_model_forward(s->model, t5 ? t5_in : in, t5 ? t5_tg : tg, s->batch,
                                      s->context, &l)) ||
            (mlm && (rc = count_correct(s, tg, bt, row, &sum[2]))))
            goto out;
        sum[0] += l;
    }
    sum[0] /= (double)n_batches;
    if ((rc = llmrt_rt_allreduce_host(s->rt, sum, 1, LLMRT_REDUCE_AVG)) ||
        (mlm && (rc = llmrt_rt_allreduce_host(s->rt, sum + 1, 2, LLMRT_REDUCE_SUM))))
        goto out;
    *loss = sum[0];
    if (tokens)
        *tokens = mlm  ? (uint64_t)sum[1]
                  : t5 ? n_batches * t5_bt * (uint64_t)llmrt_rt_world_size(s->rt)
                       : n_batches * bt * (uint64_t)llmrt_rt_world_size(s->rt);
    if (accuracy && mlm) *accuracy = sum[1] > 0.0 ? sum[2] / sum[1] : 0.0;
out:
    free(row);
    free(in);
    free(tg);
    free(t5_in);
    free(t5_tg);
    if (b) llmrt_batcher_free(b);
    if (ds) llmrt_dataset_close(ds);
    if (rc) llmrt_error_prefix(rc, "[data] %s", data_path);
    return rc;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int llmrt_find_checkpoint(llmrt_config *cfg, const char *path, char **dir)
{
    const char *out;
    int rc;
    uint64_t step;
    *dir = NULL;
    if (path) {
        if (!is_dir(path))
            return llmrt_error(LLMRT_ERR_IO, "checkpoint %s: not a directory (give a step-N "
                               "directory or an output directory)", path);
        char *state = malloc(strlen(path) + sizeof "/" LLMRT_CKPT_STATE_FILE);
        if (!state) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        sprintf(state, "%s/%s", path, LLMRT_CKPT_STATE_FILE);
        struct stat st;
        int has_state = stat(state, &st) == 0;
        free(state);
        if (has_state) {
            if (!(*dir = strdup(path))) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
            return LLMRT_OK;
        }
        if ((rc = llmrt_ckpt_find_latest(path, dir, &step))) return rc;
        if (!*dir)
            return llmrt_error(LLMRT_ERR_IO, "checkpoint %s: no complete checkpoint in it", path);
        return LLMRT_OK;
    }
    if ((rc = llmrt_config_string(cfg, "train", "out", "runs/default",
                                  "output directory: checkpoints and metrics", &out)))
        return rc;
    if ((rc = llmrt_ckpt_find_latest(out, dir, &step))) return rc;
    if (!*dir)
        return llmrt_error(LLMRT_ERR_IO, "[train] out = %s: no checkpoint there yet (train "
                           "first, or pass --checkpoint DIR)", out);
    return LLMRT_OK;
}

/* ------------------------------------------------------------------ training */

typedef struct train_opts {
    const char *train_path, *val_path, *out, *init_from, *resume, *schedule, *ckpt_format;
    int shuffle;
    long steps, batch, accum, warmup, eval_every, eval_batches, checkpoint_every, keep;
    long log_every;
    double lr, min_lr, weight_decay, beta1, beta2, eps, grad_clip;
    llmrt_lr_scale_kind lr_scale;
    long seed;
} train_opts;

static int read_train_config(llmrt_config *cfg, train_opts *o)
{
    static const char *const schedules[] = {"cosine", "constant", NULL};
    static const char *const ckpt_formats[] = {"auto", "sharded", NULL};
    static const char *const lr_scales[] = {"none", "rms", NULL};
    const char *lr_scale = NULL;
    int rc;
    if ((rc = llmrt_config_string(cfg, "data", "train", "",
                                  "training data: a .txt file (bytes) or an llm.c .bin file",
                                  &o->train_path)) ||
        (rc = llmrt_config_string(cfg, "data", "val", "",
                                  "validation data (same formats); empty: no validation",
                                  &o->val_path)) ||
        (rc = llmrt_config_bool(cfg, "data", "shuffle", 0,
                                "shuffle the order of batches every epoch (seeded)",
                                &o->shuffle)) ||
        (rc = llmrt_config_string(cfg, "train", "out", "runs/default",
                                  "output directory: checkpoints and metrics", &o->out)) ||
        (rc = llmrt_config_int(cfg, "train", "steps", 1000, 1, 1000000000L,
                               "optimizer steps", &o->steps)) ||
        (rc = llmrt_config_int(cfg, "train", "batch", 8, 1, 1 << 20,
                               "sequences per micro-batch per rank", &o->batch)) ||
        (rc = llmrt_config_int(cfg, "train", "accum", 1, 1, 1 << 20,
                               "micro-batches accumulated per step", &o->accum)) ||
        (rc = llmrt_config_double(cfg, "train", "lr", 3e-4, 0.0, 10.0, "peak learning rate",
                                  &o->lr)) ||
        (rc = llmrt_config_int(cfg, "train", "warmup", 0, 0, 1000000000L,
                               "linear warmup steps", &o->warmup)) ||
        (rc = llmrt_config_choice(cfg, "train", "schedule", "cosine", schedules,
                                  "learning rate after warmup", &o->schedule)) ||
        (rc = llmrt_config_double(cfg, "train", "min_lr", 0.0, 0.0, 10.0,
                                  "learning rate at the end of the cosine", &o->min_lr)) ||
        (rc = llmrt_config_double(cfg, "train", "weight_decay", 0.1, 0.0, 10.0,
                                  "AdamW decoupled weight decay (matrices only)",
                                  &o->weight_decay)) ||
        (rc = llmrt_config_double(cfg, "train", "beta1", 0.9, 0.0, 0.999999, "AdamW beta1",
                                  &o->beta1)) ||
        (rc = llmrt_config_double(cfg, "train", "beta2", 0.95, 0.0, 0.999999999, "AdamW beta2",
                                  &o->beta2)) ||
        (rc = llmrt_config_double(cfg, "train", "eps", 1e-8, 1e-30, 1.0, "AdamW epsilon",
                                  &o->eps)) ||
        (rc = llmrt_config_double(cfg, "train", "grad_clip", 1.0, 0.0, 1e9,
                                  "clip the global gradient norm to this (0: off)",
                                  &o->grad_clip)) ||
        (rc = llmrt_config_choice(cfg, "train", "lr_scale", "none", lr_scales,
                                  "per-tensor step size: none (AdamW) or rms (each tensor's "
                                  "lr times max(1e-3, its RMS), Adafactor's relative step)",
                                  &lr_scale)) ||
        (rc = llmrt_config_int(cfg, "train", "seed", 1337, 0, 0x7fffffffffffffffL,
                               "seed of initialisation and data order", &o->seed)) ||
        (rc = llmrt_config_int(cfg, "train", "eval_every", 100, 0, 1000000000L,
                               "steps between validation losses (0: only at the end)",
                               &o->eval_every)) ||
        (rc = llmrt_config_int(cfg, "train", "eval_batches", 20, 0, 1000000000L,
                               "validation batches per evaluation (0: the whole file)",
                               &o->eval_batches)) ||
        (rc = llmrt_config_int(cfg, "train", "checkpoint_every", 0, 0, 1000000000L,
                               "steps between checkpoints (0: only at the end)",
                               &o->checkpoint_every)) ||
        (rc = llmrt_config_int(cfg, "train", "keep", 0, 0, 1000000,
                               "checkpoints to keep (0: all)", &o->keep)) ||
        (rc = llmrt_config_choice(cfg, "train", "checkpoint_format", "auto", ckpt_formats,
                                  "auto: one optimizer.safetensors when every rank holds "
                                  "whole units (ddp), a shard per rank and index.json "
                                  "otherwise; sharded: always shards", &o->ckpt_format)) ||
        (rc = llmrt_config_int(cfg, "train", "log_every", 10, 1, 1000000000L,
                               "steps between progress lines when stderr is not a terminal",
                               &o->log_every)) ||
        (rc = llmrt_config_string(cfg, "train", "init_from", "",
                                  "start from these weights (safetensors, Hugging Face GPT-2 "
                                  "names) with a fresh optimizer", &o->init_from)) ||
        (rc = llmrt_config_string(cfg, "train", "resume", "",
                                  "continue a run: auto (the latest checkpoint in out, if "
                                  "any) or a checkpoint directory", &o->resume)))
        return rc;
    o->lr_scale = strcmp(lr_scale, "rms") ? LLMRT_LR_SCALE_NONE : LLMRT_LR_SCALE_RMS;
    if (!o->train_path[0])
        return llmrt_error(LLMRT_ERR_INVALID, "[data] train is not set (a .txt or llm.c .bin "
                           "file to train on)");
    if (o->warmup >= o->steps && o->warmup > 0)
        return llmrt_error(LLMRT_ERR_INVALID, "[train] warmup = %ld must be smaller than "
                           "[train] steps = %ld", o->warmup, o->steps);
    if (o->min_lr > o->lr)
        return llmrt_error(LLMRT_ERR_INVALID, "[train] min_lr = %g is larger than [train] lr "
                           "= %g", o->min_lr, o->lr);
    if (o->init_from[0] && o->resume[0] && strcmp(o->resume, "auto") != 0)
        return llmrt_error(LLMRT_ERR_INVALID, "[train] init_from and resume are both set "
                           "(resume continues a run; init_from starts a new one)");
    return LLMRT_OK;
}

/* Linear warmup to lr, then cosine decay to min_lr at the last step (or
 * constant). */
static double learning_rate(const train_opts *o, long step)
{
    if (step < o->warmup) return o->lr * (double)(step + 1) / (double)o->warmup;
    if (!strcmp(o->schedule, "constant")) return o->lr;
    double span = (double)(o->steps - o->warmup);
    double ratio = span > 0 ? (double)(step - o->warmup) / span : 1.0;
    return o->min_lr + 0.5 * (1.0 + cos(M_PI * ratio)) * (o->lr - o->min_lr);
}

typedef struct trainer {
    llmrt_session s;
    train_opts o;
    llmrt_dataset *train_ds;
    llmrt_batcher *batcher;
    int32_t *inputs, *targets;
    int32_t *t5_inputs, *t5_targets; /* t5: the corrupted batch */
    llmrt_rng rng;
    llmrt_ckpt_state state;
    llmrt_metrics *metrics;   /* rank 0 only */
    llmrt_progress *progress; /* rank 0 only */
    double best_val, last_val;
    const llmrt_precision *prec;
    llmrt_loss_scale loss_scale; /* dynamic loss scaling (fp16) */
    int64_t adam_t;              /* optimizer steps taken (skipped ones are not) */
    int skipped;                 /* the last step was skipped */
    /* lr_scale = rms: per tensor (strategy.h rule 10); NULL otherwise. */
    double *sq_sums;
    float *lr_scales;
    size_t n_lr_scales;
} trainer;

/* A barrier that carries errors: every rank learns whether any rank failed. */
static int agree(trainer *t, int rc, const char *what)
{
    double v[1] = {rc ? 1.0 : 0.0};
    int rc2 = llmrt_rt_allreduce_host(t->s.rt, v, 1, LLMRT_REDUCE_SUM);
    if (rc) return rc;
    if (rc2) return rc2;
    if (v[0] > 0)
        return llmrt_error(LLMRT_ERR_COMM, "%s failed on %.0f other rank(s)", what, v[0]);
    return LLMRT_OK;
}

/* config.ini, config.json and state.json, which every checkpoint has (rank 0). */
static int write_common_files(trainer *t, llmrt_ckpt_txn *txn, uint64_t step)
{
    llmrt_ckpt_state st;
    llmrt_ckpt_state_init(&st);
    st.step = step;
    st.adam_t = (uint64_t)t->adam_t;
    st.loss_scale = t->loss_scale.scale;
    memcpy(st.rng, t->rng.s, sizeof st.rng);
    st.data_position = llmrt_batcher_position(t->batcher);
    st.world_size = (uint32_t)llmrt_rt_world_size(t->s.rt);
    st.tokens_seen = t->state.tokens_seen;
    st.elapsed_s = t->state.elapsed_s;
    st.best_val_loss = t->best_val;
    st.last_val_loss = t->last_val;
    /* The effective configuration travels with the checkpoint, so eval and
     * generate can rebuild the model from the directory alone. */
    char *path = llmrt_ckpt_txn_path(txn, "config.ini");
    int rc = path ? llmrt_config_write(t->s.cfg, path) : llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    free(path);
    if (rc) return rc;
    /* Hugging Face's config.json, so transformers loads model.safetensors
     * from the directory as it is (hf_config.h). */
    path = llmrt_ckpt_txn_path(txn, LLMRT_HF_CONFIG_FILE);
    rc = path ? llmrt_hf_config_write(&t->s.model_cfg, path)
              : llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    free(path);
    if (rc) return rc;
    path = llmrt_ckpt_txn_path(txn, LLMRT_CKPT_STATE_FILE);
    rc = path ? llmrt_ckpt_write_state(path, &st) : llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    free(path);
    return rc;
}

/* Every rank holds whole units (ddp): rank 0 writes model.safetensors and
 * optimizer.safetensors; the replicas are identical. */
static int save_unsharded(trainer *t, uint64_t step)
{
    if (llmrt_rt_rank(t->s.rt) != 0) return LLMRT_OK;
    llmrt_ckpt_txn *txn;
    char *path = NULL;
    int rc = llmrt_ckpt_begin(&txn, t->o.out, step);
    if (rc) return rc;
    if (!(path = llmrt_ckpt_txn_path(txn, LLMRT_CKPT_MODEL_FILE)) ||
        (rc = llmrt_session_save_weights(&t->s, path)))
        goto fail;
    free(path);
    if (!(path = llmrt_ckpt_txn_path(txn, LLMRT_CKPT_OPTIMIZER_FILE)) ||
        (rc = save_optimizer(&t->s, path)))
        goto fail;
    free(path);
    path = NULL;
    if ((rc = write_common_files(t, txn, step))) goto fail;
    rc = llmrt_ckpt_commit(txn, NULL);
    if (!rc && t->o.keep > 0) rc = llmrt_ckpt_prune(t->o.out, (unsigned)t->o.keep);
    return rc;
fail:
    if (!rc) rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    free(path);
    llmrt_ckpt_abort(txn);
    return rc;
}

/* This rank's slices of the fp32 parameters, m and v as one shard file
 * (ckpt_shards.h). */
static int write_shard(trainer *t, const char *path)
{
    const llmrt_model_layout *layout = llmrt_model_get_layout(t->s.model);
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(t->s.rt, &sctx);
    size_t nb = layout->n_units * LLMRT_CKPT_N_KINDS;
    float **bufs = calloc(nb, sizeof *bufs);
    llmrt_st_writer *w = NULL;
    char key[320], value[64];
    int rc = bufs ? llmrt_st_writer_new(&w) : llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    snprintf(value, sizeof value, "%d", llmrt_rt_rank(t->s.rt));
    if (!rc) rc = llmrt_st_writer_metadata(w, "llmrt.rank", value);
    snprintf(value, sizeof value, "%d", llmrt_rt_world_size(t->s.rt));
    if (!rc) rc = llmrt_st_writer_metadata(w, "llmrt.world_size", value);
    if (!rc)
        rc = llmrt_st_writer_metadata(w, "llmrt.strategy",
                                      llmrt_rt_component_name(t->s.rt, LLMRT_KIND_STRATEGY));
    for (size_t u = 0; u < layout->n_units && !rc; u++) {
        size_t begin, end;
        if ((rc = st->shard_range(sctx, u, &begin, &end))) break;
        snprintf(key, sizeof key, "llmrt.range.%s", layout->units[u].name);
        snprintf(value, sizeof value, "%zu %zu", begin, end);
        if ((rc = llmrt_st_writer_metadata(w, key, value))) break;
        for (int k = 0; k < LLMRT_CKPT_N_KINDS && !rc; k++) {
            float *b = bufs[u * LLMRT_CKPT_N_KINDS + (size_t)k] =
                malloc((end > begin ? end - begin : 1) * sizeof(float));
            if (!b) {
                rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
                break;
            }
            uint64_t shape[1] = {end - begin};
            snprintf(key, sizeof key, "%s.%s", llmrt_ckpt_kind_name((llmrt_state_kind)k),
                     layout->units[u].name);
            if (end > begin) rc = st->get_state(sctx, u, (llmrt_state_kind)k, b);
            if (!rc) rc = llmrt_st_writer_add(w, key, LLMRT_ST_F32, 1, shape, b);
        }
    }
    if (!rc) rc = llmrt_st_writer_write(w, path);
    if (w) llmrt_st_writer_free(w);
    if (bufs)
        for (size_t i = 0; i < nb; i++) free(bufs[i]);
    free(bufs);
    return rc;
}

/* index.json from the layout and the ranges the shards in `dir` declare. */
static int write_index(trainer *t, const char *dir, uint64_t step, const char *path)
{
    const llmrt_model_layout *layout = llmrt_model_get_layout(t->s.model);
    llmrt_ckpt_index idx;
    int rc = llmrt_ckpt_index_alloc(&idx, llmrt_rt_world_size(t->s.rt), layout->n_units);
    if (rc) return rc;
    idx.step = step;
    if (!(idx.strategy = strdup(llmrt_rt_component_name(t->s.rt, LLMRT_KIND_STRATEGY))))
        rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    for (size_t u = 0; u < layout->n_units && !rc; u++) {
        const llmrt_unit_desc *ud = &layout->units[u];
        llmrt_ckpt_unit_info *ui = &idx.units[u];
        ui->numel = ud->numel;
        ui->n_tensors = ud->n_tensors;
        if (!(ui->name = strdup(ud->name)) ||
            !(ui->tensors = calloc(ud->n_tensors ? ud->n_tensors : 1, sizeof *ui->tensors))) {
            rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
            break;
        }
        for (size_t k = 0; k < ud->n_tensors; k++) {
            llmrt_ckpt_tensor_info *ti = &ui->tensors[k];
            int64_t dims[2];
            ti->ndim = llmrt_model_tensor_shape(&t->s.model_cfg, u, k, dims);
            for (int d = 0; d < ti->ndim; d++) ti->shape[d] = (uint64_t)dims[d];
            ti->offset = ud->tensors[k].offset;
            ti->numel = ud->tensors[k].numel;
            if (!(ti->name = strdup(ud->tensors[k].name))) {
                rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
                break;
            }
        }
    }
    if (!rc) rc = llmrt_ckpt_index_collect_ranges(&idx, dir);
    if (!rc) rc = llmrt_ckpt_index_write(path, &idx);
    llmrt_ckpt_index_free(&idx);
    return rc;
}

/* Every rank writes its shard into one temporary directory (named with a tag
 * all ranks agreed on); rank 0 also writes the full weights, which every rank
 * helps gather (pre_forward is collective for sharded strategies), and after
 * a barrier the index and state, then commits. */
static int save_sharded(trainer *t, uint64_t step, unsigned long tag)
{
    int rank = llmrt_rt_rank(t->s.rt), world = llmrt_rt_world_size(t->s.rt);
    llmrt_ckpt_txn *txn = NULL;
    host_units h = {0};
    char file[96], *path = NULL;
    int rc = llmrt_ckpt_begin_tagged(&txn, t->o.out, step, tag);
    if ((rc = agree(t, rc, "creating the checkpoint directory"))) goto out;
    rc = gather_params(&t->s, &h);
    if (!rc && rank == 0) {
        if (!(path = llmrt_ckpt_txn_path(txn, LLMRT_CKPT_MODEL_FILE)))
            rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        else rc = write_weights(&t->s, &h, path);
        free(path);
    }
    host_units_free(&h);
    llmrt_ckpt_shard_file(rank, world, file, sizeof file);
    if (!rc && !(path = llmrt_ckpt_txn_path(txn, file)))
        rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    if (!rc) rc = write_shard(t, path);
    free(path);
    path = NULL;
    if ((rc = agree(t, rc, "writing a checkpoint shard"))) goto out;
    if (rank == 0) {
        if (!(path = llmrt_ckpt_txn_path(txn, LLMRT_CKPT_INDEX_FILE)))
            rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        if (!rc) rc = write_index(t, llmrt_ckpt_txn_dir(txn), step, path);
        free(path);
        if (!rc) rc = write_common_files(t, txn, step);
        if (!rc) {
            rc = llmrt_ckpt_commit(txn, NULL);
            txn = NULL;
            if (!rc && t->o.keep > 0) rc = llmrt_ckpt_prune(t->o.out, (unsigned)t->o.keep);
        }
    }
    rc = agree(t, rc, "committing the checkpoint");
out:
    if (txn) {
        if (rc && rank == 0) llmrt_ckpt_abort(txn);
        else llmrt_ckpt_release(txn);
    }
    return rc;
}

static int save_checkpoint(trainer *t, uint64_t step)
{
    /* Agree on the layout (shards when any rank holds part of a unit) and on
     * a tag for the shared temporary directory (rank 0's process id). */
    const llmrt_model_layout *layout = llmrt_model_get_layout(t->s.model);
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(t->s.rt, &sctx);
    double v[2] = {llmrt_rt_rank(t->s.rt) == 0 ? (double)getpid() : 0.0, 0.0};
    for (size_t u = 0; u < layout->n_units; u++) {
        size_t begin, end;
        int rc = st->shard_range(sctx, u, &begin, &end);
        if (rc) return rc;
        if (begin != 0 || end != layout->units[u].numel) v[1] = 1.0;
    }
    int rc = llmrt_rt_allreduce_host(t->s.rt, v, 2, LLMRT_REDUCE_SUM);
    if (rc) return rc;
    if (v[1] > 0 || !strcmp(t->o.ckpt_format, "sharded"))
        return save_sharded(t, step, (unsigned long)v[0]);
    return save_unsharded(t, step);
}

/* A sharded checkpoint: each rank reads its own slice when the world size
 * and ranges are those of the run that wrote it; otherwise every rank
 * re-assembles full unit vectors from all shards and takes its new slice. */
static int load_sharded(trainer *t, const char *dir)
{
    const llmrt_model_layout *layout = llmrt_model_get_layout(t->s.model);
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(t->s.rt, &sctx);
    int rank = llmrt_rt_rank(t->s.rt), world = llmrt_rt_world_size(t->s.rt);
    llmrt_ckpt_index idx;
    llmrt_ckpt_shards *sh = NULL;
    char *path = llmrt_path_join(dir, LLMRT_CKPT_INDEX_FILE);
    int rc = path ? llmrt_ckpt_index_read(path, &idx) : llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    if (rc) {
        free(path);
        return rc;
    }
    if (idx.n_units != layout->n_units) rc = 1;
    for (size_t u = 0; u < layout->n_units && !rc; u++)
        if (strcmp(idx.units[u].name, layout->units[u].name) ||
            idx.units[u].numel != layout->units[u].numel)
            rc = 1;
    if (rc) {
        rc = llmrt_error(LLMRT_ERR_FORMAT, "%s: its units do not match this model (layers=%d, "
                         "dim=%d); is [model] the one the checkpoint was trained with?", path,
                         t->s.model_cfg.layers, t->s.model_cfg.dim);
        goto out;
    }
    /* Same world size and ranges on every rank: each reads its own slice. */
    double mismatch[1] = {idx.world_size != world};
    for (size_t u = 0; u < layout->n_units && !mismatch[0]; u++) {
        size_t begin, end;
        if ((rc = st->shard_range(sctx, u, &begin, &end))) goto out;
        const size_t *rg = LLMRT_CKPT_RANGE(&idx, rank, u);
        if (rg[0] != begin || rg[1] != end) mismatch[0] = 1;
    }
    if ((rc = llmrt_rt_allreduce_host(t->s.rt, mismatch, 1, LLMRT_REDUCE_SUM)) ||
        (rc = llmrt_ckpt_shards_open(&sh, dir, &idx)))
        goto out;
    if (mismatch[0] > 0)
        llmrt_log(LLMRT_LOG_INFO, "core", "%s: written by %d ranks of %s, re-sharded for %d "
                  "ranks of %s", dir, idx.world_size, idx.strategy, world,
                  llmrt_rt_component_name(t->s.rt, LLMRT_KIND_STRATEGY));
    for (size_t u = 0; u < layout->n_units && !rc; u++) {
        const size_t *rg = LLMRT_CKPT_RANGE(&idx, rank, u);
        size_t n = mismatch[0] > 0 ? layout->units[u].numel : rg[1] - rg[0];
        float *buf = malloc((n ? n : 1) * sizeof *buf);
        if (!buf) {
            rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
            break;
        }
        for (int k = 0; k < LLMRT_CKPT_N_KINDS && !rc; k++) {
            llmrt_state_kind kind = (llmrt_state_kind)k;
            if (mismatch[0] > 0) {
                if (!(rc = llmrt_ckpt_shards_read_full(sh, u, kind, buf)))
                    rc = set_unit_state(&t->s, u, kind, buf);
            } else if (n > 0) {
                if (!(rc = llmrt_ckpt_shards_read_slice(sh, rank, u, kind, buf)))
                    rc = st->set_state(sctx, u, kind, buf);
            }
        }
        free(buf);
    }
out:
    llmrt_ckpt_shards_close(sh);
    llmrt_ckpt_index_free(&idx);
    free(path);
    return rc;
}

/* Restore parameters, optimizer state, step, RNG and data position. */
static int resume_from(trainer *t, const char *dir, uint64_t *start_step)
{
    llmrt_ckpt_state st;
    char path[4096];
    int rc = llmrt_ckpt_load_state(dir, &st);
    if (rc) return rc;
    int world = llmrt_rt_world_size(t->s.rt);
    snprintf(path, sizeof path, "%s/%s", dir, LLMRT_CKPT_INDEX_FILE);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        rc = load_sharded(t, dir);
    } else {
        snprintf(path, sizeof path, "%s/%s", dir, LLMRT_CKPT_MODEL_FILE);
        if (!(rc = llmrt_session_load_weights(&t->s, path))) {
            snprintf(path, sizeof path, "%s/%s", dir, LLMRT_CKPT_OPTIMIZER_FILE);
            rc = load_optimizer(&t->s, path);
        }
    }
    if (!rc) {
        uint64_t position = st.data_position;
        if (st.world_size != (uint32_t)world && st.world_size > 0) {
            /* The same number of batches consumed in all, spread over the new
             * ranks; the order of the data is not continued exactly. */
            position = st.data_position * st.world_size / (uint64_t)world;
            if (llmrt_rt_rank(t->s.rt) == 0)
                llmrt_log(LLMRT_LOG_WARN, "core", "%s: written by %u ranks, resumed on %d: "
                          "data position %llu per rank becomes %llu (the batch order is not "
                          "continued exactly)", dir, st.world_size, world,
                          (unsigned long long)st.data_position, (unsigned long long)position);
        }
        memcpy(t->rng.s, st.rng, sizeof st.rng);
        llmrt_batcher_seek(t->batcher, position);
        t->state.tokens_seen = st.tokens_seen;
        t->state.elapsed_s = st.elapsed_s;
        t->best_val = st.best_val_loss;
        t->last_val = st.last_val_loss;
        t->adam_t = (int64_t)st.adam_t;
        if (t->prec->loss_scale_dynamic && st.loss_scale > 0.0) t->loss_scale.scale = st.loss_scale;
        *start_step = st.step;
    }
    llmrt_ckpt_state_free(&st);
    return rc;
}

/* The stream-wide number of the batch this rank reads next: its j-th batch
 * of epoch e is slot j W + r of the epoch (core/data.h), so W ranks number
 * their batches as one process with accum = W numbers the same ones. */
static uint64_t stream_batch_number(trainer *t)
{
    uint64_t p = llmrt_batcher_position(t->batcher), m = llmrt_batcher_per_epoch(t->batcher);
    uint64_t W = (uint64_t)llmrt_rt_world_size(t->s.rt), r = (uint64_t)llmrt_rt_rank(t->s.rt);
    return p / m * m * W + p % m * W + r;
}

/* One optimizer step: accum micro-batches, clipping, AdamW. */
static int train_step(trainer *t, long step, double lr, double *loss, double *grad_norm)
{
    llmrt_rt *rt = t->s.rt;
    int B = (int)t->o.batch, T = t->s.context, rc;
    double sum = 0.0, ls = t->loss_scale.scale;
    for (int micro = 0; micro < t->o.accum; micro++) {
        float l;
        uint64_t batch = stream_batch_number(t);
        llmrt_batcher_next(t->batcher, t->inputs, t->targets);
        /* bert: the window is the input, masked from the batch's own stream
         * (mlm.h), so that sharded runs and resumes mask alike. */
        if (t->s.model_cfg.arch == LLMRT_ARCH_BERT) {
            llmrt_rng mask_rng;
            llmrt_mlm_batch_rng(&mask_rng, (uint64_t)t->o.seed, batch);
            llmrt_mlm_mask(&t->s.mlm, &mask_rng, t->inputs, t->inputs, t->targets,
                           (size_t)B * (size_t)T);
        }
        /* t5: the windows are span-corrupted with an RNG seeded from the
         * run's seed and the micro-batch's global slot in the data order
         * ((step * accum + micro) * world + rank, core/data.h), so W ranks
         * corrupt each window as one process with accum W does, and a
         * resumed run as the uninterrupted one. */
        const int t5 = t->s.model_cfg.arch == LLMRT_ARCH_T5;
        if (t5) {
            uint64_t slot = ((uint64_t)step * (uint64_t)t->o.accum + (uint64_t)micro) *
                                (uint64_t)llmrt_rt_world_size(rt) +
                            (uint64_t)llmrt_rt_rank(rt);
            llmrt_rng span_rng;
            llmrt_rng_seed(&span_rng,
                           (uint64_t)t->o.seed ^ (0x9e3779b97f4a7c15ull * (slot + 1)));
            if ((rc = llmrt_session_t5_batch(&t->s, &span_rng, t->inputs, B, t->t5_inputs,
                                             t->t5_targets)))
                return rc;
        }
        if ((rc = llmrt_rt_begin_microbatch(rt, micro, (int)t->o.accum)) ||
            (rc = llmrt_model_forward(t->s.model, t5 ? t->t5_inputs : t->inputs,
                                      t5 ? t->t5_targets : t->targets, B, T, &l)) ||
            (rc = llmrt_model_backward(t->s.model, (float)(ls / (double)t->o.accum))))
            return rc;
        sum += l;
    }
    double values[1] = {sum / (double)t->o.accum};
    if ((rc = llmrt_rt_allreduce_host(rt, values, 1, LLMRT_REDUCE_AVG))) return rc;
    *loss = values[0];

    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(rt, &sctx);
    double norm_sq;
    if ((rc = st->grad_norm_sq(sctx, &norm_sq))) return rc;
    /* The norm of the scaled gradients is the same on every rank (strategy.h
     * rule 4), so is whether it overflowed: every rank skips alike. */
    *grad_norm = sqrt(norm_sq) / ls;
    t->skipped = 0;
    if (t->prec->loss_scale_dynamic) {
        switch (llmrt_loss_scale_update(&t->loss_scale, !isfinite(*grad_norm))) {
        case LLMRT_LOSS_SCALE_STEP: break;
        case LLMRT_LOSS_SCALE_SKIP:
            t->skipped = 1;
            return st->zero_grad(sctx);
        case LLMRT_LOSS_SCALE_STOP:
            return llmrt_error(LLMRT_ERR_INVALID,
                               "step %ld: %s gradients overflow with the loss scale at its "
                               "floor ([precision] loss_scale_min = %g); the model's gradients "
                               "do not fit fp16: train with [runtime] format = bf16 (same "
                               "memory, fp32's range) or lower [train] lr",
                               step + 1, t->prec->format, t->loss_scale.min);
        }
    }
    if (!isfinite(*grad_norm))
        return llmrt_error(LLMRT_ERR_INVALID, "step %ld: the gradient norm is %g; training "
                           "diverged (lower [train] lr or set [train] grad_clip)", step + 1,
                           *grad_norm);
    float scale = (float)(1.0 / ls);
    if (t->o.grad_clip > 0.0 && *grad_norm > t->o.grad_clip)
        scale = (float)(t->o.grad_clip / *grad_norm / ls);
    if (t->lr_scales) {
        /* Collective: every rank measures, as every rank steps. */
        if ((rc = st->param_sq_sums(sctx, t->sq_sums))) return rc;
        llmrt_lr_scale_rms(llmrt_model_get_layout(t->s.model), t->sq_sums,
                           LLMRT_LR_SCALE_RMS_FLOOR, t->lr_scales);
        for (size_t k = 0; k < t->n_lr_scales; k++)
            if (!isfinite(t->lr_scales[k]))
                return llmrt_error(LLMRT_ERR_INVALID,
                                   "step %ld: a parameter tensor's RMS is %g ([train] lr_scale "
                                   "= rms); training diverged (lower [train] lr)",
                                   step + 1, (double)t->lr_scales[k]);
    }
    llmrt_optim_step os = {
        .struct_size = sizeof os,
        .lr = (float)lr,
        .beta1 = (float)t->o.beta1,
        .beta2 = (float)t->o.beta2,
        .eps = (float)t->o.eps,
        .weight_decay = (float)t->o.weight_decay,
        .grad_scale = scale,
        .t = ++t->adam_t,
        .lr_scales = t->lr_scales,
    };
    return st->optimizer_step(sctx, &os);
}

static void trainer_free(trainer *t)
{
    if (t->metrics) llmrt_metrics_close(t->metrics);
    if (t->progress) llmrt_progress_free(t->progress);
    free(t->inputs);
    free(t->targets);
    free(t->t5_inputs);
    free(t->t5_targets);
    free(t->sq_sums);
    free(t->lr_scales);
    if (t->batcher) llmrt_batcher_free(t->batcher);
    if (t->train_ds) llmrt_dataset_close(t->train_ds);
    llmrt_session_close(&t->s);
}

/* Memory: what the strategy and the model predict (plan.c, as `llmrt plan`)
 * against what the runtime counted (peaks), per category. */
static int memory_plan(trainer *t, size_t plan[LLMRT_MEM_CATEGORY_COUNT])
{
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(t->s.rt, &sctx);
    (void)sctx;
    /* The layout the strategy got: the model's, with the policy applied. */
    llmrt_model_layout layout = *llmrt_model_get_layout(t->s.model);
    layout.struct_size = sizeof layout;
    llmrt_precision_apply(llmrt_rt_precision(t->s.rt), &layout);
    layout.micro_batches = (int)t->o.accum;
    return llmrt_plan_component(t->s.cfg, st,
                                llmrt_rt_component_name(t->s.rt, LLMRT_KIND_STRATEGY),
                                &layout, &t->s.model_cfg,
                                llmrt_rt_world_size(t->s.rt), llmrt_rt_rank(t->s.rt),
                                t->s.batch, t->s.context, plan);
}

/* Every rank prints one line of exact byte counts, measured then predicted:
 *   llmrt: memory rank 0/1 bytes measured params=N grads=N ... predicted params=N ...
 * and rank 0 a summary in MiB. */
static void report_memory(trainer *t, FILE *out)
{
    size_t plan[LLMRT_MEM_CATEGORY_COUNT] = {0};
    int have_plan = memory_plan(t, plan) == LLMRT_OK;
    char line[1024];
    int n = snprintf(line, sizeof line, "llmrt: memory rank %d/%d bytes measured",
                     llmrt_rt_rank(t->s.rt), llmrt_rt_world_size(t->s.rt));
    for (int c = 0; c < LLMRT_MEM_CATEGORY_COUNT && n < (int)sizeof line; c++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %s=%zu", llmrt_plan_category_names[c],
                      llmrt_rt_mem_peak(t->s.rt, (llmrt_mem_category)c));
    if (have_plan) {
        n += snprintf(line + n, sizeof line - (size_t)n, " predicted");
        for (int c = 0; c < LLMRT_MEM_CATEGORY_COUNT && n < (int)sizeof line; c++)
            n += snprintf(line + n, sizeof line - (size_t)n, " %s=%zu",
                          llmrt_plan_category_names[c], plan[c]);
    }
    fprintf(out, "%s\n", line);
    if (llmrt_rt_rank(t->s.rt) != 0 || !have_plan) return;
    size_t total_plan = 0, total_peak = 0;
    fprintf(out, "memory per rank (MiB, measured/predicted):");
    for (int c = 0; c < LLMRT_MEM_CATEGORY_COUNT; c++) {
        size_t peak = llmrt_rt_mem_peak(t->s.rt, (llmrt_mem_category)c);
        if (!plan[c] && !peak) continue;
        fprintf(out, " %s %.1f/%.1f", llmrt_plan_category_names[c], peak / 1048576.0,
                plan[c] / 1048576.0);
        total_plan += plan[c];
        total_peak += peak;
    }
    fprintf(out, " | total measured %.1f, predicted %.1f\n", total_peak / 1048576.0,
            total_plan / 1048576.0);
}

/* OUT/run.json: what ran, on what, measured against which peak. */
static int write_run_info(trainer *t, const llmrt_compute_caps *caps, int world,
                          double tokens_per_step, double flops_per_token)
{
    llmrt_run_info *ri;
    int rc = llmrt_run_info_new(&ri);
    if (rc) return rc;
    const llmrt_model_config *mc = &t->s.model_cfg;
    llmrt_run_info_str(ri, "llmrt_version", PACKAGE_VERSION);
    llmrt_run_info_str(ri, "arch", llmrt_arch_name(mc->arch));
    llmrt_run_info_int(ri, "parameters", (long long)llmrt_model_n_params(mc));
    llmrt_run_info_str(ri, "backend", llmrt_rt_component_name(t->s.rt, LLMRT_KIND_COMPUTE));
    llmrt_run_info_str(ri, "collective", llmrt_rt_component_name(t->s.rt, LLMRT_KIND_COLLECTIVE));
    llmrt_run_info_str(ri, "strategy", llmrt_rt_component_name(t->s.rt, LLMRT_KIND_STRATEGY));
    llmrt_run_info_str(ri, "format", llmrt_rt_component_name(t->s.rt, LLMRT_KIND_FORMAT));
    llmrt_run_info_int(ri, "world_size", world);
    llmrt_run_info_str(ri, "device", caps->device_name ? caps->device_name : "");
    llmrt_run_info_num(ri, "peak_flops", caps->peak_flops_f32);
    llmrt_run_info_str(ri, "peak_source", caps->peak_source ? caps->peak_source : "unknown");
    llmrt_run_info_num(ri, "tokens_per_step", tokens_per_step);
    llmrt_run_info_num(ri, "flops_per_token", flops_per_token);
    llmrt_run_info_str(ri, "flops_formula", "6N + 12*L*T*C (PaLM appendix B)");
    /* Rank 0's memory by category in bytes: peaks so far (at the end of the
     * run, the run's peaks) and the plan (docs/memory.md). */
    size_t plan[LLMRT_MEM_CATEGORY_COUNT];
    int have_plan = memory_plan(t, plan) == LLMRT_OK;
    for (int c = 0; c < LLMRT_MEM_CATEGORY_COUNT; c++) {
        char key[64];
        snprintf(key, sizeof key, "memory_measured_%s", llmrt_plan_category_names[c]);
        llmrt_run_info_int(ri, key, (long long)llmrt_rt_mem_peak(t->s.rt, (llmrt_mem_category)c));
        snprintf(key, sizeof key, "memory_predicted_%s", llmrt_plan_category_names[c]);
        if (have_plan) llmrt_run_info_int(ri, key, (long long)plan[c]);
    }
    char *path = malloc(strlen(t->o.out) + sizeof "/" LLMRT_RUN_INFO_FILE);
    if (!path) rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    else {
        sprintf(path, "%s/%s", t->o.out, LLMRT_RUN_INFO_FILE);
        rc = llmrt_run_info_write(ri, path);
        free(path);
    }
    llmrt_run_info_free(ri);
    return rc;
}

int llmrt_train_run(llmrt_config *cfg)
{
    trainer t;
    memset(&t, 0, sizeof t);
    t.best_val = t.last_val = NAN;
    int rc;
    if ((rc = read_train_config(cfg, &t.o))) return rc;
    if ((rc = llmrt_session_open(&t.s, cfg, (int)t.o.batch, 0))) return rc;
    /* Every section and key has been declared now: anything else is a typo. */
    if ((rc = llmrt_config_check_unknown(cfg, NULL))) goto out;
    t.prec = llmrt_rt_precision(t.s.rt);
    llmrt_loss_scale_init(&t.loss_scale, t.prec->loss_scale_dynamic, t.prec->loss_scale_initial,
                          t.prec->loss_scale_window, t.prec->loss_scale_hysteresis,
                          t.prec->loss_scale_min, t.prec->loss_scale_factor);
    {
        void *sctx;
        const llmrt_strategy_vtable *st = llmrt_rt_strategy(t.s.rt, &sctx);
        if (t.prec->loss_scale_dynamic && !LLMRT_HAS(st, st->struct_size, zero_grad)) {
            rc = llmrt_error(LLMRT_ERR_UNSUPPORTED,
                             "[precision] dynamic loss scaling skips overflowing steps, which "
                             "strategy %s cannot do (no zero_grad, ABI 1.1)",
                             llmrt_rt_component_name(t.s.rt, LLMRT_KIND_STRATEGY));
            goto out;
        }
        if (t.o.lr_scale == LLMRT_LR_SCALE_RMS) {
            if (!LLMRT_HAS(st, st->struct_size, param_sq_sums)) {
                rc = llmrt_error(LLMRT_ERR_UNSUPPORTED,
                                 "[train] lr_scale = rms needs each tensor's RMS, which "
                                 "strategy %s does not measure (no param_sq_sums, ABI 1.3): "
                                 "use lr_scale = none or the shard plugin's ddp, zero or fsdp",
                                 llmrt_rt_component_name(t.s.rt, LLMRT_KIND_STRATEGY));
                goto out;
            }
            size_t n = llmrt_lr_scale_count(llmrt_model_get_layout(t.s.model));
            t.n_lr_scales = n;
            t.sq_sums = calloc(n ? n : 1, sizeof *t.sq_sums);
            t.lr_scales = calloc(n ? n : 1, sizeof *t.lr_scales);
            if (!t.sq_sums || !t.lr_scales) {
                rc = llmrt_error(LLMRT_ERR_NOMEM, "out of host memory for %zu lr scales", n);
                goto out;
            }
        }
    }

    const llmrt_model_config *mc = &t.s.model_cfg;
    if ((rc = llmrt_dataset_open(&t.train_ds, t.o.train_path, (uint32_t)mc->vocab))) {
        llmrt_error_prefix(rc, "[data] train");
        goto out;
    }
    llmrt_batcher_opts bo = {.batch = (size_t)t.o.batch, .context = (size_t)t.s.window,
                             .rank = llmrt_rt_rank(t.s.rt),
                             .world = llmrt_rt_world_size(t.s.rt), .shuffle = t.o.shuffle,
                             .seed = (uint64_t)t.o.seed};
    if ((rc = llmrt_batcher_new(&t.batcher, t.train_ds, &bo))) {
        llmrt_error_prefix(rc, "[data] train (with [train] batch = %ld, [model] context = %d)",
                           t.o.batch, mc->context);
        goto out;
    }
    size_t bt = (size_t)t.o.batch * (size_t)t.s.window;
    t.inputs = malloc(bt * sizeof *t.inputs);
    t.targets = malloc(bt * sizeof *t.targets);
    if (mc->arch == LLMRT_ARCH_T5) {
        t.t5_inputs = malloc((size_t)t.o.batch * (size_t)mc->context * sizeof *t.t5_inputs);
        t.t5_targets =
            malloc((size_t)t.o.batch * (size_t)mc->decoder_context * sizeof *t.t5_targets);
        if (!t.t5_inputs || !t.t5_targets) {
            rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    if (!t.inputs || !t.targets) {
        rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        goto out;
    }
    llmrt_rng_seed(&t.rng, (uint64_t)t.o.seed);

    /* Parameters: resume, or init_from, or GPT-2 initialisation. */
    uint64_t start = 0;
    char *resume_dir = NULL;
    if (t.o.resume[0]) {
        if (!strcmp(t.o.resume, "auto")) {
            if ((rc = llmrt_ckpt_find_latest(t.o.out, &resume_dir, &start))) goto out;
        } else if ((rc = llmrt_find_checkpoint(cfg, t.o.resume, &resume_dir))) {
            llmrt_error_prefix(rc, "[train] resume");
            goto out;
        }
    }
    if (resume_dir) {
        rc = resume_from(&t, resume_dir, &start);
        if (rc) llmrt_error_prefix(rc, "[train] resume from %s", resume_dir);
        free(resume_dir);
        if (rc) goto out;
    } else if (t.o.init_from[0]) {
        if ((rc = llmrt_session_load_weights(&t.s, t.o.init_from))) {
            llmrt_error_prefix(rc, "[train] init_from");
            goto out;
        }
    } else if ((rc = llmrt_session_init_params(&t.s, (uint64_t)t.o.seed))) {
        goto out;
    }
    if (start >= (uint64_t)t.o.steps) {
        fprintf(stderr, "llmrt: %s already holds step %llu of %ld: nothing to do\n", t.o.out,
                (unsigned long long)start, t.o.steps);
        goto out;
    }

    const llmrt_compute_caps *caps = llmrt_rt_compute_caps(t.s.rt);
    int world = llmrt_rt_world_size(t.s.rt), rank0 = llmrt_rt_rank(t.s.rt) == 0;
    double tokens_per_step = (double)bt * (double)t.o.accum * world;
    double flops_per_token = llmrt_model_flops_per_token(mc, mc->context);
    /* t5 counts per encoder token; a step's tokens are its raw windows. */
    if (mc->arch == LLMRT_ARCH_T5) flops_per_token *= (double)mc->context / t.s.window;
    double peak = caps->peak_flops_f32 * world;
    if (rank0) {
        if ((rc = llmrt_metrics_open(&t.metrics, t.o.out, start > 0, start)) ||
            (rc = llmrt_progress_new(&t.progress, stderr, (uint64_t)t.o.steps,
                                     (uint64_t)t.o.log_every)) ||
            (rc = write_run_info(&t, caps, world, tokens_per_step, flops_per_token)))
            goto out;
        fprintf(stderr,
                "llmrt: training %zu parameters on %s | %s x %d, %s, %s | %.0f tokens/step | "
                "MFU against %.1f GFLOP/s (%s)\n",
                llmrt_model_n_params(mc), caps->device_name ? caps->device_name : "?",
                llmrt_rt_component_name(t.s.rt, LLMRT_KIND_COMPUTE), world,
                llmrt_rt_component_name(t.s.rt, LLMRT_KIND_COLLECTIVE),
                llmrt_rt_component_name(t.s.rt, LLMRT_KIND_STRATEGY), tokens_per_step,
                caps->peak_flops_f32 / 1e9, caps->peak_source ? caps->peak_source : "unknown");
    }

    const llmrt_host_api *host = llmrt_host_api_get();
    uint64_t comm_bytes = 0, steps_run = 0;
    for (long step = (long)start; step < t.o.steps; step++) {
        double t0 = host->now(), loss, norm, lr = learning_rate(&t.o, step);
        uint64_t comm0 = llmrt_rt_comm_bytes(t.s.rt);
        if ((rc = train_step(&t, step, lr, &loss, &norm))) goto out;
        double dt = host->now() - t0;
        comm_bytes += llmrt_rt_comm_bytes(t.s.rt) - comm0;
        steps_run++;
        t.state.elapsed_s += dt;
        t.state.tokens_seen += (uint64_t)tokens_per_step;
        double val = NAN;
        int last = step + 1 == t.o.steps;
        if (t.o.val_path[0] && ((t.o.eval_every > 0 && (step + 1) % t.o.eval_every == 0) || last)) {
            if ((rc = llmrt_session_eval(&t.s, t.o.val_path, (uint64_t)t.o.eval_batches, &val,
                                         NULL, NULL)))
                goto out;
            t.last_val = val;
            if (isnan(t.best_val) || val < t.best_val) t.best_val = val;
        }
        double tps = tokens_per_step / dt;
        llmrt_metrics_record rec = {
            .step = (uint64_t)step + 1,
            .loss = loss,
            .val_loss = val,
            .lr = lr,
            .grad_norm = norm,
            .tokens_per_s = tps,
            .mfu = peak > 0 ? flops_per_token * tps / peak : NAN,
            .elapsed_s = t.state.elapsed_s,
            .loss_scale = t.prec->loss_scale_dynamic ? t.loss_scale.scale : 0.0,
            .skipped = t.skipped,
        };
        if (rank0) {
            if ((rc = llmrt_metrics_log(t.metrics, &rec))) goto out;
            llmrt_progress_update(t.progress, &rec);
        }
        if ((t.o.checkpoint_every > 0 && (step + 1) % t.o.checkpoint_every == 0) || last)
            if ((rc = save_checkpoint(&t, (uint64_t)step + 1))) goto out;
    }
    if (rank0) {
        llmrt_progress_finish(t.progress);
        if (!isnan(t.last_val))
            fprintf(stderr, "llmrt: done: val loss %.4f (best %.4f); checkpoints in %s\n",
                    t.last_val, t.best_val, t.o.out);
        rc = write_run_info(&t, caps, world, tokens_per_step, flops_per_token);
        if (steps_run > 0) {
            /* Psi: the fp32 parameter bytes, the unit of the ZeRO paper. */
            double psi = 4.0 * (double)llmrt_model_n_params(mc);
            double per_step = (double)comm_bytes / (double)steps_run;
            fprintf(stderr, "llmrt: communication per step and rank: %.2f MiB = %.2f Psi "
                            "(ZeRO paper: ddp 2, zero1 2, zero2 2, zero3 3)\n",
                    per_step / 1048576.0, per_step / psi);
        }
    }
    report_memory(&t, stderr);
out:
    trainer_free(&t);
    return rc;
}
