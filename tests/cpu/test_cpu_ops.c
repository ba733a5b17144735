/* test_cpu_ops.c — the cpu compute backend, loaded straight from its .so.
 *
 * The plugin is found in $LLMRT_PLUGIN_PATH (llmrt-compute-cpu.so), dlopened
 * and created with the minimal host table of host_stub.c, so this suite does
 * not depend on the core's loader.
 *
 * What is checked:
 *  - forward values against plain double-precision references written here;
 *  - every backward against central finite differences of the forward:
 *    loss = sum(out .* R) for a fixed random R, accumulated in double; the
 *    analytic gradient is the backward with dout = R. Each check samples a few
 *    random elements of every input and divides by the step actually taken in
 *    float ((x+h) - (x-h) after rounding). Steps and tolerances are chosen per
 *    op below, with the reasoning beside them;
 *  - backward kernels add (+=) into their gradients (twice gives double);
 *  - determinism: two runs give the same bits, and the kernels that promise
 *    it give the same bits for 1 and 2 threads;
 *  - every kernel rejects an unsupported dtype with LLMRT_ERR_UNSUPPORTED and
 *    a message naming the backend, the kernel and the dtype;
 *  - memory, streams, events, capabilities and the peak cache.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu_test_util.h"

/* ------------------------------------------------------------------------ */
/* Buffers, comparisons (the rest in cpu_test_util.h)                       */

static float *zbuf(size_t n)
{
    float *p = fbuf(n);
    memset(p, 0, n * sizeof *p);
    return p;
}

static double *dref(size_t n)
{
    double *p = dbuf(n * sizeof(double));
    memset(p, 0, n * sizeof *p);
    return p;
}

static void expect_close(const char *what, const float *got, const double *ref, size_t n,
                         double atol, double rtol)
{
    for (size_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i];
        if (isinf(r) && g == r) continue;
        ck_assert_msg(fabs(g - r) <= atol + rtol * fabs(r),
                      "%s[%zu]: got %.9g, want %.9g (diff %.3g, tolerance %.3g)", what, i, g, r,
                      fabs(g - r), atol + rtol * fabs(r));
    }
}

static double dot_r(const float *y, const float *r, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * (double)r[i];
    return s;
}

/* Central finite differences of loss() at `samples` random elements of x
 * (plus its first and last) against grad. */
typedef double (*loss_fn)(void *state);

static void check_fd(const char *what, float *x, size_t n, const float *grad, loss_fn loss,
                     void *state, double h, double atol, double rtol, int samples)
{
    for (int s = 0; s < samples + 2; s++) {
        size_t i = s == 0 ? 0 : s == 1 ? n - 1 : irand(n);
        float x0 = x[i];
        x[i] = (float)(x0 + h);
        double lp = loss(state);
        float xp = x[i];
        x[i] = (float)(x0 - h);
        double lm = loss(state);
        float xm = x[i];
        x[i] = x0;
        double num = (lp - lm) / ((double)xp - (double)xm);
        ck_assert_msg(fabs(num - grad[i]) <= atol + rtol * fabs(num),
                      "%s: d/d[%zu]: finite difference %.7g, backward %.7g (diff %.3g)", what, i,
                      num, (double)grad[i], fabs(num - grad[i]));
    }
}

/* ------------------------------------------------------------------------ */
/* Fixture                                                                   */

static void setup(void) { cpu_setup(20240520, NULL); }

/* ------------------------------------------------------------------------ */
/* Descriptor, lifecycle, memory, streams, caps                              */

START_TEST(test_descriptor)
{
    ck_assert_uint_eq(plugin->magic, LLMRT_PLUGIN_MAGIC);
    ck_assert_uint_eq(plugin->abi_major, LLMRT_ABI_MAJOR);
    ck_assert_uint_eq(plugin->struct_size, sizeof(llmrt_plugin));
    ck_assert_int_eq(plugin->kind, LLMRT_KIND_COMPUTE);
    ck_assert_str_eq(plugin->name, "cpu");
    ck_assert_uint_eq(plugin->n_components, 1);
    ck_assert_str_eq(plugin->components[0].name, "cpu");
    ck_assert_int_eq(plugin->components[0].kind, LLMRT_KIND_COMPUTE);
    ck_assert_uint_eq(vt->struct_size, sizeof(llmrt_compute_vtable));
    /* Every member of ABI 1.0 is implemented. */
    const void *const *fn = (const void *const *)((const char *)vt + sizeof(size_t));
    size_t n = (sizeof(llmrt_compute_vtable) - sizeof(size_t)) / sizeof(void *);
    for (size_t i = 0; i < n; i++) ck_assert_msg(fn[i] != NULL, "vtable member %zu is NULL", i);
}
END_TEST

START_TEST(test_memory)
{
    void *a = NULL, *b = NULL, *z1 = NULL, *z2 = NULL;
    ck_assert_int_eq(vt->alloc(ctx, 1000, &a), 0);
    ck_assert_int_eq(vt->alloc(ctx, 1 << 20, &b), 0);
    ck_assert_uint_eq((uintptr_t)a % 64, 0);
    ck_assert_uint_eq((uintptr_t)b % 64, 0);
    ck_assert_int_eq(vt->alloc(ctx, 0, &z1), 0);
    ck_assert_int_eq(vt->alloc(ctx, 0, &z2), 0);
    ck_assert(z1 == NULL || z1 != z2);
    unsigned char host[1000], back[1000];
    for (int i = 0; i < 1000; i++) host[i] = (unsigned char)(i * 7);
    ck_assert_int_eq(vt->copy_to_device(ctx, a, host, 1000, NULL), 0);
    ck_assert_int_eq(vt->copy(ctx, b, a, 1000, NULL), 0);
    ck_assert_int_eq(vt->copy_to_host(ctx, back, b, 1000, NULL), 0);
    ck_assert_int_eq(memcmp(host, back, 1000), 0);
    ck_assert_int_eq(vt->memset(ctx, (char *)b + 10, 0xab, 20, NULL), 0);
    ck_assert_int_eq(vt->copy_to_host(ctx, back, b, 1000, NULL), 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(back[i], i >= 10 && i < 30 ? 0xab : (unsigned char)(i * 7));
    ck_assert_int_eq(vt->synchronize(ctx), 0);
    vt->free(ctx, a);
    vt->free(ctx, b);
    vt->free(ctx, z1);
    vt->free(ctx, z2);
    vt->free(ctx, NULL);
    void *p = NULL;
    ck_assert_int_eq(vt->host_alloc_pinned(ctx, 4096, &p), 0);
    ck_assert_ptr_nonnull(p);
    memset(p, 1, 4096);
    vt->host_free_pinned(ctx, p);
}
END_TEST

START_TEST(test_streams_events)
{
    llmrt_stream *s1 = NULL, *s2 = NULL;
    llmrt_event *e = NULL, *leak = NULL;
    ck_assert_int_eq(vt->stream_create(ctx, &s1), 0);
    ck_assert_int_eq(vt->stream_create(ctx, &s2), 0);
    ck_assert_ptr_nonnull(s1);
    ck_assert_ptr_ne(s1, s2);
    ck_assert_ptr_null(vt->stream_native(ctx, s1));
    ck_assert_ptr_null(vt->stream_native(ctx, NULL));
    ck_assert_int_eq(vt->event_create(ctx, &e), 0);
    ck_assert_int_eq(vt->event_create(ctx, &leak), 0); /* destroy() frees it */
    float *x = rbuf(100, -1, 1), *y = fbuf(100);
    ck_assert_int_eq(vt->copy(ctx, y, x, 400, s1), 0);
    ck_assert_int_eq(vt->event_record(ctx, e, s1), 0);
    ck_assert_int_eq(vt->stream_wait_event(ctx, s2, e), 0);
    ck_assert_int_eq(vt->stream_wait_event(ctx, NULL, e), 0);
    ck_assert_int_eq(vt->event_synchronize(ctx, e), 0);
    ck_assert_int_eq(vt->stream_synchronize(ctx, s2), 0);
    ck_assert_int_eq(vt->stream_synchronize(ctx, NULL), 0);
    ck_assert_int_eq(memcmp(x, y, 400), 0);
    vt->event_destroy(ctx, e);
    vt->stream_destroy(ctx, s1);
    vt->stream_destroy(ctx, NULL);
    (void)s2; /* left for destroy() */
}
END_TEST

START_TEST(test_caps_given_peak)
{
    llmrt_compute_caps caps = {.struct_size = sizeof caps};
    ck_assert_int_eq(vt->get_caps(ctx, &caps), 0);
    ck_assert_int_eq(caps.host_addressable, 1);
    ck_assert_uint_gt(caps.total_memory, 0);
    ck_assert(caps.peak_flops_f32 == 100e9);
    ck_assert_str_eq(caps.peak_source, "[cpu] peak_gflops");
    ck_assert_msg(strncmp(caps.device_name, "cpu: ", 5) == 0 &&
                      strstr(caps.device_name, "OpenBLAS") != NULL &&
                      strstr(caps.device_name, "thread") != NULL,
                  "device_name: %s", caps.device_name);
    /* A caller with an older, smaller caps struct gets only what it holds. */
    struct {
        llmrt_compute_caps c;
        char guard[16];
    } small;
    memset(&small, 0x5a, sizeof small);
    small.c.struct_size = offsetof(llmrt_compute_caps, total_memory);
    ck_assert_int_eq(vt->get_caps(ctx, &small.c), 0);
    ck_assert_int_eq(small.c.host_addressable, 1);
    const unsigned char *rest = (const unsigned char *)&small.c.total_memory;
    for (size_t i = 0; i < sizeof small - offsetof(llmrt_compute_caps, total_memory); i++)
        ck_assert_uint_eq(rest[i], 0x5a);
}
END_TEST

START_TEST(test_threads_param)
{
    void *c = NULL;
    test_host_set_param("threads", "0");
    ck_assert_int_eq(vt->create(test_host(), test_host_params(), &c), LLMRT_ERR_INVALID);
    ck_assert_ptr_null(c);
    test_host_set_param("threads", "1");
    ck_assert_int_eq(vt->create(test_host(), test_host_params(), &c), 0);
    llmrt_compute_caps caps = {.struct_size = sizeof caps};
    ck_assert_int_eq(vt->get_caps(c, &caps), 0);
    ck_assert_msg(strstr(caps.device_name, "(1 thread,") != NULL, "%s", caps.device_name);
    vt->destroy(c);
}
END_TEST

/* The measured peak is cached per machine and thread count; a second context
 * reads the file instead of measuring. A cache that cannot be written is not
 * an error. Set LLMRT_TEST_SKIP_PEAK=1 to skip the timing (valgrind). */
START_TEST(test_caps_measured_peak)
{
    const char *skip = getenv("LLMRT_TEST_SKIP_PEAK");
    if (skip && *skip && strcmp(skip, "0") != 0) return;
    char dir[] = "/tmp/llmrt-cpu-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *old = getenv("XDG_CACHE_HOME");
    char *saved = old ? strdup(old) : NULL;
    setenv("XDG_CACHE_HOME", dir, 1);
    test_host_set_param("peak_gflops", NULL);

    void *c1 = create_with(NULL);
    llmrt_compute_caps caps1 = {.struct_size = sizeof caps1};
    ck_assert_int_eq(vt->get_caps(c1, &caps1), 0);
    ck_assert_msg(caps1.peak_flops_f32 > 1e6, "peak %g", caps1.peak_flops_f32); /* valgrind: 4e7 */
    char want[256];
    snprintf(want, sizeof want, "measured cblas_sgemm (cached in %s/llmrt/cpu-peak-", dir);
    ck_assert_msg(strncmp(caps1.peak_source, want, strlen(want)) == 0, "peak_source: %s",
                  caps1.peak_source);
    const char *path = strstr(caps1.peak_source, dir);
    char file[512];
    snprintf(file, sizeof file, "%.*s", (int)strcspn(path, ")"), path);
    struct stat st;
    ck_assert_int_eq(stat(file, &st), 0);

    void *c2 = create_with(NULL);
    llmrt_compute_caps caps2 = {.struct_size = sizeof caps2};
    ck_assert_int_eq(vt->get_caps(c2, &caps2), 0);
    /* Stored with 3 decimals of GFLOP/s. */
    ck_assert_msg(fabs(caps2.peak_flops_f32 - caps1.peak_flops_f32) <= 1e6, "%g vs %g",
                  caps2.peak_flops_f32, caps1.peak_flops_f32);
    ck_assert_str_eq(caps2.peak_source, caps1.peak_source);
    vt->destroy(c1);
    vt->destroy(c2);

    /* An unwritable cache directory: measured, not cached, no error. */
    setenv("XDG_CACHE_HOME", "/proc/llmrt-no-such-dir", 1);
    void *c3 = create_with(NULL);
    llmrt_compute_caps caps3 = {.struct_size = sizeof caps3};
    ck_assert_int_eq(vt->get_caps(c3, &caps3), 0);
    ck_assert_str_eq(caps3.peak_source, "measured cblas_sgemm");
    ck_assert(caps3.peak_flops_f32 > 1e6);
    vt->destroy(c3);

    unlink(file);
    char sub[300];
    snprintf(sub, sizeof sub, "%s/llmrt", dir);
    rmdir(sub);
    rmdir(dir);
    if (saved) setenv("XDG_CACHE_HOME", saved, 1);
    else unsetenv("XDG_CACHE_HOME");
    free(saved);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* gemm                                                                      */

/* C = alpha op(A) op(B) + beta C0 + bias, in double; mag gets the sum of the
 * magnitudes of the terms, the scale of float rounding. */
static void gemm_ref(int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, double beta,
                     const float *c0, int64_t ldc, const float *bias, double *c, double *mag)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, sm = 0;
            for (int64_t p = 0; p < k; p++) {
                double av = ta ? a[p * lda + i] : a[i * lda + p];
                double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
                sm += fabs(av * bv);
            }
            double v = alpha * s, vm = fabs(alpha) * sm;
            if (beta != 0) {
                v += beta * c0[i * ldc + j];
                vm += fabs(beta * c0[i * ldc + j]);
            }
            if (bias) {
                v += bias[j];
                vm += fabs(bias[j]);
            }
            c[i * n + j] = v;
            mag[i * n + j] = vm;
        }
}

static void run_gemm_case(int64_t m, int64_t n, int64_t k, int ta, int tb, int with_bias,
                          float beta, int64_t batch)
{
    const float alpha = 1.5f;
    int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
    int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
    int64_t lda = a_cols + 3, ldb = b_cols + 1, ldc = n + 2; /* padded rows */
    int64_t sa = a_rows * lda + 5, sb = b_rows * ldb + 7, sc = m * ldc + 3;
    int64_t nb = batch > 1 ? batch : 1;
    float *a = rbuf((size_t)(sa * nb), -1, 1), *b = rbuf((size_t)(sb * nb), -1, 1);
    float *c = fbuf((size_t)(sc * nb)), *c0 = fbuf((size_t)(sc * nb));
    float *bias = with_bias ? rbuf((size_t)n, -1, 1) : NULL;
    for (int64_t i = 0; i < sc * nb; i++)
        c0[i] = beta == 0.0f ? NAN : frand(-1, 1); /* beta 0 must ignore C */
    memcpy(c, c0, (size_t)(sc * nb) * sizeof *c);
    llmrt_gemm_desc d = {
        .struct_size = sizeof d, .trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k,
        .alpha = alpha, .beta = beta, .a = a, .lda = lda, .a_type = LLMRT_DTYPE_F32,
        .b = b, .ldb = ldb, .b_type = LLMRT_DTYPE_F32, .c = c, .ldc = ldc,
        .c_type = LLMRT_DTYPE_F32, .bias = bias, .batch = batch, .stride_a = sa,
        .stride_b = sb, .stride_c = sc,
    };
    ck_assert_msg(vt->gemm(ctx, &d) == 0, "gemm: %s", test_host_error());
    double *ref = dref((size_t)(m * n)), *mag = dref((size_t)(m * n));
    for (int64_t e = 0; e < nb; e++) {
        gemm_ref(ta, tb, m, n, k, alpha, a + e * sa, lda, b + e * sb, ldb, beta, c0 + e * sc,
                 ldc, bias, ref, mag);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double got = c[e * sc + i * ldc + j], want = ref[i * n + j];
                /* k products summed in float: error below k * 2^-24 of the
                 * magnitudes (k <= 96 here: 6e-6); 1e-5 leaves a margin. */
                ck_assert_msg(fabs(got - want) <= 1e-5 * mag[i * n + j] + 1e-30,
                              "gemm m%lld n%lld k%lld ta%d tb%d bias%d beta%g batch%lld: "
                              "C[%lld][%lld][%lld] = %.9g, want %.9g",
                              (long long)m, (long long)n, (long long)k, ta, tb, with_bias,
                              (double)beta, (long long)batch, (long long)e, (long long)i,
                              (long long)j, got, want);
            }
        /* Padding between rows and entries is left alone. */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = n; j < ldc && e * sc + i * ldc + j < sc * nb; j++) {
                float g = c[e * sc + i * ldc + j], w = c0[e * sc + i * ldc + j];
                ck_assert(memcmp(&g, &w, sizeof g) == 0);
            }
    }
}

START_TEST(test_gemm_forward)
{
    /* Small, and one big enough to be split over threads (> 2^18 MACs). */
    const int64_t sizes[][3] = {{7, 19, 13}, {67, 45, 96}};
    for (size_t s = 0; s < 2; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bias = 0; bias < 2; bias++)
                    for (int bt = 0; bt < 2; bt++)
                        for (int64_t batch = 1; batch <= 3; batch += 2)
                            run_gemm_case(sizes[s][0], sizes[s][1], sizes[s][2], ta, tb, bias,
                                          bt ? 0.5f : 0.0f, batch);
    /* Batched, large entries, fewer entries than threads: split per entry. */
    run_gemm_case(130, 70, 40, 0, 1, 1, 0.0f, 2);
    /* k = 0: C = beta C + bias. */
    run_gemm_case(5, 6, 0, 0, 0, 1, 0.5f, 1);
    run_gemm_case(5, 6, 0, 1, 1, 0, 0.0f, 1);
}
END_TEST

/* Linear layer y = x W + b (x: m x k, W: k x n), backward through the gemm
 * kernel itself (dx = dy W^T, dW = x^T dy) and bias_grad. */
typedef struct lin {
    int64_t m, n, k;
    float *x, *w, *b, *y, *r;
} lin;

static void lin_forward(lin *s)
{
    llmrt_gemm_desc d = {
        .struct_size = sizeof d, .m = s->m, .n = s->n, .k = s->k, .alpha = 1, .beta = 0,
        .a = s->x, .lda = s->k, .b = s->w, .ldb = s->n, .c = s->y, .ldc = s->n, .bias = s->b,
    };
    ck_assert_int_eq(vt->gemm(ctx, &d), 0);
}

static double lin_loss(void *st)
{
    lin *s = st;
    lin_forward(s);
    return dot_r(s->y, s->r, (size_t)(s->m * s->n));
}

START_TEST(test_gemm_linear_grad)
{
    lin s = {.m = 9, .n = 11, .k = 6};
    s.x = rbuf(54, -1, 1);
    s.w = rbuf(66, -1, 1);
    s.b = rbuf(11, -1, 1);
    s.y = fbuf(99);
    s.r = rbuf(99, -1, 1);
    float *dx = zbuf(54), *dw = zbuf(66), *db = zbuf(11);
    llmrt_gemm_desc gx = {.struct_size = sizeof gx, .trans_b = 1, .m = 9, .n = 6, .k = 11,
                          .alpha = 1, .beta = 1, .a = s.r, .lda = 11, .b = s.w, .ldb = 11,
                          .c = dx, .ldc = 6};
    llmrt_gemm_desc gw = {.struct_size = sizeof gw, .trans_a = 1, .m = 6, .n = 11, .k = 9,
                          .alpha = 1, .beta = 1, .a = s.x, .lda = 6, .b = s.r, .ldb = 11,
                          .c = dw, .ldc = 11};
    ck_assert_int_eq(vt->gemm(ctx, &gx), 0);
    ck_assert_int_eq(vt->gemm(ctx, &gw), 0);
    ck_assert_int_eq(vt->bias_grad(ctx, db, s.r, 9, 11, LLMRT_DTYPE_F32), 0);
    /* The loss is linear in each input: central differences are exact up to
     * float rounding of the outputs one element touches (<= 11 values ~3 in
     * size, 2^-24 each), so a large step h = 0.25 and a 1e-4 tolerance. */
    check_fd("linear dx", s.x, 54, dx, lin_loss, &s, 0.25, 1e-4, 1e-4, 8);
    check_fd("linear dW", s.w, 66, dw, lin_loss, &s, 0.25, 1e-4, 1e-4, 8);
    check_fd("linear db", s.b, 11, db, lin_loss, &s, 0.25, 1e-4, 1e-4, 8);
}
END_TEST

START_TEST(test_bias_grad)
{
    const int64_t shapes[][2] = {{50, 37}, {300, 130}, {3, 2000}};
    for (int s = 0; s < 3; s++) {
        int64_t rows = shapes[s][0], cols = shapes[s][1];
        float *dy = rbuf((size_t)(rows * cols), -1, 1);
        float *db = rbuf((size_t)cols, -1, 1), *db0 = copyf(db, (size_t)cols);
        ck_assert_int_eq(vt->bias_grad(ctx, db, dy, rows, cols, LLMRT_DTYPE_F32), 0);
        double *ref = dref((size_t)cols);
        for (int64_t j = 0; j < cols; j++) {
            ref[j] = db0[j];
            for (int64_t i = 0; i < rows; i++) ref[j] += dy[i * cols + j];
        }
        /* rows float additions of values below 1: rows * 2^-24 * rows/2. */
        expect_close("bias_grad", db, ref, (size_t)cols, 1e-7 * (double)rows * (double)rows,
                     0);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* LayerNorm / RMSNorm                                                       */

static void norm_ref(const float *x, const float *w, const float *b, int64_t rows, int64_t cols,
                     double eps, int rms, double *out, double *mean, double *rstd)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + i * cols;
        double m = 0, v = 0;
        if (!rms) {
            for (int64_t j = 0; j < cols; j++) m += xi[j];
            m /= (double)cols;
        }
        for (int64_t j = 0; j < cols; j++) v += (xi[j] - m) * (xi[j] - m);
        double r = 1.0 / sqrt(v / (double)cols + eps);
        for (int64_t j = 0; j < cols; j++)
            out[i * cols + j] = (xi[j] - m) * r * w[j] + (b ? b[j] : 0.0);
        mean[i] = m;
        rstd[i] = r;
    }
}

typedef struct normt {
    llmrt_norm_desc d;
    float *r;
    size_t n_out;
} normt;

static normt make_norm(int64_t rows, int64_t cols, int rms, int with_bias)
{
    normt s = {.d = {.struct_size = sizeof(llmrt_norm_desc), .rows = rows, .cols = cols,
                     .eps = 1e-5f, .rms = rms, .dtype = LLMRT_DTYPE_F32}};
    size_t n = (size_t)(rows * cols);
    float *x = rbuf(n, -1, 1);
    for (size_t i = 0; i < n; i++) x[i] += 0.5f; /* a mean away from 0 */
    s.d.inp = x;
    s.d.weight = rbuf((size_t)cols, 0.5f, 1.5f);
    s.d.bias = with_bias ? rbuf((size_t)cols, -0.5f, 0.5f) : NULL;
    s.d.out = fbuf(n);
    s.d.mean = rms ? NULL : fbuf((size_t)rows);
    s.d.rstd = fbuf((size_t)rows);
    s.d.dout = s.r = rbuf(n, -1, 1);
    s.d.dinp = zbuf(n);
    s.d.dweight = zbuf((size_t)cols);
    s.d.dbias = with_bias ? zbuf((size_t)cols) : NULL;
    s.n_out = n;
    return s;
}

static double norm_loss(void *st)
{
    normt *s = st;
    ck_assert_int_eq(vt->norm_forward(ctx, &s->d), 0);
    return dot_r(s->d.out, s->r, s->n_out);
}

START_TEST(test_norm_forward)
{
    const int64_t shapes[][2] = {{5, 33}, {64, 300}};
    for (int s = 0; s < 2; s++)
        for (int rms = 0; rms < 2; rms++) {
            int64_t rows = shapes[s][0], cols = shapes[s][1];
            normt t = make_norm(rows, cols, rms, !rms);
            ck_assert_int_eq(vt->norm_forward(ctx, &t.d), 0);
            double *out = dref(t.n_out), *mean = dref((size_t)rows), *rstd = dref((size_t)rows);
            norm_ref(t.d.inp, t.d.weight, t.d.bias, rows, cols, 1e-5, rms, out, mean, rstd);
            /* Sums of <= 300 floats of size ~1: relative error ~1e-6 at worst. */
            expect_close(rms ? "rmsnorm out" : "layernorm out", t.d.out, out, t.n_out, 1e-5,
                         1e-5);
            if (!rms) expect_close("layernorm mean", t.d.mean, mean, (size_t)rows, 1e-6, 0);
            expect_close("norm rstd", t.d.rstd, rstd, (size_t)rows, 0, 1e-5);
        }
}
END_TEST

START_TEST(test_norm_grad)
{
    for (int rms = 0; rms < 2; rms++) {
        normt s = make_norm(5, 33, rms, !rms);
        ck_assert_int_eq(vt->norm_forward(ctx, &s.d), 0);
        ck_assert_int_eq(vt->norm_backward(ctx, &s.d), 0);
        /* h = 1e-2 on inputs of size ~1: the third derivative is ~rstd^3 ~ 5,
         * so truncation is ~h^2/6 * 5 ~ 1e-4; float rounding of the 33
         * outputs a row change gives ~33 * 6e-8 / 2h ~ 1e-4. Tolerance
         * 2e-3 + 2% covers both with margin. */
        const char *nx = rms ? "rmsnorm dx" : "layernorm dx";
        check_fd(nx, (float *)s.d.inp, s.n_out, s.d.dinp, norm_loss, &s, 1e-2, 2e-3, 2e-2, 6);
        check_fd(rms ? "rmsnorm dw" : "layernorm dw", (float *)s.d.weight, 33, s.d.dweight,
                 norm_loss, &s, 1e-2, 2e-3, 2e-2, 6);
        if (!rms)
            check_fd("layernorm db", (float *)s.d.bias, 33, s.d.dbias, norm_loss, &s, 1e-2,
                     2e-3, 2e-2, 6);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* GELU                                                                      */

static double gelu_ref(double x, int kind)
{
    if (kind == LLMRT_GELU_TANH)
        return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1 + erf(x / sqrt(2.0)));
}

static double gelu_grad_ref(double x, int kind)
{
    if (kind == LLMRT_GELU_TANH) {
        double s = sqrt(2 / M_PI), u = s * (x + 0.044715 * x * x * x), t = tanh(u);
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * s * (1 + 3 * 0.044715 * x * x);
    }
    return 0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
}

typedef struct gelut {
    float *x, *y, *r;
    size_t n;
    int kind;
} gelut;

static double gelu_loss(void *st)
{
    gelut *s = st;
    ck_assert_int_eq(vt->gelu_forward(ctx, s->y, s->x, s->n, LLMRT_DTYPE_F32, s->kind), 0);
    return dot_r(s->y, s->r, s->n);
}

START_TEST(test_gelu)
{
    const size_t n = 70001; /* odd: vector tails; large: split over threads */
    for (int kind = 0; kind < 2; kind++) {
        gelut s = {.x = rbuf(n, -6, 6), .y = fbuf(n), .r = rbuf(n, -1, 1), .n = n, .kind = kind};
        s.x[0] = 0;
        s.x[1] = -30;
        s.x[2] = 30;
        s.x[3] = -1e10f;
        s.x[4] = 1e10f;
        ck_assert_int_eq(vt->gelu_forward(ctx, s.y, s.x, n, LLMRT_DTYPE_F32, kind), 0);
        double *ref = dref(n), *gref = dref(n);
        for (size_t i = 0; i < n; i++) {
            ref[i] = gelu_ref(s.x[i], kind);
            gref[i] = s.r[i] * gelu_grad_ref(s.x[i], kind);
        }
        /* The kernels use their own exp (2 ulp) and, for erf, a Chebyshev
         * erfc with relative error < 1.2e-7. In the negative tail the result
         * is ~x exp(-a) with a = 2u (tanh) or x^2/2 (erf) up to ~50 at x = -6;
         * float rounding of a (a few ulp of a) becomes a relative error of
         * ~50 * 3 * 6e-8 ~ 1e-5 in exp(-a), as in any fp32 GELU. Hence
         * rtol 2e-5. atol 1e-20: below x ~ -100 the exp saturates at
         * exp(88.3), leaving x * 5e-39 instead of ~0 (-4.5e-29 at -1e10). */
        expect_close(kind ? "gelu erf" : "gelu tanh", s.y, ref, n, 1e-20, 2e-5);
        float *dx = zbuf(n);
        ck_assert_int_eq(vt->gelu_backward(ctx, dx, s.x, s.r, n, LLMRT_DTYPE_F32, kind), 0);
        /* The derivative is O(1) and cancels in the negative tail. */
        expect_close(kind ? "gelu erf grad" : "gelu tanh grad", dx, gref, n, 1e-6, 1e-5);
        /* Against finite differences on inputs in [-4, 4]: h = 1e-2, the
         * third derivative is below 2, truncation < 4e-5; tolerance 1e-4 +
         * 1e-3 relative. */
        gelut small = {.x = rbuf(64, -4, 4), .y = fbuf(64), .r = rbuf(64, -1, 1), .n = 64,
                       .kind = kind};
        float *dsmall = zbuf(64);
        ck_assert_int_eq(
            vt->gelu_backward(ctx, dsmall, small.x, small.r, 64, LLMRT_DTYPE_F32, kind), 0);
        check_fd(kind ? "gelu erf dx" : "gelu tanh dx", small.x, 64, dsmall, gelu_loss, &small,
                 1e-2, 1e-4, 1e-3, 12);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Attention                                                                 */

typedef struct attt {
    llmrt_attention_desc d;
    float *qkv, *q, *k, *v, *out, *lse, *r, *bias;
    float *dqkv, *dq, *dk, *dv, *dbias;
    size_t n_q, n_k, n_v, n_qkv, n_out, n_bias;
} attt;

/* fused: q, k and v are slices of one [B*T, 3*H*D] buffer (needs Tq == Tk).
 * out rows are padded by 2 floats, which must stay untouched. */
static attt make_att(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, int causal,
                     int with_bias, int fused, float scale)
{
    attt s;
    memset(&s, 0, sizeof s);
    llmrt_attention_desc *d = &s.d;
    d->struct_size = sizeof *d;
    d->batch = B;
    d->heads = H;
    d->q_len = Tq;
    d->kv_len = Tk;
    d->head_dim = D;
    d->dtype = LLMRT_DTYPE_F32;
    d->scale = scale;
    d->causal = causal;
    int64_t W = H * D;
    if (fused) {
        ck_assert_int_eq(Tq, Tk);
        s.n_qkv = (size_t)(B * Tq * 3 * W);
        s.qkv = rbuf(s.n_qkv, -1, 1);
        s.dqkv = zbuf(s.n_qkv);
        s.q = s.qkv;
        s.k = s.qkv + W;
        s.v = s.qkv + 2 * W;
        s.dq = s.dqkv;
        s.dk = s.dqkv + W;
        s.dv = s.dqkv + 2 * W;
        d->q_row_stride = d->k_row_stride = d->v_row_stride = 3 * W;
        s.n_q = s.n_k = s.n_v = s.n_qkv;
    } else {
        s.n_q = (size_t)(B * Tq * W);
        s.n_k = s.n_v = (size_t)(B * Tk * W);
        s.q = rbuf(s.n_q, -1, 1);
        s.k = rbuf(s.n_k, -1, 1);
        s.v = rbuf(s.n_v, -1, 1);
        s.dq = zbuf(s.n_q);
        s.dk = zbuf(s.n_k);
        s.dv = zbuf(s.n_v);
        d->q_row_stride = d->k_row_stride = d->v_row_stride = W;
    }
    d->q = s.q;
    d->k = s.k;
    d->v = s.v;
    d->dq = s.dq;
    d->dk = s.dk;
    d->dv = s.dv;
    d->out_row_stride = W + 2;
    s.n_out = (size_t)(B * Tq * (W + 2));
    s.out = fbuf(s.n_out);
    for (size_t i = 0; i < s.n_out; i++) s.out[i] = 7.0f;
    s.r = rbuf(s.n_out, -1, 1);
    for (int64_t row = 0; row < B * Tq; row++) s.r[row * (W + 2) + W] = s.r[row * (W + 2) + W + 1] = 0;
    d->out = s.out;
    d->dout = s.r;
    s.lse = fbuf((size_t)(B * H * Tq));
    d->lse = s.lse;
    if (with_bias) {
        s.n_bias = (size_t)(H * Tq * Tk);
        s.bias = rbuf(s.n_bias, -1, 1);
        s.dbias = zbuf(s.n_bias);
        d->bias = s.bias;
        d->dbias = s.dbias;
    }
    return s;
}

static void att_ref(const attt *s, double *out, double *lse)
{
    const llmrt_attention_desc *d = &s->d;
    int64_t B = d->batch, H = d->heads, Tq = d->q_len, Tk = d->kv_len, D = d->head_dim;
    double *sc = malloc((size_t)Tk * sizeof *sc);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                const float *q = s->q + (b * Tq + i) * d->q_row_stride + h * D;
                int64_t nv = d->causal ? i + (Tk - Tq) + 1 : Tk;
                if (nv > Tk) nv = Tk;
                if (nv < 0) nv = 0;
                double m = -INFINITY;
                for (int64_t j = 0; j < nv; j++) {
                    const float *k = s->k + (b * Tk + j) * d->k_row_stride + h * D;
                    double dot = 0;
                    for (int64_t e = 0; e < D; e++) dot += (double)q[e] * k[e];
                    sc[j] = d->scale * dot + (s->bias ? s->bias[(h * Tq + i) * Tk + j] : 0.0);
                    if (sc[j] > m) m = sc[j];
                }
                double sum = 0;
                for (int64_t j = 0; j < nv; j++) sum += exp(sc[j] - m);
                double *o = out + (b * Tq + i) * d->out_row_stride + h * D;
                for (int64_t e = 0; e < D; e++) o[e] = 0;
                for (int64_t j = 0; j < nv; j++) {
                    const float *v = s->v + (b * Tk + j) * d->v_row_stride + h * D;
                    double p = exp(sc[j] - m) / sum;
                    for (int64_t e = 0; e < D; e++) o[e] += p * v[e];
                }
                lse[(b * H + h) * Tq + i] = nv ? m + log(sum) : -INFINITY;
            }
    free(sc);
}

static void att_check_forward(const char *what, attt *s)
{
    ck_assert_msg(vt->attention_forward(ctx, &s->d) == 0, "%s: %s", what, test_host_error());
    const llmrt_attention_desc *d = &s->d;
    double *out = dref(s->n_out), *lse = dref((size_t)(d->batch * d->heads * d->q_len));
    int64_t W = d->heads * d->head_dim;
    for (size_t i = 0; i < s->n_out; i++) out[i] = 7.0; /* padding */
    att_ref(s, out, lse);
    /* Scores, softmax and P V in float over <= 70 keys of size ~1. */
    expect_close(what, s->out, out, s->n_out, 2e-6, 1e-5);
    expect_close(what, s->lse, lse, (size_t)(d->batch * d->heads * d->q_len), 2e-6, 1e-6);
    for (int64_t row = 0; row < d->batch * d->q_len; row++)
        ck_assert(s->out[row * (W + 2) + W] == 7.0f && s->out[row * (W + 2) + W + 1] == 7.0f);
}

static double att_loss(void *st)
{
    attt *s = st;
    ck_assert_int_eq(vt->attention_forward(ctx, &s->d), 0);
    return dot_r(s->out, s->r, s->n_out);
}

static void att_check_grads(const char *what, attt *s, int samples)
{
    ck_assert_int_eq(vt->attention_forward(ctx, &s->d), 0);
    ck_assert_int_eq(vt->attention_backward(ctx, &s->d), 0);
    /* h = 1e-2: the softmax is smooth (derivatives of order 1 for scores of
     * order 1), truncation ~1e-4; one key or value element changes up to
     * Tq * D outputs (~50-1000), float rounding ~1e-4 after dividing by
     * 2h. Tolerance 2e-3 + 2%. */
    char name[128];
    if (s->qkv) {
        snprintf(name, sizeof name, "%s dqkv", what);
        check_fd(name, s->qkv, s->n_qkv, s->dqkv, att_loss, s, 1e-2, 2e-3, 2e-2, 3 * samples);
    } else {
        snprintf(name, sizeof name, "%s dq", what);
        check_fd(name, s->q, s->n_q, s->dq, att_loss, s, 1e-2, 2e-3, 2e-2, samples);
        snprintf(name, sizeof name, "%s dk", what);
        check_fd(name, s->k, s->n_k, s->dk, att_loss, s, 1e-2, 2e-3, 2e-2, samples);
        snprintf(name, sizeof name, "%s dv", what);
        check_fd(name, s->v, s->n_v, s->dv, att_loss, s, 1e-2, 2e-3, 2e-2, samples);
    }
    if (s->bias) {
        snprintf(name, sizeof name, "%s dbias", what);
        check_fd(name, s->bias, s->n_bias, s->dbias, att_loss, s, 1e-2, 2e-3, 2e-2, samples);
    }
}

START_TEST(test_attention_forward)
{
    float sc8 = 1.0f / sqrtf(8.0f);
    attt a = make_att(2, 2, 6, 6, 8, 1, 0, 1, sc8);
    att_check_forward("attention causal fused", &a);
    attt b = make_att(2, 2, 6, 6, 8, 0, 1, 0, sc8);
    att_check_forward("attention bias", &b);
    attt c = make_att(2, 2, 4, 7, 8, 0, 1, 0, 1.0f);
    att_check_forward("attention cross", &c);
    attt d = make_att(2, 2, 4, 7, 8, 1, 0, 0, sc8);
    att_check_forward("attention causal q<kv", &d);
    attt e = make_att(1, 2, 7, 4, 8, 1, 1, 0, sc8);
    att_check_forward("attention causal q>kv", &e);
    ck_assert(isinf(e.lse[0]) && e.lse[0] < 0); /* row 0 sees no key */
    attt f = make_att(2, 3, 70, 70, 16, 1, 0, 1, 0.25f);
    att_check_forward("attention causal T=70", &f);
    attt g = make_att(1, 2, 70, 90, 16, 0, 1, 0, 0.25f);
    att_check_forward("attention cross T=70x90", &g);
}
END_TEST

START_TEST(test_attention_grad)
{
    float sc8 = 1.0f / sqrtf(8.0f);
    attt a = make_att(2, 2, 6, 6, 8, 1, 0, 1, sc8);
    att_check_grads("attention causal fused", &a, 6);
    attt b = make_att(2, 2, 6, 6, 8, 0, 1, 0, sc8);
    att_check_grads("attention bias", &b, 6);
    attt c = make_att(2, 2, 4, 7, 8, 0, 1, 0, 1.0f);
    att_check_grads("attention cross", &c, 6);
    attt d = make_att(2, 2, 4, 7, 8, 1, 0, 0, sc8);
    att_check_grads("attention causal q<kv", &d, 6);
    attt e = make_att(1, 2, 7, 4, 8, 1, 1, 0, sc8);
    att_check_grads("attention causal q>kv", &e, 6);
    attt f = make_att(1, 2, 70, 70, 16, 1, 1, 0, 0.25f);
    att_check_grads("attention causal T=70", &f, 4);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Softmax cross-entropy                                                     */

static void xent_ref(const float *x, const int32_t *t, int64_t rows, int64_t V, int64_t Vp,
                     double dloss, double *loss, double *dl)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + i * Vp;
        double *di = dl + i * Vp;
        for (int64_t j = 0; j < Vp; j++) di[j] = 0;
        if (t[i] < 0) {
            loss[i] = 0;
            continue;
        }
        double m = -INFINITY, s = 0;
        for (int64_t j = 0; j < V; j++) m = xi[j] > m ? xi[j] : m;
        for (int64_t j = 0; j < V; j++) s += exp(xi[j] - m);
        loss[i] = m + log(s) - xi[t[i]];
        for (int64_t j = 0; j < V; j++) di[j] = dloss * (exp(xi[j] - m) / s - (j == t[i]));
    }
}

typedef struct xentt {
    llmrt_xent_desc d;
    float *x;
    size_t n;
} xentt;

static xentt make_xent(int64_t rows, int64_t V, int64_t Vp)
{
    xentt s = {.d = {.struct_size = sizeof(llmrt_xent_desc), .rows = rows, .vocab = V,
                     .padded_vocab = Vp, .dtype = LLMRT_DTYPE_F32, .dloss = 1.0f / 3}};
    s.n = (size_t)(rows * Vp);
    s.x = rbuf(s.n, -4, 4);
    int32_t *t = dbuf((size_t)rows * sizeof *t);
    for (int64_t i = 0; i < rows; i++) t[i] = (int32_t)irand((size_t)V);
    t[1] = -1; /* ignored rows */
    t[rows - 1] = -100;
    s.d.logits = s.x;
    s.d.targets = t;
    s.d.losses = fbuf((size_t)rows);
    s.d.dlogits = fbuf(s.n);
    for (size_t i = 0; i < s.n; i++) ((float *)s.d.dlogits)[i] = NAN; /* all overwritten */
    return s;
}

static double xent_loss(void *st)
{
    xentt *s = st;
    void *keep = s->d.dlogits;
    s->d.dlogits = NULL;
    ck_assert_int_eq(vt->softmax_xent(ctx, &s->d), 0);
    s->d.dlogits = keep;
    double l = 0;
    for (int64_t i = 0; i < s->d.rows; i++) l += (double)s->d.dloss * s->d.losses[i];
    return l;
}

START_TEST(test_xent)
{
    const int64_t shapes[][3] = {{6, 37, 40}, {40, 1000, 1024}, {3, 50, 50}};
    for (int sh = 0; sh < 3; sh++) {
        int64_t rows = shapes[sh][0], V = shapes[sh][1], Vp = shapes[sh][2];
        xentt s = make_xent(rows, V, Vp);
        ck_assert_int_eq(vt->softmax_xent(ctx, &s.d), 0);
        double *loss = dref((size_t)rows), *dl = dref(s.n);
        xent_ref(s.x, s.d.targets, rows, V, Vp, s.d.dloss, loss, dl);
        /* log-sum-exp over <= 1000 terms in float: ~1e-6 relative. */
        expect_close("xent loss", s.d.losses, loss, (size_t)rows, 1e-5, 1e-5);
        expect_close("xent dlogits", s.d.dlogits, dl, s.n, 1e-7, 1e-5);
        /* Without dlogits: the same losses. Aliased: the same bits. */
        float *l1 = copyf(s.d.losses, (size_t)rows), *d1 = copyf(s.d.dlogits, s.n);
        void *keep = s.d.dlogits;
        s.d.dlogits = NULL;
        ck_assert_int_eq(vt->softmax_xent(ctx, &s.d), 0);
        expect_same("xent losses without dlogits", s.d.losses, l1, (size_t)rows * 4);
        float *xa = copyf(s.x, s.n);
        s.d.logits = xa;
        s.d.dlogits = xa;
        ck_assert_int_eq(vt->softmax_xent(ctx, &s.d), 0);
        expect_same("xent aliased dlogits", xa, d1, s.n * 4);
        expect_same("xent aliased losses", s.d.losses, l1, (size_t)rows * 4);
        s.d.logits = s.x;
        s.d.dlogits = keep;
    }
    xentt g = make_xent(6, 37, 40);
    ck_assert_int_eq(vt->softmax_xent(ctx, &g.d), 0);
    /* h = 1e-2 on logits in [-4, 4]: log-sum-exp has bounded third
     * derivative (< 1), truncation < 2e-5; one logit changes one loss.
     * Tolerance 1e-4 + 1%. */
    check_fd("xent dlogits", g.x, g.n, g.d.dlogits, xent_loss, &g, 1e-2, 1e-4, 1e-2, 12);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Embedding                                                                 */

typedef struct embt {
    float *table, *out, *r;
    int32_t *ids;
    int64_t rows, dim;
} embt;

static double emb_loss(void *st)
{
    embt *s = st;
    ck_assert_int_eq(vt->embedding_forward(ctx, s->out, s->ids, s->table, s->rows, s->dim,
                                           LLMRT_DTYPE_F32, 0),
                     0);
    return dot_r(s->out, s->r, (size_t)(s->rows * s->dim));
}

START_TEST(test_embedding)
{
    const int64_t shapes[][3] = {{10, 24, 7}, {64, 512, 13}};
    for (int sh = 0; sh < 2; sh++) {
        int64_t rows = shapes[sh][0], dim = shapes[sh][1], trows = shapes[sh][2];
        size_t n = (size_t)(rows * dim);
        embt s = {.table = rbuf((size_t)(trows * dim), -1, 1), .out = fbuf(n),
                  .r = rbuf(n, -1, 1), .rows = rows, .dim = dim};
        s.ids = dbuf((size_t)rows * sizeof *s.ids);
        for (int64_t i = 0; i < rows; i++) s.ids[i] = (int32_t)irand((size_t)trows);
        s.ids[0] = s.ids[rows - 1]; /* a repeated id for sure */
        ck_assert_int_eq(vt->embedding_forward(ctx, s.out, s.ids, s.table, rows, dim,
                                               LLMRT_DTYPE_F32, 0),
                         0);
        for (int64_t i = 0; i < rows; i++)
            expect_same("embedding out", s.out + i * dim, s.table + s.ids[i] * dim,
                        (size_t)dim * 4);
        float *acc = rbuf(n, -1, 1), *want = fbuf(n);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < dim; j++)
                want[i * dim + j] = acc[i * dim + j] + s.table[s.ids[i] * dim + j];
        ck_assert_int_eq(vt->embedding_forward(ctx, acc, s.ids, s.table, rows, dim,
                                               LLMRT_DTYPE_F32, 1),
                         0);
        expect_same("embedding accumulate", acc, want, n * 4);
        /* Backward: the rows' additions in row order, in float: exactly the
         * serial loop below, whatever the thread count. */
        float *dt = rbuf((size_t)(trows * dim), -1, 1), *dt_want = copyf(dt, (size_t)(trows * dim));
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < dim; j++) dt_want[s.ids[i] * dim + j] += s.r[i * dim + j];
        ck_assert_int_eq(
            vt->embedding_backward(ctx, dt, s.ids, s.r, rows, dim, LLMRT_DTYPE_F32), 0);
        expect_same("embedding backward", dt, dt_want, (size_t)(trows * dim) * 4);
        if (sh == 0) {
            float *g = zbuf((size_t)(trows * dim));
            ck_assert_int_eq(
                vt->embedding_backward(ctx, g, s.ids, s.r, rows, dim, LLMRT_DTYPE_F32), 0);
            /* Linear: exact up to rounding of a few outputs; h = 0.25. */
            check_fd("embedding dtable", s.table, (size_t)(trows * dim), g, emb_loss, &s, 0.25,
                     1e-5, 1e-5, 12);
        }
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* AdamW, sum_squares, scale, add, convert                                   */

START_TEST(test_adamw)
{
    const size_t n = 40000;
    float *p = rbuf(n, -1, 1), *m = zbuf(n), *v = zbuf(n);
    double *pr = dref(n), *mr = dref(n), *vr = dref(n);
    for (size_t i = 0; i < n; i++) pr[i] = p[i];
    const double lr = 1e-2, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1, gs = 0.5;
    for (int64_t t = 1; t <= 3; t++) {
        float *g = rbuf(n, -1, 1);
        llmrt_adamw_desc d = {.struct_size = sizeof d, .n = n, .params = p, .grads = g,
                              .grad_type = LLMRT_DTYPE_F32, .m = m, .v = v, .lr = (float)lr,
                              .beta1 = (float)b1, .beta2 = (float)b2, .eps = (float)eps,
                              .weight_decay = (float)wd, .grad_scale = (float)gs, .t = t};
        ck_assert_int_eq(vt->adamw(ctx, &d), 0);
        for (size_t i = 0; i < n; i++) {
            double gi = (double)g[i] * gs;
            mr[i] = (double)(float)b1 * mr[i] + (1 - (double)(float)b1) * gi;
            vr[i] = (double)(float)b2 * vr[i] + (1 - (double)(float)b2) * gi * gi;
            double mh = mr[i] / (1 - pow((float)b1, (double)t));
            double vh = vr[i] / (1 - pow((float)b2, (double)t));
            pr[i] -= (double)(float)lr * (mh / (sqrt(vh) + (double)(float)eps) +
                                          (double)(float)wd * pr[i]);
        }
    }
    /* Steps of ~1e-2 computed in float: errors ~1e-9 per step. */
    expect_close("adamw params", p, pr, n, 1e-6, 1e-6);
    expect_close("adamw m", m, mr, n, 1e-7, 1e-5);
    expect_close("adamw v", v, vr, n, 1e-8, 1e-5);
}
END_TEST

START_TEST(test_sum_squares)
{
    const size_t sizes[] = {0, 1, 5, 1000, 100003};
    for (int s = 0; s < 5; s++) {
        size_t n = sizes[s];
        float *x = rbuf(n ? n : 1, -2, 2);
        double ref = 0, got = -1;
        for (size_t i = 0; i < n; i++) ref += (double)x[i] * x[i];
        ck_assert_int_eq(vt->sum_squares(ctx, x, n, LLMRT_DTYPE_F32, &got), 0);
        /* Double accumulation in another order: ~n * 1e-16 relative. */
        ck_assert_msg(fabs(got - ref) <= 1e-12 * ref, "sum_squares n=%zu: %.17g vs %.17g", n,
                      got, ref);
    }
    float *x = rbuf(1000, -1, 1);
    double r;
    x[500] = INFINITY;
    ck_assert_int_eq(vt->sum_squares(ctx, x, 1000, LLMRT_DTYPE_F32, &r), 0);
    ck_assert(isinf(r));
    x[501] = NAN;
    ck_assert_int_eq(vt->sum_squares(ctx, x, 1000, LLMRT_DTYPE_F32, &r), 0);
    ck_assert(isnan(r));
}
END_TEST

START_TEST(test_scale_add)
{
    const size_t n = 50001;
    float *x = rbuf(n, -1, 1), *y = rbuf(n, -1, 1), *x0 = copyf(x, n), *out = fbuf(n);
    ck_assert_int_eq(vt->add(ctx, out, x, y, n, LLMRT_DTYPE_F32), 0);
    for (size_t i = 0; i < n; i++) ck_assert(out[i] == x[i] + y[i]);
    ck_assert_int_eq(vt->add(ctx, x, x, y, n, LLMRT_DTYPE_F32), 0); /* out aliases a */
    expect_same("add in place", x, out, n * 4);
    memcpy(x, x0, n * 4);
    ck_assert_int_eq(vt->scale(ctx, x, n, LLMRT_DTYPE_F32, -0.375f), 0);
    for (size_t i = 0; i < n; i++) ck_assert(x[i] == x0[i] * -0.375f);
    ck_assert_int_eq(vt->scale(ctx, x, 0, LLMRT_DTYPE_F32, 2.0f), 0);
}
END_TEST

START_TEST(test_convert)
{
    const float f[] = {0.0f, 2.5f, -2.5f, 3.7f, -3.7f, 1e10f, -1e10f, NAN, 16777217.0f, 7.0f};
    const int32_t want_i[] = {0, 2, -2, 4, -4, INT32_MAX, INT32_MIN, 0, 16777216, 7};
    int32_t *i32 = dbuf(sizeof want_i);
    ck_assert_int_eq(vt->convert(ctx, i32, LLMRT_DTYPE_I32, f, LLMRT_DTYPE_F32, 10), 0);
    for (int i = 0; i < 10; i++) ck_assert_int_eq(i32[i], want_i[i]);
    const int32_t src[] = {0, 1, -1, 123456, 16777217, INT32_MIN};
    float *fo = fbuf(6);
    ck_assert_int_eq(vt->convert(ctx, fo, LLMRT_DTYPE_F32, src, LLMRT_DTYPE_I32, 6), 0);
    for (int i = 0; i < 6; i++) ck_assert(fo[i] == (float)src[i]);
    float *x = rbuf(33333, -1, 1), *y = fbuf(33333);
    ck_assert_int_eq(vt->convert(ctx, y, LLMRT_DTYPE_F32, x, LLMRT_DTYPE_F32, 33333), 0);
    expect_same("convert f32", x, y, 33333 * 4);
    int rc = vt->convert(ctx, y, LLMRT_DTYPE_U8, x, LLMRT_DTYPE_F32, 4);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "convert", "f32", "u8");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Backward kernels accumulate                                               */

START_TEST(test_backward_accumulates)
{
    /* norm */
    normt n1 = make_norm(9, 40, 0, 1);
    ck_assert_int_eq(vt->norm_forward(ctx, &n1.d), 0);
    ck_assert_int_eq(vt->norm_backward(ctx, &n1.d), 0);
    float *dx1 = copyf(n1.d.dinp, n1.n_out), *dw1 = copyf(n1.d.dweight, 40),
          *db1 = copyf(n1.d.dbias, 40);
    ck_assert_int_eq(vt->norm_backward(ctx, &n1.d), 0);
    for (size_t i = 0; i < n1.n_out; i++) ck_assert(((float *)n1.d.dinp)[i] == 2 * dx1[i]);
    for (size_t j = 0; j < 40; j++) {
        ck_assert(((float *)n1.d.dweight)[j] == 2 * dw1[j]);
        ck_assert(((float *)n1.d.dbias)[j] == 2 * db1[j]);
    }
    /* gelu */
    float *x = rbuf(1000, -3, 3), *r = rbuf(1000, -1, 1), *dg = zbuf(1000);
    ck_assert_int_eq(vt->gelu_backward(ctx, dg, x, r, 1000, LLMRT_DTYPE_F32, 0), 0);
    float *dg1 = copyf(dg, 1000);
    ck_assert_int_eq(vt->gelu_backward(ctx, dg, x, r, 1000, LLMRT_DTYPE_F32, 0), 0);
    for (size_t i = 0; i < 1000; i++) ck_assert(dg[i] == 2 * dg1[i]);
    /* attention: every gradient, fused q/k/v and dbias */
    for (int cfg = 0; cfg < 2; cfg++) {
        attt a = cfg ? make_att(2, 2, 5, 9, 8, 0, 1, 0, 0.3f) : make_att(2, 3, 70, 70, 8, 1, 0, 1, 0.3f);
        ck_assert_int_eq(vt->attention_forward(ctx, &a.d), 0);
        ck_assert_int_eq(vt->attention_backward(ctx, &a.d), 0);
        /* Fused: dq, dk, dv are the slices of dqkv, compared as one. */
        float *grads[4] = {a.qkv ? a.dqkv : a.dq, a.qkv ? NULL : a.dk, a.qkv ? NULL : a.dv,
                           a.dbias};
        size_t counts[4] = {a.qkv ? a.n_qkv : a.n_q, a.n_k, a.n_v, a.n_bias};
        float *first[4] = {NULL, NULL, NULL, NULL};
        for (int t = 0; t < 4; t++)
            if (grads[t]) first[t] = copyf(grads[t], counts[t]);
        ck_assert_int_eq(vt->attention_backward(ctx, &a.d), 0);
        /* x + x == 2x exactly when the second pass repeats the first; the
         * margin allows a product that adds in another order. */
        for (int t = 0; t < 4; t++)
            for (size_t i = 0; grads[t] && i < counts[t]; i++)
                ck_assert_msg(fabsf(grads[t][i] - 2 * first[t][i]) <= 1e-6f,
                              "attention gradient %d[%zu]: %g after two passes, %g after one", t,
                              i, (double)grads[t][i], (double)first[t][i]);
    }
    /* embedding, bias_grad */
    int32_t ids[6] = {1, 3, 1, 0, 3, 3};
    float *dout = rbuf(6 * 16, -1, 1), *dt = zbuf(4 * 16), *db = zbuf(16);
    ck_assert_int_eq(vt->embedding_backward(ctx, dt, ids, dout, 6, 16, LLMRT_DTYPE_F32), 0);
    ck_assert_int_eq(vt->bias_grad(ctx, db, dout, 6, 16, LLMRT_DTYPE_F32), 0);
    float *dt1 = copyf(dt, 64), *db_1 = copyf(db, 16);
    ck_assert_int_eq(vt->embedding_backward(ctx, dt, ids, dout, 6, 16, LLMRT_DTYPE_F32), 0);
    ck_assert_int_eq(vt->bias_grad(ctx, db, dout, 6, 16, LLMRT_DTYPE_F32), 0);
    /* A repeated id adds several rows: (a + b) + a + b need not be 2(a + b)
     * in float, hence the margin. */
    for (int i = 0; i < 64; i++) ck_assert(fabsf(dt[i] - 2 * dt1[i]) <= 1e-6f);
    for (int i = 0; i < 16; i++) ck_assert(db[i] == 2 * db_1[i]);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Determinism                                                               */

/* Everything a training step runs, on shapes that use several threads; the
 * outputs are appended to `out` (n floats). */
static size_t run_all(float *out, size_t cap)
{
    size_t n = 0;
#define KEEP(ptr, cnt)                                                                        \
    do {                                                                                      \
        ck_assert_uint_le(n + (size_t)(cnt), cap);                                            \
        memcpy(out + n, (ptr), (size_t)(cnt) * sizeof(float));                                \
        n += (size_t)(cnt);                                                                   \
    } while (0)
    seed(7);
    /* gemm */
    float *a = rbuf(67 * 96, -1, 1), *b = rbuf(96 * 45, -1, 1), *c = fbuf(67 * 45),
          *bias = rbuf(45, -1, 1);
    llmrt_gemm_desc g = {.struct_size = sizeof g, .m = 67, .n = 45, .k = 96, .alpha = 1,
                         .a = a, .lda = 96, .b = b, .ldb = 45, .c = c, .ldc = 45, .bias = bias};
    ck_assert_int_eq(vt->gemm(ctx, &g), 0);
    KEEP(c, 67 * 45);
    /* norm */
    normt nm = make_norm(64, 300, 0, 1);
    ck_assert_int_eq(vt->norm_forward(ctx, &nm.d), 0);
    ck_assert_int_eq(vt->norm_backward(ctx, &nm.d), 0);
    KEEP(nm.d.out, nm.n_out);
    KEEP(nm.d.dinp, nm.n_out);
    KEEP(nm.d.dweight, 300);
    KEEP(nm.d.dbias, 300);
    /* attention */
    attt at = make_att(2, 3, 70, 70, 16, 1, 0, 1, 0.25f);
    ck_assert_int_eq(vt->attention_forward(ctx, &at.d), 0);
    ck_assert_int_eq(vt->attention_backward(ctx, &at.d), 0);
    KEEP(at.out, at.n_out);
    KEEP(at.lse, 2 * 3 * 70);
    KEEP(at.dqkv, at.n_qkv);
    attt ab = make_att(2, 2, 20, 30, 8, 0, 1, 0, 0.3f);
    ck_assert_int_eq(vt->attention_forward(ctx, &ab.d), 0);
    ck_assert_int_eq(vt->attention_backward(ctx, &ab.d), 0);
    KEEP(ab.dq, ab.n_q);
    KEEP(ab.dk, ab.n_k);
    KEEP(ab.dv, ab.n_v);
    KEEP(ab.dbias, ab.n_bias);
    /* gelu, xent, embedding, bias_grad, adamw, sum_squares */
    float *x = rbuf(40000, -4, 4), *y = fbuf(40000), *dx = zbuf(40000);
    ck_assert_int_eq(vt->gelu_forward(ctx, y, x, 40000, LLMRT_DTYPE_F32, 0), 0);
    ck_assert_int_eq(vt->gelu_backward(ctx, dx, x, y, 40000, LLMRT_DTYPE_F32, 1), 0);
    KEEP(y, 40000);
    KEEP(dx, 40000);
    xentt xe = make_xent(40, 1000, 1024);
    ck_assert_int_eq(vt->softmax_xent(ctx, &xe.d), 0);
    KEEP(xe.d.losses, 40);
    KEEP(xe.d.dlogits, xe.n);
    int32_t *ids = dbuf(256 * sizeof *ids);
    for (int i = 0; i < 256; i++) ids[i] = (int32_t)irand(50);
    float *tab = zbuf(50 * 384), *dy = rbuf(256 * 384, -1, 1), *db = zbuf(384);
    ck_assert_int_eq(vt->embedding_backward(ctx, tab, ids, dy, 256, 384, LLMRT_DTYPE_F32), 0);
    ck_assert_int_eq(vt->bias_grad(ctx, db, dy, 256, 384, LLMRT_DTYPE_F32), 0);
    KEEP(tab, 50 * 384);
    KEEP(db, 384);
    float *p = rbuf(40000, -1, 1), *m = zbuf(40000), *v = zbuf(40000);
    llmrt_adamw_desc ad = {.struct_size = sizeof ad, .n = 40000, .params = p, .grads = x,
                           .m = m, .v = v, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f,
                           .eps = 1e-8f, .weight_decay = 0.1f, .grad_scale = 1, .t = 1};
    ck_assert_int_eq(vt->adamw(ctx, &ad), 0);
    KEEP(p, 40000);
    double ss;
    ck_assert_int_eq(vt->sum_squares(ctx, dy, 256 * 384, LLMRT_DTYPE_F32, &ss), 0);
    KEEP((float *)&ss, 2);
#undef KEEP
    return n;
}

#define RUN_CAP 600000

START_TEST(test_determinism)
{
    float *r1 = malloc(RUN_CAP * sizeof *r1), *r2 = malloc(RUN_CAP * sizeof *r2);
    size_t n1 = run_all(r1, RUN_CAP);
    free_bufs();
    size_t n2 = run_all(r2, RUN_CAP);
    ck_assert_uint_eq(n1, n2);
    expect_same("two runs", r1, r2, n1 * sizeof *r1);
    free(r1);
    free(r2);
}
END_TEST

/* Kernels that give each output element to one thread (or reduce in an order
 * fixed by the sizes) give the same bits for any thread count. */
START_TEST(test_thread_count_invariance)
{
    void *c1 = create_with("1"), *c3 = create_with("3");
    void *saved = ctx;
    float *r1 = malloc(RUN_CAP * sizeof *r1), *r3 = malloc(RUN_CAP * sizeof *r3);
    ctx = c1;
    size_t n1 = run_all(r1, RUN_CAP);
    free_bufs();
    ctx = c3;
    size_t n3 = run_all(r3, RUN_CAP);
    free_bufs();
    ctx = saved;
    ck_assert_uint_eq(n1, n3);
    /* Layout of run_all: gemm, then norm (out, dinp, dweight, dbias), ... */
    size_t off = 67 * 45;
    for (size_t i = 0; i < off; i++)
        ck_assert_msg(fabsf(r1[i] - r3[i]) <= 1e-5f * (1 + fabsf(r1[i])), "gemm[%zu]", i);
    size_t norm_n = 64 * 300;
    expect_same("norm forward and dinp, 1 vs 3 threads", r1 + off, r3 + off, 2 * norm_n * 4);
    off += 2 * norm_n;
    /* dweight/dbias add per-thread partial sums: close, not equal. */
    for (size_t i = off; i < off + 600; i++)
        ck_assert_msg(fabsf(r1[i] - r3[i]) <= 1e-4f * (1 + fabsf(r1[i])), "norm dw/db[%zu]", i);
    off += 600;
    expect_same("attention, gelu, xent, embedding, bias_grad, adamw, sum_squares: 1 vs 3 "
                "threads",
                r1 + off, r3 + off, (n1 - off) * 4);
    free(r1);
    free(r3);
    vt->destroy(c1);
    vt->destroy(c3);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

START_TEST(test_unsupported_dtype)
{
    /* f16 and bf16 are supported since ABI 1.1 (test_cpu_formats.c). */
    const llmrt_dtype bf = LLMRT_DTYPE_U16;
    float *buf = zbuf(4096);
    int32_t ids[4] = {0, 1, 2, 3};
    int rc;

    llmrt_gemm_desc g = {.struct_size = sizeof g, .m = 2, .n = 2, .k = 2, .alpha = 1,
                         .a = buf, .lda = 2, .a_type = bf, .b = buf, .ldb = 2, .c = buf + 64,
                         .ldc = 2};
    rc = vt->gemm(ctx, &g);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "gemm", "u16", NULL);
    rc = vt->bias_grad(ctx, buf, buf + 64, 2, 2, bf);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "bias_grad", "u16", NULL);
    llmrt_norm_desc nd = {.struct_size = sizeof nd, .rows = 2, .cols = 4, .eps = 1e-5f,
                          .dtype = bf, .inp = buf, .weight = buf, .out = buf + 64,
                          .mean = buf + 128, .rstd = buf + 192, .dout = buf, .dinp = buf + 256};
    rc = vt->norm_forward(ctx, &nd);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "norm_forward", "u16", NULL);
    rc = vt->norm_backward(ctx, &nd);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "norm_backward", "u16", NULL);
    rc = vt->gelu_forward(ctx, buf, buf, 4, LLMRT_DTYPE_I32, LLMRT_GELU_TANH);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "gelu_forward", "i32", NULL);
    rc = vt->gelu_backward(ctx, buf, buf, buf, 4, bf, LLMRT_GELU_ERF);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "gelu_backward", "u16", NULL);
    llmrt_attention_desc ad = {.struct_size = sizeof ad, .batch = 1, .heads = 1, .q_len = 2,
                               .kv_len = 2, .head_dim = 2, .dtype = bf, .scale = 1, .q = buf,
                               .q_row_stride = 2, .k = buf, .k_row_stride = 2, .v = buf,
                               .v_row_stride = 2, .out = buf + 64, .out_row_stride = 2,
                               .lse = buf + 128, .dout = buf, .dq = buf + 256};
    rc = vt->attention_forward(ctx, &ad);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "attention_forward", "u16", NULL);
    rc = vt->attention_backward(ctx, &ad);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "attention_backward", "u16", NULL);
    llmrt_xent_desc xd = {.struct_size = sizeof xd, .rows = 4, .vocab = 8, .padded_vocab = 8,
                          .dtype = bf, .logits = buf, .targets = ids, .losses = buf + 64};
    rc = vt->softmax_xent(ctx, &xd);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "softmax_xent", "u16", NULL);
    rc = vt->embedding_forward(ctx, buf + 64, ids, buf, 4, 4, bf, 0);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "embedding_forward", "u16", NULL);
    rc = vt->embedding_backward(ctx, buf + 64, ids, buf, 4, 4, bf);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "embedding_backward", "u16", NULL);
    rc = vt->add(ctx, buf, buf, buf, 4, bf);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "add", "u16", NULL);
    rc = vt->scale(ctx, buf, 4, LLMRT_DTYPE_I8, 2.0f);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "scale", "i8", NULL);
    double ss;
    rc = vt->sum_squares(ctx, buf, 4, LLMRT_DTYPE_F64, &ss);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "sum_squares", "f64", NULL);
    llmrt_adamw_desc ow = {.struct_size = sizeof ow, .n = 4, .params = buf, .grads = buf,
                           .grad_type = bf, .m = buf + 64, .v = buf + 128, .t = 1};
    rc = vt->adamw(ctx, &ow);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "adamw", "u16", NULL);
    rc = vt->convert(ctx, buf, LLMRT_DTYPE_F32, buf + 64, LLMRT_DTYPE_U16, 4);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "convert", "u16", NULL);
    rc = vt->convert(ctx, buf, LLMRT_DTYPE_I8, buf + 64, LLMRT_DTYPE_F32, 4);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "convert", "i8", NULL);
}
END_TEST

START_TEST(test_invalid_arguments)
{
    float *buf = zbuf(4096);
    int rc;
    llmrt_gemm_desc g = {.struct_size = sizeof g, .m = 4, .n = 4, .k = 8, .alpha = 1,
                         .a = buf, .lda = 4, .b = buf, .ldb = 4, .c = buf + 64, .ldc = 4};
    rc = vt->gemm(ctx, &g);
    expect_error(rc, LLMRT_ERR_INVALID, "lda", NULL, NULL);
    g.lda = 8;
    g.struct_size = sizeof g - 8;
    rc = vt->gemm(ctx, &g);
    expect_error(rc, LLMRT_ERR_INVALID, "struct_size", NULL, NULL);
    int32_t bad_t[2] = {0, 9};
    llmrt_xent_desc xd = {.struct_size = sizeof xd, .rows = 2, .vocab = 8, .padded_vocab = 8,
                          .logits = buf, .targets = bad_t, .losses = buf + 64};
    rc = vt->softmax_xent(ctx, &xd);
    expect_error(rc, LLMRT_ERR_INVALID, "targets[1]", NULL, NULL);
    int32_t neg[2] = {0, -1};
    rc = vt->embedding_forward(ctx, buf + 64, neg, buf, 2, 4, LLMRT_DTYPE_F32, 0);
    expect_error(rc, LLMRT_ERR_INVALID, "ids[1]", NULL, NULL);
    llmrt_adamw_desc ow = {.struct_size = sizeof ow, .n = 4, .params = buf, .grads = buf,
                           .m = buf + 64, .v = buf + 128, .t = 0};
    rc = vt->adamw(ctx, &ow);
    expect_error(rc, LLMRT_ERR_INVALID, "adamw", NULL, NULL);
    llmrt_attention_desc ad = {.struct_size = sizeof ad, .batch = 1, .heads = 2, .q_len = 2,
                               .kv_len = 2, .head_dim = 4, .scale = 1, .q = buf,
                               .q_row_stride = 4, .k = buf, .k_row_stride = 8, .v = buf,
                               .v_row_stride = 8, .out = buf + 64, .out_row_stride = 8,
                               .lse = buf + 128};
    rc = vt->attention_forward(ctx, &ad);
    expect_error(rc, LLMRT_ERR_INVALID, "q_row_stride", NULL, NULL);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *cpu_suite(void)
{
    Suite *s = suite_create("cpu");
    const cpu_test tests[] = {
        {"descriptor", test_descriptor},
        {"memory", test_memory},
        {"streams_events", test_streams_events},
        {"caps_given_peak", test_caps_given_peak},
        {"threads_param", test_threads_param},
        {"caps_measured_peak", test_caps_measured_peak},
        {"gemm_forward", test_gemm_forward},
        {"gemm_linear_grad", test_gemm_linear_grad},
        {"bias_grad", test_bias_grad},
        {"norm_forward", test_norm_forward},
        {"norm_grad", test_norm_grad},
        {"gelu", test_gelu},
        {"attention_forward", test_attention_forward},
        {"attention_grad", test_attention_grad},
        {"xent", test_xent},
        {"embedding", test_embedding},
        {"adamw", test_adamw},
        {"sum_squares", test_sum_squares},
        {"scale_add", test_scale_add},
        {"convert", test_convert},
        {"backward_accumulates", test_backward_accumulates},
        {"determinism", test_determinism},
        {"thread_count_invariance", test_thread_count_invariance},
        {"unsupported_dtype", test_unsupported_dtype},
        {"invalid_arguments", test_invalid_arguments},
    };
    /* generous: valgrind runs the same suite */
    cpu_add_tests(s, tests, sizeof tests / sizeof tests[0], setup, 600);
    return s;
}

int main(void)
{
    if (cpu_load_plugin("test_cpu_ops")) return 1;
    return cpu_run_suite(cpu_suite());
}
