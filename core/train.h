/* train.h — the training loop, and the session that `train`, `eval` and
 * `generate` share: a configuration turned into a runtime and a model.
 *
 * Ownership: a session borrows its config (which must outlive it) and owns
 * the runtime and the model. */
#ifndef LLMRT_CORE_TRAIN_H
#define LLMRT_CORE_TRAIN_H

#include <stdint.h>

#include "config.h"
#include "mlm.h"
#include "model.h"
#include "rng.h"
#include "span.h"
#include "runtime.h"

typedef struct llmrt_session {
    llmrt_config *cfg;
    llmrt_model_config model_cfg;
    llmrt_rt *rt;
    llmrt_model *model;
    llmrt_mlm_config mlm; /* bert: the masking rates ([model] mask_*) */
    llmrt_span_config span; /* t5: span corruption ([model] noise_density, mean_span_length) */
    int batch, context; /* what the model's activations were sized for */
    int window;         /* tokens of text a row reads: context, or for t5 the raw
                           length whose corruption fills context (span.h) */
} llmrt_session;

/* Read (and declare) the [model] keys into *mc and check them. For t5 the
 * decoder length comes from span-corrupting windows that fill [model]
 * context, so *span (when not NULL) receives the span settings read. */
int llmrt_read_model_config(llmrt_config *cfg, llmrt_model_config *mc);
int llmrt_read_model_config_span(llmrt_config *cfg, llmrt_model_config *mc,
                                 llmrt_span_config *span);

/* t5: span-corrupt B rows of s->window tokens (windows, row-major) into the
 * encoder inputs [B, context] and the targets [B, decoder_context], drawing
 * from rng. */
int llmrt_session_t5_batch(const llmrt_session *s, llmrt_rng *rng, const int32_t *windows,
                           int B, int32_t *inputs, int32_t *targets);

/* Read [model] and [runtime], create the runtime and a model with
 * activations for `batch` sequences of `context` tokens (0: [model] context),
 * and attach it to the strategy. Parameters are zero until loaded. */
int llmrt_session_open(llmrt_session *s, llmrt_config *cfg, int batch, int context);
void llmrt_session_close(llmrt_session *s);

/* GPT-2 initialisation of every unit from `seed`. */
int llmrt_session_init_params(llmrt_session *s, uint64_t seed);
/* Load weights from a safetensors file with Hugging Face GPT-2 names, with
 * or without the "transformer." prefix; the causal-mask buffers (attn.bias,
 * attn.masked_bias) and a tied lm_head.weight are ignored, as Hugging Face
 * does. Every model tensor must be present with its exact shape. */
int llmrt_session_load_weights(llmrt_session *s, const char *path);
/* Write the weights as model.safetensors with Hugging Face GPT-2 names. */
int llmrt_session_save_weights(llmrt_session *s, const char *path);

/* Mean loss of `n_batches` batches of `data_path` (from its start, in order),
 * averaged over ranks. n_batches 0: every batch of the file. For bert the
 * batches are masked (llmrt_mlm_mask with the session's rates, from a fixed
 * seed, so every evaluation masks the same positions): *loss is the MLM
 * loss and *accuracy (when not NULL) the fraction of chosen positions whose
 * most likely token is the original; *tokens counts the chosen positions.
 * For t5 the batches are span-corrupted from a fixed seed and the loss is
 * over the target tokens (*tokens counts them). For gpt and t5 *accuracy is
 * NAN. */
int llmrt_session_eval(llmrt_session *s, const char *data_path, uint64_t n_batches,
                       double *loss, uint64_t *tokens, double *accuracy);

/* Find the checkpoint a command should use: `path` when not NULL (a step
 * directory or an output directory, whose latest checkpoint is taken),
 * else the latest one under [train] out. *dir is malloc'd. */
int llmrt_find_checkpoint(llmrt_config *cfg, const char *path, char **dir);

/* `llmrt train`: the whole run as configured. */
int llmrt_train_run(llmrt_config *cfg);

#endif
