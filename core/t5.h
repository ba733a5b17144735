/* t5.h — the encoder-decoder transformer (Hugging Face
 * T5ForConditionalGeneration layout): parameter layout, initialisation, and
 * forward/backward written out over the compute backend, as gpt.h and bert.h
 * do for the decoder-only and encoder-only models.
 *
 * Parameters live in units (strategy.h), one flat vector each, tensors in a
 * fixed order with HF names. Linear weights are nn.Linear [out, in] and have
 * no bias; norms are T5's RMS LayerNorm (a weight, no bias). C = dim,
 * F = d_ff, H = heads, NB = relative_attention_num_buckets, d_kv = C / H:
 *
 *   unit 0             "embedding"        shared.weight [vocab, C]
 *   unit 1 + l         "encoder.block.l"  encoder.block.l. +
 *                         layer.0.SelfAttention.q.weight, k, v, o [C, C]
 *                         layer.0.SelfAttention.relative_attention_bias.weight [NB, H]
 *                                                                   (block 0 only)
 *                         layer.0.layer_norm.weight [C]
 *                         layer.1.DenseReluDense.wi.weight [F, C]      (ff = relu)
 *                           or .wi_0.weight [F, C], .wi_1.weight [F, C] (ff = gated-gelu)
 *                         layer.1.DenseReluDense.wo.weight [C, F]
 *                         layer.1.layer_norm.weight [C]
 *   unit L + 1         "encoder.final"    encoder.final_layer_norm.weight [C]
 *   unit L + 2 + l     "decoder.block.l"  decoder.block.l. +
 *                         layer.0.SelfAttention.{q,k,v,o}.weight [C, C]
 *                         layer.0.SelfAttention.relative_attention_bias.weight (block 0)
 *                         layer.0.layer_norm.weight [C]
 *                         layer.1.EncDecAttention.{q,k,v,o}.weight [C, C]
 *                         layer.1.layer_norm.weight [C]
 *                         layer.2.DenseReluDense.{wi | wi_0, wi_1}, wo; layer.2.layer_norm
 *   last unit          "head"             decoder.final_layer_norm.weight [C]
 *                                         lm_head.weight [vocab, C] (untied only)
 *
 * q, k and v of a self-attention are adjacent, so they are one [3C, C]
 * matrix (one gemm); k and v of a cross-attention are one [2C, C] matrix
 * applied to the encoder output. HF's encoder.embed_tokens.weight and
 * decoder.embed_tokens.weight are shared.weight and are not stored; nor is
 * lm_head.weight when tied.
 *
 * Math (HF T5, no dropout, every sequence full length so no padding mask):
 *   norm(x)   = w * x / sqrt(mean(x^2) + 1e-6), the mean in fp32
 *   attention: softmax(q k^T + bias) v, no 1/sqrt(d_kv) scaling; bias is the
 *              relative position bias of the stack's block 0,
 *              W[bucket(j - i), h], bidirectional in the encoder, causal in
 *              the decoder (HF's _relative_position_bucket); cross-attention
 *              has none
 *   ff(x)     = wo(relu(wi x))  or  wo(gelu_tanh(wi_0 x) * wi_1 x)  (v1.1)
 *   encoder:   x = shared[in]; per block x += o(att(norm0 x)); x += ff(norm1 x);
 *              enc = final_norm(x)
 *   decoder:   y = shared[dec_in]; per block y += o(causal_att(norm0 y));
 *              y += o'(att(q' norm1 y, kv' enc)); y += ff(norm2 y)
 *   logits    = final_norm(y) * C^-0.5 @ shared^T   (tied)
 *               final_norm(y) @ lm_head^T           (untied)
 * int8 QAT (qat = 1, fp32 only), as bert.h: every linear weight of the
 * blocks (self-attention q, k, v, o; cross-attention q, k, v, o; wi or
 * wi_0, wi_1, and wo) is fake-quantized per output row ([out, in], axis 0)
 * with learned LSQ step sizes NAME_scale [out] (fp32, no weight decay),
 * which follow the block's plain tensors in the weights' order (q, k, v's
 * form one [3C] vector, the cross k, v's one [2C]). shared.weight, the
 * relative position bias, the norms and lm_head stay unquantized, like
 * gpt's and bert's embeddings and heads.
 * The decoder input is the target shifted right by one with PAD (the
 * decoder start token, core/span.h) in front; the loss is the mean
 * cross-entropy over the target positions >= 0. */
#ifndef LLMRT_CORE_T5_H
#define LLMRT_CORE_T5_H

#include <stddef.h>
#include <stdint.h>

#include <llmrt/llmrt.h>

/* The RMS norm's epsilon (HF T5Config.layer_norm_epsilon) and the GELU of
 * the gated feed-forward (tanh: HF's "gated-gelu" means "gelu_new"). Named
 * once, as gpt.h's, for config.json (hf_config.c). */
#define LLMRT_T5_RMS_EPS 1e-6
#define LLMRT_T5_GELU LLMRT_GELU_TANH

typedef enum llmrt_t5_ff {
    LLMRT_T5_FF_RELU = 0,      /* T5 1.0: DenseReluDense wi, wo        */
    LLMRT_T5_FF_GATED_GELU = 1 /* T5 v1.1: wi_0 (GELU tanh) * wi_1, wo */
} llmrt_t5_ff;

typedef struct llmrt_t5_config {
    int layers;          /* encoder blocks                                   */
    int decoder_layers;  /* decoder blocks                                   */
    int heads, dim;      /* d_kv = dim / heads                               */
    int d_ff;            /* feed-forward width                               */
    int context;         /* longest encoder input                            */
    int decoder_context; /* longest decoder input (= target length)          */
    int vocab;
    llmrt_t5_ff ff;
    int tie_embeddings;  /* 1: lm_head is shared.weight, scaled by dim^-0.5  */
    int num_buckets;     /* relative_attention_num_buckets (32)              */
    int max_distance;    /* relative_attention_max_distance (128)            */
    llmrt_dtype dtype;   /* parameters, gradients and activations: f32, bf16 or f16 */
    int qat;             /* 1: LSQ fake quantization of the blocks' linear weights (f32) */
} llmrt_t5_config;

typedef struct llmrt_t5 llmrt_t5;

int llmrt_t5_config_check(const llmrt_t5_config *cfg);

/* HF's _relative_position_bucket for one relative position (key - query). */
int llmrt_t5_relative_bucket(int relative_position, int bidirectional, int num_buckets,
                             int max_distance);

/* Units: layers + decoder_layers + 3. */
size_t llmrt_t5_n_units(const llmrt_t5_config *cfg);
size_t llmrt_t5_n_params(const llmrt_t5_config *cfg);
/* As llmrt_gpt_layout_build / _free / _tensor_shape. */
int llmrt_t5_layout_build(const llmrt_t5_config *cfg, llmrt_model_layout *layout);
void llmrt_t5_layout_free(llmrt_model_layout *layout);
int llmrt_t5_tensor_shape(const llmrt_t5_config *cfg, size_t unit, size_t tensor,
                          int64_t dims[2]);
/* HF's T5 initialisation (factor 1): shared and lm_head N(0, 1); q
 * N(0, (C d_kv)^-0.5); k, v, o, wi*, relative_attention_bias N(0, C^-0.5);
 * wo N(0, F^-0.5); norms 1; one stream per (seed, unit); with QAT the step
 * sizes from those weights (the same draws as without). */
void llmrt_t5_init_unit(const llmrt_t5_config *cfg, size_t unit, uint64_t seed,
                        float *host_params);
/* QAT: the step sizes of `unit` (host fp32, the unit's weights already in
 * their places) from its weights, LSQ's init 2 mean_j |w[r, j]| / sqrt(qmax)
 * per output row (core/qat.h); units without step sizes are left as they
 * are. LLMRT_ERR_INVALID without qat or for no such unit. */
int llmrt_t5_qat_init_scales(const llmrt_t5_config *cfg, size_t unit, float *host_unit);
/* QAT: the index (in its unit) of the step sizes of tensor `tensor`, or -1. */
int llmrt_t5_tensor_scale(const llmrt_t5_config *cfg, size_t unit, size_t tensor);
/* Training FLOPs per encoder token (6 per parameter-multiply, plus the
 * attention products), counting the decoder's decoder_context / context
 * share of tokens. */
double llmrt_t5_flops_per_token(const llmrt_t5_config *cfg, int T);
/* Bytes llmrt_t5_create(cfg, rt, B, T) allocates as activations, exactly. */
size_t llmrt_t5_activation_bytes(const llmrt_t5_config *cfg, int B, int T);

/* The model on a runtime: the contract of llmrt_gpt_create and friends,
 * with an encoder input of up to T_max tokens and a decoder input of up to
 * cfg->decoder_context tokens. */
int llmrt_t5_create(llmrt_t5 **out, const llmrt_t5_config *cfg, llmrt_rt *rt, int B_max,
                    int T_max);
void llmrt_t5_destroy(llmrt_t5 *model);
const llmrt_t5_config *llmrt_t5_get_config(const llmrt_t5 *model);
const llmrt_model_layout *llmrt_t5_layout(const llmrt_t5 *model);
/* Encoder input [B, T_enc], decoder input [B, T_dec], targets [B, T_dec]
 * (NULL: no loss; -1: no loss at that position). */
int llmrt_t5_forward(llmrt_t5 *model, const int32_t *enc_inputs, int T_enc,
                     const int32_t *dec_inputs, const int32_t *targets, int T_dec, int B,
                     float *mean_loss);
/* The model seam's forward (model.h): inputs [B, T] to the encoder, targets
 * [B, decoder_context]; the decoder input is the targets shifted right with
 * PAD in front (negative targets read as PAD). */
int llmrt_t5_forward_targets(llmrt_t5 *model, const int32_t *inputs, const int32_t *targets,
                             int B, int T, float *mean_loss);
int llmrt_t5_backward(llmrt_t5 *model, float loss_scale);
/* The logits of decoder position t of row b after a forward. */
int llmrt_t5_logits(llmrt_t5 *model, int b, int t, float *host_row);

#endif
