/* cpu_fake_quant.c — fake quantization with a learned step size (LSQ), the
 * formulas of compute.h's llmrt_fake_quant_desc with convert.h's rounding:
 *
 *   s = llmrt_quant_scale(scale[c]), inv = 1.0f / s, v = x * inv,
 *   r = round_half_even(v)           (nearbyintf, as llmrt_quant_round)
 *   forward:  out = llmrt_quant_round(x, inv, qmin, qmax) * s
 *   backward: dx += dout where qmin <= r <= qmax
 *             dscale[c] += grad_factor * sum_c dout * (r - v inside,
 *                                                     qmin / qmax clamped)
 *
 * The elementwise parts split the row-major range over the threads. The
 * per-channel sums of dscale are accumulated in double in an order that
 * depends only on the shape (rule 9, any thread count gives the same bits):
 *   axis 0  (per row):    one row per task, 8 running sums along the row;
 *   axis -1 (one scale):  FQ_CHUNKS fixed chunks of the range, each with 8
 *                         running sums, the chunk sums then added in order;
 *   axis 1  (per column): the rows cut into FQ_CHUNKS fixed blocks; each block
 *                         sums its rows in order into a row of partial sums
 *                         (vectorised along the columns), the blocks' partials
 *                         are then added in block order.
 */
#include "cpu_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include <llmrt/convert.h>

#define FQ_CHUNKS 64

typedef struct fq {
    int64_t rows, cols;
    int axis;
    float qmin, qmax;
    const float *x, *scale, *dout;
    float *out, *dx;
    /* axis 1: the effective scale and 1/s of every column, computed once per
     * call (one division per column, not per element; the same values) */
    const float *col_s, *col_inv;
} fq;

/* llmrt_quant_round with its returns turned into selects so that the loops
 * vectorise: NaN fails both comparisons and is then mapped to 0, as there.
 * The tests compare the kernel with llmrt_quant_round bit for bit. */
static inline float quant_round_sel(float x, float inv, float qmin, float qmax)
{
    float v = nearbyintf(x * inv) + 0.0f; /* -0 becomes +0, as there */
    v = v < qmin ? qmin : v;
    v = v > qmax ? qmax : v;
    return v != v ? 0.0f : v;
}

/* out may alias x: each element is read before it is written. */
CPU_HOT static void fwd_one(float *out, const float *x, size_t n, float scale, float qmin,
                            float qmax)
{
    const float s = llmrt_quant_scale(scale), inv = 1.0f / s;
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = quant_round_sel(x[i], inv, qmin, qmax) * s;
}

CPU_HOT static void fwd_each(float *out, const float *x, size_t n, const float *restrict s,
                             const float *restrict inv, float qmin, float qmax)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = quant_round_sel(x[i], inv[i], qmin, qmax) * s[i];
}

/* The LSQ step-size term of one element (before multiplying by dout). */
static inline float lsq_term(float x, float inv, float qmin, float qmax)
{
    float v = x * inv, r = nearbyintf(v);
    return r < qmin ? qmin : r > qmax ? qmax : r - v;
}

CPU_HOT static void dx_one(float *restrict dx, const float *restrict x,
                           const float *restrict dy, size_t n, float scale, float qmin,
                           float qmax)
{
    const float inv = 1.0f / llmrt_quant_scale(scale);
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float r = nearbyintf(x[i] * inv);
        dx[i] += (r >= qmin && r <= qmax) ? dy[i] : 0.0f;
    }
}

CPU_HOT static void dx_each(float *restrict dx, const float *restrict x,
                            const float *restrict dy, size_t n, const float *restrict inv,
                            float qmin, float qmax)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float r = nearbyintf(x[i] * inv[i]);
        dx[i] += (r >= qmin && r <= qmax) ? dy[i] : 0.0f;
    }
}

/* sum dout * term over n elements sharing one scale: 8 running sums in
 * double, added in a fixed order. */
CPU_HOT static double dscale_sum_one(const float *restrict x, const float *restrict dy,
                                     size_t n, float scale, float qmin, float qmax)
{
    const float inv = 1.0f / llmrt_quant_scale(scale);
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        /* two lane loops GCC vectorises; each acc[l] still adds in index order */
        float t[8];
#pragma omp simd
        for (int l = 0; l < 8; l++) t[l] = lsq_term(x[i + l], inv, qmin, qmax);
#pragma omp simd
        for (int l = 0; l < 8; l++) acc[l] += (double)dy[i + l] * (double)t[l];
    }
    for (; i < n; i++) acc[0] += (double)dy[i] * (double)lsq_term(x[i], inv, qmin, qmax);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* part[j] += dout[j] * term[j] for one row, inv[j] = 1/s per column. */
CPU_HOT static void dscale_row_each(double *restrict part, const float *restrict x,
                                    const float *restrict dy, size_t n,
                                    const float *restrict inv, float qmin, float qmax)
{
#pragma omp simd
    for (size_t j = 0; j < n; j++)
        part[j] += (double)dy[j] * (double)lsq_term(x[j], inv[j], qmin, qmax);
}

static int check(cpu_ctx *c, const char *kernel, const llmrt_fake_quant_desc *d, fq *q)
{
    int rc = cpu_require_desc(c, kernel, d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    if (d->rows < 0 || d->cols < 0)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: %s: rows %lld, cols %lld < 0", kernel,
                              (long long)d->rows, (long long)d->cols);
    if (d->axis != 0 && d->axis != 1 && d->axis != -1)
        return c->host->error(LLMRT_ERR_INVALID,
                              "cpu: %s: axis %d must be 0 (rows), 1 (columns) or -1 (one scale)",
                              kernel, d->axis);
    if (d->qmin > d->qmax)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: %s: qmin %d > qmax %d", kernel, d->qmin,
                              d->qmax);
    if (d->rows * d->cols > 0 && (!d->x || !d->scale))
        return c->host->error(LLMRT_ERR_INVALID, "cpu: %s: x or scale is NULL", kernel);
    *q = (fq){.rows = d->rows, .cols = d->cols, .axis = d->axis, .qmin = (float)d->qmin,
              .qmax = (float)d->qmax, .x = d->x, .scale = d->scale, .dout = d->dout,
              .out = d->out, .dx = d->dx};
    if (d->axis == 1 && d->rows * d->cols > 0) {
        /* in the stage buffer: cpu_scratch holds dscale's partial sums */
        float *f = cpu_stage(c, 2 * cpu_stage_floats((size_t)d->cols));
        if (!f) return LLMRT_ERR_NOMEM;
        float *inv = f + cpu_stage_floats((size_t)d->cols) / sizeof(float);
        for (int64_t j = 0; j < d->cols; j++) {
            f[j] = llmrt_quant_scale(d->scale[j]);
            inv[j] = 1.0f / f[j];
        }
        q->col_s = f;
        q->col_inv = inv;
    }
    return LLMRT_OK;
}

static int threads_for(const cpu_ctx *c, size_t n)
{
    size_t t = n / CPU_PAR_MIN;
    if (t < 1) t = 1;
    return t < (size_t)c->threads ? (int)t : c->threads;
}

/* Elements [lo, hi), cut at row ends so each run has one scale or a slice. */
static void fwd_range(const fq *q, size_t lo, size_t hi)
{
    size_t cols = (size_t)q->cols;
    for (size_t i = lo; i < hi;) {
        size_t row = i / cols, col = i % cols;
        size_t run = cols - col < hi - i ? cols - col : hi - i;
        if (q->axis == 1)
            fwd_each(q->out + i, q->x + i, run, q->col_s + col, q->col_inv + col, q->qmin,
                     q->qmax);
        else
            fwd_one(q->out + i, q->x + i, run, q->scale[q->axis == 0 ? row : 0], q->qmin,
                    q->qmax);
        i += run;
    }
}

static void dx_range(const fq *q, size_t lo, size_t hi)
{
    size_t cols = (size_t)q->cols;
    for (size_t i = lo; i < hi;) {
        size_t row = i / cols, col = i % cols;
        size_t run = cols - col < hi - i ? cols - col : hi - i;
        if (q->axis == 1)
            dx_each(q->dx + i, q->x + i, q->dout + i, run, q->col_inv + col, q->qmin, q->qmax);
        else
            dx_one(q->dx + i, q->x + i, q->dout + i, run, q->scale[q->axis == 0 ? row : 0],
                   q->qmin, q->qmax);
        i += run;
    }
}

int cpu_fake_quant_forward(void *ctx, const llmrt_fake_quant_desc *d)
{
    cpu_ctx *c = ctx;
    fq q;
    int rc = check(c, "fake_quant_forward", d, &q);
    if (rc) return rc;
    size_t n = (size_t)q.rows * (size_t)q.cols;
    if (n == 0) return LLMRT_OK;
    if (!q.out) return c->host->error(LLMRT_ERR_INVALID, "cpu: fake_quant_forward: out is NULL");
    int nt = threads_for(c, n);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
        if (hi > lo) fwd_range(&q, lo, hi);
    }
    return LLMRT_OK;
}

static int dscale_backward(cpu_ctx *c, const fq *q, float *dscale, float grad_factor)
{
    const size_t rows = (size_t)q->rows, cols = (size_t)q->cols, n = rows * cols;
    const double g = (double)grad_factor;
    if (q->axis == 0) {
        int nt = threads_for(c, n);
        if (nt > q->rows) nt = (int)q->rows;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (size_t i = 0; i < rows; i++) {
            double s = dscale_sum_one(q->x + i * cols, q->dout + i * cols, cols, q->scale[i],
                                      q->qmin, q->qmax);
            dscale[i] += (float)(g * s * llmrt_quant_scale_grad(q->scale[i]));
        }
        return LLMRT_OK;
    }
    if (q->axis == -1) {
        double part[FQ_CHUNKS];
        size_t chunk = (n + FQ_CHUNKS - 1) / FQ_CHUNKS;
        chunk = (chunk + 63) / 64 * 64;
        int nt = threads_for(c, n);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (int k = 0; k < FQ_CHUNKS; k++) {
            size_t b = (size_t)k * chunk, e = b + chunk;
            if (b > n) b = n;
            if (e > n) e = n;
            part[k] = e > b ? dscale_sum_one(q->x + b, q->dout + b, e - b, q->scale[0], q->qmin,
                                             q->qmax)
                            : 0.0;
        }
        double s = 0.0;
        for (int k = 0; k < FQ_CHUNKS; k++) s += part[k];
        dscale[0] += (float)(g * s * llmrt_quant_scale_grad(q->scale[0]));
        return LLMRT_OK;
    }
    /* axis 1: partial column sums per fixed block of rows. */
    size_t blocks = rows < FQ_CHUNKS ? rows : FQ_CHUNKS;
    size_t per = (rows + blocks - 1) / blocks;
    size_t slice = cpu_round64(cols * sizeof(double)) / sizeof(double);
    double *parts = cpu_scratch(c, blocks * slice * sizeof(double));
    if (!parts) return LLMRT_ERR_NOMEM;
    int nt = threads_for(c, n);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
#pragma omp for schedule(static)
        for (size_t b = 0; b < blocks; b++) {
            double *p = parts + b * slice;
            memset(p, 0, cols * sizeof *p);
            size_t r0 = b * per, r1 = r0 + per < rows ? r0 + per : rows;
            for (size_t i = r0; i < r1; i++)
                dscale_row_each(p, q->x + i * cols, q->dout + i * cols, cols, q->col_inv, q->qmin,
                                q->qmax);
        }
        /* implicit barrier: every block's partials are complete */
        size_t j0, j1;
        cpu_part(cols, omp_get_thread_num(), omp_get_num_threads(), 16, &j0, &j1);
        for (size_t j = j0; j < j1; j++) {
            double s = 0.0;
            for (size_t b = 0; b < blocks; b++) s += parts[b * slice + j];
            dscale[j] += (float)(g * s * llmrt_quant_scale_grad(q->scale[j]));
        }
    }
    return LLMRT_OK;
}

int cpu_fake_quant_backward(void *ctx, const llmrt_fake_quant_desc *d)
{
    cpu_ctx *c = ctx;
    fq q;
    int rc = check(c, "fake_quant_backward", d, &q);
    if (rc) return rc;
    size_t n = (size_t)q.rows * (size_t)q.cols;
    if (n == 0 || (!d->dx && !d->dscale)) return LLMRT_OK;
    if (!q.dout)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: fake_quant_backward: dout is NULL");
    if (q.dx) {
        int nt = threads_for(c, n);
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            size_t lo, hi;
            cpu_part(n, omp_get_thread_num(), omp_get_num_threads(), 16, &lo, &hi);
            if (hi > lo) dx_range(&q, lo, hi);
        }
    }
    if (d->dscale) return dscale_backward(c, &q, d->dscale, d->grad_factor);
    return LLMRT_OK;
}
