/* nccl_plugin.c — the `nccl` collective: descriptor, probe, the
 * communicator's life (create, split, destroy, abort) and the waits on it.
 *
 * The communicator is non-blocking (ncclConfig_t.blocking = 0): every NCCL
 * call returns at once, possibly with ncclInProgress, and nccl_settle()
 * polls ncclCommGetAsyncError against [runtime] timeout_s. So init, split,
 * finalize and every enqueue are bounded, and a timeout or an asynchronous
 * error ends in ncclCommAbort and an error message, never in a hang
 * (collective.h rule 5). The device is the one the cuda backend selected
 * (cudaGetDevice in the thread that creates the context); the ranks meet
 * through nccl_bootstrap.c. docs/nccl.md has the details.
 *
 * UNTESTED on a GPU: written and compiled on a machine without one. */
#define _GNU_SOURCE
#include "nccl_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *nccl_dtype_name(llmrt_dtype t)
{
    static const char *const names[] = {"f32", "f16", "bf16", "i8", "i32", "u16", "u8", "f64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

void nccl_describe(const char *op, size_t count, llmrt_dtype dtype, char *buf, size_t size)
{
    if (!strcmp(op, "barrier") || !strcmp(op, "create") || !strcmp(op, "split") ||
        !strcmp(op, "destroy"))
        snprintf(buf, size, "%s", op);
    else snprintf(buf, size, "%s of %zu %s", op, count, nccl_dtype_name(dtype));
}

/* Seconds polls spin before they sleep: short collectives finish within it
 * at full speed; long waits leave the CPU to others. */
#define SPIN_S 0.002

void nccl_backoff(double elapsed, long *sleep_ns)
{
    if (elapsed <= SPIN_S) return;
    *sleep_ns = *sleep_ns ? *sleep_ns * 2 : 1000;
    if (*sleep_ns > 1000000) *sleep_ns = 1000000;
    struct timespec ts = {0, *sleep_ns};
    nanosleep(&ts, NULL);
}

void nccl_fail_comm(nccl_ctx *c, const char *why)
{
    if (!c->failed[0]) snprintf(c->failed, sizeof c->failed, "%s", why);
    if (c->comm) {
        /* The kernels of the communicator poll NCCL's abort flag, so work
         * stuck on a dead peer ends; the handle is gone afterwards. */
        ncclCommAbort(c->comm);
        c->comm = NULL;
    }
}

int nccl_refuse(nccl_ctx *c, const char *op)
{
    if (!c->failed[0] && c->comm) return LLMRT_OK;
    return c->host->error(LLMRT_ERR_COMM, "nccl: rank %d of %d: %s refused: the communicator "
                          "was aborted (%s); the job must end", c->rank, c->size, op,
                          c->failed[0] ? c->failed : "destroyed");
}

int nccl_settle(nccl_ctx *c, ncclComm_t comm, ncclResult_t r, const char *call, const char *op,
                size_t count, llmrt_dtype dtype, double timeout_s)
{
    char what[96], why[sizeof c->failed];
    double t0 = c->host->now();
    long sleep_ns = 0;
    while (r == ncclInProgress) {
        double elapsed = c->host->now() - t0;
        if (timeout_s > 0 && elapsed > timeout_s) {
            nccl_describe(op, count, dtype, what, sizeof what);
            snprintf(why, sizeof why, "%s (%s) did not complete within %g s", call, what,
                     timeout_s);
            if (comm != c->comm) ncclCommAbort(comm);
            nccl_fail_comm(c, why);
            return c->host->error(LLMRT_ERR_TIMEOUT, "nccl: rank %d of %d: %s ([runtime] "
                                  "timeout_s; a peer may be stuck or dead); the communicator "
                                  "was aborted", c->rank, c->size, why);
        }
        nccl_backoff(elapsed, &sleep_ns);
        ncclResult_t state = ncclSuccess;
        ncclResult_t q = ncclCommGetAsyncError(comm, &state);
        r = q != ncclSuccess ? q : state;
    }
    if (r == ncclSuccess) return LLMRT_OK;
    nccl_describe(op, count, dtype, what, sizeof what);
    const char *detail = ncclGetLastError(comm);
    snprintf(why, sizeof why, "%s (%s) failed: %s%s%s", call, what, ncclGetErrorString(r),
             detail && *detail ? ": " : "", detail ? detail : "");
    if (r == ncclInvalidArgument)
        /* Caught before anything was enqueued: the communicator is fine. */
        return c->host->error(LLMRT_ERR_INVALID, "nccl: rank %d of %d: %s", c->rank, c->size,
                              why);
    if (comm != c->comm) ncclCommAbort(comm);
    nccl_fail_comm(c, why);
    return c->host->error(LLMRT_ERR_COMM, "nccl: rank %d of %d: %s; the communicator was "
                          "aborted", c->rank, c->size, why);
}

/* --- probe ----------------------------------------------------------------- */

static int nccl_probe(const llmrt_host_api *host)
{
    int n = 0, v = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess || n < 1) {
        host->error(LLMRT_ERR_UNSUPPORTED, "nccl: no usable GPU here (%s)",
                    err != cudaSuccess ? cudaGetErrorString(err) : "no CUDA device found");
        return 0;
    }
    ncclResult_t r = ncclGetVersion(&v);
    if (r != ncclSuccess) {
        host->error(LLMRT_ERR_UNSUPPORTED, "nccl: ncclGetVersion failed: %s",
                    ncclGetErrorString(r));
        return 0;
    }
    return 100;
}

/* --- contexts ---------------------------------------------------------------- */

/* The bootstrap's make_blob on rank 0: NCCL's unique id. */
static int make_unique_id(void *arg, void *blob, size_t size, char *err, size_t n)
{
    (void)arg;
    if (size != sizeof(ncclUniqueId)) {
        snprintf(err, n, "nccl: internal: id of %zu bytes, NCCL's has %zu", size,
                 sizeof(ncclUniqueId));
        return LLMRT_ERR_INTERNAL;
    }
    ncclResult_t r = ncclGetUniqueId((ncclUniqueId *)blob);
    if (r == ncclSuccess) return LLMRT_OK;
    const char *detail = ncclGetLastError(NULL);
    snprintf(err, n, "nccl: rank 0: ncclGetUniqueId failed: %s%s%s", ncclGetErrorString(r),
             detail && *detail ? ": " : "", detail ? detail : "");
    return LLMRT_ERR_COMM;
}

static int cuda_fail(nccl_ctx *c, cudaError_t e, const char *what)
{
    return c->host->error(e == cudaErrorMemoryAllocation ? LLMRT_ERR_NOMEM : LLMRT_ERR_DEVICE,
                          "nccl: rank %d of %d: %s on device %d: %s", c->rank, c->size, what,
                          c->device, cudaGetErrorString(e));
}

/* The stream and the barrier's buffer of a new context. */
static int make_resources(nccl_ctx *c)
{
    cudaError_t e = cudaStreamCreateWithFlags(&c->own_stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        c->own_stream = NULL;
        return cuda_fail(c, e, "cudaStreamCreateWithFlags");
    }
    if ((e = cudaMalloc((void **)&c->barrier_buf, sizeof(float))) != cudaSuccess) {
        c->barrier_buf = NULL;
        return cuda_fail(c, e, "cudaMalloc (barrier)");
    }
    if ((e = cudaMemsetAsync(c->barrier_buf, 0, sizeof(float), c->own_stream)) != cudaSuccess)
        return cuda_fail(c, e, "cudaMemsetAsync (barrier)");
    return LLMRT_OK;
}

static void nccl_destroy(void *ctx)
{
    nccl_ctx *c = ctx;
    if (!c) return;
    cudaSetDevice(c->device);
    int clean = !c->failed[0];
    if (c->comm) {
        /* Finalize flushes what is still enqueued and leaves the peers in
         * step; bounded like every wait, aborted past it. */
        ncclResult_t r = ncclCommFinalize(c->comm);
        if (nccl_settle(c, c->comm, r, "ncclCommFinalize", "destroy", 0, LLMRT_DTYPE_F32,
                        c->timeout_s)) {
            clean = 0;
            c->host->log(LLMRT_LOG_ERROR, NCCL_COMPONENT, "rank %d of %d: the communicator "
                         "did not shut down cleanly (%s); it was aborted", c->rank, c->size,
                         c->failed);
        } else {
            ncclCommDestroy(c->comm);
            c->comm = NULL;
        }
    }
    if (c->barrier_buf) cudaFree(c->barrier_buf);
    if (c->own_stream) cudaStreamDestroy(c->own_stream);
    /* MPI_Finalize waits for every rank: only after a clean shutdown. */
    if (c->is_root) nccl_bootstrap_finish(&c->boot, clean);
    free(c);
}

static int nccl_create(const llmrt_host_api *host, llmrt_params *params,
                       const llmrt_collective_init *init, void **out)
{
    static const char *const methods[] = {"auto", "mpi", "env", "file", NULL};
    const char *method = "auto", *file = "";
    int rc;
    if (params &&
        ((rc = host->param_string(params, "bootstrap", "auto",
                                  "how the ranks exchange NCCL's unique id: auto (mpi under an "
                                  "MPI launcher, else env with torchrun's RANK/WORLD_SIZE, "
                                  "else file when bootstrap_file is set, else one rank), mpi, "
                                  "env, file", &method)) ||
         (rc = host->param_string(params, "bootstrap_file", "",
                                  "the file method's path, on a filesystem every rank sees "
                                  "(default: $LLMRT_NCCL_BOOTSTRAP_FILE)", &file))))
        return rc;
    int known = 0;
    for (int i = 0; methods[i]; i++) known |= !strcmp(method, methods[i]);
    if (!known)
        return host->error(LLMRT_ERR_INVALID, "nccl: [nccl] bootstrap = %s is not a method "
                           "(accepted: auto, mpi, env, file)", method);
    const char *backend = init && init->struct_size >= offsetof(llmrt_collective_init,
                                                                compute_backend) +
                                                           sizeof(const char *)
                              ? init->compute_backend : NULL;
    if (!backend || strcmp(backend, "cuda") != 0)
        return host->error(LLMRT_ERR_UNSUPPORTED, "nccl: the nccl collective moves device "
                           "memory of the cuda backend; this job's backend is %s (set "
                           "[runtime] backend = cuda, or use collective mpi or local)",
                           backend ? backend : "not named");
    nccl_ctx *c = calloc(1, sizeof *c);
    if (!c) return host->error(LLMRT_ERR_NOMEM, "nccl: out of memory");
    c->host = host;
    c->is_root = 1;
    c->size = 1;
    c->timeout_s = init->struct_size >= offsetof(llmrt_collective_init, timeout_s) +
                                            sizeof(double) ? init->timeout_s : 0.0;
    cudaError_t e = cudaGetDevice(&c->device);
    if (e != cudaSuccess) {
        rc = cuda_fail(c, e, "cudaGetDevice (the cuda backend's device)");
        free(c);
        return rc;
    }
    ncclUniqueId id;
    char err[512];
    nccl_boot_opts o = {.method = method, .file = file, .timeout_s = c->timeout_s,
                        .make_blob = make_unique_id};
    if ((rc = nccl_bootstrap(&o, &id, sizeof id, &c->boot, err, sizeof err))) {
        host->error(rc, "%s", err);
        /* Not clean: MPI, if the bootstrap started it, is left to the
         * launcher (MPI_Finalize would wait for ranks that may not come). */
        snprintf(c->failed, sizeof c->failed, "bootstrap failed");
        nccl_destroy(c);
        return rc;
    }
    c->rank = c->boot.rank;
    c->size = c->boot.world;
    c->local_rank = c->boot.local_rank;
    c->local_size = c->boot.local_size;
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    ncclComm_t comm = NULL;
    ncclResult_t r = ncclCommInitRankConfig(&comm, c->size, id, c->rank, &cfg);
    c->comm = comm;
    if (r != ncclSuccess && r != ncclInProgress && !comm) {
        const char *detail = ncclGetLastError(NULL);
        rc = host->error(LLMRT_ERR_COMM, "nccl: rank %d of %d: ncclCommInitRankConfig on "
                         "device %d failed: %s%s%s", c->rank, c->size, c->device,
                         ncclGetErrorString(r), detail && *detail ? ": " : "",
                         detail ? detail : "");
        snprintf(c->failed, sizeof c->failed, "ncclCommInitRankConfig failed");
        nccl_destroy(c);
        return rc;
    }
    if ((rc = nccl_settle(c, comm, r, "ncclCommInitRankConfig", "create", 0, LLMRT_DTYPE_F32,
                          c->timeout_s)) ||
        (rc = make_resources(c))) {
        nccl_fail_comm(c, "create failed"); /* the other ranks learn it from NCCL */
        nccl_destroy(c);
        return rc;
    }
    int v = 0;
    ncclGetVersion(&v);
    host->log(LLMRT_LOG_INFO, NCCL_COMPONENT, "rank %d of %d (local %d of %d) on device %d; "
              "NCCL %d.%d.%d; bootstrap: %s", c->rank, c->size, c->local_rank, c->local_size,
              c->device, v / 10000, v / 100 % 100, v % 100, c->boot.method);
    *out = c;
    return LLMRT_OK;
}

/* FNV-1a of this host's name: split contexts compare hosts by it. */
static uint64_t host_hash(void)
{
    char name[NCCL_BOOT_HOST_MAX];
    nccl_boot_host_name(name);
    uint64_t h = 14695981039346656037ull;
    for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

/* Local rank and size of a split context: every rank's host hash through
 * the new communicator (an in-place all_gather of 8 bytes per rank). */
static int split_local_ranks(nccl_ctx *g)
{
    uint64_t *dev = NULL, *hashes = malloc((size_t)g->size * sizeof *hashes), mine = host_hash();
    if (!hashes) return g->host->error(LLMRT_ERR_NOMEM, "nccl: out of memory");
    cudaError_t e = cudaMalloc((void **)&dev, (size_t)g->size * sizeof *dev);
    int rc = e != cudaSuccess ? cuda_fail(g, e, "cudaMalloc (split)") : LLMRT_OK;
    if (!rc && (e = cudaMemcpyAsync(dev + g->rank, &mine, sizeof mine, cudaMemcpyHostToDevice,
                                    g->own_stream)) != cudaSuccess)
        rc = cuda_fail(g, e, "cudaMemcpyAsync (split)");
    if (!rc) rc = nccl_all_gather(g, dev + g->rank, dev, 1, LLMRT_DTYPE_F64, g->own_stream, NULL);
    if (!rc && (e = cudaMemcpy(hashes, dev, (size_t)g->size * sizeof *dev,
                               cudaMemcpyDeviceToHost)) != cudaSuccess)
        rc = cuda_fail(g, e, "cudaMemcpy (split)");
    if (!rc) {
        g->local_rank = g->local_size = 0;
        for (int r = 0; r < g->size; r++) {
            if (hashes[r] != mine) continue;
            g->local_size++;
            if (r < g->rank) g->local_rank++;
        }
    }
    if (dev) cudaFree(dev);
    free(hashes);
    return rc;
}

static int nccl_split(void *ctx, int color, int key, void **new_ctx)
{
    nccl_ctx *c = ctx;
    int rc = nccl_refuse(c, "split");
    if (rc) return rc;
    cudaSetDevice(c->device);
    nccl_ctx *g = calloc(1, sizeof *g);
    if (!g) return c->host->error(LLMRT_ERR_NOMEM, "nccl: out of memory");
    g->host = c->host;
    g->device = c->device;
    g->timeout_s = c->timeout_s;
    g->boot = c->boot; /* for abort(); only the root finishes the bootstrap */
    g->rank = c->rank;
    g->size = c->size;
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    /* A negative color still takes part (the split is collective), as
     * NCCL_SPLIT_NOCOLOR, and then fails as MPI_UNDEFINED does in mpi.
     * Non-blocking, NCCL runs the split as a job of the parent: the parent
     * says ncclInProgress until it is done, and NCCL's thread writes the new
     * handle into g->comm only then (so it must be heap memory). */
    ncclResult_t r = ncclCommSplit(c->comm, color < 0 ? NCCL_SPLIT_NOCOLOR : color, key, &g->comm,
                                   &cfg);
    rc = nccl_settle(c, c->comm, r, "ncclCommSplit", "split", 0, LLMRT_DTYPE_F32, c->timeout_s);
    if (rc) {
        /* The parent was aborted, which ends the split's job, but its
         * thread may still write g->comm: g is left allocated (the job is
         * ending anyway). */
        return rc;
    }
    if (g->comm)
        rc = nccl_settle(g, g->comm, ncclInProgress, "ncclCommSplit (new communicator)", "split",
                         0, LLMRT_DTYPE_F32, g->timeout_s);
    else if (color < 0)
        rc = c->host->error(LLMRT_ERR_INVALID, "nccl: split: color %d is negative (every rank "
                            "needs a group)", color);
    else
        rc = c->host->error(LLMRT_ERR_COMM, "nccl: rank %d of %d: ncclCommSplit (color %d) "
                            "returned no communicator", c->rank, c->size, color);
    if (!rc && (ncclCommCount(g->comm, &g->size) != ncclSuccess ||
                ncclCommUserRank(g->comm, &g->rank) != ncclSuccess))
        rc = c->host->error(LLMRT_ERR_COMM, "nccl: split: cannot read the new communicator's "
                            "rank and size");
    if (!rc) rc = make_resources(g);
    if (!rc) rc = split_local_ranks(g);
    if (rc) {
        nccl_fail_comm(g, "split failed");
        nccl_destroy(g);
        return rc;
    }
    *new_ctx = g;
    return LLMRT_OK;
}

static int nccl_get_caps(void *ctx, llmrt_collective_caps *caps)
{
    nccl_ctx *c = ctx;
    memset(caps, 0, sizeof *caps);
    caps->struct_size = sizeof *caps;
    caps->rank = c->rank;
    caps->world_size = c->size;
    caps->local_rank = c->local_rank;
    caps->local_size = c->local_size;
    caps->device_memory = 1;
    caps->reduce_dtypes = NCCL_REDUCE_DTYPES;
    return LLMRT_OK;
}

/* Ends this rank at once. The others learn it from MPI_Abort (mpi
 * bootstrap), from their launcher (torchrun and srun end a job whose
 * process failed), or from NCCL's error or their timeout. The
 * communicator is not aborted first: the process's end releases it, and
 * ncclCommAbort itself has hung in some NCCL versions (NVIDIA/nccl#829). */
static void nccl_abort(void *ctx, const char *reason)
{
    nccl_ctx *c = ctx;
    c->host->log(LLMRT_LOG_ERROR, NCCL_COMPONENT, "rank %d of %d: aborting the job: %s",
                 c->rank, c->size, reason ? reason : "(no reason given)");
    nccl_bootstrap_abort(&c->boot);
    exit(EXIT_FAILURE);
}

const llmrt_collective_vtable nccl_vtable = {
    .struct_size = sizeof(llmrt_collective_vtable),
    .create = nccl_create,
    .destroy = nccl_destroy,
    .get_caps = nccl_get_caps,
    .allreduce = nccl_allreduce,
    .reduce_scatter = nccl_reduce_scatter,
    .all_gather = nccl_all_gather,
    .broadcast = nccl_broadcast,
    .barrier = nccl_barrier,
    .work_test = nccl_work_test,
    .work_wait = nccl_work_wait,
    .work_error = nccl_work_error,
    .work_release = nccl_work_release,
    .abort = nccl_abort,
    .split = nccl_split,
};

static const llmrt_component nccl_components[] = {{
    .struct_size = sizeof(llmrt_component),
    .kind = LLMRT_KIND_COLLECTIVE,
    .name = "nccl",
    .description = "NCCL on the cuda backend's streams; ranks from mpirun, torchrun's "
                   "variables or a shared file (untested on a GPU so far)",
    .probe = nccl_probe,
    .vtable = &nccl_vtable,
}};

LLMRT_PLUGIN_EXPORT const llmrt_plugin llmrt_plugin_v1 = {
    LLMRT_PLUGIN_HEADER(LLMRT_KIND_COLLECTIVE, "nccl", "0.1.0"),
    .n_components = 1,
    .components = nccl_components,
};
