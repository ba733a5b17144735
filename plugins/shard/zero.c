/* zero.c — ZeRO (Rajbhandari et al., arXiv 1910.02054) stages 1, 2 and 3 over
 * the sharded engine (sharded.c), which holds all of the logic:
 *   [zero] stage = 1 | 2 | 3       what is sharded (default 1)
 *   [zero] prefetch = N            stage 3: units gathered ahead (default 1)
 * The shard group is the whole job. */
#include "shard.h"

static int zero_opts(const llmrt_host_api *host, llmrt_params *params, llmrt_shard_opts *o)
{
    long stage, prefetch;
    int rc;
    if ((rc = llmrt_shard_param_int(host, params, "stage", 1, 1, 3,
                                    "what is sharded: 1 optimizer state, 2 + gradients, "
                                    "3 + parameters", &stage)) ||
        (rc = llmrt_shard_param_int(host, params, "prefetch", 1, 0, 64,
                                    "stage 3: units whose all-gather starts ahead of use "
                                    "(0: none)", &prefetch)))
        return rc;
    *o = (llmrt_shard_opts){.name = "zero", .stage = (int)stage, .shard_size = 0,
                            .fwd_prefetch = (int)prefetch, .bwd_prefetch = (int)prefetch,
                            .max_inflight = 0};
    return LLMRT_OK;
}

static int zero_create(const llmrt_host_api *host, llmrt_params *params,
                       const llmrt_strategy_services *svc, const llmrt_model_layout *layout,
                       void **ctx)
{
    llmrt_shard_opts o;
    int rc = zero_opts(host, params, &o);
    return rc ? rc : llmrt_sharded_create(host, &o, svc, layout, ctx);
}

static int zero_plan(const llmrt_host_api *host, llmrt_params *params,
                     const llmrt_model_layout *layout, int world_size, int rank,
                     size_t bytes[LLMRT_MEM_CATEGORY_COUNT])
{
    llmrt_shard_opts o;
    int rc = zero_opts(host, params, &o);
    return rc ? rc : llmrt_sharded_plan(host, &o, layout, world_size, rank, bytes);
}

const llmrt_strategy_vtable llmrt_shard_zero_vtable = {
    .struct_size = sizeof(llmrt_strategy_vtable),
    .create = zero_create,
    .plan = zero_plan,
    LLMRT_SHARDED_HOOKS,
};
