/* shard.h — what the strategies of the shard plugin share. */
#ifndef LLMRT_SHARD_H
#define LLMRT_SHARD_H

#include <llmrt/llmrt.h>

/* The `ddp` strategy (ddp.c). */
extern const llmrt_strategy_vtable llmrt_shard_ddp_vtable;

/* Offsets of each unit in one flat buffer holding all units back to back,
 * each unit padded to 16 elements (64 bytes) so every unit starts aligned.
 * offsets has n_units + 1 entries; the last is the total. Caller frees with
 * host->host_free. */
size_t *llmrt_shard_unit_offsets(const llmrt_host_api *host, const llmrt_model_layout *layout);

#endif
