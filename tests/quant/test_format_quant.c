/* test_format_quant.c — the quant plugin's formats beyond nearest-even
 * rounding: stochastic rounding to bf16, int8 quantization (per tensor, per
 * row, per column) against a formula written here, the descriptors of every
 * format (fp32 too, through the registry) and the errors for bad arguments. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "quant_test_util.h"

/* xorshift64*: test inputs only (the plugin's random bits are convert.h's). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd32(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}
static float rnd_normalish(void) /* roughly N(0,1), enough for test data */
{
    float s = 0;
    for (int i = 0; i < 12; i++) s += (float)rnd32() * 0x1p-32f;
    return s - 6.0f;
}
/* A finite fp32 with any exponent. */
static float rnd_finite(void)
{
    for (;;) {
        float x = llmrt_f32_from_bits(rnd32());
        if (isfinite(x)) return x;
    }
}

/* ==== stochastic rounding (convert.h rule 3) ==== */

#define SR_N (1u << 16)

START_TEST(sr_reproducible_and_independent_of_chunking)
{
    const llmrt_format *f = qt_format("bf16", NULL);
    ck_assert_int_eq(f->stochastic_rounding, 1);
    float *x = malloc(SR_N * sizeof *x);
    uint16_t *a = malloc(SR_N * 2), *b = malloc(SR_N * 2), *c = malloc(SR_N * 2);
    ck_assert(x && a && b && c);
    for (uint32_t i = 0; i < SR_N; i++) x[i] = i & 1 ? rnd_normalish() : rnd_finite();
    uint64_t seed = 0x5EEDull;
    ck_assert_int_eq(f->encode(f, a, x, SR_N, NULL, LLMRT_ROUND_STOCHASTIC, seed), LLMRT_OK);
    ck_assert_int_eq(f->encode(f, b, x, SR_N, NULL, LLMRT_ROUND_STOCHASTIC, seed), LLMRT_OK);
    ck_assert_int_eq(memcmp(a, b, SR_N * 2), 0);
    /* Element i depends on (seed, i) only: computed backwards, and by
     * threads in odd-sized chunks, the bits are the same. */
    for (uint32_t i = SR_N; i-- > 0;) c[i] = llmrt_f32_to_bf16_sr(x[i], llmrt_sr_bits(seed, i));
    ck_assert_int_eq(memcmp(a, c, SR_N * 2), 0);
    memset(c, 0, SR_N * 2);
#pragma omp parallel for schedule(dynamic, 1000) num_threads(2)
    for (uint32_t i = 0; i < SR_N; i++) c[i] = llmrt_f32_to_bf16_sr(x[i], llmrt_sr_bits(seed, i));
    ck_assert_int_eq(memcmp(a, c, SR_N * 2), 0);
    /* A prefix encodes to the prefix: nothing depends on n. */
    ck_assert_int_eq(f->encode(f, b, x, 12345, NULL, LLMRT_ROUND_STOCHASTIC, seed), LLMRT_OK);
    ck_assert_int_eq(memcmp(a, b, 12345 * 2), 0);
    free(x), free(a), free(b), free(c);
}
END_TEST

START_TEST(sr_seeds_differ)
{
    const llmrt_format *f = qt_format("bf16", NULL);
    float *x = malloc(SR_N * sizeof *x);
    uint16_t *a = malloc(SR_N * 2), *b = malloc(SR_N * 2);
    ck_assert(x && a && b);
    for (uint32_t i = 0; i < SR_N; i++) x[i] = rnd_normalish();
    ck_assert_int_eq(f->encode(f, a, x, SR_N, NULL, LLMRT_ROUND_STOCHASTIC, 1), LLMRT_OK);
    ck_assert_int_eq(f->encode(f, b, x, SR_N, NULL, LLMRT_ROUND_STOCHASTIC, 2), LLMRT_OK);
    uint32_t differ = 0;
    for (uint32_t i = 0; i < SR_N; i++) differ += a[i] != b[i];
    /* For a dropped fraction p uniform in [0, 1), two draws differ with
     * probability E[2p(1-p)] = 1/3. */
    double share = (double)differ / SR_N;
    ck_assert_msg(share > 0.31 && share < 0.36, "seeds 1 and 2 differ on %.4f of the values", share);
    free(x), free(a), free(b);
}
END_TEST

START_TEST(sr_unbiased)
{
    const llmrt_format *f = qt_format("bf16", NULL);
    const uint32_t n = qt_quick() ? 1u << 16 : 1u << 20;
    static const uint32_t inputs[] = {
        0x3F804000u, /* 1 + 2^-9: p = 1/4 */
        0x3DCCCCCDu, /* 0.1: p = 0xCCCD / 2^16 */
        0xC0490FD0u, /* -3.14159 */
        0x3F800001u, /* 1 + 2^-23: p = 2^-16 */
        0x3F80FFFFu, /* p = 1 - 2^-16 */
        0x000AE398u, /* 1e-39, subnormal */
        0x7F61D5A7u, /* 3e38 */
        0xB3D6BF95u, /* -1e-7 */
    };
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    uint16_t *q = malloc(n * 2);
    ck_assert(x && y && q);
    for (size_t k = 0; k < sizeof inputs / sizeof inputs[0]; k++) {
        float v = llmrt_f32_from_bits(inputs[k]);
        for (uint32_t i = 0; i < n; i++) x[i] = v;
        ck_assert_int_eq(f->encode(f, q, x, n, NULL, LLMRT_ROUND_STOCHASTIC, 1000 + k), LLMRT_OK);
        ck_assert_int_eq(f->decode(f, y, q, n, NULL), LLMRT_OK);
        double lo = llmrt_bf16_to_f32((uint16_t)(inputs[k] >> 16));
        double hi = llmrt_bf16_to_f32((uint16_t)((inputs[k] >> 16) + 1));
        double sum = 0, ulp = fabs(hi - lo);
        for (uint32_t i = 0; i < n; i++) sum += y[i];
        double mean = sum / n, p = (double)(inputs[k] & 0xFFFFu) / 65536.0;
        double se = ulp * sqrt(p * (1 - p) / n);
        ck_assert_msg(fabs(mean - (double)v) <= 5 * se,
                      "SR of %.9g: mean of %u draws %.12g, off by %.3g standard errors", v, n,
                      mean, (mean - (double)v) / se);
    }
    free(x), free(y), free(q);
}
END_TEST

START_TEST(sr_neighbours_exact_values_and_specials)
{
    const llmrt_format *f = qt_format("bf16", NULL);
    float *x = malloc(SR_N * sizeof *x);
    uint16_t *q = malloc(SR_N * 2);
    ck_assert(x && q);
    /* NaNs and infinities too */
    for (uint32_t i = 0; i < SR_N; i++) x[i] = llmrt_f32_from_bits(rnd32());
    x[0] = INFINITY, x[1] = -INFINITY, x[2] = 0.0f, x[3] = -0.0f, x[4] = NAN;
    x[5] = llmrt_f32_from_bits(0x7F7FFFFFu); /* FLT_MAX: to the bf16 maximum or infinity */
    x[6] = llmrt_f32_from_bits(0x3F810000u); /* exact */
    for (uint64_t seed = 0; seed < 8; seed++) {
        ck_assert_int_eq(f->encode(f, q, x, SR_N, NULL, LLMRT_ROUND_STOCHASTIC, seed), LLMRT_OK);
        for (uint32_t i = 0; i < SR_N; i++) {
            uint32_t u = llmrt_f32_bits(x[i]);
            uint16_t below = (uint16_t)(u >> 16); /* toward zero; +1 is away from zero */
            if (isnan(x[i])) {
                ck_assert_msg(q[i] == 0x7FC0u, "NaN 0x%08x -> 0x%04x", u, q[i]);
            } else if ((u & 0xFFFFu) == 0) {
                ck_assert_msg(q[i] == below, "exact 0x%08x changed to 0x%04x", u, q[i]);
            } else {
                ck_assert_msg(q[i] == below || q[i] == (uint16_t)(below + 1),
                              "0x%08x -> 0x%04x is not a neighbour", u, q[i]);
            }
        }
    }
    free(x), free(q);
}
END_TEST

/* ==== int8 (convert.h rule 4) ==== */

/* The formula, written out: effective scale, fp32 inverse, round half to
 * even by hand, clamp, NaN to 0. */
static int ref_q(float x, float s)
{
    float a = fabsf(s), eff = a > 0x1p-23f ? a : 0x1p-23f;
    float inv = 1.0f / eff;
    float v = x * inv;
    if (isnan(v)) return 0;
    if (v >= 127.0f) return 127;
    if (v <= -127.0f) return -127;
    float fl = floorf(v), d = v - fl; /* exact for |v| < 2^23 */
    int q = (int)fl;
    if (d > 0.5f || (d == 0.5f && (q & 1))) q++;
    return q < -127 ? -127 : q > 127 ? 127 : q;
}

static float ref_dq(int q, float s)
{
    float a = fabsf(s);
    return (float)q * (a > 0x1p-23f ? a : 0x1p-23f);
}

START_TEST(int8_ties_clamping_nan_and_scale_floor)
{
    const llmrt_format *f = qt_format("int8", NULL);
    static const struct { float x, s; int q; } cases[] = {
        {0.625f, 0.25f, 2},   {0.875f, 0.25f, 4},  {-0.625f, 0.25f, -2}, {-0.875f, 0.25f, -4},
        {0.125f, 0.25f, 0},   {0.375f, 0.25f, 2},  {-0.125f, 0.25f, 0},  {31.875f, 0.25f, 127},
        {1e6f, 0.5f, 127},    {-1e6f, 0.5f, -127}, {63.75f, 0.5f, 127},  {-63.75f, 0.5f, -127},
        {-63.25f, 0.5f, -126}, {INFINITY, 1.0f, 127}, {-INFINITY, 1.0f, -127},
        {NAN, 1.0f, 0},       {-NAN, 0.01f, 0},
        {3 * 0x1p-23f, 0.0f, 3},     /* scale 0 -> eps */
        {3 * 0x1p-23f, 1e-30f, 3},   /* below eps -> eps */
        {-5 * 0x1p-23f, -0.0f, -5},
        {1.0f, -0.5f, 2},            /* |s| */
        {0.0f, 0.1f, 0},      {-0.0f, 0.1f, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int8_t q = 99;
        float y = 99, s = cases[i].s;
        ck_assert_int_eq(f->encode(f, &q, &cases[i].x, 1, &s, LLMRT_ROUND_NEAREST_EVEN, 0),
                         LLMRT_OK);
        ck_assert_msg(q == cases[i].q, "x %.9g scale %.9g: q %d, expected %d", cases[i].x, s, q,
                      cases[i].q);
        ck_assert_int_eq(ref_q(cases[i].x, s), cases[i].q);
        ck_assert_int_eq(llmrt_f32_to_i8(cases[i].x, s), cases[i].q);
        ck_assert_int_eq(f->decode(f, &y, &q, 1, &s), LLMRT_OK);
        ck_assert_uint_eq(llmrt_f32_bits(y), llmrt_f32_bits(ref_dq(q, s)));
    }
    ck_assert_int_eq(f->qmin, -127);
    ck_assert_int_eq(f->qmax, 127);
}
END_TEST

/* One matrix layout: every element against the formula, through
 * encode_matrix/decode_matrix; for axis -1 also through encode/decode. */
static void check_matrix(const llmrt_format *f, int64_t rows, int64_t cols, int axis)
{
    size_t n = (size_t)(rows * cols);
    size_t n_scales = axis == 0 ? (size_t)rows : axis == 1 ? (size_t)cols : 1;
    float *x = malloc(n * sizeof *x + 1), *y = malloc(n * sizeof *y + 1);
    float *scales = malloc(n_scales * sizeof *scales);
    int8_t *q = malloc(n + 1), *q2 = malloc(n + 1);
    ck_assert(x && y && scales && q && q2);
    for (size_t i = 0; i < n_scales; i++) {
        uint32_t kind = rnd32() % 16;
        scales[i] = kind == 0 ? 0.0f : kind == 1 ? -0.03f : kind == 2 ? 1e-30f
                                                          : 0.001f + (float)rnd32() * 0x1p-36f;
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            float s = scales[axis == 0 ? r : axis == 1 ? c : 0];
            float v = rnd_normalish() * 60.0f * fabsf(s);
            uint32_t kind = rnd32() % 64;
            if (kind == 0) v = NAN;
            if (kind == 1) v = 1e4f * fabsf(s) + 1.0f;         /* clamps */
            if (kind == 2) v = ((float)(rnd32() % 200) - 100.0f + 0.5f) * 0.0625f; /* maybe a tie */
            x[r * cols + c] = v;
        }
    ck_assert_int_eq(f->encode_matrix(f, q, x, rows, cols, axis, scales), LLMRT_OK);
    ck_assert_int_eq(f->decode_matrix(f, y, q, rows, cols, axis, scales), LLMRT_OK);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            size_t i = (size_t)(r * cols + c);
            float s = scales[axis == 0 ? r : axis == 1 ? c : 0];
            ck_assert_msg(q[i] == ref_q(x[i], s), "axis %d [%lld,%lld] x %.9g s %.9g: q %d, "
                          "expected %d", axis, (long long)r, (long long)c, x[i], s, q[i],
                          ref_q(x[i], s));
            ck_assert_uint_eq(llmrt_f32_bits(y[i]), llmrt_f32_bits(ref_dq(q[i], s)));
        }
    if (axis == -1) {
        float *y2 = malloc(n * sizeof *y2 + 1);
        ck_assert_ptr_nonnull(y2);
        ck_assert_int_eq(f->encode(f, q2, x, n, scales, LLMRT_ROUND_NEAREST_EVEN, 0), LLMRT_OK);
        ck_assert_int_eq(memcmp(q, q2, n), 0);
        ck_assert_int_eq(f->decode(f, y2, q2, n, scales), LLMRT_OK);
        ck_assert_int_eq(memcmp(y, y2, n * sizeof *y), 0);
        free(y2);
    }
    free(x), free(y), free(scales), free(q), free(q2);
}

START_TEST(int8_per_tensor_row_column)
{
    const llmrt_format *f = qt_format("int8", NULL);
    static const int64_t shapes[][2] = {{1, 1}, {7, 13}, {64, 48}, {3, 257}, {0, 5}, {5, 0}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (int axis = -1; axis <= 1; axis++) check_matrix(f, shapes[k][0], shapes[k][1], axis);
    /* The axis picks the scale: a 2 x 3 matrix of ones. */
    float ones[6] = {1, 1, 1, 1, 1, 1}, s_row[2] = {0.5f, 0.25f}, s_col[3] = {0.5f, 0.25f, 0.125f};
    int8_t q[6];
    ck_assert_int_eq(f->encode_matrix(f, q, ones, 2, 3, 0, s_row), LLMRT_OK);
    ck_assert(q[0] == 2 && q[1] == 2 && q[2] == 2 && q[3] == 4 && q[4] == 4 && q[5] == 4);
    ck_assert_int_eq(f->encode_matrix(f, q, ones, 2, 3, 1, s_col), LLMRT_OK);
    ck_assert(q[0] == 2 && q[1] == 4 && q[2] == 8 && q[3] == 2 && q[4] == 4 && q[5] == 8);
}
END_TEST

/* ==== descriptors ==== */

typedef struct expected_format {
    const char *name;
    llmrt_dtype storage;
    int bits, exponent_bits, fraction_bits, is_integer;
    int loss_scaling, masters, sr, qmin, qmax, has_matrix;
    double max_finite, min_normal, epsilon;
} expected_format;

static const expected_format expected[] = {
    {"fp32", LLMRT_DTYPE_F32, 32, 8, 23, 0, 0, 0, 0, 0, 0, 0, FLT_MAX, FLT_MIN, FLT_EPSILON},
    {"fp16", LLMRT_DTYPE_F16, 16, 5, 10, 0, 1, 1, 0, 0, 0, 0, 65504.0, 0x1p-14, 0x1p-10},
    {"bf16", LLMRT_DTYPE_BF16, 16, 8, 7, 0, 0, 1, 1, 0, 0, 0, 0x1.FEp127, 0x1p-126, 0x1p-7},
    {"int8", LLMRT_DTYPE_I8, 8, 0, 7, 1, 0, 0, 0, -127, 127, 1, 127.0, 1.0, 1.0},
};

START_TEST(descriptors)
{
    for (size_t k = 0; k < sizeof expected / sizeof expected[0]; k++) {
        const expected_format *e = &expected[k];
        const char *file = NULL;
        const llmrt_format *f = qt_format(e->name, &file);
        if (k == 0) {
            ck_assert_msg(file == NULL, "fp32 should be built in, came from %s", file);
        } else {
            ck_assert_ptr_nonnull(file);
            ck_assert_msg(strstr(file, "llmrt-format-quant.so"), "%s from %s", e->name, file);
        }
        ck_assert_uint_eq(f->struct_size, sizeof(llmrt_format));
        ck_assert_str_eq(f->name, e->name);
        ck_assert_int_eq(f->storage, e->storage);
        ck_assert_int_eq(f->bits, e->bits);
        ck_assert_uint_eq(llmrt_dtype_size(f->storage) * 8, (size_t)f->bits);
        ck_assert_int_eq(f->exponent_bits, e->exponent_bits);
        ck_assert_int_eq(f->fraction_bits, e->fraction_bits);
        ck_assert_int_eq(f->is_integer, e->is_integer);
        ck_assert_uint_eq(f->block_size, 0);
        ck_assert_int_eq(f->needs_loss_scaling, e->loss_scaling);
        ck_assert_int_eq(f->needs_master_weights, e->masters);
        ck_assert_int_eq(f->stochastic_rounding, e->sr);
        ck_assert_int_eq(f->qmin, e->qmin);
        ck_assert_int_eq(f->qmax, e->qmax);
        ck_assert_int_eq(f->encode_matrix != NULL, e->has_matrix);
        ck_assert_int_eq(f->decode_matrix != NULL, e->has_matrix);
        ck_assert_ptr_nonnull(f->encode);
        ck_assert_ptr_nonnull(f->decode);
        ck_assert_msg(f->max_finite == e->max_finite, "%s max %.17g", e->name, f->max_finite);
        ck_assert_msg(f->min_normal == e->min_normal, "%s min normal %.17g", e->name,
                      f->min_normal);
        ck_assert_msg(f->epsilon == e->epsilon, "%s epsilon %.17g", e->name, f->epsilon);
        if (!f->is_integer) {
            /* The IEEE relations between the fields, and the values encode
             * to the right bits and back. */
            int bias = (1 << (f->exponent_bits - 1)) - 1;
            ck_assert(f->epsilon == ldexp(1.0, -f->fraction_bits));
            ck_assert(f->min_normal == ldexp(1.0, 1 - bias));
            ck_assert(f->max_finite == ldexp(2.0 - f->epsilon, bias));
            float v[3] = {(float)f->max_finite, (float)f->min_normal, 1.0f + (float)f->epsilon};
            float back[3];
            uint8_t enc[3 * 4];
            ck_assert_int_eq(f->encode(f, enc, v, 3, NULL, LLMRT_ROUND_NEAREST_EVEN, 0), LLMRT_OK);
            ck_assert_int_eq(f->decode(f, back, enc, 3, NULL), LLMRT_OK);
            ck_assert_int_eq(memcmp(v, back, sizeof v), 0);
        }
    }
}
END_TEST

/* ==== bad arguments ==== */

static void expect_invalid(int rc, const char *needle1, const char *needle2)
{
    ck_assert_int_eq(rc, LLMRT_ERR_INVALID);
    const char *msg = qt_last_error();
    ck_assert_msg(strstr(msg, needle1) && strstr(msg, needle2), "message '%s' lacks '%s'/'%s'",
                  msg, needle1, needle2);
}

START_TEST(bad_arguments)
{
    const llmrt_format *fp16 = qt_format("fp16", NULL), *bf16 = qt_format("bf16", NULL);
    const llmrt_format *int8 = qt_format("int8", NULL);
    float x[4] = {1, 2, 3, 4}, s = 0.5f;
    uint16_t h[4];
    int8_t q[4];
    expect_invalid(fp16->encode(fp16, h, x, 4, NULL, LLMRT_ROUND_STOCHASTIC, 1), "fp16",
                   "stochastic");
    expect_invalid(bf16->encode(bf16, h, x, 4, NULL, (llmrt_rounding)7, 1), "bf16",
                   "unknown rounding mode 7");
    expect_invalid(int8->encode(int8, q, x, 4, &s, LLMRT_ROUND_STOCHASTIC, 1), "int8",
                   "rounding");
    expect_invalid(int8->encode(int8, q, x, 4, NULL, LLMRT_ROUND_NEAREST_EVEN, 0), "int8",
                   "scales");
    expect_invalid(int8->decode(int8, x, q, 4, NULL), "int8", "scales");
    expect_invalid(int8->encode_matrix(int8, q, x, 2, 2, 2, &s), "int8", "axis 2");
    expect_invalid(int8->decode_matrix(int8, x, q, 2, 2, -2, &s), "int8", "axis -2");
    expect_invalid(int8->encode_matrix(int8, q, x, -1, 2, 0, &s), "int8", "negative");
    expect_invalid(int8->encode_matrix(int8, q, x, 2, 2, 0, NULL), "int8", "scales");
    expect_invalid(bf16->encode(bf16, NULL, x, 4, NULL, LLMRT_ROUND_NEAREST_EVEN, 0), "bf16",
                   "NULL");
    expect_invalid(fp16->decode(fp16, x, NULL, 4, NULL), "fp16", "NULL");
    /* Nothing to do is not an error. */
    ck_assert_int_eq(bf16->encode(bf16, NULL, NULL, 0, NULL, LLMRT_ROUND_STOCHASTIC, 0), LLMRT_OK);
}
END_TEST

static Suite *quant_suite(void)
{
    Suite *s = suite_create("format_quant");
    const TTest *sr[] = {sr_reproducible_and_independent_of_chunking, sr_seeds_differ,
                         sr_unbiased, sr_neighbours_exact_values_and_specials};
    const TTest *i8[] = {int8_ties_clamping_nan_and_scale_floor, int8_per_tensor_row_column};
    const TTest *d[] = {descriptors, bad_arguments};
    QT_ADD_TCASE(s, "stochastic_rounding", 600, sr);
    QT_ADD_TCASE(s, "int8", 0, i8);
    QT_ADD_TCASE(s, "descriptors", 0, d);
    return s;
}

int main(void) { return qt_run_suite(quant_suite()); }
