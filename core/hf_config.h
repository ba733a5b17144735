/* hf_config.h — Hugging Face's config.json beside a checkpoint's
 * model.safetensors, so that transformers (AutoModel*.from_pretrained(DIR))
 * rebuilds exactly the model llmrt trained: GPT2LMHeadModel for gpt,
 * BertForMaskedLM for bert, T5ForConditionalGeneration for t5. The weights
 * already carry HF's names and shapes (gpt.h, bert.h, t5.h); this file says
 * the rest: sizes, epsilons, activations, the head's tie, the special token
 * ids, no dropout. Field by field in docs/formats.md ("config.json").
 *
 * The values come only from the llmrt_model_config and the model headers'
 * constants (LLMRT_GPT_LN_EPS, LLMRT_BERT_GELU, ...) that the model code uses
 * too, so config.json and the model cannot disagree. */
#ifndef LLMRT_CORE_HF_CONFIG_H
#define LLMRT_CORE_HF_CONFIG_H

#include "model.h"

#define LLMRT_HF_CONFIG_FILE "config.json"

/* Write config.json for cfg to `path`, atomically (fileio.h). Errors via
 * llmrt_error, naming the path. */
int llmrt_hf_config_write(const llmrt_model_config *cfg, const char *path);

/* The same from a checkpoint's config.ini (its [model] section, as
 * `llmrt train` read it): for directories written before checkpoints had a
 * config.json. */
int llmrt_hf_config_write_from_ini(const char *ini_path, const char *path);

#endif
