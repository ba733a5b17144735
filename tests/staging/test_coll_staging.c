/* test_coll_staging.c — core/coll_staging on a fake backend and a fake
 * collective:
 *  - the collective only ever sees pinned host buffers (it fails any call
 *    whose pointers lie outside the backend's pinned allocations);
 *  - results reach the device buffers: blocking, and asynchronous only after
 *    the wait (the fake collective runs a call at its wait, reading its send
 *    buffer then, as MPI may);
 *  - in-place calls (collective.h rule 3) stay in place on the host, and
 *    out-of-place ones stay out of place;
 *  - several handles may be outstanding without sharing buffers, and the
 *    pool is reused: steady-state calls allocate nothing, and the accounting
 *    callback's sum is the pool's size;
 *  - a failing or timed-out collective surfaces its status, copies nothing
 *    back, and returns the buffers;
 *  - a backend without host_alloc_pinned is refused with a message naming it. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "coll_staging.h"
#include "error.h"

/* --- the fake backend: "device" memory is ordinary memory the test owns;
 * pinned allocations are recorded so that the collective can check them. */

#define MAX_PINNED 64
static struct {
    char *ptr[MAX_PINNED];
    size_t bytes[MAX_PINNED];
    int n_alloc, n_free, n_sync, n_h2d, n_d2h;
} be;

static int in_pinned(const void *p, size_t bytes)
{
    for (int i = 0; i < MAX_PINNED; i++)
        if (be.ptr[i] && (const char *)p >= be.ptr[i] &&
            (const char *)p + bytes <= be.ptr[i] + be.bytes[i])
            return 1;
    return 0;
}

static int fb_copy_to_host(void *ctx, void *dst, const void *src, size_t bytes,
                           llmrt_stream *stream)
{
    (void)ctx, (void)stream;
    be.n_d2h++;
    memcpy(dst, src, bytes);
    return LLMRT_OK;
}

static int fb_copy_to_device(void *ctx, void *dst, const void *src, size_t bytes,
                             llmrt_stream *stream)
{
    (void)ctx, (void)stream;
    be.n_h2d++;
    memcpy(dst, src, bytes);
    return LLMRT_OK;
}

static int fb_host_alloc_pinned(void *ctx, size_t bytes, void **ptr)
{
    (void)ctx;
    for (int i = 0; i < MAX_PINNED; i++)
        if (!be.ptr[i]) {
            be.ptr[i] = malloc(bytes);
            be.bytes[i] = bytes;
            be.n_alloc++;
            *ptr = be.ptr[i];
            return *ptr ? LLMRT_OK : llmrt_error(LLMRT_ERR_NOMEM, "fake: out of memory");
        }
    return llmrt_error(LLMRT_ERR_NOMEM, "fake: too many pinned buffers");
}

static void fb_host_free_pinned(void *ctx, void *ptr)
{
    (void)ctx;
    for (int i = 0; i < MAX_PINNED; i++)
        if (be.ptr[i] == ptr) {
            free(ptr);
            be.ptr[i] = NULL;
            be.n_free++;
        }
}

static int fb_stream_synchronize(void *ctx, llmrt_stream *stream)
{
    (void)ctx, (void)stream;
    be.n_sync++;
    return LLMRT_OK;
}

static const llmrt_compute_vtable fake_backend = {
    .struct_size = sizeof(llmrt_compute_vtable),
    .copy_to_host = fb_copy_to_host,
    .copy_to_device = fb_copy_to_device,
    .host_alloc_pinned = fb_host_alloc_pinned,
    .host_free_pinned = fb_host_free_pinned,
    .stream_synchronize = fb_stream_synchronize,
};

/* --- the fake collective: rank RANK of WORLD; the other ranks' data is
 * made up (peer r's element j is 1000 r + j), float32 only. An asynchronous
 * call runs at its wait. */

#define RANK 1
#define WORLD 3
enum { OP_ALLREDUCE, OP_REDUCE_SCATTER, OP_ALL_GATHER, OP_BROADCAST };

struct llmrt_work {
    int op;
    const float *send;
    float *recv;
    size_t count;
    int root;
};

static struct {
    int fail_wait;          /* work_wait returns this status */
    int n_in_place, n_out_of_place, n_released;
} fc;

static float peer(int r, size_t j) { return 1000.0f * (float)r + (float)j; }

static void run(const struct llmrt_work *w)
{
    size_t n = w->count;
    switch (w->op) {
    case OP_ALLREDUCE: /* sum over ranks: mine plus the peers' */
        for (size_t j = 0; j < n; j++) {
            float s = w->send[j];
            for (int r = 0; r < WORLD; r++)
                if (r != RANK) s += peer(r, j);
            w->recv[j] = s;
        }
        break;
    case OP_REDUCE_SCATTER: /* my part of the sum of WORLD x n */
        for (size_t j = 0; j < n; j++) {
            float s = w->send[RANK * n + j];
            for (int r = 0; r < WORLD; r++)
                if (r != RANK) s += peer(r, RANK * n + j);
            w->recv[j] = s;
        }
        break;
    case OP_ALL_GATHER:
        for (int r = 0; r < WORLD; r++)
            for (size_t j = 0; j < n; j++)
                w->recv[r * n + j] = r == RANK ? w->send[j] : peer(r, j);
        break;
    case OP_BROADCAST:
        if (w->root != RANK)
            for (size_t j = 0; j < n; j++) w->recv[j] = peer(w->root, j);
        break;
    }
}

/* Check the call's buffers are host staging buffers, then run it now or
 * hand out a handle that runs it at its wait. */
static int submit(struct llmrt_work w, size_t send_n, size_t recv_n, llmrt_work **work)
{
    if (!in_pinned(w.send, send_n * sizeof(float)) || !in_pinned(w.recv, recv_n * sizeof(float)))
        return llmrt_error(LLMRT_ERR_INVALID, "fake collective: given a non-pinned buffer");
    if ((const void *)w.send == (const void *)w.recv ||
        (w.op == OP_REDUCE_SCATTER && w.recv == w.send + RANK * w.count) ||
        (w.op == OP_ALL_GATHER && w.send == w.recv + RANK * w.count))
        fc.n_in_place++;
    else
        fc.n_out_of_place++;
    if (!work) {
        run(&w);
        return LLMRT_OK;
    }
    *work = malloc(sizeof **work);
    if (!*work) return llmrt_error(LLMRT_ERR_NOMEM, "fake: out of memory");
    **work = w;
    return LLMRT_OK;
}

static int fc_allreduce(void *ctx, const void *send, void *recv, size_t count, llmrt_dtype dt,
                        llmrt_reduce_op op, void *stream, llmrt_work **work)
{
    (void)ctx, (void)dt, (void)op, (void)stream;
    return submit((struct llmrt_work){OP_ALLREDUCE, send, recv, count, 0}, count, count, work);
}

static int fc_reduce_scatter(void *ctx, const void *send, void *recv, size_t recv_count,
                             llmrt_dtype dt, llmrt_reduce_op op, void *stream, llmrt_work **work)
{
    (void)ctx, (void)dt, (void)op, (void)stream;
    return submit((struct llmrt_work){OP_REDUCE_SCATTER, send, recv, recv_count, 0},
                  WORLD * recv_count, recv_count, work);
}

static int fc_all_gather(void *ctx, const void *send, void *recv, size_t send_count,
                         llmrt_dtype dt, void *stream, llmrt_work **work)
{
    (void)ctx, (void)dt, (void)stream;
    return submit((struct llmrt_work){OP_ALL_GATHER, send, recv, send_count, 0}, send_count,
                  WORLD * send_count, work);
}

static int fc_broadcast(void *ctx, void *buf, size_t count, llmrt_dtype dt, int root,
                        void *stream, llmrt_work **work)
{
    (void)ctx, (void)dt, (void)stream;
    return submit((struct llmrt_work){OP_BROADCAST, buf, buf, count, root}, count, count, work);
}

static int fc_work_wait(void *ctx, llmrt_work *w, double timeout_s)
{
    (void)ctx, (void)timeout_s;
    if (fc.fail_wait) return llmrt_error(fc.fail_wait, "fake collective: rank 2 timed out");
    run(w);
    return LLMRT_OK;
}

static void fc_work_release(void *ctx, llmrt_work *w)
{
    (void)ctx;
    fc.n_released++;
    free(w);
}

static const llmrt_collective_vtable fake_coll = {
    .struct_size = sizeof(llmrt_collective_vtable),
    .allreduce = fc_allreduce,
    .reduce_scatter = fc_reduce_scatter,
    .all_gather = fc_all_gather,
    .broadcast = fc_broadcast,
    .work_wait = fc_work_wait,
    .work_release = fc_work_release,
};

static const llmrt_staging_coll coll = {&fake_coll, NULL, RANK, WORLD, 5.0};

/* --- fixture ---------------------------------------------------------- */

static long long accounted;
static void account(void *arg, long long delta)
{
    (void)arg;
    accounted += delta;
}

static llmrt_staging *st;

static void setup(void)
{
    memset(&be, 0, sizeof be);
    memset(&fc, 0, sizeof fc);
    accounted = 0;
    ck_assert_int_eq(llmrt_staging_create(&st, &fake_backend, NULL, "fake", account, NULL),
                     LLMRT_OK);
}

static void teardown(void)
{
    llmrt_staging_destroy(st);
    ck_assert_int_eq(be.n_alloc, be.n_free); /* every pinned buffer went back */
    ck_assert_int_eq(accounted, 0);
}

static float *device_buf(size_t n, float base)
{
    float *d = malloc(n * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (size_t j = 0; j < n; j++) d[j] = base + (float)j;
    return d;
}

static float others_sum(size_t j)
{
    float s = 0;
    for (int r = 0; r < WORLD; r++)
        if (r != RANK) s += peer(r, j);
    return s;
}

/* --- tests -------------------------------------------------------------- */

START_TEST(allreduce_blocking_in_and_out_of_place)
{
    enum { N = 100 };
    float *x = device_buf(N, 0.5f), *y = device_buf(N, -1.0f);
    ck_assert_int_eq(llmrt_staging_allreduce(st, &coll, x, x, N, LLMRT_DTYPE_F32,
                                             LLMRT_REDUCE_SUM, NULL), LLMRT_OK);
    for (size_t j = 0; j < N; j++) ck_assert_float_eq(x[j], 0.5f + (float)j + others_sum(j));
    ck_assert_int_eq(fc.n_in_place, 1);
    float *src = device_buf(N, 2.0f);
    ck_assert_int_eq(llmrt_staging_allreduce(st, &coll, src, y, N, LLMRT_DTYPE_F32,
                                             LLMRT_REDUCE_SUM, NULL), LLMRT_OK);
    for (size_t j = 0; j < N; j++) {
        ck_assert_float_eq(y[j], 2.0f + (float)j + others_sum(j));
        ck_assert_float_eq(src[j], 2.0f + (float)j); /* send untouched */
    }
    ck_assert_int_eq(fc.n_out_of_place, 1);
    ck_assert_uint_eq(llmrt_staging_outstanding(st), 0);
    ck_assert_int_eq(accounted, (long long)llmrt_staging_pinned_bytes(st));
    free(x), free(y), free(src);
}
END_TEST

START_TEST(reduce_scatter_and_all_gather_in_place)
{
    enum { S = 37 };
    /* reduce-scatter in place: recv is this rank's slice of send */
    float *full = device_buf(WORLD * S, 3.0f);
    float *mine = full + RANK * S;
    ck_assert_int_eq(llmrt_staging_reduce_scatter(st, &coll, full, mine, S, LLMRT_DTYPE_F32,
                                                  LLMRT_REDUCE_SUM, NULL), LLMRT_OK);
    for (size_t j = 0; j < S; j++) {
        ck_assert_float_eq(mine[j], 3.0f + (float)(RANK * S + j) + others_sum(RANK * S + j));
        ck_assert_float_eq(full[j], 3.0f + (float)j); /* other slices untouched */
    }
    /* all-gather in place: send is this rank's slice of recv */
    float *g = device_buf(WORLD * S, -5.0f);
    ck_assert_int_eq(llmrt_staging_all_gather(st, &coll, g + RANK * S, g, S, LLMRT_DTYPE_F32,
                                              NULL), LLMRT_OK);
    for (int r = 0; r < WORLD; r++)
        for (size_t j = 0; j < S; j++)
            ck_assert_float_eq(g[r * S + j],
                               r == RANK ? -5.0f + (float)(RANK * S + j) : peer(r, j));
    ck_assert_int_eq(fc.n_in_place, 2);
    ck_assert_int_eq(fc.n_out_of_place, 0);
    free(full), free(g);
}
END_TEST

START_TEST(reduce_scatter_and_all_gather_out_of_place)
{
    enum { S = 16 };
    float *full = device_buf(WORLD * S, 1.0f), *part = device_buf(S, 0.0f);
    ck_assert_int_eq(llmrt_staging_reduce_scatter(st, &coll, full, part, S, LLMRT_DTYPE_F32,
                                                  LLMRT_REDUCE_SUM, NULL), LLMRT_OK);
    for (size_t j = 0; j < S; j++)
        ck_assert_float_eq(part[j], 1.0f + (float)(RANK * S + j) + others_sum(RANK * S + j));
    float *g = device_buf(WORLD * S, 0.0f), *send = device_buf(S, 9.0f);
    ck_assert_int_eq(llmrt_staging_all_gather(st, &coll, send, g, S, LLMRT_DTYPE_F32, NULL),
                     LLMRT_OK);
    for (int r = 0; r < WORLD; r++)
        for (size_t j = 0; j < S; j++)
            ck_assert_float_eq(g[r * S + j], r == RANK ? 9.0f + (float)j : peer(r, j));
    ck_assert_int_eq(fc.n_out_of_place, 2);
    free(full), free(part), free(g), free(send);
}
END_TEST

START_TEST(broadcast_root_and_not)
{
    enum { N = 10 };
    float *b = device_buf(N, 4.0f);
    int h2d = be.n_h2d;
    ck_assert_int_eq(llmrt_staging_broadcast(st, &coll, b, N, LLMRT_DTYPE_F32, RANK, NULL),
                     LLMRT_OK);
    for (size_t j = 0; j < N; j++) ck_assert_float_eq(b[j], 4.0f + (float)j);
    ck_assert_int_eq(be.n_h2d, h2d); /* the root's buffer is not written back */
    ck_assert_int_eq(llmrt_staging_broadcast(st, &coll, b, N, LLMRT_DTYPE_F32, 0, NULL),
                     LLMRT_OK);
    for (size_t j = 0; j < N; j++) ck_assert_float_eq(b[j], peer(0, j));
    free(b);
}
END_TEST

/* Three asynchronous calls in flight at once (a prefetch pattern), waited
 * out of order: each has its own buffers, and no device buffer changes
 * before its wait. Then the same calls again reuse the pool. */
START_TEST(async_outstanding_and_pool_reuse)
{
    enum { N = 64, S = 32 };
    for (int round = 0; round < 3; round++) {
        float *a = device_buf(N, 1.0f), *g = device_buf(WORLD * S, 0.0f);
        float *full = device_buf(WORLD * S, 2.0f);
        llmrt_work *w[3];
        ck_assert_int_eq(llmrt_staging_allreduce(st, &coll, a, a, N, LLMRT_DTYPE_F32,
                                                 LLMRT_REDUCE_SUM, &w[0]), LLMRT_OK);
        ck_assert_int_eq(llmrt_staging_all_gather(st, &coll, g + RANK * S, g, S,
                                                  LLMRT_DTYPE_F32, &w[1]), LLMRT_OK);
        ck_assert_int_eq(llmrt_staging_reduce_scatter(st, &coll, full, full + RANK * S, S,
                                                      LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, &w[2]),
                         LLMRT_OK);
        ck_assert_uint_eq(llmrt_staging_outstanding(st), 3);
        ck_assert_float_eq(a[0], 1.0f); /* nothing copied back before the wait */
        ck_assert_float_eq(g[0], 0.0f);
        ck_assert_int_eq(llmrt_staging_wait(st, w[1]), LLMRT_OK);
        ck_assert_int_eq(llmrt_staging_wait(st, w[2]), LLMRT_OK);
        ck_assert_int_eq(llmrt_staging_wait(st, w[0]), LLMRT_OK);
        ck_assert_uint_eq(llmrt_staging_outstanding(st), 0);
        for (size_t j = 0; j < N; j++) ck_assert_float_eq(a[j], 1.0f + (float)j + others_sum(j));
        for (int r = 0; r < WORLD; r++)
            for (size_t j = 0; j < S; j++) {
                ck_assert_float_eq(g[r * S + j],
                                   r == RANK ? (float)(RANK * S + j) : peer(r, j));
                if (r == RANK)
                    ck_assert_float_eq(full[r * S + j], 2.0f + (float)(RANK * S + j) +
                                                            others_sum(RANK * S + j));
            }
        if (round == 0) ck_assert_int_eq(be.n_alloc, 3); /* one buffer each, in place */
        free(a), free(g), free(full);
    }
    ck_assert_int_eq(be.n_alloc, 3); /* rounds 2 and 3 allocated nothing */
    ck_assert_int_eq(fc.n_released, 3 * 3);
    ck_assert_int_eq(accounted, (long long)llmrt_staging_pinned_bytes(st));
}
END_TEST

/* A larger call than the pool holds replaces a free buffer with a bigger one
 * instead of adding one; the accounting follows. */
START_TEST(pool_grows)
{
    float *x = device_buf(1000, 0.0f);
    ck_assert_int_eq(llmrt_staging_allreduce(st, &coll, x, x, 10, LLMRT_DTYPE_F32,
                                             LLMRT_REDUCE_SUM, NULL), LLMRT_OK);
    ck_assert_uint_eq(llmrt_staging_pinned_bytes(st), 10 * sizeof(float));
    ck_assert_int_eq(llmrt_staging_allreduce(st, &coll, x, x, 1000, LLMRT_DTYPE_F32,
                                             LLMRT_REDUCE_SUM, NULL), LLMRT_OK);
    ck_assert_uint_eq(llmrt_staging_pinned_bytes(st), 1000 * sizeof(float));
    ck_assert_int_eq(be.n_alloc, 2);
    ck_assert_int_eq(be.n_free, 1);
    ck_assert_int_eq(accounted, 1000 * (long long)sizeof(float));
    ck_assert_int_eq(llmrt_staging_allreduce(st, &coll, x, x, 500, LLMRT_DTYPE_F32,
                                             LLMRT_REDUCE_SUM, NULL), LLMRT_OK);
    ck_assert_int_eq(be.n_alloc, 2); /* fits in the one it has */
    free(x);
}
END_TEST

/* A failed wait (a peer timed out) returns the collective's status and
 * message, leaves the device buffer as it was and frees the handle's
 * buffers for the next call. */
START_TEST(failure_propagates)
{
    enum { N = 8 };
    float *x = device_buf(N, 1.0f);
    llmrt_work *w;
    ck_assert_int_eq(llmrt_staging_allreduce(st, &coll, x, x, N, LLMRT_DTYPE_F32,
                                             LLMRT_REDUCE_SUM, &w), LLMRT_OK);
    fc.fail_wait = LLMRT_ERR_TIMEOUT;
    ck_assert_int_eq(llmrt_staging_wait(st, w), LLMRT_ERR_TIMEOUT);
    ck_assert_str_eq(llmrt_last_error(), "fake collective: rank 2 timed out");
    ck_assert_float_eq(x[0], 1.0f);
    ck_assert_uint_eq(llmrt_staging_outstanding(st), 0);
    ck_assert_int_eq(fc.n_released, 1);
    fc.fail_wait = 0;
    ck_assert_int_eq(llmrt_staging_allreduce(st, &coll, x, x, N, LLMRT_DTYPE_F32,
                                             LLMRT_REDUCE_SUM, NULL), LLMRT_OK);
    ck_assert_int_eq(be.n_alloc, 1); /* the failed call's buffer was reused */
    /* A handle no staged call made is refused, not dereferenced as one. */
    struct {
        uint32_t not_magic;
        char pad[64];
    } junk = {0};
    ck_assert_int_eq(llmrt_staging_wait(st, (llmrt_work *)(void *)&junk), LLMRT_ERR_INTERNAL);
    free(x);
}
END_TEST

START_TEST(backend_without_pinned_memory)
{
    llmrt_compute_vtable vt = fake_backend;
    vt.host_alloc_pinned = NULL;
    llmrt_staging *s2 = NULL;
    ck_assert_int_eq(llmrt_staging_create(&s2, &vt, NULL, "nopin", account, NULL),
                     LLMRT_ERR_UNSUPPORTED);
    ck_assert_str_eq(llmrt_last_error(), "backend nopin has no host_alloc_pinned: collectives "
                                         "cannot be staged through host memory");
    ck_assert_ptr_null(s2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("coll_staging");
    TCase *tc = tcase_create("staging");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, allreduce_blocking_in_and_out_of_place);
    tcase_add_test(tc, reduce_scatter_and_all_gather_in_place);
    tcase_add_test(tc, reduce_scatter_and_all_gather_out_of_place);
    tcase_add_test(tc, broadcast_root_and_not);
    tcase_add_test(tc, async_outstanding_and_pool_reuse);
    tcase_add_test(tc, pool_grows);
    tcase_add_test(tc, failure_propagates);
    tcase_add_test(tc, backend_without_pinned_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
