/* cuda_norm.cu — LayerNorm and RMSNorm forward and backward (cpu_norm.c's
 * formulas); f32, f16 and bf16 for inp, out, weight, bias and their
 * gradients, mean and rstd always fp32.
 *
 * forward and dx: one block per row (rows < 2^31, the grid's x limit),
 * 16-byte packs when every row starts 16-byte aligned (row_read and its
 * explicit twins below) with an element-wise tail; the row statistics and
 * the two backward sums are block reductions with a fixed tree
 * (deterministic; the cpu sums in SIMD lanes, so the two agree to fp32
 * rounding, not bit for bit).
 *
 * dweight/dbias: column sums over every row in the two deterministic passes
 * of cuda_device.cuh (row chunks, then the chunk sums in order), so that
 * large row counts spread over the GPU; the total is added into
 * dweight/dbias and rounded once for 16-bit.
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "cuda_device.cuh"

template <typename T>
__global__ void k_norm_forward(T *out, float *mean, float *rstd, const T *x, const T *w,
                               const T *b, int64_t cols, float eps, int rms, int vec)
{
    typedef pack16<T> P;
    __shared__ float sh[TPB];
    const int64_t i = blockIdx.x;
    const T *xr = x + i * cols;
    T *yr = out + i * cols;
    float m = 0.0f, r;
    if (rms) {
        float ss = 0.0f;
        row_read(xr, cols, vec, [&](int64_t, float v) { ss += v * v; });
        ss = block_sum(ss, sh);
        r = 1.0f / sqrtf(ss / (float)cols + eps);
    } else {
        float s = 0.0f;
        row_read(xr, cols, vec, [&](int64_t, float v) { s += v; });
        m = block_sum(s, sh) / (float)cols;
        float var = 0.0f;
        row_read(xr, cols, vec, [&](int64_t, float v) {
            float d = v - m;
            var += d * d;
        });
        var = block_sum(var, sh);
        r = 1.0f / sqrtf(var / (float)cols + eps);
    }
    const int64_t packs = vec ? cols / P::N : 0;
    for (int64_t q = threadIdx.x; q < packs; q += blockDim.x) {
        const P px = reinterpret_cast<const P *>(xr)[q], pw = reinterpret_cast<const P *>(w)[q];
        const P pb = b ? reinterpret_cast<const P *>(b)[q] : px;
        P po;
#pragma unroll
        for (int k = 0; k < P::N; k++) {
            float y = (widen(px.v[k]) - m) * r * widen(pw.v[k]);
            po.v[k] = narrow<T>(b ? y + widen(pb.v[k]) : y);
        }
        reinterpret_cast<P *>(yr)[q] = po;
    }
    for (int64_t j = packs * P::N + threadIdx.x; j < cols; j += blockDim.x) {
        float y = (widen(xr[j]) - m) * r * widen(w[j]);
        yr[j] = narrow<T>(b ? y + widen(b[j]) : y);
    }
    if (threadIdx.x == 0) {
        if (mean) mean[i] = m;
        rstd[i] = r;
    }
}

template <typename T>
static int norm_forward(cuda_stream_t s, void *out, float *mean, float *rstd, const void *x,
                        const void *w, const void *b, int64_t rows, int64_t cols, float eps,
                        int rms)
{
    const void *ptrs[4] = {out, x, w, b};
    k_norm_forward<T><<<(unsigned)rows, TPB, 0, s>>>((T *)out, rms ? NULL : mean, rstd,
                                                     (const T *)x, (const T *)w, (const T *)b,
                                                     cols, eps, rms, rows_vec<T>(cols, ptrs, 4));
    return launched();
}

extern "C" int cuk_norm_forward(cuda_stream_t s, int dt, void *out, float *mean, float *rstd,
                                const void *x, const void *w, const void *b, int64_t rows,
                                int64_t cols, float eps, int rms)
{
    if (rows == 0) return 0;
    return CUK_BY_DTYPE(dt, norm_forward, s, out, mean, rstd, x, w, b, rows, cols, eps, rms);
}

/* dx += rstd (g - mean(g) - n mean(g n)), g = w dy: one block per row. */
template <typename T>
__global__ void k_norm_backward_dx(T *dx, const T *x, const T *w, const T *dy, const float *mean,
                                   const float *rstd, int64_t cols, int rms, int vec)
{
    typedef pack16<T> P;
    __shared__ float sh[TPB];
    const int64_t i = blockIdx.x;
    const T *xr = x + i * cols, *dyr = dy + i * cols;
    T *dxr = dx + i * cols;
    const float m = rms ? 0.0f : mean[i], r = rstd[i];
    const int64_t packs = vec ? cols / P::N : 0;
    float sg = 0.0f, sgn = 0.0f;
    for (int64_t q = threadIdx.x; q < packs; q += blockDim.x) {
        const P px = reinterpret_cast<const P *>(xr)[q], pw = reinterpret_cast<const P *>(w)[q],
                pd = reinterpret_cast<const P *>(dyr)[q];
#pragma unroll
        for (int k = 0; k < P::N; k++) {
            float n = (widen(px.v[k]) - m) * r, g = widen(pw.v[k]) * widen(pd.v[k]);
            sg += g;
            sgn += g * n;
        }
    }
    for (int64_t j = packs * P::N + threadIdx.x; j < cols; j += blockDim.x) {
        float n = (widen(xr[j]) - m) * r, g = widen(w[j]) * widen(dyr[j]);
        sg += g;
        sgn += g * n;
    }
    sg = block_sum(sg, sh);
    sgn = block_sum(sgn, sh);
    const float mg = rms ? 0.0f : sg / (float)cols, mgn = sgn / (float)cols;
    for (int64_t q = threadIdx.x; q < packs; q += blockDim.x) {
        const P px = reinterpret_cast<const P *>(xr)[q], pw = reinterpret_cast<const P *>(w)[q],
                pd = reinterpret_cast<const P *>(dyr)[q];
        P pdx = reinterpret_cast<const P *>(dxr)[q];
#pragma unroll
        for (int k = 0; k < P::N; k++) {
            float n = (widen(px.v[k]) - m) * r;
            pdx.v[k] = narrow<T>(widen(pdx.v[k]) +
                                 r * (widen(pw.v[k]) * widen(pd.v[k]) - mg - n * mgn));
        }
        reinterpret_cast<P *>(dxr)[q] = pdx;
    }
    for (int64_t j = packs * P::N + threadIdx.x; j < cols; j += blockDim.x) {
        float n = (widen(xr[j]) - m) * r;
        dxr[j] = narrow<T>(widen(dxr[j]) + r * (widen(w[j]) * widen(dyr[j]) - mg - n * mgn));
    }
}

/* Pass 1: thread (column j, chunk blockIdx.y) sums its rows in order:
 * pw[chunk][j] = sum dy (x - m) rstd, pb[chunk][j] = sum dy. */
template <typename T>
__global__ void k_norm_dw_partial(float *pw, float *pb, const T *x, const T *dy,
                                  const float *mean, const float *rstd, int64_t rows,
                                  int64_t cols, int64_t per_chunk)
{
    const int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= cols) return;
    const int64_t c = blockIdx.y, i0 = c * per_chunk;
    const int64_t i1 = i0 + per_chunk < rows ? i0 + per_chunk : rows;
    float sw = 0.0f, sb = 0.0f;
    for (int64_t i = i0; i < i1; i++) {
        float m = mean ? mean[i] : 0.0f;
        float g = widen(dy[i * cols + j]);
        sw += g * (widen(x[i * cols + j]) - m) * rstd[i];
        sb += g;
    }
    if (pw) pw[c * cols + j] = sw;
    if (pb) pb[c * cols + j] = sb;
}

/* Pass 2: each column adds its chunk sums in chunk order, then into dw/db. */
template <typename T>
__global__ void k_norm_dw_final(T *dw, T *db, const float *pw, const float *pb, int64_t chunks,
                                int64_t cols)
{
    const int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= cols) return;
    float sw = 0.0f, sb = 0.0f;
    for (int64_t c = 0; c < chunks; c++) {
        if (dw) sw += pw[c * cols + j];
        if (db) sb += pb[c * cols + j];
    }
    if (dw) dw[j] = narrow<T>(widen(dw[j]) + sw);
    if (db) db[j] = narrow<T>(widen(db[j]) + sb);
}

template <typename T>
static int norm_backward(cuda_stream_t s, void *dx, void *dw, void *db, const void *x,
                         const void *w, const void *dy, const float *mean, const float *rstd,
                         int64_t rows, int64_t cols, int rms, void *scratch)
{
    if (dx) {
        const void *ptrs[4] = {dx, x, w, dy};
        k_norm_backward_dx<T><<<(unsigned)rows, TPB, 0, s>>>((T *)dx, (const T *)x, (const T *)w,
                                                             (const T *)dy, mean, rstd, cols, rms,
                                                             rows_vec<T>(cols, ptrs, 4));
    }
    if (rms) db = NULL;
    if (dw || db) {
        const int64_t per = row_chunk_rows(rows), chunks = row_chunks(rows);
        float *pw = (float *)scratch, *pb = pw + (size_t)chunks * (size_t)cols;
        dim3 grid((unsigned)((cols + TPB - 1) / TPB), (unsigned)chunks);
        k_norm_dw_partial<T><<<grid, TPB, 0, s>>>(dw ? pw : NULL, db ? pb : NULL, (const T *)x,
                                                  (const T *)dy, rms ? NULL : mean, rstd, rows,
                                                  cols, per);
        k_norm_dw_final<T><<<grid.x, TPB, 0, s>>>((T *)dw, (T *)db, pw, pb, chunks, cols);
    }
    return launched();
}

extern "C" size_t cuk_norm_backward_scratch(int64_t rows, int64_t cols)
{
    if (rows <= 0 || cols <= 0) return 0;
    return 2 * (size_t)row_chunks(rows) * (size_t)cols * sizeof(float);
}

extern "C" int cuk_norm_backward(cuda_stream_t s, int dt, void *dx, void *dw, void *db,
                                 const void *x, const void *w, const void *dy, const float *mean,
                                 const float *rstd, int64_t rows, int64_t cols, int rms,
                                 void *scratch)
{
    if (rows == 0) return 0;
    return CUK_BY_DTYPE(dt, norm_backward, s, dx, dw, db, x, w, dy, mean, rstd, rows, cols, rms,
                        scratch);
}
