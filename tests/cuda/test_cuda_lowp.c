/* test_cuda_lowp.c — the cuda backend's f16 and bf16 kernels (and the
 * sorted embedding backward, relu and mul in every dtype) against the cpu
 * backend on the same 16-bit inputs.
 *
 * Both backends widen every 16-bit value to fp32, compute in fp32 and round
 * each store with convert.h's nearest-even (compute.h rules 7-8), so:
 *  - kernels whose fp32 arithmetic is the cpu's operation for operation
 *    (add, mul, scale, relu, bias_grad over at most 64 rows (one chunk: the
 *    serial column sum), the embedding forward, and the embedding backward,
 *    which adds each id's rows in position order like the cpu) must match
 *    BIT FOR BIT (cmp_bits);
 *  - kernels whose fp32 sums run in another order (norm, softmax_xent,
 *    bias_grad over more than 64 rows: chunked column sums) or
 *    that call another exp (GELU: CUDA's expf vs the cpu's cpu_expf) agree
 *    in fp32 within the fp32 tolerance of cuda_test_util.h, d = 1e-5 |r| +
 *    1e-6 max|r|; rounding two fp32 values that close to the 16-bit format
 *    separates them by at most d plus one unit in the last place of the
 *    format, which is at most eps |cpu| for normal numbers (eps = 2^-7 for
 *    bf16, 2^-10 for f16) plus the subnormal spacing (2^-24 for f16). That
 *    is cmp_ulp's tolerance: one ulp of the format on top of the fp32 one.
 *  - sum_squares sums exact double squares in another order: 1e-10
 *    relative, and two runs must give the same bits (rule 9).
 *
 * Sizes are odd so that the 16-byte vector paths have scalar tails, and
 * some pointers are offset by one element so that the scalar path runs too.
 * Exits 77 (SKIP) without a usable GPU; written on a machine without one, so
 * far only seen to skip (docs/cuda.md).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/convert.h>

#include "cuda_test_util.h"

static const llmrt_dtype LOWP[2] = {LLMRT_DTYPE_F16, LLMRT_DTYPE_BF16};
static const llmrt_dtype ALL[3] = {LLMRT_DTYPE_F32, LLMRT_DTYPE_F16, LLMRT_DTYPE_BF16};

static size_t esz(llmrt_dtype t) { return t == LLMRT_DTYPE_F32 ? 4 : 2; }

static const char *tname(llmrt_dtype t)
{
    return t == LLMRT_DTYPE_F32 ? "f32" : t == LLMRT_DTYPE_F16 ? "f16" : "bf16";
}

static float get(llmrt_dtype t, const void *p, size_t i)
{
    if (t == LLMRT_DTYPE_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return t == LLMRT_DTYPE_F16 ? llmrt_f16_to_f32(h) : llmrt_bf16_to_f32(h);
}

static void put(llmrt_dtype t, void *p, size_t i, float v)
{
    if (t == LLMRT_DTYPE_F32) ((float *)p)[i] = v;
    else if (t == LLMRT_DTYPE_F16) ((uint16_t *)p)[i] = llmrt_f32_to_f16(v);
    else ((uint16_t *)p)[i] = llmrt_f32_to_bf16(v);
}

/* A cpu buffer of n random values of t in [lo, hi) (rounded to t). */
static void *trand(llmrt_dtype t, size_t n, float lo, float hi)
{
    float *f = hrand(n, lo, hi);
    if (t == LLMRT_DTYPE_F32) return f;
    uint16_t *h = malloc(n * 2);
    ck_assert_ptr_nonnull(h);
    for (size_t i = 0; i < n; i++) put(t, h, i, f[i]);
    void *c = hcopy(h, n * 2);
    free(h);
    return c;
}

static void *fetch(const void *d, size_t bytes)
{
    void *h = malloc(bytes ? bytes : 1);
    ck_assert_ptr_nonnull(h);
    ck_assert_msg(gpu_vt->copy_to_host(gpu, h, d, bytes, NULL) == LLMRT_OK, "copy_to_host: %s",
                  test_host_error());
    return h;
}

/* Host buffers got and ref must hold the same bits. */
static void same_bits(const char *what, llmrt_dtype t, const void *ref, const void *got, size_t n)
{
    const size_t es = esz(t);
    for (size_t i = 0; i < n; i++)
        if (memcmp((const unsigned char *)got + i * es, (const unsigned char *)ref + i * es, es))
            ck_abort_msg("%s (%s)[%zu]: %.9g, expected %.9g: not bit-identical", what, tname(t),
                         i, (double)get(t, got, i), (double)get(t, ref, i));
}

/* Device memory d must hold exactly the bits of the host buffer ref. */
static void cmp_bits(const char *what, llmrt_dtype t, const void *ref, const void *d, size_t n)
{
    unsigned char *g = fetch(d, n * esz(t));
    for (size_t i = 0; i < n; i++)
        if (memcmp(g + i * esz(t), (const unsigned char *)ref + i * esz(t), esz(t)) != 0) {
            float gv = get(t, g, i), cv = get(t, ref, i);
            free(g);
            ck_abort_msg("%s (%s)[%zu]: cuda %.9g, cpu %.9g: not bit-identical", what, tname(t),
                         i, (double)gv, (double)cv);
        }
    free(g);
}

/* The fp32 tolerance plus one ulp of t (the header explains why). */
static void cmp_ulp(const char *what, llmrt_dtype t, const void *ref, const void *d, size_t n)
{
    const double eps = t == LLMRT_DTYPE_F32 ? 0.0 : t == LLMRT_DTYPE_F16 ? 0x1p-10 : 0x1p-7;
    const double sub = t == LLMRT_DTYPE_F16 ? 0x1p-24 : 0.0;
    unsigned char *g = fetch(d, n * esz(t));
    double maxabs = 0;
    for (size_t i = 0; i < n; i++) {
        double v = fabs((double)get(t, ref, i));
        if (isfinite(v) && v > maxabs) maxabs = v;
    }
    for (size_t i = 0; i < n; i++) {
        double gv = get(t, g, i), cv = get(t, ref, i);
        double tol = (1e-5 + eps) * fabs(cv) + 1e-6 * maxabs + sub;
        if (gv == cv || (isnan(gv) && isnan(cv))) continue;
        if (!(fabs(gv - cv) <= tol)) {
            free(g);
            ck_abort_msg("%s (%s)[%zu]: cuda %.9g, cpu %.9g (tolerance %.3g)", what, tname(t), i,
                         gv, cv, tol);
        }
    }
    free(g);
}

/* Whether the cpu backend has an ABI 1.2 member (another branch adds them). */
#define CPU_HAS(member)                                                                        \
    (cpu_vt->struct_size >= offsetof(llmrt_compute_vtable, member) + sizeof(void *) &&         \
     cpu_vt->member != NULL)

/* --- elementwise --- */

/* add, mul, scale (and in place) on n elements starting `off` elements into
 * the buffers (off 1: not 16-byte aligned, the scalar path). */
static void one_elementwise(llmrt_dtype t, size_t n, size_t off)
{
    const size_t es = esz(t), tot = n + off;
    char *a = trand(t, tot, -3, 3), *b = trand(t, tot, -3, 3), *out = trand(t, tot, 0, 0);
    void *ga = dev(a, tot * es), *gb = dev(b, tot * es), *gout = dev(NULL, tot * es);
    char *ga_o = (char *)ga + off * es, *gb_o = (char *)gb + off * es,
         *go_o = (char *)gout + off * es;
    char *a_o = a + off * es, *b_o = b + off * es, *o_o = out + off * es;
    char what[64];

    snprintf(what, sizeof what, "add n %zu off %zu", n, off);
    OK(cpu_vt->add(cpu, o_o, a_o, b_o, n, t));
    OK(gpu_vt->add(gpu, go_o, ga_o, gb_o, n, t));
    cmp_bits(what, t, o_o, go_o, n);
    snprintf(what, sizeof what, "add in place n %zu off %zu", n, off);
    OK(cpu_vt->add(cpu, a_o, a_o, b_o, n, t));
    OK(gpu_vt->add(gpu, ga_o, ga_o, gb_o, n, t));
    cmp_bits(what, t, a_o, ga_o, n);
    snprintf(what, sizeof what, "scale n %zu off %zu", n, off);
    OK(cpu_vt->scale(cpu, a_o, n, t, -0.37f));
    OK(gpu_vt->scale(gpu, ga_o, n, t, -0.37f));
    cmp_bits(what, t, a_o, ga_o, n);
}

START_TEST(test_add_scale)
{
    for (int k = 0; k < 2; k++) {
        one_elementwise(LOWP[k], 100003, 0);
        one_elementwise(LOWP[k], 100003, 1);
        one_elementwise(LOWP[k], 7, 0); /* shorter than one 16-byte pack */
    }
}
END_TEST

/* relu_forward, relu_backward and mul in every dtype: against a reference
 * computed here with convert.h (exact: one IEEE fp32 operation per element
 * between the widening and the rounding), and against the cpu backend where
 * it has these ABI 1.2 members. */
static void one_relu_mul(llmrt_dtype t, size_t n, size_t off)
{
    const size_t es = esz(t), tot = n + off;
    char *x = trand(t, tot, -2, 2), *y = trand(t, tot, -2, 2), *dx = trand(t, tot, -1, 1);
    char *ref = trand(t, tot, 0, 0), *cpu_out = trand(t, tot, 0, 0);
    void *gx = dev(x, tot * es), *gy = dev(y, tot * es), *gdx = dev(dx, tot * es),
         *gout = dev(NULL, tot * es);
    char *gx_o = (char *)gx + off * es, *gy_o = (char *)gy + off * es,
         *gdx_o = (char *)gdx + off * es, *go_o = (char *)gout + off * es;
    char *x_o = x + off * es, *y_o = y + off * es, *dx_o = dx + off * es, *r_o = ref + off * es,
         *c_o = cpu_out + off * es;
    char what[64];

    ck_assert(gpu_vt->relu_forward && gpu_vt->relu_backward && gpu_vt->mul);
    snprintf(what, sizeof what, "relu_forward n %zu off %zu", n, off);
    for (size_t i = 0; i < n; i++) {
        float v = get(t, x_o, i);
        put(t, r_o, i, v < 0.0f ? 0.0f : v); /* NaN propagates, -0 stays */
    }
    OK(gpu_vt->relu_forward(gpu, go_o, gx_o, n, t));
    cmp_bits(what, t, r_o, go_o, n);
    if (CPU_HAS(relu_forward)) {
        OK(cpu_vt->relu_forward(cpu, c_o, x_o, n, t));
        cmp_bits(what, t, c_o, go_o, n);
    }

    snprintf(what, sizeof what, "relu_backward n %zu off %zu", n, off);
    for (size_t i = 0; i < n; i++)
        put(t, r_o, i,
            get(t, x_o, i) > 0.0f ? get(t, dx_o, i) + get(t, y_o, i) : get(t, dx_o, i));
    if (CPU_HAS(relu_backward)) {
        memcpy(c_o, dx_o, n * es);
        OK(cpu_vt->relu_backward(cpu, c_o, x_o, y_o, n, t));
        same_bits(what, t, r_o, c_o, n); /* the cpu agrees with the reference */
    }
    OK(gpu_vt->relu_backward(gpu, gdx_o, gx_o, gy_o, n, t));
    cmp_bits(what, t, r_o, gdx_o, n);

    snprintf(what, sizeof what, "mul n %zu off %zu", n, off);
    for (size_t i = 0; i < n; i++) put(t, r_o, i, get(t, x_o, i) * get(t, y_o, i));
    OK(gpu_vt->mul(gpu, go_o, gx_o, gy_o, n, t));
    cmp_bits(what, t, r_o, go_o, n);
    if (CPU_HAS(mul)) {
        OK(cpu_vt->mul(cpu, c_o, x_o, y_o, n, t));
        cmp_bits(what, t, c_o, go_o, n);
    }
    /* In place: out == a. */
    OK(gpu_vt->mul(gpu, gx_o, gx_o, gy_o, n, t));
    cmp_bits("mul in place", t, r_o, gx_o, n);
}

START_TEST(test_relu_mul)
{
    if (!CPU_HAS(relu_forward) || !CPU_HAS(relu_backward) || !CPU_HAS(mul))
        fprintf(stderr, "test_cuda_lowp: NOTE: the cpu backend lacks relu_forward, "
                        "relu_backward or mul; those are checked against the in-test reference "
                        "only\n");
    for (int k = 0; k < 3; k++) {
        one_relu_mul(ALL[k], 65537, 0);
        one_relu_mul(ALL[k], 65537, 1);
        one_relu_mul(ALL[k], 3, 0);
    }
}
END_TEST

START_TEST(test_gelu)
{
    for (int k = 0; k < 2; k++)
        for (int kind = 0; kind < 2; kind++) {
            llmrt_dtype t = LOWP[k];
            llmrt_gelu_kind gk = (llmrt_gelu_kind)kind;
            size_t n = 100003, es = esz(t);
            void *x = trand(t, n, -8, 8), *out = trand(t, n, 0, 0), *dout = trand(t, n, -1, 1),
                 *dx = trand(t, n, -1, 1);
            void *gx = dev(x, n * es), *gout = dev(NULL, n * es), *gdout = dev(dout, n * es),
                 *gdx = dev(dx, n * es);
            OK(cpu_vt->gelu_forward(cpu, out, x, n, t, gk));
            OK(cpu_vt->gelu_backward(cpu, dx, x, dout, n, t, gk));
            OK(gpu_vt->gelu_forward(gpu, gout, gx, n, t, gk));
            OK(gpu_vt->gelu_backward(gpu, gdx, gx, gdout, n, t, gk));
            cmp_ulp(kind ? "gelu erf out" : "gelu tanh out", t, out, gout, n);
            cmp_ulp(kind ? "gelu erf dinp" : "gelu tanh dinp", t, dx, gdx, n);
        }
}
END_TEST

/* --- reductions --- */

/* rows <= 64: one chunk of rows, the cpu's serial sum bit for bit; more
 * rows: chunk sums added in order, the fp32 tolerance plus one ulp. */
START_TEST(test_bias_grad)
{
    for (int k = 0; k < 3; k++)
        for (int big = 0; big < 2; big++) {
            llmrt_dtype t = ALL[k];
            int64_t rows = big ? 3001 : 64, cols = 77;
            size_t es = esz(t), n = (size_t)(rows * cols);
            void *dout = trand(t, n, -1, 1), *db = trand(t, (size_t)cols, -1, 1);
            void *gdout = dev(dout, n * es), *gdb = dev(db, (size_t)cols * es);
            OK(cpu_vt->bias_grad(cpu, db, dout, rows, cols, t));
            OK(gpu_vt->bias_grad(gpu, gdb, gdout, rows, cols, t));
            if (big) cmp_ulp("bias_grad (3001 rows)", t, db, gdb, (size_t)cols);
            else cmp_bits("bias_grad (64 rows)", t, db, gdb, (size_t)cols);
        }
}
END_TEST

START_TEST(test_sum_squares)
{
    for (int k = 0; k < 2; k++) {
        llmrt_dtype t = LOWP[k];
        size_t n = 1000003;
        void *x = trand(t, n, -3, 3);
        void *gx = dev(x, n * esz(t));
        double sc = 0, sg = 0, sg2 = 0;
        OK(cpu_vt->sum_squares(cpu, x, n, t, &sc));
        OK(gpu_vt->sum_squares(gpu, gx, n, t, &sg));
        OK(gpu_vt->sum_squares(gpu, gx, n, t, &sg2));
        ck_assert_msg(fabs(sc - sg) <= 1e-10 * sc, "sum_squares %s: cuda %.17g, cpu %.17g",
                      tname(t), sg, sc);
        ck_assert_msg(memcmp(&sg, &sg2, sizeof sg) == 0, "sum_squares %s is not deterministic",
                      tname(t));
        /* A 16-bit infinity propagates. */
        uint16_t inf = t == LLMRT_DTYPE_F16 ? 0x7C00u : 0x7F80u;
        OK(gpu_vt->copy_to_device(gpu, (uint16_t *)gx + 4321, &inf, sizeof inf, NULL));
        OK(gpu_vt->sum_squares(gpu, gx, n, t, &sg));
        ck_assert(isinf(sg));
    }
}
END_TEST

/* --- norm --- */

/* LayerNorm and RMSNorm, with and without bias, forward and backward. */
static void norm_case(int64_t cols)
{
    for (int k = 0; k < 2; k++)
        for (int rms = 0; rms < 2; rms++)
            for (int hasb = 0; hasb < 2; hasb++) {
                llmrt_dtype t = LOWP[k];
                int64_t rows = 67;
                size_t es = esz(t), rc = (size_t)(rows * cols), cn = (size_t)cols;
                void *x = trand(t, rc, -2, 3), *w = trand(t, cn, 0.5f, 1.5f),
                     *b = trand(t, cn, -1, 1), *out = trand(t, rc, 0, 0),
                     *dout = trand(t, rc, -1, 1), *dx = trand(t, rc, -1, 1),
                     *dw = trand(t, cn, -1, 1), *db = trand(t, cn, -1, 1);
                float *mean = hrand((size_t)rows, 0, 0), *rstd = hrand((size_t)rows, 0, 0);
                void *gx = dev(x, rc * es), *gw = dev(w, cn * es), *gb = dev(b, cn * es),
                     *gout = dev(NULL, rc * es), *gmean = dev(NULL, (size_t)rows * 4),
                     *grstd = dev(NULL, (size_t)rows * 4), *gdout = dev(dout, rc * es),
                     *gdx = dev(dx, rc * es), *gdw = dev(dw, cn * es), *gdb = dev(db, cn * es);
                llmrt_norm_desc d = {.struct_size = sizeof d, .rows = rows, .cols = cols,
                                     .eps = 1e-5f, .rms = rms, .dtype = t, .inp = x, .weight = w,
                                     .bias = hasb ? b : NULL, .out = out,
                                     .mean = rms ? NULL : mean, .rstd = rstd, .dout = dout,
                                     .dinp = dx, .dweight = dw, .dbias = hasb ? db : NULL};
                OK(cpu_vt->norm_forward(cpu, &d));
                OK(cpu_vt->norm_backward(cpu, &d));
                llmrt_norm_desc g = {.struct_size = sizeof g, .rows = rows, .cols = cols,
                                     .eps = 1e-5f, .rms = rms, .dtype = t, .inp = gx,
                                     .weight = gw, .bias = hasb ? gb : NULL, .out = gout,
                                     .mean = rms ? NULL : gmean, .rstd = grstd, .dout = gdout,
                                     .dinp = gdx, .dweight = gdw, .dbias = hasb ? gdb : NULL};
                OK(gpu_vt->norm_forward(gpu, &g));
                OK(gpu_vt->norm_backward(gpu, &g));
                cmp_ulp("norm out", t, out, gout, rc);
                if (!rms) cmp("norm mean (fp32)", mean, gmean, (size_t)rows);
                cmp("norm rstd (fp32)", rstd, grstd, (size_t)rows);
                cmp_ulp("norm dinp", t, dx, gdx, rc);
                cmp_ulp("norm dweight", t, dw, gdw, cn);
                cmp_ulp("norm dbias", t, db, gdb, cn); /* untouched when rms or no bias */
            }
}

/* 773 columns: rows not 16-byte aligned, the element-wise path. */
START_TEST(test_norm)
{
    norm_case(768 + 5);
}
END_TEST

/* 768 columns: whole 16-byte packs per row. */
START_TEST(test_norm_packs)
{
    norm_case(768);
}
END_TEST

/* dweight/dbias over many rows: the chunked column sums (more than one
 * chunk of rows, a row count that is not a multiple of the chunk). */
START_TEST(test_norm_many_rows)
{
    llmrt_dtype t = LLMRT_DTYPE_BF16;
    int64_t rows = 20011, cols = 96;
    size_t es = esz(t), rc = (size_t)(rows * cols), cn = (size_t)cols;
    void *x = trand(t, rc, -2, 2), *w = trand(t, cn, 0.5f, 1.5f), *b = trand(t, cn, -1, 1),
         *out = trand(t, rc, 0, 0), *dout = trand(t, rc, -1, 1), *dw = trand(t, cn, -1, 1),
         *db = trand(t, cn, -1, 1);
    float *mean = hrand((size_t)rows, 0, 0), *rstd = hrand((size_t)rows, 0, 0);
    void *gx = dev(x, rc * es), *gw = dev(w, cn * es), *gb = dev(b, cn * es),
         *gout = dev(NULL, rc * es), *gmean = dev(NULL, (size_t)rows * 4),
         *grstd = dev(NULL, (size_t)rows * 4), *gdout = dev(dout, rc * es),
         *gdw = dev(dw, cn * es), *gdb = dev(db, cn * es);
    llmrt_norm_desc d = {.struct_size = sizeof d, .rows = rows, .cols = cols, .eps = 1e-5f,
                         .dtype = t, .inp = x, .weight = w, .bias = b, .out = out, .mean = mean,
                         .rstd = rstd, .dout = dout, .dweight = dw, .dbias = db};
    OK(cpu_vt->norm_forward(cpu, &d));
    OK(cpu_vt->norm_backward(cpu, &d));
    /* The gpu's backward reads the cpu's statistics, so only the column sums
     * differ between the two. */
    OK(gpu_vt->copy_to_device(gpu, gmean, mean, (size_t)rows * 4, NULL));
    OK(gpu_vt->copy_to_device(gpu, grstd, rstd, (size_t)rows * 4, NULL));
    llmrt_norm_desc g = {.struct_size = sizeof g, .rows = rows, .cols = cols, .eps = 1e-5f,
                         .dtype = t, .inp = gx, .weight = gw, .bias = gb, .out = gout,
                         .mean = gmean, .rstd = grstd, .dout = gdout, .dweight = gdw,
                         .dbias = gdb};
    OK(gpu_vt->norm_backward(gpu, &g));
    /* 20011 terms summed in another order (256 chunks of 79 rows vs the
     * cpu's per-thread runs): the rounding errors of the running sums add up
     * like a random walk to about 1e-4 here, inside one bf16 ulp of the
     * result plus 1e-6 max|result| (about 2e-4). */
    cmp_ulp("norm dweight (many rows)", t, dw, gdw, cn);
    cmp_ulp("norm dbias (many rows)", t, db, gdb, cn);
}
END_TEST

/* --- softmax + cross-entropy --- */

/* padded_vocab 1024: rows of whole 16-byte packs; 1003: element-wise. */
START_TEST(test_softmax_xent)
{
    for (int k = 0; k < 4; k++) {
        llmrt_dtype t = LOWP[k % 2];
        int64_t rows = 41, V = 1001, Vp = k < 2 ? 1024 : 1003;
        size_t es = esz(t), rc = (size_t)(rows * Vp);
        void *logits = trand(t, rc, -6, 6), *dl = trand(t, rc, 0, 0);
        float *losses = hrand((size_t)rows, 0, 0);
        int32_t tg[41];
        for (int i = 0; i < rows; i++)
            tg[i] = i % 7 == 3 ? -1 : (int32_t)(frand(0, 1) * (float)V) % (int32_t)V;
        int32_t *targets = hcopy(tg, sizeof tg);
        void *glog = dev(logits, rc * es), *gt = dev(tg, sizeof tg),
             *gloss = dev(NULL, (size_t)rows * 4), *gdl = dev(NULL, rc * es);
        llmrt_xent_desc d = {.struct_size = sizeof d, .rows = rows, .vocab = V,
                             .padded_vocab = Vp, .dtype = t, .logits = logits,
                             .targets = targets, .losses = losses, .dlogits = dl,
                             .dloss = 1.0f / 41};
        OK(cpu_vt->softmax_xent(cpu, &d));
        llmrt_xent_desc g = d;
        g.logits = glog;
        g.targets = gt;
        g.losses = gloss;
        g.dlogits = gdl;
        OK(gpu_vt->softmax_xent(gpu, &g));
        cmp("xent losses (fp32)", losses, gloss, (size_t)rows);
        cmp_ulp("xent dlogits", t, dl, gdl, rc);
        g.dlogits = glog; /* in place */
        OK(gpu_vt->softmax_xent(gpu, &g));
        cmp("xent losses (fp32, in place)", losses, gloss, (size_t)rows);
        cmp_ulp("xent dlogits (in place)", t, dl, glog, rc);
    }
}
END_TEST

/* --- embedding --- */

/* A vocabulary much larger than the rows, ids drawn mostly from a few hot
 * values (long runs after the sort) and otherwise anywhere in the table. */
static void one_embedding(llmrt_dtype t, int64_t tab, int64_t dim, int64_t rows)
{
    size_t es = esz(t), nt = (size_t)(tab * dim), no = (size_t)(rows * dim);
    int32_t *ids = malloc((size_t)rows * sizeof *ids);
    ck_assert_ptr_nonnull(ids);
    for (int64_t i = 0; i < rows; i++)
        ids[i] = frand(0, 1) < 0.5f ? (int32_t)(frand(0, 1) * 5) % 5 * (int32_t)(tab / 5)
                                    : (int32_t)(frand(0, 1) * (float)tab) % (int32_t)tab;
    ids[rows - 1] = (int32_t)tab - 1; /* the last row of the table */
    int32_t *hids = hcopy(ids, (size_t)rows * sizeof *ids);
    void *table = trand(t, nt, -1, 1), *out = trand(t, no, -1, 1), *dout = trand(t, no, -1, 1),
         *dt = trand(t, nt, -1, 1);
    void *gids = dev(ids, (size_t)rows * sizeof *ids), *gtable = dev(table, nt * es),
         *gout = dev(out, no * es), *gdout = dev(dout, no * es), *gdt = dev(dt, nt * es);
    free(ids);
    char what[96];
    for (int acc = 1; acc >= 0; acc--) {
        snprintf(what, sizeof what, "embedding forward%s tab %lld dim %lld rows %lld",
                 acc ? " (accumulate)" : "", (long long)tab, (long long)dim, (long long)rows);
        OK(cpu_vt->embedding_forward(cpu, out, hids, table, rows, dim, t, acc));
        OK(gpu_vt->embedding_forward(gpu, gout, gids, gtable, rows, dim, t, acc));
        cmp_bits(what, t, out, gout, no);
    }
    /* Twice: the second call reuses the context's scratch. */
    for (int rep = 0; rep < 2; rep++) {
        snprintf(what, sizeof what, "embedding backward #%d tab %lld dim %lld rows %lld", rep + 1,
                 (long long)tab, (long long)dim, (long long)rows);
        OK(cpu_vt->embedding_backward(cpu, dt, hids, dout, rows, dim, t));
        OK(gpu_vt->embedding_backward(gpu, gdt, gids, gdout, rows, dim, t));
        cmp_bits(what, t, dt, gdt, nt); /* untouched rows included */
    }
}

START_TEST(test_embedding)
{
    for (int k = 0; k < 3; k++) {
        one_embedding(ALL[k], 20011, 64, 1001); /* 16-byte packs */
        one_embedding(ALL[k], 5003, 77, 333);   /* odd dim: the scalar path */
        one_embedding(ALL[k], 7, 8, 2000);      /* runs of hundreds of equal ids */
    }
}
END_TEST

/* --- what stays unsupported --- */

START_TEST(test_unsupported)
{
    void *x = dev(NULL, 64);
    int rc = gpu_vt->relu_forward(gpu, x, x, 8, LLMRT_DTYPE_I8);
    ck_assert_int_eq(rc, LLMRT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(test_host_error(), "cuda"));
    ck_assert_ptr_nonnull(strstr(test_host_error(), "relu_forward"));
    ck_assert_ptr_nonnull(strstr(test_host_error(), "i8"));
    rc = gpu_vt->mul(gpu, x, x, x, 8, LLMRT_DTYPE_I32);
    ck_assert_int_eq(rc, LLMRT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(test_host_error(), "mul"));
    ck_assert_ptr_nonnull(strstr(test_host_error(), "i32"));
}
END_TEST

int main(void)
{
    cuda_test_load("test_cuda_lowp");
    Suite *s = suite_create("cuda_lowp");
    TCase *tc = tcase_create("f16 and bf16 vs cpu");
    tcase_add_checked_fixture(tc, cuda_test_setup, cuda_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_add_scale);
    tcase_add_test(tc, test_relu_mul);
    tcase_add_test(tc, test_gelu);
    tcase_add_test(tc, test_bias_grad);
    tcase_add_test(tc, test_sum_squares);
    tcase_add_test(tc, test_norm);
    tcase_add_test(tc, test_norm_packs);
    tcase_add_test(tc, test_norm_many_rows);
    tcase_add_test(tc, test_softmax_xent);
    tcase_add_test(tc, test_embedding);
    tcase_add_test(tc, test_unsupported);
    suite_add_tcase(s, tc);
    return cuda_test_run(s);
}
