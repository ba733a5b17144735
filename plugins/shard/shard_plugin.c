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

int llmrt_shard_adamw(const llmrt_strategy_services *svc, const llmrt_optim_step *step,
                      int weight_decay, size_t n, float *params, const float *grads, float *m,
                      float *v)
{
    llmrt_adamw_desc d = {
        .struct_size = sizeof d,
        .n = n,
        .params = params,
        .grads = grads,
        .grad_type = LLMRT_DTYPE_F32,
        .m = m,
        .v = v,
        .lr = step->lr,
        .beta1 = step->beta1,
        .beta2 = step->beta2,
        .eps = step->eps,
        .weight_decay = weight_decay ? step->weight_decay : 0.0f,
        .grad_scale = step->grad_scale,
        .t = step->t,
    };
    return svc->compute->adamw(svc->compute_ctx, &d);
}

int llmrt_shard_param_int(const llmrt_host_api *host, llmrt_params *params, const char *key,
                          long def, long min, long max, const char *help, long *out)
{
    if (params) return host->param_int(params, key, def, min, max, help, out);
    *out = def;
    return LLMRT_OK;
}

static const llmrt_component shard_components[] = {
    {
        .struct_size = sizeof(llmrt_component),
        .kind = LLMRT_KIND_STRATEGY,
        .name = "ddp",
        .description = "data parallel: full replica per rank, gradients allreduced in buckets",
        .probe = NULL,
        .vtable = &llmrt_shard_ddp_vtable,
    },
    {
        .struct_size = sizeof(llmrt_component),
        .kind = LLMRT_KIND_STRATEGY,
        .name = "zero",
        .description = "ZeRO stage 1, 2 or 3: optimizer state, gradients, parameters sharded",
        .probe = NULL,
        .vtable = &llmrt_shard_zero_vtable,
    },
    {
        .struct_size = sizeof(llmrt_component),
        .kind = LLMRT_KIND_STRATEGY,
        .name = "fsdp",
        .description = "fully sharded data parallel: full, grad_op or hybrid sharding per unit",
        .probe = NULL,
        .vtable = &llmrt_shard_fsdp_vtable,
    },
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin llmrt_plugin_v1 = {
    LLMRT_PLUGIN_HEADER(LLMRT_KIND_STRATEGY, "shard", "0.1.0"),
    .n_components = sizeof shard_components / sizeof shard_components[0],
    .components = shard_components,
};
