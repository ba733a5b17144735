/* hf_config.c — config.json in transformers' conventions (hf_config.h).
 *
 * Field names and meanings are those of transformers' GPT2Config, BertConfig
 * and T5Config; every field the model classes read to build the network is
 * written explicitly, even where it equals transformers' default, so that
 * the file does not depend on the defaults of one transformers version.
 * Fields named llmrt_* are ours (provenance, token ids HF keeps in the
 * tokenizer); transformers keeps them as plain attributes and ignores them. */
#include "hf_config.h"

#include "build_config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "error.h"
#include "fileio.h"
#include "mlm.h"
#include "span.h"
#include "train.h"

/* HF's name of a GELU: "gelu_new" is the tanh approximation (GPT-2's),
 * "gelu" the exact erf one (BERT's). */
static const char *hf_gelu(llmrt_gelu_kind k) { return k == LLMRT_GELU_TANH ? "gelu_new" : "gelu"; }

/* T5Config turns feed_forward_proj "gated-gelu" into gelu_new whatever else
 * is written, so t5's gated GELU must stay the tanh one. */
_Static_assert(LLMRT_T5_GELU == LLMRT_GELU_TANH,
               "HF's gated-gelu T5 uses gelu_new (tanh): keep LLMRT_T5_GELU tanh");

/* Sets keys on one object and remembers whether any set failed (out of
 * memory), so the builders below read as the list of fields. */
typedef struct builder {
    json_t *o;
    int failed;
} builder;

static void put(builder *b, const char *key, json_t *v)
{
    if (!v || json_object_set_new(b->o, key, v)) b->failed = 1;
}
static void put_int(builder *b, const char *key, long long v) { put(b, key, json_integer(v)); }
static void put_real(builder *b, const char *key, double v) { put(b, key, json_real(v)); }
static void put_str(builder *b, const char *key, const char *v) { put(b, key, json_string(v)); }
static void put_bool(builder *b, const char *key, int v) { put(b, key, json_boolean(v)); }

static void put_architecture(builder *b, const char *cls, const char *model_type)
{
    json_t *a = json_array();
    if (!a || json_array_append_new(a, json_string(cls))) b->failed = 1;
    put(b, "architectures", a);
    put_str(b, "model_type", model_type);
}

/* GPT2LMHeadModel: the head is tied to wte; dropout off; no BOS/EOS (the
 * byte tokenizer has none, and GPT-2's default 50256 is outside a small
 * vocabulary). */
static void gpt_fields(builder *b, const llmrt_model_config *c)
{
    put_architecture(b, "GPT2LMHeadModel", "gpt2");
    put_int(b, "vocab_size", c->vocab);
    put_int(b, "n_positions", c->context);
    put_int(b, "n_ctx", c->context); /* older transformers read this name */
    put_int(b, "n_embd", c->dim);
    put_int(b, "n_layer", c->layers);
    put_int(b, "n_head", c->heads);
    put_int(b, "n_inner", 4LL * c->dim);
    put_str(b, "activation_function", hf_gelu(LLMRT_GPT_GELU));
    put_real(b, "layer_norm_epsilon", LLMRT_GPT_LN_EPS);
    put_real(b, "resid_pdrop", 0.0);
    put_real(b, "embd_pdrop", 0.0);
    put_real(b, "attn_pdrop", 0.0);
    put_real(b, "initializer_range", 0.02);
    put_bool(b, "scale_attn_weights", 1);
    put_bool(b, "scale_attn_by_inverse_layer_idx", 0);
    put_bool(b, "reorder_and_upcast_attn", 0);
    put_bool(b, "tie_word_embeddings", 1);
    put(b, "bos_token_id", json_null());
    put(b, "eos_token_id", json_null());
}

/* BertForMaskedLM: token type 0 everywhere, the decoder tied to the word
 * embeddings (its bias is cls.predictions.bias). [CLS] and [MASK] have no
 * config field in transformers (the tokenizer holds them): llmrt_*. */
static void bert_fields(builder *b, const llmrt_model_config *c)
{
    put_architecture(b, "BertForMaskedLM", "bert");
    put_int(b, "vocab_size", c->vocab);
    put_int(b, "hidden_size", c->dim);
    put_int(b, "num_hidden_layers", c->layers);
    put_int(b, "num_attention_heads", c->heads);
    put_int(b, "intermediate_size", 4LL * c->dim);
    put_str(b, "hidden_act", hf_gelu(LLMRT_BERT_GELU));
    put_real(b, "layer_norm_eps", LLMRT_BERT_LN_EPS);
    put_int(b, "max_position_embeddings", c->context);
    put_int(b, "type_vocab_size", LLMRT_BERT_TYPE_VOCAB);
    put_str(b, "position_embedding_type", "absolute");
    put_real(b, "hidden_dropout_prob", 0.0);
    put_real(b, "attention_probs_dropout_prob", 0.0);
    put(b, "classifier_dropout", json_null());
    put_real(b, "initializer_range", 0.02);
    put_bool(b, "is_decoder", 0);
    put_bool(b, "tie_word_embeddings", 1);
    put_int(b, "pad_token_id", LLMRT_MLM_PAD);
    put_int(b, "sep_token_id", LLMRT_MLM_SEP);
    put_int(b, "llmrt_cls_token_id", LLMRT_MLM_CLS);
    put_int(b, "llmrt_mask_token_id", LLMRT_MLM_MASK);
}

/* T5ForConditionalGeneration. T5Config derives dense_act_fn and
 * is_gated_act from feed_forward_proj; they are written as transformers'
 * own save_pretrained writes them. A tied head is scaled by d_model^-0.5
 * in both. Sentinels count up from llmrt_sentinel0_token_id (span.h). */
static void t5_fields(builder *b, const llmrt_model_config *c)
{
    int gated = c->ff == LLMRT_T5_FF_GATED_GELU;
    put_architecture(b, "T5ForConditionalGeneration", "t5");
    put_int(b, "vocab_size", c->vocab);
    put_int(b, "d_model", c->dim);
    put_int(b, "d_kv", c->dim / c->heads);
    put_int(b, "d_ff", c->d_ff);
    put_int(b, "num_layers", c->layers);
    put_int(b, "num_decoder_layers", c->decoder_layers);
    put_int(b, "num_heads", c->heads);
    put_int(b, "relative_attention_num_buckets", c->num_buckets);
    put_int(b, "relative_attention_max_distance", c->max_distance);
    put_str(b, "feed_forward_proj", gated ? "gated-gelu" : "relu");
    put_str(b, "dense_act_fn", gated ? hf_gelu(LLMRT_T5_GELU) : "relu");
    put_bool(b, "is_gated_act", gated);
    put_real(b, "layer_norm_epsilon", LLMRT_T5_RMS_EPS);
    put_real(b, "dropout_rate", 0.0);
    put_real(b, "classifier_dropout", 0.0);
    put_real(b, "initializer_factor", 1.0);
    put_bool(b, "is_encoder_decoder", 1);
    put_bool(b, "tie_word_embeddings", c->tie_embeddings);
    /* Informative: T5 has no position limit; this is the encoder length
     * llmrt trained with (as t5-small's config.json has n_positions). */
    put_int(b, "n_positions", c->context);
    put_int(b, "pad_token_id", LLMRT_SPAN_PAD);
    put_int(b, "eos_token_id", LLMRT_SPAN_EOS);
    put_int(b, "decoder_start_token_id", LLMRT_SPAN_PAD);
    put_int(b, "llmrt_sentinel0_token_id", LLMRT_SPAN_SENTINEL0);
}

int llmrt_hf_config_write(const llmrt_model_config *cfg, const char *path)
{
    builder b = {json_object(), 0};
    if (!b.o) return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", path);
    switch (cfg->arch) {
    case LLMRT_ARCH_GPT: gpt_fields(&b, cfg); break;
    case LLMRT_ARCH_BERT: bert_fields(&b, cfg); break;
    case LLMRT_ARCH_T5: t5_fields(&b, cfg); break;
    default:
        json_decref(b.o);
        return llmrt_error(LLMRT_ERR_INVALID, "%s: no Hugging Face config for model.arch %d",
                           path, (int)cfg->arch);
    }
    /* model.safetensors is always F32 (the master values, widened from a
     * 16-bit dtype), whatever the run computed in. */
    put_str(&b, "torch_dtype", "float32");
    put_bool(&b, "use_cache", 1);
    put_str(&b, "llmrt_version", PACKAGE_VERSION);
    put_str(&b, "llmrt_arch", llmrt_arch_name(cfg->arch));
    /* 15 significant digits: the epsilons read as 1e-05, not 1.0000000000000001e-05. */
    char *text = b.failed ? NULL : json_dumps(b.o, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    json_decref(b.o);
    if (!text) return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the NUL; written with its length */
    int rc = llmrt_write_file_atomic(path, text, n + 1);
    free(text);
    return rc;
}

int llmrt_hf_config_write_from_ini(const char *ini_path, const char *path)
{
    llmrt_config *ini = NULL;
    llmrt_model_config mc;
    int rc = llmrt_config_new(&ini);
    if (!rc) rc = llmrt_config_load_file(ini, ini_path);
    if (!rc) rc = llmrt_read_model_config(ini, &mc);
    if (!rc) rc = llmrt_hf_config_write(&mc, path);
    if (ini) llmrt_config_free(ini);
    return rc;
}
