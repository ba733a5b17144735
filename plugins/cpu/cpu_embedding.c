/* cpu_embedding.c — embedding lookup and its gradient.
 *
 * forward: out[i, :] (+)= table[ids[i], :], rows split over the threads.
 * backward: dtable[ids[i], :] += dout[i, :]. Rows may share an id, so rows
 * cannot be split without atomics; instead each thread owns a range of the
 * dim columns and walks all rows in order. Every element of dtable then sees
 * its additions in row order whatever the thread count (rule 9).
 *
 * f16/bf16 (out, table, dout, dtable): forward widens the table row (and out
 * when accumulating) into a stack block, adds, rounds back. Backward stages
 * only the table rows that ids touch: each distinct id gets a slot in a
 * compact fp32 table, widened from dtable; the fp32 backward runs on the
 * slots (same additions, same order) and the slots are rounded back. Rows no
 * id names are not rewritten.
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
    int rc = cpu_require_float(c, kernel, dtype);
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

#define EMB_BLOCK 512

static int forward16(cpu_ctx *c, void *out, const int32_t *ids, const void *table, int64_t rows,
                     int64_t dim, llmrt_dtype t, int accumulate)
{
    const size_t es = llmrt_dtype_size(t);
    int par = c->threads > 1 && (double)rows * (double)dim >= 2.0 * CPU_PAR_MIN;
#pragma omp parallel for num_threads(c->threads) schedule(static) if (par)
    for (int64_t i = 0; i < rows; i++) {
        const char *src = (const char *)table + (size_t)ids[i] * (size_t)dim * es;
        char *dst = (char *)out + (size_t)i * (size_t)dim * es;
        float o32[EMB_BLOCK], t32[EMB_BLOCK];
        for (int64_t j = 0; j < dim; j += EMB_BLOCK) {
            size_t w = (size_t)(dim - j < EMB_BLOCK ? dim - j : EMB_BLOCK);
            cpu_load_f32(t32, src + (size_t)j * es, t, w);
            if (accumulate) {
                cpu_load_f32(o32, dst + (size_t)j * es, t, w);
                row_add(o32, t32, (int64_t)w);
                cpu_store_f32(dst + (size_t)j * es, t, o32, w);
            } else {
                cpu_store_f32(dst + (size_t)j * es, t, t32, w);
            }
        }
    }
    return LLMRT_OK;
}

static int backward16(cpu_ctx *c, void *dtable, const int32_t *ids, const void *dout,
                      int64_t rows, int64_t dim, llmrt_dtype t)
{
    if (rows == 0 || dim == 0) return LLMRT_OK;
    const size_t es = llmrt_dtype_size(t), n = (size_t)rows * (size_t)dim;
    int32_t max_id = 0;
    for (int64_t i = 0; i < rows; i++) max_id = ids[i] > max_id ? ids[i] : max_id;
    /* slot_of[id]: the id's row in the compact table, -1 until seen. */
    size_t bytes_map = cpu_round64(((size_t)max_id + 1) * sizeof(int32_t));
    size_t bytes_slot_ids = cpu_round64((size_t)rows * sizeof(int32_t));
    size_t bytes_first = bytes_slot_ids; /* the id of each slot */
    size_t bytes_dy = cpu_stage_floats(n);
    char *stage = cpu_stage(c, bytes_map + bytes_slot_ids + bytes_first + bytes_dy +
                                   cpu_stage_floats(n));
    if (!stage) return LLMRT_ERR_NOMEM;
    int32_t *slot_of = (int32_t *)stage;
    int32_t *slot_ids = (int32_t *)(stage + bytes_map);
    int32_t *id_of_slot = (int32_t *)(stage + bytes_map + bytes_slot_ids);
    float *dy32 = (float *)(stage + bytes_map + bytes_slot_ids + bytes_first);
    float *slots = (float *)(stage + bytes_map + bytes_slot_ids + bytes_first + bytes_dy);
    for (int32_t id = 0; id <= max_id; id++) slot_of[id] = -1;
    int32_t used = 0;
    for (int64_t i = 0; i < rows; i++) {
        if (slot_of[ids[i]] < 0) {
            id_of_slot[used] = ids[i];
            slot_of[ids[i]] = used++;
        }
        slot_ids[i] = slot_of[ids[i]];
    }
    cpu_load_f32_par(c, dy32, dout, t, n);
    int par = c->threads > 1 && (double)used * (double)dim >= 2.0 * CPU_PAR_MIN;
#pragma omp parallel for num_threads(c->threads) schedule(static) if (par)
    for (int32_t s = 0; s < used; s++)
        cpu_load_f32(slots + (size_t)s * (size_t)dim,
                     (const char *)dtable + (size_t)id_of_slot[s] * (size_t)dim * es, t,
                     (size_t)dim);
    int rc = cpu_embedding_backward(c, slots, slot_ids, dy32, rows, dim, LLMRT_DTYPE_F32);
    if (rc) return rc;
#pragma omp parallel for num_threads(c->threads) schedule(static) if (par)
    for (int32_t s = 0; s < used; s++)
        cpu_store_f32((char *)dtable + (size_t)id_of_slot[s] * (size_t)dim * es, t,
                      slots + (size_t)s * (size_t)dim, (size_t)dim);
    return LLMRT_OK;
}

int cpu_embedding_forward(void *ctx, void *out, const int32_t *ids, const void *table,
                          int64_t rows, int64_t dim, llmrt_dtype dtype, int accumulate)
{
    cpu_ctx *c = ctx;
    int rc = check(c, "embedding_forward", ids, rows, dim, dtype);
    if (rc) return rc;
    if (dtype != LLMRT_DTYPE_F32)
        return forward16(c, out, ids, table, rows, dim, dtype, accumulate);
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
    if (dtype != LLMRT_DTYPE_F32) return backward16(c, dtable, ids, dout, rows, dim, dtype);
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
