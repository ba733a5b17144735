/* cpu_embedding.c — embedding lookup and its gradient.
 *
 * forward: out[i, :] (+)= table[ids[i], :], rows split over the threads.
 * backward: dtable[ids[i], :] += dout[i, :]. Rows may share an id, so rows
 * cannot be split without atomics; instead each thread owns a range of the
 * dim columns and walks all rows in order. Every element of dtable then sees
 * its additions in row order whatever the thread count (rule 9).
 */
#include "cpu_internal.h"

#include <omp.h>

CPU_HOT static void row_add(float *restrict dst, const float *restrict src, int64_t n)
{
#pragma omp simd
    for (int64_t j = 0; j < n; j++) dst[j] += src[j];
}

static int check(const cpu_ctx *c, const char *kernel, const int32_t *ids, int64_t rows,
                 int64_t dim, llmrt_dtype dtype)
{
    int rc = cpu_require_f32(c, kernel, dtype);
    if (rc) return rc;
    if (rows < 0 || dim < 0)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: %s: rows %lld, dim %lld < 0", kernel,
                              (long long)rows, (long long)dim);
    for (int64_t i = 0; i < rows; i++)
        if (ids[i] < 0)
            return c->host->error(LLMRT_ERR_INVALID, "cpu: %s: ids[%lld] = %d is negative",
                                  kernel, (long long)i, (int)ids[i]);
    return LLMRT_OK;
}

int cpu_embedding_forward(void *ctx, void *out, const int32_t *ids, const void *table,
                          int64_t rows, int64_t dim, llmrt_dtype dtype, int accumulate)
{
    cpu_ctx *c = ctx;
    int rc = check(c, "embedding_forward", ids, rows, dim, dtype);
    if (rc) return rc;
    float *o = out;
    const float *t = table;
    int par = c->threads > 1 && (double)rows * (double)dim >= 2.0 * CPU_PAR_MIN;
#pragma omp parallel for num_threads(c->threads) schedule(static) if (par)
    for (int64_t i = 0; i < rows; i++) {
        const float *src = t + (int64_t)ids[i] * dim;
        if (accumulate) row_add(o + i * dim, src, dim);
        else memcpy(o + i * dim, src, (size_t)dim * sizeof *o);
    }
    return LLMRT_OK;
}

int cpu_embedding_backward(void *ctx, void *dtable, const int32_t *ids, const void *dout,
                           int64_t rows, int64_t dim, llmrt_dtype dtype)
{
    cpu_ctx *c = ctx;
    int rc = check(c, "embedding_backward", ids, rows, dim, dtype);
    if (rc) return rc;
    float *dt = dtable;
    const float *dy = dout;
    int nt = c->threads;
    if ((double)rows * (double)dim < 2.0 * CPU_PAR_MIN || dim < 32) nt = 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t j0, j1;
        cpu_part((size_t)dim, omp_get_thread_num(), omp_get_num_threads(), 16, &j0, &j1);
        if (j1 > j0)
            for (int64_t i = 0; i < rows; i++)
                row_add(dt + (int64_t)ids[i] * dim + j0, dy + i * dim + j0, (int64_t)(j1 - j0));
    }
    return LLMRT_OK;
}
