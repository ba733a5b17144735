/* fsdp.c — fully sharded data parallel (PyTorch FSDP's sharding strategies)
 * over the sharded engine (sharded.c), one flat parameter per unit:
 *   [fsdp] sharding = full      parameters, gradients, optimizer state (~ZeRO-3)
 *                   | grad_op   gradients and optimizer state (~ZeRO-2)
 *                   | hybrid    full sharding within groups of shard_size
 *                               ranks, replicated across the groups
 *   [fsdp] shard_size = N       hybrid: ranks per group (divides the world)
 *   [fsdp] forward_prefetch, backward_prefetch = true | false
 *   [fsdp] max_inflight = N     all-gathers in flight at most; with prefetch
 *                               on, also how many units ahead are gathered */
#include <string.h>

#include "shard.h"

static int fsdp_opts(const llmrt_host_api *host, llmrt_params *params, llmrt_shard_opts *o)
{
    const char *sharding = "full";
    long shard_size, max_inflight;
    int fwd = 1, bwd = 1, rc;
    if (params &&
        ((rc = host->param_string(params, "sharding", "full",
                                  "full (params, grads, optimizer state), grad_op (grads and "
                                  "optimizer state) or hybrid (full within shard_size ranks)",
                                  &sharding)) ||
         (rc = host->param_bool(params, "forward_prefetch", 1,
                                "gather the next unit during the forward", &fwd)) ||
         (rc = host->param_bool(params, "backward_prefetch", 1,
                                "gather the next unit during the backward", &bwd))))
        return rc;
    if ((rc = llmrt_shard_param_int(host, params, "shard_size", 1, 1, 1 << 20,
                                    "hybrid: ranks per shard group (divides the world size)",
                                    &shard_size)) ||
        (rc = llmrt_shard_param_int(host, params, "max_inflight", 2, 1, 64,
                                    "all-gathers in flight at most", &max_inflight)))
        return rc;
    int stage, size = 0;
    if (!strcmp(sharding, "full")) stage = 3;
    else if (!strcmp(sharding, "grad_op")) stage = 2;
    else if (!strcmp(sharding, "hybrid")) stage = 3, size = (int)shard_size;
    else
        return host->error(LLMRT_ERR_INVALID,
                           "[fsdp] sharding = %s (accepted: full, grad_op, hybrid)", sharding);
    *o = (llmrt_shard_opts){.name = "fsdp", .stage = stage, .shard_size = size,
                            .fwd_prefetch = fwd ? (int)max_inflight : 0,
                            .bwd_prefetch = bwd ? (int)max_inflight : 0,
                            .max_inflight = (int)max_inflight};
    return LLMRT_OK;
}

static int fsdp_create(const llmrt_host_api *host, llmrt_params *params,
                       const llmrt_strategy_services *svc, const llmrt_model_layout *layout,
                       void **ctx)
{
    llmrt_shard_opts o;
    int rc = fsdp_opts(host, params, &o);
    return rc ? rc : llmrt_sharded_create(host, &o, svc, layout, ctx);
}

static int fsdp_plan(const llmrt_host_api *host, llmrt_params *params,
                     const llmrt_model_layout *layout, int world_size, int rank,
                     size_t bytes[LLMRT_MEM_CATEGORY_COUNT])
{
    llmrt_shard_opts o;
    int rc = fsdp_opts(host, params, &o);
    return rc ? rc : llmrt_sharded_plan(host, &o, layout, world_size, rank, bytes);
}

const llmrt_strategy_vtable llmrt_shard_fsdp_vtable = {
    .struct_size = sizeof(llmrt_strategy_vtable),
    .create = fsdp_create,
    .plan = fsdp_plan,
    LLMRT_SHARDED_HOOKS,
};
