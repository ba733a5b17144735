/* test_cuda_attention.c — the tiled attention of the cuda backend
 * (plugins/cuda/cuda_attention.cu) against the cpu backend (the reference,
 * plugins/cpu/cpu_attention.c) on the same inputs: forward (out, lse) and
 * backward (dq, dk, dv added into, dbias) in f32, bf16 and f16, causal and
 * bidirectional, q_len != kv_len both ways (rows that see no key), lengths
 * that are not multiples of any tile, head_dim 64, 128 and odd widths (40,
 * 96, 160, 256: the padded paths), kv_len 0, q, k and v as slices of one
 * fused qkv row, vector and scalar (misaligned) access, bias and dbias, and
 * determinism (two backward runs bit-identical).
 *
 * Without a usable GPU the program exits 77 (SKIP). Written on a machine
 * without a GPU: so far it has only been seen to skip (docs/cuda.md).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/convert.h>

#include "cuda_test_util.h"

typedef struct shape {
    int64_t B, H, Tq, Tk, D;
    int causal, bias;
    int pad;    /* 0: strides keep 16-byte rows (vector loads); 1: odd strides (scalar) */
    int no_out; /* backward without out: delta recomputed from the scores */
} shape;

static const shape shapes[] = {
    {2, 3, 77, 77, 64, 1, 0, 0, 0},   /* GPT-2 like, partial last tiles */
    {2, 3, 77, 77, 64, 0, 1, 0, 0},   /* bidirectional with bias */
    {1, 2, 20, 45, 128, 1, 1, 0, 0},  /* q_len < kv_len: causal offset 25 */
    {1, 2, 70, 33, 40, 1, 0, 1, 0},   /* q_len > kv_len: 37 rows see no key; scalar path */
    {2, 1, 33, 100, 96, 0, 0, 1, 1},  /* padded 128 path, scalar, delta from P */
    {1, 2, 130, 130, 64, 1, 1, 0, 0}, /* several query and key tiles */
    {1, 1, 50, 61, 160, 1, 0, 0, 0},  /* the 192 (mma) / 256 (CUDA-core) paths */
    {1, 1, 40, 40, 256, 0, 1, 0, 0},  /* the widest head */
    {2, 2, 5, 0, 64, 1, 1, 0, 0},     /* no keys at all: out 0, lse -inf, no gradient */
};

static float widen(llmrt_dtype t, const void *p, size_t i)
{
    switch (t) {
    case LLMRT_DTYPE_BF16: return llmrt_bf16_to_f32(((const uint16_t *)p)[i]);
    case LLMRT_DTYPE_F16: return llmrt_f16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

/* n random values of type t in [lo, hi) (host memory freed by teardown). */
static void *rand_t(llmrt_dtype t, size_t n, float lo, float hi)
{
    float *f = hrand(n, lo, hi);
    if (t == LLMRT_DTYPE_F32) return f;
    uint16_t *h = malloc(n * sizeof *h);
    ck_assert_ptr_nonnull(h);
    for (size_t i = 0; i < n; i++)
        h[i] = t == LLMRT_DTYPE_BF16 ? llmrt_f32_to_bf16(f[i]) : llmrt_f32_to_f16(f[i]);
    void *r = hcopy(h, n * sizeof *h);
    free(h);
    return r;
}

/* Columns [off, off + width) of `rows` rows at row stride `stride`, widened
 * to fp32 (a teardown-freed buffer). */
static float *part(llmrt_dtype t, const void *p, int64_t rows, int64_t stride, int64_t off,
                   int64_t width)
{
    float *f = hrand((size_t)(rows * width), 0, 0);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < width; c++)
            f[r * width + c] = widen(t, p, (size_t)(r * stride + off + c));
    return f;
}

/* A host copy of `bytes` of device memory. */
static void *to_host(const void *d, size_t bytes)
{
    void *h = hrand(bytes / sizeof(float) + 1, 0, 0);
    ck_assert_msg(gpu_vt->copy_to_host(gpu, h, d, bytes, NULL) == LLMRT_OK, "copy_to_host: %s",
                  test_host_error());
    return h;
}

/* |got - ref| <= rel |ref| + abs_frac max|ref| elementwise (equal values,
 * infinities included, pass), as cuda_test_util's cmp(). */
static void close_enough(const char *what, const char *which, const float *ref, const float *got,
                         size_t n, double rel, double abs_frac)
{
    double maxabs = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(ref[i]) && fabs(ref[i]) > maxabs) maxabs = fabs(ref[i]);
    for (size_t i = 0; i < n; i++) {
        if (got[i] == ref[i]) continue;
        double tol = rel * fabs(ref[i]) + abs_frac * maxabs;
        ck_assert_msg(fabs((double)got[i] - (double)ref[i]) <= tol,
                      "%s %s[%zu]: cuda %.9g, cpu %.9g (tolerance %.3g)", what, which, i,
                      (double)got[i], (double)ref[i], tol);
    }
}

/* Tolerances. f32: cmp()'s 1e-5 relative + 1e-6 of the largest value (the
 * two backends add in different orders).
 * f16/bf16: both backends read the same 16-bit inputs and compute in fp32,
 * so the differences come from rounding; u is the unit roundoff (bf16 2^-8,
 * f16 2^-11), the test is |cuda - cpu| <= k u (|cpu| + max|cpu|):
 *  - out, k = 4: the cuda forward rounds each P (<= 1) to the input type for
 *    the P V product on tensor cores, which moves an output by at most
 *    u sum_j P_j |v_j| <= u max|v| (and by about u max|v| / sqrt(keys) in
 *    practice: the roundings are independent); both backends round the
 *    result (<= u |out| each).
 *  - lse: exact 16-bit products accumulated in fp32 on both sides, 1e-4
 *    relative.
 *  - dq, dk, dv, dbias, k = 8: the tensor-core backward rounds P and dS for
 *    its products (<= u each, like P above); cuda's delta = rowsum(dO * out)
 *    uses the stored, rounded out (FlashAttention-2's choice) where the cpu
 *    sums P dP in fp32, which moves dS by P u sum_d |dO_d| |out_d| at most;
 *    both backends round the sum with the initial gradient once.
 * The initial gradients (rule 8: added into) are small in 16-bit, so that
 * max|cpu| is the gradient's own scale and not the initial values'. A
 * double-precision reference run of these shapes through a CPU emulation
 * of the kernels (see docs/cuda.md) stayed within 0.16 of these bounds. */
typedef struct tols {
    double out, lse, dv, grad; /* relative */
    double abs_scale;          /* the max|ref| term is abs_scale times the relative one */
} tols;

static tols tolerances(llmrt_dtype t)
{
    if (t == LLMRT_DTYPE_F32) return (tols){1e-5, 1e-5, 1e-5, 1e-5, 0.1};
    double u = t == LLMRT_DTYPE_BF16 ? 0x1p-8 : 0x1p-11;
    return (tols){4 * u, 1e-4, 8 * u, 8 * u, 1.0};
}

static void one_case(llmrt_dtype t, const shape *s)
{
    const int64_t B = s->B, H = s->H, Tq = s->Tq, Tk = s->Tk, D = s->D, W = H * D;
    const int64_t qs = 3 * W + (s->pad ? 1 : 0), os = W + (s->pad ? 3 : 8);
    const int64_t rows = B * (Tq > Tk ? Tq : Tk);
    const size_t es = llmrt_dtype_size(t), nqkv = (size_t)(rows * qs), nout = (size_t)(B * Tq * os);
    const size_t nl = (size_t)(B * H * Tq), nb = (size_t)(H * Tq * Tk);
    char what[160];
    snprintf(what, sizeof what,
             "%s B%lld H%lld Tq%lld Tk%lld D%lld causal %d bias %d pad %d no_out %d",
             t == LLMRT_DTYPE_F32 ? "f32" : t == LLMRT_DTYPE_BF16 ? "bf16" : "f16", (long long)B,
             (long long)H, (long long)Tq, (long long)Tk, (long long)D, s->causal, s->bias, s->pad,
             s->no_out);

    void *qkv = rand_t(t, nqkv, -1, 1), *dout = rand_t(t, nout, -1, 1);
    const float g0 = t == LLMRT_DTYPE_F32 ? 0.5f : 0.05f; /* initial gradients */
    /* out starts random on both sides: both must overwrite it. */
    void *dqkv0 = rand_t(t, nqkv, -g0, g0), *out = rand_t(t, nout, -1, 1);
    void *dqkv = hcopy(dqkv0, nqkv * es);
    float *bias = hrand(nb, -0.5f, 0.5f), *lse = hrand(nl, 0, 0), *dbias0 = hrand(nb, -g0, g0);
    float *dbias = hcopy(dbias0, nb * sizeof(float));
    llmrt_attention_desc d = {
        .struct_size = sizeof d, .batch = B, .heads = H, .q_len = Tq, .kv_len = Tk,
        .head_dim = D, .dtype = t, .scale = 1.0f / sqrtf((float)D), .causal = s->causal,
        .q = qkv, .q_row_stride = qs,
        .k = (char *)qkv + W * es, .k_row_stride = qs,
        .v = (char *)qkv + 2 * W * es, .v_row_stride = qs,
        .out = out, .out_row_stride = os, .lse = lse, .bias = s->bias ? bias : NULL,
        .dout = dout, .dq = dqkv, .dk = (char *)dqkv + W * es, .dv = (char *)dqkv + 2 * W * es,
        .dbias = s->bias ? dbias : NULL};
    void *gqkv = dev(qkv, nqkv * es), *gout = dev(out, nout * es), *glse = dev(NULL, nl * 4);
    void *gbias = dev(bias, nb * 4), *gdout = dev(dout, nout * es), *gdqkv = dev(dqkv0, nqkv * es);
    void *gdb = dev(dbias0, nb * 4);
    OK(cpu_vt->attention_forward(cpu, &d));
    OK(cpu_vt->attention_backward(cpu, &d));
    llmrt_attention_desc g = d;
    g.q = gqkv;
    g.k = (char *)gqkv + W * es;
    g.v = (char *)gqkv + 2 * W * es;
    g.out = gout;
    g.lse = glse;
    g.bias = s->bias ? gbias : NULL;
    g.dout = gdout;
    g.dq = gdqkv;
    g.dk = (char *)gdqkv + W * es;
    g.dv = (char *)gdqkv + 2 * W * es;
    g.dbias = s->bias ? gdb : NULL;
    OK(gpu_vt->attention_forward(gpu, &g));
    llmrt_attention_desc gb = g;
    if (s->no_out) gb.out = NULL;
    OK(gpu_vt->attention_backward(gpu, &gb));

    const tols tol = tolerances(t);
    const float *hout = to_host(gout, nout * es), *hlse = to_host(glse, nl * 4);
    const void *hdqkv = to_host(gdqkv, nqkv * es);
    const float *hdb = s->bias ? to_host(gdb, nb * 4) : NULL;
    close_enough(what, "out", part(t, out, B * Tq, os, 0, W), part(t, hout, B * Tq, os, 0, W),
                 (size_t)(B * Tq * W), tol.out, tol.out * tol.abs_scale);
    close_enough(what, "lse", lse, hlse, nl, tol.lse, tol.lse / 10);
    const double gabs = tol.grad * tol.abs_scale, vabs = tol.dv * tol.abs_scale;
    close_enough(what, "dq", part(t, dqkv, B * Tq, qs, 0, W), part(t, hdqkv, B * Tq, qs, 0, W),
                 (size_t)(B * Tq * W), tol.grad, gabs);
    close_enough(what, "dk", part(t, dqkv, B * Tk, qs, W, W), part(t, hdqkv, B * Tk, qs, W, W),
                 (size_t)(B * Tk * W), tol.grad, gabs);
    close_enough(what, "dv", part(t, dqkv, B * Tk, qs, 2 * W, W),
                 part(t, hdqkv, B * Tk, qs, 2 * W, W), (size_t)(B * Tk * W), tol.dv, vabs);
    /* The padding columns of the fused rows are not touched. */
    if (s->pad)
        close_enough(what, "dqkv padding", part(t, dqkv, rows, qs, 3 * W, qs - 3 * W),
                     part(t, hdqkv, rows, qs, 3 * W, qs - 3 * W), (size_t)(rows * (qs - 3 * W)),
                     0, 0);
    close_enough(what, "out padding", part(t, out, B * Tq, os, W, os - W),
                 part(t, hout, B * Tq, os, W, os - W), (size_t)(B * Tq * (os - W)), 0, 0);
    if (s->bias) close_enough(what, "dbias", dbias, hdb, nb, tol.grad, gabs);

    /* Determinism (rule 9): the same backward again from the same start. */
    OK(gpu_vt->copy_to_device(gpu, gdqkv, dqkv0, nqkv * es, NULL));
    OK(gpu_vt->copy_to_device(gpu, gdb, dbias0, nb * 4, NULL));
    OK(gpu_vt->attention_backward(gpu, &gb));
    const void *again = to_host(gdqkv, nqkv * es);
    ck_assert_msg(memcmp(again, hdqkv, nqkv * es) == 0, "%s: dq/dk/dv differ between two runs",
                  what);
    if (s->bias)
        ck_assert_msg(memcmp(to_host(gdb, nb * 4), hdb, nb * 4) == 0,
                      "%s: dbias differs between two runs", what);
}

static void all_shapes(llmrt_dtype t)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) one_case(t, &shapes[i]);
}

START_TEST(test_f32) { all_shapes(LLMRT_DTYPE_F32); }
END_TEST

START_TEST(test_bf16) { all_shapes(LLMRT_DTYPE_BF16); }
END_TEST

START_TEST(test_f16) { all_shapes(LLMRT_DTYPE_F16); }
END_TEST

/* Refusals name the kernel and what is not supported. */
START_TEST(test_refusals)
{
    float *h = dev(NULL, 4096);
    llmrt_attention_desc d = {.struct_size = sizeof d, .batch = 1, .heads = 1, .q_len = 2,
                              .kv_len = 2, .head_dim = 257, .dtype = LLMRT_DTYPE_F32,
                              .scale = 1, .q = h, .q_row_stride = 257, .k = h,
                              .k_row_stride = 257, .v = h, .v_row_stride = 257, .out = h,
                              .out_row_stride = 257, .lse = h};
    ck_assert_int_eq(gpu_vt->attention_forward(gpu, &d), LLMRT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(test_host_error(), "head_dim"));
    d.head_dim = 16;
    d.dtype = LLMRT_DTYPE_I8;
    ck_assert_int_eq(gpu_vt->attention_forward(gpu, &d), LLMRT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(test_host_error(), "attention_forward"));
    d.dtype = LLMRT_DTYPE_F32;
    d.q_row_stride = 8;
    ck_assert_int_eq(gpu_vt->attention_forward(gpu, &d), LLMRT_ERR_INVALID);
}
END_TEST

int main(void)
{
    cuda_test_load("test_cuda_attention");
    Suite *s = suite_create("cuda_attention");
    TCase *tc = tcase_create("vs cpu");
    tcase_add_checked_fixture(tc, cuda_test_setup, cuda_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_f32);
    tcase_add_test(tc, test_bf16);
    tcase_add_test(tc, test_f16);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    return cuda_test_run(s);
}
