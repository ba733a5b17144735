/* coll_staging.c — collectives on device buffers through pinned host memory
 * (see coll_staging.h). */
#include "coll_staging.h"

#include <stdint.h>
#include <stdlib.h>

#include "error.h"

typedef struct staging_buf {
    char *host;
    size_t bytes;
    int busy;
} staging_buf;

struct llmrt_staging {
    const llmrt_compute_vtable *vt;
    void *ctx;
    const char *backend_name;
    llmrt_staging_account_fn account;
    void *account_arg;

    staging_buf *bufs;
    size_t n_bufs, cap_bufs;
    size_t pinned_bytes;
    size_t outstanding;
    /* A host -> device copy out of a pool buffer may still be running on the
     * compute stream; the buffer must not be written by the host before it
     * has finished. copy_to_host() on the compute stream settles it (stream
     * order), otherwise settle() synchronises. */
    int h2d_pending;
};

/* An asynchronous staged call. The core hands it out as an llmrt_work *
 * (an opaque type); only llmrt_staging_wait() looks inside. */
#define STAGED_MAGIC 0x53544744u /* "STGD" */
typedef struct staged_work {
    uint32_t magic;
    llmrt_staging_coll coll;
    llmrt_work *inner;       /* the collective's handle */
    size_t bufs[2];          /* pool indices, held until the wait */
    int n_bufs;
    void *dev_dst;           /* copy back: bytes from host_src to dev_dst */
    const char *host_src;
    size_t bytes;
} staged_work;

int llmrt_staging_create(llmrt_staging **out, const llmrt_compute_vtable *backend,
                         void *backend_ctx, const char *backend_name,
                         llmrt_staging_account_fn account, void *account_arg)
{
    struct {
        const char *name;
        int present;
    } need[] = {
        {"copy_to_host", LLMRT_HAS(backend, backend->struct_size, copy_to_host)},
        {"copy_to_device", LLMRT_HAS(backend, backend->struct_size, copy_to_device)},
        {"host_alloc_pinned", LLMRT_HAS(backend, backend->struct_size, host_alloc_pinned)},
        {"host_free_pinned", LLMRT_HAS(backend, backend->struct_size, host_free_pinned)},
        {"stream_synchronize", LLMRT_HAS(backend, backend->struct_size, stream_synchronize)},
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!need[i].present)
            return llmrt_error(LLMRT_ERR_UNSUPPORTED,
                               "backend %s has no %s: collectives cannot be staged through "
                               "host memory",
                               backend_name, need[i].name);
    llmrt_staging *st = calloc(1, sizeof *st);
    if (!st) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    st->vt = backend;
    st->ctx = backend_ctx;
    st->backend_name = backend_name;
    st->account = account;
    st->account_arg = account_arg;
    *out = st;
    return LLMRT_OK;
}

static void free_buf(llmrt_staging *st, staging_buf *b)
{
    if (!b->host) return;
    st->vt->host_free_pinned(st->ctx, b->host);
    st->pinned_bytes -= b->bytes;
    if (st->account) st->account(st->account_arg, -(long long)b->bytes);
    b->host = NULL;
    b->bytes = 0;
}

void llmrt_staging_destroy(llmrt_staging *st)
{
    if (!st) return;
    /* A copy back may still read a buffer; freeing pinned memory under it
     * would be a use after free on the device side. */
    if (st->h2d_pending) st->vt->stream_synchronize(st->ctx, NULL);
    for (size_t i = 0; i < st->n_bufs; i++) free_buf(st, &st->bufs[i]);
    free(st->bufs);
    free(st);
}

size_t llmrt_staging_outstanding(const llmrt_staging *st) { return st->outstanding; }
size_t llmrt_staging_pinned_bytes(const llmrt_staging *st) { return st->pinned_bytes; }

/* Before the host writes into (or frees) pool buffers that a copy back may
 * still read and that no copy_in settled. */
static int settle(llmrt_staging *st)
{
    if (!st->h2d_pending) return LLMRT_OK;
    int rc = st->vt->stream_synchronize(st->ctx, NULL);
    if (rc) return llmrt_error_prefix(rc, "staging collectives: synchronising the compute stream");
    st->h2d_pending = 0;
    return LLMRT_OK;
}

/* --- the pool -------------------------------------------------------------- */

/* A free buffer of at least `bytes`, marked busy: the smallest that fits;
 * else the largest free one, replaced by one of `bytes`; else a new one.
 * Callers keep the index: the array moves when it grows, the host memory of
 * a busy buffer does not. */
static int acquire(llmrt_staging *st, size_t bytes, size_t *index)
{
    if (bytes == 0) bytes = 1; /* a unique, valid address for empty calls */
    size_t fit = SIZE_MAX, largest = SIZE_MAX;
    for (size_t i = 0; i < st->n_bufs; i++) {
        staging_buf *b = &st->bufs[i];
        if (b->busy) continue;
        if (b->bytes >= bytes && (fit == SIZE_MAX || b->bytes < st->bufs[fit].bytes)) fit = i;
        if (largest == SIZE_MAX || b->bytes > st->bufs[largest].bytes) largest = i;
    }
    if (fit != SIZE_MAX) {
        st->bufs[fit].busy = 1;
        *index = fit;
        return LLMRT_OK;
    }
    size_t slot = largest;
    if (slot == SIZE_MAX) {
        if (st->n_bufs == st->cap_bufs) {
            size_t cap = st->cap_bufs ? 2 * st->cap_bufs : 8;
            staging_buf *nb = realloc(st->bufs, cap * sizeof *nb);
            if (!nb) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
            st->bufs = nb;
            st->cap_bufs = cap;
        }
        slot = st->n_bufs++;
        st->bufs[slot] = (staging_buf){0};
    } else {
        int rc = settle(st); /* the old buffer may still feed a copy back */
        if (rc) return rc;
        free_buf(st, &st->bufs[slot]);
    }
    void *p = NULL;
    int rc = st->vt->host_alloc_pinned(st->ctx, bytes, &p);
    if (rc || !p) {
        /* The slot stays empty (no memory, 0 bytes, free): the pool is
         * consistent and a later acquire may fill it. */
        return rc ? llmrt_error_prefix(rc, "staging collectives: %zu bytes of pinned host "
                                           "memory from %s", bytes, st->backend_name)
                  : llmrt_error(LLMRT_ERR_NOMEM,
                                "staging collectives: %s returned no pinned host memory "
                                "for %zu bytes", st->backend_name, bytes);
    }
    st->bufs[slot] = (staging_buf){.host = p, .bytes = bytes, .busy = 1};
    st->pinned_bytes += bytes;
    if (st->account) st->account(st->account_arg, (long long)bytes);
    *index = slot;
    return LLMRT_OK;
}

static void release(llmrt_staging *st, size_t index) { st->bufs[index].busy = 0; }

/* --- one staged call --------------------------------------------------------- */

/* What a call does around its collective: which buffers it holds, what it
 * copies in before and out after. */
typedef struct staged_call {
    size_t buf[2];
    int n_bufs;
    void *dev_dst;
    size_t out_buf, out_off, out_bytes;
} staged_call;

static int get_bufs(llmrt_staging *st, staged_call *call, size_t bytes0, size_t bytes1,
                    int n)
{
    call->n_bufs = 0;
    int rc = acquire(st, bytes0, &call->buf[0]);
    if (rc) return rc;
    call->n_bufs = 1;
    if (n == 2) {
        if ((rc = acquire(st, bytes1, &call->buf[1]))) {
            release(st, call->buf[0]);
            return rc;
        }
        call->n_bufs = 2;
    }
    return LLMRT_OK;
}

static char *host_of(llmrt_staging *st, const staged_call *call, int i)
{
    return st->bufs[call->buf[i]].host;
}

static void drop_bufs(llmrt_staging *st, const staged_call *call)
{
    for (int i = 0; i < call->n_bufs; i++) release(st, call->buf[i]);
}

/* Device -> host on the compute stream; returns when the data is there. */
static int copy_in(llmrt_staging *st, void *host_dst, const void *dev_src, size_t bytes)
{
    if (bytes == 0) return LLMRT_OK;
    int rc = st->vt->copy_to_host(st->ctx, host_dst, dev_src, bytes, NULL);
    if (rc) return llmrt_error_prefix(rc, "staging collectives: device -> host copy");
    st->h2d_pending = 0; /* stream order: every earlier copy back has finished */
    return LLMRT_OK;
}

static int copy_out(llmrt_staging *st, void *dev_dst, const char *host_src, size_t bytes)
{
    if (bytes == 0) return LLMRT_OK;
    int rc = st->vt->copy_to_device(st->ctx, dev_dst, host_src, bytes, NULL);
    if (rc) return llmrt_error_prefix(rc, "staging collectives: host -> device copy");
    st->h2d_pending = 1;
    return LLMRT_OK;
}

/* The collective has been started (rc is its status, *inner its handle when
 * asynchronous): finish a blocking call, or wrap the handle. */
static int finish(llmrt_staging *st, const llmrt_staging_coll *c, staged_call *call, int rc,
                  llmrt_work *inner, llmrt_work **work)
{
    if (rc) {
        drop_bufs(st, call);
        return rc;
    }
    const char *src = host_of(st, call, (int)call->out_buf) + call->out_off;
    if (!work) {
        rc = copy_out(st, call->dev_dst, src, call->out_bytes);
        drop_bufs(st, call);
        return rc;
    }
    staged_work *w = malloc(sizeof *w);
    if (!w) {
        /* The call is in flight on host buffers: finish it before failing. */
        c->vt->work_wait(c->ctx, inner, c->timeout_s);
        c->vt->work_release(c->ctx, inner);
        drop_bufs(st, call);
        return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    }
    *w = (staged_work){
        .magic = STAGED_MAGIC,
        .coll = *c,
        .inner = inner,
        .dev_dst = call->dev_dst,
        .host_src = src,
        .bytes = call->out_bytes,
    };
    for (int i = 0; i < call->n_bufs; i++) w->bufs[i] = call->buf[i];
    w->n_bufs = call->n_bufs;
    st->outstanding++;
    *work = (llmrt_work *)(void *)w;
    return LLMRT_OK;
}

int llmrt_staging_allreduce(llmrt_staging *st, const llmrt_staging_coll *c, const void *send,
                            void *recv, size_t count, llmrt_dtype dtype, llmrt_reduce_op op,
                            llmrt_work **work)
{
    size_t bytes = count * llmrt_dtype_size(dtype);
    int in_place = send == recv;
    staged_call call = {.dev_dst = recv, .out_buf = in_place ? 0 : 1, .out_bytes = bytes};
    int rc = get_bufs(st, &call, bytes, bytes, in_place ? 1 : 2);
    if (rc) return rc;
    char *hs = host_of(st, &call, 0), *hr = in_place ? hs : host_of(st, &call, 1);
    if ((rc = copy_in(st, hs, send, bytes)) || (rc = settle(st))) {
        drop_bufs(st, &call);
        return rc;
    }
    llmrt_work *inner = NULL;
    rc = c->vt->allreduce(c->ctx, hs, hr, count, dtype, op, NULL, work ? &inner : NULL);
    return finish(st, c, &call, rc, inner, work);
}

int llmrt_staging_reduce_scatter(llmrt_staging *st, const llmrt_staging_coll *c,
                                 const void *send, void *recv, size_t recv_count,
                                 llmrt_dtype dtype, llmrt_reduce_op op, llmrt_work **work)
{
    size_t part = recv_count * llmrt_dtype_size(dtype), off = (size_t)c->rank * part;
    size_t full = (size_t)c->world_size * part;
    int in_place = (const char *)recv == (const char *)send + off;
    staged_call call = {.dev_dst = recv,
                        .out_buf = in_place ? 0 : 1,
                        .out_off = in_place ? off : 0,
                        .out_bytes = part};
    int rc = get_bufs(st, &call, full, part, in_place ? 1 : 2);
    if (rc) return rc;
    char *hs = host_of(st, &call, 0), *hr = in_place ? hs + off : host_of(st, &call, 1);
    if ((rc = copy_in(st, hs, send, full)) || (rc = settle(st))) {
        drop_bufs(st, &call);
        return rc;
    }
    llmrt_work *inner = NULL;
    rc = c->vt->reduce_scatter(c->ctx, hs, hr, recv_count, dtype, op, NULL,
                               work ? &inner : NULL);
    return finish(st, c, &call, rc, inner, work);
}

int llmrt_staging_all_gather(llmrt_staging *st, const llmrt_staging_coll *c, const void *send,
                             void *recv, size_t send_count, llmrt_dtype dtype,
                             llmrt_work **work)
{
    size_t part = send_count * llmrt_dtype_size(dtype), off = (size_t)c->rank * part;
    size_t full = (size_t)c->world_size * part;
    int in_place = (const char *)send == (const char *)recv + off;
    /* In place, the one buffer is recv's mirror and this rank's part is sent
     * from where it lies in it; otherwise buffer 0 is send's, 1 recv's. */
    staged_call call = {.dev_dst = recv, .out_buf = in_place ? 0 : 1, .out_bytes = full};
    int rc = get_bufs(st, &call, in_place ? full : part, full, in_place ? 1 : 2);
    if (rc) return rc;
    char *hr = in_place ? host_of(st, &call, 0) : host_of(st, &call, 1);
    char *hs = in_place ? hr + off : host_of(st, &call, 0);
    if ((rc = copy_in(st, hs, send, part)) || (rc = settle(st))) {
        drop_bufs(st, &call);
        return rc;
    }
    llmrt_work *inner = NULL;
    rc = c->vt->all_gather(c->ctx, hs, hr, send_count, dtype, NULL, work ? &inner : NULL);
    return finish(st, c, &call, rc, inner, work);
}

int llmrt_staging_broadcast(llmrt_staging *st, const llmrt_staging_coll *c, void *buf,
                            size_t count, llmrt_dtype dtype, int root, llmrt_work **work)
{
    size_t bytes = count * llmrt_dtype_size(dtype);
    int is_root = c->rank == root;
    /* The root's buffer does not change: only the others copy back. */
    staged_call call = {.dev_dst = buf, .out_bytes = is_root ? 0 : bytes};
    int rc = get_bufs(st, &call, bytes, 0, 1);
    if (rc) return rc;
    char *h = host_of(st, &call, 0);
    if ((is_root && (rc = copy_in(st, h, buf, bytes))) || (rc = settle(st))) {
        drop_bufs(st, &call);
        return rc;
    }
    llmrt_work *inner = NULL;
    rc = c->vt->broadcast(c->ctx, h, count, dtype, root, NULL, work ? &inner : NULL);
    return finish(st, c, &call, rc, inner, work);
}

int llmrt_staging_wait(llmrt_staging *st, llmrt_work *work)
{
    staged_work *w = (staged_work *)(void *)work;
    if (!w) return LLMRT_OK;
    if (w->magic != STAGED_MAGIC)
        return llmrt_error(LLMRT_ERR_INTERNAL,
                           "staging collectives: a work handle that no staged call returned");
    const llmrt_staging_coll *c = &w->coll;
    int rc = c->vt->work_wait(c->ctx, w->inner, c->timeout_s);
    c->vt->work_release(c->ctx, w->inner);
    if (!rc) rc = copy_out(st, w->dev_dst, w->host_src, w->bytes);
    for (int i = 0; i < w->n_bufs; i++) release(st, w->bufs[i]);
    w->magic = 0;
    free(w);
    st->outstanding--;
    return rc;
}
