/* shard.h — what the strategies of the shard plugin share. */
#ifndef LLMRT_SHARD_H
#define LLMRT_SHARD_H

#include <llmrt/llmrt.h>

/* The strategies (ddp.c, zero.c, fsdp.c). */
extern const llmrt_strategy_vtable llmrt_shard_ddp_vtable;
extern const llmrt_strategy_vtable llmrt_shard_zero_vtable;
extern const llmrt_strategy_vtable llmrt_shard_fsdp_vtable;

/* Offsets of each unit in one flat buffer holding all units back to back,
 * each unit padded to 16 elements (64 bytes) so every unit starts aligned.
 * offsets has n_units + 1 entries; the last is the total. Caller frees with
 * host->host_free. */
size_t *llmrt_shard_unit_offsets(const llmrt_host_api *host, const llmrt_model_layout *layout);

/* AdamW on n elements of one tensor (or the part of it a rank owns), with
 * the step's weight decay only when the tensor's flag asks for it. params,
 * m, v are fp32 (the masters when the job's parameters are not). */
int llmrt_shard_adamw(const llmrt_strategy_services *svc, const llmrt_optim_step *step,
                      int weight_decay, size_t n, float *params, const void *grads,
                      llmrt_dtype grad_type, float *m, float *v);

/* The number of tensors of the layout (the length of param_sq_sums()'s
 * output and of llmrt_optim_step.lr_scales, strategy.h rule 10). */
size_t llmrt_shard_n_tensors(const llmrt_model_layout *layout);

/* The step of tensor k (numbered as in rule 10): *step with lr multiplied by
 * step->lr_scales[k] when the core passed scales (ABI 1.3), else *step. */
llmrt_optim_step llmrt_shard_tensor_step(const llmrt_optim_step *step, size_t k);

/* The dtypes of a job (strategy.h rule 8), read from the layout. */
typedef struct llmrt_shard_types {
    llmrt_dtype param, grad, reduce;
    size_t psz, gsz, rsz;     /* bytes per element */
    int masters;              /* param is not fp32: fp32 masters are kept */
    int wire_convert;         /* reduce differs from grad: convert around reductions */
    int fused_adamw;          /* masters and a backend whose adamw writes params_out
                                 (caps.adamw_params_out): one call steps the masters
                                 and writes the parameters */
    llmrt_rounding rounding;
    uint64_t seed;
} llmrt_shard_types;

/* Fill *t from layout; errors (named after the strategy) for dtypes the
 * strategies cannot hold or a backend without convert_ex when one is needed
 * (not checked when svc is NULL: plan time). */
int llmrt_shard_types_get(const llmrt_host_api *host, const char *strategy,
                          const llmrt_model_layout *layout, const llmrt_strategy_services *svc,
                          llmrt_shard_types *t);
/* dst = src converted (n elements) on the backend. */
int llmrt_shard_convert(const llmrt_strategy_services *svc, void *dst, llmrt_dtype dst_type,
                        const void *src, llmrt_dtype src_type, size_t n);
/* Write n fp32 masters, elements [offset, offset + n) of unit `unit`, into
 * the parameters in t->param with the job's rounding for AdamW step t_step
 * (rule 8; t_step 0: nearest-even, as set_state does). */
int llmrt_shard_write_params(const llmrt_strategy_services *svc, const llmrt_shard_types *t,
                             size_t unit, int64_t t_step, void *params, const float *masters,
                             size_t offset, size_t n);

/* llmrt_shard_adamw on n masters that also writes them, rounded as
 * llmrt_shard_write_params would after step step->t, into params (n values
 * of t->param; offset: the first one's index in unit `unit`). Only when
 * t->fused_adamw; the bits equal adamw then write_params. */
int llmrt_shard_adamw_write(const llmrt_strategy_services *svc, const llmrt_optim_step *step,
                            int weight_decay, size_t n, float *masters, const void *grads,
                            llmrt_dtype grad_type, float *m, float *v,
                            const llmrt_shard_types *t, size_t unit, void *params,
                            size_t offset);

/* Read a parameter, or take its default when params is NULL (plan() is
 * called without a configuration by some callers). */

int llmrt_shard_param_int(const llmrt_host_api *host, llmrt_params *params, const char *key,
                          long def, long min, long max, const char *help, long *out);

/* --- the sharded engine (sharded.c): zero and fsdp are two front-ends of it */

typedef struct llmrt_shard_opts {
    const char *name;   /* component name, for messages */
    int stage;          /* 1: optimizer state, 2: + gradients, 3: + parameters */
    int shard_size;     /* ranks per shard group; 0: the whole job. Less than the
                           world size: hybrid (shard within, replicate across) */
    int fwd_prefetch;   /* stage 3: units gathered ahead in the forward */
    int bwd_prefetch;   /* stage 3: units gathered ahead in the backward */
    int max_inflight;   /* stage 3: all-gathers in flight at most; 0: no limit */
} llmrt_shard_opts;

int llmrt_sharded_create(const llmrt_host_api *host, const llmrt_shard_opts *opts,
                         const llmrt_strategy_services *svc, const llmrt_model_layout *layout,
                         void **ctx);
int llmrt_sharded_plan(const llmrt_host_api *host, const llmrt_shard_opts *opts,
                       const llmrt_model_layout *layout, int world_size, int rank,
                       size_t bytes[LLMRT_MEM_CATEGORY_COUNT]);
/* The vtable members after create and plan, shared by zero and fsdp. */
#define LLMRT_SHARDED_HOOKS                                                     \
    .destroy = llmrt_sharded_destroy, .shard_range = llmrt_sharded_shard_range, \
    .get_state = llmrt_sharded_get_state, .set_state = llmrt_sharded_set_state, \
    .begin_microbatch = llmrt_sharded_begin_microbatch,                         \
    .pre_forward = llmrt_sharded_pre_forward,                                   \
    .post_forward = llmrt_sharded_post_forward,                                 \
    .pre_backward = llmrt_sharded_pre_backward,                                 \
    .post_backward = llmrt_sharded_post_backward,                               \
    .grad_norm_sq = llmrt_sharded_grad_norm_sq,                                 \
    .optimizer_step = llmrt_sharded_optimizer_step,                             \
    .zero_grad = llmrt_sharded_zero_grad,                                       \
    .param_sq_sums = llmrt_sharded_param_sq_sums
void llmrt_sharded_destroy(void *ctx);
int llmrt_sharded_shard_range(void *ctx, size_t unit, size_t *begin, size_t *end);
int llmrt_sharded_get_state(void *ctx, size_t unit, llmrt_state_kind kind, float *host);
int llmrt_sharded_set_state(void *ctx, size_t unit, llmrt_state_kind kind, const float *host);
int llmrt_sharded_begin_microbatch(void *ctx, int micro, int n_micro);
int llmrt_sharded_pre_forward(void *ctx, size_t unit, void **params);
int llmrt_sharded_post_forward(void *ctx, size_t unit);
int llmrt_sharded_pre_backward(void *ctx, size_t unit, void **params, void **grads);
int llmrt_sharded_post_backward(void *ctx, size_t unit);
int llmrt_sharded_grad_norm_sq(void *ctx, double *norm_sq);
int llmrt_sharded_optimizer_step(void *ctx, const llmrt_optim_step *step);
int llmrt_sharded_zero_grad(void *ctx);
int llmrt_sharded_param_sq_sums(void *ctx, double *sums);

/* --- dry runs for plan() (plan_sim.c) -----------------------------------
 * Services that do nothing but count allocations by category, so that plan()
 * replays create() and one training step of the hook order of a decoder with
 * a tied embedding (core/gpt.c) and reports the peaks: the prediction is the
 * code that runs, not a second formula. */
typedef struct llmrt_shard_sim llmrt_shard_sim;
int llmrt_shard_sim_new(const llmrt_host_api *host, int rank, int world_size,
                        llmrt_shard_sim **sim, const llmrt_strategy_services **svc);
/* Services of a group of `world_size` ranks in which this rank is `rank`. */
const llmrt_strategy_services *llmrt_shard_sim_group(const llmrt_strategy_services *svc,
                                                     int rank, int world_size);
int llmrt_shard_sim_is(const llmrt_strategy_services *svc);
/* Replay the hooks of one step of n_micro micro-batches (forward then
 * backward, as core/gpt.c calls them) on a created strategy context. */
int llmrt_shard_sim_step(const llmrt_strategy_vtable *vt, void *ctx, size_t n_units,
                         int n_micro);
/* The micro-batches per step the layout declares (ABI 1.1), at least 1. */
int llmrt_shard_micro_batches(const llmrt_model_layout *layout);
void llmrt_shard_sim_peaks(const llmrt_shard_sim *sim, size_t bytes[LLMRT_MEM_CATEGORY_COUNT]);
void llmrt_shard_sim_free(llmrt_shard_sim *sim);

#endif
