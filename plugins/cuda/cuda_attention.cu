/* cuda_attention.cu — scaled dot-product attention, FlashAttention-2 style:
 * tiles of query and key rows streamed through shared memory, the softmax
 * done online, nothing of size q_len x kv_len ever stored.
 *
 * Semantics are cpu_attention.c's (the reference): S = scale Q K^T + bias,
 * query i sees keys j < vis(i) (causal: i + kv_len - q_len + 1, clamped to
 * [0, kv_len]; else kv_len), lse = log-sum-exp of each row (natural log,
 * fp32, [batch, heads, q_len]); a row that sees no key gets out = 0 and
 * lse = -inf and adds nothing to any gradient.
 *
 * Forward
 *  - bf16 / f16: k_fwd_mma. 4 warps, 64 query rows per block (16 per warp),
 *    key tiles of BK rows. S = Q K^T and O += P V run on tensor cores
 *    (mma.sync m16n8k16, fp32 accumulators). The S accumulator layout of
 *    m16n8k16 is the A-operand layout of the next product, so P goes from
 *    registers to the P V product without shared memory; it is rounded to
 *    the input type there (round to nearest even). The running max, the row
 *    sums (of the unrounded P), lse and the O accumulator stay fp32.
 *  - fp32: k_fwd_simt. CUDA-core FMA tiles of 32 x 32, 4 threads per query
 *    row, true fp32 (expf, no TF32).
 * Backward, deterministic without atomics (compute.h rule 9): every
 * gradient element is summed by one thread in a fixed order and written by
 * one block. Gradients are added (rule 8): read, add in fp32, round once
 * (convert.h).
 *  1. k_delta: delta_i = rowsum(dO_i * O_i) (one warp per row); without out,
 *     k_delta_from_p: delta_i = sum_j P_ij dP_ij, P recomputed from lse.
 *  2. dQ: a block owns a tile of query rows and walks the key tiles in
 *     order: P = exp(S - lse), dS = P (dO V^T - delta), dQ += scale dS K.
 *  3. dK, dV: a block owns a tile of key rows and walks the query tiles in
 *     order: dV += P^T dO, dK += scale dS^T Q.
 *  4. k_bwd_dbias (only with dbias): a block owns a 32 x 32 tile of
 *     (query, key) of one head and walks the batch in order.
 *  bf16 / f16 with head_dim <= 128: 2 and 3 on tensor cores (k_bwd_dq_mma,
 *  k_bwd_dkv_mma: 64 owned rows, tiles of 32 streamed; P and dS rounded to
 *  the input type for their products, like P in the forward). Otherwise
 *  (fp32, wider heads) CUDA-core kernels (k_bwd_dq, k_bwd_dkv: 32 owned
 *  rows, fp32 FMA; 16-bit inputs widened exactly into shared memory).
 *
 * Causal: key tiles past the last key a query tile sees (forward, dq, dbias)
 * and query tiles before the first query that sees a key tile (dkv) are
 * skipped; keys inside partial tiles are masked per element.
 *
 * head_dim: each kernel is instantiated for a padded width DP (64, 128,
 * 192 (mma only) and 256); head_dim <= DP runs with zeros in the padding,
 * so 64 and 128 are the exact fast paths and any head_dim <= 256 works.
 *
 * Loads use 16-byte vectors when the pointer, the row stride and head_dim
 * allow it (a per-tensor flag computed on the host), else scalar loads.
 *
 * UNTESTED: written and compiled on a machine without a GPU (docs/cuda.md).
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "convert_dev.h"
#include "cuda_attention.h"

namespace {

/* --- element types: storage and exact widening / convert.h rounding --- */

template <int DT> struct elem;
template <> struct elem<CUK_FLASH_F32> {
    typedef float st;
    static __device__ __forceinline__ float to_f(float x) { return x; }
    static __device__ __forceinline__ float from_f(float x) { return x; }
};
template <> struct elem<CUK_FLASH_BF16> {
    typedef uint16_t st;
    static __device__ __forceinline__ float to_f(uint16_t x) { return llmrt_bf16_to_f32(x); }
    static __device__ __forceinline__ uint16_t from_f(float x) { return llmrt_f32_to_bf16(x); }
};
template <> struct elem<CUK_FLASH_F16> {
    typedef uint16_t st;
    static __device__ __forceinline__ float to_f(uint16_t x) { return llmrt_f16_to_f32(x); }
    static __device__ __forceinline__ uint16_t from_f(float x) { return llmrt_f32_to_f16(x); }
};

/* Kernel arguments (by value). Row bases are at column 0 of head 0 of
 * batch 0; per-tensor `v*` flags allow 16-byte vector access. */
struct fa_args {
    int64_t B, H, Tq, Tk, off; /* off = kv_len - q_len */
    int D, causal;
    float scale;
    const void *q, *k, *v, *dout;
    const void *out;
    const float *bias;
    float *lse;
    void *dq, *dk, *dv;
    float *dbias, *delta;
    int64_t qs, ks, vs, os;
    int vq, vk, vv, vo;
};

/* Keys that query row i sees. */
__device__ __forceinline__ int64_t vis(const fa_args &a, int64_t i)
{
    if (!a.causal) return a.Tk;
    int64_t n = i + a.off + 1;
    return n < 0 ? 0 : n > a.Tk ? a.Tk : n;
}

/* rows x DP values of one head into dst[r * ld + d] as fp32: rows row0 + r of
 * `base` (row stride `stride`), zeros for rows >= nvalid and columns >= D. */
template <int DT>
__device__ void load_f32(float *dst, int ld, const typename elem<DT>::st *base, int64_t stride,
                         int64_t row0, int64_t nvalid, int rows, int D, int DP, int vec)
{
    typedef typename elem<DT>::st st;
    if (vec) {
        const int per = 16 / (int)sizeof(st), cpr = DP / per;
        for (int e = threadIdx.x; e < rows * cpr; e += blockDim.x) {
            int r = e / cpr, d0 = (e % cpr) * per;
            st x[16 / sizeof(st)];
            uint4 u = make_uint4(0, 0, 0, 0);
            if (row0 + r < nvalid && d0 < D) u = *(const uint4 *)(base + (row0 + r) * stride + d0);
            memcpy(x, &u, sizeof u);
#pragma unroll
            for (int t = 0; t < per; t++) dst[r * ld + d0 + t] = elem<DT>::to_f(x[t]);
        }
    } else {
        for (int e = threadIdx.x; e < rows * DP; e += blockDim.x) {
            int r = e / DP, d = e % DP;
            dst[r * ld + d] =
                row0 + r < nvalid && d < D ? elem<DT>::to_f(base[(row0 + r) * stride + d]) : 0.0f;
        }
    }
}

/* The same for 16-bit values kept as they are (mma operands), row-major
 * dst[r * ld + d] (ld a multiple of 8, so vector stores stay aligned). */
__device__ void load_16(uint16_t *dst, int ld, const uint16_t *base, int64_t stride, int64_t row0,
                        int64_t nvalid, int rows, int D, int DP, int vec)
{
    if (vec) {
        const int cpr = DP / 8;
        for (int e = threadIdx.x; e < rows * cpr; e += blockDim.x) {
            int r = e / cpr, d0 = (e % cpr) * 8;
            uint4 u = make_uint4(0, 0, 0, 0);
            if (row0 + r < nvalid && d0 < D) u = *(const uint4 *)(base + (row0 + r) * stride + d0);
            *(uint4 *)(dst + r * ld + d0) = u;
        }
    } else {
        for (int e = threadIdx.x; e < rows * DP; e += blockDim.x) {
            int r = e / DP, d = e % DP;
            dst[r * ld + d] = row0 + r < nvalid && d < D ? base[(row0 + r) * stride + d] : 0;
        }
    }
}

/* Transposed: dst[d * ld + r]. Consecutive threads take consecutive rows, so
 * the 16-bit shared stores of a warp fall in consecutive words (no bank
 * conflicts); the global loads are then one 16-byte piece per row. */
__device__ void load_16_t(uint16_t *dst, int ld, const uint16_t *base, int64_t stride,
                          int64_t row0, int64_t nvalid, int rows, int D, int DP, int vec)
{
    const int cpr = DP / 8;
    for (int e = threadIdx.x; e < rows * cpr; e += blockDim.x) {
        int r = e % rows, d0 = (e / rows) * 8;
        uint16_t x[8];
        bool ok = row0 + r < nvalid;
        if (vec) {
            uint4 u = make_uint4(0, 0, 0, 0);
            if (ok && d0 < D) u = *(const uint4 *)(base + (row0 + r) * stride + d0);
            memcpy(x, &u, sizeof u);
        } else {
#pragma unroll
            for (int t = 0; t < 8; t++)
                x[t] = ok && d0 + t < D ? base[(row0 + r) * stride + d0 + t] : 0;
        }
#pragma unroll
        for (int t = 0; t < 8; t++) dst[(d0 + t) * ld + r] = x[t];
    }
}

/* --- tensor cores (bf16, f16): operands and warp-level products --- */

__device__ __forceinline__ uint32_t ld32(const uint16_t *p) { return *(const uint32_t *)p; }

/* Two fp32 values rounded (nearest even) to the 16-bit type, lo in the low
 * half: the register layout of an mma operand pair. */
template <int DT> __device__ __forceinline__ uint32_t pack2(float lo, float hi)
{
    uint32_t r;
    if (DT == CUK_FLASH_BF16)
        asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    else
        asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

/* c += A B with A 16x16 (row), B 16x8 (col), fp32 accumulators. */
template <int DT>
__device__ __forceinline__ void mma16816(float c[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                         uint32_t a3, uint32_t b0, uint32_t b1)
{
    if (DT == CUK_FLASH_BF16)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* The warp-level products of the tensor-core kernels. In m16n8k16
 * fragments lane (g = lane / 4, t = lane % 4) holds rows g and g + 8 of a
 * 16-row tile and columns 2t, 2t + 1 of each 8-column tile. */

/* acc[n] += X Y^T for 16 rows of X (at X, row-major, ld ldx) and NT * 8 rows
 * of Y (row-major, ld ldy): the contraction runs over the first D of DP
 * columns of both (the rest of a 16-column step is zero padding). */
template <int DT, int NT, int DP>
__device__ __forceinline__ void mma_xyT(float acc[NT][4], const uint16_t *X, int ldx,
                                        const uint16_t *Y, int ldy, int D)
{
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const uint16_t *x = X + g * ldx + 2 * t;
#pragma unroll
    for (int kk = 0; kk < DP / 16; kk++) {
        if (kk * 16 >= D) break;
        const uint32_t a0 = ld32(x + kk * 16), a1 = ld32(x + 8 * ldx + kk * 16);
        const uint32_t a2 = ld32(x + kk * 16 + 8), a3 = ld32(x + 8 * ldx + kk * 16 + 8);
#pragma unroll
        for (int n = 0; n < NT; n++) {
            const uint16_t *y = Y + (n * 8 + g) * ldy + kk * 16 + 2 * t;
            mma16816<DT>(acc[n], a0, a1, a2, a3, ld32(y), ld32(y + 8));
        }
    }
}

/* acc[n] += P Y for P the 16 x (NK * 8) accumulator tile p (fp32, rounded
 * to the 16-bit type here) and Y given transposed: Yt[d * ld + k], d < DP.
 * The accumulators of column tiles 2kk and 2kk + 1 are exactly the A
 * fragment of columns 16kk..16kk+15 (rows g, g+8; columns 2t, 2t+1, 2t+8,
 * 2t+9), so P never leaves the registers. Output columns past D are skipped. */
template <int DT, int NK, int DP>
__device__ __forceinline__ void mma_pv(float acc[DP / 8][4], const float p[NK][4],
                                       const uint16_t *Yt, int ld, int D)
{
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int kk = 0; kk < NK / 2; kk++) {
        const uint32_t p0 = pack2<DT>(p[2 * kk][0], p[2 * kk][1]);
        const uint32_t p1 = pack2<DT>(p[2 * kk][2], p[2 * kk][3]);
        const uint32_t p2 = pack2<DT>(p[2 * kk + 1][0], p[2 * kk + 1][1]);
        const uint32_t p3 = pack2<DT>(p[2 * kk + 1][2], p[2 * kk + 1][3]);
#pragma unroll
        for (int n = 0; n < DP / 8; n++) {
            if (n * 8 >= D) break;
            const uint16_t *y = Yt + (n * 8 + g) * ld + kk * 16 + 2 * t;
            mma16816<DT>(acc[n], p0, p1, p2, p3, ld32(y), ld32(y + 8));
        }
    }
}

/* row[d] (+)= scale * acc for this lane's columns 2t, 2t+1 of each 8-column
 * tile of accumulator row `half` (0: row g, 1: row g + 8); `add`: read, add
 * in fp32, round once. */
template <int DT, int DP>
__device__ __forceinline__ void store_acc_row(uint16_t *row, const float acc[DP / 8][4], int half,
                                              float scale, int D, int add)
{
    const int t = threadIdx.x & 3;
#pragma unroll
    for (int n = 0; n < DP / 8; n++) {
#pragma unroll
        for (int e = 0; e < 2; e++) {
            const int d = n * 8 + 2 * t + e;
            if (d >= D) continue;
            float x = scale * acc[n][2 * half + e];
            if (add) x += elem<DT>::to_f(row[d]);
            row[d] = elem<DT>::from_f(x);
        }
    }
}

/* --- tensor-core forward --- */

#define MMA_BQ 64
#define MMA_THREADS 128
#define LOG2E 1.44269504088896341f

__host__ __device__ constexpr size_t mma_smem(int DP, int BK)
{
    return ((size_t)MMA_BQ * (DP + 8) + (size_t)BK * (DP + 8) + (size_t)DP * (BK + 8)) * 2;
}

/* One block: 64 query rows of one (batch, head). Warp w owns rows 16w..16w+15;
 * in m16n8k16 fragments lane (g = lane / 4, t = lane % 4) holds rows g and
 * g + 8 of its 16, columns 2t, 2t + 1 of each 8-column tile.
 * Shared: Qs [64][DP + 8], Ks [BK][DP + 8], Vt [DP][BK + 8] (V transposed so
 * that the P V operand is two consecutive values, like K's). The +8 pad
 * makes a row (DP + 8) / 2 = 4 (mod 32) words long, so the eight g rows and
 * four t words a warp reads hit 32 different banks. */
template <int DT, int DP, int BK>
__global__ void __launch_bounds__(MMA_THREADS) k_fwd_mma(fa_args a, int ntiles)
{
    extern __shared__ uint4 smem_mma[];
    const int LQ = DP + 8, LV = BK + 8;
    uint16_t *Qs = (uint16_t *)smem_mma, *Ks = Qs + MMA_BQ * LQ, *Vt = Ks + BK * LQ;

    const int64_t bh = blockIdx.x / ntiles, b = bh / a.H, h = bh % a.H;
    /* The last query tiles (most keys when causal) first. */
    const int64_t i0 = (int64_t)(ntiles - 1 - (int)(blockIdx.x % ntiles)) * MMA_BQ;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const uint16_t *q = (const uint16_t *)a.q + b * a.Tq * a.qs + h * a.D;
    const uint16_t *k = (const uint16_t *)a.k + b * a.Tk * a.ks + h * a.D;
    const uint16_t *v = (const uint16_t *)a.v + b * a.Tk * a.vs + h * a.D;

    load_16(Qs, LQ, q, a.qs, i0, a.Tq, MMA_BQ, a.D, DP, a.vq);

    const int64_t ilast = (i0 + MMA_BQ < a.Tq ? i0 + MMA_BQ : a.Tq) - 1;
    const int64_t nk = vis(a, ilast); /* keys any row of the block sees */
    const int64_t rA = i0 + warp * 16 + g, rB = rA + 8;
    const int64_t visA = rA < a.Tq ? vis(a, rA) : 0, visB = rB < a.Tq ? vis(a, rB) : 0;
    const float *biasA = a.bias && rA < a.Tq ? a.bias + (h * a.Tq + rA) * a.Tk : NULL;
    const float *biasB = a.bias && rB < a.Tq ? a.bias + (h * a.Tq + rB) * a.Tk : NULL;

    float o[DP / 8][4];
#pragma unroll
    for (int n = 0; n < DP / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float mA = -INFINITY, mB = -INFINITY, lA = 0.0f, lB = 0.0f;

    for (int64_t j0 = 0; j0 < nk; j0 += BK) {
        __syncthreads(); /* the previous tile's K and V are no longer read */
        load_16(Ks, LQ, k, a.ks, j0, a.Tk, BK, a.D, DP, a.vk);
        load_16_t(Vt, LV, v, a.vs, j0, a.Tk, BK, a.D, DP, a.vv);
        __syncthreads();

        float s[BK / 8][4];
#pragma unroll
        for (int n = 0; n < BK / 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
        mma_xyT<DT, BK / 8, DP>(s, Qs + warp * 16 * LQ, LQ, Ks, LQ, a.D);

        /* Scale, bias, mask; the tile's row maxima over the 4 lanes of a row. */
        float tA = -INFINITY, tB = -INFINITY;
#pragma unroll
        for (int n = 0; n < BK / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int64_t j = j0 + n * 8 + 2 * t + (e & 1);
                const bool rowA = e < 2;
                float x = s[n][e] * a.scale;
                if (j < (rowA ? visA : visB)) {
                    const float *bi = rowA ? biasA : biasB;
                    if (bi) x += bi[j];
                } else {
                    x = -INFINITY;
                }
                s[n][e] = x;
                if (rowA) tA = fmaxf(tA, x);
                else tB = fmaxf(tB, x);
            }
        tA = fmaxf(tA, __shfl_xor_sync(0xffffffffu, tA, 1));
        tA = fmaxf(tA, __shfl_xor_sync(0xffffffffu, tA, 2));
        tB = fmaxf(tB, __shfl_xor_sync(0xffffffffu, tB, 1));
        tB = fmaxf(tB, __shfl_xor_sync(0xffffffffu, tB, 2));
        const float nA = fmaxf(mA, tA), nB = fmaxf(mB, tB);
        /* A row with no visible key so far keeps max -inf: use 0 so that
         * exp(-inf - 0) = 0 instead of exp(-inf + inf) = NaN. */
        const float uA = nA == -INFINITY ? 0.0f : nA, uB = nB == -INFINITY ? 0.0f : nB;
        const float alA = exp2f((mA - uA) * LOG2E), alB = exp2f((mB - uB) * LOG2E);
        mA = nA;
        mB = nB;
        float sumA = 0.0f, sumB = 0.0f;
#pragma unroll
        for (int n = 0; n < BK / 8; n++) {
            s[n][0] = exp2f((s[n][0] - uA) * LOG2E);
            s[n][1] = exp2f((s[n][1] - uA) * LOG2E);
            s[n][2] = exp2f((s[n][2] - uB) * LOG2E);
            s[n][3] = exp2f((s[n][3] - uB) * LOG2E);
            sumA += s[n][0] + s[n][1];
            sumB += s[n][2] + s[n][3];
        }
        lA = lA * alA + sumA; /* this lane's part; the 4 lanes are added at the end */
        lB = lB * alB + sumB;
#pragma unroll
        for (int n = 0; n < DP / 8; n++) {
            o[n][0] *= alA;
            o[n][1] *= alA;
            o[n][2] *= alB;
            o[n][3] *= alB;
        }
        mma_pv<DT, BK / 8, DP>(o, s, Vt, LV, a.D); /* O += P V */
    }

    lA += __shfl_xor_sync(0xffffffffu, lA, 1);
    lA += __shfl_xor_sync(0xffffffffu, lA, 2);
    lB += __shfl_xor_sync(0xffffffffu, lB, 1);
    lB += __shfl_xor_sync(0xffffffffu, lB, 2);
    /* A row with a visible key has l >= 1 (its maximum contributes exp(0)). */
    const float invA = lA > 0.0f ? 1.0f / lA : 0.0f, invB = lB > 0.0f ? 1.0f / lB : 0.0f;
    uint16_t *out = (uint16_t *)a.out + b * a.Tq * a.os + h * a.D;
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const int64_t r = half ? rB : rA;
        if (r >= a.Tq) continue;
        const float inv = half ? invB : invA;
        uint16_t *orow = out + r * a.os;
#pragma unroll
        for (int n = 0; n < DP / 8; n++) {
            const int d = n * 8 + 2 * t;
            if (d >= a.D) break;
            const uint16_t x0 = elem<DT>::from_f(o[n][2 * half] * inv);
            const uint16_t x1 = elem<DT>::from_f(o[n][2 * half + 1] * inv);
            if (a.vo) {
                *(uint32_t *)(orow + d) = (uint32_t)x0 | (uint32_t)x1 << 16;
            } else {
                orow[d] = x0;
                if (d + 1 < a.D) orow[d + 1] = x1;
            }
        }
        if (t == 0) {
            const float l = half ? lB : lA, m = half ? mB : mA;
            a.lse[(b * a.H + h) * a.Tq + r] = l > 0.0f ? m + logf(l) : -INFINITY;
        }
    }
}

/* --- CUDA-core forward (fp32) --- */

#define ST 32 /* query and key rows per tile of the CUDA-core kernels */
#define FWD_THREADS 128
#define BWD_THREADS 256

__host__ __device__ constexpr size_t simt_fwd_smem(int DP)
{
    return ((size_t)2 * ST * (DP + 1) + (size_t)ST * DP + (size_t)ST * (ST + 1)) * sizeof(float);
}

/* One block: 32 query rows; thread (r = tid / 4, c = tid % 4) owns scores
 * (r, c + 4m) and output columns c + 4m. Qs and Ks rows are DP + 1 floats
 * long so the 8 rows (Qs) or 4 rows (Ks) a warp reads are in distinct banks. */
template <int DT, int DP>
__global__ void __launch_bounds__(FWD_THREADS) k_fwd_simt(fa_args a, int ntiles)
{
    typedef typename elem<DT>::st st;
    extern __shared__ float smem_f[];
    const int LD = DP + 1;
    float *Qs = smem_f, *Ks = Qs + ST * LD, *Vs = Ks + ST * LD, *Ps = Vs + ST * DP;

    const int64_t bh = blockIdx.x / ntiles, b = bh / a.H, h = bh % a.H;
    const int64_t i0 = (int64_t)(ntiles - 1 - (int)(blockIdx.x % ntiles)) * ST;
    const int r = threadIdx.x >> 2, c = threadIdx.x & 3;
    const int64_t i = i0 + r;
    const st *q = (const st *)a.q + b * a.Tq * a.qs + h * a.D;
    const st *k = (const st *)a.k + b * a.Tk * a.ks + h * a.D;
    const st *v = (const st *)a.v + b * a.Tk * a.vs + h * a.D;
    load_f32<DT>(Qs, LD, q, a.qs, i0, a.Tq, ST, a.D, DP, a.vq);

    const int64_t ilast = (i0 + ST < a.Tq ? i0 + ST : a.Tq) - 1;
    const int64_t nk = vis(a, ilast), vi = i < a.Tq ? vis(a, i) : 0;
    const float *bias = a.bias && i < a.Tq ? a.bias + (h * a.Tq + i) * a.Tk : NULL;
    float o[DP / 4];
#pragma unroll
    for (int m = 0; m < DP / 4; m++) o[m] = 0.0f;
    float mx = -INFINITY, l = 0.0f;

    for (int64_t j0 = 0; j0 < nk; j0 += ST) {
        __syncthreads();
        load_f32<DT>(Ks, LD, k, a.ks, j0, a.Tk, ST, a.D, DP, a.vk);
        load_f32<DT>(Vs, DP, v, a.vs, j0, a.Tk, ST, a.D, DP, a.vv);
        __syncthreads();
        float s[ST / 4];
#pragma unroll
        for (int m = 0; m < ST / 4; m++) s[m] = 0.0f;
        for (int d = 0; d < a.D; d++) {
            const float qv = Qs[r * LD + d];
#pragma unroll
            for (int m = 0; m < ST / 4; m++) s[m] = fmaf(qv, Ks[(c + 4 * m) * LD + d], s[m]);
        }
        float tmax = -INFINITY;
#pragma unroll
        for (int m = 0; m < ST / 4; m++) {
            const int64_t j = j0 + c + 4 * m;
            s[m] = j < vi ? s[m] * a.scale + (bias ? bias[j] : 0.0f) : -INFINITY;
            tmax = fmaxf(tmax, s[m]);
        }
        tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
        tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 2));
        const float nm = fmaxf(mx, tmax), u = nm == -INFINITY ? 0.0f : nm;
        const float alpha = expf(mx - u);
        mx = nm;
        float sum = 0.0f;
#pragma unroll
        for (int m = 0; m < ST / 4; m++) {
            const float p = expf(s[m] - u);
            Ps[r * (ST + 1) + c + 4 * m] = p;
            sum += p;
        }
        l = l * alpha + sum;
        __syncwarp(); /* row r of Ps is written and read by the same 4 lanes */
#pragma unroll
        for (int m = 0; m < DP / 4; m++) o[m] *= alpha;
        const int nj = nk - j0 < ST ? (int)(nk - j0) : ST;
        for (int jj = 0; jj < nj; jj++) {
            const float p = Ps[r * (ST + 1) + jj];
#pragma unroll
            for (int m = 0; m < DP / 4; m++) o[m] = fmaf(p, Vs[jj * DP + c + 4 * m], o[m]);
        }
    }
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    if (i >= a.Tq) return;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    st *orow = (st *)a.out + (b * a.Tq + i) * a.os + h * a.D;
#pragma unroll
    for (int m = 0; m < DP / 4; m++)
        if (c + 4 * m < a.D) orow[c + 4 * m] = elem<DT>::from_f(o[m] * inv);
    if (c == 0) a.lse[(b * a.H + h) * a.Tq + i] = l > 0.0f ? mx + logf(l) : -INFINITY;
}

/* --- backward: delta, and the CUDA-core kernels --- */

/* delta[row] = sum_d dO[row, d] O[row, d], one warp per (b, h, i) row; the
 * lanes add in a fixed tree. */
template <int DT> __global__ void k_delta(fa_args a)
{
    typedef typename elem<DT>::st st;
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (row >= a.B * a.H * a.Tq) return;
    const int64_t i = row % a.Tq, h = row / a.Tq % a.H, b = row / (a.Tq * a.H);
    const st *o = (const st *)a.out + (b * a.Tq + i) * a.os + h * a.D;
    const st *g = (const st *)a.dout + (b * a.Tq + i) * a.os + h * a.D;
    float s = 0.0f;
    for (int d = lane; d < a.D; d += 32) s = fmaf(elem<DT>::to_f(g[d]), elem<DT>::to_f(o[d]), s);
#pragma unroll
    for (int w = 16; w > 0; w >>= 1) s += __shfl_xor_sync(0xffffffffu, s, w);
    if (lane == 0) a.delta[row] = s;
}

__host__ __device__ constexpr size_t bwd_smem(int DP)
{
    return ((size_t)4 * ST * (DP + 1) + (size_t)2 * ST * (ST + 1) + 2 * ST) * sizeof(float);
}

/* Shared memory of the backward kernels: Q and dO tiles (query rows), K and
 * V tiles (key rows), P and dS (32 x 33), lse and delta of the query rows. */
template <int DP> struct bwd_tiles {
    float *Qs, *dOs, *Ks, *Vs, *Ps, *dSs, *lse, *dl;
    __device__ explicit bwd_tiles(float *sm)
    {
        const int LD = DP + 1;
        Qs = sm;
        dOs = Qs + ST * LD;
        Ks = dOs + ST * LD;
        Vs = Ks + ST * LD;
        Ps = Vs + ST * LD;
        dSs = Ps + ST * (ST + 1);
        lse = dSs + ST * (ST + 1);
        dl = lse + ST;
    }
};

/* Query rows i0.. of (b, h): Q, dO, lse and (with_delta) delta. */
template <int DT, int DP>
__device__ void load_query_side(const fa_args &a, const bwd_tiles<DP> &t, int64_t b, int64_t h,
                                int64_t i0, bool with_delta)
{
    typedef typename elem<DT>::st st;
    load_f32<DT>(t.Qs, DP + 1, (const st *)a.q + b * a.Tq * a.qs + h * a.D, a.qs, i0, a.Tq, ST,
                 a.D, DP, a.vq);
    load_f32<DT>(t.dOs, DP + 1, (const st *)a.dout + b * a.Tq * a.os + h * a.D, a.os, i0, a.Tq,
                 ST, a.D, DP, a.vo);
    if (threadIdx.x < ST) {
        const int64_t i = i0 + threadIdx.x, row = (b * a.H + h) * a.Tq + i;
        t.lse[threadIdx.x] = i < a.Tq ? a.lse[row] : -INFINITY;
        t.dl[threadIdx.x] = with_delta && i < a.Tq ? a.delta[row] : 0.0f;
    }
}

template <int DT, int DP>
__device__ void load_key_side(const fa_args &a, const bwd_tiles<DP> &t, int64_t b, int64_t h,
                              int64_t j0)
{
    typedef typename elem<DT>::st st;
    load_f32<DT>(t.Ks, DP + 1, (const st *)a.k + b * a.Tk * a.ks + h * a.D, a.ks, j0, a.Tk, ST,
                 a.D, DP, a.vk);
    load_f32<DT>(t.Vs, DP + 1, (const st *)a.v + b * a.Tk * a.vs + h * a.D, a.vs, j0, a.Tk, ST,
                 a.D, DP, a.vv);
}

/* For the loaded tiles, thread (r = tid / 8, c = tid % 8) computes, at
 * (query i0 + r, key j0 + c + 8m), P = exp(scale q.k + bias - lse) (0 where
 * masked) and dP = dO.v. The 4 rows (Q, dO) and 8 rows (K, V) a warp reads
 * are DP + 1 floats apart: distinct banks. */
template <int DP>
__device__ void tile_p_dp(const fa_args &a, const bwd_tiles<DP> &t, int64_t h, int64_t i0,
                          int64_t j0, float p[4], float dp[4])
{
    const int LD = DP + 1, r = threadIdx.x >> 3, c = threadIdx.x & 7;
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int m = 0; m < 4; m++) dp[m] = 0.0f;
    for (int d = 0; d < a.D; d++) {
        const float qv = t.Qs[r * LD + d], gv = t.dOs[r * LD + d];
#pragma unroll
        for (int m = 0; m < 4; m++) {
            s[m] = fmaf(qv, t.Ks[(c + 8 * m) * LD + d], s[m]);
            dp[m] = fmaf(gv, t.Vs[(c + 8 * m) * LD + d], dp[m]);
        }
    }
    const int64_t i = i0 + r, vi = i < a.Tq ? vis(a, i) : 0;
    const float lse = t.lse[r];
    const float *bias = a.bias && i < a.Tq ? a.bias + (h * a.Tq + i) * a.Tk : NULL;
#pragma unroll
    for (int m = 0; m < 4; m++) {
        const int64_t j = j0 + c + 8 * m;
        p[m] = j < vi ? expf(s[m] * a.scale + (bias ? bias[j] : 0.0f) - lse) : 0.0f;
    }
}

/* delta_i = sum_j P_ij dP_ij when out is not given: a block owns 32 query
 * rows and walks the key tiles in order; the 8 lanes of a row add in a fixed
 * tree. */
template <int DT, int DP>
__global__ void __launch_bounds__(BWD_THREADS) k_delta_from_p(fa_args a, int ntiles)
{
    extern __shared__ float smem_b[];
    const bwd_tiles<DP> t(smem_b);
    const int64_t bh = blockIdx.x / ntiles, b = bh / a.H, h = bh % a.H;
    const int64_t i0 = (int64_t)(ntiles - 1 - (int)(blockIdx.x % ntiles)) * ST;
    load_query_side<DT, DP>(a, t, b, h, i0, false);
    const int64_t ilast = (i0 + ST < a.Tq ? i0 + ST : a.Tq) - 1, nk = vis(a, ilast);
    float acc = 0.0f;
    for (int64_t j0 = 0; j0 < nk; j0 += ST) {
        __syncthreads();
        load_key_side<DT, DP>(a, t, b, h, j0);
        __syncthreads();
        float p[4], dp[4];
        tile_p_dp<DP>(a, t, h, i0, j0, p, dp);
#pragma unroll
        for (int m = 0; m < 4; m++) acc = fmaf(p[m], dp[m], acc);
    }
#pragma unroll
    for (int w = 4; w > 0; w >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, w);
    const int64_t i = i0 + (threadIdx.x >> 3);
    if ((threadIdx.x & 7) == 0 && i < a.Tq) a.delta[(b * a.H + h) * a.Tq + i] = acc;
}

/* gradient row += scale * acc, read-add-round in the storage type. */
template <int DT, int DP>
__device__ __forceinline__ void add_row(typename elem<DT>::st *row, const float *acc, float scale,
                                        int c, int D)
{
#pragma unroll
    for (int m = 0; m < DP / 8; m++) {
        const int d = c + 8 * m;
        if (d < D) row[d] = elem<DT>::from_f(elem<DT>::to_f(row[d]) + scale * acc[m]);
    }
}

/* dQ: a block owns 32 query rows; thread (r, c) accumulates dQ[r][c + 8m]. */
template <int DT, int DP>
__global__ void __launch_bounds__(BWD_THREADS) k_bwd_dq(fa_args a, int ntiles)
{
    typedef typename elem<DT>::st st;
    extern __shared__ float smem_b[];
    const bwd_tiles<DP> t(smem_b);
    const int LD = DP + 1, r = threadIdx.x >> 3, c = threadIdx.x & 7;
    const int64_t bh = blockIdx.x / ntiles, b = bh / a.H, h = bh % a.H;
    const int64_t i0 = (int64_t)(ntiles - 1 - (int)(blockIdx.x % ntiles)) * ST;
    load_query_side<DT, DP>(a, t, b, h, i0, true);
    const int64_t ilast = (i0 + ST < a.Tq ? i0 + ST : a.Tq) - 1, nk = vis(a, ilast);
    float acc[DP / 8];
#pragma unroll
    for (int m = 0; m < DP / 8; m++) acc[m] = 0.0f;
    for (int64_t j0 = 0; j0 < nk; j0 += ST) {
        __syncthreads();
        load_key_side<DT, DP>(a, t, b, h, j0);
        __syncthreads();
        float p[4], dp[4];
        tile_p_dp<DP>(a, t, h, i0, j0, p, dp);
#pragma unroll
        for (int m = 0; m < 4; m++) t.dSs[r * (ST + 1) + c + 8 * m] = p[m] * (dp[m] - t.dl[r]);
        __syncthreads();
        const int nj = nk - j0 < ST ? (int)(nk - j0) : ST;
        for (int jj = 0; jj < nj; jj++) {
            const float ds = t.dSs[r * (ST + 1) + jj];
#pragma unroll
            for (int m = 0; m < DP / 8; m++) acc[m] = fmaf(ds, t.Ks[jj * LD + c + 8 * m], acc[m]);
        }
    }
    /* A row that sees no key adds nothing (its stored value is not even
     * rewritten, as on the cpu). */
    const int64_t i = i0 + r;
    if (i < a.Tq && vis(a, i) > 0)
        add_row<DT, DP>((st *)a.dq + (b * a.Tq + i) * a.qs + h * a.D, acc, a.scale, c, a.D);
}

/* dK, dV: a block owns 32 key rows; thread (r, c) accumulates row r's
 * columns c + 8m over every query tile that sees a key of the block. */
template <int DT, int DP>
__global__ void __launch_bounds__(BWD_THREADS) k_bwd_dkv(fa_args a, int ntiles)
{
    typedef typename elem<DT>::st st;
    extern __shared__ float smem_b[];
    const bwd_tiles<DP> t(smem_b);
    const int LD = DP + 1, r = threadIdx.x >> 3, c = threadIdx.x & 7;
    const int64_t bh = blockIdx.x / ntiles, b = bh / a.H, h = bh % a.H;
    /* The first key tiles (most queries when causal) first. */
    const int64_t j0 = (int64_t)(blockIdx.x % ntiles) * ST;
    load_key_side<DT, DP>(a, t, b, h, j0);
    /* Causal: query i sees key j0 when i >= j0 - off. */
    int64_t istart = a.causal ? j0 - a.off : 0;
    istart = istart < 0 ? 0 : istart / ST * ST;
    float dk[DP / 8], dv[DP / 8];
#pragma unroll
    for (int m = 0; m < DP / 8; m++) dk[m] = dv[m] = 0.0f;
    for (int64_t i0 = istart; i0 < a.Tq; i0 += ST) {
        __syncthreads();
        load_query_side<DT, DP>(a, t, b, h, i0, true);
        __syncthreads();
        float p[4], dp[4];
        tile_p_dp<DP>(a, t, h, i0, j0, p, dp);
#pragma unroll
        for (int m = 0; m < 4; m++) {
            t.Ps[r * (ST + 1) + c + 8 * m] = p[m];
            t.dSs[r * (ST + 1) + c + 8 * m] = p[m] * (dp[m] - t.dl[r]);
        }
        __syncthreads();
        const int ni = a.Tq - i0 < ST ? (int)(a.Tq - i0) : ST;
        for (int ii = 0; ii < ni; ii++) {
            const float pv = t.Ps[ii * (ST + 1) + r], ds = t.dSs[ii * (ST + 1) + r];
#pragma unroll
            for (int m = 0; m < DP / 8; m++) {
                dv[m] = fmaf(pv, t.dOs[ii * LD + c + 8 * m], dv[m]);
                dk[m] = fmaf(ds, t.Qs[ii * LD + c + 8 * m], dk[m]);
            }
        }
    }
    /* Keys past the last one the last query sees get nothing. */
    const int64_t j = j0 + r;
    if (j >= vis(a, a.Tq - 1)) return;
    if (a.dk) add_row<DT, DP>((st *)a.dk + (b * a.Tk + j) * a.ks + h * a.D, dk, a.scale, c, a.D);
    if (a.dv) add_row<DT, DP>((st *)a.dv + (b * a.Tk + j) * a.vs + h * a.D, dv, 1.0f, c, a.D);
}

/* dbias[h, i, j] += sum over b (in order) of dS: a block owns one 32 x 32
 * (query, key) tile of one head. */
template <int DT, int DP>
__global__ void __launch_bounds__(BWD_THREADS) k_bwd_dbias(fa_args a, int nqt, int nkt)
{
    extern __shared__ float smem_b[];
    const bwd_tiles<DP> t(smem_b);
    const int r = threadIdx.x >> 3, c = threadIdx.x & 7;
    const int64_t h = blockIdx.x / ((int64_t)nqt * nkt);
    const int64_t i0 = (int64_t)(blockIdx.x / nkt % nqt) * ST;
    const int64_t j0 = (int64_t)(blockIdx.x % nkt) * ST;
    const int64_t ilast = (i0 + ST < a.Tq ? i0 + ST : a.Tq) - 1;
    if (j0 >= vis(a, ilast)) return; /* fully masked (uniform over the block) */
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < a.B; b++) {
        __syncthreads();
        load_query_side<DT, DP>(a, t, b, h, i0, true);
        load_key_side<DT, DP>(a, t, b, h, j0);
        __syncthreads();
        float p[4], dp[4];
        tile_p_dp<DP>(a, t, h, i0, j0, p, dp);
#pragma unroll
        for (int m = 0; m < 4; m++) acc[m] += p[m] * (dp[m] - t.dl[r]);
    }
    const int64_t i = i0 + r;
    if (i >= a.Tq) return;
    const int64_t vi = vis(a, i);
    float *row = a.dbias + (h * a.Tq + i) * a.Tk;
#pragma unroll
    for (int m = 0; m < 4; m++) {
        const int64_t j = j0 + c + 8 * m;
        if (j < vi) row[j] += acc[m];
    }
}

/* --- tensor-core backward (bf16, f16; head_dim <= 128) ---
 *
 * The forward's fragment scheme (mma_xyT, mma_pv): 4 warps, each owning 16
 * rows of the block's 64; the other side is streamed in tiles of 32 rows.
 * P and dS are rounded to the input type for the products that use them
 * (as the forward does with P); scores, P, dS and every accumulator are
 * fp32. Shared rows are DP + 8 (row-major) or 32 + 8 (transposed) 16-bit
 * values long: 4 and 20 (mod 32) words, conflict-free fragment loads. */

#define BWD_MMA_ROWS 64 /* rows a block owns */
#define BWD_MMA_TILE 32 /* rows of a streamed tile */

__host__ __device__ constexpr size_t bwd_mma_smem(int DP)
{
    return ((size_t)2 * BWD_MMA_ROWS * (DP + 8) + (size_t)2 * BWD_MMA_TILE * (DP + 8) +
            (size_t)2 * DP * (BWD_MMA_TILE + 8)) * 2 +
           (size_t)2 * BWD_MMA_TILE * sizeof(float);
}

/* dK, dV for 64 key rows of one (batch, head). Warp w owns keys 16w..16w+15
 * and computes, per tile of 32 queries, S^T = K Q^T and dP^T = V dO^T (rows:
 * its keys; columns: the queries), P^T = exp(scale S^T + bias - lse),
 * dS^T = P^T (dP^T - delta), then dV += P^T dO and dK += dS^T Q with dO and
 * Q transposed in shared memory. Every query tile that sees a key of the
 * block is visited in order. */
template <int DT, int DP>
__global__ void __launch_bounds__(MMA_THREADS) k_bwd_dkv_mma(fa_args a, int ntiles)
{
    extern __shared__ uint4 smem_bm[];
    const int LD = DP + 8, LT = BWD_MMA_TILE + 8;
    uint16_t *Ks = (uint16_t *)smem_bm, *Vs = Ks + BWD_MMA_ROWS * LD;
    uint16_t *Qs = Vs + BWD_MMA_ROWS * LD, *dOs = Qs + BWD_MMA_TILE * LD;
    uint16_t *Qt = dOs + BWD_MMA_TILE * LD, *dOt = Qt + DP * LT;
    float *lse_s = (float *)(dOt + DP * LT), *dl_s = lse_s + BWD_MMA_TILE;

    const int64_t bh = blockIdx.x / ntiles, b = bh / a.H, h = bh % a.H;
    const int64_t j0 = (int64_t)(blockIdx.x % ntiles) * BWD_MMA_ROWS;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const uint16_t *q = (const uint16_t *)a.q + b * a.Tq * a.qs + h * a.D;
    const uint16_t *go = (const uint16_t *)a.dout + b * a.Tq * a.os + h * a.D;
    load_16(Ks, LD, (const uint16_t *)a.k + b * a.Tk * a.ks + h * a.D, a.ks, j0, a.Tk,
            BWD_MMA_ROWS, a.D, DP, a.vk);
    load_16(Vs, LD, (const uint16_t *)a.v + b * a.Tk * a.vs + h * a.D, a.vs, j0, a.Tk,
            BWD_MMA_ROWS, a.D, DP, a.vv);

    const int64_t jA = j0 + warp * 16 + g, jB = jA + 8;
    int64_t istart = a.causal ? j0 - a.off : 0; /* query i sees key j0 when i >= j0 - off */
    istart = istart < 0 ? 0 : istart / BWD_MMA_TILE * BWD_MMA_TILE;
    float dk[DP / 8][4], dv[DP / 8][4];
#pragma unroll
    for (int n = 0; n < DP / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) dk[n][e] = dv[n][e] = 0.0f;

    for (int64_t i0 = istart; i0 < a.Tq; i0 += BWD_MMA_TILE) {
        __syncthreads(); /* the previous query tile is no longer read */
        load_16(Qs, LD, q, a.qs, i0, a.Tq, BWD_MMA_TILE, a.D, DP, a.vq);
        load_16(dOs, LD, go, a.os, i0, a.Tq, BWD_MMA_TILE, a.D, DP, a.vo);
        load_16_t(Qt, LT, q, a.qs, i0, a.Tq, BWD_MMA_TILE, a.D, DP, a.vq);
        load_16_t(dOt, LT, go, a.os, i0, a.Tq, BWD_MMA_TILE, a.D, DP, a.vo);
        if (threadIdx.x < BWD_MMA_TILE) {
            const int64_t i = i0 + threadIdx.x, row = (b * a.H + h) * a.Tq + i;
            lse_s[threadIdx.x] = i < a.Tq ? a.lse[row] : -INFINITY;
            dl_s[threadIdx.x] = i < a.Tq ? a.delta[row] : 0.0f;
        }
        __syncthreads();

        float s[BWD_MMA_TILE / 8][4], dp[BWD_MMA_TILE / 8][4];
#pragma unroll
        for (int n = 0; n < BWD_MMA_TILE / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) s[n][e] = dp[n][e] = 0.0f;
        mma_xyT<DT, BWD_MMA_TILE / 8, DP>(s, Ks + warp * 16 * LD, LD, Qs, LD, a.D);
        mma_xyT<DT, BWD_MMA_TILE / 8, DP>(dp, Vs + warp * 16 * LD, LD, dOs, LD, a.D);
#pragma unroll
        for (int n = 0; n < BWD_MMA_TILE / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int il = n * 8 + 2 * t + (e & 1); /* query within the tile */
                const int64_t i = i0 + il, j = e < 2 ? jA : jB;
                float p = 0.0f;
                if (i < a.Tq && j < vis(a, i)) {
                    const float bi = a.bias ? a.bias[(h * a.Tq + i) * a.Tk + j] : 0.0f;
                    p = expf(s[n][e] * a.scale + bi - lse_s[il]);
                }
                s[n][e] = p;
                dp[n][e] = p * (dp[n][e] - dl_s[il]);
            }
        mma_pv<DT, BWD_MMA_TILE / 8, DP>(dv, s, dOt, LT, a.D);  /* dV += P^T dO */
        mma_pv<DT, BWD_MMA_TILE / 8, DP>(dk, dp, Qt, LT, a.D);  /* dK += dS^T Q */
    }

    /* Keys past the last one the last query sees get nothing. */
    const int64_t kseen = vis(a, a.Tq - 1);
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const int64_t j = half ? jB : jA;
        if (j >= kseen) continue;
        if (a.dk)
            store_acc_row<DT, DP>((uint16_t *)a.dk + (b * a.Tk + j) * a.ks + h * a.D, dk, half,
                                  a.scale, a.D, 1);
        if (a.dv)
            store_acc_row<DT, DP>((uint16_t *)a.dv + (b * a.Tk + j) * a.vs + h * a.D, dv, half,
                                  1.0f, a.D, 1);
    }
}

/* dQ for 64 query rows of one (batch, head). Warp w owns rows 16w..16w+15;
 * per tile of 32 keys: S = Q K^T, dP = dO V^T, P = exp(scale S + bias -
 * lse), dS = P (dP - delta), dQ += dS K (K transposed in shared memory).
 * Key tiles past the last key the block sees are skipped. */
template <int DT, int DP>
__global__ void __launch_bounds__(MMA_THREADS) k_bwd_dq_mma(fa_args a, int ntiles)
{
    extern __shared__ uint4 smem_bm[];
    const int LD = DP + 8, LT = BWD_MMA_TILE + 8;
    uint16_t *Qs = (uint16_t *)smem_bm, *dOs = Qs + BWD_MMA_ROWS * LD;
    uint16_t *Ks = dOs + BWD_MMA_ROWS * LD, *Vs = Ks + BWD_MMA_TILE * LD;
    uint16_t *Kt = Vs + BWD_MMA_TILE * LD;

    const int64_t bh = blockIdx.x / ntiles, b = bh / a.H, h = bh % a.H;
    const int64_t i0 = (int64_t)(ntiles - 1 - (int)(blockIdx.x % ntiles)) * BWD_MMA_ROWS;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const uint16_t *k = (const uint16_t *)a.k + b * a.Tk * a.ks + h * a.D;
    const uint16_t *v = (const uint16_t *)a.v + b * a.Tk * a.vs + h * a.D;
    load_16(Qs, LD, (const uint16_t *)a.q + b * a.Tq * a.qs + h * a.D, a.qs, i0, a.Tq,
            BWD_MMA_ROWS, a.D, DP, a.vq);
    load_16(dOs, LD, (const uint16_t *)a.dout + b * a.Tq * a.os + h * a.D, a.os, i0, a.Tq,
            BWD_MMA_ROWS, a.D, DP, a.vo);

    const int64_t rA = i0 + warp * 16 + g, rB = rA + 8;
    const int64_t visA = rA < a.Tq ? vis(a, rA) : 0, visB = rB < a.Tq ? vis(a, rB) : 0;
    const int64_t rowA = (b * a.H + h) * a.Tq + rA, rowB = rowA + 8;
    const float lseA = visA ? a.lse[rowA] : 0.0f, lseB = visB ? a.lse[rowB] : 0.0f;
    const float dlA = visA ? a.delta[rowA] : 0.0f, dlB = visB ? a.delta[rowB] : 0.0f;
    const float *biasA = a.bias && visA ? a.bias + (h * a.Tq + rA) * a.Tk : NULL;
    const float *biasB = a.bias && visB ? a.bias + (h * a.Tq + rB) * a.Tk : NULL;
    const int64_t ilast = (i0 + BWD_MMA_ROWS < a.Tq ? i0 + BWD_MMA_ROWS : a.Tq) - 1;
    const int64_t nk = vis(a, ilast);
    float dq[DP / 8][4];
#pragma unroll
    for (int n = 0; n < DP / 8; n++) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.0f;

    for (int64_t j0 = 0; j0 < nk; j0 += BWD_MMA_TILE) {
        __syncthreads();
        load_16(Ks, LD, k, a.ks, j0, a.Tk, BWD_MMA_TILE, a.D, DP, a.vk);
        load_16(Vs, LD, v, a.vs, j0, a.Tk, BWD_MMA_TILE, a.D, DP, a.vv);
        load_16_t(Kt, LT, k, a.ks, j0, a.Tk, BWD_MMA_TILE, a.D, DP, a.vk);
        __syncthreads();
        float s[BWD_MMA_TILE / 8][4], dp[BWD_MMA_TILE / 8][4];
#pragma unroll
        for (int n = 0; n < BWD_MMA_TILE / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) s[n][e] = dp[n][e] = 0.0f;
        mma_xyT<DT, BWD_MMA_TILE / 8, DP>(s, Qs + warp * 16 * LD, LD, Ks, LD, a.D);
        mma_xyT<DT, BWD_MMA_TILE / 8, DP>(dp, dOs + warp * 16 * LD, LD, Vs, LD, a.D);
#pragma unroll
        for (int n = 0; n < BWD_MMA_TILE / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int64_t j = j0 + n * 8 + 2 * t + (e & 1);
                const bool isA = e < 2;
                float p = 0.0f;
                if (j < (isA ? visA : visB)) {
                    const float *bi = isA ? biasA : biasB;
                    p = expf(s[n][e] * a.scale + (bi ? bi[j] : 0.0f) - (isA ? lseA : lseB));
                }
                dp[n][e] = p * (dp[n][e] - (isA ? dlA : dlB));
            }
        mma_pv<DT, BWD_MMA_TILE / 8, DP>(dq, dp, Kt, LT, a.D); /* dQ += dS K */
    }
#pragma unroll
    for (int half = 0; half < 2; half++) {
        if (!(half ? visB : visA)) continue; /* outside q_len, or sees no key */
        const int64_t r = half ? rB : rA;
        store_acc_row<DT, DP>((uint16_t *)a.dq + (b * a.Tq + r) * a.qs + h * a.D, dq, half,
                              a.scale, a.D, 1);
    }
}

/* --- launchers --- */

inline int div_up(int64_t n, int d) { return (int)((n + d - 1) / d); }

/* Raises the kernel's dynamic shared memory limit when it needs more than
 * the default 48 KiB. */
template <typename K> int prepare(K kernel, size_t smem)
{
    if (smem <= 48 * 1024) return 0;
    return (int)cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     (int)smem);
}

template <int DT, int DP, int BK> int fwd_mma(const fa_args &a, cudaStream_t s)
{
    const int nt = div_up(a.Tq, MMA_BQ);
    const size_t smem = mma_smem(DP, BK);
    int err = prepare(k_fwd_mma<DT, DP, BK>, smem);
    if (err) return err;
    k_fwd_mma<DT, DP, BK><<<(unsigned)(a.B * a.H * nt), MMA_THREADS, smem, s>>>(a, nt);
    return (int)cudaGetLastError();
}

template <int DT> int fwd_mma_dispatch(const fa_args &a, cudaStream_t s)
{
    /* BK 64 keeps the S accumulators (32 registers) beside O (DP / 2); at
     * DP > 128, O alone takes up to 128 registers and BK drops to 32. */
    if (a.D <= 64) return fwd_mma<DT, 64, 64>(a, s);
    if (a.D <= 128) return fwd_mma<DT, 128, 64>(a, s);
    if (a.D <= 192) return fwd_mma<DT, 192, 32>(a, s);
    return fwd_mma<DT, 256, 32>(a, s);
}

template <int DP> int fwd_simt(const fa_args &a, cudaStream_t s)
{
    const int nt = div_up(a.Tq, ST);
    const size_t smem = simt_fwd_smem(DP);
    int err = prepare(k_fwd_simt<CUK_FLASH_F32, DP>, smem);
    if (err) return err;
    k_fwd_simt<CUK_FLASH_F32, DP><<<(unsigned)(a.B * a.H * nt), FWD_THREADS, smem, s>>>(a, nt);
    return (int)cudaGetLastError();
}

/* delta (always) and dbias (when asked), the kernels every backward runs. */
template <int DT, int DP> int bwd_delta_dbias(const fa_args &a, cudaStream_t s)
{
    const size_t smem = bwd_smem(DP);
    const int nqt = div_up(a.Tq, ST), nkt = div_up(a.Tk, ST);
    int err;
    if (a.out) {
        const int64_t rows = a.B * a.H * a.Tq;
        k_delta<DT><<<(unsigned)((rows + 7) / 8), 256, 0, s>>>(a);
    } else {
        if ((err = prepare(k_delta_from_p<DT, DP>, smem))) return err;
        k_delta_from_p<DT, DP><<<(unsigned)(a.B * a.H) * nqt, BWD_THREADS, smem, s>>>(a, nqt);
    }
    if ((err = (int)cudaGetLastError())) return err;
    if (a.dbias) {
        if ((err = prepare(k_bwd_dbias<DT, DP>, smem))) return err;
        k_bwd_dbias<DT, DP><<<(unsigned)(a.H * nqt * nkt), BWD_THREADS, smem, s>>>(a, nqt, nkt);
        if ((err = (int)cudaGetLastError())) return err;
    }
    return 0;
}

/* dq and dk/dv on CUDA cores (fp32, and 16-bit heads wider than 128). */
template <int DT, int DP> int bwd_simt(const fa_args &a, cudaStream_t s)
{
    const size_t smem = bwd_smem(DP);
    const int nqt = div_up(a.Tq, ST), nkt = div_up(a.Tk, ST);
    const unsigned bh = (unsigned)(a.B * a.H);
    int err = bwd_delta_dbias<DT, DP>(a, s);
    if (err) return err;
    if (a.dq) {
        if ((err = prepare(k_bwd_dq<DT, DP>, smem))) return err;
        k_bwd_dq<DT, DP><<<bh * nqt, BWD_THREADS, smem, s>>>(a, nqt);
        if ((err = (int)cudaGetLastError())) return err;
    }
    if (a.dk || a.dv) {
        if ((err = prepare(k_bwd_dkv<DT, DP>, smem))) return err;
        k_bwd_dkv<DT, DP><<<bh * nkt, BWD_THREADS, smem, s>>>(a, nkt);
        if ((err = (int)cudaGetLastError())) return err;
    }
    return 0;
}

/* dq and dk/dv on tensor cores (bf16, f16 with head_dim <= DP <= 128). */
template <int DT, int DP> int bwd_mma(const fa_args &a, cudaStream_t s)
{
    const size_t smem = bwd_mma_smem(DP);
    const int nrt = div_up(a.Tq, BWD_MMA_ROWS), nkt = div_up(a.Tk, BWD_MMA_ROWS);
    const unsigned bh = (unsigned)(a.B * a.H);
    int err = bwd_delta_dbias<DT, DP>(a, s);
    if (err) return err;
    if (a.dq) {
        if ((err = prepare(k_bwd_dq_mma<DT, DP>, smem))) return err;
        k_bwd_dq_mma<DT, DP><<<bh * nrt, MMA_THREADS, smem, s>>>(a, nrt);
        if ((err = (int)cudaGetLastError())) return err;
    }
    if (a.dk || a.dv) {
        if ((err = prepare(k_bwd_dkv_mma<DT, DP>, smem))) return err;
        k_bwd_dkv_mma<DT, DP><<<bh * nkt, MMA_THREADS, smem, s>>>(a, nkt);
        if ((err = (int)cudaGetLastError())) return err;
    }
    return 0;
}

template <int DT> int bwd_dispatch(const fa_args &a, cudaStream_t s)
{
    if constexpr (DT != CUK_FLASH_F32) {
        if (a.D <= 64) return bwd_mma<DT, 64>(a, s);
        if (a.D <= 128) return bwd_mma<DT, 128>(a, s);
        return bwd_simt<DT, 256>(a, s);
    } else {
        if (a.D <= 64) return bwd_simt<DT, 64>(a, s);
        if (a.D <= 128) return bwd_simt<DT, 128>(a, s);
        return bwd_simt<DT, 256>(a, s);
    }
}

/* 1 when every row of a tensor may be read with 16-byte vectors: the base
 * pointer, the row stride and head_dim are all multiples of 16 bytes. */
int vec_ok(const void *p, int64_t stride, int64_t D, size_t esize)
{
    return p && (uintptr_t)p % 16 == 0 && (stride * (int64_t)esize) % 16 == 0 &&
           (D * (int64_t)esize) % 16 == 0;
}

fa_args make_args(const cuk_flash *p)
{
    const size_t es = p->dtype == CUK_FLASH_F32 ? 4 : 2;
    fa_args a;
    a.B = p->batch;
    a.H = p->heads;
    a.Tq = p->q_len;
    a.Tk = p->kv_len;
    a.off = p->kv_len - p->q_len;
    a.D = (int)p->head_dim;
    a.causal = p->causal != 0;
    a.scale = p->scale;
    a.q = p->q;
    a.k = p->k;
    a.v = p->v;
    a.dout = p->dout;
    a.out = p->out;
    a.bias = p->bias;
    a.lse = p->lse;
    a.dq = p->dq;
    a.dk = p->dk;
    a.dv = p->dv;
    a.dbias = p->dbias;
    a.delta = p->delta;
    a.qs = p->q_row_stride;
    a.ks = p->k_row_stride;
    a.vs = p->v_row_stride;
    a.os = p->out_row_stride;
    a.vq = vec_ok(p->q, a.qs, a.D, es);
    a.vk = vec_ok(p->k, a.ks, a.D, es);
    a.vv = vec_ok(p->v, a.vs, a.D, es);
    /* out (forward writes, backward delta) and dout share out_row_stride;
     * the backward reads dout with this flag. */
    a.vo = vec_ok(p->dout ? p->dout : p->out, a.os, a.D, es) &&
           (!p->dout || !p->out || vec_ok(p->out, a.os, a.D, es));
    return a;
}

} /* namespace */

extern "C" int cuk_flash_forward(cuda_stream_t s, const cuk_flash *p)
{
    fa_args a = make_args(p);
    if (a.B * a.H * a.Tq == 0) return 0;
    switch (p->dtype) {
    case CUK_FLASH_BF16: return fwd_mma_dispatch<CUK_FLASH_BF16>(a, s);
    case CUK_FLASH_F16: return fwd_mma_dispatch<CUK_FLASH_F16>(a, s);
    default:
        if (a.D <= 64) return fwd_simt<64>(a, s);
        if (a.D <= 128) return fwd_simt<128>(a, s);
        return fwd_simt<256>(a, s);
    }
}

extern "C" int cuk_flash_backward(cuda_stream_t s, const cuk_flash *p)
{
    fa_args a = make_args(p);
    if (a.B * a.H * a.Tq == 0 || a.Tk == 0) return 0;
    if (!a.dq && !a.dk && !a.dv && !a.dbias) return 0;
    switch (p->dtype) {
    case CUK_FLASH_BF16: return bwd_dispatch<CUK_FLASH_BF16>(a, s);
    case CUK_FLASH_F16: return bwd_dispatch<CUK_FLASH_F16>(a, s);
    default: return bwd_dispatch<CUK_FLASH_F32>(a, s);
    }
}
