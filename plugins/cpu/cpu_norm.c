/* cpu_norm.c — LayerNorm and RMSNorm over the last dimension, forward and backward
 * (llm.c's formulas; mean and rstd are kept in fp32 for the backward).
 *
 * LayerNorm:  n = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps) (biased var)
 *             out = n * w + b
 *             dx += rstd * (g - mean(g) - n * mean(g n)),  g = w * dout
 * RMSNorm:    n = x * rstd,  rstd = 1 / sqrt(mean(x^2) + eps);  out = n * w
 *             dx += rstd * (g - n * mean(g n))
 * dweight += sum over rows of dout * n;  dbias += sum over rows of dout.
 *
 * The backward splits rows into one contiguous range per thread; each thread
 * keeps its own partial dweight/dbias in scratch, and the partials are then
 * added in thread order, column ranges in parallel. The parameter gradients
 * therefore depend on the thread count but not on scheduling (rule 9).
 *
 * f16/bf16 (inp, out, weight, bias and their gradients; mean and rstd stay
 * fp32): the 16-bit tensors are widened into fp32 staging, the fp32 kernel
 * runs on them, and what it wrote (out; dinp, dweight, dbias, which it adds
 * into, so they are widened first) is rounded back.
 */
#include "cpu_internal.h"

#include <math.h>
#include <omp.h>

CPU_HOT static void fwd_row(float *out, const float *x, const float *restrict w,
                            const float *restrict b, int64_t cols, float eps, int rms,
                            float *mean_out, float *rstd_out)
{
    float m = 0.0f, r;
    if (rms) {
        float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (int64_t j = 0; j < cols; j++) ss += x[j] * x[j];
        r = 1.0f / sqrtf(ss / (float)cols + eps);
    } else {
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < cols; j++) s += x[j];
        m = s / (float)cols;
        float v = 0.0f;
#pragma omp simd reduction(+ : v)
        for (int64_t j = 0; j < cols; j++) v += (x[j] - m) * (x[j] - m);
        r = 1.0f / sqrtf(v / (float)cols + eps);
    }
    if (b) {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) out[j] = (x[j] - m) * r * w[j] + b[j];
    } else {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) out[j] = (x[j] - m) * r * w[j];
    }
    if (mean_out) *mean_out = m;
    *rstd_out = r;
}

/* One row of the backward: dx (if not NULL) and the partial sums dw, db. */
CPU_HOT static void bwd_row(float *restrict dx, float *restrict dw, float *restrict db,
                            const float *restrict x, const float *restrict w,
                            const float *restrict dy, int64_t cols, float m, float r, int rms)
{
    float sg = 0.0f, sgn = 0.0f;
#pragma omp simd reduction(+ : sg, sgn)
    for (int64_t j = 0; j < cols; j++) {
        float n = (x[j] - m) * r, g = w[j] * dy[j];
        sg += g;
        sgn += g * n;
    }
    float mg = rms ? 0.0f : sg / (float)cols, mgn = sgn / (float)cols;
    if (dx) {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) {
            float n = (x[j] - m) * r;
            dx[j] += r * (w[j] * dy[j] - mg - n * mgn);
        }
    }
    if (dw) {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) dw[j] += dy[j] * (x[j] - m) * r;
    }
    if (db) {
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) db[j] += dy[j];
    }
}

static int norm_staged(cpu_ctx *c, const llmrt_norm_desc *d, int backward);

static int check(const cpu_ctx *c, const char *kernel, const llmrt_norm_desc *d)
{
    int rc = cpu_require_desc(c, kernel, d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    if ((rc = cpu_require_float(c, kernel, d->dtype))) return rc;
    if (d->rows < 0 || d->cols < 1)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: %s: rows %lld must be >= 0, cols %lld >= 1",
                              kernel, (long long)d->rows, (long long)d->cols);
    if (!d->inp || !d->weight || !d->rstd || (!d->rms && !d->mean))
        return c->host->error(LLMRT_ERR_INVALID,
                              "cpu: %s: inp, weight, rstd and (LayerNorm) mean are required",
                              kernel);
    return LLMRT_OK;
}

int cpu_norm_forward(void *ctx, const llmrt_norm_desc *d)
{
    cpu_ctx *c = ctx;
    int rc = check(c, "norm_forward", d);
    if (rc) return rc;
    if (!d->out) return c->host->error(LLMRT_ERR_INVALID, "cpu: norm_forward: out is NULL");
    if (d->dtype != LLMRT_DTYPE_F32) return norm_staged(c, d, 0);
    const int64_t rows = d->rows, cols = d->cols;
    const float *x = d->inp, *w = d->weight, *b = d->rms ? NULL : d->bias;
    float *out = d->out;
    int par = c->threads > 1 && rows > 1 && (double)rows * (double)cols >= CPU_PAR_MIN;
#pragma omp parallel for num_threads(c->threads) schedule(static) if (par)
    for (int64_t i = 0; i < rows; i++)
        fwd_row(out + i * cols, x + i * cols, w, b, cols, d->eps, d->rms,
                d->rms ? NULL : d->mean + i, d->rstd + i);
    return LLMRT_OK;
}

/* dst[0:n] += parts[0][0:n] + parts[1][0:n] + ... in that order. */
CPU_HOT static void add_parts(float *restrict dst, const float *restrict parts, size_t stride,
                              int nparts, size_t n)
{
    float acc[256];
    for (size_t j0 = 0; j0 < n; j0 += 256) {
        size_t w = n - j0 < 256 ? n - j0 : 256;
        const float *p = parts + j0;
#pragma omp simd
        for (size_t j = 0; j < w; j++) acc[j] = p[j];
        for (int t = 1; t < nparts; t++) {
            const float *q = p + (size_t)t * stride;
#pragma omp simd
            for (size_t j = 0; j < w; j++) acc[j] += q[j];
        }
#pragma omp simd
        for (size_t j = 0; j < w; j++) dst[j0 + j] += acc[j];
    }
}

int cpu_norm_backward(void *ctx, const llmrt_norm_desc *d)
{
    cpu_ctx *c = ctx;
    int rc = check(c, "norm_backward", d);
    if (rc) return rc;
    if (!d->dout) return c->host->error(LLMRT_ERR_INVALID, "cpu: norm_backward: dout is NULL");
    if (d->dtype != LLMRT_DTYPE_F32) return norm_staged(c, d, 1);
    const int64_t rows = d->rows, cols = d->cols;
    const float *x = d->inp, *w = d->weight, *dy = d->dout;
    float *dx = d->dinp, *dw = d->dweight, *db = d->rms ? NULL : d->dbias;
    const int rms = d->rms;
    if (rows == 0) return LLMRT_OK;

    int nt = c->threads;
    if (nt > rows) nt = (int)rows;
    if ((double)rows * (double)cols < CPU_PAR_MIN) nt = 1;
    /* Per thread: cols partial dweight, then cols partial dbias. */
    size_t slice = cpu_round64((size_t)cols * sizeof(float)) / sizeof(float);
    size_t per_thread = (db ? 2 : 1) * slice;
    float *parts = NULL;
    if (dw || db) {
        parts = cpu_scratch(c, (size_t)nt * per_thread * sizeof(float));
        if (!parts) return LLMRT_ERR_NOMEM;
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        float *pw = NULL, *pb = NULL;
        if (parts) {
            pw = dw ? parts + (size_t)tid * per_thread : NULL;
            pb = db ? parts + (size_t)tid * per_thread + slice : NULL;
            memset(parts + (size_t)tid * per_thread, 0, per_thread * sizeof(float));
        }
        size_t r0, r1;
        cpu_part((size_t)rows, tid, nth, 1, &r0, &r1);
        for (size_t i = r0; i < r1; i++)
            bwd_row(dx ? dx + i * (size_t)cols : NULL, pw, pb, x + i * (size_t)cols, w,
                    dy + i * (size_t)cols, cols, rms ? 0.0f : d->mean[i], d->rstd[i], rms);
        if (parts) {
#pragma omp barrier
            size_t j0, j1;
            cpu_part((size_t)cols, tid, nth, 16, &j0, &j1);
            if (j1 > j0) {
                if (dw) add_parts(dw + j0, parts + j0, per_thread, nth, j1 - j0);
                if (db) add_parts(db + j0, parts + slice + j0, per_thread, nth, j1 - j0);
            }
        }
    }
    return LLMRT_OK;
}

/* --- f16 / bf16 --- */

/* Carves fp32 copies out of one stage: a NULL source gives NULL. */
typedef struct norm_stage {
    cpu_ctx *c;
    char *base;
    size_t used;
} norm_stage;

static float *take(norm_stage *st, const void *src, llmrt_dtype t, size_t n, int load)
{
    if (!src) return NULL;
    float *p = (float *)(st->base + st->used);
    st->used += cpu_stage_floats(n);
    if (load) cpu_load_f32_par(st->c, p, src, t, n);
    return p;
}

static int norm_staged(cpu_ctx *c, const llmrt_norm_desc *d, int backward)
{
    const size_t rc_n = (size_t)d->rows * (size_t)d->cols, cn = (size_t)d->cols;
    const void *bias = d->rms ? NULL : d->bias;
    size_t need = cpu_stage_floats(rc_n) + 2 * cpu_stage_floats(cn);
    if (backward)
        need += 2 * cpu_stage_floats(rc_n) + 2 * cpu_stage_floats(cn);
    else
        need += cpu_stage_floats(rc_n);
    norm_stage st = {c, cpu_stage(c, need), 0};
    if (!st.base) return LLMRT_ERR_NOMEM;
    const llmrt_dtype t = d->dtype;
    llmrt_norm_desc f = *d;
    f.struct_size = sizeof f;
    f.dtype = LLMRT_DTYPE_F32;
    f.inp = take(&st, d->inp, t, rc_n, 1);
    f.weight = take(&st, d->weight, t, cn, 1);
    f.bias = take(&st, bias, t, cn, 1);
    if (!backward) {
        float *out = take(&st, d->out, t, rc_n, 0);
        f.out = out;
        int rc = cpu_norm_forward(c, &f);
        if (rc) return rc;
        cpu_store_f32_par(c, d->out, t, out, rc_n);
        return LLMRT_OK;
    }
    float *dinp = take(&st, d->dinp, t, rc_n, 1);
    float *dweight = take(&st, d->dweight, t, cn, 1);
    float *dbias = take(&st, d->rms ? NULL : d->dbias, t, cn, 1);
    f.dout = take(&st, d->dout, t, rc_n, 1);
    f.dinp = dinp;
    f.dweight = dweight;
    f.dbias = dbias;
    int rc = cpu_norm_backward(c, &f);
    if (rc) return rc;
    if (dinp) cpu_store_f32_par(c, d->dinp, t, dinp, rc_n);
    if (dweight) cpu_store_f32(d->dweight, t, dweight, cn);
    if (dbias) cpu_store_f32(d->dbias, t, dbias, cn);
    return LLMRT_OK;
}
