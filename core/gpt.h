/* gpt.h — the decoder-only transformer (GPT-2 layout): parameter layout,
 * initialisation, and forward/backward written out over the compute backend.
 *
 * Parameters live in units (strategy.h), one flat vector each, tensors in a
 * fixed order with Hugging Face GPT-2 names; weight matrices are stored as
 * HF Conv1D [in, out], so every linear layer is y = x @ W + b:
 *
 *   unit 0      "embedding"  transformer.wte.weight [vocab, C]
 *                            transformer.wpe.weight [context, C]
 *   unit 1 + l  "block.l"    transformer.h.l.ln_1.weight [C], ln_1.bias [C],
 *                            attn.c_attn.weight [C, 3C], attn.c_attn.bias [3C],
 *                            attn.c_proj.weight [C, C], attn.c_proj.bias [C],
 *                            ln_2.weight [C], ln_2.bias [C],
 *                            mlp.c_fc.weight [C, 4C], mlp.c_fc.bias [4C],
 *                            mlp.c_proj.weight [4C, C], mlp.c_proj.bias [C]
 *                 with QAT, then the step sizes (one per output column):
 *                            attn.c_attn.weight_scale [3C],
 *                            attn.c_proj.weight_scale [C],
 *                            mlp.c_fc.weight_scale [4C], mlp.c_proj.weight_scale [C]
 *   unit L + 1  "head"       transformer.ln_f.weight [C], transformer.ln_f.bias [C]
 *
 * The LM head is tied to wte (logits = ln_f(x) @ wte^T) and never quantized.
 * Parameters, gradients and activations are in cfg.dtype (the strategy hands
 * out parameters in it; host-side initialisation and checkpoints are fp32).
 * docs/model.md has the details and the activation memory formula.
 *
 * Hooks: the model brackets every use of a unit's parameters with the
 * runtime's pre/post forward/backward calls (strategy.h rule 2); the training
 * loop calls llmrt_rt_begin_microbatch() before each forward. */
#ifndef LLMRT_CORE_GPT_H
#define LLMRT_CORE_GPT_H

#include <stddef.h>
#include <stdint.h>

#include <llmrt/llmrt.h>

/* The LayerNorm epsilon (HF GPT2Config.layer_norm_epsilon) and the MLP's GELU
 * (tanh approximation: HF activation_function "gelu_new"). Named once so that
 * the model and the config.json written beside checkpoints (hf_config.c)
 * cannot disagree. */
#define LLMRT_GPT_LN_EPS 1e-5
#define LLMRT_GPT_GELU LLMRT_GELU_TANH

typedef struct llmrt_gpt_config {
    int layers;  /* [model] layers: transformer blocks, >= 1          */
    int heads;   /* [model] heads: attention heads, divides dim        */
    int dim;     /* [model] dim: channels C                            */
    int context; /* [model] context: maximum sequence length (wpe rows) */
    int vocab;   /* [model] vocab: vocabulary size                     */
    /* From the precision policy (core/precision.h), not from [model]: */
    llmrt_dtype dtype; /* parameters, their gradients and activations (F32 = 0) */
    int qat;           /* 1: LSQ fake quantization of every linear weight */
} llmrt_gpt_config;

typedef struct llmrt_gpt llmrt_gpt;

/* LLMRT_ERR_INVALID, with a message naming the [model] key, when a value is
 * out of range or model.heads does not divide model.dim; also for a dtype
 * other than f32, bf16, f16, and for qat with a dtype other than f32. */
int llmrt_gpt_config_check(const llmrt_gpt_config *cfg);

/* --- parameter layout (no runtime needed: memory planning, checkpoints) --- */

enum { LLMRT_GPT_UNIT_EMBEDDING = 0 };
/* Units: layers + 2. Block l is unit 1 + l; the head is unit layers + 1. */
size_t llmrt_gpt_n_units(const llmrt_gpt_config *cfg);
/* Total number of parameters (every unit, embeddings included). */
size_t llmrt_gpt_n_params(const llmrt_gpt_config *cfg);

/* Fill *layout (units, tensors with names, offsets, sizes and weight-decay
 * flags; param_type = grad_type = reduce_type = cfg->dtype, rounding to
 * nearest even, seed 0: the training loop overrides reduce_type,
 * param_rounding and rounding_seed from the precision policy). Everything it
 * points to is one allocation, released by llmrt_gpt_layout_free(). */
int llmrt_gpt_layout_build(const llmrt_gpt_config *cfg, llmrt_model_layout *layout);
void llmrt_gpt_layout_free(llmrt_model_layout *layout);

/* The shape of tensor `tensor` of unit `unit` (HF layout): returns ndim (1 or
 * 2) and fills dims[0..ndim), or returns 0 when either index is out of range. */
int llmrt_gpt_tensor_shape(const llmrt_gpt_config *cfg, size_t unit, size_t tensor,
                           int64_t dims[2]);

/* GPT-2 initialisation of one unit into host memory of the unit's numel
 * floats: matrices and embeddings N(0, 0.02), residual projections
 * (attn.c_proj.weight, mlp.c_proj.weight) N(0, 0.02 / sqrt(2 * layers)),
 * biases 0, LayerNorm weight 1 and bias 0; with QAT the step sizes as
 * llmrt_gpt_qat_init_scales() sets them (the weights are those of the same
 * model without QAT). The stream depends only on (seed, unit), never on
 * world size or sharding. */
void llmrt_gpt_init_unit(const llmrt_gpt_config *cfg, size_t unit, uint64_t seed,
                         float *host_params);

/* QAT: set every step size of unit `unit` (host fp32, the unit's numel
 * values) from the weights already there, LSQ's initialisation:
 * scale[c] = 2 mean_i |w[i, c]| / sqrt(LLMRT_I8_QMAX) (core/qat.h). Units
 * without quantized weights are left alone. LLMRT_ERR_INVALID when cfg has
 * no QAT or the unit does not exist. The training loop calls it when a
 * checkpoint without step sizes is loaded into a QAT run. */
int llmrt_gpt_qat_init_scales(const llmrt_gpt_config *cfg, size_t unit, float *host_unit);

/* QAT: the index (in its unit) of the step-size tensor of quantized weight
 * `tensor` of unit `unit`, or -1 when that tensor is not quantized (or cfg
 * has no QAT). */
int llmrt_gpt_tensor_scale(const llmrt_gpt_config *cfg, size_t unit, size_t tensor);

/* Training FLOPs per token for sequences of length T: 6 N + 12 L T C, with N
 * every parameter, embeddings included (PaLM, appendix B). */
double llmrt_gpt_flops_per_token(const llmrt_gpt_config *cfg, int T);

/* Bytes that llmrt_gpt_create(cfg, rt, B, T) allocates under
 * LLMRT_MEM_ACTIVATIONS, exactly (one buffer; formula in docs/model.md: it
 * follows cfg->dtype and includes QAT's two weight-sized fp32 scratch
 * buffers). 0 when the sizes overflow. */
size_t llmrt_gpt_activation_bytes(const llmrt_gpt_config *cfg, int B, int T);

/* --- the model on a runtime --------------------------------------------- */

/* Check cfg, allocate activations for at most B_max sequences of at most
 * T_max (<= context) tokens and build the layout. cfg is copied.
 *
 * Lifetimes: the model frees its activations through the runtime, so
 * destroy the model before the runtime. llmrt_rt_attach_model() copies the
 * layout, so attaching llmrt_gpt_layout(model) is safe. */
int llmrt_gpt_create(llmrt_gpt **out, const llmrt_gpt_config *cfg, llmrt_rt *rt, int B_max,
                     int T_max);
void llmrt_gpt_destroy(llmrt_gpt *model);

const llmrt_gpt_config *llmrt_gpt_get_config(const llmrt_gpt *model);
/* The model's own layout (what llmrt_gpt_layout_build() gives), valid for the
 * model's lifetime: for reading names, offsets and sizes. */
const llmrt_model_layout *llmrt_gpt_layout(const llmrt_gpt *model);

/* Forward over B <= B_max sequences of T <= T_max tokens. inputs and targets
 * are host arrays of B * T int32 (row b, position t at b * T + t); token ids
 * lie in [0, vocab); a negative target ignores its position. targets NULL:
 * logits only, no loss (generation). *mean_loss (when not NULL and targets
 * given) is the mean cross-entropy over the positions that have a target. */
int llmrt_gpt_forward(llmrt_gpt *model, const int32_t *inputs, const int32_t *targets, int B,
                      int T, float *mean_loss);

/* Backward of loss_scale * mean_loss of the last forward (which must have had
 * targets). Adds into the gradient buffers the strategy hands out. Overwrites
 * the logits with their gradient: call llmrt_gpt_logits() before it. */
int llmrt_gpt_backward(llmrt_gpt *model, float loss_scale);

/* Copy the `vocab` logits of sequence b, position t of the last forward into
 * host_row, as fp32 (widened exactly from a 16-bit dtype). */
int llmrt_gpt_logits(llmrt_gpt *model, int b, int t, float *host_row);

#endif
