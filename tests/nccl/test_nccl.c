/* test_nccl.c — the nccl collective with one rank on one GPU, beside the
 * cuda backend (both loaded from LLMRT_PLUGIN_PATH).
 *
 * With one rank every reduction returns its input and every gather or
 * broadcast copies it, so each result must equal the input bit for bit:
 * that checks the dtype mapping (f32, f16, bf16, f64, i32, u8, u16), the
 * counts NCCL is given (odd sizes, and guard bytes after each result that
 * must stay untouched), the in-place forms of collective.h rule 3 and each
 * operator (sum, avg, max, min). Also: asynchronous works (work_test,
 * work_wait, work_error), the NULL and the backend's streams, count 0,
 * barrier, argument errors, and, last, a timeout: a host function holds
 * the stream for 1.5 s, work_wait(0.2 s) fails with LLMRT_ERR_TIMEOUT,
 * aborts the communicator, and later calls are refused.
 *
 * Exits 77 (SKIP) where the cuda or the nccl probe finds no usable GPU.
 * Tests share one communicator, so they run in order without fork (CUDA
 * does not survive fork). */
#include <check.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llmrt/convert.h>
#include <llmrt/llmrt.h>

#include "host_stub.h"

#define GUARD 64 /* bytes after every result that nothing may write */

static const llmrt_compute_vtable *cvt;
static const llmrt_collective_vtable *vt;
static void *gpu, *ctx;

/* Random values that are exact in `t`. */
static void fill(void *buf, size_t n, llmrt_dtype t, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        float f = ((float)rand() / (float)RAND_MAX - 0.5f) * 200.0f;
        switch (t) {
        case LLMRT_DTYPE_F32: ((float *)buf)[i] = f; break;
        case LLMRT_DTYPE_F64: ((double *)buf)[i] = (double)f * 1.000000123; break;
        case LLMRT_DTYPE_BF16: ((uint16_t *)buf)[i] = llmrt_f32_to_bf16(f); break;
        case LLMRT_DTYPE_F16: ((uint16_t *)buf)[i] = llmrt_f32_to_f16(f); break;
        case LLMRT_DTYPE_U16: ((uint16_t *)buf)[i] = (uint16_t)rand(); break;
        case LLMRT_DTYPE_I32: ((int32_t *)buf)[i] = rand() % 20001 - 10000; break;
        default: ((uint8_t *)buf)[i] = (uint8_t)rand(); break;
        }
    }
}

static void *dev_alloc(size_t bytes)
{
    void *p = NULL;
    ck_assert_msg(cvt->alloc(gpu, bytes, &p) == 0, "alloc: %s", test_host_error());
    return p;
}

static void to_dev(void *d, const void *h, size_t bytes)
{
    ck_assert_msg(cvt->copy_to_device(gpu, d, h, bytes, NULL) == 0, "copy: %s",
                  test_host_error());
}

static void to_host(void *h, const void *d, size_t bytes)
{
    ck_assert_msg(cvt->copy_to_host(gpu, h, d, bytes, NULL) == 0, "copy: %s",
                  test_host_error());
}

/* The device buffer `d` holds `want` (bytes) followed by GUARD bytes 0xab. */
static void expect(const char *what, const void *d, const void *want, size_t bytes)
{
    unsigned char *h = malloc(bytes + GUARD);
    to_host(h, d, bytes + GUARD);
    ck_assert_msg(!memcmp(h, want, bytes), "%s: result differs from the input", what);
    for (size_t i = 0; i < GUARD; i++)
        ck_assert_msg(h[bytes + i] == 0xab, "%s: wrote past the end (byte %zu)", what, i);
    free(h);
}

/* A device buffer of `bytes` (+ GUARD) holding `src` (or 0xab when NULL). */
static void *dev_with(const void *src, size_t bytes)
{
    unsigned char *h = malloc(bytes + GUARD);
    memset(h, 0xab, bytes + GUARD);
    if (src) memcpy(h, src, bytes);
    void *d = dev_alloc(bytes + GUARD);
    to_dev(d, h, bytes + GUARD);
    free(h);
    return d;
}

static const llmrt_dtype reduce_types[] = {LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16,
                                           LLMRT_DTYPE_F64, LLMRT_DTYPE_I32, LLMRT_DTYPE_U8};
static const llmrt_reduce_op ops[] = {LLMRT_REDUCE_SUM, LLMRT_REDUCE_AVG, LLMRT_REDUCE_MAX,
                                      LLMRT_REDUCE_MIN};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(caps)
{
    llmrt_collective_caps c = {.struct_size = sizeof c};
    ck_assert_int_eq(vt->get_caps(ctx, &c), 0);
    ck_assert(c.rank == 0 && c.world_size == 1 && c.local_rank == 0 && c.local_size == 1);
    ck_assert_int_eq(c.device_memory, 1);
    for (size_t i = 0; i < N_OF(reduce_types); i++)
        ck_assert_msg(c.reduce_dtypes & (1u << reduce_types[i]), "dtype %d", reduce_types[i]);
    ck_assert(!(c.reduce_dtypes & (1u << LLMRT_DTYPE_U16)));
}
END_TEST

START_TEST(allreduce_every_type_and_op)
{
    void *stream = cvt->stream_native(gpu, NULL);
    for (size_t t = 0; t < N_OF(reduce_types); t++) {
        for (size_t o = 0; o < N_OF(ops); o++) {
            for (int in_place = 0; in_place < 2; in_place++) {
                llmrt_dtype dt = reduce_types[t];
                size_t n = 1001, bytes = n * llmrt_dtype_size(dt);
                void *h = malloc(bytes);
                fill(h, n, dt, (unsigned)(t * 10 + o));
                void *send = dev_with(h, bytes), *recv = in_place ? send : dev_with(NULL, bytes);
                char what[96];
                snprintf(what, sizeof what, "allreduce dtype %d op %d%s", dt, ops[o],
                         in_place ? " in place" : "");
                ck_assert_msg(vt->allreduce(ctx, send, recv, n, dt, ops[o], stream, NULL) == 0,
                              "%s: %s", what, test_host_error());
                expect(what, recv, h, bytes);
                cvt->free(gpu, send);
                if (!in_place) cvt->free(gpu, recv);
                free(h);
            }
        }
    }
}
END_TEST

START_TEST(reduce_scatter_and_all_gather)
{
    static const llmrt_dtype types[] = {LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16};
    for (size_t t = 0; t < N_OF(types); t++) {
        for (int in_place = 0; in_place < 2; in_place++) {
            llmrt_dtype dt = types[t];
            size_t n = 777, bytes = n * llmrt_dtype_size(dt);
            void *h = malloc(bytes);
            fill(h, n, dt, (unsigned)t + 100);
            void *send = dev_with(h, bytes), *recv = in_place ? send : dev_with(NULL, bytes);
            for (size_t o = 0; o < N_OF(ops); o++) {
                ck_assert_msg(vt->reduce_scatter(ctx, send, recv, n, dt, ops[o], NULL, NULL) == 0,
                              "reduce_scatter: %s", test_host_error());
                expect("reduce_scatter", recv, h, bytes);
            }
            ck_assert_msg(vt->all_gather(ctx, send, recv, n, dt, NULL, NULL) == 0,
                          "all_gather: %s", test_host_error());
            expect("all_gather", recv, h, bytes);
            cvt->free(gpu, send);
            if (!in_place) cvt->free(gpu, recv);
            free(h);
        }
    }
    /* u16 moves (NCCL has no such type: bytes) but does not reduce. */
    size_t n = 33;
    uint16_t h[33];
    fill(h, n, LLMRT_DTYPE_U16, 5);
    void *send = dev_with(h, sizeof h), *recv = dev_with(NULL, sizeof h);
    ck_assert_int_eq(vt->all_gather(ctx, send, recv, n, LLMRT_DTYPE_U16, NULL, NULL), 0);
    expect("all_gather u16", recv, h, sizeof h);
    ck_assert_int_eq(vt->allreduce(ctx, send, recv, n, LLMRT_DTYPE_U16, LLMRT_REDUCE_SUM, NULL,
                                   NULL), LLMRT_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(test_host_error(), "nccl: allreduce cannot reduce dtype u16"), "%s",
                  test_host_error());
    cvt->free(gpu, send);
    cvt->free(gpu, recv);
}
END_TEST

START_TEST(broadcast_and_errors)
{
    size_t n = 513;
    float *h = malloc(n * sizeof *h);
    fill(h, n, LLMRT_DTYPE_F32, 9);
    void *buf = dev_with(h, n * sizeof *h);
    ck_assert_int_eq(vt->broadcast(ctx, buf, n, LLMRT_DTYPE_F32, 0, NULL, NULL), 0);
    expect("broadcast", buf, h, n * sizeof *h);
    ck_assert_int_eq(vt->broadcast(ctx, buf, n, LLMRT_DTYPE_F32, 1, NULL, NULL),
                     LLMRT_ERR_INVALID);
    ck_assert_msg(strstr(test_host_error(), "broadcast root 1 does not exist"), "%s",
                  test_host_error());
    ck_assert_int_eq(vt->allreduce(ctx, buf, buf, n, LLMRT_DTYPE_F32, (llmrt_reduce_op)9, NULL,
                                   NULL), LLMRT_ERR_INVALID);
    ck_assert_int_eq(vt->allreduce(ctx, buf, buf, n, (llmrt_dtype)42, LLMRT_REDUCE_SUM, NULL,
                                   NULL), LLMRT_ERR_INVALID);
    /* Count 0 touches nothing and completes. */
    ck_assert_int_eq(vt->allreduce(ctx, buf, buf, 0, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, NULL,
                                   NULL), 0);
    expect("count 0", buf, h, n * sizeof *h);
    ck_assert_int_eq(vt->barrier(ctx), 0);
    cvt->free(gpu, buf);
    free(h);
}
END_TEST

START_TEST(async_works)
{
    llmrt_stream *s = NULL;
    ck_assert_int_eq(cvt->stream_create(gpu, &s), 0);
    void *native = cvt->stream_native(gpu, s);
    size_t n = 1 << 20;
    float *h = malloc(n * sizeof *h);
    fill(h, n, LLMRT_DTYPE_F32, 11);
    void *a = dev_with(h, n * sizeof *h), *b = dev_with(NULL, n * sizeof *h);
    llmrt_work *w1 = NULL, *w2 = NULL;
    ck_assert_int_eq(vt->allreduce(ctx, a, b, n, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, native, &w1), 0);
    ck_assert_ptr_nonnull(w1);
    ck_assert_int_eq(vt->broadcast(ctx, a, n, LLMRT_DTYPE_F32, 0, native, &w2), 0);
    int done = 0;
    for (int i = 0; i < 100000 && !done; i++) {
        ck_assert_int_eq(vt->work_test(ctx, w1, &done), 0);
        if (!done) usleep(10);
    }
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(vt->work_wait(ctx, w2, 30.0), 0);
    ck_assert_int_eq(vt->work_error(ctx, w1), 0);
    ck_assert_int_eq(vt->work_error(ctx, w2), 0);
    ck_assert_int_eq(vt->work_wait(ctx, w1, 1.0), 0); /* a done work waits no more */
    vt->work_release(ctx, w1);
    vt->work_release(ctx, w2);
    expect("async allreduce", b, h, n * sizeof *h);
    cvt->free(gpu, a);
    cvt->free(gpu, b);
    cvt->stream_destroy(gpu, s);
    free(h);
}
END_TEST

static void CUDART_CB hold_stream(void *arg)
{
    (void)arg;
    usleep(1500000);
}

START_TEST(timeout_aborts)
{
    /* The host function holds the stream, so the allreduce behind it
     * cannot finish within 0.2 s. */
    llmrt_stream *s = NULL;
    ck_assert_int_eq(cvt->stream_create(gpu, &s), 0);
    cudaStream_t native = cvt->stream_native(gpu, s);
    size_t n = 1001;
    void *a = dev_with(NULL, n * sizeof(float));
    ck_assert_int_eq(cudaLaunchHostFunc(native, hold_stream, NULL), cudaSuccess);
    llmrt_work *w = NULL;
    ck_assert_int_eq(vt->allreduce(ctx, a, a, n, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, native, &w),
                     0);
    int done = 1;
    ck_assert_int_eq(vt->work_test(ctx, w, &done), 0);
    ck_assert_int_eq(done, 0);
    ck_assert_int_eq(vt->work_wait(ctx, w, 0.2), LLMRT_ERR_TIMEOUT);
    ck_assert_msg(strstr(test_host_error(), "nccl: rank 0 of 1: allreduce of 1001 f32 did not "
                                            "complete within 0.2 s") &&
                      strstr(test_host_error(), "the communicator was aborted"),
                  "%s", test_host_error());
    ck_assert_int_eq(vt->work_error(ctx, w), LLMRT_ERR_TIMEOUT);
    vt->work_release(ctx, w);
    ck_assert_int_eq(vt->barrier(ctx), LLMRT_ERR_COMM);
    ck_assert_msg(strstr(test_host_error(), "barrier refused: the communicator was aborted"),
                  "%s", test_host_error());
    ck_assert_int_eq(cudaStreamSynchronize(native), cudaSuccess);
    cvt->free(gpu, a);
    cvt->stream_destroy(gpu, s);
}
END_TEST

int main(void)
{
    /* One rank: whatever launcher variables the shell has are not ours. */
    static const char *const vars[] = {"RANK", "WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                                       "PMI_SIZE", "SLURM_NTASKS", "LLMRT_NCCL_BOOTSTRAP_FILE",
                                       NULL};
    for (int i = 0; vars[i]; i++) unsetenv(vars[i]);
    char why[1024];
    const llmrt_plugin *pc = test_load_plugin("llmrt-compute-cuda.so", why, sizeof why);
    const llmrt_plugin *pn = test_load_plugin("llmrt-collective-nccl.so", why, sizeof why);
    if (!pc || !pn) {
        fprintf(stderr, "test_nccl: %s\n", why);
        return 1;
    }
    if (pc->components[0].probe(test_host()) <= 0 || pn->components[0].probe(test_host()) <= 0) {
        fprintf(stderr, "test_nccl: SKIP: %s\n", test_host_error());
        return 77;
    }
    cvt = pc->components[0].vtable;
    vt = pn->components[0].vtable;
    if (cvt->create(test_host(), test_host_params(), &gpu)) {
        fprintf(stderr, "test_nccl: cuda create: %s\n", test_host_error());
        return 1;
    }
    /* The wrong backend is refused with a message. */
    llmrt_collective_init init = {.struct_size = sizeof init, .compute_backend = "cpu",
                                  .timeout_s = 60.0, .host_addressable = 1};
    if (vt->create(test_host(), test_host_params(), &init, &ctx) != LLMRT_ERR_UNSUPPORTED ||
        !strstr(test_host_error(), "this job's backend is cpu")) {
        fprintf(stderr, "test_nccl: FAIL: backend cpu was not refused: %s\n", test_host_error());
        return 1;
    }
    init.compute_backend = "cuda";
    init.host_addressable = 0;
    if (vt->create(test_host(), test_host_params(), &init, &ctx)) {
        fprintf(stderr, "test_nccl: nccl create: %s\n", test_host_error());
        return 1;
    }
    Suite *s = suite_create("nccl");
    TCase *tc = tcase_create("one rank");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, caps);
    tcase_add_test(tc, allreduce_every_type_and_op);
    tcase_add_test(tc, reduce_scatter_and_all_gather);
    tcase_add_test(tc, broadcast_and_errors);
    tcase_add_test(tc, async_works);
    tcase_add_test(tc, timeout_aborts); /* last: it aborts the communicator */
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    vt->destroy(ctx);
    cvt->destroy(gpu);
    return failed ? 1 : 0;
}
