/* cuda_reduce.cu — the reductions: bias_grad (column sums) and sum_squares;
 * f32, f16 and bf16.
 *
 * bias_grad: the two passes of cuda_device.cuh (one thread per (row chunk,
 * column) sums its rows in order from 0; one thread per column adds the
 * chunk sums in order from 0), then dbias[j] = round(widen(dbias[j]) +
 * sum). With one chunk (rows <= CUK_ROW_CHUNK_MIN) these are the additions
 * of cpu_reduce.c in the same order, bit for bit; with more, the sum is
 * regrouped by chunk and agrees with the cpu's serial sum to fp32 rounding.
 *
 * sum_squares: a fixed grid of CUK_SSQ_BLOCKS blocks sums x^2 in double
 * (a 16-bit or fp32 value squares exactly in double) in grid-stride order,
 * each block reduces with a fixed tree, and one block adds the partials with
 * a fixed tree: the grid never depends on the device, so two runs give the
 * same bits (rule 9). The order differs from the cpu's chunked sum, so the
 * two agree to double rounding (about 1e-16 relative per addition), not bit
 * for bit.
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "cuda_device.cuh"

/* Pass 1: thread (column j, chunk blockIdx.y) sums its chunk's rows. */
template <typename T>
__global__ void k_bias_grad_partial(float *part, const T *dout, int64_t rows, int64_t cols,
                                    int64_t per_chunk)
{
    const int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= cols) return;
    const int64_t c = blockIdx.y, i0 = c * per_chunk;
    const int64_t i1 = i0 + per_chunk < rows ? i0 + per_chunk : rows;
    float s = 0.0f;
    for (int64_t i = i0; i < i1; i++) s += widen(dout[i * cols + j]);
    part[c * cols + j] = s;
}

/* Pass 2: each column adds its chunk sums in chunk order, then into dbias. */
template <typename T>
__global__ void k_bias_grad_final(T *dbias, const float *part, int64_t chunks, int64_t cols)
{
    const int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= cols) return;
    float s = 0.0f;
    for (int64_t c = 0; c < chunks; c++) s += part[c * cols + j];
    dbias[j] = narrow<T>(widen(dbias[j]) + s);
}

template <typename T>
static int bias_grad(cuda_stream_t s, void *dbias, const void *dout, int64_t rows, int64_t cols,
                     void *scratch)
{
    const int64_t per = row_chunk_rows(rows), chunks = row_chunks(rows);
    dim3 grid((unsigned)((cols + TPB - 1) / TPB), (unsigned)chunks);
    k_bias_grad_partial<T><<<grid, TPB, 0, s>>>((float *)scratch, (const T *)dout, rows, cols,
                                                per);
    k_bias_grad_final<T><<<grid.x, TPB, 0, s>>>((T *)dbias, (const float *)scratch, chunks, cols);
    return launched();
}

extern "C" size_t cuk_bias_grad_scratch(int64_t rows, int64_t cols)
{
    if (rows <= 0 || cols <= 0) return 0;
    return (size_t)row_chunks(rows) * (size_t)cols * sizeof(float);
}

extern "C" int cuk_bias_grad(cuda_stream_t s, int dt, void *dbias, const void *dout,
                             int64_t rows, int64_t cols, void *scratch)
{
    return CUK_BY_DTYPE(dt, bias_grad, s, dbias, dout, rows, cols, scratch);
}

template <typename T> __global__ void k_ssq_partial(const T *x, size_t n, double *partial)
{
    __shared__ double sh[TPB];
    double s = 0.0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        double v = (double)widen(x[i]);
        s += v * v;
    }
    s = block_sum(s, sh);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void k_ssq_final(const double *partial, int np, double *result)
{
    __shared__ double sh[TPB];
    double s = 0.0;
    for (int i = threadIdx.x; i < np; i += blockDim.x) s += partial[i];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) *result = s;
}

template <typename T>
static int sum_squares(cuda_stream_t s, const void *x, size_t n, double *partial, double *result)
{
    k_ssq_partial<T><<<CUK_SSQ_BLOCKS, TPB, 0, s>>>((const T *)x, n, partial);
    k_ssq_final<<<1, TPB, 0, s>>>(partial, CUK_SSQ_BLOCKS, result);
    return launched();
}

extern "C" int cuk_sum_squares(cuda_stream_t s, int dt, const void *x, size_t n, double *partial,
                               double *result)
{
    return CUK_BY_DTYPE(dt, sum_squares, s, x, n, partial, result);
}
