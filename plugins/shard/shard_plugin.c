/* shard_plugin.c — the descriptor of the `shard` strategy plugin. */
#include "shard.h"

size_t *llmrt_shard_unit_offsets(const llmrt_host_api *host, const llmrt_model_layout *layout)
{
    size_t *off = host->host_alloc((layout->n_units + 1) * sizeof *off, LLMRT_MEM_OTHER);
    if (!off) return NULL;
    off[0] = 0;
    for (size_t u = 0; u < layout->n_units; u++)
        off[u + 1] = off[u] + ((layout->units[u].numel + 15) & ~(size_t)15);
    return off;
}

static const llmrt_component shard_components[] = {{
    .struct_size = sizeof(llmrt_component),
    .kind = LLMRT_KIND_STRATEGY,
    .name = "ddp",
    .description = "data parallel: full replica per rank, gradients allreduced per unit",
    .probe = NULL,
    .vtable = &llmrt_shard_ddp_vtable,
}};

LLMRT_PLUGIN_EXPORT const llmrt_plugin llmrt_plugin_v1 = {
    LLMRT_PLUGIN_HEADER(LLMRT_KIND_STRATEGY, "shard", "0.1.0"),
    .n_components = sizeof shard_components / sizeof shard_components[0],
    .components = shard_components,
};
