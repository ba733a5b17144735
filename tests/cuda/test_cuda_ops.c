/* test_cuda_ops.c — every kernel of the cuda backend against the cpu backend
 * on the same inputs (tolerances in cuda_test_util.h).
 *
 * Without a usable GPU (cuda's probe returns 0) the whole program exits 77:
 * automake's SKIP. Written on a machine without a GPU: so far it has only
 * been seen to skip (docs/cuda.md).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_test_util.h"

/* --- tests --- */

START_TEST(test_caps_memory_streams)
{
    llmrt_compute_caps caps = {.struct_size = sizeof caps};
    OK(gpu_vt->get_caps(gpu, &caps));
    ck_assert_int_eq(caps.host_addressable, 0);
    ck_assert(caps.total_memory > 0);
    ck_assert(caps.peak_flops_f32 > 0);
    ck_assert_ptr_nonnull(caps.device_name);
    fprintf(stderr, "cuda: %s; peak f32 %.3g, bf16 %.3g FLOP/s (%s)\n", caps.device_name,
            caps.peak_flops_f32, caps.peak_flops_bf16, caps.peak_source);

    /* alloc(0) is unique; memset, copy, streams and events order work. */
    void *z1 = NULL, *z2 = NULL;
    OK(gpu_vt->alloc(gpu, 0, &z1));
    OK(gpu_vt->alloc(gpu, 0, &z2));
    ck_assert(z1 != z2);
    gpu_vt->free(gpu, z1);
    gpu_vt->free(gpu, z2);
    gpu_vt->free(gpu, NULL);

    enum { N = 1 << 20 };
    unsigned char *h = malloc(N), *back = malloc(N);
    for (int i = 0; i < N; i++) h[i] = (unsigned char)(i * 7);
    void *a = dev(h, N), *b = dev(NULL, N);
    llmrt_stream *s2 = NULL;
    llmrt_event *e = NULL;
    OK(gpu_vt->stream_create(gpu, &s2));
    ck_assert_ptr_nonnull(gpu_vt->stream_native(gpu, s2));
    ck_assert_ptr_nonnull(gpu_vt->stream_native(gpu, NULL));
    ck_assert(gpu_vt->stream_native(gpu, s2) != gpu_vt->stream_native(gpu, NULL));
    OK(gpu_vt->event_create(gpu, &e));
    OK(gpu_vt->memset(gpu, b, 0x5A, N, NULL));
    OK(gpu_vt->event_record(gpu, e, NULL));
    OK(gpu_vt->stream_wait_event(gpu, s2, e));
    OK(gpu_vt->copy(gpu, b, a, N / 2, s2)); /* after the memset */
    OK(gpu_vt->stream_synchronize(gpu, s2));
    OK(gpu_vt->copy_to_host(gpu, back, b, N, NULL));
    ck_assert_int_eq(memcmp(back, h, N / 2), 0);
    for (int i = N / 2; i < N; i++) ck_assert_int_eq(back[i], 0x5A);
    OK(gpu_vt->event_synchronize(gpu, e));
    OK(gpu_vt->synchronize(gpu));

    void *pinned = NULL;
    OK(gpu_vt->host_alloc_pinned(gpu, N, &pinned));
    memset(pinned, 1, N); /* host memory */
    OK(gpu_vt->copy_to_device(gpu, a, pinned, N, s2));
    OK(gpu_vt->copy_to_host(gpu, back, a, N, s2));
    ck_assert_int_eq(memcmp(back, pinned, N), 0);
    gpu_vt->host_free_pinned(gpu, pinned);
    gpu_vt->event_destroy(gpu, e);
    gpu_vt->stream_destroy(gpu, s2);
    /* A stream left alive is freed by destroy (teardown). */
    OK(gpu_vt->stream_create(gpu, &s2));
    free(h);
    free(back);
}
END_TEST

static void one_gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t batch, int bias,
                     float beta)
{
    int64_t bt = batch < 1 ? 1 : batch;
    int64_t lda = ta ? m : k, ldb = tb ? k : n, ldc = n + 3;
    int64_t sa = m * k + 5, sb = k * n + 7, sc = m * ldc + 2;
    size_t na = (size_t)(sa * bt), nb = (size_t)(sb * bt), nc = (size_t)(sc * bt);
    float *a = hrand(na, -1, 1), *b = hrand(nb, -1, 1), *c = hrand(nc, -1, 1);
    float *bi = hrand((size_t)n, -1, 1);
    void *ga = dev(a, na * 4), *gb = dev(b, nb * 4), *gc = dev(c, nc * 4), *gbi = dev(bi, n * 4);
    llmrt_gemm_desc d = {
        .struct_size = sizeof d, .trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k,
        .alpha = 0.75f, .beta = beta,
        .a = a, .lda = lda, .a_type = LLMRT_DTYPE_F32,
        .b = b, .ldb = ldb, .b_type = LLMRT_DTYPE_F32,
        .c = c, .ldc = ldc, .c_type = LLMRT_DTYPE_F32,
        .bias = bias ? bi : NULL, .batch = batch, .stride_a = sa, .stride_b = sb, .stride_c = sc,
    };
    OK(cpu_vt->gemm(cpu, &d));
    d.a = ga;
    d.b = gb;
    d.c = gc;
    d.bias = bias ? gbi : NULL;
    OK(gpu_vt->gemm(gpu, &d));
    char what[96];
    snprintf(what, sizeof what, "gemm ta=%d tb=%d %lldx%lldx%lld batch %lld bias %d beta %g", ta,
             tb, (long long)m, (long long)n, (long long)k, (long long)batch, bias, beta);
    cmp(what, c, gc, nc);
}

START_TEST(test_gemm)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            one_gemm(ta, tb, 37, 53, 29, 0, 0, 0.0f);
            one_gemm(ta, tb, 64, 96, 128, 1, 1, 1.0f);
            one_gemm(ta, tb, 17, 9, 33, 3, 1, 0.5f);
        }
}
END_TEST

START_TEST(test_bias_grad)
{
    int64_t rows = 300, cols = 77;
    float *dout = hrand((size_t)(rows * cols), -1, 1), *db = hrand((size_t)cols, -1, 1);
    void *gdout = dev(dout, rows * cols * 4), *gdb = dev(db, cols * 4);
    OK(cpu_vt->bias_grad(cpu, db, dout, rows, cols, LLMRT_DTYPE_F32));
    OK(gpu_vt->bias_grad(gpu, gdb, gdout, rows, cols, LLMRT_DTYPE_F32));
    cmp("bias_grad", db, gdb, (size_t)cols);
}
END_TEST

START_TEST(test_norm)
{
    for (int rms = 0; rms < 2; rms++)
        for (int hasb = 0; hasb < 2; hasb++) {
            int64_t rows = 67, cols = 768 + 5;
            size_t rc = (size_t)(rows * cols);
            float *x = hrand(rc, -2, 3), *w = hrand((size_t)cols, 0.5f, 1.5f),
                  *b = hrand((size_t)cols, -1, 1), *out = hrand(rc, 0, 0),
                  *mean = hrand((size_t)rows, 0, 0), *rstd = hrand((size_t)rows, 0, 0),
                  *dout = hrand(rc, -1, 1), *dx = hrand(rc, -1, 1),
                  *dw = hrand((size_t)cols, -1, 1), *db = hrand((size_t)cols, -1, 1);
            void *gx = dev(x, rc * 4), *gw = dev(w, cols * 4), *gb = dev(b, cols * 4),
                 *gout = dev(NULL, rc * 4), *gmean = dev(NULL, rows * 4),
                 *grstd = dev(NULL, rows * 4), *gdout = dev(dout, rc * 4), *gdx = dev(dx, rc * 4),
                 *gdw = dev(dw, cols * 4), *gdb = dev(db, cols * 4);
            llmrt_norm_desc d = {.struct_size = sizeof d, .rows = rows, .cols = cols,
                                 .eps = 1e-5f, .rms = rms, .dtype = LLMRT_DTYPE_F32,
                                 .inp = x, .weight = w, .bias = hasb ? b : NULL, .out = out,
                                 .mean = rms ? NULL : mean, .rstd = rstd, .dout = dout,
                                 .dinp = dx, .dweight = dw, .dbias = hasb ? db : NULL};
            OK(cpu_vt->norm_forward(cpu, &d));
            OK(cpu_vt->norm_backward(cpu, &d));
            llmrt_norm_desc g = {.struct_size = sizeof g, .rows = rows, .cols = cols,
                                 .eps = 1e-5f, .rms = rms, .dtype = LLMRT_DTYPE_F32,
                                 .inp = gx, .weight = gw, .bias = hasb ? gb : NULL, .out = gout,
                                 .mean = rms ? NULL : gmean, .rstd = grstd, .dout = gdout,
                                 .dinp = gdx, .dweight = gdw, .dbias = hasb ? gdb : NULL};
            OK(gpu_vt->norm_forward(gpu, &g));
            OK(gpu_vt->norm_backward(gpu, &g));
            cmp("norm out", out, gout, rc);
            if (!rms) cmp("norm mean", mean, gmean, (size_t)rows);
            cmp("norm rstd", rstd, grstd, (size_t)rows);
            cmp("norm dinp", dx, gdx, rc);
            cmp("norm dweight", dw, gdw, (size_t)cols);
            cmp("norm dbias", db, gdb, (size_t)cols);
        }
}
END_TEST

START_TEST(test_gelu)
{
    for (int kind = 0; kind < 2; kind++) {
        size_t n = 100003;
        float *x = hrand(n, -8, 8), *out = hrand(n, 0, 0), *dout = hrand(n, -1, 1),
              *dx = hrand(n, -1, 1);
        void *gx = dev(x, n * 4), *gout = dev(NULL, n * 4), *gdout = dev(dout, n * 4),
             *gdx = dev(dx, n * 4);
        OK(cpu_vt->gelu_forward(cpu, out, x, n, LLMRT_DTYPE_F32, (llmrt_gelu_kind)kind));
        OK(cpu_vt->gelu_backward(cpu, dx, x, dout, n, LLMRT_DTYPE_F32, (llmrt_gelu_kind)kind));
        OK(gpu_vt->gelu_forward(gpu, gout, gx, n, LLMRT_DTYPE_F32, (llmrt_gelu_kind)kind));
        OK(gpu_vt->gelu_backward(gpu, gdx, gx, gdout, n, LLMRT_DTYPE_F32, (llmrt_gelu_kind)kind));
        cmp(kind ? "gelu erf out" : "gelu tanh out", out, gout, n);
        cmp(kind ? "gelu erf dinp" : "gelu tanh dinp", dx, gdx, n);
    }
}
END_TEST

/* q, k, v as slices of one fused qkv row (stride 3 H D), out/dout with their
 * own stride; with and without causal mask, bias/dbias and q_len < kv_len. */
static void one_attention(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, int causal,
                          int bias)
{
    int64_t W = H * D, qs = 3 * W, os = W + 4;
    size_t nq = (size_t)(B * (Tq > Tk ? Tq : Tk) * qs), no = (size_t)(B * Tq * os);
    size_t nl = (size_t)(B * H * Tq), nb = (size_t)(H * Tq * Tk);
    float *qkv = hrand(nq, -1, 1), *out = hrand(no, 0, 0), *lse = hrand(nl, 0, 0),
          *bi = hrand(nb, -0.5f, 0.5f), *dout = hrand(no, -1, 1), *dqkv = hrand(nq, -1, 1),
          *db = hrand(nb, -1, 1);
    void *gqkv = dev(qkv, nq * 4), *gout = dev(NULL, no * 4), *glse = dev(NULL, nl * 4),
         *gbi = dev(bi, nb * 4), *gdout = dev(dout, no * 4), *gdqkv = dev(dqkv, nq * 4),
         *gdb = dev(db, nb * 4);
    llmrt_attention_desc d = {
        .struct_size = sizeof d, .batch = B, .heads = H, .q_len = Tq, .kv_len = Tk,
        .head_dim = D, .dtype = LLMRT_DTYPE_F32, .scale = 1.0f / sqrtf((float)D),
        .causal = causal, .q = qkv, .q_row_stride = qs, .k = qkv + W, .k_row_stride = qs,
        .v = qkv + 2 * W, .v_row_stride = qs, .out = out, .out_row_stride = os, .lse = lse,
        .bias = bias ? bi : NULL, .dout = dout, .dq = dqkv, .dk = dqkv + W, .dv = dqkv + 2 * W,
        .dbias = bias ? db : NULL};
    OK(cpu_vt->attention_forward(cpu, &d));
    OK(cpu_vt->attention_backward(cpu, &d));
    llmrt_attention_desc g = d;
    g.q = gqkv;
    g.k = (float *)gqkv + W;
    g.v = (float *)gqkv + 2 * W;
    g.out = gout;
    g.lse = glse;
    g.bias = bias ? gbi : NULL;
    g.dout = gdout;
    g.dq = gdqkv;
    g.dk = (float *)gdqkv + W;
    g.dv = (float *)gdqkv + 2 * W;
    g.dbias = bias ? gdb : NULL;
    OK(gpu_vt->attention_forward(gpu, &g));
    OK(gpu_vt->attention_backward(gpu, &g));
    char what[96];
    snprintf(what, sizeof what, "attention B%lld H%lld Tq%lld Tk%lld D%lld causal %d bias %d",
             (long long)B, (long long)H, (long long)Tq, (long long)Tk, (long long)D, causal,
             bias);
    cmp(what, out, gout, no);
    cmp(what, lse, glse, nl); /* -inf rows: equal values pass */
    cmp(what, dqkv, gdqkv, nq);
    if (bias) cmp(what, db, gdb, nb);
}

START_TEST(test_attention)
{
    for (int causal = 0; causal < 2; causal++)
        for (int bias = 0; bias < 2; bias++) {
            one_attention(2, 3, 37, 37, 16, causal, bias);
            one_attention(1, 2, 20, 45, 64, causal, bias);
        }
    one_attention(1, 2, 30, 12, 8, 1, 0); /* rows that see no key: lse -inf, out 0 */
}
END_TEST

START_TEST(test_softmax_xent)
{
    int64_t rows = 41, V = 1000, Vp = 1024;
    size_t rc = (size_t)(rows * Vp);
    float *logits = hrand(rc, -6, 6), *losses = hrand((size_t)rows, 0, 0),
          *dl = hrand(rc, 0, 0);
    int32_t tg[41];
    for (int i = 0; i < rows; i++) tg[i] = i % 7 == 3 ? -1 : (int32_t)(frand(0, 1) * (float)V) % V;
    int32_t *targets = hcopy(tg, sizeof tg);
    void *glog = dev(logits, rc * 4), *gt = dev(tg, sizeof tg), *gloss = dev(NULL, rows * 4),
         *gdl = dev(NULL, rc * 4);
    /* Separate dlogits on the cpu; in place (dlogits == logits) on the gpu. */
    llmrt_xent_desc d = {.struct_size = sizeof d, .rows = rows, .vocab = V, .padded_vocab = Vp,
                         .dtype = LLMRT_DTYPE_F32, .logits = logits, .targets = targets,
                         .losses = losses, .dlogits = dl, .dloss = 1.0f / 41};
    OK(cpu_vt->softmax_xent(cpu, &d));
    llmrt_xent_desc g = d;
    g.logits = glog;
    g.targets = gt;
    g.losses = gloss;
    g.dlogits = gdl;
    OK(gpu_vt->softmax_xent(gpu, &g));
    cmp("xent losses", losses, gloss, (size_t)rows);
    cmp("xent dlogits", dl, gdl, rc);
    g.dlogits = glog;
    OK(gpu_vt->softmax_xent(gpu, &g));
    cmp("xent losses (in place)", losses, gloss, (size_t)rows);
    cmp("xent dlogits (in place)", dl, glog, rc);
}
END_TEST

START_TEST(test_embedding)
{
    int64_t tab = 50, dim = 96, rows = 333;
    int32_t ids[333];
    for (int i = 0; i < rows; i++) ids[i] = (int32_t)(frand(0, 1) * 10) % 10; /* many repeats */
    int32_t *hids = hcopy(ids, sizeof ids);
    float *table = hrand((size_t)(tab * dim), -1, 1), *out = hrand((size_t)(rows * dim), -1, 1),
          *dout = hrand((size_t)(rows * dim), -1, 1), *dt = hrand((size_t)(tab * dim), -1, 1);
    void *gids = dev(ids, sizeof ids), *gtable = dev(table, tab * dim * 4),
         *gout = dev(out, rows * dim * 4), *gdout = dev(dout, rows * dim * 4),
         *gdt = dev(dt, tab * dim * 4);
    for (int acc = 1; acc >= 0; acc--) {
        OK(cpu_vt->embedding_forward(cpu, out, hids, table, rows, dim, LLMRT_DTYPE_F32, acc));
        OK(gpu_vt->embedding_forward(gpu, gout, gids, gtable, rows, dim, LLMRT_DTYPE_F32, acc));
        cmp(acc ? "embedding forward (accumulate)" : "embedding forward", out, gout,
            (size_t)(rows * dim));
    }
    OK(cpu_vt->embedding_backward(cpu, dt, hids, dout, rows, dim, LLMRT_DTYPE_F32));
    OK(gpu_vt->embedding_backward(gpu, gdt, gids, gdout, rows, dim, LLMRT_DTYPE_F32));
    cmp("embedding backward", dt, gdt, (size_t)(tab * dim));
}
END_TEST

START_TEST(test_elementwise_and_sum_squares)
{
    size_t n = 1000003;
    float *a = hrand(n, -3, 3), *b = hrand(n, -3, 3), *out = hrand(n, 0, 0);
    void *ga = dev(a, n * 4), *gb = dev(b, n * 4), *gout = dev(NULL, n * 4);
    OK(cpu_vt->add(cpu, out, a, b, n, LLMRT_DTYPE_F32));
    OK(gpu_vt->add(gpu, gout, ga, gb, n, LLMRT_DTYPE_F32));
    cmp("add", out, gout, n);
    OK(cpu_vt->add(cpu, a, a, b, n, LLMRT_DTYPE_F32)); /* in place */
    OK(gpu_vt->add(gpu, ga, ga, gb, n, LLMRT_DTYPE_F32));
    cmp("add (in place)", a, ga, n);
    OK(cpu_vt->scale(cpu, a, n, LLMRT_DTYPE_F32, -0.37f));
    OK(gpu_vt->scale(gpu, ga, n, LLMRT_DTYPE_F32, -0.37f));
    cmp("scale", a, ga, n);
    double sc = 0, sg = 0, sg2 = 0;
    OK(cpu_vt->sum_squares(cpu, a, n, LLMRT_DTYPE_F32, &sc));
    OK(gpu_vt->sum_squares(gpu, ga, n, LLMRT_DTYPE_F32, &sg));
    OK(gpu_vt->sum_squares(gpu, ga, n, LLMRT_DTYPE_F32, &sg2));
    ck_assert_msg(fabs(sc - sg) <= 1e-10 * sc, "sum_squares: cuda %.17g, cpu %.17g", sg, sc);
    ck_assert_msg(memcmp(&sg, &sg2, sizeof sg) == 0, "sum_squares is not deterministic");
    /* An inf propagates. */
    float inf = INFINITY;
    OK(gpu_vt->copy_to_device(gpu, (float *)ga + 12345, &inf, sizeof inf, NULL));
    OK(gpu_vt->sum_squares(gpu, ga, n, LLMRT_DTYPE_F32, &sg));
    ck_assert(isinf(sg));
}
END_TEST

START_TEST(test_adamw)
{
    size_t n = 200001;
    float *p = hrand(n, -1, 1), *g = hrand(n, -0.1f, 0.1f), *m = hrand(n, -0.01f, 0.01f),
          *v = hrand(n, 0, 0.001f);
    void *gp = dev(p, n * 4), *gg = dev(g, n * 4), *gm = dev(m, n * 4), *gv = dev(v, n * 4);
    for (int64_t t = 1; t <= 3; t++) {
        llmrt_adamw_desc d = {.struct_size = sizeof d, .n = n, .params = p, .grads = g,
                              .grad_type = LLMRT_DTYPE_F32, .m = m, .v = v, .lr = 3e-4f,
                              .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                              .grad_scale = 0.5f, .t = t};
        OK(cpu_vt->adamw(cpu, &d));
        d.params = gp;
        d.grads = gg;
        d.m = gm;
        d.v = gv;
        OK(gpu_vt->adamw(gpu, &d));
    }
    cmp("adamw params", p, gp, n);
    cmp("adamw m", m, gm, n);
    cmp("adamw v", v, gv, n);
}
END_TEST

/* Every pair of convert_ex, bit for bit against the cpu backend, on random
 * bit patterns (NaNs, infinities, subnormals, ties included). */
static void one_convert(llmrt_dtype dt, llmrt_dtype st, llmrt_rounding r, int axis)
{
    int64_t rows = 37, cols = 1001;
    size_t n = (size_t)(rows * cols), ss = llmrt_dtype_size(st), ds = llmrt_dtype_size(dt);
    unsigned char *src = (unsigned char *)hrand((n * ss + 3) / 4, 0, 0);
    for (size_t i = 0; i < n * ss; i++) src[i] = (unsigned char)(frand(0, 256));
    if (st == LLMRT_DTYPE_F32 && dt == LLMRT_DTYPE_I8) /* mostly in range, some not */
        for (size_t i = 0; i < n; i++)
            if (i % 5) ((float *)src)[i] = frand(-200, 200);
    size_t ns = axis == 0 ? (size_t)rows : axis == 1 ? (size_t)cols : 1;
    float *scales = hrand(ns, -2, 2);
    scales[0] = 0.0f; /* the eps clamp */
    if (ns > 1) scales[1] = 1e-30f;
    unsigned char *dst = (unsigned char *)hrand((n * ds + 3) / 4, 0, 0);
    void *gsrc = dev(src, n * ss), *gdst = dev(NULL, n * ds), *gsc = dev(scales, ns * 4);
    llmrt_convert_desc d = {.struct_size = sizeof d, .rows = rows, .cols = cols, .dst = dst,
                            .dst_type = dt, .src = src, .src_type = st, .rounding = r,
                            .seed = 0x1234567u, .offset = 99, .scales = scales, .axis = axis};
    OK(cpu_vt->convert_ex(cpu, &d));
    d.dst = gdst;
    d.src = gsrc;
    d.scales = gsc;
    OK(gpu_vt->convert_ex(gpu, &d));
    unsigned char *back = malloc(n * ds);
    ck_assert_ptr_nonnull(back);
    OK(gpu_vt->copy_to_host(gpu, back, gdst, n * ds, NULL));
    for (size_t i = 0; i < n * ds; i++)
        if (back[i] != dst[i]) {
            size_t e = i / ds;
            free(back);
            ck_abort_msg("convert_ex %d -> %d (rounding %d, axis %d): element %zu differs", (int)st,
                         (int)dt, (int)r, axis, e);
        }
    free(back);
}

START_TEST(test_convert)
{
    const llmrt_dtype fl[] = {LLMRT_DTYPE_F32, LLMRT_DTYPE_F16, LLMRT_DTYPE_BF16};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) one_convert(fl[a], fl[b], LLMRT_ROUND_NEAREST_EVEN, 0);
    one_convert(LLMRT_DTYPE_BF16, LLMRT_DTYPE_F32, LLMRT_ROUND_STOCHASTIC, 0);
    for (int axis = -1; axis <= 1; axis++) {
        one_convert(LLMRT_DTYPE_I8, LLMRT_DTYPE_F32, LLMRT_ROUND_NEAREST_EVEN, axis);
        one_convert(LLMRT_DTYPE_F32, LLMRT_DTYPE_I8, LLMRT_ROUND_NEAREST_EVEN, axis);
    }
    one_convert(LLMRT_DTYPE_I32, LLMRT_DTYPE_F32, LLMRT_ROUND_NEAREST_EVEN, 0);
    one_convert(LLMRT_DTYPE_F32, LLMRT_DTYPE_I32, LLMRT_ROUND_NEAREST_EVEN, 0);
}
END_TEST

START_TEST(test_fake_quant)
{
    for (int axis = -1; axis <= 1; axis++) {
        int64_t rows = 45, cols = 301;
        size_t n = (size_t)(rows * cols), ns = axis == 0 ? (size_t)rows : axis == 1 ? (size_t)cols : 1;
        float *x = hrand(n, -3, 3), *sc = hrand(ns, 0.01f, 0.05f), *out = hrand(n, 0, 0),
              *dout = hrand(n, -1, 1), *dx = hrand(n, -1, 1), *ds = hrand(ns, -1, 1);
        sc[0] = -sc[0]; /* a negative stored scale: gradient sign */
        void *gx = dev(x, n * 4), *gsc = dev(sc, ns * 4), *gout = dev(NULL, n * 4),
             *gdout = dev(dout, n * 4), *gdx = dev(dx, n * 4), *gds = dev(ds, ns * 4);
        llmrt_fake_quant_desc d = {.struct_size = sizeof d, .rows = rows, .cols = cols,
                                   .axis = axis, .qmin = -127, .qmax = 127, .x = x, .scale = sc,
                                   .out = out, .dout = dout, .dx = dx, .dscale = ds,
                                   .grad_factor = 0.01f};
        OK(cpu_vt->fake_quant_forward(cpu, &d));
        OK(cpu_vt->fake_quant_backward(cpu, &d));
        llmrt_fake_quant_desc g = d;
        g.x = gx;
        g.scale = gsc;
        g.out = gout;
        g.dout = gdout;
        g.dx = gdx;
        g.dscale = gds;
        OK(gpu_vt->fake_quant_forward(gpu, &g));
        OK(gpu_vt->fake_quant_backward(gpu, &g));
        cmp("fake_quant out", out, gout, n);
        cmp("fake_quant dx", dx, gdx, n);
        cmp("fake_quant dscale", ds, gds, ns);
    }
}
END_TEST

START_TEST(test_unsupported_dtype)
{
    /* int8 stays unsupported for scale (f32, f16 and bf16 are not). */
    void *x = dev(NULL, 64);
    int rc = gpu_vt->scale(gpu, x, 8, LLMRT_DTYPE_I8, 2.0f);
    ck_assert_int_eq(rc, LLMRT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(test_host_error(), "cuda"));
    ck_assert_ptr_nonnull(strstr(test_host_error(), "scale"));
    ck_assert_ptr_nonnull(strstr(test_host_error(), "i8"));
}
END_TEST

int main(void)
{
    cuda_test_load("test_cuda_ops");
    Suite *s = suite_create("cuda_ops");
    TCase *tc = tcase_create("vs cpu");
    tcase_add_checked_fixture(tc, cuda_test_setup, cuda_test_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_caps_memory_streams);
    tcase_add_test(tc, test_gemm);
    tcase_add_test(tc, test_bias_grad);
    tcase_add_test(tc, test_norm);
    tcase_add_test(tc, test_gelu);
    tcase_add_test(tc, test_attention);
    tcase_add_test(tc, test_softmax_xent);
    tcase_add_test(tc, test_embedding);
    tcase_add_test(tc, test_elementwise_and_sum_squares);
    tcase_add_test(tc, test_adamw);
    tcase_add_test(tc, test_convert);
    tcase_add_test(tc, test_fake_quant);
    tcase_add_test(tc, test_unsupported_dtype);
    suite_add_tcase(s, tc);
    return cuda_test_run(s);
}
