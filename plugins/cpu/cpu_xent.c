/* cpu_xent.c — fused softmax + cross-entropy, rows split over the threads.
 *
 * Per row, three passes over the vocab (the row stays in L2):
 *   1. m = max logits
 *   2. e_j = exp(x_j - m), s = sum e_j (blocks in float, across them in
 *      double); e_j goes into dlogits when
 *      it is wanted, so the exponentials are computed once
 *   3. dlogits_j = dloss * e_j / s, minus dloss at the target
 * loss = m + log s - x[target]. x[target] is read before pass 2, so dlogits
 * may alias logits. Ignored rows (target < 0) get loss 0 and zero gradients;
 * the padded columns [vocab, padded_vocab) of dlogits are set to 0.
 *
 * f16/bf16 logits/dlogits (losses stay fp32): rows are independent, so
 * blocks of rows are widened into fp32 staging of at most XENT_STAGE_FLOATS,
 * the fp32 loop runs on the block (dlogits written in place over the widened
 * logits) and the dlogits block is rounded back.
 */
#include "cpu_internal.h"

#include <math.h>
#include <omp.h>

CPU_HOT static float row_max(const float *restrict x, int64_t n)
{
    float m = x[0];
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

/* e[j] = exp(x[j] - m) (e may equal x; NULL: not kept); returns the sum of
 * e, in float over blocks of 1024 (vectorised) and in double across blocks. */
CPU_HOT static double row_expsum(const float *x, float *e, int64_t n, float m)
{
    float buf[1024];
    double s = 0.0;
    for (int64_t j0 = 0; j0 < n; j0 += 1024) {
        int64_t w = n - j0 < 1024 ? n - j0 : 1024;
        float *dst = e ? e + j0 : buf;
        const float *src = x + j0;
#pragma omp simd
        for (int64_t j = 0; j < w; j++) dst[j] = cpu_expf(src[j] - m);
        float bs = 0.0f;
#pragma omp simd reduction(+ : bs)
        for (int64_t j = 0; j < w; j++) bs += dst[j];
        s += (double)bs;
    }
    return s;
}

CPU_HOT static void row_scale(float *restrict e, int64_t n, float f)
{
#pragma omp simd
    for (int64_t j = 0; j < n; j++) e[j] *= f;
}

static int xent_staged(cpu_ctx *c, const llmrt_xent_desc *d);
static void xent_rows(const cpu_ctx *c, const float *logits, const int32_t *targets,
                      float *losses, float *dlogits, float dloss, int64_t rows, int64_t V,
                      int64_t Vp);

int cpu_softmax_xent(void *ctx, const llmrt_xent_desc *d)
{
    cpu_ctx *c = ctx;
    int rc = cpu_require_desc(c, "softmax_xent", d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    if ((rc = cpu_require_float(c, "softmax_xent", d->dtype))) return rc;
    const int64_t rows = d->rows, V = d->vocab, Vp = d->padded_vocab;
    if (rows < 0 || V < 1 || Vp < V)
        return c->host->error(LLMRT_ERR_INVALID,
                              "cpu: softmax_xent: rows %lld >= 0, vocab %lld >= 1 and "
                              "padded_vocab %lld >= vocab are required",
                              (long long)rows, (long long)V, (long long)Vp);
    if (rows == 0) return LLMRT_OK;
    if (!d->logits || !d->targets || !d->losses)
        return c->host->error(LLMRT_ERR_INVALID,
                              "cpu: softmax_xent: logits, targets and losses are required");
    for (int64_t i = 0; i < rows; i++)
        if (d->targets[i] >= V)
            return c->host->error(LLMRT_ERR_INVALID,
                                  "cpu: softmax_xent: targets[%lld] = %d is not below vocab %lld",
                                  (long long)i, (int)d->targets[i], (long long)V);
    if (d->dtype != LLMRT_DTYPE_F32) return xent_staged(c, d);
    xent_rows(c, d->logits, d->targets, d->losses, d->dlogits, d->dloss, rows, V, Vp);
    return LLMRT_OK;
}

static void xent_rows(const cpu_ctx *c, const float *logits, const int32_t *targets,
                      float *losses, float *dlogits, float dloss, int64_t rows, int64_t V,
                      int64_t Vp)
{
    int par = c->threads > 1 && rows > 1 && (double)rows * (double)V >= CPU_PAR_MIN;
#pragma omp parallel for num_threads(c->threads) schedule(static) if (par)
    for (int64_t i = 0; i < rows; i++) {
        const float *x = logits + i * Vp;
        float *dl = dlogits ? dlogits + i * Vp : NULL;
        int32_t t = targets[i];
        if (t < 0) {
            losses[i] = 0.0f;
            if (dl) memset(dl, 0, (size_t)Vp * sizeof *dl);
            continue;
        }
        float xt = x[t];
        float m = row_max(x, V);
        double s = row_expsum(x, dl, V, m);
        losses[i] = (float)((double)m + log(s) - (double)xt);
        if (dl) {
            row_scale(dl, V, (float)((double)dloss / s));
            dl[t] -= dloss;
            if (Vp > V) memset(dl + V, 0, (size_t)(Vp - V) * sizeof *dl);
        }
    }
}

/* Widened blocks of rows: 16 MiB of fp32 at most (a few rows of a 50k vocab). */
#define XENT_STAGE_FLOATS ((size_t)4 << 20)

static int xent_staged(cpu_ctx *c, const llmrt_xent_desc *d)
{
    const int64_t rows = d->rows, V = d->vocab, Vp = d->padded_vocab;
    int64_t block = (int64_t)(XENT_STAGE_FLOATS / (size_t)Vp);
    if (block < 1) block = 1;
    if (block > rows) block = rows;
    float *x = cpu_stage(c, (size_t)block * (size_t)Vp * sizeof(float));
    if (!x) return LLMRT_ERR_NOMEM;
    const size_t es = llmrt_dtype_size(d->dtype);
    for (int64_t r0 = 0; r0 < rows; r0 += block) {
        int64_t nr = rows - r0 < block ? rows - r0 : block;
        /* Only the vocab columns are read; the padding of x is not. */
        cpu_load_rows(c, x, Vp, (const char *)d->logits + (size_t)(r0 * Vp) * es, Vp, d->dtype,
                      nr, V);
        xent_rows(c, x, d->targets + r0, d->losses + r0, d->dlogits ? x : NULL, d->dloss, nr, V,
                  Vp);
        if (d->dlogits)
            cpu_store_rows(c, (char *)d->dlogits + (size_t)(r0 * Vp) * es, Vp, d->dtype, x, Vp,
                           nr, Vp);
    }
    return LLMRT_OK;
}
