/* cpu_gemm.c — matrix products: C = alpha op(A) op(B) + beta C (+ bias), batched.
 *
 * OpenBLAS is kept at one thread (cpu_plugin.c) and this file splits each
 * product into a grid of tm x tn blocks of C, one per OpenMP thread, each a
 * cblas_sgemm of its own. One pool of threads then serves the whole backend:
 * with OpenBLAS's pthread build, its threads spin after every call and starve
 * the OpenMP team of the next kernel (measured with OpenBLAS 0.3.21: a GPT-2
 * sized gemm + elementwise loop ran 1.9-2.2x slower on 2 cores, a GPT-2 124M
 * training step 2.7x slower on 16 cores). With OpenBLAS's OpenMP build both
 * ways share one pool and perform alike. The grid is the one that minimises
 * a simple cost model (multiply-adds plus packing of the A rows and B columns
 * a thread reads).
 *
 * The bias is written into each block before its product (C = beta C + bias,
 * then the product with beta = 1), so it costs no extra pass over C in memory.
 * Each element of C is computed by one thread in an order fixed by the grid,
 * so the result depends only on the thread count (rule 9).
 *
 * f16/bf16 (each of a, b, c independently; the bias has c's type): every
 * 16-bit operand is widened into a packed fp32 copy (cpu_stage), the fp32
 * product runs on the copies, and C is rounded back row by row (only the
 * m x n elements of each entry, so data between rows or entries is never
 * rewritten). C is read only when beta != 0, as in the fp32 path. A large
 * 16-bit C (or A) is staged in passes over blocks of its rows.
 *
 * The GELU epilogue (ABI 1.2) is the product followed by cpu_gelu_forward,
 * so it equals gemm then gelu_forward bit for bit: with pre_gelu and
 * beta == 0 the product is written into pre_gelu and the GELU reads it from
 * there (exactly the two calls the model made before); otherwise the product
 * goes into C, is copied to pre_gelu when asked, and the GELU runs in place.
 * The GELU covers C's m x n elements of each entry: one call per entry when
 * rows are packed (ldc == n), else one per row.
 */
#include "cpu_internal.h"

#include <limits.h>
#include <math.h>

#include <omp.h>

typedef struct gemm_args {
    int ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    float *c;
    int64_t ldc;
    const float *bias;
} gemm_args;

/* C[i0:i1, j0:j1] = beta C + bias (beta == 0 ignores what C held). */
static void prefill(float *c, int64_t ldc, int64_t rows, int64_t cols, const float *bias,
                    float beta)
{
    for (int64_t i = 0; i < rows; i++) {
        float *restrict ci = c + i * ldc;
        if (beta == 0.0f) {
            if (bias) memcpy(ci, bias, (size_t)cols * sizeof *ci);
            else memset(ci, 0, (size_t)cols * sizeof *ci);
        } else if (bias) {
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) ci[j] = beta * ci[j] + bias[j];
        } else if (beta != 1.0f) {
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) ci[j] *= beta;
        }
    }
}

static void gemm_block(const gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
    if (i1 <= i0 || j1 <= j0) return;
    int64_t mb = i1 - i0, nb = j1 - j0;
    float *c = g->c + i0 * g->ldc + j0;
    float beta = g->beta;
    if (g->bias || g->k == 0) {
        prefill(c, g->ldc, mb, nb, g->bias ? g->bias + j0 : NULL, beta);
        beta = 1.0f;
        if (g->k == 0) return;
    }
    const float *a = g->ta ? g->a + i0 : g->a + i0 * g->lda;
    const float *b = g->tb ? g->b + j0 * g->ldb : g->b + j0;
    cpu_sgemm(g->ta, g->tb, mb, nb, g->k, g->alpha, a, g->lda, b, g->ldb, beta, c, g->ldc);
}

/* Below this many multiply-adds a product runs on the calling thread: the
 * OpenMP fork/join (a few microseconds) would cost more than it saves. */
#define GEMM_PAR_MIN_MACS (1 << 18)

/* The tm x tn grid (tm * tn <= threads) of least estimated time per thread:
 * multiply-adds of a block plus PACK_COST for each element of A and B it
 * packs (OpenBLAS copies its panels of A and B before the kernel runs). */
static void choose_grid(int64_t m, int64_t n, int64_t k, int threads, int *tm, int *tn)
{
    const double PACK_COST = 8.0;
    double best = INFINITY;
    *tm = 1;
    *tn = 1;
    if ((double)m * (double)n * (double)k < GEMM_PAR_MIN_MACS) return;
    for (int a = 1; a <= threads; a++) {
        for (int b = 1; a * b <= threads; b++) {
            if (a > 1 && m < 8 * a) break;   /* blocks of fewer than 8 rows    */
            if (b > 1 && n < 16 * b) break;  /* or 16 columns are inefficient */
            double mb = ceil((double)m / a), nb = ceil((double)n / b);
            double t = mb * nb * (double)k + PACK_COST * (double)k * (mb + nb);
            if (t < best * 0.999) {
                best = t;
                *tm = a;
                *tn = b;
            }
        }
    }
}

static void gemm_split(const gemm_args *g, int tm, int tn)
{
    int blocks = tm * tn;
    if (blocks == 1) {
        gemm_block(g, 0, g->m, 0, g->n);
        return;
    }
#pragma omp parallel num_threads(blocks)
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        for (int blk = tid; blk < blocks; blk += nth) {
            size_t i0, i1, j0, j1;
            cpu_part((size_t)g->m, blk / tn, tm, 4, &i0, &i1);
            cpu_part((size_t)g->n, blk % tn, tn, 16, &j0, &j1);
            gemm_block(g, (int64_t)i0, (int64_t)i1, (int64_t)j0, (int64_t)j1);
        }
    }
}

int cpu_gemm_f32(cpu_ctx *c, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                 float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                 float beta, float *cm, int64_t ldc, const float *bias)
{
    gemm_args g = {trans_a, trans_b, m, n, k, alpha, beta, a, lda, b, ldb, cm, ldc, bias};
    if (m == 0 || n == 0) return LLMRT_OK;
    int tm, tn;
    choose_grid(m, n, k, c->threads, &tm, &tn);
    gemm_split(&g, tm, tn);
    return LLMRT_OK;
}

static int bad(const cpu_ctx *c, const char *what, int64_t v, int64_t need)
{
    return c->host->error(LLMRT_ERR_INVALID, "cpu: gemm: %s = %lld, must be at least %lld", what,
                          (long long)v, (long long)need);
}

static int gemm_run(cpu_ctx *c, const llmrt_gemm_desc *d, int64_t batch);

/* A 16-bit operand of `batch` entries of rows x cols (leading dimension ld,
 * entries `stride` apart) widened into dst, packed. */
static void stage_operand(cpu_ctx *c, float *dst, const void *src, llmrt_dtype t, int64_t ld,
                          int64_t stride, int64_t batch, int64_t rows, int64_t cols)
{
    size_t es = llmrt_dtype_size(t);
    for (int64_t e = 0; e < batch; e++)
        cpu_load_rows(c, dst + e * rows * cols, cols,
                      (const char *)src + (size_t)(e * stride) * es, ld, t, rows, cols);
}

/* fp32 copies of 16-bit C (and A) above this many floats are staged in
 * passes over blocks of rows of C (single products only): rows of C are
 * independent, and a B x vocab logits product would otherwise need its
 * whole fp32 copy. B is staged once. */
#define GEMM_STAGE_C_FLOATS ((int64_t)4 << 20)

static int gemm_staged(cpu_ctx *c, const llmrt_gemm_desc *d, int64_t batch)
{
    const int64_t m = d->m, n = d->n, k = d->k;
    const int64_t br = d->trans_b ? n : k, bc = d->trans_b ? k : n;
    const int sa = d->a_type != LLMRT_DTYPE_F32 && k > 0;
    const int sb = d->b_type != LLMRT_DTYPE_F32 && k > 0;
    const int sc = d->c_type != LLMRT_DTYPE_F32;
    int64_t mb = m; /* rows of C per pass */
    if (batch == 1 && (sa || sc)) {
        int64_t per_row = (sc ? n : 0) + (sa ? k : 0);
        if (m * per_row > GEMM_STAGE_C_FLOATS) mb = GEMM_STAGE_C_FLOATS / per_row;
        if (mb < 1) mb = 1;
    }
    const int64_t ar = d->trans_a ? k : mb, ac = d->trans_a ? mb : k; /* one pass of A */
    size_t bytes_a = sa ? cpu_stage_floats((size_t)(batch * ar * ac)) : 0;
    size_t bytes_b = sb ? cpu_stage_floats((size_t)(batch * br * bc)) : 0;
    size_t bytes_c = sc ? cpu_stage_floats((size_t)(batch * mb * n)) : 0;
    size_t bytes_bias = sc && d->bias ? cpu_stage_floats((size_t)n) : 0;
    char *stage = cpu_stage(c, bytes_a + bytes_b + bytes_c + bytes_bias);
    if (!stage) return LLMRT_ERR_NOMEM;
    float *a32 = (float *)stage, *b32 = (float *)(stage + bytes_a);
    float *c32 = (float *)(stage + bytes_a + bytes_b);
    llmrt_gemm_desc f = *d;
    f.struct_size = sizeof f;
    f.batch = batch;
    f.a_type = f.b_type = f.c_type = LLMRT_DTYPE_F32;
    if (sb) {
        stage_operand(c, b32, d->b, d->b_type, d->ldb, d->stride_b, batch, br, bc);
        f.b = b32;
        f.ldb = bc > 1 ? bc : 1;
        f.stride_b = br * bc;
    }
    if (sc && d->bias) {
        float *bias = (float *)(stage + bytes_a + bytes_b + bytes_c);
        cpu_load_f32(bias, d->bias, d->c_type, (size_t)n);
        f.bias = bias;
    }
    const size_t es_a = llmrt_dtype_size(d->a_type), es_c = llmrt_dtype_size(d->c_type);
    for (int64_t i0 = 0; i0 < m; i0 += mb) {
        const int64_t mi = m - i0 < mb ? m - i0 : mb;
        /* A's rows i0.. (columns when transposed) and C's rows i0.. */
        const char *a = (const char *)d->a + (size_t)(d->trans_a ? i0 : i0 * d->lda) * es_a;
        char *cm = (char *)d->c + (size_t)(i0 * d->ldc) * es_c;
        f.m = mi;
        f.a = a;
        f.c = cm;
        if (sa) {
            int64_t r = d->trans_a ? k : mi, w = d->trans_a ? mi : k;
            stage_operand(c, a32, a, d->a_type, d->lda, d->stride_a, batch, r, w);
            f.a = a32;
            f.lda = w > 1 ? w : 1;
            f.stride_a = r * w;
        }
        if (sc) {
            if (d->beta != 0.0f)
                stage_operand(c, c32, cm, d->c_type, d->ldc, d->stride_c, batch, mi, n);
            f.c = c32;
            f.ldc = n;
            f.stride_c = mi * n;
        }
        int rc = gemm_run(c, &f, batch);
        if (rc) return rc;
        if (sc)
            for (int64_t e = 0; e < batch; e++)
                cpu_store_rows(c, cm + (size_t)(e * d->stride_c) * es_c, d->ldc, d->c_type,
                               c32 + e * mi * n, n, mi, n);
    }
    return LLMRT_OK;
}

static int gemm_checked(cpu_ctx *c, const llmrt_gemm_desc *d);

/* dst = gelu(src) over the m x n elements of each of `batch` entries laid
 * out with ldc and stride_c (dst may equal src). */
static int gelu_matrix(cpu_ctx *c, const llmrt_gemm_desc *d, int64_t batch, void *dst,
                       const void *src)
{
    const size_t es = llmrt_dtype_size(d->c_type);
    const int packed = d->ldc == d->n;
    for (int64_t e = 0; e < batch; e++) {
        for (int64_t i = 0; i < (packed ? 1 : d->m); i++) {
            size_t at = (size_t)(e * d->stride_c + i * d->ldc) * es;
            size_t len = (size_t)(packed ? d->m * d->n : d->n);
            int rc = cpu_gelu_forward(c, (char *)dst + at, (const char *)src + at, len,
                                      d->c_type, (llmrt_gelu_kind)d->gelu_kind);
            if (rc) return rc;
        }
    }
    return LLMRT_OK;
}

/* The m x n elements of each entry of C copied to pre_gelu (same layout). */
static void copy_matrix(const llmrt_gemm_desc *d, int64_t batch, void *dst, const void *src)
{
    const size_t es = llmrt_dtype_size(d->c_type);
    for (int64_t e = 0; e < batch; e++)
        for (int64_t i = 0; i < d->m; i++) {
            size_t at = (size_t)(e * d->stride_c + i * d->ldc) * es;
            memcpy((char *)dst + at, (const char *)src + at, (size_t)d->n * es);
        }
}

int cpu_gemm(void *ctx, const llmrt_gemm_desc *d)
{
    cpu_ctx *c = ctx;
    int rc = cpu_require_desc(c, "gemm", d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    /* Members past the caller's struct_size are absent (compute.h rule 10). */
    int has_epilogue = d->struct_size >= offsetof(llmrt_gemm_desc, pre_gelu) + sizeof(void *);
    llmrt_gemm_epilogue ep = has_epilogue ? d->epilogue : LLMRT_EPILOGUE_NONE;
    if (ep == LLMRT_EPILOGUE_NONE) return gemm_checked(c, d);
    if (ep != LLMRT_EPILOGUE_GELU)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: gemm: unknown epilogue %d (0 none, 1 gelu)",
                              (int)ep);
    if (d->gelu_kind != LLMRT_GELU_TANH && d->gelu_kind != LLMRT_GELU_ERF)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: gemm: unknown gelu kind %d (0 tanh, 1 erf)",
                              d->gelu_kind);
    if (d->m > 0 && d->n > 0 && !d->c)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: gemm: a, b or c is NULL");
    int64_t batch = d->batch > 1 ? d->batch : 1;
    if (d->pre_gelu && d->beta == 0.0f) {
        llmrt_gemm_desc into_pre = *d;
        into_pre.c = d->pre_gelu;
        if ((rc = gemm_checked(c, &into_pre))) return rc;
        if (d->m == 0 || d->n == 0) return LLMRT_OK;
        return gelu_matrix(c, d, batch, d->c, d->pre_gelu);
    }
    if ((rc = gemm_checked(c, d))) return rc;
    if (d->m == 0 || d->n == 0) return LLMRT_OK;
    if (d->pre_gelu) copy_matrix(d, batch, d->pre_gelu, d->c);
    return gelu_matrix(c, d, batch, d->c, d->c);
}

/* The product with every argument checked (no epilogue). */
static int gemm_checked(cpu_ctx *c, const llmrt_gemm_desc *d)
{
    int rc;
    if ((rc = cpu_require_float(c, "gemm (a)", d->a_type)) ||
        (rc = cpu_require_float(c, "gemm (b)", d->b_type)) ||
        (rc = cpu_require_float(c, "gemm (c)", d->c_type)))
        return rc;
    if (d->m < 0 || d->n < 0 || d->k < 0 || d->m > INT_MAX || d->n > INT_MAX || d->k > INT_MAX)
        return c->host->error(LLMRT_ERR_INVALID,
                              "cpu: gemm: m, n, k = %lld, %lld, %lld must lie in [0, %d]",
                              (long long)d->m, (long long)d->n, (long long)d->k, INT_MAX);
    /* Row-major leading dimensions: at least the stored row length. */
    int64_t need_a = d->trans_a ? d->m : d->k, need_b = d->trans_b ? d->k : d->n;
    if (d->lda < (need_a > 1 ? need_a : 1) || d->lda > INT_MAX)
        return bad(c, "lda", d->lda, need_a > 1 ? need_a : 1);
    if (d->ldb < (need_b > 1 ? need_b : 1) || d->ldb > INT_MAX)
        return bad(c, "ldb", d->ldb, need_b > 1 ? need_b : 1);
    if (d->ldc < (d->n > 1 ? d->n : 1) || d->ldc > INT_MAX)
        return bad(c, "ldc", d->ldc, d->n > 1 ? d->n : 1);
    int64_t batch = d->batch > 1 ? d->batch : 1;
    if (d->batch < 0) return bad(c, "batch", d->batch, 0);
    if (batch > 1) {
        if (d->stride_a < 0) return bad(c, "stride_a", d->stride_a, 0);
        if (d->stride_b < 0) return bad(c, "stride_b", d->stride_b, 0);
        int64_t c_span = d->m ? (d->m - 1) * d->ldc + d->n : 0;
        if (d->stride_c < c_span) /* batch entries of C may not overlap */
            return bad(c, "stride_c", d->stride_c, c_span);
    }
    if (d->m == 0 || d->n == 0) return LLMRT_OK;
    if (!d->c || (d->k > 0 && (!d->a || !d->b)))
        return c->host->error(LLMRT_ERR_INVALID, "cpu: gemm: a, b or c is NULL");
    if (d->a_type != LLMRT_DTYPE_F32 || d->b_type != LLMRT_DTYPE_F32 ||
        d->c_type != LLMRT_DTYPE_F32)
        return gemm_staged(c, d, batch);
    return gemm_run(c, d, batch);
}

/* The checked product on fp32 operands. */
static int gemm_run(cpu_ctx *c, const llmrt_gemm_desc *d, int64_t batch)
{
    gemm_args g = {d->trans_a != 0, d->trans_b != 0, d->m, d->n, d->k, d->alpha, d->beta,
                   d->a, d->lda, d->b, d->ldb, d->c, d->ldc, d->bias};
    int tm, tn;
    choose_grid(d->m, d->n, d->k, c->threads, &tm, &tn);
    if (batch == 1) {
        gemm_split(&g, tm, tn);
    } else if (batch >= c->threads || tm * tn == 1) {
        /* Whole entries per thread: no split needed, and none is shared. */
        int par = c->threads > 1 && (double)batch * (double)d->m * (double)d->n *
                                            (double)d->k >= GEMM_PAR_MIN_MACS;
#pragma omp parallel for num_threads(c->threads) schedule(static) if (par)
        for (int64_t e = 0; e < batch; e++) {
            gemm_args ge = g;
            ge.a = g.a + e * d->stride_a;
            ge.b = g.b + e * d->stride_b;
            ge.c = g.c + e * d->stride_c;
            gemm_block(&ge, 0, g.m, 0, g.n);
        }
    } else {
        for (int64_t e = 0; e < batch; e++) {
            gemm_args ge = g;
            ge.a = g.a + e * d->stride_a;
            ge.b = g.b + e * d->stride_b;
            ge.c = g.c + e * d->stride_c;
            gemm_split(&ge, tm, tn);
        }
    }
    return LLMRT_OK;
}
