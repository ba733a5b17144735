/* test_cpu_formats.c — the cpu backend's number formats (ABI 1.1): convert_ex
 * and convert against the scalar specification in llmrt/convert.h, every
 * kernel in f16 and bf16, and the LSQ fake-quantization kernels.
 *
 * What is checked, and why:
 *  - f32 -> bf16 and f32 -> f16 over all 2^32 fp32 bit patterns, bit for bit
 *    against llmrt_f32_to_bf16 / llmrt_f32_to_f16 (LLMRT_TEST_QUICK or
 *    valgrind: a strided sample of 2^22 patterns plus the boundary values);
 *    all 65536 f16 and bf16 patterns to f32 and to each other; int8 for each
 *    axis against llmrt_f32_to_i8 / llmrt_i8_to_f32; stochastic rounding
 *    against llmrt_f32_to_bf16_sr with llmrt_sr_bits(seed, offset + i), the
 *    same bits when a tensor is converted in two calls with offsets, and
 *    unbiased in the mean. Every pair gives the same bits with 1 and 2
 *    threads.
 *  - every kernel in f16 and bf16, two ways. (1) Bit-exact against the fp32
 *    kernel run on the same inputs widened to fp32, its outputs rounded with
 *    convert.h: that is how the backend computes 16-bit results (widen, fp32
 *    kernel, round; compute.h rule 7). (2) Against the fp32 kernel on the
 *    unrounded inputs, within a bound built from the unit roundoff u of the
 *    format (bf16 2^-8, f16 2^-11: the relative error of one rounding) times
 *    the roundings on the path, written beside each check. (3) The same
 *    bits with 1 and 2 threads.
 *  - fake quantization: forward bit for bit against the scalar formula
 *    (in place too); backward dx and dscale against the formulas; dscale
 *    against central finite differences of the kernel's own forward in s
 *    (plus the straight-through term, see test_fake_quant_fd); dx against
 *    finite differences of the surrogate in which round() is the identity.
 *    Axis 0, 1 and -1; dscale gives the same bits with 1 and 3 threads.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/valgrind.h>

#include <llmrt/convert.h>

#include "cpu_test_util.h"

/* ------------------------------------------------------------------------ */
/* 16-bit buffers, timing (the rest in cpu_test_util.h)                     */

static uint16_t *hbuf(size_t n) { return dbuf(n * sizeof(uint16_t)); }

static int quick(void)
{
    const char *q = getenv("LLMRT_TEST_QUICK");
    return (q && *q && strcmp(q, "0") != 0) || RUNNING_ON_VALGRIND;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* 16-bit helpers (the scalar spec, on the test's side)                      */

static const char *tname(llmrt_dtype t) { return t == LLMRT_DTYPE_F16 ? "f16" : "bf16"; }
/* Unit roundoff: the largest relative error of one rounding to nearest. */
static double unit_roundoff(llmrt_dtype t) { return t == LLMRT_DTYPE_F16 ? 0x1p-11 : 0x1p-8; }

static uint16_t round16(llmrt_dtype t, float x)
{
    return t == LLMRT_DTYPE_F16 ? llmrt_f32_to_f16(x) : llmrt_f32_to_bf16(x);
}

static float widen16(llmrt_dtype t, uint16_t h)
{
    return t == LLMRT_DTYPE_F16 ? llmrt_f16_to_f32(h) : llmrt_bf16_to_f32(h);
}

/* A 16-bit copy of x (rounded). */
static uint16_t *to16(llmrt_dtype t, const float *x, size_t n)
{
    uint16_t *h = hbuf(n);
    for (size_t i = 0; i < n; i++) h[i] = round16(t, x[i]);
    return h;
}

/* The fp32 values a 16-bit buffer holds. */
static float *from16(llmrt_dtype t, const uint16_t *h, size_t n)
{
    float *x = fbuf(n);
    for (size_t i = 0; i < n; i++) x[i] = widen16(t, h[i]);
    return x;
}

/* got (16-bit) == round(ref) bit for bit: the 16-bit kernel is the fp32
 * kernel on widened inputs, rounded. */
static void expect_rounded(const char *what, llmrt_dtype t, const uint16_t *got,
                           const float *ref, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == round16(t, ref[i]),
                      "%s %s[%zu]: got 0x%04x, fp32 kernel on widened inputs gives %.9g -> "
                      "0x%04x",
                      what, tname(t), i, got[i], (double)ref[i], round16(t, ref[i]));
}

/* |widen(got) - ref| <= bound[i] (bound NULL: the scalar b). */
static void expect_within(const char *what, llmrt_dtype t, const uint16_t *got, const float *ref,
                          size_t n, const double *bound, double b)
{
    for (size_t i = 0; i < n; i++) {
        double g = widen16(t, got[i]), r = ref[i], tol = bound ? bound[i] : b;
        ck_assert_msg(fabs(g - r) <= tol,
                      "%s %s[%zu]: got %.9g, fp32 on unrounded inputs %.9g (diff %.3g > %.3g)",
                      what, tname(t), i, g, r, fabs(g - r), tol);
    }
}

static double mean_abs(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs(x[i]);
    return n ? s / (double)n : 0;
}

/* ------------------------------------------------------------------------ */
/* Fixture                                                                   */

static void setup(void) { cpu_setup(20251126, "2"); }

static int convert_ex(void *c, void *dst, llmrt_dtype dt, const void *src, llmrt_dtype st,
                      int64_t rows, int64_t cols, llmrt_rounding r, uint64_t seed_,
                      uint64_t offset, const float *scales, int axis)
{
    llmrt_convert_desc d = {.struct_size = sizeof d, .rows = rows, .cols = cols, .dst = dst,
                            .dst_type = dt, .src = src, .src_type = st, .rounding = r,
                            .seed = seed_, .offset = offset, .scales = scales, .axis = axis};
    return vt->convert_ex(c, &d);
}

/* ------------------------------------------------------------------------ */
/* convert_ex: exhaustive and special                                        */

/* Every fp32 pattern (quick: every 1021st, plus the first and last 2^16 of
 * each exponent boundary below), through both kernels, against the spec. */
START_TEST(test_f32_to_16_exhaustive)
{
    const size_t chunk = (size_t)1 << 24;
    const int q = quick();
    const uint64_t stride = q ? 1021 : 1, total = q ? ((uint64_t)1 << 22) : ((uint64_t)1 << 32);
    float *src = fbuf(chunk);
    uint16_t *bf = hbuf(chunk), *hf = hbuf(chunk);
    double t_kernel = 0, t0 = now();
    uint64_t done = 0, bad_bf = 0, bad_hf = 0;
    for (uint64_t base = 0; base < total; base += chunk) {
        size_t n = total - base < chunk ? (size_t)(total - base) : chunk;
        for (size_t i = 0; i < n; i++)
            src[i] = llmrt_f32_from_bits((uint32_t)((base + i) * stride));
        double k0 = now();
        ck_assert_int_eq(convert_ex(ctx, bf, LLMRT_DTYPE_BF16, src, LLMRT_DTYPE_F32, 1,
                                    (int64_t)n, LLMRT_ROUND_NEAREST_EVEN, 0, 0, NULL, -1),
                         0);
        ck_assert_int_eq(convert_ex(ctx, hf, LLMRT_DTYPE_F16, src, LLMRT_DTYPE_F32, 1,
                                    (int64_t)n, LLMRT_ROUND_NEAREST_EVEN, 0, 0, NULL, -1),
                         0);
        t_kernel += now() - k0;
        for (size_t i = 0; i < n; i++) {
            bad_bf += bf[i] != llmrt_f32_to_bf16(src[i]);
            bad_hf += hf[i] != llmrt_f32_to_f16(src[i]);
        }
        if (bad_bf || bad_hf) {
            for (size_t i = 0; i < n; i++) {
                ck_assert_msg(bf[i] == llmrt_f32_to_bf16(src[i]),
                              "bf16(0x%08x): 0x%04x, want 0x%04x", llmrt_f32_bits(src[i]), bf[i],
                              llmrt_f32_to_bf16(src[i]));
                ck_assert_msg(hf[i] == llmrt_f32_to_f16(src[i]),
                              "f16(0x%08x): 0x%04x, want 0x%04x", llmrt_f32_bits(src[i]), hf[i],
                              llmrt_f32_to_f16(src[i]));
            }
        }
        done += n;
    }
    ck_assert_uint_eq(done, total);
    fprintf(stderr,
            "test_cpu_formats: f32 -> bf16, f16 over %llu patterns%s: %.1f s (kernels %.2f s)\n",
            (unsigned long long)total, q ? " (quick: strided sample)" : " (all 2^32)",
            now() - t0, t_kernel);
    if (q) { /* boundaries the sample may miss: around the f16 subnormal, overflow and 0 */
        const uint32_t edges[] = {0x33000000u, 0x33000001u, 0x387FE000u, 0x387FF000u,
                                  0x38800000u, 0x477FEFFFu, 0x477FF000u, 0x7F7FFFFFu,
                                  0x7F800000u, 0x7F800001u, 0x7FC00000u, 0xFFFFFFFFu,
                                  0x80000000u, 0x00000001u, 0x3F808000u, 0x3F818000u};
        size_t ne = sizeof edges / sizeof edges[0];
        for (size_t e = 0; e < ne; e++) {
            src[2 * e] = llmrt_f32_from_bits(edges[e]);
            src[2 * e + 1] = llmrt_f32_from_bits(edges[e] ^ 0x80000000u); /* negated */
        }
        ck_assert_int_eq(convert_ex(ctx, bf, LLMRT_DTYPE_BF16, src, LLMRT_DTYPE_F32, 1,
                                    (int64_t)(2 * ne), LLMRT_ROUND_NEAREST_EVEN, 0, 0, NULL, -1),
                         0);
        ck_assert_int_eq(convert_ex(ctx, hf, LLMRT_DTYPE_F16, src, LLMRT_DTYPE_F32, 1,
                                    (int64_t)(2 * ne), LLMRT_ROUND_NEAREST_EVEN, 0, 0, NULL, -1),
                         0);
        for (size_t i = 0; i < 2 * ne; i++) {
            ck_assert_uint_eq(bf[i], llmrt_f32_to_bf16(src[i]));
            ck_assert_uint_eq(hf[i], llmrt_f32_to_f16(src[i]));
        }
    }
}
END_TEST

/* All 65536 patterns of each 16-bit type: to f32 (bits, NaN payloads kept)
 * and to the other 16-bit type (through f32), with convert_ex and convert. */
START_TEST(test_16_exhaustive)
{
    const size_t n = 65536;
    uint16_t *h = hbuf(n), *o = hbuf(n);
    float *f = fbuf(n);
    for (size_t i = 0; i < n; i++) h[i] = (uint16_t)i;
    const llmrt_dtype ts[2] = {LLMRT_DTYPE_F16, LLMRT_DTYPE_BF16};
    for (int k = 0; k < 2; k++) {
        llmrt_dtype t = ts[k], other = ts[1 - k];
        ck_assert_int_eq(convert_ex(ctx, f, LLMRT_DTYPE_F32, h, t, 256, 256,
                                    LLMRT_ROUND_NEAREST_EVEN, 0, 0, NULL, 0),
                         0);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(llmrt_f32_bits(f[i]) == llmrt_f32_bits(widen16(t, h[i])),
                          "%s 0x%04zx -> f32 0x%08x, want 0x%08x", tname(t), i,
                          llmrt_f32_bits(f[i]), llmrt_f32_bits(widen16(t, h[i])));
        memset(f, 0, n * sizeof *f);
        ck_assert_int_eq(vt->convert(ctx, f, LLMRT_DTYPE_F32, h, t, n), 0);
        for (size_t i = 0; i < n; i++)
            ck_assert_uint_eq(llmrt_f32_bits(f[i]), llmrt_f32_bits(widen16(t, h[i])));
        ck_assert_int_eq(convert_ex(ctx, o, other, h, t, 1, (int64_t)n,
                                    LLMRT_ROUND_NEAREST_EVEN, 0, 0, NULL, 0),
                         0);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(o[i] == round16(other, widen16(t, h[i])), "%s 0x%04zx -> %s 0x%04x",
                          tname(t), i, tname(other), o[i]);
        memset(o, 0, n * sizeof *o);
        ck_assert_int_eq(vt->convert(ctx, o, other, h, t, n), 0);
        for (size_t i = 0; i < n; i++) ck_assert_uint_eq(o[i], round16(other, widen16(t, h[i])));
        /* Same type: a copy. */
        ck_assert_int_eq(convert_ex(ctx, o, t, h, t, 1, (int64_t)n, LLMRT_ROUND_NEAREST_EVEN, 0,
                                    0, NULL, 0),
                         0);
        expect_same("16-bit copy", o, h, n * 2);
        /* And back from f32 with the old convert(): the round trip is exact
         * except NaN, which becomes the canonical NaN of rule 2. */
        for (size_t i = 0; i < n; i++) f[i] = widen16(t, h[i]);
        ck_assert_int_eq(vt->convert(ctx, o, t, f, LLMRT_DTYPE_F32, n), 0);
        for (size_t i = 0; i < n; i++) ck_assert_uint_eq(o[i], round16(t, f[i]));
    }
}
END_TEST

/* int8 with scales per row, per column and one; scales include 0, negative
 * and tiny values (the effective scale clamps to eps) and x includes NaN,
 * infinities and ties. */
START_TEST(test_int8)
{
    const int64_t rows = 37, cols = 131;
    const size_t n = (size_t)(rows * cols);
    float *x = rbuf(n, -3, 3);
    x[0] = NAN;
    x[1] = INFINITY;
    x[2] = -INFINITY;
    x[3] = 1e30f;
    x[4] = -0.0f;
    float *sr = rbuf((size_t)rows, 0.005f, 0.05f), *sc = rbuf((size_t)cols, 0.005f, 0.05f);
    float one[1] = {-0.02f};
    sr[1] = -0.01f;
    sr[2] = 0.0f;
    sc[3] = 1e-30f;
    sc[5] = -0.03f;
    /* exact ties: 2.5 and -3.5 steps of row 3's scale, 0.5 step of column 0's */
    x[3 * cols + 7] = 2.5f * sr[3];
    x[3 * cols + 8] = -3.5f * sr[3];
    x[5 * cols] = 0.5f * sc[0];
    int8_t *q = dbuf(n), *q1 = dbuf(n);
    float *y = fbuf(n), *y1 = fbuf(n);
    void *c1 = create_with("1");
    for (int axis = -1; axis <= 1; axis++) {
        const float *s = axis == 0 ? sr : axis == 1 ? sc : one;
        ck_assert_int_eq(convert_ex(ctx, q, LLMRT_DTYPE_I8, x, LLMRT_DTYPE_F32, rows, cols,
                                    LLMRT_ROUND_NEAREST_EVEN, 0, 0, s, axis),
                         0);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                float sj = axis == 0 ? s[i] : axis == 1 ? s[j] : s[0];
                int8_t want = llmrt_f32_to_i8(x[i * cols + j], sj);
                ck_assert_msg(q[i * cols + j] == want,
                              "axis %d [%lld, %lld]: x %.9g s %.9g: %d, want %d", axis,
                              (long long)i, (long long)j, (double)x[i * cols + j], (double)sj,
                              q[i * cols + j], want);
            }
        /* every int8 value decodes */
        for (size_t i = 0; i < n; i++) q[i] = (int8_t)(i % 256 - 128);
        ck_assert_int_eq(convert_ex(ctx, y, LLMRT_DTYPE_F32, q, LLMRT_DTYPE_I8, rows, cols,
                                    LLMRT_ROUND_NEAREST_EVEN, 0, 0, s, axis),
                         0);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                float sj = axis == 0 ? s[i] : axis == 1 ? s[j] : s[0];
                ck_assert_uint_eq(llmrt_f32_bits(y[i * cols + j]),
                                  llmrt_f32_bits(llmrt_i8_to_f32(q[i * cols + j], sj)));
            }
        /* one thread gives the same bits */
        ck_assert_int_eq(convert_ex(c1, y1, LLMRT_DTYPE_F32, q, LLMRT_DTYPE_I8, rows, cols,
                                    LLMRT_ROUND_NEAREST_EVEN, 0, 0, s, axis),
                         0);
        expect_same("i8 -> f32, 1 vs 2 threads", y, y1, n * 4);
        ck_assert_int_eq(convert_ex(ctx, q, LLMRT_DTYPE_I8, x, LLMRT_DTYPE_F32, rows, cols,
                                    LLMRT_ROUND_NEAREST_EVEN, 0, 0, s, axis),
                         0);
        ck_assert_int_eq(convert_ex(c1, q1, LLMRT_DTYPE_I8, x, LLMRT_DTYPE_F32, rows, cols,
                                    LLMRT_ROUND_NEAREST_EVEN, 0, 0, s, axis),
                         0);
        expect_same("f32 -> i8, 1 vs 2 threads", q, q1, n);
    }
    vt->destroy(c1);
    int rc = convert_ex(ctx, q, LLMRT_DTYPE_I8, x, LLMRT_DTYPE_F32, rows, cols,
                        LLMRT_ROUND_NEAREST_EVEN, 0, 0, sr, 2);
    expect_error(rc, LLMRT_ERR_INVALID, "axis", NULL, NULL);
    rc = convert_ex(ctx, q, LLMRT_DTYPE_I8, x, LLMRT_DTYPE_F32, rows, cols,
                    LLMRT_ROUND_NEAREST_EVEN, 0, 0, NULL, 0);
    expect_error(rc, LLMRT_ERR_INVALID, "scales", NULL, NULL);
    rc = convert_ex(ctx, q, LLMRT_DTYPE_I8, x, LLMRT_DTYPE_BF16, rows, cols,
                    LLMRT_ROUND_NEAREST_EVEN, 0, 0, sr, 0);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "bf16", "i8", NULL);
}
END_TEST

/* Stochastic rounding: the spec's bits for index offset + i, the same when
 * the tensor is split into two calls, any thread count, and unbiased. */
START_TEST(test_stochastic)
{
    const int64_t rows = 300, cols = 1001;
    const size_t n = (size_t)(rows * cols);
    const uint64_t sd = 0x1234567890ABCDEFull, off = 77;
    float *x = rbuf(n, -100, 100);
    x[0] = NAN;
    x[1] = INFINITY;
    x[2] = 1.0f; /* exact: never rounds up */
    uint16_t *a = hbuf(n), *b = hbuf(n), *c = hbuf(n);
    ck_assert_int_eq(convert_ex(ctx, a, LLMRT_DTYPE_BF16, x, LLMRT_DTYPE_F32, rows, cols,
                                LLMRT_ROUND_STOCHASTIC, sd, off, NULL, 0),
                     0);
    size_t ups = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t want = llmrt_f32_to_bf16_sr(x[i], llmrt_sr_bits(sd, off + i));
        ck_assert_msg(a[i] == want, "sr[%zu]: 0x%04x, want 0x%04x", i, a[i], want);
        ups += a[i] != (uint16_t)(llmrt_f32_bits(x[i]) >> 16);
    }
    ck_assert_uint_eq(a[2], 0x3F80);
    /* Not nearest-even: a good share of the values round the other way. */
    ck_assert_msg(ups > n / 4 && ups < 3 * n / 4, "%zu of %zu rounded up", ups, n);
    /* Two calls: rows [0, 123) at offset off, the rest at off + 123 * cols. */
    ck_assert_int_eq(convert_ex(ctx, b, LLMRT_DTYPE_BF16, x, LLMRT_DTYPE_F32, 123, cols,
                                LLMRT_ROUND_STOCHASTIC, sd, off, NULL, 0),
                     0);
    ck_assert_int_eq(convert_ex(ctx, b + 123 * cols, LLMRT_DTYPE_BF16, x + 123 * cols,
                                LLMRT_DTYPE_F32,
                                rows - 123, cols, LLMRT_ROUND_STOCHASTIC, sd,
                                off + 123 * (uint64_t)cols, NULL, 0),
                     0);
    expect_same("stochastic rounding in two calls", a, b, n * 2);
    void *c1 = create_with("1");
    ck_assert_int_eq(convert_ex(c1, c, LLMRT_DTYPE_BF16, x, LLMRT_DTYPE_F32, rows, cols,
                                LLMRT_ROUND_STOCHASTIC, sd, off, NULL, 0),
                     0);
    vt->destroy(c1);
    expect_same("stochastic rounding, 1 vs 2 threads", a, c, n * 2);
    /* Another seed gives other bits. */
    ck_assert_int_eq(convert_ex(ctx, c, LLMRT_DTYPE_BF16, x, LLMRT_DTYPE_F32, rows, cols,
                                LLMRT_ROUND_STOCHASTIC, sd + 1, off, NULL, 0),
                     0);
    ck_assert(memcmp(a, c, n * 2) != 0);
    /* Unbiased: v = 1 + 0.3 ulp(bf16) rounds up with p = 0.3 (dropped bits
     * 0x4CCD / 65536); n draws of a Bernoulli(p): mean within 5 sigma. */
    float v = llmrt_f32_from_bits(0x3F800000u + 0x4CCDu);
    for (size_t i = 0; i < n; i++) x[i] = v;
    ck_assert_int_eq(convert_ex(ctx, a, LLMRT_DTYPE_BF16, x, LLMRT_DTYPE_F32, 1, (int64_t)n,
                                LLMRT_ROUND_STOCHASTIC, 99, 0, NULL, 0),
                     0);
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += llmrt_bf16_to_f32(a[i]);
    mean /= (double)n;
    double p = 0x4CCD / 65536.0, ulp = 0x1p-7, sigma = ulp * sqrt(p * (1 - p) / (double)n);
    ck_assert_msg(fabs(mean - (double)v) < 5 * sigma, "mean %.9g, value %.9g, sigma %.3g", mean,
                  (double)v, sigma);
    /* Stochastic rounding exists for f32 -> bf16 only. */
    int rc = convert_ex(ctx, a, LLMRT_DTYPE_F16, x, LLMRT_DTYPE_F32, 1, 4,
                        LLMRT_ROUND_STOCHASTIC, 1, 0, NULL, 0);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "f16", "stochastic", NULL);
}
END_TEST

/* Every nearest-even pair: 1 and 2 threads give the same bits, over sizes
 * that leave remainders in the split. */
START_TEST(test_convert_threads)
{
    const size_t n = 1000003;
    float *x = rbuf(n, -70000, 70000);
    for (size_t i = 0; i < n; i += 7) x[i] *= 1e-6f; /* some f16 subnormals */
    uint16_t *h16 = to16(LLMRT_DTYPE_F16, x, n), *hb = to16(LLMRT_DTYPE_BF16, x, n);
    void *c1 = create_with("1");
    const struct {
        llmrt_dtype dst, src;
        const void *in;
    } pairs[] = {
        {LLMRT_DTYPE_BF16, LLMRT_DTYPE_F32, x}, {LLMRT_DTYPE_F16, LLMRT_DTYPE_F32, x},
        {LLMRT_DTYPE_F32, LLMRT_DTYPE_F16, h16}, {LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16, hb},
        {LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16, h16}, {LLMRT_DTYPE_F16, LLMRT_DTYPE_BF16, hb},
    };
    void *o1 = dbuf(n * 4), *o2 = dbuf(n * 4);
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        size_t bytes = n * llmrt_dtype_size(pairs[p].dst);
        ck_assert_int_eq(convert_ex(ctx, o2, pairs[p].dst, pairs[p].in, pairs[p].src, 1,
                                    (int64_t)n, LLMRT_ROUND_NEAREST_EVEN, 0, 0, NULL, 0),
                         0);
        ck_assert_int_eq(convert_ex(c1, o1, pairs[p].dst, pairs[p].in, pairs[p].src, 1,
                                    (int64_t)n, LLMRT_ROUND_NEAREST_EVEN, 0, 0, NULL, 0),
                         0);
        expect_same("convert_ex, 1 vs 2 threads", o1, o2, bytes);
    }
    vt->destroy(c1);
    /* i32 <-> f32 as convert() does */
    int32_t iv[4] = {1, -7, 16777217, INT32_MIN};
    float *f = fbuf(4);
    ck_assert_int_eq(convert_ex(ctx, f, LLMRT_DTYPE_F32, iv, LLMRT_DTYPE_I32, 2, 2,
                                LLMRT_ROUND_NEAREST_EVEN, 0, 0, NULL, 0),
                     0);
    for (int i = 0; i < 4; i++) ck_assert(f[i] == (float)iv[i]);
    f[0] = 2.5f;
    f[1] = NAN;
    f[2] = 3e9f;
    f[3] = -3.5f;
    int32_t *io = dbuf(16);
    ck_assert_int_eq(convert_ex(ctx, io, LLMRT_DTYPE_I32, f, LLMRT_DTYPE_F32, 1, 4,
                                LLMRT_ROUND_NEAREST_EVEN, 0, 0, NULL, 0),
                     0);
    ck_assert_int_eq(io[0], 2);
    ck_assert_int_eq(io[1], 0);
    ck_assert_int_eq(io[2], INT32_MAX);
    ck_assert_int_eq(io[3], -4);
    int rc = convert_ex(ctx, io, LLMRT_DTYPE_U8, f, LLMRT_DTYPE_F32, 1, 4,
                        LLMRT_ROUND_NEAREST_EVEN, 0, 0, NULL, 0);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "convert_ex", "u8", NULL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Kernels in f16 and bf16                                                   */

static const llmrt_dtype formats16[2] = {LLMRT_DTYPE_F16, LLMRT_DTYPE_BF16};

/* A float result within bound[i] of ref. */
static void expect_within_f(const char *what, const float *got, const float *ref, size_t n,
                            const double *bound)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs((double)got[i] - (double)ref[i]) <= bound[i],
                      "%s[%zu]: got %.9g, fp32 on unrounded inputs %.9g (diff %.3g > %.3g)",
                      what, i, (double)got[i], (double)ref[i],
                      fabs((double)got[i] - (double)ref[i]), bound[i]);
}

/* C u (|ref_i| + mean |ref|) + 1e-6: for kernels whose first-order error is
 * hard to bound elementwise. C counts the roundings on the path (inputs,
 * output) with some room for their amplification; the mean term stands for
 * cancellation (an element near 0 made of terms of the tensor's size). */
static double *bound_rel(const float *ref, size_t n, double C, double u)
{
    double *b = (double *)dbuf(n * sizeof(double)), m = mean_abs(ref, n);
    for (size_t i = 0; i < n; i++) b[i] = C * u * (fabs(ref[i]) + m) + 1e-6;
    return b;
}

/* One gemm case: each operand of its own type (t or f32). */
typedef struct gemm_case {
    int ta, tb;
    int64_t m, n, k, lda, ldb, ldc, batch;
    float alpha, beta;
    int a16, b16, c16, bias;
    int passes; /* C is staged in passes over its rows (see below) */
} gemm_case;

static void gemm_case_run(llmrt_dtype t, const gemm_case *g)
{
    const int64_t m = g->m, n = g->n, k = g->k, B = g->batch > 1 ? g->batch : 1;
    const int64_t ar = g->ta ? k : m, br = g->tb ? n : k;
    const int64_t sa = ar * g->lda + 3, sb = br * g->ldb + 5, sc = m * g->ldc + 7;
    const size_t na = (size_t)(B * sa), nb = (size_t)(B * sb), nc = (size_t)(B * sc);
    const double u = unit_roundoff(t);
    float *a = rbuf(na, -1, 1), *b = rbuf(nb, -1, 1), *c0 = rbuf(nc, -1, 1),
          *bias = rbuf((size_t)n, -1, 1);
    uint16_t *a16 = to16(t, a, na), *b16 = to16(t, b, nb), *c16 = to16(t, c0, nc),
             *bias16 = to16(t, bias, (size_t)n);
    float *aw = g->a16 ? from16(t, a16, na) : a, *bw = g->b16 ? from16(t, b16, nb) : b;
    float *cw = g->c16 ? from16(t, c16, nc) : copyf(c0, nc);
    float *biasw = g->c16 ? from16(t, bias16, (size_t)n) : bias;
    float *cf = copyf(c0, nc), *ce = copyf(c0, nc);
    llmrt_gemm_desc d = {.struct_size = sizeof d, .trans_a = g->ta, .trans_b = g->tb, .m = m,
                         .n = n, .k = k, .alpha = g->alpha, .beta = g->beta, .lda = g->lda,
                         .ldb = g->ldb, .ldc = g->ldc, .batch = g->batch, .stride_a = sa,
                         .stride_b = sb, .stride_c = sc};
    /* the mixed call */
    llmrt_gemm_desc d16 = d;
    d16.a = g->a16 ? (const void *)a16 : a;
    d16.a_type = g->a16 ? t : LLMRT_DTYPE_F32;
    d16.b = g->b16 ? (const void *)b16 : b;
    d16.b_type = g->b16 ? t : LLMRT_DTYPE_F32;
    d16.c = g->c16 ? (void *)c16 : cf;
    d16.c_type = g->c16 ? t : LLMRT_DTYPE_F32;
    d16.bias = g->bias ? (g->c16 ? (const void *)bias16 : bias) : NULL;
    ck_assert_msg(vt->gemm(ctx, &d16) == 0, "%s", test_host_error());
    /* fp32 on the widened operands */
    llmrt_gemm_desc dw = d;
    dw.a = aw;
    dw.b = bw;
    dw.c = cw;
    dw.bias = g->bias ? biasw : NULL;
    ck_assert_int_eq(vt->gemm(ctx, &dw), 0);
    /* A C too large to stage whole is computed in passes over blocks of its
     * rows: each pass is the fp32 kernel on a block, whose per-element sum
     * order OpenBLAS may choose by block shape (natively the bits matched
     * here; under valgrind, which hides AVX-512, they did not). So such a
     * product is held to the fp32 kernel within fp32 summation error plus
     * one rounding, not bit for bit. */
    if (g->c16 && g->passes) {
        double *bp = (double *)dbuf(nc * sizeof(double));
        for (size_t i = 0; i < nc; i++) bp[i] = u * fabs(cw[i]);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double sab = 0;
                for (int64_t p = 0; p < k; p++)
                    sab += fabs((double)(g->ta ? aw[p * g->lda + i] : aw[i * g->lda + p]) *
                                (g->tb ? bw[j * g->ldb + p] : bw[p * g->ldb + j]));
                size_t ci = (size_t)(i * g->ldc + j);
                double pre = fabs((double)g->beta * c0[ci]) + (g->bias ? fabs(bias[j]) : 0);
                bp[ci] = 1.01 * (u * fabs(cw[ci]) + 2.0 * (double)(k + 2) * 0x1p-24 * (sab + pre)) +
                         1e-7;
            }
        expect_within("gemm in passes", t, c16, cw, nc, bp, 0);
    } else if (g->c16) {
        expect_rounded("gemm", t, c16, cw, nc);
    } else {
        expect_same("gemm (f32 c)", cf, cw, nc * 4);
    }
    /* fp32 on the unrounded operands, and the bound: rounding a and b
     * perturbs each product by (u_a + u_b)|a||b|, beta C and the bias by u
     * when they are 16-bit, the result by u|c| when it is; sgemm's own fp32
     * error (k 2^-24 sum |a||b| per run) is allowed twice. */
    llmrt_gemm_desc de = d;
    de.a = a;
    de.b = b;
    de.c = ce;
    de.bias = g->bias ? bias : NULL;
    ck_assert_int_eq(vt->gemm(ctx, &de), 0);
    double *bound = (double *)dbuf(nc * sizeof(double));
    const double uab = (g->a16 ? u : 0) + (g->b16 ? u : 0), uc = g->c16 ? u : 0;
    /* elements between rows and entries: untouched, so only their rounding */
    for (size_t i = 0; i < nc; i++) bound[i] = uc * fabs(c0[i]);
    for (int64_t e = 0; e < B; e++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double sab = 0;
                for (int64_t p = 0; p < k; p++) {
                    double av = g->ta ? a[e * sa + p * g->lda + i] : a[e * sa + i * g->lda + p];
                    double bv = g->tb ? b[e * sb + j * g->ldb + p] : b[e * sb + p * g->ldb + j];
                    sab += fabs(av * bv);
                }
                size_t ci = (size_t)(e * sc + i * g->ldc + j);
                double rest = fabs((double)g->beta * c0[ci]) + (g->bias ? fabs(bias[j]) : 0);
                bound[ci] = 1.01 * (fabs(g->alpha) * sab * (uab + 2.0 * (double)k * 0x1p-24) +
                                    uc * rest + uc * fabs(ce[ci])) +
                            1e-7;
            }
    if (g->c16) {
        expect_within("gemm", t, c16, ce, nc, bound, 0);
    } else {
        expect_within_f("gemm (f32 c)", cf, ce, nc, bound);
    }
}

START_TEST(test_gemm16)
{
    for (int f = 0; f < 2; f++) {
        llmrt_dtype t = formats16[f];
        const gemm_case cases[] = {
            /* all 16-bit, C = A B^T */
            {0, 1, 37, 29, 53, 53, 53, 29, 1, 1.0f, 0.0f, 1, 1, 1, 0, 0},
            /* a 16-bit, b and c fp32 with beta and bias, A^T B */
            {1, 0, 33, 40, 21, 33, 40, 40, 1, 0.5f, 1.0f, 1, 0, 0, 1, 0},
            /* b and c 16-bit, padded leading dimensions, batched, beta, bias */
            {0, 0, 17, 19, 23, 30, 25, 22, 3, 1.0f, 0.5f, 0, 1, 1, 1, 0},
            /* a large enough product to be split over the threads */
            {0, 1, 96, 80, 64, 64, 64, 80, 1, 1.0f, 0.0f, 1, 1, 1, 1, 0},
            /* C too large to stage whole (4.4M floats): two passes over its
             * rows; A transposed, so a pass takes a block of A's columns */
            {1, 0, 1100, 4000, 8, 1100, 4000, 4000, 1, 1.0f, 0.5f, 1, 1, 1, 1, 1},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) gemm_case_run(t, &cases[i]);
        free_bufs();
    }
}
END_TEST

START_TEST(test_bias_grad16)
{
    const int64_t rows = 50, cols = 70;
    const size_t n = (size_t)(rows * cols);
    for (int f = 0; f < 2; f++) {
        llmrt_dtype t = formats16[f];
        const double u = unit_roundoff(t);
        float *dy = rbuf(n, -1, 1), *db0 = rbuf((size_t)cols, -1, 1);
        uint16_t *dy16 = to16(t, dy, n), *db16 = to16(t, db0, (size_t)cols);
        float *dyw = from16(t, dy16, n), *dbw = from16(t, db16, (size_t)cols);
        float *dbe = copyf(db0, (size_t)cols);
        ck_assert_int_eq(vt->bias_grad(ctx, db16, dy16, rows, cols, t), 0);
        ck_assert_int_eq(vt->bias_grad(ctx, dbw, dyw, rows, cols, LLMRT_DTYPE_F32), 0);
        expect_rounded("bias_grad", t, db16, dbw, (size_t)cols);
        ck_assert_int_eq(vt->bias_grad(ctx, dbe, dy, rows, cols, LLMRT_DTYPE_F32), 0);
        /* each term and the start value rounded once (u), the sum once more;
         * fp32 summation error rows 2^-24 per term, twice */
        double bound[70];
        for (int64_t j = 0; j < cols; j++) {
            double s = fabs(db0[j]);
            for (int64_t i = 0; i < rows; i++) s += fabs(dy[i * cols + j]);
            bound[j] = 1.01 * (s * (u + 2.0 * (double)rows * 0x1p-24) + u * fabs(dbe[j]));
        }
        expect_within("bias_grad", t, db16, dbe, (size_t)cols, bound, 0);
    }
}
END_TEST

static void norm_case(llmrt_dtype t, int rms)
{
    const int64_t rows = 9, cols = 100;
    const size_t n = (size_t)(rows * cols), cn = (size_t)cols;
    const double u = unit_roundoff(t);
    float *x = rbuf(n, -2, 2), *w = rbuf(cn, 0.5f, 1.5f), *b = rbuf(cn, -0.5f, 0.5f);
    float *dy = rbuf(n, -1, 1), *dx0 = rbuf(n, -1, 1), *dw0 = rbuf(cn, -1, 1),
          *db0 = rbuf(cn, -1, 1);
    uint16_t *x16 = to16(t, x, n), *w16 = to16(t, w, cn), *b16 = to16(t, b, cn),
             *dy16 = to16(t, dy, n), *dx16 = to16(t, dx0, n), *dw16 = to16(t, dw0, cn),
             *db16 = to16(t, db0, cn), *out16 = hbuf(n);
    float *xw = from16(t, x16, n), *ww = from16(t, w16, cn), *bw = from16(t, b16, cn),
          *dyw = from16(t, dy16, n), *dxw = from16(t, dx16, n), *dww = from16(t, dw16, cn),
          *dbw = from16(t, db16, cn), *outw = fbuf(n);
    float *mean16 = fbuf((size_t)rows), *rstd16 = fbuf((size_t)rows), *meanw = fbuf((size_t)rows),
          *rstdw = fbuf((size_t)rows), *meane = fbuf((size_t)rows), *rstde = fbuf((size_t)rows);
    float *oute = fbuf(n), *dxe = copyf(dx0, n), *dwe = copyf(dw0, cn), *dbe = copyf(db0, cn);
    llmrt_norm_desc d = {.struct_size = sizeof d, .rows = rows, .cols = cols, .eps = 1e-5f,
                         .rms = rms, .dtype = t, .inp = x16, .weight = w16, .bias = b16,
                         .out = out16, .mean = rms ? NULL : mean16, .rstd = rstd16,
                         .dout = dy16, .dinp = dx16, .dweight = dw16, .dbias = db16};
    ck_assert_msg(vt->norm_forward(ctx, &d) == 0, "%s", test_host_error());
    ck_assert_msg(vt->norm_backward(ctx, &d) == 0, "%s", test_host_error());
    llmrt_norm_desc dw_ = d;
    dw_.dtype = LLMRT_DTYPE_F32;
    dw_.inp = xw, dw_.weight = ww, dw_.bias = bw, dw_.out = outw;
    dw_.mean = rms ? NULL : meanw, dw_.rstd = rstdw;
    dw_.dout = dyw, dw_.dinp = dxw, dw_.dweight = dww, dw_.dbias = dbw;
    ck_assert_int_eq(vt->norm_forward(ctx, &dw_), 0);
    ck_assert_int_eq(vt->norm_backward(ctx, &dw_), 0);
    expect_rounded("norm out", t, out16, outw, n);
    if (!rms) expect_same("norm mean (fp32)", mean16, meanw, (size_t)rows * 4);
    expect_same("norm rstd (fp32)", rstd16, rstdw, (size_t)rows * 4);
    expect_rounded("norm dinp", t, dx16, dxw, n);
    expect_rounded("norm dweight", t, dw16, dww, cn);
    if (!rms) expect_rounded("norm dbias", t, db16, dbw, cn);
    llmrt_norm_desc de = dw_;
    de.inp = x, de.weight = w, de.bias = b, de.out = oute;
    de.mean = rms ? NULL : meane, de.rstd = rstde;
    de.dout = dy, de.dinp = dxe, de.dweight = dwe, de.dbias = dbe;
    ck_assert_int_eq(vt->norm_forward(ctx, &de), 0);
    ck_assert_int_eq(vt->norm_backward(ctx, &de), 0);
    /* out = n w + b: rounding x moves n by about u (|n| + 1) (x - mean and
     * rstd each by u relative), w and b add u |n w| and u |b|, the output u
     * |out|: 4 roundings; C = 6 leaves room. The backward path has x (twice:
     * n and rstd), w, dout, the start value and the output: C = 10. */
    expect_within("norm out", t, out16, oute, n, bound_rel(oute, n, 6, u), 0);
    expect_within("norm dinp", t, dx16, dxe, n, bound_rel(dxe, n, 10, u), 0);
    expect_within("norm dweight", t, dw16, dwe, cn, bound_rel(dwe, cn, 10, u), 0);
    if (!rms) expect_within("norm dbias", t, db16, dbe, cn, bound_rel(dbe, cn, 10, u), 0);
}

START_TEST(test_norm16)
{
    for (int f = 0; f < 2; f++) {
        norm_case(formats16[f], 0);
        norm_case(formats16[f], 1);
        free_bufs();
    }
}
END_TEST

START_TEST(test_gelu16)
{
    const size_t n = 40009; /* split over the threads, with a remainder */
    for (int f = 0; f < 2; f++) {
        llmrt_dtype t = formats16[f];
        const double u = unit_roundoff(t);
        for (int kind = 0; kind < 2; kind++) {
            float *x = rbuf(n, -5, 5), *dy = rbuf(n, -1, 1), *dx0 = rbuf(n, -1, 1);
            uint16_t *x16 = to16(t, x, n), *dy16 = to16(t, dy, n), *dx16 = to16(t, dx0, n),
                     *y16 = hbuf(n);
            float *xw = from16(t, x16, n), *dyw = from16(t, dy16, n), *dxw = from16(t, dx16, n),
                  *yw = fbuf(n), *ye = fbuf(n), *dxe = copyf(dx0, n);
            ck_assert_int_eq(vt->gelu_forward(ctx, y16, x16, n, t, kind), 0);
            ck_assert_int_eq(vt->gelu_backward(ctx, dx16, x16, dy16, n, t, kind), 0);
            ck_assert_int_eq(vt->gelu_forward(ctx, yw, xw, n, LLMRT_DTYPE_F32, kind), 0);
            ck_assert_int_eq(vt->gelu_backward(ctx, dxw, xw, dyw, n, LLMRT_DTYPE_F32, kind), 0);
            expect_rounded("gelu_forward", t, y16, yw, n);
            expect_rounded("gelu_backward", t, dx16, dxw, n);
            ck_assert_int_eq(vt->gelu_forward(ctx, ye, x, n, LLMRT_DTYPE_F32, kind), 0);
            ck_assert_int_eq(vt->gelu_backward(ctx, dxe, x, dy, n, LLMRT_DTYPE_F32, kind), 0);
            /* First order, elementwise: |gelu'| <= 1.13 and |gelu''| <= 0.8,
             * so rounding x moves gelu by 1.13 u |x| and gelu' by 0.8 u |x|;
             * dout and the start value add u |dout gelu'| and u |dx0|; the
             * output u |result|. 1.1x for second-order terms, plus fp32. */
            double *bf = (double *)dbuf(n * sizeof(double));
            double *bb = (double *)dbuf(n * sizeof(double));
            for (size_t i = 0; i < n; i++) {
                double ax = fabs(x[i]);
                bf[i] = 1.1 * u * (1.13 * ax + fabs(ye[i])) + 1e-6;
                bb[i] = 1.1 * u *
                            (fabs(dx0[i]) + 1.13 * fabs(dy[i]) + 0.8 * fabs(dy[i]) * ax +
                             fabs(dxe[i])) +
                        1e-6;
            }
            expect_within("gelu_forward", t, y16, ye, n, bf, 0);
            expect_within("gelu_backward", t, dx16, dxe, n, bb, 0);
        }
        free_bufs();
    }
}
END_TEST

/* q, k and v are slices of one fused row (stride 3 W), and so are dq, dk and
 * dv: the rounded write-back must not touch the other slices. */
START_TEST(test_attention16)
{
    const int64_t B = 2, H = 2, T = 9, D = 8, W = H * D;
    const size_t nqkv = (size_t)(B * T * 3 * W), no = (size_t)(B * T * W),
                 nl = (size_t)(B * H * T);
    for (int f = 0; f < 2; f++) {
        llmrt_dtype t = formats16[f];
        const double u = unit_roundoff(t);
        float *qkv = rbuf(nqkv, -1, 1), *dy = rbuf(no, -1, 1), *dqkv0 = rbuf(nqkv, -1, 1);
        uint16_t *qkv16 = to16(t, qkv, nqkv), *dy16 = to16(t, dy, no),
                 *dqkv16 = to16(t, dqkv0, nqkv), *out16 = hbuf(no);
        float *qkvw = from16(t, qkv16, nqkv), *dyw = from16(t, dy16, no),
              *dqkvw = from16(t, dqkv16, nqkv), *outw = fbuf(no), *oute = fbuf(no),
              *dqkve = copyf(dqkv0, nqkv);
        float *lse16 = fbuf(nl), *lsew = fbuf(nl), *lsee = fbuf(nl);
        llmrt_attention_desc d = {
            .struct_size = sizeof d, .batch = B, .heads = H, .q_len = T, .kv_len = T,
            .head_dim = D, .dtype = t, .scale = 1.0f / sqrtf((float)D), .causal = 1,
            .q = qkv16, .q_row_stride = 3 * W, .k = qkv16 + W, .k_row_stride = 3 * W,
            .v = qkv16 + 2 * W, .v_row_stride = 3 * W, .out = out16, .out_row_stride = W,
            .lse = lse16, .dout = dy16, .dq = dqkv16, .dk = dqkv16 + W, .dv = dqkv16 + 2 * W};
        ck_assert_msg(vt->attention_forward(ctx, &d) == 0, "%s", test_host_error());
        ck_assert_msg(vt->attention_backward(ctx, &d) == 0, "%s", test_host_error());
        llmrt_attention_desc dw_ = d;
        dw_.dtype = LLMRT_DTYPE_F32;
        dw_.q = qkvw, dw_.k = qkvw + W, dw_.v = qkvw + 2 * W, dw_.out = outw, dw_.lse = lsew;
        dw_.dout = dyw, dw_.dq = dqkvw, dw_.dk = dqkvw + W, dw_.dv = dqkvw + 2 * W;
        ck_assert_int_eq(vt->attention_forward(ctx, &dw_), 0);
        ck_assert_int_eq(vt->attention_backward(ctx, &dw_), 0);
        expect_rounded("attention out", t, out16, outw, no);
        expect_same("attention lse (fp32)", lse16, lsew, nl * 4);
        expect_rounded("attention dq, dk, dv", t, dqkv16, dqkvw, nqkv);
        llmrt_attention_desc de = dw_;
        de.q = qkv, de.k = qkv + W, de.v = qkv + 2 * W, de.out = oute, de.lse = lsee;
        de.dout = dy, de.dq = dqkve, de.dk = dqkve + W, de.dv = dqkve + 2 * W;
        ck_assert_int_eq(vt->attention_forward(ctx, &de), 0);
        ck_assert_int_eq(vt->attention_backward(ctx, &de), 0);
        /* out = softmax(s q.k) v: q and k (2u on each score, |score| <~ 1
         * here), v and the output: 4 roundings, C = 8. The backward adds
         * dout and the start value, and P enters twice: C = 16. */
        expect_within("attention out", t, out16, oute, no, bound_rel(oute, no, 8, u), 0);
        expect_within("attention dq, dk, dv", t, dqkv16, dqkve, nqkv,
                      bound_rel(dqkve, nqkv, 16, u), 0);
        free_bufs();
    }
}
END_TEST

START_TEST(test_xent16)
{
    const int64_t rows = 6, V = 37, Vp = 40;
    const size_t n = (size_t)(rows * Vp);
    int32_t targets[6] = {3, 36, -1, 0, 17, 17};
    const float dloss = 1.0f / 5.0f;
    for (int f = 0; f < 2; f++) {
        llmrt_dtype t = formats16[f];
        const double u = unit_roundoff(t);
        float *x = rbuf(n, -4, 4);
        uint16_t *x16 = to16(t, x, n), *dl16 = hbuf(n), *inplace = to16(t, x, n);
        float *xw = from16(t, x16, n), *dlw = fbuf(n), *dle = fbuf(n);
        float *l16 = fbuf((size_t)rows), *lw = fbuf((size_t)rows), *le = fbuf((size_t)rows),
              *l2 = fbuf((size_t)rows);
        llmrt_xent_desc d = {.struct_size = sizeof d, .rows = rows, .vocab = V,
                             .padded_vocab = Vp, .dtype = t, .logits = x16, .targets = targets,
                             .losses = l16, .dlogits = dl16, .dloss = dloss};
        ck_assert_msg(vt->softmax_xent(ctx, &d) == 0, "%s", test_host_error());
        llmrt_xent_desc di = d;
        di.logits = inplace, di.dlogits = inplace, di.losses = l2;
        ck_assert_int_eq(vt->softmax_xent(ctx, &di), 0);
        llmrt_xent_desc dw_ = d;
        dw_.dtype = LLMRT_DTYPE_F32, dw_.logits = xw, dw_.dlogits = dlw, dw_.losses = lw;
        ck_assert_int_eq(vt->softmax_xent(ctx, &dw_), 0);
        expect_same("xent losses (fp32)", l16, lw, (size_t)rows * 4);
        expect_rounded("xent dlogits", t, dl16, dlw, n);
        expect_same("xent in place", inplace, dl16, n * 2);
        expect_same("xent losses in place", l2, l16, (size_t)rows * 4);
        llmrt_xent_desc de = dw_;
        de.logits = x, de.dlogits = dle, de.losses = le;
        ck_assert_int_eq(vt->softmax_xent(ctx, &de), 0);
        /* Rounding the logits by u |x_j| moves log-sum-exp and x_target by
         * at most u max |x| each: loss within 2u max|x|. p_j moves by
         * p_j (|dx_j| + |d lse|) <= p_j 2u max|x|; dlogits = dloss (p - 1_t)
         * is then rounded (u |dlogit|). 1.1x and fp32 slack. */
        double xmax = 0;
        for (size_t i = 0; i < n; i++)
            if ((int64_t)(i % (size_t)Vp) < V) xmax = fmax(xmax, fabs(x[i]));
        double bl[6], *bd = (double *)dbuf(n * sizeof(double));
        for (int64_t i = 0; i < rows; i++) {
            bl[i] = 1.1 * 2 * u * xmax + 1e-6;
            for (int64_t j = 0; j < Vp; j++) {
                size_t k = (size_t)(i * Vp + j);
                double p = dle[k] / dloss + (j == targets[i] ? 1.0 : 0.0);
                bd[k] = 1.1 * (fabs(dloss) * p * 2 * u * xmax + u * fabs(dle[k])) + 1e-7;
            }
        }
        expect_within_f("xent losses", l16, le, (size_t)rows, bl);
        expect_within("xent dlogits", t, dl16, dle, n, bd, 0);
        free_bufs();
    }
}
END_TEST

START_TEST(test_embedding16)
{
    const int64_t V = 13, dim = 40, rows = 20;
    const size_t nt = (size_t)(V * dim), no = (size_t)(rows * dim);
    int32_t ids[20];
    for (int i = 0; i < 20; i++) ids[i] = (i * 7) % 11; /* ids repeat; 11 and 12 unused */
    for (int f = 0; f < 2; f++) {
        llmrt_dtype t = formats16[f];
        const double u = unit_roundoff(t);
        float *table = rbuf(nt, -1, 1), *out0 = rbuf(no, -1, 1), *dy = rbuf(no, -1, 1);
        uint16_t *tab16 = to16(t, table, nt), *o16 = hbuf(no), *acc16 = to16(t, out0, no),
                 *dy16 = to16(t, dy, no), *dt16 = to16(t, table, nt);
        float *tabw = from16(t, tab16, nt), *accw = from16(t, acc16, no),
              *dyw = from16(t, dy16, no), *dtw = from16(t, dt16, nt), *dte = copyf(table, nt);
        ck_assert_int_eq(vt->embedding_forward(ctx, o16, ids, tab16, rows, dim, t, 0), 0);
        for (int64_t i = 0; i < rows; i++)
            expect_same("embedding lookup", o16 + i * dim, tab16 + ids[i] * dim,
                        (size_t)dim * 2);
        ck_assert_int_eq(vt->embedding_forward(ctx, acc16, ids, tab16, rows, dim, t, 1), 0);
        ck_assert_int_eq(
            vt->embedding_forward(ctx, accw, ids, tabw, rows, dim, LLMRT_DTYPE_F32, 1), 0);
        expect_rounded("embedding accumulate", t, acc16, accw, no);
        ck_assert_int_eq(vt->embedding_backward(ctx, dt16, ids, dy16, rows, dim, t), 0);
        ck_assert_int_eq(
            vt->embedding_backward(ctx, dtw, ids, dyw, rows, dim, LLMRT_DTYPE_F32), 0);
        expect_rounded("embedding_backward", t, dt16, dtw, nt);
        ck_assert_int_eq(vt->embedding_backward(ctx, dte, ids, dy, rows, dim, LLMRT_DTYPE_F32),
                         0);
        /* each dtable row: the start value and every added row rounded once
         * (u each), the result once: u (|start| + sum |dout|) + u |result| */
        double *bd = (double *)dbuf(nt * sizeof(double));
        for (size_t k = 0; k < nt; k++) bd[k] = fabs(table[k]);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < dim; j++) bd[ids[i] * dim + j] += fabs(dy[i * dim + j]);
        for (size_t k = 0; k < nt; k++) bd[k] = 1.01 * u * (bd[k] + fabs(dte[k])) + 1e-7;
        expect_within("embedding_backward", t, dt16, dte, nt, bd, 0);
        free_bufs();
    }
}
END_TEST

START_TEST(test_elementwise16)
{
    const size_t n = 70001;
    for (int f = 0; f < 2; f++) {
        llmrt_dtype t = formats16[f];
        const double u = unit_roundoff(t);
        float *a = rbuf(n, -3, 3), *b = rbuf(n, -3, 3);
        uint16_t *a16 = to16(t, a, n), *b16 = to16(t, b, n), *s16 = to16(t, a, n);
        float *aw = from16(t, a16, n), *bw = from16(t, b16, n), *sw = from16(t, s16, n);
        float *ae = copyf(a, n), *se = copyf(a, n);
        /* add in place (out aliases a) */
        ck_assert_int_eq(vt->add(ctx, a16, a16, b16, n, t), 0);
        ck_assert_int_eq(vt->add(ctx, aw, aw, bw, n, LLMRT_DTYPE_F32), 0);
        expect_rounded("add", t, a16, aw, n);
        ck_assert_int_eq(vt->add(ctx, ae, ae, b, n, LLMRT_DTYPE_F32), 0);
        /* rounding a and b: u (|a| + |b|); the sum: u |a + b| */
        double *bd = (double *)dbuf(n * sizeof(double));
        for (size_t i = 0; i < n; i++)
            bd[i] = 1.01 * u * (fabs(a[i]) + fabs(b[i]) + fabs(ae[i])) + 1e-7;
        expect_within("add", t, a16, ae, n, bd, 0);
        ck_assert_int_eq(vt->scale(ctx, s16, n, t, -0.37f), 0);
        ck_assert_int_eq(vt->scale(ctx, sw, n, LLMRT_DTYPE_F32, -0.37f), 0);
        expect_rounded("scale", t, s16, sw, n);
        ck_assert_int_eq(vt->scale(ctx, se, n, LLMRT_DTYPE_F32, -0.37f), 0);
        /* the input and the product rounded: 2u |result| */
        for (size_t i = 0; i < n; i++)
            ck_assert(fabs(widen16(t, s16[i]) - (double)se[i]) <= 2.01 * u * fabs(se[i]) + 1e-30);
        /* sum_squares: the same chunks as fp32 on the widened values */
        double s16sum = 0, swsum = 0, sesum = 0;
        ck_assert_int_eq(vt->sum_squares(ctx, b16, n, t, &s16sum), 0);
        ck_assert_int_eq(vt->sum_squares(ctx, bw, n, LLMRT_DTYPE_F32, &swsum), 0);
        ck_assert_int_eq(vt->sum_squares(ctx, b, n, LLMRT_DTYPE_F32, &sesum), 0);
        ck_assert_msg(s16sum == swsum, "sum_squares %s %.17g, fp32 on widened %.17g", tname(t),
                      s16sum, swsum);
        /* each x^2 moves by at most 2u x^2 (+u^2), so the sum by 2u sum */
        ck_assert_msg(fabs(s16sum - sesum) <= 2.01 * u * sesum, "sum_squares %s %.9g vs %.9g",
                      tname(t), s16sum, sesum);
        free_bufs();
    }
}
END_TEST

START_TEST(test_adamw16)
{
    const size_t n = 40003;
    for (int f = 0; f < 2; f++) {
        llmrt_dtype t = formats16[f];
        const double u = unit_roundoff(t);
        float *g = rbuf(n, -1, 1), *p0 = rbuf(n, -1, 1), *m0 = rbuf(n, -0.1f, 0.1f),
              *v0 = rbuf(n, 0, 0.01f);
        uint16_t *g16 = to16(t, g, n);
        float *gw = from16(t, g16, n);
        float *p1 = copyf(p0, n), *m1 = copyf(m0, n), *v1 = copyf(v0, n);
        float *p2 = copyf(p0, n), *m2 = copyf(m0, n), *v2 = copyf(v0, n);
        float *p3 = copyf(p0, n), *m3 = copyf(m0, n), *v3 = copyf(v0, n);
        llmrt_adamw_desc d = {.struct_size = sizeof d, .n = n, .params = p1, .grads = g16,
                              .grad_type = t, .m = m1, .v = v1, .lr = 1e-3f, .beta1 = 0.9f,
                              .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                              .grad_scale = 0.5f, .t = 3};
        ck_assert_msg(vt->adamw(ctx, &d) == 0, "%s", test_host_error());
        llmrt_adamw_desc dw_ = d;
        dw_.params = p2, dw_.m = m2, dw_.v = v2, dw_.grads = gw, dw_.grad_type = LLMRT_DTYPE_F32;
        ck_assert_int_eq(vt->adamw(ctx, &dw_), 0);
        expect_same("adamw params", p1, p2, n * 4);
        expect_same("adamw m", m1, m2, n * 4);
        expect_same("adamw v", v1, v2, n * 4);
        llmrt_adamw_desc de = dw_;
        de.params = p3, de.m = m3, de.v = v3, de.grads = g;
        ck_assert_int_eq(vt->adamw(ctx, &de), 0);
        /* The gradient's rounding (u |g|) moves m by dm = (1-beta1) u |g s|
         * and v by dv = 2 (1-beta2) u (g s)^2 (the fp32 state is not
         * rounded). First order, r = mhat / (sqrt(vhat) + eps) moves by
         * dmhat / (sqrt(vhat) + eps) + |mhat| dsqrt(vhat) / (sqrt(vhat) + eps)^2
         * and p by lr times that. Each fp32 result may also differ by its own
         * rounding (2 ulp). */
        const double bc1 = 1 - pow(0.9, 3), bc2 = 1 - pow(0.95, 3), ulp = 0x1p-23;
        for (size_t i = 0; i < n; i++) {
            double gs = fabs((double)g[i] * 0.5);
            double dm = 1.01 * 0.1 * u * gs, dv = 1.01 * 0.05 * 2 * u * gs * gs;
            ck_assert(fabs((double)m1[i] - m3[i]) <= dm + 2 * ulp * fabs(m3[i]) + 1e-12);
            ck_assert(fabs((double)v1[i] - v3[i]) <= dv + 2 * ulp * fabs(v3[i]) + 1e-14);
            double mh = fabs(m3[i]) / bc1, sv = sqrt(v3[i] / bc2), den = sv + 1e-8;
            double dr = dm / bc1 / den + (sv > 0 ? mh * (dv / bc2 / (2 * sv)) / (den * den) : 0);
            ck_assert_msg(fabs((double)p1[i] - p3[i]) <= 1.1 * 1e-3 * dr + 2 * ulp * fabs(p3[i]) +
                                                          1e-12,
                          "adamw %s params[%zu]: %.9g vs %.9g", tname(t), i, (double)p1[i],
                          (double)p3[i]);
        }
        free_bufs();
    }
}
END_TEST

/* The 16-bit paths keep the fp32 kernels' promise (rule 9): 1 and 2 threads
 * give the same bits (norm_backward's dweight/dbias excepted, as in fp32). */
static void run16(void *c, llmrt_dtype t, const uint16_t *in, uint16_t *out, float *f32out)
{
    /* gemm 96 x 80 x 64 (split over threads), then gelu, add, bias_grad,
     * norm, attention and xent on slices of `in`; every result into out */
    llmrt_gemm_desc g = {.struct_size = sizeof g, .trans_b = 1, .m = 96, .n = 80, .k = 64,
                         .alpha = 1, .a = in, .lda = 64, .a_type = t, .b = in + 6144,
                         .ldb = 64, .b_type = t, .c = out, .ldc = 80, .c_type = t,
                         .bias = in + 20000};
    ck_assert_int_eq(vt->gemm(c, &g), 0);
    ck_assert_int_eq(vt->gelu_forward(c, out + 7680, in, 40000, t, LLMRT_GELU_TANH), 0);
    ck_assert_int_eq(vt->add(c, out + 47680, in, in + 1000, 40000, t), 0);
    memcpy(out + 87680, in + 3, 300 * 2);
    ck_assert_int_eq(vt->bias_grad(c, out + 87680, in, 200, 300, t), 0);
    llmrt_norm_desc nd = {.struct_size = sizeof nd, .rows = 200, .cols = 300, .eps = 1e-5f,
                          .dtype = t, .inp = in, .weight = in + 60000, .bias = in + 60300,
                          .out = out + 88000, .mean = f32out, .rstd = f32out + 200,
                          .dout = in + 5, .dinp = out + 148000};
    memcpy(out + 148000, in + 7, 60000 * 2);
    ck_assert_int_eq(vt->norm_forward(c, &nd), 0);
    ck_assert_int_eq(vt->norm_backward(c, &nd), 0);
    llmrt_attention_desc ad = {
        .struct_size = sizeof ad, .batch = 2, .heads = 4, .q_len = 33, .kv_len = 33,
        .head_dim = 16, .dtype = t, .scale = 0.25f, .causal = 1, .q = in, .q_row_stride = 192,
        .k = in + 64, .k_row_stride = 192, .v = in + 128, .v_row_stride = 192,
        .out = out + 208000, .out_row_stride = 64, .lse = f32out + 400, .dout = in + 11,
        .dq = out + 212224, .dk = out + 212224 + 64, .dv = out + 212224 + 128};
    memcpy(out + 212224, in + 13, 66 * 192 * 2);
    ck_assert_int_eq(vt->attention_forward(c, &ad), 0);
    ck_assert_int_eq(vt->attention_backward(c, &ad), 0);
    int32_t targets[64];
    for (int i = 0; i < 64; i++) targets[i] = (i * 37) % 1000 - (i == 5);
    llmrt_xent_desc xd = {.struct_size = sizeof xd, .rows = 64, .vocab = 1000,
                          .padded_vocab = 1024, .dtype = t, .logits = in,
                          .targets = targets, .losses = f32out + 664, .dlogits = out + 224896,
                          .dloss = 0.01f};
    ck_assert_int_eq(vt->softmax_xent(c, &xd), 0);
    ck_assert_int_eq(vt->sum_squares(c, in, 100000, t, (double *)(void *)(f32out + 728)), 0);
}

START_TEST(test_kernels16_threads)
{
    const size_t n_in = 100000, n_out = 224896 + 65536, n_f = 730;
    for (int f = 0; f < 2; f++) {
        llmrt_dtype t = formats16[f];
        uint16_t *in = to16(t, rbuf(n_in, -1, 1), n_in);
        uint16_t *o1 = hbuf(n_out), *o2 = hbuf(n_out);
        float *f1 = fbuf(n_f), *f2 = fbuf(n_f);
        memset(o1, 0, n_out * 2);
        memset(o2, 0, n_out * 2);
        memset(f1, 0, n_f * 4);
        memset(f2, 0, n_f * 4);
        void *c1 = create_with("1");
        run16(c1, t, in, o1, f1);
        vt->destroy(c1);
        run16(ctx, t, in, o2, f2);
        expect_same("16-bit kernels, 1 vs 2 threads", o1, o2, n_out * 2);
        expect_same("16-bit kernels' fp32 outputs, 1 vs 2 threads", f1, f2, n_f * 4);
        free_bufs();
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Fake quantization (LSQ)                                                   */

static float scale_at(const float *s, int axis, int64_t i, int64_t j)
{
    return axis == 0 ? s[i] : axis == 1 ? s[j] : s[0];
}

static int fq(void *c, int forward, int64_t rows, int64_t cols, int axis, int qmin, int qmax,
              const float *x, const float *scale, float *out, const float *dout, float *dx,
              float *dscale, float gf)
{
    llmrt_fake_quant_desc d = {.struct_size = sizeof d, .rows = rows, .cols = cols,
                               .axis = axis, .qmin = qmin, .qmax = qmax, .x = x,
                               .scale = scale, .out = out, .dout = dout, .dx = dx,
                               .dscale = dscale, .grad_factor = gf};
    return forward ? vt->fake_quant_forward(c, &d) : vt->fake_quant_backward(c, &d);
}

/* Scales for an axis: random, with a negative one and a zero one (the
 * effective scale is max(|s|, eps)). */
static float *make_scales(int axis, int64_t rows, int64_t cols, float lo, float hi)
{
    size_t ns = axis == 0 ? (size_t)rows : axis == 1 ? (size_t)cols : 1;
    float *s = rbuf(ns, lo, hi);
    if (ns > 2) {
        s[1] = -s[1];
        s[2] = 0.0f;
    }
    return s;
}

START_TEST(test_fake_quant_forward)
{
    const int64_t rows = 23, cols = 57;
    const size_t n = (size_t)(rows * cols);
    const int ranges[3][2] = {{LLMRT_I8_QMIN, LLMRT_I8_QMAX}, {-8, 7}, {0, 255}};
    for (int axis = -1; axis <= 1; axis++)
        for (int r = 0; r < 3; r++) {
            int qmin = ranges[r][0], qmax = ranges[r][1];
            float *s = make_scales(axis, rows, cols, 0.01f, 0.1f);
            float *x = rbuf(n, -10, 10);
            x[5] = NAN;
            x[6] = INFINITY;
            x[7] = -INFINITY;
            /* exact ties of the first row's scale (round half to even) */
            float s0 = llmrt_quant_scale(scale_at(s, axis, 0, 8));
            x[8] = 2.5f * s0;
            float *out = fbuf(n), *inplace = copyf(x, n);
            ck_assert_msg(fq(ctx, 1, rows, cols, axis, qmin, qmax, x, s, out, NULL, NULL, NULL,
                             0) == 0,
                          "%s", test_host_error());
            ck_assert_int_eq(
                fq(ctx, 1, rows, cols, axis, qmin, qmax, inplace, s, inplace, NULL, NULL, NULL, 0),
                0);
            for (int64_t i = 0; i < rows; i++)
                for (int64_t j = 0; j < cols; j++) {
                    float se = llmrt_quant_scale(scale_at(s, axis, i, j)), inv = 1.0f / se;
                    float want = llmrt_quant_round(x[i * cols + j], inv, qmin, qmax) * se;
                    ck_assert_msg(llmrt_f32_bits(out[i * cols + j]) == llmrt_f32_bits(want),
                                  "axis %d [%d,%d] [%lld,%lld]: x %.9g s %.9g: %.9g, want %.9g",
                                  axis, qmin, qmax, (long long)i, (long long)j,
                                  (double)x[i * cols + j], (double)se,
                                  (double)out[i * cols + j], (double)want);
                }
            ck_assert_float_eq(out[8], 2.0f * s0);
            expect_same("fake_quant_forward in place", inplace, out, n * 4);
            free_bufs();
        }
    float one = 1.0f, v = 0.0f;
    int rc = fq(ctx, 1, 1, 1, 2, -1, 1, &v, &one, &v, NULL, NULL, NULL, 0);
    expect_error(rc, LLMRT_ERR_INVALID, "fake_quant_forward", "axis", NULL);
    rc = fq(ctx, 1, 1, 1, 0, 5, 1, &v, &one, &v, NULL, NULL, NULL, 0);
    expect_error(rc, LLMRT_ERR_INVALID, "qmin", NULL, NULL);
}
END_TEST

/* dx and dscale against the formulas of compute.h; dscale is the same for
 * 1 and 3 threads (rows > the kernel's 64 fixed row blocks, so that axis 1
 * really sums partials). */
START_TEST(test_fake_quant_backward)
{
    const int64_t rows = 200, cols = 300;
    const size_t n = (size_t)(rows * cols);
    const int qmin = LLMRT_I8_QMIN, qmax = LLMRT_I8_QMAX;
    void *c3 = create_with("3"), *c1 = create_with("1");
    for (int axis = -1; axis <= 1; axis++) {
        float *s = make_scales(axis, rows, cols, 0.004f, 0.02f);
        size_t ns = axis == 0 ? (size_t)rows : axis == 1 ? (size_t)cols : 1;
        int64_t per = axis == 0 ? cols : axis == 1 ? rows : rows * cols;
        float gf = 1.0f / sqrtf((float)per * (float)qmax);
        float *x = rbuf(n, -4, 4), *dy = rbuf(n, -1, 1), *dx0 = rbuf(n, -1, 1),
              *ds0 = rbuf(ns, -1, 1);
        float *dx = copyf(dx0, n), *ds = copyf(ds0, ns), *ds1 = copyf(ds0, ns),
              *ds3 = copyf(ds0, ns), *dxonly = copyf(dx0, n), *dsonly = copyf(ds0, ns);
        ck_assert_msg(fq(ctx, 0, rows, cols, axis, qmin, qmax, x, s, NULL, dy, dx, ds, gf) == 0,
                      "%s", test_host_error());
        double *sum = (double *)dbuf(ns * sizeof(double));
        double *mag = (double *)dbuf(ns * sizeof(double));
        for (size_t c = 0; c < ns; c++) sum[c] = mag[c] = 0;
        size_t inside = 0, clamped = 0;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                size_t k = (size_t)(i * cols + j);
                size_t c = axis == 0 ? (size_t)i : axis == 1 ? (size_t)j : 0;
                float se = llmrt_quant_scale(scale_at(s, axis, i, j)), inv = 1.0f / se;
                float v = x[k] * inv, r = nearbyintf(v);
                int in = r >= (float)qmin && r <= (float)qmax;
                inside += (size_t)in;
                clamped += (size_t)!in;
                float want_dx = in ? dx0[k] + dy[k] : dx0[k];
                ck_assert_msg(llmrt_f32_bits(dx[k]) == llmrt_f32_bits(want_dx),
                              "axis %d dx[%zu]: %.9g, want %.9g", axis, k, (double)dx[k],
                              (double)want_dx);
                double term = r < qmin ? qmin : r > qmax ? qmax : (double)r - (double)v;
                sum[c] += (double)dy[k] * term;
                mag[c] += fabs((double)dy[k]) * (fabs(term) + fabs((double)v) * 0x1p-23);
            }
        ck_assert_msg(inside > n / 10 && clamped > n / 10, "inside %zu, clamped %zu", inside,
                      clamped);
        for (size_t c = 0; c < ns; c++) {
            /* with respect to the stored scale: its sign, 0 where clamped
             * (s[1] < 0, s[2] = 0 in make_scales) */
            double sg = llmrt_quant_scale_grad(s[c]);
            double want = (double)ds0[c] + (double)gf * sum[c] * sg;
            /* the order of the double sums and fp32 roundings (the term may be
             * formed with an FMA: the 2^-23 |v| in mag) */
            double tol = 0x1p-20 * (fabs(ds0[c]) + gf * mag[c]) + 1e-12;
            ck_assert_msg(fabs(ds[c] - want) <= tol, "axis %d dscale[%zu]: %.9g, want %.9g",
                          axis, c, (double)ds[c], want);
        }
        ck_assert_int_eq(fq(c1, 0, rows, cols, axis, qmin, qmax, x, s, NULL, dy, NULL, ds1, gf), 0);
        ck_assert_int_eq(fq(c3, 0, rows, cols, axis, qmin, qmax, x, s, NULL, dy, NULL, ds3, gf), 0);
        expect_same("dscale, 1 vs 3 threads", ds1, ds3, ns * 4);
        expect_same("dscale, 1 vs 2 threads", ds1, ds, ns * 4);
        /* dx alone, dscale alone */
        ck_assert_int_eq(
            fq(ctx, 0, rows, cols, axis, qmin, qmax, x, s, NULL, dy, dxonly, NULL, gf), 0);
        expect_same("dx without dscale", dxonly, dx, n * 4);
        ck_assert_int_eq(
            fq(ctx, 0, rows, cols, axis, qmin, qmax, x, s, NULL, dy, NULL, dsonly, gf), 0);
        expect_same("dscale without dx", dsonly, ds, ns * 4);
        free_bufs();
    }
    vt->destroy(c1);
    vt->destroy(c3);
}
END_TEST

/* Finite differences. The forward is piecewise constant in x and piecewise
 * linear in s (round(v) is a step function), so:
 *  - dscale: away from rounding boundaries, d/ds of sum w * fq(x; s) is
 *    sum w * q (q the clamped round(v), constant there). LSQ's gradient is
 *    the derivative when round() passes gradients straight through:
 *    d/ds [s round(x/s)] = round(v) + s * 1 * (-v/s) = round(v) - v inside
 *    the range, qmin/qmax where clamped. So the kernel's dscale must equal
 *    the finite difference of its own forward minus sum_inside w v. Each x
 *    is placed at v = k + f with |f| <= 0.3, and the step moves v by at most
 *    0.01, so no element crosses a rounding boundary.
 *  - dx: the straight-through gradient is the derivative of the surrogate
 *    s * clamp(x/s, qmin, qmax) (round replaced by the identity): 1 inside,
 *    0 outside. Checked by central differences of that surrogate, with no
 *    v within 0.5 of qmin or qmax (where round(v) and v disagree about the
 *    range). */
START_TEST(test_fake_quant_fd)
{
    const int64_t rows = 8, cols = 16;
    const size_t n = (size_t)(rows * cols);
    const int qmin = -8, qmax = 7;
    for (int axis = -1; axis <= 1; axis++) {
        size_t ns = axis == 0 ? (size_t)rows : axis == 1 ? (size_t)cols : 1;
        float *s = rbuf(ns, 0.05f, 0.1f), *x = fbuf(n), *w = rbuf(n, -1, 1), *out = fbuf(n);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                int k;
                do k = (int)(next_u64() % 25) - 12; /* [-12, 12]: some clamp */
                while (k == qmin || k == qmax);
                x[i * cols + j] = scale_at(s, axis, i, j) * ((float)k + frand(-0.3f, 0.3f));
            }
        float *ds = fbuf(ns), *dx = fbuf(n);
        memset(ds, 0, ns * 4);
        memset(dx, 0, n * 4);
        ck_assert_int_eq(fq(ctx, 0, rows, cols, axis, qmin, qmax, x, s, NULL, w, dx, ds, 1.0f), 0);
        for (size_t c = 0; c < ns; c++) {
            float s0 = s[c], h = 1e-3f * s0;
            double loss[2], sum_wq = 0, sum_inside_wv = 0;
            for (int side = 0; side < 2; side++) {
                s[c] = side ? s0 - h : s0 + h;
                ck_assert_int_eq(
                    fq(ctx, 1, rows, cols, axis, qmin, qmax, x, s, out, NULL, NULL, NULL, 0), 0);
                loss[side] = 0;
                for (size_t k = 0; k < n; k++) loss[side] += (double)w[k] * out[k];
            }
            double step = (double)(s0 + h) - (double)(s0 - h);
            s[c] = s0;
            for (int64_t i = 0; i < rows; i++)
                for (int64_t j = 0; j < cols; j++) {
                    size_t k = (size_t)(i * cols + j);
                    size_t ch = axis == 0 ? (size_t)i : axis == 1 ? (size_t)j : 0;
                    if (ch != c) continue;
                    double v = (double)x[k] / s0, r = nearbyint(v);
                    double q = r < qmin ? qmin : r > qmax ? qmax : r;
                    sum_wq += fabs(w[k] * q);
                    if (r >= qmin && r <= qmax) sum_inside_wv += w[k] * v;
                }
            double fd = (loss[0] - loss[1]) / step, want = fd - sum_inside_wv;
            /* forward values are fp32 (relative 2^-24 of |q s|), divided by
             * the step 2e-3 s: about 1e-5 of sum |w q| */
            ck_assert_msg(fabs(ds[c] - want) <= 1e-4 * sum_wq + 1e-5,
                          "axis %d dscale[%zu]: %.7g, finite difference minus sum w v %.7g",
                          axis, c, (double)ds[c], want);
        }
        for (size_t k = 0; k < n; k++) {
            int64_t i = (int64_t)k / cols, j = (int64_t)k % cols;
            double se = scale_at(s, axis, i, j), h = 1e-3 * se, fdx;
            double vp = (x[k] + h) / se, vm = (x[k] - h) / se;
            vp = vp < qmin ? qmin : vp > qmax ? qmax : vp;
            vm = vm < qmin ? qmin : vm > qmax ? qmax : vm;
            fdx = w[k] * se * (vp - vm) / (2 * h); /* other terms do not depend on x[k] */
            ck_assert_msg(fabs(dx[k] - fdx) <= 1e-9 + 1e-6 * fabs(fdx),
                          "axis %d dx[%zu]: %.7g, finite difference of the surrogate %.7g", axis,
                          k, (double)dx[k], fdx);
        }
        free_bufs();
    }
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *formats_suite(void)
{
    Suite *s = suite_create("cpu_formats");
    const cpu_test tests[] = {
        {"f32_to_16_exhaustive", test_f32_to_16_exhaustive},
        {"16_exhaustive", test_16_exhaustive},
        {"int8", test_int8},
        {"stochastic", test_stochastic},
        {"convert_threads", test_convert_threads},
        {"gemm16", test_gemm16},
        {"bias_grad16", test_bias_grad16},
        {"norm16", test_norm16},
        {"gelu16", test_gelu16},
        {"attention16", test_attention16},
        {"xent16", test_xent16},
        {"embedding16", test_embedding16},
        {"elementwise16", test_elementwise16},
        {"adamw16", test_adamw16},
        {"kernels16_threads", test_kernels16_threads},
        {"fake_quant_forward", test_fake_quant_forward},
        {"fake_quant_backward", test_fake_quant_backward},
        {"fake_quant_fd", test_fake_quant_fd},
    };
    /* the exhaustive pass: about a minute on 2 cores */
    cpu_add_tests(s, tests, sizeof tests / sizeof tests[0], setup, 1200);
    return s;
}

int main(void)
{
    if (cpu_load_plugin("test_cpu_formats")) return 1;
    if (!LLMRT_HAS(vt, vt->struct_size, convert_ex) ||
        !LLMRT_HAS(vt, vt->struct_size, fake_quant_forward) ||
        !LLMRT_HAS(vt, vt->struct_size, fake_quant_backward)) {
        fprintf(stderr, "test_cpu_formats: the cpu plugin lacks the ABI 1.1 kernels\n");
        return 1;
    }
    return cpu_run_suite(formats_suite());
}
