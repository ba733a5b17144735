/* cpu_reduce.c — reductions: bias_grad (column sums) and sum_squares.
 *
 * Both give the same bits for any thread count: bias_grad gives each column
 * to one thread, which adds its rows in order; sum_squares cuts x into a fixed
 * number of chunks (a function of n only), sums each in double, and adds the
 * chunk sums in order on the calling thread.
 *
 * f16/bf16: bias_grad widens dout and dbias into fp32 staging, runs the fp32
 * sums and rounds dbias back; sum_squares widens each chunk in blocks of
 * SUMSQ_BLOCK (a multiple of 8, so every element meets the same running sum
 * as in the fp32 path: the same bits as sum_squares of the widened values).
 */
#include "cpu_internal.h"

#include <omp.h>

/* dbias[0:width] += sum over rows of dout[i * ld + 0:width], rows in order. */
#define COLSUM_MAX 1024
CPU_HOT static void colsum_block(float *restrict dbias, const float *restrict dout, int64_t rows,
                                 int64_t ld, int64_t width)
{
    float acc[COLSUM_MAX];
    for (int64_t j = 0; j < width; j++) acc[j] = 0.0f;
    for (int64_t i = 0; i < rows; i++) {
        const float *restrict row = dout + i * ld;
#pragma omp simd
        for (int64_t j = 0; j < width; j++) acc[j] += row[j];
    }
#pragma omp simd
    for (int64_t j = 0; j < width; j++) dbias[j] += acc[j];
}

int cpu_bias_grad(void *ctx, void *dbias, const void *dout, int64_t rows, int64_t cols,
                  llmrt_dtype dtype)
{
    cpu_ctx *c = ctx;
    int rc = cpu_require_float(c, "bias_grad", dtype);
    if (rc) return rc;
    if (rows < 0 || cols < 0)
        return c->host->error(LLMRT_ERR_INVALID, "cpu: bias_grad: rows %lld, cols %lld < 0",
                              (long long)rows, (long long)cols);
    if (rows == 0 || cols == 0) return LLMRT_OK;
    if (dtype != LLMRT_DTYPE_F32) {
        size_t bytes_dy = cpu_stage_floats((size_t)rows * (size_t)cols);
        char *stage = cpu_stage(c, bytes_dy + cpu_stage_floats((size_t)cols));
        if (!stage) return LLMRT_ERR_NOMEM;
        float *dy32 = (float *)stage, *db32 = (float *)(stage + bytes_dy);
        cpu_load_f32_par(c, dy32, dout, dtype, (size_t)rows * (size_t)cols);
        cpu_load_f32(db32, dbias, dtype, (size_t)cols);
        rc = cpu_bias_grad(ctx, db32, dy32, rows, cols, LLMRT_DTYPE_F32);
        if (rc) return rc;
        cpu_store_f32(dbias, dtype, db32, (size_t)cols);
        return LLMRT_OK;
    }
    int64_t width = (cols + c->threads - 1) / c->threads;
    width = (width + 15) / 16 * 16;
    if (width > COLSUM_MAX) width = COLSUM_MAX;
    int64_t blocks = (cols + width - 1) / width;
    float *db = dbias;
    const float *dy = dout;
    int par = c->threads > 1 && blocks > 1 && (double)rows * (double)cols >= 2.0 * CPU_PAR_MIN;
#pragma omp parallel for num_threads(c->threads) schedule(static) if (par)
    for (int64_t blk = 0; blk < blocks; blk++) {
        int64_t j0 = blk * width, w = cols - j0 < width ? cols - j0 : width;
        colsum_block(db + j0, dy + j0, rows, cols, w);
    }
    return LLMRT_OK;
}

/* Sum of squares in double: eight running sums (vectorised), then added in
 * a fixed order. */
CPU_HOT static double sumsq_chunk(const float *restrict x, size_t n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += (double)x[i + l] * (double)x[i + l];
    for (; i < n; i++) acc[0] += (double)x[i] * (double)x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

#define SUMSQ_CHUNKS 256
#define SUMSQ_BLOCK 1024

/* sumsq_chunk of the widened 16-bit values, lane by lane the same sums. */
static double sumsq_chunk16(const uint16_t *x, llmrt_dtype t, size_t n)
{
    float buf[SUMSQ_BLOCK];
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i0 = 0;
    for (; i0 < n; i0 += SUMSQ_BLOCK) {
        size_t w = n - i0 < SUMSQ_BLOCK ? n - i0 : SUMSQ_BLOCK, i = 0;
        cpu_load_f32(buf, x + i0, t, w);
        for (; i + 8 <= w; i += 8)
            for (int l = 0; l < 8; l++) acc[l] += (double)buf[i + l] * (double)buf[i + l];
        for (; i < w; i++) acc[0] += (double)buf[i] * (double)buf[i]; /* last block only */
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

int cpu_sum_squares(void *ctx, const void *x, size_t n, llmrt_dtype dtype, double *result)
{
    cpu_ctx *c = ctx;
    int rc = cpu_require_float(c, "sum_squares", dtype);
    if (rc) return rc;
    if (!result) return c->host->error(LLMRT_ERR_INVALID, "cpu: sum_squares: result is NULL");
    double part[SUMSQ_CHUNKS];
    size_t chunk = (n + SUMSQ_CHUNKS - 1) / SUMSQ_CHUNKS;
    chunk = (chunk + 63) / 64 * 64;
    const float *xf = x;
    int par = c->threads > 1 && n >= 2 * (size_t)CPU_PAR_MIN;
#pragma omp parallel for num_threads(c->threads) schedule(static) if (par)
    for (int i = 0; i < SUMSQ_CHUNKS; i++) {
        size_t b = (size_t)i * chunk, e = b + chunk;
        if (b > n) b = n;
        if (e > n) e = n;
        if (e <= b) part[i] = 0.0;
        else if (dtype == LLMRT_DTYPE_F32) part[i] = sumsq_chunk(xf + b, e - b);
        else part[i] = sumsq_chunk16((const uint16_t *)x + b, dtype, e - b);
    }
    double s = 0.0;
    for (int i = 0; i < SUMSQ_CHUNKS; i++) s += part[i];
    *result = s;
    return LLMRT_OK;
}
