/* cpu_attention.c — scaled dot-product attention, forward and backward.
 *
 * Work is cut into (batch, head, block of query rows). For one block of qb
 * query rows that see at most kvn keys (causal blocks stop at the last key
 * their last row sees, so masked work past it is skipped), with per-thread
 * scratch of qb x kvn floats:
 *
 * forward   S = scale Q K^T (+ bias)                  cblas_sgemm
 *           P = softmax(S) by row, lse = log-sum-exp   (masked keys get P = 0)
 *           O = P V                                    cblas_sgemm
 * backward  P = exp(scale Q K^T + bias - lse)         recomputed, nothing kept
 *           dV += P^T dO                               cblas_sgemm
 *           dP = dO V^T                                cblas_sgemm
 *           dS = P (dP - rowsum(P dP));  dbias += dS
 *           dQ += scale dS K;  dK += scale dS^T Q      cblas_sgemm
 *
 * The products run single-threaded inside the OpenMP team (OpenBLAS is at
 * one thread). The forward parallelises over all blocks (each writes its own
 * rows of out and lse). The backward parallelises over (batch, head): the
 * blocks of one head add into the same rows of dK and dV, so one thread
 * walks them in order; with dbias, which sums over the batch, over heads only.
 * Every output element is therefore computed in an order independent of the
 * thread count.
 *
 * A query row that sees no key at all (causal, q_len > kv_len) gets out = 0
 * and lse = -inf, and contributes nothing to the gradients.
 *
 * f16/bf16 (q, k, v, out, dout, dq, dk, dv; lse, bias and dbias stay fp32):
 * each 16-bit tensor is widened into a packed fp32 copy of its
 * [batch * len, heads * head_dim] rows (so q, k and v may still be slices of
 * one fused row), the fp32 kernel runs on the copies, and out (forward) or
 * dq, dk, dv (backward: widened first, since they are added into) are
 * rounded back into their strided rows.
 */
#include "cpu_internal.h"

#include <limits.h>
#include <math.h>

#include <omp.h>

/* Scores per thread block: qb * kv_len floats at most this many (256 KiB), so
 * that P and dP of the backward stay in L2. */
#define ATT_BLOCK_FLOATS (64 * 1024)
#define ATT_MAX_QB 64

typedef struct att {
    int64_t B, H, Tq, Tk, D, off, qb;
    int causal;
    float scale;
    const float *q, *k, *v, *dout, *bias;
    float *out, *lse, *dq, *dk, *dv, *dbias;
    int64_t qs, ks, vs, os;
} att;

/* Keys query row i sees. */
static inline int64_t visible(const att *a, int64_t i)
{
    if (!a->causal) return a->Tk;
    int64_t n = i + a->off + 1;
    return n < 0 ? 0 : n > a->Tk ? a->Tk : n;
}

static void sgemm1(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *A,
                   int64_t lda, const float *Bm, int64_t ldb, float beta, float *C, int64_t ldc)
{
    cpu_sgemm(ta, tb, m, n, k, alpha, A, lda, Bm, ldb, beta, C, ldc);
}

/* row[0:n] (+ bias) becomes softmax probabilities, row[n:len] zero; returns
 * the log-sum-exp of the first n scores (-inf when n == 0). */
CPU_HOT static float softmax_row(float *restrict row, const float *restrict bias, int64_t n,
                                 int64_t len)
{
    for (int64_t j = n; j < len; j++) row[j] = 0.0f;
    if (n == 0) return -INFINITY;
    if (bias) {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) row[j] += bias[j];
    }
    float m = row[0];
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < n; j++) m = row[j] > m ? row[j] : m;
#pragma omp simd
    for (int64_t j = 0; j < n; j++) row[j] = cpu_expf(row[j] - m);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < n; j++) s += row[j];
    float inv = 1.0f / s;
#pragma omp simd
    for (int64_t j = 0; j < n; j++) row[j] *= inv;
    return m + logf(s);
}

/* row[0:n] = exp(row + bias - lse), row[n:len] = 0 (the forward's P). */
CPU_HOT static void probs_row(float *restrict row, const float *restrict bias, int64_t n,
                              int64_t len, float lse)
{
    if (n == 0) {
        for (int64_t j = 0; j < len; j++) row[j] = 0.0f;
        return;
    }
    if (bias) {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) row[j] = cpu_expf(row[j] + bias[j] - lse);
    } else {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) row[j] = cpu_expf(row[j] - lse);
    }
    for (int64_t j = n; j < len; j++) row[j] = 0.0f;
}

/* dp = p * (dp - sum(p * dp)): the softmax backward of one row. */
CPU_HOT static void dsoftmax_row(float *restrict dp, const float *restrict p, int64_t len)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < len; j++) s += p[j] * dp[j];
#pragma omp simd
    for (int64_t j = 0; j < len; j++) dp[j] = p[j] * (dp[j] - s);
}

CPU_HOT static void add_row(float *restrict dst, const float *restrict src, int64_t n)
{
#pragma omp simd
    for (int64_t j = 0; j < n; j++) dst[j] += src[j];
}

static void forward_block(const att *a, int64_t b, int64_t h, int64_t i0, float *S)
{
    int64_t i1 = i0 + a->qb < a->Tq ? i0 + a->qb : a->Tq, qb = i1 - i0;
    int64_t kvn = visible(a, i1 - 1);
    const float *Q = a->q + (b * a->Tq + i0) * a->qs + h * a->D;
    const float *K = a->k + b * a->Tk * a->ks + h * a->D;
    const float *V = a->v + b * a->Tk * a->vs + h * a->D;
    float *O = a->out + (b * a->Tq + i0) * a->os + h * a->D;
    float *lse = a->lse + (b * a->H + h) * a->Tq + i0;
    if (kvn == 0) {
        for (int64_t r = 0; r < qb; r++) {
            memset(O + r * a->os, 0, (size_t)a->D * sizeof *O);
            lse[r] = -INFINITY;
        }
        return;
    }
    sgemm1(0, 1, qb, kvn, a->D, a->scale, Q, a->qs, K, a->ks, 0.0f, S, kvn);
    for (int64_t r = 0; r < qb; r++) {
        const float *bias = a->bias ? a->bias + (h * a->Tq + i0 + r) * a->Tk : NULL;
        lse[r] = softmax_row(S + r * kvn, bias, visible(a, i0 + r), kvn);
    }
    sgemm1(0, 0, qb, a->D, kvn, 1.0f, S, kvn, V, a->vs, 0.0f, O, a->os);
}

/* The backward of every query block of (b, h), in order. */
static void backward_head(const att *a, int64_t b, int64_t h, float *P, float *dP)
{
    const float *Kb = a->k + b * a->Tk * a->ks + h * a->D;
    const float *Vb = a->v + b * a->Tk * a->vs + h * a->D;
    float *dK = a->dk ? a->dk + b * a->Tk * a->ks + h * a->D : NULL;
    float *dV = a->dv ? a->dv + b * a->Tk * a->vs + h * a->D : NULL;
    for (int64_t i0 = 0; i0 < a->Tq; i0 += a->qb) {
        int64_t i1 = i0 + a->qb < a->Tq ? i0 + a->qb : a->Tq, qb = i1 - i0;
        int64_t kvn = visible(a, i1 - 1);
        if (kvn == 0) continue;
        const float *Q = a->q + (b * a->Tq + i0) * a->qs + h * a->D;
        const float *dO = a->dout + (b * a->Tq + i0) * a->os + h * a->D;
        const float *lse = a->lse + (b * a->H + h) * a->Tq + i0;
        sgemm1(0, 1, qb, kvn, a->D, a->scale, Q, a->qs, Kb, a->ks, 0.0f, P, kvn);
        for (int64_t r = 0; r < qb; r++) {
            const float *bias = a->bias ? a->bias + (h * a->Tq + i0 + r) * a->Tk : NULL;
            probs_row(P + r * kvn, bias, visible(a, i0 + r), kvn, lse[r]);
        }
        if (dV) sgemm1(1, 0, kvn, a->D, qb, 1.0f, P, kvn, dO, a->os, 1.0f, dV, a->vs);
        if (!a->dq && !dK && !a->dbias) continue;
        sgemm1(0, 1, qb, kvn, a->D, 1.0f, dO, a->os, Vb, a->vs, 0.0f, dP, kvn);
        for (int64_t r = 0; r < qb; r++) {
            dsoftmax_row(dP + r * kvn, P + r * kvn, kvn);
            if (a->dbias) {
                int64_t n = visible(a, i0 + r);
                if (n > 0) add_row(a->dbias + (h * a->Tq + i0 + r) * a->Tk, dP + r * kvn, n);
            }
        }
        if (a->dq) {
            float *dQ = a->dq + (b * a->Tq + i0) * a->qs + h * a->D;
            sgemm1(0, 0, qb, a->D, kvn, a->scale, dP, kvn, Kb, a->ks, 1.0f, dQ, a->qs);
        }
        if (dK) sgemm1(1, 0, kvn, a->D, qb, a->scale, dP, kvn, Q, a->qs, 1.0f, dK, a->ks);
    }
}

static int setup(cpu_ctx *c, const char *kernel, const llmrt_attention_desc *d, att *a)
{
    int rc = cpu_require_desc(c, kernel, d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    if ((rc = cpu_require_float(c, kernel, d->dtype))) return rc;
    if (d->batch < 0 || d->heads < 0 || d->q_len < 0 || d->kv_len < 0 || d->head_dim < 1)
        return c->host->error(LLMRT_ERR_INVALID,
                              "cpu: %s: batch %lld, heads %lld, q_len %lld, kv_len %lld must be "
                              ">= 0 and head_dim %lld >= 1",
                              kernel, (long long)d->batch, (long long)d->heads,
                              (long long)d->q_len, (long long)d->kv_len, (long long)d->head_dim);
    int64_t width = d->heads * d->head_dim;
    const struct {
        const char *name;
        int64_t v;
    } strides[] = {{"q_row_stride", d->q_row_stride},
                   {"k_row_stride", d->k_row_stride},
                   {"v_row_stride", d->v_row_stride},
                   {"out_row_stride", d->out_row_stride}};
    for (size_t i = 0; i < sizeof strides / sizeof strides[0]; i++)
        if (strides[i].v < width || strides[i].v > INT_MAX)
            return c->host->error(LLMRT_ERR_INVALID,
                                  "cpu: %s: %s = %lld must lie in [heads * head_dim = %lld, %d]",
                                  kernel, strides[i].name, (long long)strides[i].v,
                                  (long long)width, INT_MAX);
    if (d->q_len > INT_MAX || d->kv_len > INT_MAX || d->head_dim > INT_MAX)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: %s: lengths must be below 2^31", kernel);
    if (!d->q || !d->k || !d->v || !d->lse)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: %s: q, k, v and lse are required",
                              kernel);
    int64_t qb = ATT_BLOCK_FLOATS / (d->kv_len > 0 ? d->kv_len : 1);
    if (qb > ATT_MAX_QB) qb = ATT_MAX_QB;
    if (qb < 1) qb = 1;
    if (qb > d->q_len) qb = d->q_len > 0 ? d->q_len : 1;
    *a = (att){
        .B = d->batch, .H = d->heads, .Tq = d->q_len, .Tk = d->kv_len, .D = d->head_dim,
        .off = d->kv_len - d->q_len, .qb = qb, .causal = d->causal != 0, .scale = d->scale,
        .q = d->q, .k = d->k, .v = d->v, .dout = d->dout, .bias = d->bias,
        .out = d->out, .lse = d->lse, .dq = d->dq, .dk = d->dk, .dv = d->dv, .dbias = d->dbias,
        .qs = d->q_row_stride, .ks = d->k_row_stride, .vs = d->v_row_stride,
        .os = d->out_row_stride,
    };
    return LLMRT_OK;
}

/* Scratch of `blocks` qb x kv_len score blocks per thread, cache-line apart. */
static float *att_scratch(cpu_ctx *c, const att *a, int blocks, int nt, size_t *per_thread)
{
    size_t kv = a->Tk > 0 ? (size_t)a->Tk : 1;
    size_t block = cpu_round64((size_t)a->qb * kv * sizeof(float)) / sizeof(float);
    *per_thread = (size_t)blocks * block;
    return cpu_scratch(c, (size_t)nt * *per_thread * sizeof(float));
}

/* --- f16 / bf16 --- */

typedef struct att_stage {
    cpu_ctx *c;
    char *base;
    size_t used;
    llmrt_dtype t;
    int64_t width;
} att_stage;

/* A packed fp32 copy of `rows` rows of `width` values at row stride `ld`;
 * NULL for a NULL tensor. */
static float *att_take(att_stage *st, const void *src, int64_t ld, int64_t rows, int load)
{
    if (!src) return NULL;
    float *p = (float *)(st->base + st->used);
    st->used += cpu_stage_floats((size_t)(rows * st->width));
    if (load) cpu_load_rows(st->c, p, st->width, src, ld, st->t, rows, st->width);
    return p;
}

static int attention_staged(cpu_ctx *c, const llmrt_attention_desc *d, int backward)
{
    const int64_t W = d->heads * d->head_dim, rq = d->batch * d->q_len, rk = d->batch * d->kv_len;
    const size_t fq = cpu_stage_floats((size_t)(rq * W)), fk = cpu_stage_floats((size_t)(rk * W));
    size_t need = 2 * fq + 2 * fk + (backward ? fq + 2 * fk : 0);
    att_stage st = {c, cpu_stage(c, need), 0, d->dtype, W};
    if (!st.base) return LLMRT_ERR_NOMEM;
    llmrt_attention_desc f = *d;
    f.struct_size = sizeof f;
    f.dtype = LLMRT_DTYPE_F32;
    f.q = att_take(&st, d->q, d->q_row_stride, rq, 1);
    f.k = att_take(&st, d->k, d->k_row_stride, rk, 1);
    f.v = att_take(&st, d->v, d->v_row_stride, rk, 1);
    f.q_row_stride = f.k_row_stride = f.v_row_stride = f.out_row_stride = W;
    if (!backward) {
        float *out = att_take(&st, d->out, d->out_row_stride, rq, 0);
        f.out = out;
        int rc = cpu_attention_forward(c, &f);
        if (rc) return rc;
        cpu_store_rows(c, d->out, d->out_row_stride, d->dtype, out, W, rq, W);
        return LLMRT_OK;
    }
    f.dout = att_take(&st, d->dout, d->out_row_stride, rq, 1);
    float *dq = att_take(&st, d->dq, d->q_row_stride, rq, 1);
    float *dk = att_take(&st, d->dk, d->k_row_stride, rk, 1);
    float *dv = att_take(&st, d->dv, d->v_row_stride, rk, 1);
    f.dq = dq;
    f.dk = dk;
    f.dv = dv;
    int rc = cpu_attention_backward(c, &f);
    if (rc) return rc;
    if (dq) cpu_store_rows(c, d->dq, d->q_row_stride, d->dtype, dq, W, rq, W);
    if (dk) cpu_store_rows(c, d->dk, d->k_row_stride, d->dtype, dk, W, rk, W);
    if (dv) cpu_store_rows(c, d->dv, d->v_row_stride, d->dtype, dv, W, rk, W);
    return LLMRT_OK;
}

int cpu_attention_forward(void *ctx, const llmrt_attention_desc *d)
{
    cpu_ctx *c = ctx;
    att a;
    int rc = setup(c, "attention_forward", d, &a);
    if (rc) return rc;
    if (!d->out) return c->host->error(LLMRT_ERR_INVALID, "cpu: attention_forward: out is NULL");
    if (d->dtype != LLMRT_DTYPE_F32) return attention_staged(c, d, 0);
    if (a.B == 0 || a.H == 0 || a.Tq == 0) return LLMRT_OK;
    int64_t nqb = (a.Tq + a.qb - 1) / a.qb, items = a.B * a.H * nqb;
    int nt = items < c->threads ? (int)items : c->threads;
    size_t per;
    float *scratch = att_scratch(c, &a, 1, nt, &per);
    if (!scratch) return LLMRT_ERR_NOMEM;
    /* Dynamic: causal blocks differ in cost; each block is independent. */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int64_t it = 0; it < items; it++) {
        float *S = scratch + (size_t)omp_get_thread_num() * per;
        int64_t bh = it / nqb, qblk = it % nqb;
        forward_block(&a, bh / a.H, bh % a.H, qblk * a.qb, S);
    }
    return LLMRT_OK;
}

int cpu_attention_backward(void *ctx, const llmrt_attention_desc *d)
{
    cpu_ctx *c = ctx;
    att a;
    int rc = setup(c, "attention_backward", d, &a);
    if (rc) return rc;
    if (!d->dout)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: attention_backward: dout is NULL");
    if (d->dtype != LLMRT_DTYPE_F32) return attention_staged(c, d, 1);
    if (a.B == 0 || a.H == 0 || a.Tq == 0 || a.Tk == 0) return LLMRT_OK;
    /* dbias sums over the batch: then a head's batches run on one thread. */
    int64_t items = a.dbias ? a.H : a.B * a.H;
    int nt = items < c->threads ? (int)items : c->threads;
    size_t per;
    float *scratch = att_scratch(c, &a, 2, nt, &per);
    if (!scratch) return LLMRT_ERR_NOMEM;
    size_t half = per / 2;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t it = 0; it < items; it++) {
        float *P = scratch + (size_t)omp_get_thread_num() * per, *dP = P + half;
        if (a.dbias) {
            for (int64_t b = 0; b < a.B; b++) backward_head(&a, b, it, P, dP);
        } else {
            backward_head(&a, it / a.H, it % a.H, P, dP);
        }
    }
    return LLMRT_OK;
}
