/* cuda_kernels.cu — the fp32 kernels of the cuda compute backend.
 *
 * Each kernel follows the formulas of its plugins/cpu counterpart (the
 * reference; see the comments at the top of each cpu_*.c): same operations,
 * same fp32 intermediates, sums in a fixed order. Block-level reductions add
 * in a fixed tree, so results are bit-identical run to run (compute.h rule 9)
 * but may differ from the cpu's serial sums in the last bits (the tests allow
 * 1e-5 relative). Nothing uses atomics.
 *
 * Backward kernels add into their gradients (rule 8); softmax_xent
 * overwrites dlogits.
 *
 * UNTESTED: written and compiled on a machine without a GPU (docs/cuda.md).
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "cuda_kernels.h"

#define TPB 256

static inline unsigned grid_for(size_t n, unsigned tpb)
{
    size_t g = (n + tpb - 1) / tpb;
    return g > 65535u * 16u ? 65535u * 16u : (unsigned)(g ? g : 1);
}

static inline int launched(void) { return (int)cudaGetLastError(); }

/* Block-wide sum of a float (TPB threads), the same tree every time. The
 * result is returned to every thread. */
template <typename T> __device__ T block_sum(T v, T *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    T r = sh[0];
    __syncthreads();
    return r;
}

__device__ float block_max(float v, float *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    float r = sh[0];
    __syncthreads();
    return r;
}

/* --- gemm bias: c[b][i][j] += bias[j] --- */

__global__ void k_bias_add_rows(float *c, int64_t ldc, const float *bias, int64_t m, int64_t n,
                                int64_t batch, int64_t stride_c)
{
    int64_t total = m * n * batch;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t b = e / (m * n), r = e % (m * n), i = r / n, j = r % n;
        c[b * stride_c + i * ldc + j] += bias[j];
    }
}

extern "C" int cuk_bias_add_rows(cuda_stream_t s, float *c, int64_t ldc, const float *bias,
                                 int64_t m, int64_t n, int64_t batch, int64_t stride_c)
{
    size_t total = (size_t)(m * n * batch);
    k_bias_add_rows<<<grid_for(total, TPB), TPB, 0, s>>>(c, ldc, bias, m, n, batch, stride_c);
    return launched();
}

/* --- bias_grad: one thread per column sums the rows in order --- */

__global__ void k_bias_grad(float *dbias, const float *dout, int64_t rows, int64_t cols)
{
    int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= cols) return;
    float s = 0.0f;
    for (int64_t i = 0; i < rows; i++) s += dout[i * cols + j];
    dbias[j] += s;
}

extern "C" int cuk_bias_grad(cuda_stream_t s, float *dbias, const float *dout, int64_t rows,
                             int64_t cols)
{
    k_bias_grad<<<grid_for((size_t)cols, TPB), TPB, 0, s>>>(dbias, dout, rows, cols);
    return launched();
}

/* --- LayerNorm / RMSNorm (cpu_norm.c): one block per row --- */

__global__ void k_norm_forward(float *out, float *mean, float *rstd, const float *x,
                               const float *w, const float *b, int64_t cols, float eps, int rms)
{
    __shared__ float sh[TPB];
    int64_t i = blockIdx.x;
    const float *xr = x + i * cols;
    float *yr = out + i * cols;
    float m = 0.0f, r;
    if (rms) {
        float ss = 0.0f;
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) ss += xr[j] * xr[j];
        ss = block_sum(ss, sh);
        r = 1.0f / sqrtf(ss / (float)cols + eps);
    } else {
        float s = 0.0f;
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += xr[j];
        m = block_sum(s, sh) / (float)cols;
        float v = 0.0f;
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) v += (xr[j] - m) * (xr[j] - m);
        v = block_sum(v, sh);
        r = 1.0f / sqrtf(v / (float)cols + eps);
    }
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
        yr[j] = b ? (xr[j] - m) * r * w[j] + b[j] : (xr[j] - m) * r * w[j];
    if (threadIdx.x == 0) {
        if (mean) mean[i] = m;
        rstd[i] = r;
    }
}

extern "C" int cuk_norm_forward(cuda_stream_t s, float *out, float *mean, float *rstd,
                                const float *x, const float *w, const float *b, int64_t rows,
                                int64_t cols, float eps, int rms)
{
    if (rows == 0) return 0;
    k_norm_forward<<<(unsigned)rows, TPB, 0, s>>>(out, rms ? NULL : mean, rstd, x, w, b, cols,
                                                   eps, rms);
    return launched();
}

/* dx: one block per row. */
__global__ void k_norm_backward_dx(float *dx, const float *x, const float *w, const float *dy,
                                   const float *mean, const float *rstd, int64_t cols, int rms)
{
    __shared__ float sh[TPB];
    int64_t i = blockIdx.x;
    const float *xr = x + i * cols, *dyr = dy + i * cols;
    float m = rms ? 0.0f : mean[i], r = rstd[i];
    float sg = 0.0f, sgn = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
        float n = (xr[j] - m) * r, g = w[j] * dyr[j];
        sg += g;
        sgn += g * n;
    }
    sg = block_sum(sg, sh);
    sgn = block_sum(sgn, sh);
    float mg = rms ? 0.0f : sg / (float)cols, mgn = sgn / (float)cols;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
        float n = (xr[j] - m) * r;
        dx[i * cols + j] += r * (w[j] * dyr[j] - mg - n * mgn);
    }
}

/* dweight, dbias: one thread per column sums the rows in order. */
__global__ void k_norm_backward_dw(float *dw, float *db, const float *x, const float *dy,
                                   const float *mean, const float *rstd, int64_t rows,
                                   int64_t cols, int rms)
{
    int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= cols) return;
    float sw = 0.0f, sb = 0.0f;
    for (int64_t i = 0; i < rows; i++) {
        float m = rms ? 0.0f : mean[i];
        float g = dy[i * cols + j];
        sw += g * (x[i * cols + j] - m) * rstd[i];
        sb += g;
    }
    if (dw) dw[j] += sw;
    if (db) db[j] += sb;
}

extern "C" int cuk_norm_backward(cuda_stream_t s, float *dx, float *dw, float *db,
                                 const float *x, const float *w, const float *dy,
                                 const float *mean, const float *rstd, int64_t rows,
                                 int64_t cols, int rms)
{
    if (rows == 0) return 0;
    if (dx) k_norm_backward_dx<<<(unsigned)rows, TPB, 0, s>>>(dx, x, w, dy, mean, rstd, cols, rms);
    if (dw || (db && !rms))
        k_norm_backward_dw<<<grid_for((size_t)cols, TPB), TPB, 0, s>>>(dw, rms ? NULL : db, x, dy,
                                                                         mean, rstd, rows, cols,
                                                                         rms);
    return launched();
}

/* --- GELU (cpu_gelu.c: sigmoid form of tanh, Numerical Recipes erfc) --- */

#define GELU_S 0.7978845608028654f
#define GELU_C 0.044715f
#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.3989422804014327f

__device__ __forceinline__ float sigmoid2u(float x)
{
    float u = GELU_S * (x + GELU_C * x * x * x);
    return 1.0f / (1.0f + expf(-2.0f * u));
}

__device__ __forceinline__ float phi_cdf(float x)
{
    float w = -x * INV_SQRT2;
    float z = w < 0.0f ? -w : w;
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    float ans = t * expf(-z * z + p);
    float erfc_w = w >= 0.0f ? ans : 2.0f - ans;
    return 0.5f * erfc_w;
}

__global__ void k_gelu_forward(float *out, const float *inp, size_t n, int kind)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float x = inp[i];
        out[i] = kind == 0 ? x * sigmoid2u(x) : x * phi_cdf(x);
    }
}

__global__ void k_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n,
                                int kind)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float x = inp[i];
        if (kind == 0) {
            float s = sigmoid2u(x);
            float du = GELU_S * (1.0f + 3.0f * GELU_C * x * x);
            dinp[i] += dout[i] * (s + x * 2.0f * s * (1.0f - s) * du);
        } else {
            float pdf = INV_SQRT_2PI * expf(-0.5f * x * x);
            dinp[i] += dout[i] * (phi_cdf(x) + x * pdf);
        }
    }
}

extern "C" int cuk_gelu_forward(cuda_stream_t s, float *out, const float *inp, size_t n, int kind)
{
    k_gelu_forward<<<grid_for(n, TPB), TPB, 0, s>>>(out, inp, n, kind);
    return launched();
}

extern "C" int cuk_gelu_backward(cuda_stream_t s, float *dinp, const float *inp,
                                 const float *dout, size_t n, int kind)
{
    k_gelu_backward<<<grid_for(n, TPB), TPB, 0, s>>>(dinp, inp, dout, n, kind);
    return launched();
}

/* --- softmax + cross-entropy (cpu_xent.c): one block per row; the exp sum
 * in double. x[target] is read before anything is written (dlogits may
 * alias logits). --- */

__global__ void k_softmax_xent(const float *logits, const int32_t *targets, float *losses,
                               float *dlogits, float dloss, int64_t V, int64_t Vp)
{
    __shared__ float shf[TPB];
    __shared__ double shd[TPB];
    int64_t i = blockIdx.x;
    const float *x = logits + i * Vp;
    float *dl = dlogits ? dlogits + i * Vp : NULL;
    int32_t t = targets[i];
    if (t < 0) {
        if (threadIdx.x == 0) losses[i] = 0.0f;
        if (dl)
            for (int64_t j = threadIdx.x; j < Vp; j += blockDim.x) dl[j] = 0.0f;
        return;
    }
    float xt = x[t];
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) m = fmaxf(m, x[j]);
    m = block_max(m, shf);
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) s += (double)expf(x[j] - m);
    s = block_sum(s, shd);
    if (threadIdx.x == 0) losses[i] = (float)((double)m + log(s) - (double)xt);
    if (dl) {
        float f = (float)((double)dloss / s);
        /* Every read of x happened before the block_sum barrier above. */
        for (int64_t j = threadIdx.x; j < Vp; j += blockDim.x) {
            float g = 0.0f;
            if (j < V) {
                g = expf(x[j] - m) * f;
                if (j == t) g -= dloss;
            }
            dl[j] = g;
        }
    }
}

extern "C" int cuk_softmax_xent(cuda_stream_t s, const float *logits, const int32_t *targets,
                                float *losses, float *dlogits, float dloss, int64_t rows,
                                int64_t V, int64_t Vp)
{
    if (rows == 0) return 0;
    k_softmax_xent<<<(unsigned)rows, TPB, 0, s>>>(logits, targets, losses, dlogits, dloss, V, Vp);
    return launched();
}

/* --- embedding --- */

__global__ void k_embedding_forward(float *out, const int32_t *ids, const float *table,
                                    int64_t rows, int64_t dim, int accumulate)
{
    int64_t total = rows * dim;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = e / dim, j = e % dim;
        float v = table[(int64_t)ids[i] * dim + j];
        out[e] = accumulate ? out[e] + v : v;
    }
}

/* Deterministic backward without atomics or a sort: thread j owns column j of
 * the whole table and walks the ids in order, so every dtable[id][j] gets its
 * contributions in the order of i, as on the cpu. O(rows) per thread: fine
 * for rows = B*T of a micro-batch; a sorted segmented version is the faster
 * follow-up. */
__global__ void k_embedding_backward(float *dtable, const int32_t *ids, const float *dout,
                                     int64_t rows, int64_t dim)
{
    int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= dim) return;
    for (int64_t i = 0; i < rows; i++) dtable[(int64_t)ids[i] * dim + j] += dout[i * dim + j];
}

extern "C" int cuk_embedding_forward(cuda_stream_t s, float *out, const int32_t *ids,
                                     const float *table, int64_t rows, int64_t dim,
                                     int accumulate)
{
    k_embedding_forward<<<grid_for((size_t)(rows * dim), TPB), TPB, 0, s>>>(out, ids, table, rows,
                                                                           dim, accumulate);
    return launched();
}

extern "C" int cuk_embedding_backward(cuda_stream_t s, float *dtable, const int32_t *ids,
                                      const float *dout, int64_t rows, int64_t dim)
{
    k_embedding_backward<<<grid_for((size_t)dim, 64), 64, 0, s>>>(dtable, ids, dout, rows, dim);
    return launched();
}

/* --- elementwise --- */

__global__ void k_add(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = a[i] + b[i];
}

__global__ void k_scale(float *x, size_t n, float alpha)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] *= alpha;
}

extern "C" int cuk_add(cuda_stream_t s, float *out, const float *a, const float *b, size_t n)
{
    k_add<<<grid_for(n, TPB), TPB, 0, s>>>(out, a, b, n);
    return launched();
}

extern "C" int cuk_scale(cuda_stream_t s, float *x, size_t n, float alpha)
{
    k_scale<<<grid_for(n, TPB), TPB, 0, s>>>(x, n, alpha);
    return launched();
}

/* --- sum of squares in double: a fixed grid of CUK_SSQ_BLOCKS blocks writes
 * partial sums, one block adds them (fixed tree: deterministic). --- */

__global__ void k_ssq_partial(const float *x, size_t n, double *partial)
{
    __shared__ double sh[TPB];
    double s = 0.0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        double v = (double)x[i];
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

extern "C" int cuk_sum_squares(cuda_stream_t s, const float *x, size_t n, double *partial,
                               double *result)
{
    k_ssq_partial<<<CUK_SSQ_BLOCKS, TPB, 0, s>>>(x, n, partial);
    k_ssq_final<<<1, TPB, 0, s>>>(partial, CUK_SSQ_BLOCKS, result);
    return launched();
}

/* --- attention (cpu_attention.c's formulas), the simple version: one thread
 * per query row (forward, dq) or key row (dk, dv) or (head, i, j) (dbias),
 * scores recomputed from q, k and lse; nothing of size q_len x kv_len is
 * stored. Each output element is summed by one thread in key (or query, or
 * batch) order: deterministic, no atomics. Correct first, fast later: the
 * flash-attention style tiled kernel is the follow-up (docs/cuda.md). --- */

struct att_args {
    int64_t B, H, Tq, Tk, D, off;
    int causal;
    float scale;
    const float *q, *k, *v, *dout, *bias, *lse, *delta;
    float *out, *lsew, *dq, *dk, *dv, *dbias, *deltaw;
    int64_t qs, ks, vs, os;
};

__device__ __forceinline__ int64_t att_visible(const att_args &a, int64_t i)
{
    if (!a.causal) return a.Tk;
    int64_t n = i + a.off + 1;
    return n < 0 ? 0 : n > a.Tk ? a.Tk : n;
}

__device__ __forceinline__ float att_score(const att_args &a, const float *qi, const float *kj,
                                           int64_t h, int64_t i, int64_t j)
{
    float s = 0.0f;
    for (int64_t d = 0; d < a.D; d++) s += qi[d] * kj[d];
    s *= a.scale;
    if (a.bias) s += a.bias[(h * a.Tq + i) * a.Tk + j];
    return s;
}

__global__ void k_att_forward(att_args a)
{
    int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (r >= a.B * a.H * a.Tq) return;
    int64_t i = r % a.Tq, h = r / a.Tq % a.H, b = r / (a.Tq * a.H);
    const float *qi = a.q + (b * a.Tq + i) * a.qs + h * a.D;
    float *oi = a.out + (b * a.Tq + i) * a.os + h * a.D;
    int64_t n = att_visible(a, i);
    float acc[CUK_ATT_MAX_D];
    for (int64_t d = 0; d < a.D; d++) acc[d] = 0.0f;
    if (n == 0) {
        for (int64_t d = 0; d < a.D; d++) oi[d] = 0.0f;
        a.lsew[(b * a.H + h) * a.Tq + i] = -INFINITY;
        return;
    }
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++)
        m = fmaxf(m, att_score(a, qi, a.k + (b * a.Tk + j) * a.ks + h * a.D, h, i, j));
    float s = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        float p = expf(att_score(a, qi, a.k + (b * a.Tk + j) * a.ks + h * a.D, h, i, j) - m);
        s += p;
        const float *vj = a.v + (b * a.Tk + j) * a.vs + h * a.D;
        for (int64_t d = 0; d < a.D; d++) acc[d] += p * vj[d];
    }
    float inv = 1.0f / s;
    for (int64_t d = 0; d < a.D; d++) oi[d] = acc[d] * inv;
    a.lsew[(b * a.H + h) * a.Tq + i] = m + logf(s);
}

/* Per query row: delta_i = sum_j P_ij dP_ij (dP = dO V^T), then
 * dq_i += scale sum_j P_ij (dP_ij - delta_i) k_j. delta is kept for the
 * dk/dv and dbias kernels. */
__global__ void k_att_backward_dq(att_args a)
{
    int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (r >= a.B * a.H * a.Tq) return;
    int64_t i = r % a.Tq, h = r / a.Tq % a.H, b = r / (a.Tq * a.H);
    const float *qi = a.q + (b * a.Tq + i) * a.qs + h * a.D;
    const float *doi = a.dout + (b * a.Tq + i) * a.os + h * a.D;
    float lse = a.lse[(b * a.H + h) * a.Tq + i];
    int64_t n = att_visible(a, i);
    float delta = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        float p = expf(att_score(a, qi, a.k + (b * a.Tk + j) * a.ks + h * a.D, h, i, j) - lse);
        const float *vj = a.v + (b * a.Tk + j) * a.vs + h * a.D;
        float dp = 0.0f;
        for (int64_t d = 0; d < a.D; d++) dp += doi[d] * vj[d];
        delta += p * dp;
    }
    a.deltaw[r] = delta;
    if (!a.dq) return;
    float acc[CUK_ATT_MAX_D];
    for (int64_t d = 0; d < a.D; d++) acc[d] = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const float *kj = a.k + (b * a.Tk + j) * a.ks + h * a.D;
        float p = expf(att_score(a, qi, kj, h, i, j) - lse);
        const float *vj = a.v + (b * a.Tk + j) * a.vs + h * a.D;
        float dp = 0.0f;
        for (int64_t d = 0; d < a.D; d++) dp += doi[d] * vj[d];
        float ds = p * (dp - delta);
        for (int64_t d = 0; d < a.D; d++) acc[d] += ds * kj[d];
    }
    float *dqi = a.dq + (b * a.Tq + i) * a.qs + h * a.D;
    for (int64_t d = 0; d < a.D; d++) dqi[d] += a.scale * acc[d];
}

/* Per key row j: dv_j += sum_i P_ij dO_i, dk_j += scale sum_i dS_ij q_i over
 * the queries that see j. */
__global__ void k_att_backward_dkv(att_args a)
{
    int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (r >= a.B * a.H * a.Tk) return;
    int64_t j = r % a.Tk, h = r / a.Tk % a.H, b = r / (a.Tk * a.H);
    const float *kj = a.k + (b * a.Tk + j) * a.ks + h * a.D;
    const float *vj = a.v + (b * a.Tk + j) * a.vs + h * a.D;
    float adk[CUK_ATT_MAX_D], adv[CUK_ATT_MAX_D];
    for (int64_t d = 0; d < a.D; d++) adk[d] = adv[d] = 0.0f;
    for (int64_t i = 0; i < a.Tq; i++) {
        if (j >= att_visible(a, i)) continue;
        const float *qi = a.q + (b * a.Tq + i) * a.qs + h * a.D;
        const float *doi = a.dout + (b * a.Tq + i) * a.os + h * a.D;
        int64_t row = (b * a.H + h) * a.Tq + i;
        float p = expf(att_score(a, qi, kj, h, i, j) - a.lse[row]);
        float dp = 0.0f;
        for (int64_t d = 0; d < a.D; d++) dp += doi[d] * vj[d];
        float ds = p * (dp - a.delta[row]);
        for (int64_t d = 0; d < a.D; d++) {
            adv[d] += p * doi[d];
            adk[d] += ds * qi[d];
        }
    }
    float *dkj = a.dk ? a.dk + (b * a.Tk + j) * a.ks + h * a.D : NULL;
    float *dvj = a.dv ? a.dv + (b * a.Tk + j) * a.vs + h * a.D : NULL;
    for (int64_t d = 0; d < a.D; d++) {
        if (dkj) dkj[d] += a.scale * adk[d];
        if (dvj) dvj[d] += adv[d];
    }
}

/* dbias[h, i, j] += sum over the batch of dS_bhij. */
__global__ void k_att_backward_dbias(att_args a)
{
    int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (r >= a.H * a.Tq * a.Tk) return;
    int64_t j = r % a.Tk, i = r / a.Tk % a.Tq, h = r / (a.Tk * a.Tq);
    if (j >= att_visible(a, i)) return;
    float acc = 0.0f;
    for (int64_t b = 0; b < a.B; b++) {
        const float *qi = a.q + (b * a.Tq + i) * a.qs + h * a.D;
        const float *kj = a.k + (b * a.Tk + j) * a.ks + h * a.D;
        const float *vj = a.v + (b * a.Tk + j) * a.vs + h * a.D;
        const float *doi = a.dout + (b * a.Tq + i) * a.os + h * a.D;
        int64_t row = (b * a.H + h) * a.Tq + i;
        float p = expf(att_score(a, qi, kj, h, i, j) - a.lse[row]);
        float dp = 0.0f;
        for (int64_t d = 0; d < a.D; d++) dp += doi[d] * vj[d];
        acc += p * (dp - a.delta[row]);
    }
    a.dbias[r] += acc;
}

static att_args att_make(const cuk_att *p)
{
    att_args a;
    a.B = p->batch; a.H = p->heads; a.Tq = p->q_len; a.Tk = p->kv_len; a.D = p->head_dim;
    a.off = p->kv_len - p->q_len;
    a.causal = p->causal; a.scale = p->scale;
    a.q = p->q; a.k = p->k; a.v = p->v; a.dout = p->dout; a.bias = p->bias; a.lse = p->lse;
    a.delta = p->delta;
    a.out = p->out; a.lsew = p->lse; a.dq = p->dq; a.dk = p->dk; a.dv = p->dv;
    a.dbias = p->dbias; a.deltaw = p->delta;
    a.qs = p->q_row_stride; a.ks = p->k_row_stride; a.vs = p->v_row_stride;
    a.os = p->out_row_stride;
    return a;
}

#define ATT_TPB 128

extern "C" int cuk_attention_forward(cuda_stream_t s, const cuk_att *p)
{
    att_args a = att_make(p);
    size_t rows = (size_t)(a.B * a.H * a.Tq);
    if (rows == 0) return 0;
    k_att_forward<<<(unsigned)((rows + ATT_TPB - 1) / ATT_TPB), ATT_TPB, 0, s>>>(a);
    return launched();
}

extern "C" int cuk_attention_backward(cuda_stream_t s, const cuk_att *p)
{
    att_args a = att_make(p);
    size_t qrows = (size_t)(a.B * a.H * a.Tq), krows = (size_t)(a.B * a.H * a.Tk);
    if (qrows == 0) return 0;
    k_att_backward_dq<<<(unsigned)((qrows + ATT_TPB - 1) / ATT_TPB), ATT_TPB, 0, s>>>(a);
    if ((a.dk || a.dv) && krows)
        k_att_backward_dkv<<<(unsigned)((krows + ATT_TPB - 1) / ATT_TPB), ATT_TPB, 0, s>>>(a);
    if (a.dbias) {
        size_t n = (size_t)(a.H * a.Tq * a.Tk);
        if (n) k_att_backward_dbias<<<(unsigned)((n + ATT_TPB - 1) / ATT_TPB), ATT_TPB, 0, s>>>(a);
    }
    return launched();
}

/* --- conversions: convert.h itself, compiled for the device (convert_dev.h
 * is generated from it by plugins/cuda/local.mk), so the bits are those of
 * the specification. nvcc's default -prec-div=true and -ftz=false keep 1/s
 * and subnormals IEEE, as convert.h requires; nearbyintf and
 * __float2int_rn round half to even like the cpu's nearbyintf/lrintf. --- */

#include "convert_dev.h"

__device__ __forceinline__ int32_t f32_to_i32_dev(float v)
{
    if (v != v) return 0;
    if (v >= 2147483647.0f) return INT32_MAX;
    if (v <= -2147483648.0f) return INT32_MIN;
    return __float2int_rn(v);
}

__global__ void k_convert(int kind, void *dst, const void *src, size_t n, int64_t cols,
                          uint64_t seed, uint64_t offset, const float *scales, int axis)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        switch (kind) {
        case CUK_F16_F32: ((float *)dst)[i] = llmrt_f16_to_f32(((const uint16_t *)src)[i]); break;
        case CUK_BF16_F32: ((float *)dst)[i] = llmrt_bf16_to_f32(((const uint16_t *)src)[i]); break;
        case CUK_F32_F16: ((uint16_t *)dst)[i] = llmrt_f32_to_f16(((const float *)src)[i]); break;
        case CUK_F32_BF16: ((uint16_t *)dst)[i] = llmrt_f32_to_bf16(((const float *)src)[i]); break;
        case CUK_F32_BF16_SR:
            ((uint16_t *)dst)[i] =
                llmrt_f32_to_bf16_sr(((const float *)src)[i], llmrt_sr_bits(seed, offset + i));
            break;
        case CUK_F16_BF16:
            ((uint16_t *)dst)[i] = llmrt_f32_to_bf16(llmrt_f16_to_f32(((const uint16_t *)src)[i]));
            break;
        case CUK_BF16_F16:
            ((uint16_t *)dst)[i] = llmrt_f32_to_f16(llmrt_bf16_to_f32(((const uint16_t *)src)[i]));
            break;
        case CUK_F32_I8:
        case CUK_I8_F32: {
            float sc = scales[axis == 0 ? (int64_t)(i / (size_t)cols)
                              : axis == 1 ? (int64_t)(i % (size_t)cols) : 0];
            if (kind == CUK_F32_I8) {
                float inv = 1.0f / llmrt_quant_scale(sc);
                ((int8_t *)dst)[i] = (int8_t)llmrt_quant_round(((const float *)src)[i], inv,
                                                               LLMRT_I8_QMIN, LLMRT_I8_QMAX);
            } else {
                ((float *)dst)[i] = (float)((const int8_t *)src)[i] * llmrt_quant_scale(sc);
            }
            break;
        }
        case CUK_I32_F32: ((float *)dst)[i] = (float)((const int32_t *)src)[i]; break;
        case CUK_F32_I32: ((int32_t *)dst)[i] = f32_to_i32_dev(((const float *)src)[i]); break;
        }
    }
}

extern "C" int cuk_convert(cuda_stream_t s, int kind, void *dst, const void *src, size_t n,
                           int64_t cols, uint64_t seed, uint64_t offset, const float *scales,
                           int axis)
{
    k_convert<<<grid_for(n, TPB), TPB, 0, s>>>(kind, dst, src, n, cols, seed, offset, scales, axis);
    return launched();
}

/* --- LSQ fake quantization (cpu_fake_quant.c): elementwise forward and dx;
 * dscale sums dout * term in double per channel in a fixed order: axis 0 one
 * block per row, axis 1 one thread per column over the rows in order,
 * axis -1 CUK_SSQ_BLOCKS fixed partial sums then one block. --- */

__device__ __forceinline__ float fq_scale_of(const float *scale, int axis, size_t i,
                                             int64_t cols)
{
    return scale[axis == 0 ? (int64_t)(i / (size_t)cols) : axis == 1 ? (int64_t)(i % (size_t)cols) : 0];
}

__device__ __forceinline__ float lsq_term(float x, float inv, float qmin, float qmax)
{
    float v = x * inv, r = nearbyintf(v);
    return r < qmin ? qmin : r > qmax ? qmax : r - v;
}

__global__ void k_fq_forward(float *out, const float *x, const float *scale, size_t n,
                             int64_t cols, int axis, int qmin, int qmax)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float s = llmrt_quant_scale(fq_scale_of(scale, axis, i, cols)), inv = 1.0f / s;
        out[i] = llmrt_quant_round(x[i], inv, qmin, qmax) * s;
    }
}

__global__ void k_fq_dx(float *dx, const float *x, const float *dy, const float *scale, size_t n,
                        int64_t cols, int axis, float qmin, float qmax)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float inv = 1.0f / llmrt_quant_scale(fq_scale_of(scale, axis, i, cols));
        float r = nearbyintf(x[i] * inv);
        dx[i] += (r >= qmin && r <= qmax) ? dy[i] : 0.0f;
    }
}

__global__ void k_fq_dscale_rows(float *dscale, const float *x, const float *dy,
                                 const float *scale, int64_t cols, float qmin, float qmax,
                                 double g)
{
    __shared__ double sh[TPB];
    int64_t r = blockIdx.x;
    float inv = 1.0f / llmrt_quant_scale(scale[r]);
    double acc = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
        acc += (double)dy[r * cols + j] * (double)lsq_term(x[r * cols + j], inv, qmin, qmax);
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) dscale[r] += (float)(g * acc * llmrt_quant_scale_grad(scale[r]));
}

__global__ void k_fq_dscale_cols(float *dscale, const float *x, const float *dy,
                                 const float *scale, int64_t rows, int64_t cols, float qmin,
                                 float qmax, double g)
{
    int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= cols) return;
    float inv = 1.0f / llmrt_quant_scale(scale[j]);
    double acc = 0.0;
    for (int64_t r = 0; r < rows; r++)
        acc += (double)dy[r * cols + j] * (double)lsq_term(x[r * cols + j], inv, qmin, qmax);
    dscale[j] += (float)(g * acc * llmrt_quant_scale_grad(scale[j]));
}

__global__ void k_fq_dscale_one_partial(double *partial, const float *x, const float *dy,
                                        const float *scale, size_t n, float qmin, float qmax)
{
    __shared__ double sh[TPB];
    float inv = 1.0f / llmrt_quant_scale(scale[0]);
    double acc = 0.0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        acc += (double)dy[i] * (double)lsq_term(x[i], inv, qmin, qmax);
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void k_fq_dscale_one_final(float *dscale, const double *partial, int np,
                                      const float *scale, double g)
{
    __shared__ double sh[TPB];
    double s = 0.0;
    for (int i = threadIdx.x; i < np; i += blockDim.x) s += partial[i];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) dscale[0] += (float)(g * s * llmrt_quant_scale_grad(scale[0]));
}

extern "C" int cuk_fake_quant_forward(cuda_stream_t s, float *out, const float *x,
                                      const float *scale, int64_t rows, int64_t cols, int axis,
                                      int qmin, int qmax)
{
    size_t n = (size_t)(rows * cols);
    k_fq_forward<<<grid_for(n, TPB), TPB, 0, s>>>(out, x, scale, n, cols, axis, qmin, qmax);
    return launched();
}

extern "C" int cuk_fake_quant_backward(cuda_stream_t s, float *dx, float *dscale, const float *x,
                                       const float *dy, const float *scale, int64_t rows,
                                       int64_t cols, int axis, int qmin, int qmax,
                                       float grad_factor, double *partial)
{
    size_t n = (size_t)(rows * cols);
    float fmin = (float)qmin, fmax = (float)qmax;
    double g = (double)grad_factor;
    if (dx) k_fq_dx<<<grid_for(n, TPB), TPB, 0, s>>>(dx, x, dy, scale, n, cols, axis, fmin, fmax);
    if (dscale) {
        if (axis == 0)
            k_fq_dscale_rows<<<(unsigned)rows, TPB, 0, s>>>(dscale, x, dy, scale, cols, fmin, fmax, g);
        else if (axis == 1)
            k_fq_dscale_cols<<<grid_for((size_t)cols, TPB), TPB, 0, s>>>(dscale, x, dy, scale, rows,
                                                                        cols, fmin, fmax, g);
        else {
            k_fq_dscale_one_partial<<<CUK_SSQ_BLOCKS, TPB, 0, s>>>(partial, x, dy, scale, n, fmin,
                                                                   fmax);
            k_fq_dscale_one_final<<<1, TPB, 0, s>>>(dscale, partial, CUK_SSQ_BLOCKS, scale, g);
        }
    }
    return launched();
}
