/* test_mpi_coll.c — the mpi collective, loaded through the core's registry,
 * against MPI's own results computed here with plain MPI calls.
 *
 * Run under `mpirun -np N` (tests/mpi/test_mpi_coll.sh runs N = 1..4).
 * Every op (allreduce sum/avg/max/min, reduce_scatter, all_gather,
 * broadcast, barrier), blocking and asynchronous, in place and not, for
 * several sizes (0, 1, sizes not divisible by N, a few thousand), for f32,
 * f64 and i32; f16/bf16 reductions; split; a timeout; argument errors.
 *
 * The reference is the MPI call the plugin makes (MPI_Iallreduce for a
 * blocking allreduce too: the plugin posts every call nonblocking so that
 * blocking calls can time out) on a communicator of the same shape, so
 * floating-point results must agree bit for bit. With argument
 * `max_count=K` the plugin cuts calls into chunks of K elements, which
 * changes the reduction order; the data are then small integers (exact in
 * any order) and equality is still bitwise.
 *
 * Exit status: 0 all passed, 1 a failure, 77 the plugin is not built. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

#include <llmrt/llmrt.h>
#include "config.h"
#include "error.h"
#include "host_api.h"
#include "registry.h"
#include "mpi_test.h"

static int rank, size, fails, checks, exact_data;
static const llmrt_collective_vtable *vt;
static void *ctx;


static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* Element i of the data of rank r for test `seed`. */
static void fill(void *buf, size_t n, llmrt_dtype t, int r, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t h = mix(seed * 1000003u + (uint64_t)r * 7919u + i);
        double v = exact_data ? (double)((int)(h % 65) - 32)
                              : ((double)(h >> 11) / 9007199254740992.0 - 0.5) * 100.0;
        switch (t) {
        case LLMRT_DTYPE_F32: ((float *)buf)[i] = (float)v; break;
        case LLMRT_DTYPE_F64: ((double *)buf)[i] = v; break;
        case LLMRT_DTYPE_I32: ((int32_t *)buf)[i] = (int32_t)(h % 2001) - 1000; break;
        default: ((uint8_t *)buf)[i] = (uint8_t)h; break;
        }
    }
}

static MPI_Datatype mtype(llmrt_dtype t)
{
    return t == LLMRT_DTYPE_F32 ? MPI_FLOAT : t == LLMRT_DTYPE_F64 ? MPI_DOUBLE
         : t == LLMRT_DTYPE_I32 ? MPI_INT32_T : MPI_UINT8_T;
}

static MPI_Op mop(llmrt_reduce_op op)
{
    return op == LLMRT_REDUCE_MAX ? MPI_MAX : op == LLMRT_REDUCE_MIN ? MPI_MIN : MPI_SUM;
}

static void divide(void *buf, size_t n, llmrt_dtype t)
{
    for (size_t i = 0; i < n; i++) {
        if (t == LLMRT_DTYPE_F32) ((float *)buf)[i] /= (float)size;
        else if (t == LLMRT_DTYPE_F64) ((double *)buf)[i] /= (double)size;
        else ((int32_t *)buf)[i] /= size;
    }
}

static const char *const dnames[] = {"f32", "f16", "bf16", "i8", "i32", "u16", "u8", "f64"};
static const char *const onames[] = {"sum", "avg", "max", "min"};

/* Wait for an asynchronous call, polling work_test first half the time. */
static int wait_work(llmrt_work *w, int use_test)
{
    int rc = LLMRT_OK, done = 0;
    if (use_test)
        while (!(rc = vt->work_test(ctx, w, &done)) && !done) {}
    else
        rc = vt->work_wait(ctx, w, 30.0);
    if (!rc) rc = vt->work_error(ctx, w);
    vt->work_release(ctx, w);
    return rc;
}

static void test_allreduce(size_t n, llmrt_dtype t, llmrt_reduce_op op, int async, int inplace,
                           uint64_t seed)
{
    size_t es = llmrt_dtype_size(t);
    char *send = malloc(n * es + 1), *recv = malloc(n * es + 1), *ref = malloc(n * es + 1);
    fill(send, n, t, rank, seed);
    MPI_Request rq;
    MPI_Iallreduce(send, ref, (int)n, mtype(t), mop(op), MPI_COMM_WORLD, &rq);
    MPI_Wait(&rq, MPI_STATUS_IGNORE);
    if (op == LLMRT_REDUCE_AVG) divide(ref, n, t);
    llmrt_work *w = NULL;
    if (inplace) memcpy(recv, send, n * es);
    int rc = vt->allreduce(ctx, inplace ? recv : send, recv, n, t, op, NULL, async ? &w : NULL);
    if (!rc && async) rc = wait_work(w, (int)(seed & 1));
    CHECK(rc == 0 && memcmp(recv, ref, n * es) == 0,
          "allreduce %s %s n=%zu async=%d inplace=%d: rc=%d, differs from MPI", onames[op],
          dnames[t], n, async, inplace, rc);
    free(send), free(recv), free(ref);
}

static void test_reduce_scatter(size_t n, llmrt_dtype t, llmrt_reduce_op op, int async,
                                int inplace, uint64_t seed)
{
    size_t es = llmrt_dtype_size(t), all = n * (size_t)size;
    char *send = malloc(all * es + 1), *recv = malloc(n * es + 1), *ref = malloc(n * es + 1);
    char *copy = malloc(all * es + 1);
    fill(send, all, t, rank, seed);
    memcpy(copy, send, all * es);
    MPI_Request rq;
    if (n) {
        MPI_Ireduce_scatter_block(send, ref, (int)n, mtype(t), mop(op), MPI_COMM_WORLD, &rq);
        MPI_Wait(&rq, MPI_STATUS_IGNORE);
    }
    if (op == LLMRT_REDUCE_AVG) divide(ref, n, t);
    llmrt_work *w = NULL;
    char *out = inplace ? send + (size_t)rank * n * es : recv;
    int rc = vt->reduce_scatter(ctx, send, out, n, t, op, NULL, async ? &w : NULL);
    if (!rc && async) rc = wait_work(w, (int)(seed & 1));
    CHECK(rc == 0 && memcmp(out, ref, n * es) == 0,
          "reduce_scatter %s %s n=%zu async=%d inplace=%d: rc=%d, differs from MPI",
          onames[op], dnames[t], n, async, inplace, rc);
    /* The rest of an in-place buffer is left alone. */
    if (inplace && rc == 0)
        CHECK(memcmp(send, copy, (size_t)rank * n * es) == 0 &&
                  memcmp(out + n * es, copy + ((size_t)rank + 1) * n * es,
                         (all - ((size_t)rank + 1) * n) * es) == 0,
              "reduce_scatter in place n=%zu touched other ranks' blocks", n);
    free(send), free(recv), free(ref), free(copy);
}

static void test_all_gather(size_t n, llmrt_dtype t, int async, int inplace, uint64_t seed)
{
    size_t es = llmrt_dtype_size(t), all = n * (size_t)size;
    char *send = malloc(n * es + 1), *recv = malloc(all * es + 1), *ref = malloc(all * es + 1);
    fill(send, n, t, rank, seed);
    MPI_Request rq;
    MPI_Iallgather(send, (int)n, mtype(t), ref, (int)n, mtype(t), MPI_COMM_WORLD, &rq);
    MPI_Wait(&rq, MPI_STATUS_IGNORE);
    memset(recv, 0xee, all * es);
    const char *in = send;
    if (inplace) {
        memcpy(recv + (size_t)rank * n * es, send, n * es);
        in = recv + (size_t)rank * n * es;
    }
    llmrt_work *w = NULL;
    int rc = vt->all_gather(ctx, in, recv, n, t, NULL, async ? &w : NULL);
    if (!rc && async) rc = wait_work(w, (int)(seed & 1));
    CHECK(rc == 0 && memcmp(recv, ref, all * es) == 0,
          "all_gather %s n=%zu async=%d inplace=%d: rc=%d, differs from MPI", dnames[t], n,
          async, inplace, rc);
    free(send), free(recv), free(ref);
}

static void test_broadcast(size_t n, llmrt_dtype t, int root, int async, uint64_t seed)
{
    size_t es = llmrt_dtype_size(t);
    char *buf = malloc(n * es + 1), *ref = malloc(n * es + 1);
    fill(ref, n, t, root, seed); /* what root holds, known to all */
    if (rank == root) memcpy(buf, ref, n * es);
    else memset(buf, 0xee, n * es);
    llmrt_work *w = NULL;
    int rc = vt->broadcast(ctx, buf, n, t, root, NULL, async ? &w : NULL);
    if (!rc && async) rc = wait_work(w, (int)(seed & 1));
    CHECK(rc == 0 && memcmp(buf, ref, n * es) == 0,
          "broadcast %s n=%zu root=%d async=%d: rc=%d, differs", dnames[t], n, root, async, rc);
    free(buf), free(ref);
}

/* Small integers in f16 / bf16 (exact: |v| <= 2048 for f16, <= 256 for bf16). */
static uint16_t half_of_int(int v, int bf)
{
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, 4);
    if (bf) return (uint16_t)(u >> 16);
    if (v == 0) return 0;
    uint32_t sign = (u >> 16) & 0x8000u, exp = ((u >> 23) & 0xff) - 127 + 15;
    return (uint16_t)(sign | (exp << 10) | ((u >> 13) & 0x3ffu));
}

static void test_half(size_t n, int bf, llmrt_reduce_op op, int async, uint64_t seed)
{
    llmrt_dtype t = bf ? LLMRT_DTYPE_BF16 : LLMRT_DTYPE_F16;
    int32_t *iv = malloc(n * 4 + 4), *iref = malloc(n * 4 + 4);
    uint16_t *buf = malloc(n * 2 + 2), *ref = malloc(n * 2 + 2);
    for (size_t i = 0; i < n; i++) iv[i] = (int32_t)(mix(seed + (uint64_t)rank * 31 + i) % 21) - 10;
    MPI_Allreduce(iv, iref, (int)n, MPI_INT32_T, mop(op), MPI_COMM_WORLD);
    for (size_t i = 0; i < n; i++) {
        buf[i] = half_of_int(iv[i], bf);
        int32_t r = iref[i];
        if (op == LLMRT_REDUCE_AVG) r /= size; /* exact: only with size | r, see below */
        ref[i] = half_of_int(r, bf);
    }
    if (op == LLMRT_REDUCE_AVG) /* make the sums divisible: every rank sends size * v */
        for (size_t i = 0; i < n; i++) {
            buf[i] = half_of_int(iv[i] * size, bf);
            ref[i] = half_of_int(iref[i], bf);
        }
    llmrt_work *w = NULL;
    int rc = vt->allreduce(ctx, buf, buf, n, t, op, NULL, async ? &w : NULL);
    if (!rc && async) rc = wait_work(w, 0);
    CHECK(rc == 0 && memcmp(buf, ref, n * 2) == 0, "allreduce %s %s n=%zu async=%d: rc=%d, "
          "differs", onames[op], bf ? "bf16" : "f16", n, async, rc);
    free(iv), free(iref), free(buf), free(ref);
}

static void test_split(void)
{
    int color = rank % 2, key = -rank;
    void *g = NULL;
    int rc = vt->split(ctx, color, key, &g);
    CHECK(rc == 0, "split: rc=%d", rc);
    if (rc) return;
    MPI_Comm ref;
    MPI_Comm_split(MPI_COMM_WORLD, color, key, &ref);
    int rr, rs;
    MPI_Comm_rank(ref, &rr);
    MPI_Comm_size(ref, &rs);
    llmrt_collective_caps caps = {.struct_size = sizeof caps};
    rc = vt->get_caps(g, &caps);
    CHECK(rc == 0 && caps.rank == rr && caps.world_size == rs,
          "split caps: rank %d/%d, MPI says %d/%d", caps.rank, caps.world_size, rr, rs);
    float v[5], out[5], mref[5];
    for (int i = 0; i < 5; i++) v[i] = (float)(rank * 10 + i) * 0.37f;
    MPI_Allreduce(v, mref, 5, MPI_FLOAT, MPI_SUM, ref);
    rc = vt->allreduce(g, v, out, 5, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, NULL, NULL);
    CHECK(rc == 0 && memcmp(out, mref, sizeof out) == 0, "allreduce on a split group differs");
    rc = vt->barrier(g);
    CHECK(rc == 0, "barrier on a split group: rc=%d", rc);
    MPI_Comm_free(&ref);
    vt->destroy(g);
}

/* A waiter whose peer is late: the wait times out with a message naming the
 * op, count and seconds, and a later wait completes. */
static void test_timeout(void)
{
    if (size < 2) return;
    int v[3] = {rank, rank, rank};
    llmrt_work *w = NULL;
    if (rank == 1) usleep(400000);
    int rc = vt->broadcast(ctx, v, 3, LLMRT_DTYPE_I32, 1, NULL, &w);
    CHECK(rc == 0, "broadcast post: rc=%d", rc);
    if (rc) return;
    if (rank == 0) {
        rc = vt->work_wait(ctx, w, 0.05);
        CHECK(rc == LLMRT_ERR_TIMEOUT && strstr(llmrt_last_error(), "broadcast of 3 i32") &&
                  strstr(llmrt_last_error(), "0.05 s"),
              "wait past its timeout: rc=%d", rc);
    }
    rc = vt->work_wait(ctx, w, 30.0);
    CHECK(rc == 0 && v[0] == 1 && v[2] == 1, "wait after a timeout: rc=%d, v=%d", rc, v[0]);
    vt->work_release(ctx, w);
}

static void test_errors(void)
{
    int8_t b[4] = {0};
    int rc = vt->allreduce(ctx, b, b, 4, LLMRT_DTYPE_I8, LLMRT_REDUCE_SUM, NULL, NULL);
    CHECK(rc == LLMRT_ERR_UNSUPPORTED && strstr(llmrt_last_error(), "i8"),
          "allreduce of i8: rc=%d", rc);
    rc = vt->broadcast(ctx, b, 4, LLMRT_DTYPE_I8, size, NULL, NULL);
    CHECK(rc == LLMRT_ERR_INVALID && strstr(llmrt_last_error(), "root"),
          "broadcast from a rank that does not exist: rc=%d", rc);
    rc = vt->allreduce(ctx, b, b, 1, LLMRT_DTYPE_F32, (llmrt_reduce_op)9, NULL, NULL);
    CHECK(rc == LLMRT_ERR_INVALID, "unknown reduce op: rc=%d", rc);
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    llmrt_config *cfg = NULL;
    const llmrt_component *comp = NULL;
    const char *file = NULL;
    if (llmrt_config_new(&cfg) || llmrt_registry_init(NULL)) return 1;
    const char *mode = "";
    for (int i = 1; i < argc; i++) {
        char set[128];
        if (!strncmp(argv[i], "--", 2)) {
            mode = argv[i];
            continue;
        }
        snprintf(set, sizeof set, "mpi.%s", argv[i]);
        if (llmrt_config_set(cfg, set)) {
            fprintf(stderr, "bad argument %s: %s\n", argv[i], llmrt_last_error());
            return 1;
        }
        if (!strncmp(argv[i], "max_count=", 10)) exact_data = 1;
    }
    if (llmrt_registry_find(LLMRT_KIND_COLLECTIVE, "mpi", &comp, &file)) {
        if (rank == 0) fprintf(stderr, "SKIP: %s\n", llmrt_last_error());
        MPI_Finalize();
        return 77;
    }
    vt = comp->vtable;
    llmrt_collective_init init = {.struct_size = sizeof init, .compute_backend = "cpu",
                                  .timeout_s = 60.0, .host_addressable = 1};
    if (vt->create(llmrt_host_api_get(), llmrt_config_params(cfg, "mpi"), &init, &ctx)) {
        fprintf(stderr, "rank %d: create failed: %s\n", rank, llmrt_last_error());
        return 1;
    }
    if (!strcmp(mode, "--abort")) { /* the last rank ends the job; the others wait */
        if (rank == size - 1) vt->abort(ctx, "test abort from the last rank");
        vt->barrier(ctx);
        return 3; /* not reached */
    }
    if (!strcmp(mode, "--mismatch")) { /* counts that break rule 2: an MPI error */
        int v[16] = {0};
        int rc = vt->broadcast(ctx, v, rank == 0 ? 16 : 4, LLMRT_DTYPE_I32, 0, NULL, NULL);
        if (rank != 0) {
            char want[96];
            snprintf(want, sizeof want, "mpi: rank %d of %d: broadcast of 4 i32 failed: MPI_ERR",
                     rank, size);
            CHECK(rc == LLMRT_ERR_COMM && strstr(llmrt_last_error(), want),
                  "mismatched broadcast: rc=%d", rc);
            printf("rank %d: %s\n", rank, llmrt_last_error());
        }
        fflush(stdout);
        if (rank == 0) sleep(2); /* let the others report first */
        MPI_Abort(MPI_COMM_WORLD, fails ? 1 : 0);
    }
    llmrt_collective_caps caps = {.struct_size = sizeof caps};
    CHECK(vt->get_caps(ctx, &caps) == 0 && caps.rank == rank && caps.world_size == size &&
              caps.local_size == size && caps.local_rank == rank && caps.device_memory == 1,
          "caps: rank %d/%d local %d/%d device_memory %d", caps.rank, caps.world_size,
          caps.local_rank, caps.local_size, caps.device_memory);

    static const size_t sizes[] = {0, 1, 3, 7, 1000, 4099};
    static const llmrt_dtype types[] = {LLMRT_DTYPE_F32, LLMRT_DTYPE_F64, LLMRT_DTYPE_I32};
    uint64_t seed = 1;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        for (size_t ti = 0; ti < 3; ti++)
            for (int async = 0; async < 2; async++)
                for (int inplace = 0; inplace < 2; inplace++) {
                    for (int op = 0; op < 4; op++) {
                        test_allreduce(n, types[ti], (llmrt_reduce_op)op, async, inplace, seed++);
                        test_reduce_scatter(n, types[ti], (llmrt_reduce_op)op, async, inplace,
                                            seed++);
                    }
                    test_all_gather(n, types[ti], async, inplace, seed++);
                    if (!inplace) {
                        int root = (int)(seed % (uint64_t)size);
                        test_broadcast(n, types[ti], root, async, seed++);
                    }
                }
        test_all_gather(n, LLMRT_DTYPE_U8, (int)(n & 1), 0, seed++);
        test_broadcast(n, LLMRT_DTYPE_U8, size - 1, (int)(n & 1), seed++);
        for (int bf = 0; bf < 2; bf++)
            for (int op = 0; op < 4; op++) test_half(n, bf, (llmrt_reduce_op)op, (int)(n & 1), seed++);
    }
    CHECK(vt->barrier(ctx) == 0, "barrier");
    test_split();
    test_timeout();
    test_errors();

    int total = 0;
    MPI_Allreduce(&fails, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%d ranks%s: %d checks per rank, %d failed in all\n", size,
               exact_data ? " (chunked)" : "", checks, total);
    vt->destroy(ctx);
    llmrt_config_free(cfg);
    MPI_Finalize();
    return total ? 1 : 0;
}
