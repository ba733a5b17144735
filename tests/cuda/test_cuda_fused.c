/* test_cuda_fused.c — the cuda backend's cuBLASLt gemm (every operand type
 * combination it takes, trans flags, batch with strides, alpha/beta, bias,
 * the GELU epilogue fused and through its fallback) and its fused AdamW,
 * against the cpu backend on the same inputs. Exits 77 (SKIP) without a GPU.
 *
 * Tolerances, u the unit roundoff of the 16-bit type (bf16 2^-8, f16 2^-11):
 *  - f32 and 16-bit inputs with an f32 C: 1e-5 (cuda_test_util.h's cmp).
 *    Both backends read the same values; a product of two 16-bit values is
 *    exact in fp32, so only the fp32 summation order differs (k u32 of the
 *    terms, far below 1e-5 for k <= 128).
 *  - 16-bit C: both round an fp32 result that agrees within the above, so
 *    they differ by at most one 16-bit ulp (2u relative) where a rounding
 *    boundary falls between the two: |gpu - cpu| <= 2u (|cpu| + 0.1 max|cpu|)
 *    (the second term for results that cancel to near zero).
 *  - GELU with 16-bit C: cuBLASLt applies the GELU to the fp32 accumulator,
 *    the cpu to the value rounded to C's type (error u |pre|), and
 *    |gelu'| <= 1.13, then each rounds: 3u |cpu| + 1.2u |pre| + 1e-6 max.
 *  - AdamW params: 1e-6 relative (|gpu - cpu| <= 1e-6 (|cpu| + 0.1 max|cpu|)):
 *    nvcc may contract the update into FMAs and the cpu build may not, which
 *    moves p by about one ulp (1.2e-7 relative) per step. m and v: cmp's 1e-5,
 *    since m = beta1 m + (1 - beta1) g can cancel to values far below the ulp
 *    of its terms. params_out must equal the device's own convert_ex of its
 *    own params bit for bit (same convert.h functions, same seed and offset).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/convert.h>

#include "cuda_test_util.h"

static const char *tn(llmrt_dtype t)
{
    return t == LLMRT_DTYPE_F32 ? "f32" : t == LLMRT_DTYPE_BF16 ? "bf16" : "f16";
}

static double unit_roundoff(llmrt_dtype t) { return t == LLMRT_DTYPE_F16 ? 0x1p-11 : 0x1p-8; }

static float widen(llmrt_dtype t, const void *x, size_t i)
{
    if (t == LLMRT_DTYPE_F32) return ((const float *)x)[i];
    uint16_t h = ((const uint16_t *)x)[i];
    return t == LLMRT_DTYPE_BF16 ? llmrt_bf16_to_f32(h) : llmrt_f16_to_f32(h);
}

/* A cpu buffer of n random values in [lo, hi) stored as t. */
static void *hrand_t(llmrt_dtype t, size_t n, float lo, float hi)
{
    float *x = hrand(n, lo, hi);
    if (t == LLMRT_DTYPE_F32) return x;
    uint16_t *h = (uint16_t *)x; /* in place: element i is written after it is read */
    for (size_t i = 0; i < n; i++)
        h[i] = t == LLMRT_DTYPE_BF16 ? llmrt_f32_to_bf16(x[i]) : llmrt_f32_to_f16(x[i]);
    return h;
}

/* Device memory copied back: n values of t (caller frees). */
static void *back(const void *d, size_t bytes)
{
    void *h = malloc(bytes ? bytes : 1);
    ck_assert_ptr_nonnull(h);
    OK(gpu_vt->copy_to_host(gpu, h, d, bytes, NULL));
    return h;
}

/* |gpu - cpu| <= rel |cpu| + pre_rel |pre| + abs_frac max|cpu| on the m x n
 * region of each entry (layout ldc, stride). pre may be NULL. */
static void cmp_region(const char *what, llmrt_dtype t, const void *ref, const void *d,
                       const void *pre, int64_t m, int64_t n, int64_t ldc, int64_t batch,
                       int64_t stride, double rel, double pre_rel, double abs_frac)
{
    size_t total = (size_t)((batch - 1) * stride + (m - 1) * ldc + n);
    void *got = back(d, total * llmrt_dtype_size(t));
    double mx = 0;
    for (int64_t e = 0; e < batch; e++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                mx = fmax(mx, fabs(widen(t, ref, (size_t)(e * stride + i * ldc + j))));
    for (int64_t e = 0; e < batch; e++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                size_t at = (size_t)(e * stride + i * ldc + j);
                double r = widen(t, ref, at), g = widen(t, got, at);
                double tol = rel * fabs(r) + abs_frac * mx +
                             (pre ? pre_rel * fabs(widen(t, pre, at)) : 0.0);
                if (!(fabs(g - r) <= tol)) {
                    free(got);
                    ck_abort_msg("%s: entry %lld [%lld, %lld]: cuda %.9g, cpu %.9g (diff %.3g > "
                                 "%.3g)",
                                 what, (long long)e, (long long)i, (long long)j, g, r,
                                 fabs(g - r), tol);
                }
            }
    free(got);
}

/* ------------------------------------------------------------------------ */
/* gemm                                                                      */

typedef struct gemm_case {
    llmrt_dtype ab, c;
    int ta, tb;
    int64_t m, n, k, batch, pad;
    int bias;
    float beta;
    llmrt_gemm_epilogue ep;
    int kind, pre;
} gemm_case;

static void one_gemm(const gemm_case *x)
{
    int64_t bt = x->batch < 1 ? 1 : x->batch;
    int64_t lda = x->ta ? x->m : x->k, ldb = x->tb ? x->k : x->n, ldc = x->n + x->pad;
    int64_t sa = x->m * x->k + 8, sb = x->k * x->n + 16, sc = x->m * ldc + 8;
    size_t na = (size_t)(sa * bt), nb = (size_t)(sb * bt), nc = (size_t)(sc * bt);
    size_t ea = llmrt_dtype_size(x->ab), ec = llmrt_dtype_size(x->c);
    void *a = hrand_t(x->ab, na, -1, 1), *b = hrand_t(x->ab, nb, -1, 1),
         *c = hrand_t(x->c, nc, -1, 1), *bi = hrand_t(x->c, (size_t)x->n, -1, 1);
    /* The cpu always writes pre_gelu with GELU: the 16-bit bound needs it. */
    int gelu = x->ep == LLMRT_EPILOGUE_GELU;
    void *pre = gelu ? hrand_t(x->c, nc, -1, 1) : NULL;
    void *ga = dev(a, na * ea), *gb = dev(b, nb * ea), *gc = dev(c, nc * ec),
         *gbi = dev(bi, (size_t)x->n * ec), *gpre = x->pre ? dev(pre, nc * ec) : NULL;
    llmrt_gemm_desc d = {
        .struct_size = sizeof d, .trans_a = x->ta, .trans_b = x->tb,
        .m = x->m, .n = x->n, .k = x->k, .alpha = 0.75f, .beta = x->beta,
        .a = a, .lda = lda, .a_type = x->ab,
        .b = b, .ldb = ldb, .b_type = x->ab,
        .c = c, .ldc = ldc, .c_type = x->c,
        .bias = x->bias ? bi : NULL, .batch = x->batch,
        .stride_a = sa, .stride_b = sb, .stride_c = sc,
        .epilogue = x->ep, .gelu_kind = x->kind, .pre_gelu = pre,
    };
    OK(cpu_vt->gemm(cpu, &d));
    d.a = ga, d.b = gb, d.c = gc, d.bias = x->bias ? gbi : NULL, d.pre_gelu = gpre;
    OK(gpu_vt->gemm(gpu, &d));
    char what[192];
    snprintf(what, sizeof what,
             "gemm %s x %s -> %s ta=%d tb=%d %lldx%lldx%lld batch %lld pad %lld bias %d beta %g "
             "epilogue %d kind %d pre %d",
             tn(x->ab), tn(x->ab), tn(x->c), x->ta, x->tb, (long long)x->m, (long long)x->n,
             (long long)x->k, (long long)x->batch, (long long)x->pad, x->bias, (double)x->beta,
             (int)x->ep, x->kind, x->pre);
    if (x->c == LLMRT_DTYPE_F32 || !gelu) pre = x->pre ? pre : NULL;
    if (x->c == LLMRT_DTYPE_F32) {
        cmp_region(what, x->c, c, gc, NULL, x->m, x->n, ldc, bt, sc, 1e-5, 0, 1e-6);
        if (x->pre) cmp_region(what, x->c, pre, gpre, NULL, x->m, x->n, ldc, bt, sc, 1e-5, 0, 1e-6);
        return;
    }
    double u = unit_roundoff(x->c);
    if (gelu)
        cmp_region(what, x->c, c, gc, pre, x->m, x->n, ldc, bt, sc, 3 * u, 1.2 * u, 1e-6);
    else
        cmp_region(what, x->c, c, gc, NULL, x->m, x->n, ldc, bt, sc, 2 * u, 0, 0.2 * u);
    if (x->pre) cmp_region(what, x->c, pre, gpre, NULL, x->m, x->n, ldc, bt, sc, 2 * u, 0, 0.2 * u);
}

/* The combinations cuda_gemm.c takes: a and b of one type, c that type or f32. */
static const llmrt_dtype combos[][2] = {
    {LLMRT_DTYPE_F32, LLMRT_DTYPE_F32},  {LLMRT_DTYPE_BF16, LLMRT_DTYPE_BF16},
    {LLMRT_DTYPE_BF16, LLMRT_DTYPE_F32}, {LLMRT_DTYPE_F16, LLMRT_DTYPE_F16},
    {LLMRT_DTYPE_F16, LLMRT_DTYPE_F32},
};

/* Loop test: _i selects the type combination. */
START_TEST(test_gemm_types)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_case x = {combos[_i][0], combos[_i][1], ta, tb, 37, 53, 29, 0, 3, 0, 0.0f,
                           LLMRT_EPILOGUE_NONE, 0, 0};
            one_gemm(&x);
            x = (gemm_case){combos[_i][0], combos[_i][1], ta, tb, 64, 96, 128, 3, 0, 1, 1.0f,
                            LLMRT_EPILOGUE_NONE, 0, 0};
            one_gemm(&x);
            x = (gemm_case){combos[_i][0], combos[_i][1], ta, tb, 17, 9, 33, 2, 1, 1, 0.5f,
                            LLMRT_EPILOGUE_NONE, 0, 0};
            one_gemm(&x);
        }
}
END_TEST

/* Loop test: _i selects f32 or bf16 (both operands and C). Shapes with ldc
 * a multiple of 8 take the fused GELU_AUX path; ldc = n + 3 (not a multiple
 * of 8) with pre_gelu, and the erf kind, take the fallback. */
START_TEST(test_gemm_gelu)
{
    llmrt_dtype t = _i ? LLMRT_DTYPE_BF16 : LLMRT_DTYPE_F32;
    for (int kind = 0; kind < 2; kind++)
        for (int pre = 0; pre < 2; pre++)
            for (int bias = 0; bias < 2; bias++) {
                gemm_case x = {t, t, 0, 0, 40, 64, 48, 0, 0, bias, 0.0f,
                               LLMRT_EPILOGUE_GELU, kind, pre};
                one_gemm(&x); /* fused (tanh) */
                x.pad = 3;
                x.beta = 0.5f;
                one_gemm(&x); /* pre_gelu: fallback; beta != 0: product copied */
                x.pad = 0;
                x.batch = 2;
                x.tb = 1;
                one_gemm(&x); /* batched, aux batch stride */
            }
}
END_TEST

START_TEST(test_gemm_unsupported_types)
{
    void *a = dev(NULL, 64), *b = dev(NULL, 64), *c = dev(NULL, 64);
    llmrt_gemm_desc d = {
        .struct_size = sizeof d, .m = 2, .n = 2, .k = 2, .alpha = 1.0f,
        .a = a, .lda = 2, .a_type = LLMRT_DTYPE_F32,
        .b = b, .ldb = 2, .b_type = LLMRT_DTYPE_BF16,
        .c = c, .ldc = 2, .c_type = LLMRT_DTYPE_F32,
    };
    ck_assert_int_eq(gpu_vt->gemm(gpu, &d), LLMRT_ERR_UNSUPPORTED);
    const char *msg = test_host_error();
    ck_assert_ptr_nonnull(strstr(msg, "cuda"));
    ck_assert_ptr_nonnull(strstr(msg, "gemm"));
    ck_assert_ptr_nonnull(strstr(msg, "f32"));
    ck_assert_ptr_nonnull(strstr(msg, "bf16"));
}
END_TEST

/* The plan cache (64 plans): 70 distinct shapes twice over, so the second
 * round finds each evicted and rebuilt, then each shape once more right away
 * (a hit); every result matches the cpu's. One set of buffers serves all. */
START_TEST(test_gemm_cache)
{
    const int64_t m = 5, k = 7, n_max = 8 * 70;
    float *a = hrand((size_t)(m * k), -1, 1), *b = hrand((size_t)(n_max * k), -1, 1),
          *c = hrand((size_t)(m * n_max), 0, 0), *bi = hrand((size_t)n_max, -1, 1);
    void *ga = dev(a, (size_t)(m * k) * 4), *gb = dev(b, (size_t)(n_max * k) * 4),
         *gc = dev(NULL, (size_t)(m * n_max) * 4), *gbi = dev(bi, (size_t)n_max * 4);
    for (int round = 0; round < 2; round++)
        for (int64_t n = 8; n <= n_max; n += 8)
            for (int again = 0; again < 2; again++) {
                llmrt_gemm_desc d = {
                    .struct_size = sizeof d, .trans_b = 1, .m = m, .n = n, .k = k,
                    .alpha = 1.0f, .a = a, .lda = k, .a_type = LLMRT_DTYPE_F32,
                    .b = b, .ldb = k, .b_type = LLMRT_DTYPE_F32,
                    .c = c, .ldc = n, .c_type = LLMRT_DTYPE_F32, .bias = bi,
                };
                OK(cpu_vt->gemm(cpu, &d));
                d.a = ga, d.b = gb, d.c = gc, d.bias = gbi;
                OK(gpu_vt->gemm(gpu, &d));
                char what[64];
                snprintf(what, sizeof what, "gemm cache round %d n %lld again %d", round,
                         (long long)n, again);
                cmp(what, c, gc, (size_t)(m * n));
            }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* AdamW                                                                     */

static void one_adamw(llmrt_dtype grad_type, llmrt_dtype out_type, llmrt_rounding rounding,
                      int has_out, size_t shift)
{
    const size_t n = 200003; /* not a multiple of 4: the vector kernel's tail */
    const size_t N = n + shift; /* shift elements in: misaligned for float4 when odd */
    size_t eg = llmrt_dtype_size(grad_type);
    float *p = hrand(N, -1, 1), *m = hrand(N, -0.01f, 0.01f), *v = hrand(N, 0, 0.001f);
    void *g = hrand_t(grad_type, N, -0.1f, 0.1f);
    void *gp = dev(p, N * 4), *gm = dev(m, N * 4), *gv = dev(v, N * 4), *gg = dev(g, N * eg);
    void *gout = dev(NULL, N * 2), *gconv = dev(NULL, N * 2);
    for (int64_t t = 1; t <= 3; t++) {
        llmrt_adamw_desc d = {
            .struct_size = sizeof d, .n = n, .params = p + shift,
            .grads = (const char *)g + shift * eg, .grad_type = grad_type,
            .m = m + shift, .v = v + shift, .lr = 3e-4f, .beta1 = 0.9f, .beta2 = 0.95f,
            .eps = 1e-8f, .weight_decay = 0.1f, .grad_scale = 0.5f, .t = t,
        };
        OK(cpu_vt->adamw(cpu, &d));
        d.params = (float *)gp + shift;
        d.grads = (const char *)gg + shift * eg;
        d.m = (float *)gm + shift;
        d.v = (float *)gv + shift;
        if (has_out) {
            d.params_out = (uint16_t *)gout + shift;
            d.params_out_type = out_type;
            d.rounding = rounding;
            d.seed = 0xabcdef12345ull + (uint64_t)t;
            d.offset = 1000 + shift;
        }
        OK(gpu_vt->adamw(gpu, &d));
        if (!has_out) continue;
        /* params_out == the device's conversion of its own params. */
        llmrt_convert_desc cv = {
            .struct_size = sizeof cv, .rows = 1, .cols = (int64_t)n,
            .dst = (uint16_t *)gconv + shift, .dst_type = out_type,
            .src = (float *)gp + shift, .src_type = LLMRT_DTYPE_F32,
            .rounding = rounding, .seed = d.seed, .offset = d.offset, .axis = -1,
        };
        OK(gpu_vt->convert_ex(gpu, &cv));
        uint16_t *o = back((uint16_t *)gout + shift, n * 2), *w = back((uint16_t *)gconv + shift, n * 2);
        size_t bad = n;
        for (size_t i = 0; i < n && bad == n; i++)
            if (o[i] != w[i]) bad = i;
        free(o);
        free(w);
        ck_assert_msg(bad == n,
                      "adamw params_out (grads %s, out %s, rounding %d, shift %zu, t %lld) "
                      "element %zu differs from convert_ex of the params",
                      tn(grad_type), tn(out_type), (int)rounding, shift, (long long)t, bad);
    }
    char what[128];
    snprintf(what, sizeof what, "adamw grads %s, out %d %s, shift %zu", tn(grad_type), has_out,
             tn(out_type), shift);
    cmp_tol(what, p + shift, (float *)gp + shift, n, 1e-6);
    cmp(what, m + shift, (float *)gm + shift, n);
    cmp(what, v + shift, (float *)gv + shift, n);
}

/* Loop test: _i selects the gradient type. */
START_TEST(test_adamw_fused)
{
    const llmrt_dtype grads[] = {LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16};
    llmrt_dtype gt = grads[_i];
    for (size_t shift = 0; shift < 2; shift++) { /* 0: vector kernel, 1: scalar kernel */
        one_adamw(gt, LLMRT_DTYPE_BF16, LLMRT_ROUND_NEAREST_EVEN, 0, shift);
        one_adamw(gt, LLMRT_DTYPE_BF16, LLMRT_ROUND_NEAREST_EVEN, 1, shift);
        one_adamw(gt, LLMRT_DTYPE_BF16, LLMRT_ROUND_STOCHASTIC, 1, shift);
        one_adamw(gt, LLMRT_DTYPE_F16, LLMRT_ROUND_NEAREST_EVEN, 1, shift);
    }
}
END_TEST

START_TEST(test_caps_fused)
{
    llmrt_compute_caps caps;
    memset(&caps, 0, sizeof caps);
    caps.struct_size = sizeof caps;
    OK(gpu_vt->get_caps(gpu, &caps));
    ck_assert_uint_eq(caps.gemm_epilogues, 1u << LLMRT_EPILOGUE_GELU);
    ck_assert_int_eq(caps.adamw_params_out, 1);
}
END_TEST

int main(void)
{
    cuda_test_load("test_cuda_fused");
    Suite *s = suite_create("cuda_fused");
    TCase *tc = tcase_create("vs cpu");
    tcase_add_checked_fixture(tc, cuda_test_setup, cuda_test_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_gemm_types, 0, (int)(sizeof combos / sizeof combos[0]));
    tcase_add_loop_test(tc, test_gemm_gelu, 0, 2);
    tcase_add_test(tc, test_gemm_unsupported_types);
    tcase_add_test(tc, test_gemm_cache);
    tcase_add_loop_test(tc, test_adamw_fused, 0, 3);
    tcase_add_test(tc, test_caps_fused);
    suite_add_tcase(s, tc);
    return cuda_test_run(s);
}
