/* bert.h — the encoder-only transformer (Hugging Face BertForMaskedLM layout):
 * parameter layout, initialisation, and forward/backward written out over the
 * compute backend, as gpt.h does for the decoder.
 *
 * Parameters live in units (strategy.h), one flat vector each, tensors in a
 * fixed order with HF BertForMaskedLM names. Linear weights are nn.Linear
 * [out, in] (the gemm's trans flags do the transposing; storage is HF's):
 *
 *   unit 0      "embedding"  bert.embeddings.word_embeddings.weight [vocab, C]
 *                            bert.embeddings.position_embeddings.weight [context, C]
 *                            bert.embeddings.token_type_embeddings.weight [2, C]
 *                            bert.embeddings.LayerNorm.weight [C], .bias [C]
 *   unit 1 + l  "block.l"    bert.encoder.layer.l. +
 *                            attention.self.query.weight [C, C]
 *                            attention.self.key.weight [C, C]
 *                            attention.self.value.weight [C, C]
 *                            attention.self.query.bias [C], key.bias [C], value.bias [C]
 *                            attention.output.dense.weight [C, C], .bias [C]
 *                            attention.output.LayerNorm.weight [C], .bias [C]
 *                            intermediate.dense.weight [4C, C], .bias [4C]
 *                            output.dense.weight [C, 4C], .bias [C]
 *                            output.LayerNorm.weight [C], .bias [C]
 *                            with QAT, then the step sizes (one per output row):
 *                            attention.self.query.weight_scale [C], key.. [C],
 *                            value.. [C], attention.output.dense.weight_scale [C],
 *                            intermediate.dense.weight_scale [4C],
 *                            output.dense.weight_scale [C]
 *   unit L + 1  "head"       cls.predictions.transform.dense.weight [C, C], .bias [C]
 *                            cls.predictions.transform.LayerNorm.weight [C], .bias [C]
 *                            cls.predictions.bias [vocab]
 *
 * The query, key and value weights are adjacent, so together they are one
 * [3C, C] matrix (and their biases one [3C] vector): one gemm makes q | k | v.
 * The MLM decoder is tied to the word embeddings (logits = h @ word^T + bias);
 * HF's cls.predictions.decoder.weight/.bias are that tie and are not stored.
 *
 * Math (HF BERT, post-LayerNorm, eps 1e-12, GELU erf, token type 0 for every
 * position, no attention mask: every sequence is full length):
 *   x = LN(word[ids] + pos[t] + type[0])
 *   per layer: a = LN(x + dense(attention(qkv(x))));  x = LN(a + out(gelu(inter(a))))
 *   logits = LN(gelu(transform(x))) @ word^T + bias
 *
 * int8 QAT (qat = 1, fp32 only): the four linear layers of every block are
 * fake-quantized per output channel (a row of [out, in]: axis 0) with
 * learned LSQ step sizes, the rule of core/qat.h and gpt.c; embeddings and
 * the MLM head stay fp32.
 *
 * Not supported (yet): attention padding masks, token types other than 0. */
#ifndef LLMRT_CORE_BERT_H
#define LLMRT_CORE_BERT_H

#include <stddef.h>
#include <stdint.h>

#include <llmrt/llmrt.h>

/* The LayerNorm epsilon (HF BertConfig.layer_norm_eps) of every LayerNorm,
 * and the GELU of the intermediate layer and the MLM head (erf: HF
 * hidden_act "gelu"). Named once, as gpt.h's, for config.json (hf_config.c). */
#define LLMRT_BERT_LN_EPS 1e-12
#define LLMRT_BERT_GELU LLMRT_GELU_ERF

typedef struct llmrt_bert_config {
    int layers, heads, dim, context, vocab; /* as llmrt_gpt_config */
    llmrt_dtype dtype; /* parameters, gradients and activations: f32, bf16 or f16 */
    int qat;           /* 1: LSQ fake quantization of the blocks' linear weights (f32) */
} llmrt_bert_config;

enum { LLMRT_BERT_TYPE_VOCAB = 2 };

typedef struct llmrt_bert llmrt_bert;

int llmrt_bert_config_check(const llmrt_bert_config *cfg);

/* Units: layers + 2 (embedding, blocks, head). */
size_t llmrt_bert_n_units(const llmrt_bert_config *cfg);
size_t llmrt_bert_n_params(const llmrt_bert_config *cfg);
/* As llmrt_gpt_layout_build / _free / _tensor_shape. */
int llmrt_bert_layout_build(const llmrt_bert_config *cfg, llmrt_model_layout *layout);
void llmrt_bert_layout_free(llmrt_model_layout *layout);
int llmrt_bert_tensor_shape(const llmrt_bert_config *cfg, size_t unit, size_t tensor,
                            int64_t dims[2]);
/* BERT initialisation: matrices and embeddings N(0, 0.02), biases 0,
 * LayerNorm weight 1, bias 0; one stream per (seed, unit). */
void llmrt_bert_init_unit(const llmrt_bert_config *cfg, size_t unit, uint64_t seed,
                          float *host_params);
/* QAT: set every step size of unit `unit` (host fp32, the unit's numel
 * values) from its weights, LSQ's init 2 mean_j |w[r, j]| / sqrt(qmax) per
 * output row (core/qat.h). Units without step sizes are left as they are;
 * LLMRT_ERR_INVALID without QAT or for a unit that does not exist. */
int llmrt_bert_qat_init_scales(const llmrt_bert_config *cfg, size_t unit, float *host_unit);
/* QAT: the index (in its unit) of the step-size tensor of quantized weight
 * `tensor` of unit `unit`, or -1 (not a quantized weight, or no QAT). */
int llmrt_bert_tensor_scale(const llmrt_bert_config *cfg, size_t unit, size_t tensor);
/* 6 N + 12 L T C (the head's matmul is in N through the tied embedding). */
double llmrt_bert_flops_per_token(const llmrt_bert_config *cfg, int T);
/* Bytes llmrt_bert_create(cfg, rt, B, T) allocates as activations, exactly. */
size_t llmrt_bert_activation_bytes(const llmrt_bert_config *cfg, int B, int T);

/* The model on a runtime: the same contract as llmrt_gpt_create / destroy /
 * forward / backward / logits (gpt.h), with bidirectional attention. For the
 * MLM objective targets are -1 except at the chosen positions (core/mlm.h). */
int llmrt_bert_create(llmrt_bert **out, const llmrt_bert_config *cfg, llmrt_rt *rt, int B_max,
                      int T_max);
void llmrt_bert_destroy(llmrt_bert *model);
const llmrt_bert_config *llmrt_bert_get_config(const llmrt_bert *model);
const llmrt_model_layout *llmrt_bert_layout(const llmrt_bert *model);
int llmrt_bert_forward(llmrt_bert *model, const int32_t *inputs, const int32_t *targets, int B,
                       int T, float *mean_loss);
int llmrt_bert_backward(llmrt_bert *model, float loss_scale);
int llmrt_bert_logits(llmrt_bert *model, int b, int t, float *host_row);

#endif
