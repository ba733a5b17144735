/* cuda_embedding.cu — embedding lookup and its gradient; f32, f16, bf16.
 *
 * forward: out[i, :] (+)= table[ids[i], :], a grid-stride loop over the
 * rows x dim elements, 16 bytes per load/store when dim fills whole 16-byte
 * packs and both pointers are 16-byte aligned.
 *
 * backward, dtable[ids[i], :] += dout[i, :] without atomics (rule 9):
 *  1. a stable radix sort of the pairs (id, i) with cub::DeviceRadixSort
 *     (LSD radix sort: deterministic, and equal ids keep increasing i);
 *  2. one block per sorted position (a thread per 16-byte pack or element
 *     of the row, whole warps, at most EMB_TPB_MAX); the block at the first
 *     position of a run of equal ids (the others return at once) owns that
 *     table row: per column it widens dtable[id, j] into an fp32
 *     accumulator, adds dout[i, j] for the run's i in increasing order, and
 *     rounds the sum back once. These are the additions of cpu_embedding.c in the same order, so
 *     the result is the cpu's bit for bit, and each run's row is written by
 *     one block only. Rows that no id names are not touched.
 * Cost: the sort (O(rows), a few passes over 8 bytes per row) plus one read
 * of dout and one read-modify-write of each touched table row, where the old
 * column-per-thread loop had every thread walk all rows.
 * Scratch (cuk_embedding_backward_scratch): the positions, the sorted pairs
 * and cub's temporary storage; the caller keeps it per context.
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include <cub/device/device_radix_sort.cuh>

#include "cuda_device.cuh"

#define EMB_TPB_MAX 256

template <typename T>
__global__ void k_embedding_forward(T *out, const int32_t *ids, const T *table, int64_t rows,
                                    int64_t dim, int accumulate, int vec)
{
    typedef pack16<T> P;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (vec) {
        const int64_t per_row = dim / P::N, total = rows * per_row;
        for (int64_t e = tid; e < total; e += stride) {
            const int64_t i = e / per_row, q = e % per_row;
            P t = reinterpret_cast<const P *>(table + (int64_t)ids[i] * dim)[q];
            P *o = reinterpret_cast<P *>(out + i * dim) + q;
            P r = accumulate ? *o : t;
#pragma unroll
            for (int k = 0; k < P::N; k++)
                r.v[k] = narrow<T>(accumulate ? widen(r.v[k]) + widen(t.v[k]) : widen(t.v[k]));
            *o = r;
        }
        return;
    }
    const int64_t total = rows * dim;
    for (int64_t e = tid; e < total; e += stride) {
        const int64_t i = e / dim, j = e % dim;
        float v = widen(table[(int64_t)ids[i] * dim + j]);
        out[e] = narrow<T>(accumulate ? widen(out[e]) + v : v);
    }
}

template <typename T>
static int embedding_forward(cuda_stream_t s, void *out, const int32_t *ids, const void *table,
                             int64_t rows, int64_t dim, int accumulate)
{
    const int vec = dim % pack16<T>::N == 0 && aligned16(out) && aligned16(table);
    const size_t items = (size_t)rows * (size_t)(vec ? dim / pack16<T>::N : dim);
    k_embedding_forward<T><<<grid_for(items, TPB), TPB, 0, s>>>(
        (T *)out, ids, (const T *)table, rows, dim, accumulate, vec);
    return launched();
}

extern "C" int cuk_embedding_forward(cuda_stream_t s, int dt, void *out, const int32_t *ids,
                                     const void *table, int64_t rows, int64_t dim,
                                     int accumulate)
{
    return CUK_BY_DTYPE(dt, embedding_forward, s, out, ids, table, rows, dim, accumulate);
}

/* --- backward --- */

__global__ void k_iota(int32_t *pos, int64_t rows)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < rows;
         i += (int64_t)gridDim.x * blockDim.x)
        pos[i] = (int32_t)i;
}

/* Block b: if sorted position b starts a run of equal ids, add the run's
 * dout rows (in increasing position) into the id's dtable row. */
template <typename T>
__global__ void k_embedding_backward_runs(T *dtable, const uint32_t *keys, const int32_t *pos,
                                          const T *dout, int64_t rows, int64_t dim, int vec)
{
    const int64_t b = blockIdx.x;
    const uint32_t id = keys[b];
    if (b > 0 && keys[b - 1] == id) return;
    int64_t end = b + 1;
    while (end < rows && keys[end] == id) end++;
    T *drow = dtable + (int64_t)id * dim;
    if (vec) {
        typedef pack16<T> P;
        const int64_t packs = dim / P::N;
        for (int64_t q = threadIdx.x; q < packs; q += blockDim.x) {
            P d = reinterpret_cast<const P *>(drow)[q];
            float acc[P::N];
#pragma unroll
            for (int k = 0; k < P::N; k++) acc[k] = widen(d.v[k]);
            for (int64_t p = b; p < end; p++) {
                P g = reinterpret_cast<const P *>(dout + (int64_t)pos[p] * dim)[q];
#pragma unroll
                for (int k = 0; k < P::N; k++) acc[k] += widen(g.v[k]);
            }
#pragma unroll
            for (int k = 0; k < P::N; k++) d.v[k] = narrow<T>(acc[k]);
            reinterpret_cast<P *>(drow)[q] = d;
        }
        return;
    }
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
        float acc = widen(drow[j]);
        for (int64_t p = b; p < end; p++) acc += widen(dout[(int64_t)pos[p] * dim + j]);
        drow[j] = narrow<T>(acc);
    }
}

static size_t round256(size_t n) { return (n + 255) / 256 * 256; }

/* cub's temporary storage for sorting `rows` (key, value) pairs of 32 bits. */
static size_t sort_temp_bytes(int64_t rows)
{
    size_t bytes = 0;
    cub::DeviceRadixSort::SortPairs(NULL, bytes, (const uint32_t *)NULL, (uint32_t *)NULL,
                                    (const int32_t *)NULL, (int32_t *)NULL, (int)rows);
    return bytes;
}

extern "C" size_t cuk_embedding_backward_scratch(int64_t rows)
{
    if (rows <= 0) return 0;
    const size_t v = round256((size_t)rows * sizeof(int32_t));
    return 3 * v + round256(sort_temp_bytes(rows));
}

template <typename T>
static int embedding_backward(cuda_stream_t s, void *dtable, const uint32_t *keys,
                              const int32_t *pos, const void *dout, int64_t rows, int64_t dim)
{
    const int vec = dim % pack16<T>::N == 0 && aligned16(dtable) && aligned16(dout);
    /* One thread per column unit (a pack or an element), whole warps, at
     * most EMB_TPB_MAX (GPT-2's 768 columns: 96 threads in bf16, 192 in f32). */
    const int64_t units = vec ? dim / pack16<T>::N : dim;
    const unsigned tpb =
        units >= EMB_TPB_MAX ? EMB_TPB_MAX : (unsigned)((units + 31) / 32 * 32);
    k_embedding_backward_runs<T><<<(unsigned)rows, tpb, 0, s>>>(
        (T *)dtable, keys, pos, (const T *)dout, rows, dim, vec);
    return launched();
}

extern "C" int cuk_embedding_backward(cuda_stream_t s, int dt, void *dtable, const int32_t *ids,
                                      const void *dout, int64_t rows, int64_t dim, void *scratch,
                                      size_t scratch_bytes)
{
    if (rows == 0 || dim == 0) return 0;
    const size_t v = round256((size_t)rows * sizeof(int32_t));
    if (scratch_bytes < 3 * v) return (int)cudaErrorInvalidValue;
    char *base = (char *)scratch;
    int32_t *pos_in = (int32_t *)base, *pos_sorted = (int32_t *)(base + v);
    uint32_t *keys_sorted = (uint32_t *)(base + 2 * v);
    size_t temp_bytes = scratch_bytes - 3 * v;
    k_iota<<<grid_for((size_t)rows, TPB), TPB, 0, s>>>(pos_in, rows);
    int err = launched();
    if (err) return err;
    /* ids are in [0, table_rows), so their unsigned order is their order. */
    err = (int)cub::DeviceRadixSort::SortPairs(base + 3 * v, temp_bytes, (const uint32_t *)ids,
                                               keys_sorted, pos_in, pos_sorted, (int)rows, 0, 32,
                                               s);
    if (err) return err;
    return CUK_BY_DTYPE(dt, embedding_backward, s, dtable, keys_sorted, pos_sorted, dout, rows,
                        dim);
}
