/* plan_sim.c — services that only count: plan() runs the strategy's own
 * create() and one step of hooks against them and reports the peak bytes per
 * category, so that the prediction is exactly what a run allocates. Nothing
 * is computed or communicated; pointers are fake addresses never read. */
#include <stddef.h>
#include <string.h>

#include "shard.h"

typedef struct sim_alloc {
    uintptr_t ptr;
    size_t bytes;
    llmrt_mem_category category;
} sim_alloc;

#define SIM_MAX_GROUPS 4

struct llmrt_shard_sim {
    const llmrt_host_api *host;
    llmrt_strategy_services svc;
    llmrt_strategy_services groups[SIM_MAX_GROUPS];
    int n_groups;
    sim_alloc *allocs;
    size_t n_allocs, cap_allocs;
    uintptr_t next;
    size_t current[LLMRT_MEM_CATEGORY_COUNT], peak[LLMRT_MEM_CATEGORY_COUNT];
};

static llmrt_shard_sim *sim_of(llmrt_rt *rt) { return (llmrt_shard_sim *)(void *)rt; }

static int sim_alloc_fn(llmrt_rt *rt, llmrt_mem_category category, size_t bytes, void **ptr)
{
    llmrt_shard_sim *s = sim_of(rt);
    if ((unsigned)category >= LLMRT_MEM_CATEGORY_COUNT)
        return s->host->error(LLMRT_ERR_INVALID, "plan: memory category %d", (int)category);
    if (s->n_allocs == s->cap_allocs) {
        size_t cap = s->cap_allocs ? 2 * s->cap_allocs : 64;
        sim_alloc *a = s->host->host_alloc(cap * sizeof *a, LLMRT_MEM_OTHER);
        if (!a) return LLMRT_ERR_NOMEM;
        if (s->n_allocs) memcpy(a, s->allocs, s->n_allocs * sizeof *a);
        s->host->host_free(s->allocs);
        s->allocs = a;
        s->cap_allocs = cap;
    }
    s->allocs[s->n_allocs++] = (sim_alloc){s->next, bytes, category};
    *ptr = (void *)s->next;
    s->next += ((bytes + 63) & ~(uintptr_t)63) + 64;
    s->current[category] += bytes;
    if (s->current[category] > s->peak[category]) s->peak[category] = s->current[category];
    return LLMRT_OK;
}

static void sim_free_fn(llmrt_rt *rt, void *ptr)
{
    llmrt_shard_sim *s = sim_of(rt);
    if (!ptr) return;
    for (size_t i = 0; i < s->n_allocs; i++)
        if (s->allocs[i].ptr == (uintptr_t)ptr) {
            s->current[s->allocs[i].category] -= s->allocs[i].bytes;
            s->allocs[i] = s->allocs[--s->n_allocs];
            return;
        }
}

static int sim_coll(llmrt_work **work)
{
    if (work) *work = NULL;
    return LLMRT_OK;
}

static int sim_allreduce(llmrt_rt *rt, const void *send, void *recv, size_t count,
                         llmrt_dtype dtype, llmrt_reduce_op op, llmrt_work **work)
{
    (void)rt, (void)send, (void)recv, (void)count, (void)dtype, (void)op;
    return sim_coll(work);
}

static int sim_reduce_scatter(llmrt_rt *rt, const void *send, void *recv, size_t recv_count,
                              llmrt_dtype dtype, llmrt_reduce_op op, llmrt_work **work)
{
    (void)rt, (void)send, (void)recv, (void)recv_count, (void)dtype, (void)op;
    return sim_coll(work);
}

static int sim_all_gather(llmrt_rt *rt, const void *send, void *recv, size_t send_count,
                          llmrt_dtype dtype, llmrt_work **work)
{
    (void)rt, (void)send, (void)recv, (void)send_count, (void)dtype;
    return sim_coll(work);
}

static int sim_broadcast(llmrt_rt *rt, void *buf, size_t count, llmrt_dtype dtype, int root,
                         llmrt_work **work)
{
    (void)rt, (void)buf, (void)count, (void)dtype, (void)root;
    return sim_coll(work);
}

static int sim_work_wait(llmrt_rt *rt, llmrt_work *work)
{
    (void)rt, (void)work;
    return LLMRT_OK;
}

/* Compute: every member a strategy uses, doing nothing. */
static int sim_copy_in(void *ctx, void *dst, const void *src, size_t bytes, llmrt_stream *s)
{
    (void)ctx, (void)dst, (void)src, (void)bytes, (void)s;
    return LLMRT_OK;
}

static int sim_copy_out(void *ctx, void *dst, const void *src, size_t bytes, llmrt_stream *s)
{
    (void)ctx, (void)src, (void)s;
    memset(dst, 0, bytes); /* host memory: give defined values */
    return LLMRT_OK;
}

static int sim_memset(void *ctx, void *dst, int value, size_t bytes, llmrt_stream *s)
{
    (void)ctx, (void)dst, (void)value, (void)bytes, (void)s;
    return LLMRT_OK;
}

static int sim_sum_squares(void *ctx, const void *x, size_t n, llmrt_dtype dtype,
                           double *result)
{
    (void)ctx, (void)x, (void)n, (void)dtype;
    *result = 0.0;
    return LLMRT_OK;
}

static int sim_adamw(void *ctx, const llmrt_adamw_desc *d)
{
    (void)ctx, (void)d;
    return LLMRT_OK;
}

static int sim_convert_ex(void *ctx, const llmrt_convert_desc *d)
{
    (void)ctx, (void)d;
    return LLMRT_OK;
}

static const llmrt_compute_vtable sim_compute = {
    .struct_size = sizeof(llmrt_compute_vtable),
    .copy_to_device = sim_copy_in,
    .copy_to_host = sim_copy_out,
    .copy = sim_copy_in,
    .memset = sim_memset,
    .sum_squares = sim_sum_squares,
    .adamw = sim_adamw,
    .convert_ex = sim_convert_ex,
};

static void fill_services(llmrt_shard_sim *s, llmrt_strategy_services *svc, int rank, int world)
{
    *svc = (llmrt_strategy_services){
        .struct_size = sizeof *svc,
        .rt = (llmrt_rt *)(void *)s,
        .rank = rank,
        .world_size = world,
        .alloc = sim_alloc_fn,
        .free = sim_free_fn,
        .compute = &sim_compute,
        .compute_ctx = NULL,
        .allreduce = sim_allreduce,
        .reduce_scatter = sim_reduce_scatter,
        .all_gather = sim_all_gather,
        .broadcast = sim_broadcast,
        .work_wait = sim_work_wait,
        .split = NULL, /* groups come from llmrt_shard_sim_group() */
    };
}

int llmrt_shard_sim_new(const llmrt_host_api *host, int rank, int world_size,
                        llmrt_shard_sim **out, const llmrt_strategy_services **svc)
{
    if (world_size < 1 || rank < 0 || rank >= world_size)
        return host->error(LLMRT_ERR_INVALID, "plan: rank %d of world size %d", rank,
                           world_size);
    llmrt_shard_sim *s = host->host_alloc(sizeof *s, LLMRT_MEM_OTHER);
    if (!s) return LLMRT_ERR_NOMEM;
    memset(s, 0, sizeof *s);
    s->host = host;
    s->next = 4096;
    fill_services(s, &s->svc, rank, world_size);
    *out = s;
    *svc = &s->svc;
    return LLMRT_OK;
}

int llmrt_shard_sim_is(const llmrt_strategy_services *svc)
{
    return svc->alloc == sim_alloc_fn;
}

const llmrt_strategy_services *llmrt_shard_sim_group(const llmrt_strategy_services *svc,
                                                     int rank, int world_size)
{
    llmrt_shard_sim *s = sim_of(svc->rt);
    if (s->n_groups == SIM_MAX_GROUPS) return NULL;
    llmrt_strategy_services *g = &s->groups[s->n_groups++];
    fill_services(s, g, rank, world_size);
    return g;
}

int llmrt_shard_micro_batches(const llmrt_model_layout *layout)
{
    if (layout->struct_size >= offsetof(llmrt_model_layout, micro_batches) + sizeof(int) &&
        layout->micro_batches > 1)
        return layout->micro_batches;
    return 1;
}

int llmrt_shard_sim_step(const llmrt_strategy_vtable *vt, void *ctx, size_t n, int n_micro)
{
    /* core/gpt.c: the embedding (0) is used again by the head (n-1), inside
     * the head's pair in the forward and open through the whole backward. */
    void *p, *g;
    int rc;
    size_t last = n - 1;
#define SIM(call) do { if ((rc = (call))) return rc; } while (0)
    for (int micro = 0; micro < n_micro; micro++) {
        SIM(vt->begin_microbatch(ctx, micro, n_micro));
        for (size_t u = 0; u < last; u++) {
            SIM(vt->pre_forward(ctx, u, &p));
            SIM(vt->post_forward(ctx, u));
        }
        SIM(vt->pre_forward(ctx, last, &p));
        if (last) {
            SIM(vt->pre_forward(ctx, 0, &p));
            SIM(vt->post_forward(ctx, 0));
        }
        SIM(vt->post_forward(ctx, last));
        SIM(vt->pre_backward(ctx, last, &p, &g));
        if (last) {
            SIM(vt->pre_backward(ctx, 0, &p, &g));
            SIM(vt->post_backward(ctx, last));
            for (size_t u = last - 1; u >= 1; u--) {
                SIM(vt->pre_backward(ctx, u, &p, &g));
                SIM(vt->post_backward(ctx, u));
            }
        }
        SIM(vt->post_backward(ctx, 0));
    }
    double norm;
    SIM(vt->grad_norm_sq(ctx, &norm));
    llmrt_optim_step os = {.struct_size = sizeof os, .lr = 1e-3f, .beta1 = 0.9f,
                           .beta2 = 0.95f, .eps = 1e-8f, .grad_scale = 1.0f, .t = 1};
    SIM(vt->optimizer_step(ctx, &os));
#undef SIM
    return LLMRT_OK;
}

void llmrt_shard_sim_peaks(const llmrt_shard_sim *s, size_t bytes[LLMRT_MEM_CATEGORY_COUNT])
{
    memcpy(bytes, s->peak, LLMRT_MEM_CATEGORY_COUNT * sizeof *bytes);
}

void llmrt_shard_sim_free(llmrt_shard_sim *s)
{
    if (!s) return;
    s->host->host_free(s->allocs);
    s->host->host_free(s);
}
