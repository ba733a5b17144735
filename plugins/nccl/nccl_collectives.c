/* nccl_collectives.c — the calls of the nccl collective and their work
 * handles.
 *
 * Every call enqueues one NCCL collective on the given stream (the cuda
 * backend's native stream, collective.h rule 6; NULL: the context's own
 * stream) and records a CUDA event after it. An asynchronous call hands
 * that event to the caller as the work; a blocking call waits for it,
 * bounded by [runtime] timeout_s. A wait tests the event (cudaEventQuery)
 * and the communicator (ncclCommGetAsyncError) in turn, so a peer that
 * died or a network error ends the wait with NCCL's message; past the
 * timeout the communicator is aborted. Buffers are device memory
 * (caps.device_memory = 1); the in-place forms of rule 3 are NCCL's own.
 * f16 and bf16 are reduced by NCCL natively; avg is ncclAvg. */
#include "nccl_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- arguments ------------------------------------------------------------ */

static int check_dtype(nccl_ctx *c, const char *op, llmrt_dtype t)
{
    if ((unsigned)t >= LLMRT_DTYPE_COUNT_V1 || llmrt_dtype_size(t) == 0)
        return c->host->error(LLMRT_ERR_INVALID, "nccl: %s: unknown dtype %d", op, (int)t);
    return LLMRT_OK;
}

/* A reduction's NCCL type and operator. */
static int reduce_args(nccl_ctx *c, const char *op, llmrt_dtype t, llmrt_reduce_op rop,
                       ncclDataType_t *type, ncclRedOp_t *red)
{
    int rc = check_dtype(c, op, t);
    if (rc) return rc;
    switch (t) {
    case LLMRT_DTYPE_F32: *type = ncclFloat32; break;
    case LLMRT_DTYPE_F16: *type = ncclFloat16; break;
    case LLMRT_DTYPE_BF16: *type = ncclBfloat16; break;
    case LLMRT_DTYPE_F64: *type = ncclFloat64; break;
    case LLMRT_DTYPE_I32: *type = ncclInt32; break;
    case LLMRT_DTYPE_I8: *type = ncclInt8; break;
    case LLMRT_DTYPE_U8: *type = ncclUint8; break;
    default:
        return c->host->error(LLMRT_ERR_UNSUPPORTED, "nccl: %s cannot reduce dtype %s "
                              "(accepted: f32, f16, bf16, f64, i32, i8, u8)", op,
                              nccl_dtype_name(t));
    }
    switch (rop) {
    case LLMRT_REDUCE_SUM: *red = ncclSum; return LLMRT_OK;
    case LLMRT_REDUCE_AVG: *red = ncclAvg; return LLMRT_OK;
    case LLMRT_REDUCE_MAX: *red = ncclMax; return LLMRT_OK;
    case LLMRT_REDUCE_MIN: *red = ncclMin; return LLMRT_OK;
    default:
        return c->host->error(LLMRT_ERR_INVALID, "nccl: %s: unknown reduce op %d (accepted: "
                              "sum, avg, max, min)", op, (int)rop);
    }
}

/* --- works ------------------------------------------------------------------ */

static void work_free(llmrt_work *w)
{
    if (w->event) cudaEventDestroy(w->event);
    free(w);
}

/* A new work for `op`, once the context is known to be usable. */
static int begin(nccl_ctx *c, const char *op, size_t count, llmrt_dtype dtype, llmrt_work **out)
{
    int rc = nccl_refuse(c, op);
    if (rc) return rc;
    /* The calling thread may not be the one that made the context. */
    cudaError_t e = cudaSetDevice(c->device);
    if (e != cudaSuccess)
        return c->host->error(LLMRT_ERR_DEVICE, "nccl: rank %d of %d: %s: cudaSetDevice(%d): %s",
                              c->rank, c->size, op, c->device, cudaGetErrorString(e));
    llmrt_work *w = calloc(1, sizeof *w);
    if (!w) return c->host->error(LLMRT_ERR_NOMEM, "nccl: out of memory");
    w->op = op;
    w->count = count;
    w->dtype = dtype;
    if ((e = cudaEventCreateWithFlags(&w->event, cudaEventDisableTiming)) != cudaSuccess) {
        free(w);
        return c->host->error(LLMRT_ERR_DEVICE, "nccl: rank %d of %d: %s: "
                              "cudaEventCreateWithFlags: %s", c->rank, c->size, op,
                              cudaGetErrorString(e));
    }
    *out = w;
    return LLMRT_OK;
}

/* Record a failure of `w` (done, with `code`): "nccl: rank R of N: WHAT "
 * and then the printf-style rest. */
static int fail_work(nccl_ctx *c, llmrt_work *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_work(nccl_ctx *c, llmrt_work *w, int code, const char *fmt, ...)
{
    char what[96];
    nccl_describe(w->op, w->count, w->dtype, what, sizeof what);
    int n = snprintf(w->msg, sizeof w->msg, "nccl: rank %d of %d: %s ", c->rank, c->size, what);
    if (n > 0 && (size_t)n < sizeof w->msg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->msg + n, sizeof w->msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    w->status = code;
    w->done = 1;
    return c->host->error(code, "%s", w->msg);
}

/* One test of `w`: 1 when it completed or failed (w->status says which). */
static int test_once(nccl_ctx *c, llmrt_work *w)
{
    if (w->done) return 1;
    if (c->failed[0] || !c->comm) {
        /* Aborted kernels end early: their events complete, their data do
         * not. */
        fail_work(c, w, LLMRT_ERR_COMM, "did not complete: the communicator was aborted (%s)",
                  c->failed[0] ? c->failed : "destroyed");
        return 1;
    }
    cudaError_t e = cudaEventQuery(w->event);
    if (e == cudaSuccess) {
        w->done = 1;
        return 1;
    }
    if (e != cudaErrorNotReady) {
        fail_work(c, w, LLMRT_ERR_DEVICE, "failed on the device: %s", cudaGetErrorString(e));
        return 1;
    }
    ncclResult_t state = ncclSuccess;
    ncclResult_t r = ncclCommGetAsyncError(c->comm, &state);
    if (r == ncclSuccess && (state == ncclSuccess || state == ncclInProgress)) return 0;
    ncclResult_t bad = r != ncclSuccess ? r : state;
    const char *last = ncclGetLastError(c->comm);
    fail_work(c, w, LLMRT_ERR_COMM, "failed: NCCL reported an asynchronous error: %s%s%s; the "
              "communicator was aborted", ncclGetErrorString(bad), last && *last ? ": " : "",
              last ? last : "");
    nccl_fail_comm(c, w->msg);
    return 1;
}

/* Poll `w` until it is done (1) or `timeout_s` passed (0; <= 0: no limit). */
static int poll_work(nccl_ctx *c, llmrt_work *w, double timeout_s)
{
    double t0 = c->host->now(), elapsed = 0.0;
    long sleep_ns = 0;
    int done;
    while (!(done = test_once(c, w))) {
        elapsed = c->host->now() - t0;
        if (timeout_s > 0 && elapsed > timeout_s) break;
        nccl_backoff(elapsed, &sleep_ns);
    }
    w->waited_s += c->host->now() - t0;
    return done;
}

/* `w` did not complete within `timeout_s`: abort, and say what and where. */
static int timeout_work(nccl_ctx *c, llmrt_work *w, double timeout_s)
{
    char what[96];
    nccl_describe(w->op, w->count, w->dtype, what, sizeof what);
    snprintf(w->msg, sizeof w->msg, "nccl: rank %d of %d: %s did not complete within %g s "
             "(waited %.2f s in all; a peer may be stuck or dead); the communicator was "
             "aborted", c->rank, c->size, what, timeout_s, w->waited_s);
    w->status = LLMRT_ERR_TIMEOUT;
    w->done = 1;
    nccl_fail_comm(c, w->msg);
    return c->host->error(w->status, "%s", w->msg);
}

/* Finish a call whose NCCL function returned `r`: settle the enqueue,
 * record the event on the stream, then hand the work out (asynchronous) or
 * wait for it (blocking). */
static int finish(nccl_ctx *c, llmrt_work *w, ncclResult_t r, const char *call,
                  cudaStream_t stream, llmrt_work **work)
{
    int rc = nccl_settle(c, c->comm, r, call, w->op, w->count, w->dtype, c->timeout_s);
    cudaError_t e = rc ? cudaSuccess : cudaEventRecord(w->event, stream);
    if (!rc && e != cudaSuccess)
        rc = c->host->error(LLMRT_ERR_DEVICE, "nccl: rank %d of %d: %s: cudaEventRecord: %s",
                            c->rank, c->size, w->op, cudaGetErrorString(e));
    if (rc) {
        work_free(w);
        return rc;
    }
    if (work) {
        *work = w;
        return LLMRT_OK;
    }
    rc = poll_work(c, w, c->timeout_s) ? w->status : timeout_work(c, w, c->timeout_s);
    work_free(w);
    return rc;
}

static cudaStream_t stream_of(nccl_ctx *c, void *stream)
{
    return stream ? (cudaStream_t)stream : c->own_stream;
}

/* --- collectives ------------------------------------------------------------- */

int nccl_allreduce(void *ctx, const void *send, void *recv, size_t count, llmrt_dtype dtype,
                   llmrt_reduce_op op, void *stream, llmrt_work **work)
{
    nccl_ctx *c = ctx;
    ncclDataType_t type;
    ncclRedOp_t red;
    llmrt_work *w;
    int rc;
    if ((rc = reduce_args(c, "allreduce", dtype, op, &type, &red)) ||
        (rc = begin(c, "allreduce", count, dtype, &w)))
        return rc;
    cudaStream_t s = stream_of(c, stream);
    ncclResult_t r = count ? ncclAllReduce(send, recv, count, type, red, c->comm, s)
                           : ncclSuccess;
    return finish(c, w, r, "ncclAllReduce", s, work);
}

int nccl_reduce_scatter(void *ctx, const void *send, void *recv, size_t recv_count,
                        llmrt_dtype dtype, llmrt_reduce_op op, void *stream, llmrt_work **work)
{
    nccl_ctx *c = ctx;
    ncclDataType_t type;
    ncclRedOp_t red;
    llmrt_work *w;
    int rc;
    if ((rc = reduce_args(c, "reduce_scatter", dtype, op, &type, &red)) ||
        (rc = begin(c, "reduce_scatter", recv_count, dtype, &w)))
        return rc;
    cudaStream_t s = stream_of(c, stream);
    ncclResult_t r = recv_count ? ncclReduceScatter(send, recv, recv_count, type, red, c->comm, s)
                                : ncclSuccess;
    return finish(c, w, r, "ncclReduceScatter", s, work);
}

/* all_gather and broadcast move bytes: every dtype, u16 included (which
 * NCCL has no type for), as ncclUint8. Rule 3's in-place all_gather is
 * the same address in bytes. */
int nccl_all_gather(void *ctx, const void *send, void *recv, size_t send_count,
                    llmrt_dtype dtype, void *stream, llmrt_work **work)
{
    nccl_ctx *c = ctx;
    llmrt_work *w;
    int rc;
    if ((rc = check_dtype(c, "all_gather", dtype)) ||
        (rc = begin(c, "all_gather", send_count, dtype, &w)))
        return rc;
    cudaStream_t s = stream_of(c, stream);
    size_t bytes = send_count * llmrt_dtype_size(dtype);
    ncclResult_t r = bytes ? ncclAllGather(send, recv, bytes, ncclUint8, c->comm, s)
                           : ncclSuccess;
    return finish(c, w, r, "ncclAllGather", s, work);
}

int nccl_broadcast(void *ctx, void *buf, size_t count, llmrt_dtype dtype, int root, void *stream,
                   llmrt_work **work)
{
    nccl_ctx *c = ctx;
    llmrt_work *w;
    int rc;
    if ((rc = check_dtype(c, "broadcast", dtype))) return rc;
    if (root < 0 || root >= c->size)
        return c->host->error(LLMRT_ERR_INVALID, "nccl: broadcast root %d does not exist (ranks "
                              "are 0..%d)", root, c->size - 1);
    if ((rc = begin(c, "broadcast", count, dtype, &w))) return rc;
    cudaStream_t s = stream_of(c, stream);
    size_t bytes = count * llmrt_dtype_size(dtype);
    ncclResult_t r = bytes ? ncclBroadcast(buf, buf, bytes, ncclUint8, root, c->comm, s)
                           : ncclSuccess;
    return finish(c, w, r, "ncclBroadcast", s, work);
}

/* A one-float max-allreduce on the context's own stream, waited for: it
 * completes on a rank only once every rank has entered it. The value
 * stays 0. */
int nccl_barrier(void *ctx)
{
    nccl_ctx *c = ctx;
    llmrt_work *w;
    int rc = begin(c, "barrier", 0, LLMRT_DTYPE_F32, &w);
    if (rc) return rc;
    ncclResult_t r = ncclAllReduce(c->barrier_buf, c->barrier_buf, 1, ncclFloat32, ncclMax,
                                   c->comm, c->own_stream);
    return finish(c, w, r, "ncclAllReduce (barrier)", c->own_stream, NULL);
}

/* --- work handles -------------------------------------------------------------- */

int nccl_work_test(void *ctx, llmrt_work *work, int *done)
{
    nccl_ctx *c = ctx;
    if (work->done) {
        *done = 1;
        return work->status ? c->host->error(work->status, "%s", work->msg) : LLMRT_OK;
    }
    *done = test_once(c, work); /* records a failure it finds */
    return *done ? work->status : LLMRT_OK;
}

int nccl_work_wait(void *ctx, llmrt_work *work, double timeout_s)
{
    nccl_ctx *c = ctx;
    if (work->done)
        return work->status ? c->host->error(work->status, "%s", work->msg) : LLMRT_OK;
    if (poll_work(c, work, timeout_s)) return work->status;
    return timeout_work(c, work, timeout_s);
}

int nccl_work_error(void *ctx, llmrt_work *work)
{
    nccl_ctx *c = ctx;
    return work->status ? c->host->error(work->status, "%s", work->msg) : LLMRT_OK;
}

/* Releasing an unfinished work gives up only its event: the collective
 * stays on its stream, ahead of whatever the caller enqueues there next
 * (stream order), and a failure still reaches the next wait through the
 * communicator. */
void nccl_work_release(void *ctx, llmrt_work *work)
{
    (void)ctx;
    if (work) work_free(work);
}
