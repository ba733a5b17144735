/* model.h — the seam between the training loop and the architectures: one
 * config for the [model] keys of every arch and a small table of operations
 * (layout, initialisation, forward/backward, logits, FLOPs, activation
 * bytes) that core/gpt.c, core/bert.c and core/t5.c implement. train.c, plan.c,
 * generate.c and the CLI talk to a model only through this header; what is
 * specific to one arch (the int8 export: gpt only) asks for it by name with
 * llmrt_model_gpt(). */
#ifndef LLMRT_CORE_MODEL_H
#define LLMRT_CORE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <llmrt/llmrt.h>

#include "bert.h"
#include "gpt.h"
#include "t5.h"

typedef enum llmrt_arch {
    LLMRT_ARCH_GPT = 0,  /* decoder-only, causal LM (core/gpt.c)          */
    LLMRT_ARCH_BERT = 1, /* encoder-only, masked LM (core/bert.c, mlm.c)  */
    LLMRT_ARCH_T5 = 2    /* encoder-decoder, span corruption (core/t5.c, span.c) */
} llmrt_arch;

/* The [model] keys, and what the precision policy decides (dtype, qat). */
typedef struct llmrt_model_config {
    llmrt_arch arch;
    int layers, heads, dim, context, vocab;
    llmrt_dtype dtype;
    int qat; /* int8 QAT (LSQ) of the blocks' linear weights (gpt, bert, t5) */
    /* t5 only (0 elsewhere); layers counts the encoder's blocks. */
    int decoder_layers, d_ff;
    llmrt_t5_ff ff;
    int tie_embeddings;
    int num_buckets, max_distance;
    int decoder_context; /* the decoder's input and target length */
} llmrt_model_config;

/* "gpt", "bert" or "t5" (the [model] arch value). */
const char *llmrt_arch_name(llmrt_arch arch);

/* The arch's own check; bert also needs vocab >= 260 (the MLM specials,
 * mlm.h). */
int llmrt_model_config_check(const llmrt_model_config *cfg);
llmrt_gpt_config llmrt_model_gpt_config(const llmrt_model_config *cfg);
llmrt_bert_config llmrt_model_bert_config(const llmrt_model_config *cfg);
llmrt_t5_config llmrt_model_t5_config(const llmrt_model_config *cfg);

/* Layout arithmetic (no runtime), as the arch's own functions. */
size_t llmrt_model_n_params(const llmrt_model_config *cfg);
int llmrt_model_layout_build(const llmrt_model_config *cfg, llmrt_model_layout *layout);
void llmrt_model_layout_free(const llmrt_model_config *cfg, llmrt_model_layout *layout);
int llmrt_model_tensor_shape(const llmrt_model_config *cfg, size_t unit, size_t tensor,
                             int64_t dims[2]);
/* QAT: LSQ's initial step sizes of unit `unit` from its weights (host fp32),
 * as the arch's llmrt_*_qat_init_scales. */
int llmrt_model_qat_init_scales(const llmrt_model_config *cfg, size_t unit, float *host_unit);
void llmrt_model_init_unit(const llmrt_model_config *cfg, size_t unit, uint64_t seed,
                           float *host_params);
double llmrt_model_flops_per_token(const llmrt_model_config *cfg, int T);
size_t llmrt_model_activation_bytes(const llmrt_model_config *cfg, int B, int T);

/* A model on a runtime (the contract of llmrt_gpt_create and friends). */
typedef struct llmrt_model llmrt_model;
int llmrt_model_create(llmrt_model **out, const llmrt_model_config *cfg, llmrt_rt *rt,
                       int B_max, int T_max);
void llmrt_model_destroy(llmrt_model *m);
const llmrt_model_config *llmrt_model_get_config(const llmrt_model *m);
const llmrt_model_layout *llmrt_model_get_layout(const llmrt_model *m);
int llmrt_model_forward(llmrt_model *m, const int32_t *inputs, const int32_t *targets, int B,
                        int T, float *mean_loss);
int llmrt_model_backward(llmrt_model *m, float loss_scale);
int llmrt_model_logits(llmrt_model *m, int b, int t, float *host_row);
/* The decoder behind m, or NULL when m is not a gpt. */
llmrt_gpt *llmrt_model_gpt(llmrt_model *m);
/* The encoder-decoder behind m, or NULL when m is not a t5. For t5,
 * llmrt_model_forward takes the encoder input [B, T] and the targets
 * [B, decoder_context] (the decoder input is derived from them), and
 * llmrt_model_logits reads decoder positions. */
llmrt_t5 *llmrt_model_t5(llmrt_model *m);

#endif
