/* llmrt/strategy.h — the sharding strategy interface.
 *
 * A strategy decides which rank holds which slice of the parameters,
 * gradients and optimizer state; when to gather, reduce and free; it runs the
 * optimizer step on its local shard and predicts its own memory.
 *
 * The model is described to it as units (the embedding, each transformer
 * block, the final norm/head), each one flat fp32 parameter vector with a
 * fixed tensor order (llmrt_unit_desc). Gradients and optimizer state mirror
 * that layout, so a shard is a contiguous range of a unit's flat vector
 * (ZeRO and FSDP do the same).
 *
 * Rules:
 *  1. A strategy never calls a transport or a device API. It reaches the
 *     compute backend and the collective only through the services table the
 *     core passes to create(): allocation is accounted there, and device
 *     buffers are staged there when the collective cannot take them.
 *  2. The core calls, for every micro-batch m of n_micro in a step:
 *       begin_microbatch(m, n_micro)
 *       forward:  pre_forward(u) ... post_forward(u)  for each unit used
 *       backward: pre_backward(u) ... post_backward(u) exactly once per unit
 *     then, once per step: grad_norm_sq() and optimizer_step().
 *     pre_forward/post_forward pairs may repeat for a unit within one
 *     micro-batch (a tied embedding is used again by the head); backward
 *     pairs may nest (the tied embedding stays open through the backward).
 *  3. The pointer pre_forward() returns holds the unit's full parameters in
 *     the job's parameter dtype and is valid until the matching
 *     post_forward(). pre_backward() returns the parameters and a gradient
 *     buffer of the unit's full size into which the core's backward kernels
 *     accumulate (+=); both are valid until post_backward(). The core zeroes
 *     nothing: the strategy hands out gradient buffers zeroed at the start of
 *     a step and keeps them accumulating across the step's micro-batches.
 *  4. After grad_norm_sq() every rank holds the same global sum of squares of
 *     the averaged gradient (reduced over ranks, counted once per element).
 *  5. optimizer_step() applies AdamW on this rank's shard (weight decay only
 *     on tensors whose decay flag is set), makes the new parameters visible to
 *     the next pre_forward(), and leaves the gradients zeroed for the next step.
 *  6. Gradients are averaged over ranks (the loss is a mean over the global
 *     batch); the core scales its loss for accumulation only.
 *  7. A context is used by one host thread at a time.
 *  8. Mixed precision (ABI 1.1). When param_type is not fp32 the strategy
 *     keeps fp32 master parameters for the range it owns (accounted under
 *     LLMRT_MEM_OPTIMIZER, as the ZeRO paper counts them), steps them, and
 *     writes them into param_type with convert_ex() using param_rounding;
 *     for stochastic rounding the seed is
 *     llmrt_sr_bits(rounding_seed, (t << 20) | unit) with t the AdamW step,
 *     and the offset is the element's index in its unit, so every world size
 *     and strategy writes the same bits. set_state() writes with nearest-even. Gradients are held
 *     in grad_type; when reduce_type differs, the strategy converts them
 *     through a communication buffer around each reduction. get_state() and
 *     set_state() of LLMRT_STATE_PARAMS move the masters.
 *  9. zero_grad() (ABI 1.1) ends a step without stepping: the gradients are
 *     discarded and zeroed, parameters and optimizer state are untouched
 *     (fp16 loss scaling skips a step that overflowed, on every rank).
 * 10. Per-tensor step sizes (ABI 1.3, optional). A strategy that implements
 *     param_sq_sums() fills sums[k], for every tensor k of the layout
 *     (numbered units first, then tensors in order: unit 0's tensors are
 *     0 .. n_tensors - 1, and so on), with the sum of squares of that
 *     tensor's fp32 (master) parameters over the whole tensor, the same on
 *     every rank (a sharded strategy reduces its pieces over the shard
 *     group). It then also honours llmrt_optim_step.lr_scales: when non-NULL,
 *     tensor k steps with lr * lr_scales[k] (AdamW's decoupled decay, which lr
 *     multiplies, included). The core uses both for [train] lr_scale = rms
 *     (Adafactor's relative step size on AdamW) and only with a strategy that
 *     has param_sq_sums.
 */
#ifndef LLMRT_STRATEGY_H
#define LLMRT_STRATEGY_H

#include <llmrt/types.h>
#include <llmrt/host.h>
#include <llmrt/compute.h>
#include <llmrt/collective.h>
#include <llmrt/format.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llmrt_tensor_desc {
    const char *name;   /* the checkpoint name, e.g. "transformer.h.0.attn.c_attn.weight" */
    size_t offset;      /* in elements from the start of the unit's flat vector */
    size_t numel;
    int weight_decay;   /* 1: AdamW decays it (matrices); 0: biases, norms */
} llmrt_tensor_desc;

typedef struct llmrt_unit_desc {
    const char *name;   /* "embedding", "block.3", "head" */
    size_t numel;
    size_t n_tensors;
    const llmrt_tensor_desc *tensors; /* sorted by offset, covering [0, numel) */
} llmrt_unit_desc;

typedef struct llmrt_model_layout {
    size_t struct_size;
    size_t n_units;
    const llmrt_unit_desc *units;
    llmrt_dtype param_type;  /* dtype handed out by pre_forward (fp32 in ABI 1.0 cores) */
    llmrt_dtype grad_type;   /* dtype of the gradient buffers pre_backward hands out */

    /* --- ABI 1.1: mixed precision (rule 8) --- */
    llmrt_dtype reduce_type;     /* dtype of gradient reductions on the wire */
    llmrt_rounding param_rounding; /* how fp32 masters are written into param_type */
    uint64_t rounding_seed;      /* for LLMRT_ROUND_STOCHASTIC */
    int micro_batches;           /* per optimizer step, for plan() (0 or 1: one) */
} llmrt_model_layout;

typedef struct llmrt_optim_step {
    size_t struct_size;
    float lr, beta1, beta2, eps, weight_decay;
    float grad_scale;        /* multiplies the gradient first (clipping, unscaling) */
    int64_t t;               /* AdamW step number, from 1 */

    /* --- ABI 1.3 --- */
    /* Rule 10: a multiplier of lr per tensor of the layout (in the order of
     * param_sq_sums), or NULL for 1 everywhere. Owned by the core, valid for
     * the call. */
    const float *lr_scales;
} llmrt_optim_step;

/* What optimizer/parameter state a checkpoint moves. */
typedef enum llmrt_state_kind {
    LLMRT_STATE_PARAMS = 0,  /* fp32 (master) parameters */
    LLMRT_STATE_ADAM_M = 1,
    LLMRT_STATE_ADAM_V = 2
} llmrt_state_kind;

typedef struct llmrt_rt llmrt_rt; /* the core's runtime, opaque */

/* The core's handles (rule 1). Valid for the strategy context's lifetime. */
typedef struct llmrt_strategy_services {
    size_t struct_size;
    llmrt_rt *rt;
    int rank, world_size;

    /* Device memory of the job's backend, accounted under `category`. */
    int (*alloc)(llmrt_rt *rt, llmrt_mem_category category, size_t bytes, void **ptr);
    void (*free)(llmrt_rt *rt, void *ptr);

    /* The compute backend, for kernels (copy, memset, scale, sum_squares,
     * adamw, ...). The core has checked that every member a strategy may call
     * is present. */
    const llmrt_compute_vtable *compute;
    void *compute_ctx;

    /* Collectives on device buffers; semantics as in collective.h. */
    int (*allreduce)(llmrt_rt *rt, const void *send, void *recv, size_t count,
                     llmrt_dtype dtype, llmrt_reduce_op op, llmrt_work **work);
    int (*reduce_scatter)(llmrt_rt *rt, const void *send, void *recv, size_t recv_count,
                          llmrt_dtype dtype, llmrt_reduce_op op, llmrt_work **work);
    int (*all_gather)(llmrt_rt *rt, const void *send, void *recv, size_t send_count,
                      llmrt_dtype dtype, llmrt_work **work);
    int (*broadcast)(llmrt_rt *rt, void *buf, size_t count, llmrt_dtype dtype, int root,
                     llmrt_work **work);
    /* Waits (with the job's timeout) and releases the handle in all cases. */
    int (*work_wait)(llmrt_rt *rt, llmrt_work *work);

    /* Optional (NULL, or failing with LLMRT_ERR_UNSUPPORTED, when the
     * collective cannot split). Services whose collectives run over the ranks
     * that passed the same `color`, ranked by `key` (MPI_Comm_split); its
     * rank and world_size are within that group, its allocations are
     * accounted with the job's. Collective over every rank. The table lives
     * until the runtime is destroyed (after the strategy). */
    int (*split)(llmrt_rt *rt, int color, int key, const struct llmrt_strategy_services **group);
} llmrt_strategy_services;

typedef struct llmrt_strategy_vtable {
    size_t struct_size;

    /* Allocate the rank's parameters, gradients and optimizer state for
     * `layout` (which stays valid for the context's lifetime). */
    int (*create)(const llmrt_host_api *host, llmrt_params *params,
                  const llmrt_strategy_services *svc, const llmrt_model_layout *layout,
                  void **ctx);
    void (*destroy)(void *ctx);

    /* Predicted bytes per category on `rank` of `world_size` for `layout`,
     * without creating anything (for `llmrt plan`). Activations are the
     * core's; a strategy fills params, grads, optimizer and comm. */
    int (*plan)(const llmrt_host_api *host, llmrt_params *params,
                const llmrt_model_layout *layout, int world_size, int rank,
                size_t bytes[LLMRT_MEM_CATEGORY_COUNT]);

    /* The range [*begin, *end) of unit `unit`'s flat vector whose optimizer
     * state and master parameters this rank owns (ddp: the whole unit). */
    int (*shard_range)(void *ctx, size_t unit, size_t *begin, size_t *end);
    /* Copy this rank's owned range of one kind of state to or from host fp32
     * memory of (end - begin) values (checkpoints, initialisation). Setting
     * PARAMS also refreshes whatever copies the strategy keeps. */
    int (*get_state)(void *ctx, size_t unit, llmrt_state_kind kind, float *host);
    int (*set_state)(void *ctx, size_t unit, llmrt_state_kind kind, const float *host);

    /* Rule 2 and 3. */
    int (*begin_microbatch)(void *ctx, int micro, int n_micro);
    int (*pre_forward)(void *ctx, size_t unit, void **params);
    int (*post_forward)(void *ctx, size_t unit);
    int (*pre_backward)(void *ctx, size_t unit, void **params, void **grads);
    int (*post_backward)(void *ctx, size_t unit);

    /* Rule 4 and 5. */
    int (*grad_norm_sq)(void *ctx, double *norm_sq);
    int (*optimizer_step)(void *ctx, const llmrt_optim_step *step);

    /* --- ABI 1.1 --- */
    /* Rule 9. Called instead of optimizer_step(), after grad_norm_sq(). */
    int (*zero_grad)(void *ctx);

    /* --- ABI 1.3 --- */
    /* Rule 10 (optional: NULL when the strategy does not scale steps per
     * tensor). `sums` has one double per tensor of the layout. Collective over
     * the ranks, like grad_norm_sq(); call it between the last post_backward()
     * of a step and optimizer_step(). */
    int (*param_sq_sums)(void *ctx, double *sums);
} llmrt_strategy_vtable;

#ifdef __cplusplus
}
#endif
#endif /* LLMRT_STRATEGY_H */
