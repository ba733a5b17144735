/* model_rt.h — what gpt.c, bert.c and t5.c do alike around their forward
 * and backward on a runtime: the state every model keeps (llmrt_model_base),
 * checking the backend's kernels and that a strategy is attached, checking
 * and uploading token ids, allocating and carving the one activation buffer,
 * the guards of a forward and a backward, and reading logits back. The
 * model's name ("gpt", "bert", "t5") prefixes every message. */
#ifndef LLMRT_CORE_MODEL_RT_H
#define LLMRT_CORE_MODEL_RT_H

#include <stddef.h>
#include <stdint.h>

#include <llmrt/llmrt.h>

#include "layers.h"

/* Carves buffers out of one allocation (or, with base NULL, only counts):
 * each starts 64-byte aligned; overflow is set (and NULL returned) when the
 * sizes overflow. */
typedef struct llmrt_carver {
    char *base;
    size_t off;
    int overflow;
} llmrt_carver;
void *llmrt_carve(llmrt_carver *cv, size_t count, size_t elem);

/* The token buffers of a batch of a causal or masked LM (gpt, bert), rows =
 * B * T: what goes in, what comes out, and its loss. */
typedef struct llmrt_lm_io {
    void *logits;                          /* [rows, Vp] (dlogits after the backward) */
    float *losses;                         /* [rows] */
    int32_t *inputs, *targets, *positions; /* [rows] token ids, targets, t of each row */
} llmrt_lm_io;
void llmrt_carve_lm_io(llmrt_carver *cv, llmrt_lm_io *io, size_t rows, size_t Vp, size_t es);
/* QAT's two fp32 scratch buffers (llmrt_layers' qat_w, qat_dw) of 4 C^2, the
 * largest quantized weight ([C, 4C] or [4C, C]); NULL without qat. */
void llmrt_carve_qat(llmrt_carver *cv, int qat, size_t C, float **qat_w, float **qat_dw);

/* The part of llmrt_gpt, llmrt_bert and llmrt_t5 they have in common. The
 * model owns it and everything it points to but the runtime and its backend. */
typedef struct llmrt_model_base {
    const char *name;          /* "gpt", "bert" or "t5" */
    llmrt_rt *rt;
    llmrt_layers ly;           /* backend, dtype and sizes the layers use */
    llmrt_model_layout layout; /* the model's own (its *_layout_build()) */
    int B_max, T_max;          /* the largest batch the activations hold */
    void *act_memory;          /* the one LLMRT_MEM_ACTIVATIONS buffer */
    size_t act_bytes;
    int32_t *host_ids;         /* [rows] staging of ids the model makes */
    float *host_losses;        /* [rows] per-row losses */
    /* State of the last forward. */
    int n_targets;             /* positions that had a target */
    int backward_ready;        /* a forward with targets, not yet backpropagated */
    int logits_valid;          /* the logits hold its values (not their gradient) */
} llmrt_model_base;

/* Name, runtime and batch limits; ly is the model's to set
 * (llmrt_layers_init()). Nothing is allocated yet. */
void llmrt_model_base_init(llmrt_model_base *base, const char *name, llmrt_rt *rt, int B_max,
                           int T_max);
/* The limits a model is created for: LLMRT_ERR_INVALID unless B_max >= 1
 * and T_max is in 1 .. context. */
int llmrt_model_check_limits(const char *model, int B_max, int T_max, int context);
/* LLMRT_ERR_INVALID when the activations for B x T overflow (their size,
 * from the model's *_activation_bytes, is 0). */
int llmrt_model_check_act_bytes(const char *model, size_t act_bytes, int B, int T);
/* The host staging of `rows` ids and losses, then the activations:
 * act_bytes of LLMRT_MEM_ACTIVATIONS, zeroed once, so that padding the
 * model never writes (the logits' columns past vocab, bert's token types)
 * stays 0. */
int llmrt_model_base_alloc(llmrt_model_base *base, size_t rows, size_t act_bytes);
/* Releases what llmrt_model_base_alloc() and the layout hold. */
void llmrt_model_base_free(llmrt_model_base *base);

/* The end of a forward that returned rc: on failure the logits and the
 * backward are invalid, and the message says "<name> forward". */
int llmrt_model_forward_done(llmrt_model_base *base, int rc);
/* The guard of a backward: LLMRT_ERR_INVALID unless a forward with targets
 * came since the last backward; then it is taken. */
int llmrt_model_take_backward(llmrt_model_base *base);
/* The end of a backward that returned rc: "<name> backward" on failure. */
int llmrt_model_backward_done(const llmrt_model_base *base, int rc);

/* The cross-entropy of the logits [rows, Vp] against targets (negative: no
 * target), averaged on the host over the base->n_targets positions that
 * have one (fp32 per row whatever the dtype; 0 without targets). */
int llmrt_model_mean_loss(const llmrt_model_base *base, const void *logits,
                          const int32_t *targets, float *losses, int64_t rows, int vocab,
                          float *mean_loss);
/* d(loss_scale * mean loss) / d logits, written over the logits. */
int llmrt_model_dlogits(const llmrt_model_base *base, void *logits, const int32_t *targets,
                        float *losses, int64_t rows, int vocab, float loss_scale);
/* Row (b, t) of the last forward's logits [B * T, Vp] into host_row as
 * fp32, after checking that they are valid and (b, t) lies in B x T
 * (`position` names t in the message: "position", "decoder position"). */
int llmrt_model_logits_row(const llmrt_model_base *base, const void *logits, int vocab, int b,
                           int t, int B, int T, const char *position, float *host_row);

/* A kernel an architecture calls beyond the common ones, and whether the
 * backend has it: LLMRT_KERNEL_NEED(vt, add), or a condition of its own
 * with a name that says why. */
typedef struct llmrt_kernel_need {
    const char *name;
    int present;
} llmrt_kernel_need;
#define LLMRT_KERNEL_NEED(vt, member) {#member, LLMRT_HAS(vt, (vt)->struct_size, member)}

/* LLMRT_ERR_UNSUPPORTED, naming the first kernel missing: those every
 * architecture calls (gemm, norms, attention, softmax_xent, embeddings, copy,
 * memset), with qat the fake-quant pair, then `extra`. */
int llmrt_model_check_backend(const llmrt_model_base *base, int qat,
                              const llmrt_kernel_need *extra, size_t n_extra);

/* LLMRT_ERR_INVALID when no strategy is attached to the runtime yet. */
int llmrt_model_check_attached(const llmrt_model_base *base);

/* LLMRT_ERR_INVALID when B is not in 1 .. B_max or T not in 1 .. T_max. */
int llmrt_model_check_batch(const llmrt_model_base *base, int B, int T);

/* LLMRT_ERR_INVALID, naming `what` ("input", "target", ...), row and
 * position, when one of the n ids (rows of T) is >= vocab, or negative
 * without allow_negative (a negative target ignores its position). */
int llmrt_model_check_ids(const char *model, const char *what, const int32_t *ids, size_t n,
                          int T, int vocab, int allow_negative);

/* A batch of B x T token ids to io after checking them: inputs, and when
 * targets is not NULL the targets (base->n_targets: how many are >= 0; 0
 * without targets). */
int llmrt_model_upload_tokens(llmrt_model_base *base, const llmrt_lm_io *io, int vocab,
                              const int32_t *inputs, const int32_t *targets, int B, int T);
/* Position t of each row (b * T + t) into io->positions, staged in
 * host_ids; only when (B, T) differs from (*pos_B, *pos_T), which it then
 * records. */
int llmrt_model_upload_positions(llmrt_model_base *base, const llmrt_lm_io *io, int B, int T,
                                 int *pos_B, int *pos_T);


#endif
