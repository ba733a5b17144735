/* test_e5m2.c — the SDK example format, loaded through the registry like any
 * third-party plugin, checked bit for bit.
 *
 * By default it loads the copy built in the tree (tests/loader/e5m2/.libs);
 * test_sdk_install.sh runs it again with E5M2_PLUGIN_DIR set to the copy it
 * built out of tree against the installed SDK. */
#define _GNU_SOURCE /* asprintf */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/llmrt.h>
#include "error.h"
#include "host_api.h"
#include "registry.h"

static const llmrt_format *fmt;

static void load_e5m2(void)
{
    char *dir = NULL;
    const char *env = getenv("E5M2_PLUGIN_DIR");
    if (env) dir = strdup(env);
    else if (asprintf(&dir, "%s/loader/e5m2/.libs",
                      getenv("LLMRT_TEST_BUILDDIR") ? getenv("LLMRT_TEST_BUILDDIR") : "tests") < 0)
        dir = NULL;
    ck_assert_ptr_nonnull(dir);
    unsetenv("LLMRT_PLUGIN_PATH");
    llmrt_registry_reset();
    ck_assert_int_eq(llmrt_registry_init(dir), LLMRT_OK);
    const llmrt_component *comp = NULL;
    const char *file = NULL;
    int rc = llmrt_registry_find(LLMRT_KIND_FORMAT, "e5m2", &comp, &file);
    ck_assert_msg(rc == LLMRT_OK, "%s", llmrt_last_error());
    ck_assert_ptr_nonnull(strstr(file, dir));
    fmt = comp->vtable;
    free(dir);
}

static uint8_t enc(float x)
{
    uint8_t b = 0xaa;
    ck_assert_int_eq(fmt->encode(fmt, &b, &x, 1, NULL, LLMRT_ROUND_NEAREST_EVEN, 0), LLMRT_OK);
    return b;
}

static float dec(uint8_t b)
{
    float x = -1234.0f;
    ck_assert_int_eq(fmt->decode(fmt, &x, &b, 1, NULL), LLMRT_OK);
    return x;
}

START_TEST(descriptor)
{
    ck_assert_str_eq(fmt->name, "e5m2");
    ck_assert_int_eq(fmt->storage, LLMRT_DTYPE_U8);
    ck_assert_int_eq(fmt->bits, 8);
    ck_assert_int_eq(fmt->exponent_bits, 5);
    ck_assert_int_eq(fmt->fraction_bits, 2);
    ck_assert_int_eq(fmt->is_integer, 0);
    ck_assert_uint_eq(fmt->block_size, 0);
    ck_assert(fmt->max_finite == 57344.0);
    ck_assert(fmt->min_normal == ldexp(1.0, -14));
    ck_assert(fmt->epsilon == 0.25);
    /* The host's format lookup finds it too. */
    ck_assert_ptr_eq(llmrt_host_api_get()->format_lookup("e5m2"), fmt);
}
END_TEST

START_TEST(encode_values)
{
    static const struct {
        float x;
        uint8_t bits;
    } v[] = {
        {0.0f, 0x00},        {-0.0f, 0x80},       {1.0f, 0x3c},        {-2.0f, 0xc0},
        {0.5f, 0x38},        {1.25f, 0x3d},       {1.5f, 0x3e},        {1.75f, 0x3f},
        {57344.0f, 0x7b},    {-57344.0f, 0xfb},   {6.103515625e-05f, 0x04}, /* 2^-14 */
        {1.52587890625e-05f, 0x01},               /* 2^-16, smallest subnormal */
        {4.57763671875e-05f, 0x03},               /* 3 * 2^-16 */
        /* ties go to even */
        {1.125f, 0x3c},      {1.375f, 0x3e},      {-1.625f, 0xbe},     {1.875f, 0x40},
        {7.62939453125e-06f, 0x00},               /* 2^-17: tie between 0 and 2^-16 */
        {2.288818359375e-05f, 0x02},              /* 1.5 * 2^-16: tie, to even (2) */
        {5.340576171875e-05f, 0x04},              /* 3.5 * 2^-16: tie, up to 2^-14 */
        /* nearest */
        {1.1f, 0x3c},        {1.2f, 0x3d},        {3.0f, 0x42},        {1000.0f, 0x64},
        {1e-7f, 0x00},       {-1e-30f, 0x80},
        /* overflow: below the tie with "65536" stays finite, the tie goes to inf */
        {60000.0f, 0x7b},    {61439.99f, 0x7b},   {61440.0f, 0x7c},    {1e10f, 0x7c},
        {-70000.0f, 0xfc},   {INFINITY, 0x7c},    {-INFINITY, 0xfc},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        ck_assert_msg(enc(v[i].x) == v[i].bits, "encode(%a) = 0x%02x, expected 0x%02x", v[i].x,
                      enc(v[i].x), v[i].bits);
    ck_assert(isnan(dec(enc(NAN))));
    ck_assert(signbit(dec(enc(-NAN))));
    ck_assert_uint_eq(enc(NAN) & 0x7c, 0x7c);
}
END_TEST

START_TEST(decode_is_exact_and_round_trips)
{
    uint8_t all[256];
    float x[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    ck_assert_int_eq(fmt->decode(fmt, x, all, 256, NULL), LLMRT_OK);
    ck_assert(x[0x3c] == 1.0f);
    ck_assert(x[0x01] == ldexpf(1.0f, -16));
    ck_assert(x[0x7b] == 57344.0f);
    ck_assert(x[0xfb] == -57344.0f);
    ck_assert(isinf(x[0x7c]) && x[0x7c] > 0);
    ck_assert(isinf(x[0xfc]) && x[0xfc] < 0);
    for (int i = 0; i < 256; i++) {
        int exp = (i >> 2) & 0x1f, frac = i & 3;
        if (exp == 0x1f && frac) {
            ck_assert_msg(isnan(x[i]), "0x%02x should be NaN", i);
            continue;
        }
        /* The exact value from the definition. */
        double want = exp ? ldexp(1.0 + frac / 4.0, exp - 15) : ldexp(frac / 4.0, -14);
        if (exp == 0x1f) want = INFINITY;
        if (i & 0x80) want = -want;
        ck_assert_msg(x[i] == (float)want, "decode(0x%02x) = %a, expected %a", i, x[i], want);
        ck_assert_msg(enc(x[i]) == i, "encode(decode(0x%02x)) = 0x%02x", i, enc(x[i]));
    }
    /* Quiet NaNs keep their payload bit and sign. */
    ck_assert_uint_eq(enc(x[0x7e]), 0x7e);
    ck_assert_uint_eq(enc(x[0x7f]), 0x7f);
    ck_assert_uint_eq(enc(x[0xff]), 0xff);
}
END_TEST

START_TEST(stochastic_rounding)
{
    enum { N = 20000 };
    float *src = malloc(N * sizeof *src), *back = malloc(N * sizeof *back);
    uint8_t *q = malloc(N), *q2 = malloc(N);
    ck_assert(src && back && q && q2);
    for (int i = 0; i < N; i++) src[i] = 1.1f;
    ck_assert_int_eq(fmt->encode(fmt, q, src, N, NULL, LLMRT_ROUND_STOCHASTIC, 7), LLMRT_OK);
    ck_assert_int_eq(fmt->decode(fmt, back, q, N, NULL), LLMRT_OK);
    double sum = 0;
    for (int i = 0; i < N; i++) {
        ck_assert(back[i] == 1.0f || back[i] == 1.25f); /* only the two neighbours */
        sum += back[i];
    }
    ck_assert_msg(fabs(sum / N - 1.1) < 0.01, "mean %g, expected about 1.1", sum / N);
    /* Reproducible from the seed; another seed gives another draw. */
    ck_assert_int_eq(fmt->encode(fmt, q2, src, N, NULL, LLMRT_ROUND_STOCHASTIC, 7), LLMRT_OK);
    ck_assert_int_eq(memcmp(q, q2, N), 0);
    ck_assert_int_eq(fmt->encode(fmt, q2, src, N, NULL, LLMRT_ROUND_STOCHASTIC, 8), LLMRT_OK);
    ck_assert_int_ne(memcmp(q, q2, N), 0);
    /* Representable values are never moved. */
    for (int i = 0; i < N; i++) src[i] = (i & 1) ? -1.5f : 0.25f;
    ck_assert_int_eq(fmt->encode(fmt, q, src, N, NULL, LLMRT_ROUND_STOCHASTIC, 3), LLMRT_OK);
    for (int i = 0; i < N; i++) ck_assert_uint_eq(q[i], (i & 1) ? 0xbe : 0x34);
    free(src);
    free(back);
    free(q);
    free(q2);
}
END_TEST

START_TEST(bad_rounding_mode_is_reported)
{
    float x = 1.0f;
    uint8_t b;
    llmrt_error_clear();
    ck_assert_int_eq(fmt->encode(fmt, &b, &x, 1, NULL, (llmrt_rounding)9, 0), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(llmrt_last_error(), "e5m2: unknown rounding mode 9"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("e5m2");
    TCase *t = tcase_create("format");
    tcase_add_checked_fixture(t, load_e5m2, NULL);
    tcase_add_test(t, descriptor);
    tcase_add_test(t, encode_values);
    tcase_add_test(t, decode_is_exact_and_round_trips);
    tcase_add_test(t, stochastic_rounding);
    tcase_add_test(t, bad_rounding_mode_is_reported);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
