/* test_mpi_deadline.c — deadlines of the mpi collective: blocking calls
 * whose peers never join, and works released before they completed.
 *
 *   --stall T [max_count=K]
 *                    (2 ranks) rank 0 makes each blocking collective
 *                    (allreduce, reduce_scatter, all_gather, broadcast,
 *                    barrier) on a group of its own, and an asynchronous
 *                    allreduce waited for T s and then released; rank 1
 *                    never joins. Each must fail within [T, T + 1] s with
 *                    LLMRT_ERR_TIMEOUT and a message naming the collective,
 *                    count, rank and seconds; the release must not wait
 *                    again; a later call on a failed group is refused at once.
 *   --early-release  (2 ranks) rank 0 posts asynchronous calls and releases
 *                    each at once while rank 1 joins 0.3 s later: the release
 *                    waits for completion, frees the work (test_mpi_deadline.sh
 *                    runs this under valgrind) and the context stays usable.
 *
 * The plugin initialises MPI here (this program never calls MPI_Init), so
 * its destroy() decides how the process leaves: after --stall rank 0 holds
 * requests that never complete and must leave without MPI_Finalize.
 * Exit status: 0 passed, 1 a failure, 77 the plugin is not built. */
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

static int rank, size, fails, checks;
static const llmrt_collective_vtable *vt;
static const llmrt_host_api *host;


enum { N = 1000, N_BLOCKING = 5 };
static const char *const op_names[N_BLOCKING] = {"allreduce", "reduce_scatter", "all_gather",
                                                 "broadcast", "barrier"};

/* Blocking collective `op` on group g (rank 0's side of the stall). */
static int blocking_call(void *g, int op, float *a, float *b)
{
    switch (op) {
    case 0: return vt->allreduce(g, a, b, N, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, NULL, NULL);
    case 1: return vt->reduce_scatter(g, a, b, N, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, NULL, NULL);
    case 2: return vt->all_gather(g, a, b, N, LLMRT_DTYPE_F32, NULL, NULL);
    case 3: return vt->broadcast(g, a, N, LLMRT_DTYPE_F32, 1, NULL, NULL);
    default: return vt->barrier(g);
    }
}

static void stall(void *ctx, double timeout_s)
{
    void *groups[N_BLOCKING + 1];
    for (int i = 0; i <= N_BLOCKING; i++) {
        int rc = vt->split(ctx, 0, rank, &groups[i]);
        CHECK(rc == 0, "split %d: rc=%d", i, rc);
        if (rc) exit(1);
    }
    float *a = calloc(N * (size_t)size, sizeof *a), *b = calloc(N * (size_t)size, sizeof *b);
    if (rank == 0) {
        char want[128], within[64];
        snprintf(within, sizeof within, "did not complete within %g s (waited %.1f", timeout_s,
                 timeout_s);
        for (int op = 0; op < N_BLOCKING; op++) {
            double t0 = host->now();
            int rc = blocking_call(groups[op], op, a, b);
            double took = host->now() - t0;
            const char *msg = llmrt_last_error();
            if (op == 4) snprintf(want, sizeof want, "mpi: rank 0 of %d: blocking barrier", size);
            else snprintf(want, sizeof want, "mpi: rank 0 of %d: blocking %s of %d f32", size,
                          op_names[op], N);
            CHECK(rc == LLMRT_ERR_TIMEOUT && strstr(msg, want) && strstr(msg, within),
                  "blocking %s: rc=%d, message '%s'", op_names[op], rc, msg);
            CHECK(took >= timeout_s && took <= timeout_s + 1.0,
                  "blocking %s returned after %.2f s (timeout %g s)", op_names[op], took,
                  timeout_s);
            printf("rank 0: blocking %s timed out after %.2f s: %s\n", op_names[op], took, msg);
            /* The group's lost request stays pending: a later call is refused at once. */
            t0 = host->now();
            rc = blocking_call(groups[op], 0, a, b);
            took = host->now() - t0;
            CHECK(rc == LLMRT_ERR_COMM && strstr(llmrt_last_error(), "refused") && took < 0.2,
                  "call after a timeout on %s: rc=%d after %.2f s", op_names[op], rc, took);
        }
        /* An asynchronous allreduce: its wait times out, and its release,
         * with the deadline spent, parks it at once instead of waiting again. */
        void *g = groups[N_BLOCKING];
        llmrt_work *w = NULL;
        int rc = vt->allreduce(g, a, b, N, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, NULL, &w);
        CHECK(rc == 0, "async allreduce post: rc=%d", rc);
        if (!rc) {
            double t0 = host->now();
            rc = vt->work_wait(g, w, timeout_s);
            double took = host->now() - t0;
            snprintf(want, sizeof want, "mpi: rank 0 of %d: allreduce of %d f32", size, N);
            CHECK(rc == LLMRT_ERR_TIMEOUT && strstr(llmrt_last_error(), want) &&
                      took >= timeout_s && took <= timeout_s + 1.0,
                  "work_wait: rc=%d after %.2f s", rc, took);
            t0 = host->now();
            vt->work_release(g, w);
            took = host->now() - t0;
            CHECK(took < 0.2, "release after a timed-out wait took %.2f s", took);
            rc = vt->barrier(g);
            CHECK(rc == LLMRT_ERR_COMM && strstr(llmrt_last_error(), "refused"),
                  "barrier after an unfinished release: rc=%d", rc);
            printf("rank 0: async allreduce wait timed out after %.2f s; release then took "
                   "%.3f s\n", timeout_s, took);
        }
        printf("stall: %d checks on rank 0, %d failed\n", checks, fails);
        fflush(stdout);
        /* Tell rank 1 we are done (plain MPI on MPI_COMM_WORLD, which no
         * plugin collective uses), so that it does not leave first. */
        int one = 1;
        MPI_Send(&one, 1, MPI_INT, 1, 7, MPI_COMM_WORLD);
    } else if (rank == 1) {
        int one = 0;
        MPI_Recv(&one, 1, MPI_INT, 0, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    for (int i = N_BLOCKING; i >= 0; i--) vt->destroy(groups[i]);
    free(a);
    free(b);
}

static void early_release(void *ctx)
{
    enum { N_ASYNC = 4 };
    static const char *const names[N_ASYNC] = {"allreduce", "reduce_scatter (in place)",
                                               "all_gather", "broadcast"};
    float *a = calloc(N * (size_t)size, sizeof *a), *b = calloc(N * (size_t)size, sizeof *b);
    for (int op = 0; op < N_ASYNC; op++) {
        for (size_t i = 0; i < N * (size_t)size; i++) a[i] = (float)(rank + 1);
        llmrt_work *w = NULL;
        if (rank != 0) usleep(300000); /* the peers are late; rank 0 will not wait for them */
        double t0 = host->now();
        int rc;
        switch (op) {
        case 0: rc = vt->allreduce(ctx, a, b, N, LLMRT_DTYPE_F32, LLMRT_REDUCE_AVG, NULL, &w); break;
        case 1:
            rc = vt->reduce_scatter(ctx, a, a + (size_t)rank * N, N, LLMRT_DTYPE_F32,
                                    LLMRT_REDUCE_SUM, NULL, &w);
            break;
        case 2: rc = vt->all_gather(ctx, a + (size_t)rank * N, a, N, LLMRT_DTYPE_F32, NULL, &w); break;
        default: rc = vt->broadcast(ctx, a, N, LLMRT_DTYPE_F32, 1, NULL, &w); break;
        }
        CHECK(rc == 0, "%s post: rc=%d", names[op], rc);
        if (rc) continue;
        vt->work_release(ctx, w); /* before completion, on rank 0 */
        double took = host->now() - t0;
        if (rank == 0) {
            CHECK(took >= 0.2, "release of an unfinished %s returned after %.3f s, before the "
                  "peer joined", names[op], took);
            printf("rank 0: release of an unfinished %s waited %.3f s\n", names[op], took);
        }
    }
    /* The context is still usable and right. */
    b[0] = (float)rank;
    int rc = vt->allreduce(ctx, b, b, 1, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, NULL, NULL);
    CHECK(rc == 0 && b[0] == (float)(size * (size - 1) / 2), "allreduce after early releases: "
          "rc=%d, %g", rc, b[0]);
    free(a);
    free(b);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    double timeout_s = argc > 2 ? atof(argv[2]) : 60.0;
    if (strcmp(mode, "--stall") && strcmp(mode, "--early-release")) {
        fprintf(stderr, "usage: test_mpi_deadline --stall SECONDS [max_count=K] | "
                "--early-release\n");
        return 2;
    }
    llmrt_config *cfg = NULL;
    const llmrt_component *comp = NULL;
    const char *file = NULL;
    if (llmrt_config_new(&cfg) || llmrt_registry_init(NULL)) return 1;
    if (argc > 3) { /* an [mpi] key: max_count=K makes blocking calls wait chunk by chunk */
        char set[128];
        snprintf(set, sizeof set, "mpi.%s", argv[3]);
        if (llmrt_config_set(cfg, set)) {
            fprintf(stderr, "bad argument %s: %s\n", argv[3], llmrt_last_error());
            return 2;
        }
    }
    if (llmrt_registry_find(LLMRT_KIND_COLLECTIVE, "mpi", &comp, &file)) {
        fprintf(stderr, "SKIP: %s\n", llmrt_last_error());
        return 77;
    }
    vt = comp->vtable;
    host = llmrt_host_api_get();
    llmrt_collective_init init = {.struct_size = sizeof init, .compute_backend = "cpu",
                                  .timeout_s = timeout_s, .host_addressable = 1};
    void *ctx = NULL;
    if (vt->create(host, llmrt_config_params(cfg, "mpi"), &init, &ctx)) {
        fprintf(stderr, "create failed: %s\n", llmrt_last_error());
        return 1;
    }
    llmrt_collective_caps caps = {.struct_size = sizeof caps};
    vt->get_caps(ctx, &caps);
    rank = caps.rank;
    size = caps.world_size;
    if (size != 2) {
        fprintf(stderr, "run this with 2 ranks (got %d)\n", size);
        vt->destroy(ctx);
        return 2;
    }
    if (!strcmp(mode, "--stall")) stall(ctx, timeout_s);
    else early_release(ctx);
    if (fails == 0 && strcmp(mode, "--stall"))
        printf("rank %d: %s: %d checks, 0 failed\n", rank, mode, checks);
    vt->destroy(ctx); /* MPI_Finalize, or leaving without it (see above) */
    llmrt_config_free(cfg);
    return fails ? 1 : 0;
}
