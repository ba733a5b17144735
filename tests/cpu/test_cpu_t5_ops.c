/* test_cpu_t5_ops.c — the cpu backend's ABI 1.2 elementwise kernels for the
 * T5 feed-forwards: relu_forward, relu_backward and mul, in f32, f16 and
 * bf16.
 *
 * Each kernel is checked bit for bit against a naive loop written here from
 * the contract in llmrt/compute.h: widen the operands (convert.h), compute
 * one float operation, round the stored result with convert.h's
 * nearest-even. The inputs include the values where a ReLU can go wrong
 * (+-0, +-inf, NaN, the smallest subnormals) and a length that splits over
 * two threads with a remainder. Also: in-place calls (out aliasing an
 * input), backward adding into what dinp held (rule 8), the same bits with 1
 * and 2 threads, and LLMRT_ERR_UNSUPPORTED naming the kernel and the dtype.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <llmrt/convert.h>

#include "cpu_test_util.h"

/* 100003 elements: above 2 * CPU_PAR_MIN (two threads) and not a multiple of
 * the 16-element split or the 1024-element 16-bit block. */
#define N_BIG 100003
#define N_SMALL 37

static const llmrt_dtype dtypes[] = {LLMRT_DTYPE_F32, LLMRT_DTYPE_F16, LLMRT_DTYPE_BF16};

static const char *dname(llmrt_dtype t)
{
    return t == LLMRT_DTYPE_F32 ? "f32" : t == LLMRT_DTYPE_F16 ? "f16" : "bf16";
}

/* Element i of a buffer of dtype t, widened; and x rounded into it. */
static float get(llmrt_dtype t, const void *p, size_t i)
{
    if (t == LLMRT_DTYPE_F16) return llmrt_f16_to_f32(((const uint16_t *)p)[i]);
    if (t == LLMRT_DTYPE_BF16) return llmrt_bf16_to_f32(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

static void put(llmrt_dtype t, void *p, size_t i, float x)
{
    if (t == LLMRT_DTYPE_F16) ((uint16_t *)p)[i] = llmrt_f32_to_f16(x);
    else if (t == LLMRT_DTYPE_BF16) ((uint16_t *)p)[i] = llmrt_f32_to_bf16(x);
    else ((float *)p)[i] = x;
}

/* A device buffer of n values of dtype t: random in [-4, 4), with the
 * special values at the front. */
static void *input(llmrt_dtype t, size_t n)
{
    static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN,
                                    1e-45f, -1e-45f, 6e-8f, -6e-8f, 1.0f, -1.0f};
    void *p = dbuf(n * llmrt_dtype_size(t));
    size_t ns = sizeof special / sizeof special[0];
    for (size_t i = 0; i < n; i++) put(t, p, i, i < ns ? special[i] : frand(-4.0f, 4.0f));
    return p;
}

static void *copy_of(llmrt_dtype t, const void *p, size_t n)
{
    void *q = dbuf(n * llmrt_dtype_size(t));
    memcpy(q, p, n * llmrt_dtype_size(t));
    return q;
}

/* The naive loops (compute.h's contract, one element at a time). */
static void relu_ref(llmrt_dtype t, void *out, const void *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = get(t, inp, i);
        put(t, out, i, x < 0.0f ? 0.0f : x);
    }
}

static void relu_bwd_ref(llmrt_dtype t, void *dinp, const void *inp, const void *dout, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float g = get(t, dinp, i);
        if (get(t, inp, i) > 0.0f) g += get(t, dout, i);
        put(t, dinp, i, g);
    }
}

static void mul_ref(llmrt_dtype t, void *out, const void *a, const void *b, size_t n)
{
    for (size_t i = 0; i < n; i++) put(t, out, i, get(t, a, i) * get(t, b, i));
}

static void expect_bits(const char *what, llmrt_dtype t, const void *got, const void *ref,
                        size_t n)
{
    char label[96];
    snprintf(label, sizeof label, "%s %s (n=%zu)", what, dname(t), n);
    expect_same(label, got, ref, n * llmrt_dtype_size(t));
}

static void setup(void) { cpu_setup(20261126, "2"); }

START_TEST(test_relu_forward)
{
    const size_t sizes[] = {N_SMALL, N_BIG};
    for (size_t d = 0; d < 3; d++)
        for (size_t s = 0; s < 2; s++) {
            llmrt_dtype t = dtypes[d];
            size_t n = sizes[s], es = llmrt_dtype_size(t);
            void *x = input(t, n), *y = dbuf(n * es), *ref = dbuf(n * es);
            relu_ref(t, ref, x, n);
            ck_assert_int_eq(vt->relu_forward(ctx, y, x, n, t), LLMRT_OK);
            expect_bits("relu_forward", t, y, ref, n);
            /* ReLU of a representable value is representable: no rounding. */
            for (size_t i = 12; i < n; i++) {
                float xi = get(t, x, i);
                ck_assert(get(t, y, i) == (xi > 0.0f ? xi : 0.0f));
            }
            ck_assert(isnan(get(t, y, 4))); /* NaN propagates */
            void *xi = copy_of(t, x, n);    /* in place */
            ck_assert_int_eq(vt->relu_forward(ctx, xi, xi, n, t), LLMRT_OK);
            expect_bits("relu_forward in place", t, xi, ref, n);
        }
}
END_TEST

START_TEST(test_relu_backward)
{
    const size_t sizes[] = {N_SMALL, N_BIG};
    for (size_t d = 0; d < 3; d++)
        for (size_t s = 0; s < 2; s++) {
            llmrt_dtype t = dtypes[d];
            size_t n = sizes[s];
            void *x = input(t, n), *dy = input(t, n), *dx = input(t, n);
            void *ref = copy_of(t, dx, n);
            relu_bwd_ref(t, ref, x, dy, n);
            ck_assert_int_eq(vt->relu_backward(ctx, dx, x, dy, n, t), LLMRT_OK);
            expect_bits("relu_backward", t, dx, ref, n);
        }
}
END_TEST

START_TEST(test_relu_backward_zero_start)
{
    /* From a zeroed dinp the gradient is exactly dout where x > 0, else 0:
     * x = +-0 and NaN pass none (the subgradient PyTorch uses at 0). */
    for (size_t d = 0; d < 3; d++) {
        llmrt_dtype t = dtypes[d];
        size_t n = N_BIG, es = llmrt_dtype_size(t);
        void *x = input(t, n), *dy = input(t, n), *dx = dbuf(n * es);
        memset(dx, 0, n * es);
        ck_assert_int_eq(vt->relu_backward(ctx, dx, x, dy, n, t), LLMRT_OK);
        for (size_t i = 0; i < n; i++) {
            float want = get(t, x, i) > 0.0f ? get(t, dy, i) : 0.0f;
            float got = get(t, dx, i);
            ck_assert_msg(got == want || (isnan(got) && isnan(want)),
                          "relu_backward %s[%zu]: x %g dout %g: got %g, want %g", dname(t), i,
                          (double)get(t, x, i), (double)get(t, dy, i), (double)got,
                          (double)want);
        }
    }
}
END_TEST

START_TEST(test_mul)
{
    const size_t sizes[] = {N_SMALL, N_BIG};
    for (size_t d = 0; d < 3; d++)
        for (size_t s = 0; s < 2; s++) {
            llmrt_dtype t = dtypes[d];
            size_t n = sizes[s], es = llmrt_dtype_size(t);
            void *a = input(t, n), *b = input(t, n), *y = dbuf(n * es), *ref = dbuf(n * es);
            mul_ref(t, ref, a, b, n);
            ck_assert_int_eq(vt->mul(ctx, y, a, b, n, t), LLMRT_OK);
            expect_bits("mul", t, y, ref, n);
            void *a2 = copy_of(t, a, n), *b2 = copy_of(t, b, n);
            ck_assert_int_eq(vt->mul(ctx, a2, a2, b, n, t), LLMRT_OK); /* out = a */
            expect_bits("mul out=a", t, a2, ref, n);
            ck_assert_int_eq(vt->mul(ctx, b2, a, b2, n, t), LLMRT_OK); /* out = b */
            expect_bits("mul out=b", t, b2, ref, n);
        }
}
END_TEST

START_TEST(test_threads)
{
    void *c1 = create_with("1");
    for (size_t d = 0; d < 3; d++) {
        llmrt_dtype t = dtypes[d];
        size_t n = N_BIG, es = llmrt_dtype_size(t);
        void *x = input(t, n), *b = input(t, n), *dy = input(t, n);
        void *y1 = dbuf(n * es), *y2 = dbuf(n * es), *m1 = dbuf(n * es), *m2 = dbuf(n * es);
        void *dx1 = input(t, n), *dx2 = copy_of(t, dx1, n);
        ck_assert_int_eq(vt->relu_forward(c1, y1, x, n, t), LLMRT_OK);
        ck_assert_int_eq(vt->relu_forward(ctx, y2, x, n, t), LLMRT_OK);
        ck_assert_int_eq(vt->relu_backward(c1, dx1, x, dy, n, t), LLMRT_OK);
        ck_assert_int_eq(vt->relu_backward(ctx, dx2, x, dy, n, t), LLMRT_OK);
        ck_assert_int_eq(vt->mul(c1, m1, x, b, n, t), LLMRT_OK);
        ck_assert_int_eq(vt->mul(ctx, m2, x, b, n, t), LLMRT_OK);
        expect_bits("relu_forward 1 vs 2 threads", t, y1, y2, n);
        expect_bits("relu_backward 1 vs 2 threads", t, dx1, dx2, n);
        expect_bits("mul 1 vs 2 threads", t, m1, m2, n);
    }
    free_bufs();
    vt->destroy(c1);
}
END_TEST

START_TEST(test_unsupported)
{
    void *p = dbuf(64);
    int rc = vt->relu_forward(ctx, p, p, 4, LLMRT_DTYPE_I32);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "relu_forward", "i32", NULL);
    rc = vt->relu_backward(ctx, p, p, p, 4, LLMRT_DTYPE_I8);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "relu_backward", "i8", NULL);
    rc = vt->mul(ctx, p, p, p, 4, LLMRT_DTYPE_U16);
    expect_error(rc, LLMRT_ERR_UNSUPPORTED, "mul", "u16", NULL);
}
END_TEST

int main(void)
{
    if (cpu_load_plugin("test_cpu_t5_ops")) return 1;
    if (!LLMRT_HAS(vt, vt->struct_size, relu_forward) ||
        !LLMRT_HAS(vt, vt->struct_size, relu_backward) || !LLMRT_HAS(vt, vt->struct_size, mul)) {
        fprintf(stderr, "test_cpu_t5_ops: the cpu plugin lacks the ABI 1.2 kernels\n");
        return 1;
    }
    Suite *s = suite_create("cpu_t5_ops");
    const cpu_test tests[] = {
        {"relu_forward", test_relu_forward},
        {"relu_backward", test_relu_backward},
        {"relu_backward_zero_start", test_relu_backward_zero_start},
        {"mul", test_mul},
        {"threads", test_threads},
        {"unsupported", test_unsupported},
    };
    cpu_add_tests(s, tests, sizeof tests / sizeof tests[0], setup, 60);
    return cpu_run_suite(s);
}
