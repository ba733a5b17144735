/* local.c — the `local` collective: a job of exactly one process.
 *
 * Every collective over one rank is the identity, so in-place calls (the way
 * strategies use collectives) touch no memory and work on any backend's
 * device addresses. Out-of-place calls copy, which needs host-addressable
 * memory; on other backends they are refused with a message. Asynchronous
 * calls complete before they return. */
#include <stdlib.h>
#include <string.h>

#include <llmrt/llmrt.h>

typedef struct local_ctx {
    const llmrt_host_api *host;
    int host_addressable;
} local_ctx;

/* A work handle of a call that has already completed. */
struct llmrt_work {
    int status;
};

static int local_create(const llmrt_host_api *host, llmrt_params *params,
                        const llmrt_collective_init *init, void **out)
{
    (void)params;
    local_ctx *c = calloc(1, sizeof *c);
    if (!c) return host->error(LLMRT_ERR_NOMEM, "local: out of memory");
    c->host = host;
    c->host_addressable = init ? init->host_addressable : 1;
    *out = c;
    return LLMRT_OK;
}

static void local_destroy(void *ctx) { free(ctx); }

static int local_get_caps(void *ctx, llmrt_collective_caps *caps)
{
    (void)ctx;
    memset(caps, 0, sizeof *caps);
    caps->struct_size = sizeof *caps;
    caps->rank = 0;
    caps->world_size = 1;
    caps->local_rank = 0;
    caps->local_size = 1;
    caps->device_memory = 1;
    caps->reduce_dtypes = ~0u; /* nothing is combined, so every dtype works */
    return LLMRT_OK;
}

static int finish(local_ctx *c, llmrt_work **work)
{
    if (!work) return LLMRT_OK;
    *work = malloc(sizeof **work);
    if (!*work) return c->host->error(LLMRT_ERR_NOMEM, "local: out of memory");
    (*work)->status = LLMRT_OK;
    return LLMRT_OK;
}

static int move(local_ctx *c, const char *op, void *dst, const void *src, size_t count,
                llmrt_dtype dtype)
{
    if (dst == src || count == 0) return LLMRT_OK;
    if (!c->host_addressable)
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "local: out-of-place %s on device memory is not supported "
                              "(call it in place: send == recv)", op);
    memmove(dst, src, count * llmrt_dtype_size(dtype));
    return LLMRT_OK;
}

static int local_allreduce(void *ctx, const void *send, void *recv, size_t count,
                           llmrt_dtype dtype, llmrt_reduce_op op, void *stream,
                           llmrt_work **work)
{
    (void)op, (void)stream; /* sum, avg, max, min of one value is that value */
    int rc = move(ctx, "allreduce", recv, send, count, dtype);
    return rc ? rc : finish(ctx, work);
}

static int local_reduce_scatter(void *ctx, const void *send, void *recv, size_t recv_count,
                                llmrt_dtype dtype, llmrt_reduce_op op, void *stream,
                                llmrt_work **work)
{
    (void)op, (void)stream;
    int rc = move(ctx, "reduce_scatter", recv, send, recv_count, dtype);
    return rc ? rc : finish(ctx, work);
}

static int local_all_gather(void *ctx, const void *send, void *recv, size_t send_count,
                            llmrt_dtype dtype, void *stream, llmrt_work **work)
{
    (void)stream;
    int rc = move(ctx, "all_gather", recv, send, send_count, dtype);
    return rc ? rc : finish(ctx, work);
}

static int local_broadcast(void *ctx, void *buf, size_t count, llmrt_dtype dtype, int root,
                           void *stream, llmrt_work **work)
{
    (void)buf, (void)count, (void)dtype, (void)stream;
    local_ctx *c = ctx;
    if (root != 0)
        return c->host->error(LLMRT_ERR_INVALID, "local: broadcast root %d does not exist "
                              "(the only rank is 0)", root);
    return finish(c, work);
}

static int local_barrier(void *ctx)
{
    (void)ctx;
    return LLMRT_OK;
}

static int local_work_test(void *ctx, llmrt_work *work, int *done)
{
    (void)ctx;
    *done = 1;
    return work->status;
}

static int local_work_wait(void *ctx, llmrt_work *work, double timeout_s)
{
    (void)ctx, (void)timeout_s;
    return work->status;
}

static int local_work_error(void *ctx, llmrt_work *work)
{
    (void)ctx;
    return work->status;
}

static void local_work_release(void *ctx, llmrt_work *work)
{
    (void)ctx;
    free(work);
}

static void local_abort(void *ctx, const char *reason)
{
    local_ctx *c = ctx;
    c->host->log(LLMRT_LOG_ERROR, "local", "aborting the job: %s", reason);
    exit(EXIT_FAILURE);
}

/* Every group of a one-rank job is that rank again. */
static int local_split(void *ctx, int color, int key, void **new_ctx)
{
    (void)color, (void)key;
    local_ctx *c = ctx, *g = malloc(sizeof *g);
    if (!g) return c->host->error(LLMRT_ERR_NOMEM, "local: out of memory");
    *g = *c;
    *new_ctx = g;
    return LLMRT_OK;
}

static const llmrt_collective_vtable local_vtable = {
    .struct_size = sizeof(llmrt_collective_vtable),
    .create = local_create,
    .destroy = local_destroy,
    .get_caps = local_get_caps,
    .allreduce = local_allreduce,
    .reduce_scatter = local_reduce_scatter,
    .all_gather = local_all_gather,
    .broadcast = local_broadcast,
    .barrier = local_barrier,
    .work_test = local_work_test,
    .work_wait = local_work_wait,
    .work_error = local_work_error,
    .work_release = local_work_release,
    .abort = local_abort,
    .split = local_split,
};

static const llmrt_component local_components[] = {{
    .struct_size = sizeof(llmrt_component),
    .kind = LLMRT_KIND_COLLECTIVE,
    .name = "local",
    .description = "one process: every collective is the identity",
    .probe = NULL,
    .vtable = &local_vtable,
}};

LLMRT_PLUGIN_EXPORT const llmrt_plugin llmrt_plugin_v1 = {
    LLMRT_PLUGIN_HEADER(LLMRT_KIND_COLLECTIVE, "local", "0.1.0"),
    .n_components = 1,
    .components = local_components,
};
