/* mpi.c — the `mpi` collective: ranks and transport from MPI (Open MPI).
 *
 * Works under mpirun (or any launcher Open MPI supports) and in a plain
 * single-process start (singleton MPI_Init). Every context owns a duplicate
 * of its communicator with MPI_ERRORS_RETURN, so an MPI error becomes an
 * llmrt status whose message carries MPI_Error_string and the rank.
 *
 * Every call is posted as an MPI-3 nonblocking collective (MPI_Iallreduce,
 * ...). An asynchronous call hands the requests to the caller in a work
 * handle; a blocking call polls them itself, bounded by [runtime] timeout_s
 * (llmrt_collective_init), and fails with LLMRT_ERR_TIMEOUT past it: MPI's
 * blocking collectives cannot be interrupted. MPI can neither cancel nor
 * free a collective's request, so a request that outlives its caller (a
 * blocking call that timed out; a work released before it completed, which
 * is first waited for, for what is left of timeout_s) is parked until MPI
 * completes it, its context refuses later calls, and destroy() leaves
 * without MPI_Finalize while any is pending. avg is sum followed by a
 * division by the world size, done when the call completes. Counts above
 * [mpi] max_count (default INT_MAX, MPI's int counts) are cut into chunks.
 * F16 and BF16 are reduced with user-defined MPI_Ops that combine two values
 * in fp32 and round the result to nearest-even. docs/mpi.md has the details. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include <llmrt/llmrt.h>

#define COMPONENT "mpi"

typedef struct mpi_ctx {
    const llmrt_host_api *host;
    MPI_Comm comm;
    MPI_Comm shutdown_comm; /* root contexts: only for the shutdown barrier */
    int rank, size, local_rank, local_size;
    int host_addressable;
    int is_root;     /* made by create(), not split() */
    size_t max_count; /* elements per MPI call */
    double timeout_s; /* init->timeout_s: bounds blocking calls, releases, the shutdown barrier */
    char failed[160]; /* why later calls are refused (a request was parked), or "" */
} mpi_ctx;

struct llmrt_work {
    const char *op;
    size_t count;
    llmrt_dtype dtype;
    int blocking;         /* made by a blocking call (for messages) */
    MPI_Request *reqs;    /* &one_req, or an array for chunked calls */
    MPI_Request one_req;
    int n_reqs;
    int done, status;
    double waited_s;      /* time spent polling it so far */
    char msg[512];
    llmrt_work *next;     /* in g_parked */
    /* What completion still has to do. */
    void *avg_buf;        /* divide avg_n elements by the world size */
    size_t avg_n;
    void *copy_dst, *tmp; /* copy tmp (copy_bytes) to copy_dst, then free tmp */
    size_t copy_bytes;
};

/* --- process-wide MPI state --------------------------------------------- */

static int g_we_initialised;  /* this plugin called MPI_Init_thread */
static int g_root_contexts;   /* live contexts made by create() */
static int g_types_ready;
static MPI_Datatype g_f16, g_bf16;
static MPI_Op g_half_op[3];   /* sum, max, min over g_f16 / g_bf16 */

static const char *dtype_name(llmrt_dtype t)
{
    static const char *const names[] = {"f32", "f16", "bf16", "i8", "i32", "u16", "u8", "f64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* --- 16-bit floats, reduced in fp32 -------------------------------------- */

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bits_from_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

static uint16_t f32_to_bf16(float f)
{
    uint32_t u = bits_from_f32(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (man << 13));
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float f = (float)man * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

static uint16_t f32_to_f16(float f)
{
    uint32_t u = bits_from_f32(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);      /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);     /* rounds to infinity */
    if (a < 0x38800000u) {                                        /* subnormal or zero */
        /* a * 2^24 rounded to nearest-even by the FPU's default mode. */
        float m = f32_from_bits(a) * 16777216.0f;
        return (uint16_t)(sign | (uint32_t)nearbyintf(m));
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - (112u << 23);
    return (uint16_t)(sign | (r >> 13));
}

static float half_get(const void *p, size_t i, int bf)
{
    uint16_t h;
    memcpy(&h, (const char *)p + 2 * i, 2);
    return bf ? bf16_to_f32(h) : f16_to_f32(h);
}

static void half_put(void *p, size_t i, float f, int bf)
{
    uint16_t h = bf ? f32_to_bf16(f) : f32_to_f16(f);
    memcpy((char *)p + 2 * i, &h, 2);
}

static void half_reduce(void *in, void *inout, int *len, MPI_Datatype *type, int which)
{
    int bf = *type == g_bf16;
    for (int i = 0; i < *len; i++) {
        float a = half_get(in, (size_t)i, bf), b = half_get(inout, (size_t)i, bf), r;
        if (which == 0) r = a + b;
        else if (which == 1) r = isnan(a) || a > b ? a : b;
        else r = isnan(a) || a < b ? a : b;
        half_put(inout, (size_t)i, r, bf);
    }
}

static void half_sum(void *in, void *inout, int *len, MPI_Datatype *type)
{
    half_reduce(in, inout, len, type, 0);
}
static void half_max(void *in, void *inout, int *len, MPI_Datatype *type)
{
    half_reduce(in, inout, len, type, 1);
}
static void half_min(void *in, void *inout, int *len, MPI_Datatype *type)
{
    half_reduce(in, inout, len, type, 2);
}

/* --- errors -------------------------------------------------------------- */

static int mpi_err(mpi_ctx *c, int err, const char *call, const char *op, size_t count,
                   llmrt_dtype dtype)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", err);
    return c->host->error(LLMRT_ERR_COMM, "mpi: rank %d of %d: %s (%s of %zu %s) failed: %s",
                          c->rank, c->size, call, op, count, dtype_name(dtype), s);
}

/* --- datatypes ----------------------------------------------------------- */

static MPI_Datatype mpi_type(llmrt_dtype t)
{
    switch (t) {
    case LLMRT_DTYPE_F32: return MPI_FLOAT;
    case LLMRT_DTYPE_F64: return MPI_DOUBLE;
    case LLMRT_DTYPE_I32: return MPI_INT32_T;
    case LLMRT_DTYPE_I8: return MPI_INT8_T;
    case LLMRT_DTYPE_U8: return MPI_UINT8_T;
    case LLMRT_DTYPE_U16: return MPI_UINT16_T;
    case LLMRT_DTYPE_F16: return g_f16;
    case LLMRT_DTYPE_BF16: return g_bf16;
    default: return MPI_DATATYPE_NULL;
    }
}

#define REDUCE_DTYPES                                                                        \
    ((1u << LLMRT_DTYPE_F32) | (1u << LLMRT_DTYPE_F64) | (1u << LLMRT_DTYPE_I32) |            \
     (1u << LLMRT_DTYPE_F16) | (1u << LLMRT_DTYPE_BF16))

static int check_dtype(mpi_ctx *c, const char *op, llmrt_dtype t, int reduce)
{
    if (llmrt_dtype_size(t) == 0 || (unsigned)t >= LLMRT_DTYPE_COUNT_V1)
        return c->host->error(LLMRT_ERR_INVALID, "mpi: %s: unknown dtype %d", op, (int)t);
    if (reduce && !(REDUCE_DTYPES & (1u << t)))
        return c->host->error(LLMRT_ERR_UNSUPPORTED, "mpi: %s cannot reduce dtype %s (accepted: "
                              "f32, f64, i32, f16, bf16)", op, dtype_name(t));
    return LLMRT_OK;
}

static int mpi_reduce_op(mpi_ctx *c, const char *what, llmrt_dtype t, llmrt_reduce_op op,
                         MPI_Op *out)
{
    int half = t == LLMRT_DTYPE_F16 || t == LLMRT_DTYPE_BF16;
    switch (op) {
    case LLMRT_REDUCE_SUM:
    case LLMRT_REDUCE_AVG: *out = half ? g_half_op[0] : MPI_SUM; return LLMRT_OK;
    case LLMRT_REDUCE_MAX: *out = half ? g_half_op[1] : MPI_MAX; return LLMRT_OK;
    case LLMRT_REDUCE_MIN: *out = half ? g_half_op[2] : MPI_MIN; return LLMRT_OK;
    default:
        return c->host->error(LLMRT_ERR_INVALID, "mpi: %s: unknown reduce op %d (accepted: "
                              "sum, avg, max, min)", what, (int)op);
    }
}

static int init_types(mpi_ctx *c)
{
    if (g_types_ready) return LLMRT_OK;
    int e;
    if ((e = MPI_Type_contiguous(2, MPI_BYTE, &g_f16)) || (e = MPI_Type_commit(&g_f16)) ||
        (e = MPI_Type_contiguous(2, MPI_BYTE, &g_bf16)) || (e = MPI_Type_commit(&g_bf16)) ||
        (e = MPI_Op_create(half_sum, 1, &g_half_op[0])) ||
        (e = MPI_Op_create(half_max, 1, &g_half_op[1])) ||
        (e = MPI_Op_create(half_min, 1, &g_half_op[2])))
        return mpi_err(c, e, "MPI_Type_contiguous/MPI_Op_create", "create", 0, LLMRT_DTYPE_F16);
    g_types_ready = 1;
    return LLMRT_OK;
}

static void free_types(void)
{
    if (!g_types_ready) return;
    for (int i = 0; i < 3; i++) MPI_Op_free(&g_half_op[i]);
    MPI_Type_free(&g_f16);
    MPI_Type_free(&g_bf16);
    g_types_ready = 0;
}

/* --- contexts ------------------------------------------------------------ */

/* The core opens plugins RTLD_LOCAL, which leaves libmpi's symbols invisible
 * to the components Open MPI itself dlopens (mca_*.so), and MPI_Init then
 * fails. Promote the libmpi this plugin is linked against to RTLD_GLOBAL. */
static void promote_libmpi(mpi_ctx *c)
{
    Dl_info info;
    void *h = NULL;
    if (dladdr((void *)(uintptr_t)&MPI_Init, &info) && info.dli_fname)
        h = dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    if (!h) h = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    if (!h)
        c->host->log(LLMRT_LOG_WARN, COMPONENT, "could not make libmpi global (%s); Open MPI "
                     "components may fail to load", dlerror());
    /* The handle is kept: libmpi stays loaded for the process anyway. */
}

/* Ranks, local ranks and the error handler of a new context over `comm`
 * (which the context now owns). */
static int setup_comm(mpi_ctx *c, MPI_Comm comm)
{
    int e;
    MPI_Comm local;
    c->comm = comm;
    if ((e = MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN)) ||
        (e = MPI_Comm_rank(comm, &c->rank)) || (e = MPI_Comm_size(comm, &c->size)))
        return mpi_err(c, e, "MPI_Comm_rank", "create", 0, LLMRT_DTYPE_F32);
    if ((e = MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &local)))
        return mpi_err(c, e, "MPI_Comm_split_type", "create", 0, LLMRT_DTYPE_F32);
    e = MPI_Comm_rank(local, &c->local_rank);
    if (!e) e = MPI_Comm_size(local, &c->local_size);
    MPI_Comm_free(&local);
    if (e) return mpi_err(c, e, "MPI_Comm_rank", "create", 0, LLMRT_DTYPE_F32);
    return LLMRT_OK;
}

/* MPI_Finalize waits for every rank. A rank that leaves on an error while
 * the others still sit in a collective would wait there for ever, so the
 * shutdown first meets the others at a barrier (on a communicator of its
 * own, so that it never matches a collective of the job) bounded by the
 * job's timeout. Past it the rank leaves without MPI_Finalize: the caller
 * still reports its own error and exits, and mpirun, seeing a process end
 * without finalizing, ends the job (collective.h rule 5). Returns 0 when
 * every rank arrived. */
static int shutdown_barrier(mpi_ctx *c)
{
    MPI_Request rq;
    if (c->size < 2 || c->shutdown_comm == MPI_COMM_NULL ||
        MPI_Ibarrier(c->shutdown_comm, &rq) != MPI_SUCCESS)
        return 0;
    double t0 = c->host->now();
    long sleep_ns = 1000;
    for (;;) {
        int done = 0;
        if (MPI_Test(&rq, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS || done) return 0;
        if (c->timeout_s > 0 && c->host->now() - t0 > c->timeout_s) {
            c->host->log(LLMRT_LOG_ERROR, COMPONENT, "rank %d of %d: the other ranks did not "
                         "reach shutdown within %g s ([runtime] timeout_s); leaving without "
                         "MPI_Finalize, which ends the job", c->rank, c->size, c->timeout_s);
            return -1;
        }
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
        if (sleep_ns < 10000000) sleep_ns *= 2;
    }
}

static int reap_parked(void);

static void mpi_destroy(void *ctx)
{
    mpi_ctx *c = ctx;
    if (!c) return;
    int last = c->is_root && --g_root_contexts == 0 && g_we_initialised, finalized = 0;
    MPI_Finalized(&finalized);
    if (last && !finalized) {
        /* MPI_Finalize with a collective still pending is erroneous (and
         * may wait for it), so a rank holding one leaves without it; the
         * launcher then ends the job, as after a failed shutdown barrier. */
        int pending = reap_parked();
        if (!pending && shutdown_barrier(c) != 0) pending = -1;
        if (!pending) pending = reap_parked();
        if (pending > 0)
            c->host->log(LLMRT_LOG_ERROR, COMPONENT, "rank %d of %d: %d collective(s) never "
                         "completed; leaving without MPI_Finalize, which ends the job",
                         c->rank, c->size, pending);
        if (pending) {
            free(c); /* communicators and MPI itself are left to the job's end */
            return;
        }
    }
    if (c->comm != MPI_COMM_NULL && !finalized) MPI_Comm_free(&c->comm);
    if (c->shutdown_comm != MPI_COMM_NULL && !finalized) MPI_Comm_free(&c->shutdown_comm);
    if (last && !finalized) {
        free_types();
        MPI_Finalize();
    }
    free(c);
}

static int mpi_create(const llmrt_host_api *host, llmrt_params *params,
                      const llmrt_collective_init *init, void **out)
{
    long max_count = INT_MAX;
    int rc, e, initialised = 0, finalized = 0;
    if (params && (rc = host->param_int(params, "max_count", INT_MAX, 1, INT_MAX,
                                        "elements per MPI call; larger counts are cut into "
                                        "chunks (lower it only to test chunking)",
                                        &max_count)))
        return rc;
    mpi_ctx *c = calloc(1, sizeof *c);
    if (!c) return host->error(LLMRT_ERR_NOMEM, "mpi: out of memory");
    c->host = host;
    c->comm = c->shutdown_comm = MPI_COMM_NULL;
    c->max_count = (size_t)max_count;
    c->timeout_s = init && init->struct_size >= offsetof(llmrt_collective_init, timeout_s) +
                                                    sizeof(double) ? init->timeout_s : 0.0;
    c->host_addressable = init && init->struct_size >= offsetof(llmrt_collective_init,
                                                                host_addressable) + sizeof(int)
                              ? init->host_addressable : 1;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalized);
    if (finalized) {
        free(c);
        return host->error(LLMRT_ERR_UNSUPPORTED, "mpi: MPI has already been finalized in "
                           "this process (MPI cannot be initialised twice)");
    }
    if (!initialised) {
        int provided = 0;
        promote_libmpi(c);
        e = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
        if (e != MPI_SUCCESS) {
            free(c);
            return host->error(LLMRT_ERR_COMM, "mpi: MPI_Init_thread failed (error %d); run "
                               "under mpirun, or check the Open MPI installation", e);
        }
        g_we_initialised = 1;
        if (provided < MPI_THREAD_SERIALIZED)
            host->log(LLMRT_LOG_INFO, COMPONENT, "MPI provides thread level %d, below "
                      "MPI_THREAD_SERIALIZED; keep every call on one thread", provided);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm dup;
    c->is_root = 1;
    g_root_contexts++;
    if ((rc = init_types(c))) goto fail;
    if ((e = MPI_Comm_dup(MPI_COMM_WORLD, &dup))) {
        rc = mpi_err(c, e, "MPI_Comm_dup", "create", 0, LLMRT_DTYPE_F32);
        goto fail;
    }
    if ((rc = setup_comm(c, dup))) goto fail;
    if ((e = MPI_Comm_dup(MPI_COMM_WORLD, &c->shutdown_comm))) {
        c->shutdown_comm = MPI_COMM_NULL;
        rc = mpi_err(c, e, "MPI_Comm_dup", "create", 0, LLMRT_DTYPE_F32);
        goto fail;
    }
    *out = c;
    return LLMRT_OK;
fail:
    mpi_destroy(c);
    return rc;
}

static int mpi_split(void *ctx, int color, int key, void **new_ctx)
{
    mpi_ctx *c = ctx;
    MPI_Comm comm;
    int e = MPI_Comm_split(c->comm, color < 0 ? MPI_UNDEFINED : color, key, &comm);
    if (e) return mpi_err(c, e, "MPI_Comm_split", "split", 0, LLMRT_DTYPE_F32);
    if (comm == MPI_COMM_NULL)
        return c->host->error(LLMRT_ERR_INVALID, "mpi: split: color %d is negative (every "
                              "rank needs a group)", color);
    mpi_ctx *g = calloc(1, sizeof *g);
    if (!g) {
        MPI_Comm_free(&comm);
        return c->host->error(LLMRT_ERR_NOMEM, "mpi: out of memory");
    }
    g->host = c->host;
    g->host_addressable = c->host_addressable;
    g->max_count = c->max_count;
    g->timeout_s = c->timeout_s;
    g->comm = g->shutdown_comm = MPI_COMM_NULL;
    int rc = setup_comm(g, comm);
    if (rc) {
        mpi_destroy(g);
        return rc;
    }
    *new_ctx = g;
    return LLMRT_OK;
}

static int mpi_get_caps(void *ctx, llmrt_collective_caps *caps)
{
    mpi_ctx *c = ctx;
    memset(caps, 0, sizeof *caps);
    caps->struct_size = sizeof *caps;
    caps->rank = c->rank;
    caps->world_size = c->size;
    caps->local_rank = c->local_rank;
    caps->local_size = c->local_size;
    caps->device_memory = c->host_addressable ? 1 : 0; /* no CUDA-aware MPI assumed */
    caps->reduce_dtypes = REDUCE_DTYPES;
    return LLMRT_OK;
}

/* --- calls: every collective is posted nonblocking ------------------------ */

/* Works whose MPI requests outlived their caller: a blocking call or a
 * released work that did not complete in time. MPI cannot cancel or free a
 * collective's request, so they stay here until MPI completes them (reaped
 * by later calls and by destroy()) or the process ends. Process-wide, since
 * they outlive their context; MPI calls are serialised anyway
 * (MPI_THREAD_SERIALIZED, collective.h rule 7). */
static llmrt_work *g_parked;

typedef struct call {
    mpi_ctx *c;
    llmrt_work *w;
    int async;     /* the caller gets the work; else finish() waits for it */
    int n_planned; /* requests the call will post */
} call;

static void describe(const llmrt_work *w, char *buf, size_t size)
{
    if (!strcmp(w->op, "barrier")) snprintf(buf, size, "barrier");
    else snprintf(buf, size, "%s of %zu %s", w->op, w->count, dtype_name(w->dtype));
}

static int begin(mpi_ctx *c, call *k, const char *op, size_t count, llmrt_dtype dtype,
                 int n_reqs, int async)
{
    *k = (call){.c = c, .async = async, .n_planned = n_reqs};
    /* After a request was abandoned the job is meant to end (collective.h:
     * "after which the job should be aborted"); a later collective would
     * only wait out its own deadline behind the lost one, so say why now. */
    if (c->failed[0])
        return c->host->error(LLMRT_ERR_COMM, "mpi: rank %d of %d: %s refused: %s; the job "
                              "must be aborted", c->rank, c->size, op, c->failed);
    llmrt_work *w = calloc(1, sizeof *w);
    if (!w) return c->host->error(LLMRT_ERR_NOMEM, "mpi: out of memory");
    w->op = op;
    w->count = count;
    w->dtype = dtype;
    w->blocking = !async;
    w->reqs = &w->one_req; /* most calls post one request: no second allocation */
    if (n_reqs > 1) {
        w->reqs = malloc((size_t)n_reqs * sizeof *w->reqs);
        if (!w->reqs) {
            free(w);
            return c->host->error(LLMRT_ERR_NOMEM, "mpi: out of memory");
        }
    }
    k->w = w;
    return LLMRT_OK;
}

static MPI_Request *next_req(call *k) { return &k->w->reqs[k->w->n_reqs++]; }

static void divide(void *buf, size_t n, llmrt_dtype t, int by)
{
    switch (t) {
    case LLMRT_DTYPE_F32:
        for (size_t i = 0; i < n; i++) ((float *)buf)[i] /= (float)by;
        break;
    case LLMRT_DTYPE_F64:
        for (size_t i = 0; i < n; i++) ((double *)buf)[i] /= (double)by;
        break;
    case LLMRT_DTYPE_I32:
        for (size_t i = 0; i < n; i++) ((int32_t *)buf)[i] /= by;
        break;
    case LLMRT_DTYPE_F16:
    case LLMRT_DTYPE_BF16: {
        int bf = t == LLMRT_DTYPE_BF16;
        for (size_t i = 0; i < n; i++) half_put(buf, i, half_get(buf, i, bf) / (float)by, bf);
        break;
    }
    default: break;
    }
}

/* What runs once the MPI calls of `w` have completed. */
static void complete(mpi_ctx *c, llmrt_work *w)
{
    if (w->done) return;
    w->done = 1;
    if (w->status) return;
    if (w->avg_buf) divide(w->avg_buf, w->avg_n, w->dtype, c->size);
    if (w->tmp) memcpy(w->copy_dst, w->tmp, w->copy_bytes);
    free(w->tmp);
    w->tmp = NULL;
}

static void work_free(llmrt_work *w)
{
    if (w->reqs != &w->one_req) free(w->reqs);
    free(w->tmp);
    free(w);
}

static int record_failure(mpi_ctx *c, llmrt_work *w, int err)
{
    char s[MPI_MAX_ERROR_STRING], what[96];
    int len = 0;
    if (MPI_Error_string(err, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", err);
    describe(w, what, sizeof what);
    snprintf(w->msg, sizeof w->msg, "mpi: rank %d of %d: %s%s failed: %s", c->rank, c->size,
             w->blocking ? "" : "asynchronous ", what, s);
    w->status = LLMRT_ERR_COMM;
    w->done = 1;
    return c->host->error(w->status, "%s", w->msg);
}

/* What a test does when the requests have completed. */
typedef enum {
    POLL_FINISH,  /* complete() the work (avg, copy) and record a failure */
    POLL_QUIET,   /* the caller gave the buffers up, or has its own error:
                     mark the work done, finish nothing, record nothing */
    POLL_PARTIAL, /* the chunks posted so far: more follow (wait_posted) */
} poll_mode;

/* One MPI_Testall over the work's requests; 1 when they have completed or
 * failed (a failure marks the work done, w->status says so). */
static int test_once(mpi_ctx *c, llmrt_work *w, poll_mode mode)
{
    if (w->done) return 1;
    /* MPI_Test of a single request returns its own error (MPI_Testall
     * would say only MPI_ERR_IN_STATUS). */
    int flag = 0, e = w->n_reqs == 1 ? MPI_Test(w->reqs, &flag, MPI_STATUS_IGNORE)
                                     : MPI_Testall(w->n_reqs, w->reqs, &flag,
                                                   MPI_STATUSES_IGNORE);
    if (e) {
        if (mode == POLL_QUIET) w->status = LLMRT_ERR_COMM, w->done = 1;
        else record_failure(c, w, e);
        return 1;
    }
    if (!flag) return 0;
    if (mode == POLL_FINISH) complete(c, w);
    else if (mode == POLL_QUIET) w->done = 1;
    return 1;
}

/* Seconds polls spin before they start to sleep. Open MPI's nonblocking
 * collectives progress only inside MPI calls, so short collectives (the
 * many small ones) finish within the spin at full speed. Longer ones lose
 * little to sleeps of at most 1 ms (a large transfer's copy runs inside one
 * MPI_Test), and on a loaded machine the sleeps give the CPU to the ranks
 * still computing: 64 MiB allreduce measured as fast with 2 ms as with 50. */
#define SPIN_S 0.002

/* Poll until the requests of `w` complete (returns 1) or `timeout_s` has
 * passed (returns 0; 0 = no limit, < 0 = test once). Spins for SPIN_S, then
 * sleeps between polls, doubling from 1 us to 1 ms, so a long wait for a
 * late peer leaves the CPU to others. The time is added to w->waited_s. */
static int poll_work(mpi_ctx *c, llmrt_work *w, double timeout_s, poll_mode mode)
{
    double t0 = c->host->now(), elapsed = 0.0;
    long sleep_ns = 0;
    int done;
    while (!(done = test_once(c, w, mode))) {
        elapsed = c->host->now() - t0;
        if (timeout_s < 0 || (timeout_s > 0 && elapsed > timeout_s)) break;
        if (elapsed > SPIN_S) {
            sleep_ns = sleep_ns ? sleep_ns * 2 : 1000;
            if (sleep_ns > 1000000) sleep_ns = 1000000;
            struct timespec ts = {0, sleep_ns};
            nanosleep(&ts, NULL);
        }
    }
    w->waited_s += c->host->now() - t0;
    return done;
}

/* What is left of [runtime] timeout_s for a blocking call or a release of
 * `w` after its earlier waits, for poll_work(): 0 = no limit, < 0 = none. */
static double time_left(mpi_ctx *c, const llmrt_work *w)
{
    if (c->timeout_s <= 0) return 0.0;
    double left = c->timeout_s - w->waited_s;
    return left > 0 ? left : -1.0;
}

/* Record and return the timeout of `w` (the message names the collective,
 * its count, the rank and the seconds waited). */
static int timeout_error(mpi_ctx *c, llmrt_work *w, double timeout_s)
{
    char what[96];
    describe(w, what, sizeof what);
    snprintf(w->msg, sizeof w->msg, "mpi: rank %d of %d: %s%s did not complete within %g s "
             "(waited %.2f s; a peer may be stuck or dead; abort the job)", c->rank, c->size,
             w->blocking ? "blocking " : "", what, timeout_s, w->waited_s);
    return c->host->error(LLMRT_ERR_TIMEOUT, "%s", w->msg);
}

/* Keep a work whose requests cannot complete in time (g_parked) and mark
 * the context failed, so that its later calls are refused. */
static void park(mpi_ctx *c, llmrt_work *w)
{
    char what[96];
    describe(w, what, sizeof what);
    if (!c->failed[0])
        snprintf(c->failed, sizeof c->failed, "an earlier %s did not complete within %.2f s",
                 what, w->waited_s);
    w->next = g_parked;
    g_parked = w;
}

/* Free the parked works MPI has completed since; returns how many remain.
 * Their results are not finished (the callers gave their buffers up). */
static int reap_parked(void)
{
    int left = 0;
    for (llmrt_work **p = &g_parked; *p;) {
        llmrt_work *w = *p;
        int flag = 0, e = MPI_Testall(w->n_reqs, w->reqs, &flag, MPI_STATUSES_IGNORE);
        if (e || flag) {
            *p = w->next;
            work_free(w);
        } else {
            p = &w->next;
            left++;
        }
    }
    return left;
}

/* Finish a call: an asynchronous one hands its work to the caller; a
 * blocking one is waited for, bounded by [runtime] timeout_s, and on timeout
 * its requests are parked (the caller gets LLMRT_ERR_TIMEOUT). A failed post
 * cancels nothing (MPI cannot cancel collectives): what was posted is waited
 * for, with the same bound, before the caller gets its buffers back. */
static int finish(call *k, int rc, llmrt_work **work)
{
    mpi_ctx *c = k->c;
    llmrt_work *w = k->w;
    if (g_parked) reap_parked();
    if (rc) {
        if (w->n_reqs > 0 && !w->done && !poll_work(c, w, time_left(c, w), POLL_QUIET))
            park(c, w);
        else work_free(w);
        return rc;
    }
    if (k->async) {
        if (w->n_reqs == 0) complete(c, w);
        *work = w;
        return LLMRT_OK;
    }
    if (!poll_work(c, w, time_left(c, w), POLL_FINISH)) {
        rc = timeout_error(c, w, c->timeout_s);
        park(c, w);
        return rc;
    }
    rc = w->status;
    work_free(w);
    return rc;
}

/* A blocking call cut into chunks waits for the chunks posted so far
 * before it posts the next, as a loop of blocking MPI calls would:
 * thousands of outstanding collectives slow Open MPI down (every test walks
 * all of them). Asynchronous calls post everything at once. */
static int wait_posted(call *k)
{
    mpi_ctx *c = k->c;
    llmrt_work *w = k->w;
    if (k->async || w->n_reqs >= k->n_planned) return LLMRT_OK;
    if (poll_work(c, w, time_left(c, w), POLL_PARTIAL)) return w->status;
    return timeout_error(c, w, c->timeout_s);
}

static size_t n_chunks(mpi_ctx *c, size_t count)
{
    return count == 0 ? 0 : (count + c->max_count - 1) / c->max_count;
}

static int too_many(mpi_ctx *c, const char *op, size_t reqs)
{
    if (reqs <= (size_t)INT_MAX / 2) return LLMRT_OK;
    return c->host->error(LLMRT_ERR_INVALID, "mpi: %s needs %zu MPI calls (lower the count or "
                          "raise [mpi] max_count)", op, reqs);
}

/* A reduction's dtype and operator, checked and mapped to MPI's. */
static int reduce_args(mpi_ctx *c, const char *name, llmrt_dtype dtype, llmrt_reduce_op op,
                       MPI_Op *mop)
{
    int rc = check_dtype(c, name, dtype, 1);
    return rc ? rc : mpi_reduce_op(c, name, dtype, op, mop);
}

static int mpi_allreduce(void *ctx, const void *send, void *recv, size_t count,
                         llmrt_dtype dtype, llmrt_reduce_op op, void *stream,
                         llmrt_work **work)
{
    (void)stream;
    mpi_ctx *c = ctx;
    MPI_Op mop;
    call k;
    int rc;
    if ((rc = reduce_args(c, "allreduce", dtype, op, &mop))) return rc;
    size_t chunks = n_chunks(c, count), es = llmrt_dtype_size(dtype);
    if ((rc = too_many(c, "allreduce", chunks)) ||
        (rc = begin(c, &k, "allreduce", count, dtype, (int)chunks, work != NULL)))
        return rc;
    MPI_Datatype t = mpi_type(dtype);
    int in_place = send == recv;
    for (size_t i = 0; i < chunks && !rc; i++) {
        size_t off = i * c->max_count, n = count - off < c->max_count ? count - off : c->max_count;
        const void *s = in_place ? MPI_IN_PLACE : (const char *)send + off * es;
        void *r = (char *)recv + off * es;
        int e = MPI_Iallreduce(s, r, (int)n, t, mop, c->comm, next_req(&k));
        rc = e ? mpi_err(c, e, "MPI_Iallreduce", "allreduce", count, dtype) : wait_posted(&k);
    }
    if (op == LLMRT_REDUCE_AVG && c->size > 1) {
        k.w->avg_buf = recv;
        k.w->avg_n = count;
    }
    return finish(&k, rc, work);
}

static int mpi_reduce_scatter(void *ctx, const void *send, void *recv, size_t recv_count,
                              llmrt_dtype dtype, llmrt_reduce_op op, void *stream,
                              llmrt_work **work)
{
    (void)stream;
    mpi_ctx *c = ctx;
    MPI_Op mop;
    call k;
    int rc;
    if ((rc = reduce_args(c, "reduce_scatter", dtype, op, &mop))) return rc;
    size_t es = llmrt_dtype_size(dtype), chunks = n_chunks(c, recv_count);
    MPI_Datatype t = mpi_type(dtype);
    int in_place = (const char *)recv == (const char *)send + (size_t)c->rank * recv_count * es;
    int async = work != NULL;
    if (chunks <= 1) {
        /* One MPI_Reduce_scatter_block. MPI's in-place form reads the whole
         * buffer and leaves the result at its start, which is not rule 3's
         * layout, so in-place goes through a temporary instead. */
        if ((rc = begin(c, &k, "reduce_scatter", recv_count, dtype, (int)chunks, async)))
            return rc;
        if (chunks) {
            void *r = recv;
            if (in_place) {
                k.w->tmp = malloc(recv_count * es);
                if (!k.w->tmp) {
                    work_free(k.w);
                    return c->host->error(LLMRT_ERR_NOMEM, "mpi: reduce_scatter: out of "
                                          "memory for %zu bytes", recv_count * es);
                }
                k.w->copy_dst = recv;
                k.w->copy_bytes = recv_count * es;
                r = k.w->tmp;
            }
            int n = (int)recv_count;
            int e = MPI_Ireduce_scatter_block(send, r, n, t, mop, c->comm, next_req(&k));
            if (e) rc = mpi_err(c, e, "MPI_Ireduce_scatter_block", "reduce_scatter", recv_count,
                                dtype);
        }
    } else {
        /* Counts past max_count: one MPI_Reduce per (destination rank, chunk). */
        size_t reqs = chunks * (size_t)c->size;
        if ((rc = too_many(c, "reduce_scatter", reqs)) ||
            (rc = begin(c, &k, "reduce_scatter", recv_count, dtype, (int)reqs, async)))
            return rc;
        for (int root = 0; root < c->size && !rc; root++) {
            for (size_t i = 0; i < chunks && !rc; i++) {
                size_t off = i * c->max_count;
                int n = (int)(recv_count - off < c->max_count ? recv_count - off : c->max_count);
                const void *s = (const char *)send + ((size_t)root * recv_count + off) * es;
                void *r = NULL;
                if (root == c->rank) {
                    r = (char *)recv + off * es;
                    if (in_place) s = MPI_IN_PLACE;
                }
                int e = MPI_Ireduce(s, r, n, t, mop, root, c->comm, next_req(&k));
                rc = e ? mpi_err(c, e, "MPI_Ireduce", "reduce_scatter", recv_count, dtype)
                       : wait_posted(&k);
            }
        }
    }
    if (op == LLMRT_REDUCE_AVG && c->size > 1) {
        k.w->avg_buf = k.w->tmp ? k.w->tmp : recv;
        k.w->avg_n = recv_count;
    }
    return finish(&k, rc, work);
}

static int mpi_all_gather(void *ctx, const void *send, void *recv, size_t send_count,
                          llmrt_dtype dtype, void *stream, llmrt_work **work)
{
    (void)stream;
    mpi_ctx *c = ctx;
    call k;
    int rc;
    if ((rc = check_dtype(c, "all_gather", dtype, 0))) return rc;
    size_t es = llmrt_dtype_size(dtype), chunks = n_chunks(c, send_count);
    MPI_Datatype t = mpi_type(dtype);
    char *mine = (char *)recv + (size_t)c->rank * send_count * es;
    int in_place = (const char *)send == mine, async = work != NULL;
    if (chunks <= 1) {
        if ((rc = begin(c, &k, "all_gather", send_count, dtype, (int)chunks, async))) return rc;
        if (chunks) {
            int n = (int)send_count;
            const void *s = in_place ? MPI_IN_PLACE : send;
            int e = MPI_Iallgather(s, n, t, recv, n, t, c->comm, next_req(&k));
            if (e) rc = mpi_err(c, e, "MPI_Iallgather", "all_gather", send_count, dtype);
        }
    } else {
        /* Counts past max_count: every rank broadcasts its block in chunks. */
        size_t reqs = chunks * (size_t)c->size;
        if ((rc = too_many(c, "all_gather", reqs)) ||
            (rc = begin(c, &k, "all_gather", send_count, dtype, (int)reqs, async)))
            return rc;
        if (!in_place) memcpy(mine, send, send_count * es);
        for (int root = 0; root < c->size && !rc; root++) {
            for (size_t i = 0; i < chunks && !rc; i++) {
                size_t off = i * c->max_count;
                int n = (int)(send_count - off < c->max_count ? send_count - off : c->max_count);
                void *b = (char *)recv + ((size_t)root * send_count + off) * es;
                int e = MPI_Ibcast(b, n, t, root, c->comm, next_req(&k));
                rc = e ? mpi_err(c, e, "MPI_Ibcast", "all_gather", send_count, dtype)
                       : wait_posted(&k);
            }
        }
    }
    return finish(&k, rc, work);
}

static int mpi_broadcast(void *ctx, void *buf, size_t count, llmrt_dtype dtype, int root,
                         void *stream, llmrt_work **work)
{
    (void)stream;
    mpi_ctx *c = ctx;
    call k;
    int rc;
    if ((rc = check_dtype(c, "broadcast", dtype, 0))) return rc;
    if (root < 0 || root >= c->size)
        return c->host->error(LLMRT_ERR_INVALID, "mpi: broadcast root %d does not exist (ranks "
                              "are 0..%d)", root, c->size - 1);
    size_t es = llmrt_dtype_size(dtype), chunks = n_chunks(c, count);
    if ((rc = too_many(c, "broadcast", chunks)) ||
        (rc = begin(c, &k, "broadcast", count, dtype, (int)chunks, work != NULL)))
        return rc;
    MPI_Datatype t = mpi_type(dtype);
    for (size_t i = 0; i < chunks && !rc; i++) {
        size_t off = i * c->max_count;
        int n = (int)(count - off < c->max_count ? count - off : c->max_count);
        void *b = (char *)buf + off * es;
        int e = MPI_Ibcast(b, n, t, root, c->comm, next_req(&k));
        rc = e ? mpi_err(c, e, "MPI_Ibcast", "broadcast", count, dtype) : wait_posted(&k);
    }
    return finish(&k, rc, work);
}

static int mpi_barrier(void *ctx)
{
    mpi_ctx *c = ctx;
    call k;
    int rc = begin(c, &k, "barrier", 0, LLMRT_DTYPE_U8, 1, 0);
    if (rc) return rc;
    int e = MPI_Ibarrier(c->comm, next_req(&k));
    if (e) rc = mpi_err(c, e, "MPI_Ibarrier", "barrier", 0, LLMRT_DTYPE_U8);
    return finish(&k, rc, NULL);
}

/* --- work handles -------------------------------------------------------- */

static int mpi_work_test(void *ctx, llmrt_work *work, int *done)
{
    mpi_ctx *c = ctx;
    if (work->done) {
        *done = 1;
        return work->status ? c->host->error(work->status, "%s", work->msg) : LLMRT_OK;
    }
    *done = test_once(c, work, POLL_FINISH); /* records a failure it finds */
    return *done ? work->status : LLMRT_OK;
}

static int mpi_work_wait(void *ctx, llmrt_work *work, double timeout_s)
{
    mpi_ctx *c = ctx;
    if (work->done)
        return work->status ? c->host->error(work->status, "%s", work->msg) : LLMRT_OK;
    if (poll_work(c, work, timeout_s > 0 ? timeout_s : 0.0, POLL_FINISH)) return work->status;
    /* The work stays valid: it can be waited for again, or released. */
    return timeout_error(c, work, timeout_s);
}

static int mpi_work_error(void *ctx, llmrt_work *work)
{
    mpi_ctx *c = ctx;
    if (work->status) return c->host->error(work->status, "%s", work->msg);
    return LLMRT_OK;
}

/* Releasing an unfinished work: MPI cannot free or cancel a collective's
 * request, and its buffers are the caller's again once this returns, so the
 * release waits for it, for what is left of [runtime] timeout_s after the
 * work's own waits (so a core that releases right after a timed-out wait
 * does not wait twice). What still has not completed then is parked and the
 * context refuses further calls (docs/mpi.md, Failures). */
static void mpi_work_release(void *ctx, llmrt_work *work)
{
    mpi_ctx *c = ctx;
    if (!work) return;
    /* A failed context's peers are stuck: one last test, no wait. */
    if (!work->done)
        poll_work(c, work, c->failed[0] ? -1.0 : time_left(c, work), POLL_QUIET);
    if (work->done) {
        work_free(work);
        return;
    }
    char what[96];
    describe(work, what, sizeof what);
    c->host->log(LLMRT_LOG_ERROR, COMPONENT, "rank %d of %d: released an unfinished %s "
                 "(waited %.2f s in all); MPI cannot cancel it, so its request is kept until "
                 "the job ends and this communicator refuses further collectives",
                 c->rank, c->size, what, work->waited_s);
    park(c, work);
}
static void mpi_abort(void *ctx, const char *reason)
{
    mpi_ctx *c = ctx;
    c->host->log(LLMRT_LOG_ERROR, COMPONENT, "rank %d of %d: aborting the job: %s", c->rank,
                 c->size, reason ? reason : "(no reason given)");
    MPI_Abort(c->comm != MPI_COMM_NULL ? c->comm : MPI_COMM_WORLD, 1);
    exit(EXIT_FAILURE);
}

static const llmrt_collective_vtable mpi_vtable = {
    .struct_size = sizeof(llmrt_collective_vtable),
    .create = mpi_create,
    .destroy = mpi_destroy,
    .get_caps = mpi_get_caps,
    .allreduce = mpi_allreduce,
    .reduce_scatter = mpi_reduce_scatter,
    .all_gather = mpi_all_gather,
    .broadcast = mpi_broadcast,
    .barrier = mpi_barrier,
    .work_test = mpi_work_test,
    .work_wait = mpi_work_wait,
    .work_error = mpi_work_error,
    .work_release = mpi_work_release,
    .abort = mpi_abort,
    .split = mpi_split,
};

static const llmrt_component mpi_components[] = {{
    .struct_size = sizeof(llmrt_component),
    .kind = LLMRT_KIND_COLLECTIVE,
    .name = "mpi",
    .description = "MPI (Open MPI): ranks from mpirun or a singleton start",
    .probe = NULL,
    .vtable = &mpi_vtable,
}};

LLMRT_PLUGIN_EXPORT const llmrt_plugin llmrt_plugin_v1 = {
    LLMRT_PLUGIN_HEADER(LLMRT_KIND_COLLECTIVE, "mpi", "0.1.0"),
    .n_components = 1,
    .components = mpi_components,
};
