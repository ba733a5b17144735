/* shard_plugin.c — the descriptor of the `shard` strategy plugin. */
#include <stddef.h>
#include <string.h>

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

static llmrt_adamw_desc adamw_desc(const llmrt_optim_step *step, int weight_decay, size_t n,
                                   float *params, const void *grads, llmrt_dtype grad_type,
                                   float *m, float *v)
{
    return (llmrt_adamw_desc){
        .struct_size = sizeof(llmrt_adamw_desc),
        .n = n,
        .params = params,
        .grads = grads,
        .grad_type = grad_type,
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
}

size_t llmrt_shard_n_tensors(const llmrt_model_layout *layout)
{
    size_t n = 0;
    for (size_t u = 0; u < layout->n_units; u++) n += layout->units[u].n_tensors;
    return n;
}

llmrt_optim_step llmrt_shard_tensor_step(const llmrt_optim_step *step, size_t k)
{
    llmrt_optim_step s = *step;
    if (step->struct_size >= offsetof(llmrt_optim_step, lr_scales) + sizeof step->lr_scales &&
        step->lr_scales)
        s.lr = step->lr * step->lr_scales[k];
    return s;
}

int llmrt_shard_adamw(const llmrt_strategy_services *svc, const llmrt_optim_step *step,
                      int weight_decay, size_t n, float *params, const void *grads,
                      llmrt_dtype grad_type, float *m, float *v)
{
    llmrt_adamw_desc d = adamw_desc(step, weight_decay, n, params, grads, grad_type, m, v);
    return svc->compute->adamw(svc->compute_ctx, &d);
}

/* Rule 8's rounding of the parameters written after AdamW step t_step. */
static void param_rounding(const llmrt_shard_types *t, size_t unit, int64_t t_step,
                           llmrt_rounding *rounding, uint64_t *seed)
{
    *rounding = t_step > 0 ? t->rounding : LLMRT_ROUND_NEAREST_EVEN;
    *seed = llmrt_sr_bits(t->seed, ((uint64_t)t_step << 20) | (uint64_t)unit);
}

int llmrt_shard_adamw_write(const llmrt_strategy_services *svc, const llmrt_optim_step *step,
                            int weight_decay, size_t n, float *masters, const void *grads,
                            llmrt_dtype grad_type, float *m, float *v,
                            const llmrt_shard_types *t, size_t unit, void *params,
                            size_t offset)
{
    llmrt_adamw_desc d = adamw_desc(step, weight_decay, n, masters, grads, grad_type, m, v);
    d.params_out = params;
    d.params_out_type = t->param;
    d.offset = offset;
    param_rounding(t, unit, step->t, &d.rounding, &d.seed);
    return svc->compute->adamw(svc->compute_ctx, &d);
}

/* 1 when the backend advertises adamw params_out (ABI 1.2); caps members the
 * backend does not write stay 0. */
static int backend_fuses_adamw(const llmrt_strategy_services *svc, int *fused)
{
    *fused = 0;
    const llmrt_compute_vtable *vt = svc->compute;
    if (!LLMRT_HAS(vt, vt->struct_size, get_caps)) return LLMRT_OK;
    llmrt_compute_caps caps;
    memset(&caps, 0, sizeof caps);
    caps.struct_size = sizeof caps;
    int rc = vt->get_caps(svc->compute_ctx, &caps);
    if (rc) return rc;
    *fused = caps.adamw_params_out != 0;
    return LLMRT_OK;
}

static int float_type(llmrt_dtype t)
{
    return t == LLMRT_DTYPE_F32 || t == LLMRT_DTYPE_BF16 || t == LLMRT_DTYPE_F16;
}

static const char *type_name(llmrt_dtype t)
{
    static const char *const names[] = {"f32", "f16", "bf16", "i8", "i32", "u16", "u8", "f64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

int llmrt_shard_types_get(const llmrt_host_api *host, const char *strategy,
                          const llmrt_model_layout *layout, const llmrt_strategy_services *svc,
                          llmrt_shard_types *t)
{
    memset(t, 0, sizeof *t);
    t->param = layout->param_type;
    t->grad = layout->grad_type;
    t->reduce = t->grad;
    t->rounding = LLMRT_ROUND_NEAREST_EVEN;
    if (layout->struct_size >= offsetof(llmrt_model_layout, rounding_seed) + sizeof(uint64_t)) {
        t->reduce = layout->reduce_type;
        t->rounding = layout->param_rounding;
        t->seed = layout->rounding_seed;
    }
    if (!float_type(t->param) || !float_type(t->grad) || !float_type(t->reduce))
        return host->error(LLMRT_ERR_UNSUPPORTED,
                           "%s: parameters %s, gradients %s, reduced as %s: each must be f32, "
                           "bf16 or f16",
                           strategy, type_name(t->param), type_name(t->grad),
                           type_name(t->reduce));
    t->psz = llmrt_dtype_size(t->param);
    t->gsz = llmrt_dtype_size(t->grad);
    t->rsz = llmrt_dtype_size(t->reduce);
    t->masters = t->param != LLMRT_DTYPE_F32;
    t->wire_convert = t->reduce != t->grad;
    if ((t->masters || t->wire_convert) && svc &&
        !LLMRT_HAS(svc->compute, svc->compute->struct_size, convert_ex))
        return host->error(LLMRT_ERR_UNSUPPORTED,
                           "%s: %s parameters or %s reductions need the backend's convert_ex "
                           "(ABI 1.1), which it lacks",
                           strategy, type_name(t->param), type_name(t->reduce));
    if (t->masters && svc) return backend_fuses_adamw(svc, &t->fused_adamw);
    return LLMRT_OK;
}

static int convert_call(const llmrt_strategy_services *svc, void *dst, llmrt_dtype dst_type,
                        const void *src, llmrt_dtype src_type, size_t n,
                        llmrt_rounding rounding, uint64_t seed, uint64_t offset)
{
    if (!n) return LLMRT_OK;
    llmrt_convert_desc d = {
        .struct_size = sizeof d,
        .rows = 1, .cols = (int64_t)n,
        .dst = dst, .dst_type = dst_type,
        .src = src, .src_type = src_type,
        .rounding = rounding, .seed = seed, .offset = offset,
        .axis = -1,
    };
    return svc->compute->convert_ex(svc->compute_ctx, &d);
}

int llmrt_shard_convert(const llmrt_strategy_services *svc, void *dst, llmrt_dtype dst_type,
                        const void *src, llmrt_dtype src_type, size_t n)
{
    return convert_call(svc, dst, dst_type, src, src_type, n, LLMRT_ROUND_NEAREST_EVEN, 0, 0);
}

int llmrt_shard_write_params(const llmrt_strategy_services *svc, const llmrt_shard_types *t,
                             size_t unit, int64_t t_step, void *params, const float *masters,
                             size_t offset, size_t n)
{
    llmrt_rounding r;
    uint64_t seed;
    param_rounding(t, unit, t_step, &r, &seed);
    return convert_call(svc, params, t->param, masters, LLMRT_DTYPE_F32, n, r, seed, offset);
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
