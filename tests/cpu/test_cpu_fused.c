/* test_cpu_fused.c — the cpu backend's fused kernels of ABI 1.2 against the
 * unfused calls they replace, bit for bit:
 *  - gemm with LLMRT_EPILOGUE_GELU (tanh and erf; with and without pre_gelu;
 *    beta 0, which writes the product into pre_gelu, and beta != 0, which
 *    copies it there; packed and padded rows; a batched product; f32 and
 *    bf16) equals gemm with no epilogue followed by gelu_forward;
 *  - adamw with params_out (bf16 nearest-even, bf16 stochastic, f16; grads
 *    f32, bf16 and f16; an n that leaves remainders in the thread split and
 *    in the 1024-element blocks) equals adamw followed by convert_ex with
 *    the same rounding, seed and offset: params, m, v and params_out;
 *  - caps advertise both; bad epilogues and roundings are refused.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <llmrt/convert.h>

#include "cpu_test_util.h"

static void setup(void) { cpu_setup(20260512, "2"); }

static size_t esize(llmrt_dtype t) { return llmrt_dtype_size(t); }

/* n random values in [lo, hi) stored as t. */
static void *rand_buf(llmrt_dtype t, size_t n, float lo, float hi)
{
    float *x = rbuf(n, lo, hi);
    if (t == LLMRT_DTYPE_F32) return x;
    uint16_t *h = dbuf(n * sizeof *h);
    for (size_t i = 0; i < n; i++)
        h[i] = t == LLMRT_DTYPE_BF16 ? llmrt_f32_to_bf16(x[i]) : llmrt_f32_to_f16(x[i]);
    return h;
}

static void *copy_buf(const void *x, size_t bytes)
{
    void *y = dbuf(bytes);
    memcpy(y, x, bytes);
    return y;
}

/* ------------------------------------------------------------------------ */
/* gemm + GELU epilogue                                                      */

typedef struct gelu_case {
    llmrt_dtype t;
    llmrt_gelu_kind kind;
    int pre;        /* ask for pre_gelu */
    float beta;
    int64_t pad;    /* ldc = n + pad */
    int64_t batch;
    int bias;
} gelu_case;

/* The reference: gemm (no epilogue) into ref_c, then gelu_forward over the
 * m x n elements of each entry (one call when rows are packed, as the model
 * calls it, else one per row). ref_pre gets the product. */
static void gelu_reference(const llmrt_gemm_desc *d, void *ref_c, void *ref_pre)
{
    llmrt_gemm_desc r = *d;
    r.epilogue = LLMRT_EPILOGUE_NONE;
    r.pre_gelu = NULL;
    r.c = ref_c;
    ck_assert_int_eq(vt->gemm(ctx, &r), LLMRT_OK);
    int64_t batch = d->batch > 1 ? d->batch : 1;
    size_t es = esize(d->c_type), span = (size_t)(batch * d->stride_c) * es;
    if (batch == 1) span = (size_t)(d->m * d->ldc) * es;
    if (ref_pre) memcpy(ref_pre, ref_c, span);
    int packed = d->ldc == d->n;
    for (int64_t e = 0; e < batch; e++)
        for (int64_t i = 0; i < (packed ? 1 : d->m); i++) {
            char *at = (char *)ref_c + (size_t)(e * d->stride_c + i * d->ldc) * es;
            ck_assert_int_eq(vt->gelu_forward(ctx, at, at, (size_t)(packed ? d->m * d->n : d->n),
                                              d->c_type, (llmrt_gelu_kind)d->gelu_kind),
                             LLMRT_OK);
        }
}

/* got and want agree bit for bit on the m x n elements of every entry. */
static void expect_region(const char *what, const llmrt_gemm_desc *d, const void *got,
                          const void *want)
{
    int64_t batch = d->batch > 1 ? d->batch : 1;
    size_t es = esize(d->c_type);
    for (int64_t e = 0; e < batch; e++)
        for (int64_t i = 0; i < d->m; i++) {
            size_t at = (size_t)(e * d->stride_c + i * d->ldc) * es;
            char name[160];
            snprintf(name, sizeof name, "%s, entry %lld row %lld", what, (long long)e,
                     (long long)i);
            expect_same(name, (const char *)got + at, (const char *)want + at,
                        (size_t)d->n * es);
        }
}

static void run_gelu_case(const gelu_case *g)
{
    const int64_t m = 37, n = 48, k = 29, ldc = n + g->pad;
    const int64_t batch = g->batch;
    const int64_t stride_c = m * ldc + 5; /* a gap between entries */
    size_t c_elems = (size_t)(batch > 1 ? batch * stride_c : m * ldc);
    size_t es = esize(g->t);
    llmrt_gemm_desc d = {
        .struct_size = sizeof d,
        .m = m, .n = n, .k = k,
        .alpha = 0.75f, .beta = g->beta,
        .a = rand_buf(g->t, (size_t)(batch * m * k), -1, 1), .lda = k, .a_type = g->t,
        .b = rand_buf(g->t, (size_t)(batch * k * n), -1, 1), .ldb = n, .b_type = g->t,
        .c = rand_buf(g->t, c_elems, -1, 1), .ldc = ldc, .c_type = g->t,
        .bias = g->bias ? rand_buf(g->t, (size_t)n, -0.5f, 0.5f) : NULL,
        .batch = batch,
        .stride_a = m * k, .stride_b = k * n, .stride_c = batch > 1 ? stride_c : 0,
        .epilogue = LLMRT_EPILOGUE_GELU,
        .gelu_kind = g->kind,
    };
    void *ref_c = copy_buf(d.c, c_elems * es);
    void *ref_pre = g->pre ? dbuf(c_elems * es) : NULL;
    if (g->pre) d.pre_gelu = rand_buf(g->t, c_elems, -1, 1); /* overwritten in the region */
    void *c_before = copy_buf(d.c, c_elems * es);

    gelu_reference(&d, ref_c, ref_pre);
    ck_assert_msg(vt->gemm(ctx, &d) == LLMRT_OK, "%s", test_host_error());

    char what[160];
    snprintf(what, sizeof what, "%s gelu %s, pre %d, beta %g, pad %lld, batch %lld, bias %d",
             g->t == LLMRT_DTYPE_F32 ? "f32" : "bf16", g->kind == LLMRT_GELU_TANH ? "tanh" : "erf",
             g->pre, (double)g->beta, (long long)g->pad, (long long)batch, g->bias);
    expect_region(what, &d, d.c, ref_c);
    if (g->pre) expect_region(what, &d, d.pre_gelu, ref_pre);
    /* Elements outside the m x n regions (row padding, gaps) are untouched. */
    if (g->pad || batch > 1) {
        for (size_t i = 0; i < c_elems; i++) {
            int64_t e = batch > 1 ? (int64_t)i / stride_c : 0;
            int64_t r = (int64_t)i - e * (batch > 1 ? stride_c : 0);
            if (r < m * ldc && r % ldc < n) continue;
            ck_assert_msg(!memcmp((char *)d.c + i * es, (char *)c_before + i * es, es),
                          "%s: element %zu outside C's region changed", what, i);
        }
    }
}

START_TEST(test_gemm_gelu_epilogue)
{
    const llmrt_dtype types[] = {LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16};
    const llmrt_gelu_kind kinds[] = {LLMRT_GELU_TANH, LLMRT_GELU_ERF};
    for (int ti = 0; ti < 2; ti++)
        for (int ki = 0; ki < 2; ki++)
            for (int pre = 0; pre < 2; pre++)
                for (int bi = 0; bi < 2; bi++) {
                    gelu_case g = {types[ti], kinds[ki], pre, bi ? 0.5f : 0.0f, 0, 1, 1};
                    run_gelu_case(&g);
                    g.pad = 3; /* rows not packed: the GELU goes row by row */
                    run_gelu_case(&g);
                    g.pad = 0;
                    g.batch = 3;
                    g.bias = bi; /* with and without a bias */
                    run_gelu_case(&g);
                    free_bufs();
                }
}
END_TEST

START_TEST(test_gemm_gelu_refused)
{
    float *a = fbuf(4), *b = fbuf(4), *c = fbuf(4);
    llmrt_gemm_desc d = {
        .struct_size = sizeof d,
        .m = 2, .n = 2, .k = 2, .alpha = 1.0f,
        .a = a, .lda = 2, .a_type = LLMRT_DTYPE_F32,
        .b = b, .ldb = 2, .b_type = LLMRT_DTYPE_F32,
        .c = c, .ldc = 2, .c_type = LLMRT_DTYPE_F32,
        .epilogue = (llmrt_gemm_epilogue)7,
    };
    expect_error(vt->gemm(ctx, &d), LLMRT_ERR_INVALID, "gemm", "epilogue", NULL);
    d.epilogue = LLMRT_EPILOGUE_GELU;
    d.gelu_kind = 9;
    expect_error(vt->gemm(ctx, &d), LLMRT_ERR_INVALID, "gemm", "gelu kind", NULL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* adamw + params_out                                                        */

static void run_adamw_case(llmrt_dtype grad_type, llmrt_dtype out_type, llmrt_rounding rounding)
{
    const size_t n = 40009; /* split over 2 threads and into 1024-blocks with remainders */
    float *p = rbuf(n, -1, 1), *m = rbuf(n, -0.1f, 0.1f), *v = rbuf(n, 0, 0.01f);
    void *g = rand_buf(grad_type, n, -2, 2);
    float *p_ref = copyf(p, n), *m_ref = copyf(m, n), *v_ref = copyf(v, n);
    uint16_t *out = dbuf(n * sizeof *out), *out_ref = dbuf(n * sizeof *out_ref);
    llmrt_adamw_desc d = {
        .struct_size = sizeof d,
        .n = n, .params = p_ref, .grads = g, .grad_type = grad_type, .m = m_ref, .v = v_ref,
        .lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
        .grad_scale = 0.5f, .t = 7,
    };
    /* The unfused pair: adamw, then convert_ex of the params. */
    ck_assert_int_eq(vt->adamw(ctx, &d), LLMRT_OK);
    llmrt_convert_desc cv = {
        .struct_size = sizeof cv, .rows = 1, .cols = (int64_t)n,
        .dst = out_ref, .dst_type = out_type, .src = p_ref, .src_type = LLMRT_DTYPE_F32,
        .rounding = rounding, .seed = 0x5eed1234abcdull, .offset = 777, .axis = -1,
    };
    ck_assert_msg(vt->convert_ex(ctx, &cv) == LLMRT_OK, "%s", test_host_error());
    /* The fused call. */
    d.params = p;
    d.m = m;
    d.v = v;
    d.params_out = out;
    d.params_out_type = out_type;
    d.rounding = rounding;
    d.seed = cv.seed;
    d.offset = cv.offset;
    ck_assert_msg(vt->adamw(ctx, &d) == LLMRT_OK, "%s", test_host_error());
    char what[96];
    snprintf(what, sizeof what, "adamw grads %d -> params_out %d rounding %d", (int)grad_type,
             (int)out_type, (int)rounding);
    expect_same(what, p, p_ref, n * sizeof *p);
    expect_same(what, m, m_ref, n * sizeof *m);
    expect_same(what, v, v_ref, n * sizeof *v);
    expect_same(what, out, out_ref, n * sizeof *out);
}

START_TEST(test_adamw_params_out)
{
    const llmrt_dtype grads[] = {LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16};
    for (int gi = 0; gi < 3; gi++) {
        run_adamw_case(grads[gi], LLMRT_DTYPE_BF16, LLMRT_ROUND_NEAREST_EVEN);
        run_adamw_case(grads[gi], LLMRT_DTYPE_BF16, LLMRT_ROUND_STOCHASTIC);
        run_adamw_case(grads[gi], LLMRT_DTYPE_F16, LLMRT_ROUND_NEAREST_EVEN);
        free_bufs();
    }
}
END_TEST

/* Stochastic rounding draws on the element's index (offset + i), so a
 * tensor stepped in two calls gets the bits of one call. */
START_TEST(test_adamw_params_out_split)
{
    const size_t n = 5000, half = 1777;
    float *p = rbuf(n, -1, 1), *m = fbuf(n), *v = fbuf(n), *g = rbuf(n, -1, 1);
    memset(m, 0, n * sizeof *m); /* Adam's moments start at zero (t = 1) */
    memset(v, 0, n * sizeof *v);
    float *p2 = copyf(p, n), *m2 = copyf(m, n), *v2 = copyf(v, n);
    uint16_t *one = dbuf(n * 2), *two = dbuf(n * 2);
    llmrt_adamw_desc d = {
        .struct_size = sizeof d,
        .n = n, .params = p, .grads = g, .grad_type = LLMRT_DTYPE_F32, .m = m, .v = v,
        .lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .grad_scale = 1.0f, .t = 1,
        .params_out = one, .params_out_type = LLMRT_DTYPE_BF16,
        .rounding = LLMRT_ROUND_STOCHASTIC, .seed = 99, .offset = 10,
    };
    ck_assert_int_eq(vt->adamw(ctx, &d), LLMRT_OK);
    d.n = half;
    d.params = p2, d.m = m2, d.v = v2, d.params_out = two;
    ck_assert_int_eq(vt->adamw(ctx, &d), LLMRT_OK);
    d.n = n - half;
    d.params = p2 + half, d.m = m2 + half, d.v = v2 + half, d.grads = g + half;
    d.params_out = two + half;
    d.offset = 10 + half;
    ck_assert_int_eq(vt->adamw(ctx, &d), LLMRT_OK);
    expect_same("params_out in two calls", one, two, n * 2);
}
END_TEST

START_TEST(test_adamw_params_out_refused)
{
    float *p = fbuf(8), *m = fbuf(8), *v = fbuf(8), *g = fbuf(8);
    uint16_t *out = dbuf(16);
    llmrt_adamw_desc d = {
        .struct_size = sizeof d,
        .n = 8, .params = p, .grads = g, .grad_type = LLMRT_DTYPE_F32, .m = m, .v = v,
        .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .grad_scale = 1.0f, .t = 1,
        .params_out = out, .params_out_type = LLMRT_DTYPE_F16,
        .rounding = LLMRT_ROUND_STOCHASTIC,
    };
    expect_error(vt->adamw(ctx, &d), LLMRT_ERR_UNSUPPORTED, "adamw", "f16", "stochastic");
    d.params_out_type = LLMRT_DTYPE_F32;
    d.rounding = LLMRT_ROUND_NEAREST_EVEN;
    expect_error(vt->adamw(ctx, &d), LLMRT_ERR_UNSUPPORTED, "adamw", "f32", NULL);
    d.params_out_type = LLMRT_DTYPE_BF16;
    d.rounding = (llmrt_rounding)5;
    expect_error(vt->adamw(ctx, &d), LLMRT_ERR_INVALID, "adamw", "rounding", NULL);
}
END_TEST

START_TEST(test_caps_advertise)
{
    llmrt_compute_caps caps;
    memset(&caps, 0, sizeof caps);
    caps.struct_size = sizeof caps;
    ck_assert_int_eq(vt->get_caps(ctx, &caps), LLMRT_OK);
    ck_assert_uint_eq(caps.gemm_epilogues, 1u << LLMRT_EPILOGUE_GELU);
    ck_assert_int_eq(caps.adamw_params_out, 1);
}
END_TEST

static Suite *fused_suite(void)
{
    Suite *s = suite_create("cpu fused");
    const cpu_test tests[] = {
        {"gemm_gelu_epilogue", test_gemm_gelu_epilogue},
        {"gemm_gelu_refused", test_gemm_gelu_refused},
        {"adamw_params_out", test_adamw_params_out},
        {"adamw_params_out_split", test_adamw_params_out_split},
        {"adamw_params_out_refused", test_adamw_params_out_refused},
        {"caps_advertise", test_caps_advertise},
    };
    cpu_add_tests(s, tests, sizeof tests / sizeof tests[0], setup, 300);
    return s;
}

int main(void)
{
    if (cpu_load_plugin("test_cpu_fused")) return 1;
    return cpu_run_suite(fused_suite());
}
