/* runtime.c — loads the job's compute backend, collective and strategy by
 * name, accounts device memory, and lends the strategy its services. */
#include "runtime.h"

#include <stdlib.h>
#include <string.h>

#include "coll_staging.h"
#include "error.h"
#include "host_api.h"
#include "loader.h"
#include "precision.h"
#include "registry.h"

typedef struct rt_allocation {
    void *ptr;
    size_t bytes;
    llmrt_mem_category category;
} rt_allocation;

struct llmrt_rt {
    llmrt_config *cfg;
    const llmrt_host_api *host;

    const char *names[5];  /* component names by llmrt_plugin_kind */
    const char *files[5];  /* and the files they came from */

    llmrt_backend backend;
    llmrt_compute_caps compute_caps;

    const llmrt_collective_vtable *coll_vt;
    void *coll_ctx;
    llmrt_collective_caps coll_caps;
    double timeout_s;

    llmrt_precision precision;

    const llmrt_strategy_vtable *strat_vt;
    void *strat_ctx;
    llmrt_model_layout layout; /* the runtime's own copy: it outlives the model */
    void *layout_storage;
    llmrt_strategy_services services;

    rt_allocation *allocs;
    size_t n_allocs, cap_allocs;
    size_t mem_current[LLMRT_MEM_CATEGORY_COUNT];
    size_t mem_peak[LLMRT_MEM_CATEGORY_COUNT];

    /* Collectives staged through pinned host memory ([runtime]
     * stage_collectives; coll_staging.h), or NULL: the collective takes the
     * backend's buffers. On the job's runtime; its groups use it. */
    llmrt_staging *staging;

    double *host_scratch;  /* device buffer for llmrt_rt_allreduce_host */
    size_t host_scratch_n;

    /* A group made by the services' split(): it shares everything with its
     * parent but the collective context. */
    llmrt_rt *parent;
    llmrt_rt **groups;
    size_t n_groups;

    /* Bytes moved by the strategy's collectives, counted the way the ZeRO
     * paper counts volume: an allreduce of n bytes is 2n (a reduce-scatter
     * plus an all-gather), a reduce-scatter or all-gather over n bytes of
     * full buffer is n, a broadcast n. Kept on the job's runtime. */
    uint64_t comm_bytes;
};

static void count_comm(llmrt_rt *rt, size_t count, llmrt_dtype dtype, double factor)
{
    llmrt_rt *root = rt->parent ? rt->parent : rt;
    root->comm_bytes += (uint64_t)((double)count * (double)llmrt_dtype_size(dtype) * factor);
}

uint64_t llmrt_rt_comm_bytes(const llmrt_rt *rt)
{
    return rt->parent ? rt->parent->comm_bytes : rt->comm_bytes;
}

static const char *const kind_sections[] = {NULL, "backend", "collective", "strategy", "format"};

/* Find component `name` of `kind`, remember where it came from. */
static int find_component(llmrt_rt *rt, llmrt_plugin_kind kind, const char *name,
                          const llmrt_component **comp)
{
    const char *file = NULL;
    int rc = llmrt_registry_find(kind, name, comp, &file);
    if (rc) return llmrt_error_prefix(rc, "[runtime] %s = %s", kind_sections[kind], name);
    rt->names[kind] = (*comp)->name;
    rt->files[kind] = file ? file : "(built in)";
    return LLMRT_OK;
}

static int init_failed(llmrt_rt *rt, llmrt_plugin_kind kind, int rc)
{
    return llmrt_loader_init_failed(rc, kind, rt->names[kind], rt->files[kind]);
}

/* Every plugin reads its own section; keys it did not declare are errors. */
static int check_plugin_section(llmrt_rt *rt, const char *section)
{
    return llmrt_config_check_unknown(rt->cfg, section);
}

/* --- services lent to the strategy --------------------------------------- */

static int svc_alloc(llmrt_rt *rt, llmrt_mem_category category, size_t bytes, void **ptr)
{
    return llmrt_rt_alloc(rt, category, bytes, ptr);
}

static void svc_free(llmrt_rt *rt, void *ptr) { llmrt_rt_free(rt, ptr); }

/* The backend's native compute stream for transports that enqueue on it. */
static void *compute_stream(llmrt_rt *rt)
{
    return LLMRT_HAS(rt->backend.vt, rt->backend.vt->struct_size, stream_native)
               ? rt->backend.vt->stream_native(rt->backend.ctx, NULL)
               : NULL;
}

/* The staging pool of the job (a group's is its parent's), or NULL. */
static llmrt_staging *staging_of(llmrt_rt *rt)
{
    return rt->parent ? rt->parent->staging : rt->staging;
}

static llmrt_staging_coll staged_coll(const llmrt_rt *rt)
{
    return (llmrt_staging_coll){rt->coll_vt, rt->coll_ctx, rt->coll_caps.rank,
                                rt->coll_caps.world_size, rt->timeout_s};
}

static int svc_allreduce(llmrt_rt *rt, const void *send, void *recv, size_t count,
                         llmrt_dtype dtype, llmrt_reduce_op op, llmrt_work **work)
{
    count_comm(rt, count, dtype, 2.0);
    llmrt_staging *st = staging_of(rt);
    if (st) {
        llmrt_staging_coll c = staged_coll(rt);
        return llmrt_staging_allreduce(st, &c, send, recv, count, dtype, op, work);
    }
    return rt->coll_vt->allreduce(rt->coll_ctx, send, recv, count, dtype, op,
                                  compute_stream(rt), work);
}

static int svc_reduce_scatter(llmrt_rt *rt, const void *send, void *recv, size_t recv_count,
                              llmrt_dtype dtype, llmrt_reduce_op op, llmrt_work **work)
{
    count_comm(rt, recv_count, dtype, rt->coll_caps.world_size);
    llmrt_staging *st = staging_of(rt);
    if (st) {
        llmrt_staging_coll c = staged_coll(rt);
        return llmrt_staging_reduce_scatter(st, &c, send, recv, recv_count, dtype, op, work);
    }
    return rt->coll_vt->reduce_scatter(rt->coll_ctx, send, recv, recv_count, dtype, op,
                                       compute_stream(rt), work);
}

static int svc_all_gather(llmrt_rt *rt, const void *send, void *recv, size_t send_count,
                          llmrt_dtype dtype, llmrt_work **work)
{
    count_comm(rt, send_count, dtype, rt->coll_caps.world_size);
    llmrt_staging *st = staging_of(rt);
    if (st) {
        llmrt_staging_coll c = staged_coll(rt);
        return llmrt_staging_all_gather(st, &c, send, recv, send_count, dtype, work);
    }
    return rt->coll_vt->all_gather(rt->coll_ctx, send, recv, send_count, dtype,
                                   compute_stream(rt), work);
}

static int svc_broadcast(llmrt_rt *rt, void *buf, size_t count, llmrt_dtype dtype, int root,
                         llmrt_work **work)
{
    count_comm(rt, count, dtype, 1.0);
    llmrt_staging *st = staging_of(rt);
    if (st) {
        llmrt_staging_coll c = staged_coll(rt);
        return llmrt_staging_broadcast(st, &c, buf, count, dtype, root, work);
    }
    return rt->coll_vt->broadcast(rt->coll_ctx, buf, count, dtype, root, compute_stream(rt),
                                  work);
}

static int svc_work_wait(llmrt_rt *rt, llmrt_work *work)
{
    if (!work) return LLMRT_OK;
    llmrt_staging *st = staging_of(rt);
    if (st) return llmrt_staging_wait(st, work); /* waits, copies back, releases */
    int rc = rt->coll_vt->work_wait(rt->coll_ctx, work, rt->timeout_s);
    rt->coll_vt->work_release(rt->coll_ctx, work);
    return rc;
}

/* --- creation ------------------------------------------------------------ */

static void account_comm_host(void *arg, long long delta);

int llmrt_rt_create(llmrt_rt **out, llmrt_config *cfg)
{
    static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
    static const char *const stage_choices[] = {"auto", "always", NULL};
    const char *backend, *collective, *strategy, *format, *plugin_path, *log_level, *stage;
    double timeout_s;
    int rc;
    if ((rc = llmrt_config_string(cfg, "runtime", "backend", "cpu",
                                  "compute backend plugin (cpu, cuda, ...)", &backend)) ||
        (rc = llmrt_config_string(cfg, "runtime", "collective", "local",
                                  "collective transport plugin (local, mpi, nccl, ...)",
                                  &collective)) ||
        (rc = llmrt_config_string(cfg, "runtime", "strategy", "ddp",
                                  "sharding strategy (ddp, zero, fsdp, ...)", &strategy)) ||
        (rc = llmrt_config_string(cfg, "runtime", "format", "fp32",
                                  "number format of parameters and activations", &format)) ||
        (rc = llmrt_config_string(cfg, "runtime", "plugin_path", "",
                                  "colon-separated directories searched first for plugins",
                                  &plugin_path)) ||
        (rc = llmrt_config_double(cfg, "runtime", "timeout_s", 600.0, 0.0, 1e9,
                                  "seconds a collective may wait before the job is aborted "
                                  "(0: no limit)", &timeout_s)) ||
        (rc = llmrt_config_choice(cfg, "runtime", "log_level", "warn", log_levels,
                                  "diagnostics printed to stderr", &log_level)) ||
        (rc = llmrt_config_choice(cfg, "runtime", "stage_collectives", "auto", stage_choices,
                                  "stage collectives through pinned host memory: auto (when "
                                  "the collective cannot take the backend's device memory), "
                                  "always", &stage)))
        return rc;
    for (int i = 0; log_levels[i]; i++)
        if (!strcmp(log_level, log_levels[i])) llmrt_log_set_level((llmrt_log_level)i);

    llmrt_rt *rt = calloc(1, sizeof *rt);
    if (!rt) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    rt->cfg = cfg;
    rt->host = llmrt_host_api_get();
    rt->timeout_s = timeout_s;

    if ((rc = llmrt_registry_init(plugin_path[0] ? plugin_path : NULL)) ||
        (rc = llmrt_registry_add_core_builtins()))
        goto fail;

    /* Number format: its descriptor and the [precision] policy. */
    const llmrt_component *comp;
    if ((rc = find_component(rt, LLMRT_KIND_FORMAT, format, &comp)) ||
        (rc = llmrt_precision_read(cfg, rt->names[LLMRT_KIND_FORMAT],
                                   (const llmrt_format *)comp->vtable, &rt->precision)))
        goto fail;

    /* Compute backend. */
    if ((rc = find_component(rt, LLMRT_KIND_COMPUTE, backend, &comp))) goto fail;
    rt->backend.vt = comp->vtable;
    if ((rc = rt->backend.vt->create(rt->host, llmrt_config_params(cfg, comp->name),
                                     &rt->backend.ctx))) {
        rt->backend.ctx = NULL;
        rc = init_failed(rt, LLMRT_KIND_COMPUTE, rc);
        goto fail;
    }
    if ((rc = check_plugin_section(rt, comp->name))) goto fail;
    rt->compute_caps.struct_size = sizeof rt->compute_caps;
    if ((rc = rt->backend.vt->get_caps(rt->backend.ctx, &rt->compute_caps))) goto fail;

    /* Collective. */
    if ((rc = find_component(rt, LLMRT_KIND_COLLECTIVE, collective, &comp))) goto fail;
    rt->coll_vt = comp->vtable;
    llmrt_collective_init init = {
        .struct_size = sizeof init,
        .compute_backend = rt->names[LLMRT_KIND_COMPUTE],
        .timeout_s = timeout_s,
        .host_addressable = rt->compute_caps.host_addressable,
    };
    if ((rc = rt->coll_vt->create(rt->host, llmrt_config_params(cfg, comp->name), &init,
                                  &rt->coll_ctx))) {
        rt->coll_ctx = NULL;
        rc = init_failed(rt, LLMRT_KIND_COLLECTIVE, rc);
        goto fail;
    }
    if ((rc = check_plugin_section(rt, comp->name))) goto fail;
    rt->coll_caps.struct_size = sizeof rt->coll_caps;
    if ((rc = rt->coll_vt->get_caps(rt->coll_ctx, &rt->coll_caps))) goto fail;
    if (!strcmp(stage, "always") && rt->coll_caps.device_memory &&
        !rt->compute_caps.host_addressable) {
        /* Rule 1 of collective.h: such a collective is given device
         * addresses; host buffers are not promised to work (NCCL). */
        rc = llmrt_error(LLMRT_ERR_INVALID,
                         "[runtime] stage_collectives = always: collective %s works on "
                         "device memory of backend %s and need not accept host buffers "
                         "(accepted with this pair: auto)",
                         collective, backend);
        goto fail;
    }
    if (!strcmp(stage, "always") ||
        (!rt->coll_caps.device_memory && !rt->compute_caps.host_addressable)) {
        if ((rc = llmrt_staging_create(&rt->staging, rt->backend.vt, rt->backend.ctx,
                                       rt->names[LLMRT_KIND_COMPUTE], account_comm_host, rt))) {
            rc = llmrt_error_prefix(rc, "staging the collectives of %s through host memory "
                                        "of backend %s", collective, backend);
            goto fail;
        }
        llmrt_log(LLMRT_LOG_INFO, "core",
                  "collectives of %s staged through pinned host memory of %s (%s)", collective,
                  backend, rt->coll_caps.device_memory ? "stage_collectives = always"
                                                       : "the collective takes host memory only");
    }

    /* The strategy is found now (so a bad name fails early) and created
     * when the model's layout is known. */
    if ((rc = find_component(rt, LLMRT_KIND_STRATEGY, strategy, &comp))) goto fail;
    rt->strat_vt = comp->vtable;

    rt->host_scratch_n = 64;
    if ((rc = llmrt_rt_alloc(rt, LLMRT_MEM_COMM, rt->host_scratch_n * sizeof(double),
                             (void **)&rt->host_scratch)))
        goto fail;

    *out = rt;
    return LLMRT_OK;
fail:
    llmrt_rt_destroy(rt);
    return rc;
}

static int svc_split(llmrt_rt *rt, int color, int key, const llmrt_strategy_services **group);

static void init_services(llmrt_rt *rt)
{
    rt->services = (llmrt_strategy_services){
        .struct_size = sizeof rt->services,
        .rt = rt,
        .rank = rt->coll_caps.rank,
        .world_size = rt->coll_caps.world_size,
        .alloc = svc_alloc,
        .free = svc_free,
        .compute = rt->backend.vt,
        .compute_ctx = rt->backend.ctx,
        .allreduce = svc_allreduce,
        .reduce_scatter = svc_reduce_scatter,
        .all_gather = svc_all_gather,
        .broadcast = svc_broadcast,
        .work_wait = svc_work_wait,
        .split = svc_split,
    };
}

static int svc_split(llmrt_rt *rt, int color, int key, const llmrt_strategy_services **group)
{
    llmrt_rt *root = rt->parent ? rt->parent : rt;
    if (!LLMRT_HAS(rt->coll_vt, rt->coll_vt->struct_size, split))
        return llmrt_error(LLMRT_ERR_UNSUPPORTED,
                           "collective %s cannot split the job into groups",
                           root->names[LLMRT_KIND_COLLECTIVE]);
    llmrt_rt **groups = realloc(root->groups, (root->n_groups + 1) * sizeof *groups);
    llmrt_rt *g = calloc(1, sizeof *g);
    if (groups) root->groups = groups;
    if (!groups || !g) {
        free(g);
        return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    }
    *g = (llmrt_rt){.cfg = root->cfg, .host = root->host, .backend = root->backend,
                    .compute_caps = root->compute_caps, .coll_vt = root->coll_vt,
                    .timeout_s = root->timeout_s, .parent = root};
    memcpy(g->names, root->names, sizeof g->names);
    memcpy(g->files, root->files, sizeof g->files);
    int rc = rt->coll_vt->split(rt->coll_ctx, color, key, &g->coll_ctx);
    if (!rc) {
        g->coll_caps.struct_size = sizeof g->coll_caps;
        rc = g->coll_vt->get_caps(g->coll_ctx, &g->coll_caps);
        if (rc) g->coll_vt->destroy(g->coll_ctx);
    }
    if (rc) {
        free(g);
        return rc;
    }
    root->groups[root->n_groups++] = g;
    init_services(g);
    *group = &g->services;
    return LLMRT_OK;
}

/* Copy a layout (units, tensors, names) into one allocation, so that the
 * strategy's view of the model stays valid whatever the caller frees. */
static int copy_layout(llmrt_rt *rt, const llmrt_model_layout *src)
{
    size_t bytes = src->n_units * sizeof(llmrt_unit_desc);
    for (size_t u = 0; u < src->n_units; u++) {
        bytes += src->units[u].n_tensors * sizeof(llmrt_tensor_desc) + strlen(src->units[u].name) + 1;
        for (size_t t = 0; t < src->units[u].n_tensors; t++)
            bytes += strlen(src->units[u].tensors[t].name) + 1;
    }
    char *mem = malloc(bytes ? bytes : 1);
    if (!mem) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory copying the model layout");
    llmrt_unit_desc *units = (llmrt_unit_desc *)mem;
    llmrt_tensor_desc *tensors = (llmrt_tensor_desc *)(units + src->n_units);
    size_t n_tensors = 0;
    for (size_t u = 0; u < src->n_units; u++) n_tensors += src->units[u].n_tensors;
    char *names = (char *)(tensors + n_tensors);
    for (size_t u = 0; u < src->n_units; u++) {
        units[u] = src->units[u];
        units[u].name = strcpy(names, src->units[u].name);
        names += strlen(names) + 1;
        units[u].tensors = tensors;
        for (size_t t = 0; t < src->units[u].n_tensors; t++, tensors++) {
            *tensors = src->units[u].tensors[t];
            tensors->name = strcpy(names, src->units[u].tensors[t].name);
            names += strlen(names) + 1;
        }
    }
    rt->layout = *src;
    rt->layout.units = units;
    rt->layout_storage = mem;
    return LLMRT_OK;
}

int llmrt_rt_attach_model(llmrt_rt *rt, const llmrt_model_layout *layout)
{
    if (rt->strat_ctx)
        return llmrt_error(LLMRT_ERR_INTERNAL, "llmrt_rt_attach_model called twice");
    int rc = copy_layout(rt, layout);
    if (rc) return rc;
    /* The model chose param and grad types from the policy; the wire format
     * and rounding are the policy's alone. */
    rt->layout.struct_size = sizeof rt->layout;
    if (layout->param_type != rt->precision.compute_type)
        return llmrt_error(LLMRT_ERR_INTERNAL,
                           "model parameters are %s but [runtime] format = %s computes in %s",
                           llmrt_precision_dtype_name(layout->param_type),
                           rt->precision.format,
                           llmrt_precision_dtype_name(rt->precision.compute_type));
    llmrt_precision_apply(&rt->precision, &rt->layout);
    layout = &rt->layout;
    init_services(rt);
    const char *name = rt->names[LLMRT_KIND_STRATEGY];
    rc = rt->strat_vt->create(rt->host, llmrt_config_params(rt->cfg, name), &rt->services,
                                  layout, &rt->strat_ctx);
    if (rc) {
        rt->strat_ctx = NULL;
        return init_failed(rt, LLMRT_KIND_STRATEGY, rc);
    }
    return check_plugin_section(rt, name);
}

void llmrt_rt_destroy(llmrt_rt *rt)
{
    if (!rt) return;
    if (rt->strat_ctx) rt->strat_vt->destroy(rt->strat_ctx);
    if (rt->host_scratch) llmrt_rt_free(rt, rt->host_scratch);
    /* Pinned buffers go back to the backend before it is destroyed; every
     * handle was waited by the strategy's destroy. */
    llmrt_staging_destroy(rt->staging);
    /* Groups were split from the job's collective: they go first. */
    for (size_t i = rt->n_groups; i-- > 0;) {
        rt->coll_vt->destroy(rt->groups[i]->coll_ctx);
        free(rt->groups[i]);
    }
    free(rt->groups);
    if (rt->coll_ctx) rt->coll_vt->destroy(rt->coll_ctx);
    /* Whatever the caller forgot is released with the backend. */
    if (rt->backend.ctx) {
        for (size_t i = 0; i < rt->n_allocs; i++)
            rt->backend.vt->free(rt->backend.ctx, rt->allocs[i].ptr);
        rt->backend.vt->destroy(rt->backend.ctx);
    }
    free(rt->allocs);
    free(rt->layout_storage);
    free(rt);
}

/* --- accessors ----------------------------------------------------------- */

llmrt_backend llmrt_rt_backend(const llmrt_rt *rt) { return rt->backend; }
const llmrt_precision *llmrt_rt_precision(const llmrt_rt *rt) { return &rt->precision; }
const llmrt_compute_caps *llmrt_rt_compute_caps(const llmrt_rt *rt) { return &rt->compute_caps; }
int llmrt_rt_rank(const llmrt_rt *rt) { return rt->coll_caps.rank; }
int llmrt_rt_world_size(const llmrt_rt *rt) { return rt->coll_caps.world_size; }

const char *llmrt_rt_component_name(const llmrt_rt *rt, llmrt_plugin_kind kind)
{
    return kind >= LLMRT_KIND_COMPUTE && kind <= LLMRT_KIND_FORMAT ? rt->names[kind] : NULL;
}

/* --- memory -------------------------------------------------------------- */

static void account(llmrt_rt *rt, llmrt_mem_category category, long long delta)
{
    rt->mem_current[category] += (size_t)delta; /* wraps back for a negative delta */
    if (rt->mem_current[category] > rt->mem_peak[category])
        rt->mem_peak[category] = rt->mem_current[category];
}

/* The staging pool's pinned host buffers count as communication buffers. */
static void account_comm_host(void *arg, long long delta)
{
    account(arg, LLMRT_MEM_COMM, delta);
}

int llmrt_rt_alloc(llmrt_rt *rt, llmrt_mem_category category, size_t bytes, void **ptr)
{
    if (rt->parent) rt = rt->parent; /* a group's memory is the job's */
    if ((unsigned)category >= LLMRT_MEM_CATEGORY_COUNT)
        return llmrt_error(LLMRT_ERR_INVALID, "memory category %d out of range", (int)category);
    if (rt->n_allocs == rt->cap_allocs) {
        size_t cap = rt->cap_allocs ? 2 * rt->cap_allocs : 32;
        rt_allocation *a = realloc(rt->allocs, cap * sizeof *a);
        if (!a) return llmrt_error(LLMRT_ERR_NOMEM, "out of host memory");
        rt->allocs = a;
        rt->cap_allocs = cap;
    }
    void *p = NULL;
    int rc = rt->backend.vt->alloc(rt->backend.ctx, bytes, &p);
    if (rc) return rc;
    rt->allocs[rt->n_allocs++] = (rt_allocation){p, bytes, category};
    account(rt, category, (long long)bytes);
    *ptr = p;
    return LLMRT_OK;
}

void llmrt_rt_free(llmrt_rt *rt, void *ptr)
{
    if (!ptr) return;
    if (rt->parent) rt = rt->parent;
    for (size_t i = 0; i < rt->n_allocs; i++) {
        if (rt->allocs[i].ptr != ptr) continue;
        rt->mem_current[rt->allocs[i].category] -= rt->allocs[i].bytes;
        rt->allocs[i] = rt->allocs[--rt->n_allocs];
        rt->backend.vt->free(rt->backend.ctx, ptr);
        return;
    }
    llmrt_log(LLMRT_LOG_ERROR, "core", "free of %p, which the runtime did not allocate", ptr);
}

size_t llmrt_rt_mem_current(const llmrt_rt *rt, llmrt_mem_category category)
{
    return (unsigned)category < LLMRT_MEM_CATEGORY_COUNT ? rt->mem_current[category] : 0;
}

size_t llmrt_rt_mem_peak(const llmrt_rt *rt, llmrt_mem_category category)
{
    return (unsigned)category < LLMRT_MEM_CATEGORY_COUNT ? rt->mem_peak[category] : 0;
}

int llmrt_rt_upload(llmrt_rt *rt, void *dst, const void *host_src, size_t bytes)
{
    return rt->backend.vt->copy_to_device(rt->backend.ctx, dst, host_src, bytes, NULL);
}

int llmrt_rt_download(llmrt_rt *rt, void *host_dst, const void *src, size_t bytes)
{
    return rt->backend.vt->copy_to_host(rt->backend.ctx, host_dst, src, bytes, NULL);
}

/* --- strategy hooks ------------------------------------------------------ */

const llmrt_strategy_vtable *llmrt_rt_strategy(const llmrt_rt *rt, void **ctx)
{
    if (ctx) *ctx = rt->strat_ctx;
    return rt->strat_vt;
}

int llmrt_rt_begin_microbatch(llmrt_rt *rt, int micro, int n_micro)
{
    return rt->strat_vt->begin_microbatch(rt->strat_ctx, micro, n_micro);
}

int llmrt_rt_pre_forward(llmrt_rt *rt, size_t unit, void **params)
{
    *params = NULL;
    return rt->strat_vt->pre_forward(rt->strat_ctx, unit, params);
}

int llmrt_rt_post_forward(llmrt_rt *rt, size_t unit)
{
    return rt->strat_vt->post_forward(rt->strat_ctx, unit);
}

int llmrt_rt_pre_backward(llmrt_rt *rt, size_t unit, void **params, void **grads)
{
    *params = *grads = NULL;
    return rt->strat_vt->pre_backward(rt->strat_ctx, unit, params, grads);
}

int llmrt_rt_post_backward(llmrt_rt *rt, size_t unit)
{
    return rt->strat_vt->post_backward(rt->strat_ctx, unit);
}

int llmrt_rt_allreduce_host(llmrt_rt *rt, double *values, size_t n, llmrt_reduce_op op)
{
    if (n > rt->host_scratch_n)
        return llmrt_error(LLMRT_ERR_INTERNAL, "allreduce_host of %zu values (max %zu)", n,
                           rt->host_scratch_n);
    int rc;
    if ((rc = llmrt_rt_upload(rt, rt->host_scratch, values, n * sizeof *values)) ||
        (rc = svc_allreduce(rt, rt->host_scratch, rt->host_scratch, n, LLMRT_DTYPE_F64, op,
                            NULL)) ||
        (rc = llmrt_rt_download(rt, values, rt->host_scratch, n * sizeof *values)))
        return rc;
    return LLMRT_OK;
}
