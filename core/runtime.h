/* runtime.h — one job's plugins, wired together.
 *
 * The runtime owns the compute backend, the collective and the sharding
 * strategy chosen by [runtime] in the configuration, counts every device
 * allocation by category, and forwards the model's per-unit hooks to the
 * strategy. The model and the training loop see plugins only through it.
 *
 * Ownership: llmrt_rt_create() borrows the config (it must outlive the
 * runtime); llmrt_rt_attach_model() copies the layout (the strategy uses
 * the copy until the runtime is destroyed, after the model may be gone). Buffers from
 * llmrt_rt_alloc() are the caller's until llmrt_rt_free(). */
#ifndef LLMRT_CORE_RUNTIME_H
#define LLMRT_CORE_RUNTIME_H

#include <llmrt/llmrt.h>
#include "config.h"

/* A compute backend as the core holds it. */
typedef struct llmrt_backend {
    const llmrt_compute_vtable *vt;
    void *ctx;
} llmrt_backend;

/* Reads [runtime] backend, collective, strategy, format, plugin_path; loads
 * and creates the backend and the collective. */
int llmrt_rt_create(llmrt_rt **out, llmrt_config *cfg);
/* Creates the strategy for `layout`. Call once, after llmrt_rt_create(). */
int llmrt_rt_attach_model(llmrt_rt *rt, const llmrt_model_layout *layout);
void llmrt_rt_destroy(llmrt_rt *rt);

llmrt_backend llmrt_rt_backend(const llmrt_rt *rt);
/* The job's mixed-precision policy ([runtime] format, [precision]). */
const struct llmrt_precision *llmrt_rt_precision(const llmrt_rt *rt);
const llmrt_compute_caps *llmrt_rt_compute_caps(const llmrt_rt *rt);
int llmrt_rt_rank(const llmrt_rt *rt);
int llmrt_rt_world_size(const llmrt_rt *rt);
const char *llmrt_rt_component_name(const llmrt_rt *rt, llmrt_plugin_kind kind);

/* Device memory, accounted by category. */
int llmrt_rt_alloc(llmrt_rt *rt, llmrt_mem_category category, size_t bytes, void **ptr);
void llmrt_rt_free(llmrt_rt *rt, void *ptr);
size_t llmrt_rt_mem_current(const llmrt_rt *rt, llmrt_mem_category category);
size_t llmrt_rt_mem_peak(const llmrt_rt *rt, llmrt_mem_category category);
/* Host <-> device copies on the compute stream (synchronous for to_host). */
int llmrt_rt_upload(llmrt_rt *rt, void *dst, const void *host_src, size_t bytes);
int llmrt_rt_download(llmrt_rt *rt, void *host_dst, const void *src, size_t bytes);

/* The strategy, as strategy.h describes (rules 2-5 there). */
const llmrt_strategy_vtable *llmrt_rt_strategy(const llmrt_rt *rt, void **ctx);
int llmrt_rt_begin_microbatch(llmrt_rt *rt, int micro, int n_micro);
int llmrt_rt_pre_forward(llmrt_rt *rt, size_t unit, void **params);
int llmrt_rt_post_forward(llmrt_rt *rt, size_t unit);
int llmrt_rt_pre_backward(llmrt_rt *rt, size_t unit, void **params, void **grads);
int llmrt_rt_post_backward(llmrt_rt *rt, size_t unit);

/* Bytes the strategy's collectives have moved on this rank so far, in the
 * ZeRO paper's accounting (allreduce 2n, reduce-scatter/all-gather n). */
uint64_t llmrt_rt_comm_bytes(const llmrt_rt *rt);

/* Host-side collectives for small values (losses, flags), on every rank. */
int llmrt_rt_allreduce_host(llmrt_rt *rt, double *values, size_t n, llmrt_reduce_op op);

#endif
