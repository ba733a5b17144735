/* qat.c — LSQ step-size rules, the int8 export and its reader (qat.h). */
#include "qat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

float llmrt_qat_grad_factor(int64_t n)
{
    return (float)(1.0 / sqrt((double)n * (double)LLMRT_I8_QMAX));
}

float llmrt_qat_init_step(const float *w, int64_t rows, int64_t cols, int64_t col)
{
    double sum = 0.0;
    for (int64_t i = 0; i < rows; i++) sum += fabs((double)w[i * cols + col]);
    double mean = rows > 0 ? sum / (double)rows : 0.0;
    return (float)(2.0 * mean / sqrt((double)LLMRT_I8_QMAX));
}

/* ------------------------------------------------------------------------ */
/* Conversions on the backend                                               */
/* ------------------------------------------------------------------------ */

/* A rows x cols int8 <-> fp32 conversion with per-column scales, on the
 * compute backend: host src -> device -> convert_ex -> host dst. */
static int convert_on_device(llmrt_rt *rt, void *host_dst, llmrt_dtype dst_type,
                             const void *host_src, llmrt_dtype src_type,
                             const float *host_scales, int64_t rows, int64_t cols)
{
    llmrt_backend be = llmrt_rt_backend(rt);
    if (!LLMRT_HAS(be.vt, be.vt->struct_size, convert_ex))
        return llmrt_error(LLMRT_ERR_UNSUPPORTED,
                           "backend %s does not support convert_ex, which int8 export and "
                           "import need",
                           llmrt_rt_component_name(rt, LLMRT_KIND_COMPUTE));
    size_t n = (size_t)rows * (size_t)cols;
    size_t src_bytes = n * llmrt_dtype_size(src_type), dst_bytes = n * llmrt_dtype_size(dst_type);
    size_t scale_bytes = (size_t)cols * sizeof(float);
    void *src = NULL, *dst = NULL, *scales = NULL;
    int rc;
    if ((rc = llmrt_rt_alloc(rt, LLMRT_MEM_OTHER, src_bytes, &src)) ||
        (rc = llmrt_rt_alloc(rt, LLMRT_MEM_OTHER, dst_bytes, &dst)) ||
        (rc = llmrt_rt_alloc(rt, LLMRT_MEM_OTHER, scale_bytes, &scales)) ||
        (rc = llmrt_rt_upload(rt, src, host_src, src_bytes)) ||
        (rc = llmrt_rt_upload(rt, scales, host_scales, scale_bytes)))
        goto out;
    llmrt_convert_desc d = {
        .struct_size = sizeof d,
        .rows = rows, .cols = cols,
        .dst = dst, .dst_type = dst_type,
        .src = src, .src_type = src_type,
        .rounding = LLMRT_ROUND_NEAREST_EVEN,
        .scales = scales,
        .axis = 1,
    };
    if (!(rc = be.vt->convert_ex(be.ctx, &d))) rc = llmrt_rt_download(rt, host_dst, dst, dst_bytes);
out:
    llmrt_rt_free(rt, src);
    llmrt_rt_free(rt, dst);
    llmrt_rt_free(rt, scales);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Export                                                                   */
/* ------------------------------------------------------------------------ */

/* Host buffers the writer borrows until the file is written. */
typedef struct export_buffers {
    void **ptrs;
    size_t n, cap;
} export_buffers;

static void *export_alloc(export_buffers *b, size_t bytes)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        void **p = realloc(b->ptrs, cap * sizeof *p);
        if (!p) return NULL;
        b->ptrs = p;
        b->cap = cap;
    }
    void *x = malloc(bytes ? bytes : 1);
    if (x) b->ptrs[b->n++] = x;
    return x;
}

static void export_free(export_buffers *b)
{
    for (size_t i = 0; i < b->n; i++) free(b->ptrs[i]);
    free(b->ptrs);
}

/* Unit u's fp32 (master) parameters into host memory through the strategy. */
static int unit_params(llmrt_rt *rt, const llmrt_model_layout *layout, size_t u, float *host)
{
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(rt, &sctx);
    size_t begin, end;
    int rc = st->shard_range(sctx, u, &begin, &end);
    if (rc) return rc;
    if (begin != 0 || end != layout->units[u].numel)
        return llmrt_error(LLMRT_ERR_UNSUPPORTED,
                           "int8 export runs on one rank holding whole units; strategy %s "
                           "shards unit %s (consolidate the checkpoint with `llmrt ckpt` first)",
                           llmrt_rt_component_name(rt, LLMRT_KIND_STRATEGY),
                           layout->units[u].name);
    return st->get_state(sctx, u, LLMRT_STATE_PARAMS, host);
}

/* Add tensor t of unit u: I8 q for a quantized weight, the effective step
 * for its scale, F32 for everything else. */
static int export_tensor(llmrt_rt *rt, const llmrt_gpt_config *cfg, const llmrt_unit_desc *unit,
                         size_t u, size_t t, const float *host, llmrt_st_writer *w,
                         export_buffers *bufs)
{
    const llmrt_tensor_desc *td = &unit->tensors[t];
    int64_t dims[2];
    uint64_t shape[2];
    int ndim = llmrt_gpt_tensor_shape(cfg, u, t, dims);
    for (int d = 0; d < ndim; d++) shape[d] = (uint64_t)dims[d];
    const float *x = host + td->offset;

    int scale_index = llmrt_gpt_tensor_scale(cfg, u, t);
    if (scale_index >= 0) {
        const float *scale = host + unit->tensors[scale_index].offset;
        int8_t *q = export_alloc(bufs, td->numel);
        if (!q) return llmrt_error(LLMRT_ERR_NOMEM, "int8 export: out of host memory");
        int rc = convert_on_device(rt, q, LLMRT_DTYPE_I8, x, LLMRT_DTYPE_F32, scale, dims[0],
                                   dims[1]);
        if (rc) return llmrt_error_prefix(rc, "int8 export of %s", td->name);
        return llmrt_st_writer_add(w, td->name, LLMRT_ST_I8, 2, shape, q);
    }
    /* A step size: written as the effective one, so that a reader needs no
     * rule beyond weight = q * scale. */
    int is_scale = 0;
    for (size_t i = 0; i < unit->n_tensors && !is_scale; i++)
        is_scale = llmrt_gpt_tensor_scale(cfg, u, i) == (int)t;
    if (is_scale) {
        float *s = export_alloc(bufs, td->numel * sizeof *s);
        if (!s) return llmrt_error(LLMRT_ERR_NOMEM, "int8 export: out of host memory");
        for (size_t i = 0; i < td->numel; i++) s[i] = llmrt_quant_scale(x[i]);
        return llmrt_st_writer_add(w, td->name, LLMRT_ST_F32, ndim, shape, s);
    }
    return llmrt_st_writer_add(w, td->name, LLMRT_ST_F32, ndim, shape, x);
}

static int export_metadata(llmrt_st_writer *w, const llmrt_gpt_config *cfg)
{
    char v[32];
    int rc;
    const struct { const char *key; int value; } keys[] = {
        {"model.layers", cfg->layers}, {"model.heads", cfg->heads}, {"model.dim", cfg->dim},
        {"model.context", cfg->context}, {"model.vocab", cfg->vocab}};
    if ((rc = llmrt_st_writer_metadata(w, "format", "pt")) ||
        (rc = llmrt_st_writer_metadata(w, LLMRT_QAT_EXPORT_KEY, LLMRT_QAT_EXPORT_VALUE)) ||
        (rc = llmrt_st_writer_metadata(
             w, "llmrt.int8",
             "symmetric, per output channel (axis 1 of [in, out]), q in [-127, 127]: "
             "NAME = q * NAME_scale[column]")))
        return rc;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        snprintf(v, sizeof v, "%d", keys[i].value);
        if ((rc = llmrt_st_writer_metadata(w, keys[i].key, v))) return rc;
    }
    return LLMRT_OK;
}

int llmrt_qat_export(llmrt_rt *rt, const llmrt_gpt *model, const char *path)
{
    const llmrt_gpt_config *cfg = llmrt_gpt_get_config(model);
    if (!cfg->qat)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "int8 export needs a model trained with QAT ([runtime] format = "
                           "int8): this one has no learned step sizes");
    const llmrt_model_layout *layout = llmrt_gpt_layout(model);
    llmrt_st_writer *w = NULL;
    export_buffers bufs = {0};
    int rc = llmrt_st_writer_new(&w);
    if (!rc) rc = export_metadata(w, cfg);
    for (size_t u = 0; u < layout->n_units && !rc; u++) {
        const llmrt_unit_desc *unit = &layout->units[u];
        float *host = export_alloc(&bufs, unit->numel * sizeof *host);
        if (!host) {
            rc = llmrt_error(LLMRT_ERR_NOMEM, "int8 export: out of host memory");
            break;
        }
        if ((rc = unit_params(rt, layout, u, host))) break;
        for (size_t t = 0; t < unit->n_tensors && !rc; t++)
            rc = export_tensor(rt, cfg, unit, u, t, host, w, &bufs);
    }
    if (!rc) rc = llmrt_st_writer_write(w, path);
    llmrt_st_writer_free(w);
    export_free(&bufs);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Import                                                                   */
/* ------------------------------------------------------------------------ */

/* NAME_scale of `name` into buf; 0 when it does not fit. */
static int scale_name(const char *name, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s%s", name, LLMRT_QAT_SCALE_SUFFIX);
    return n > 0 && (size_t)n < cap;
}

int llmrt_qat_read_f32(llmrt_rt *rt, const llmrt_st_file *f, const char *name, float *dst,
                       uint64_t numel)
{
    const llmrt_st_tensor *t = llmrt_st_find(f, name);
    if (!t || t->dtype != LLMRT_ST_I8) return llmrt_st_read_f32(f, name, dst, numel);
    const char *path = llmrt_st_path(f);
    if (t->ndim != 2 || t->numel != numel)
        return llmrt_error(LLMRT_ERR_FORMAT,
                           "%s: int8 tensor %s: expected a matrix of %llu values (an int8 "
                           "export's [in, out] weight)",
                           path, name, (unsigned long long)numel);
    char sname[512];
    const llmrt_st_tensor *s = scale_name(name, sname, sizeof sname) ? llmrt_st_find(f, sname)
                                                                     : NULL;
    if (!s)
        return llmrt_error(LLMRT_ERR_FORMAT, "%s: int8 tensor %s has no %s%s beside it", path,
                           name, name, LLMRT_QAT_SCALE_SUFFIX);
    if (s->dtype != LLMRT_ST_F32 || s->ndim != 1 || s->shape[0] != t->shape[1])
        return llmrt_error(LLMRT_ERR_FORMAT,
                           "%s: %s: expected F32 [%llu] (one step per column of %s)", path,
                           sname, (unsigned long long)t->shape[1], name);
    int64_t rows = (int64_t)t->shape[0], cols = (int64_t)t->shape[1];
    int8_t *q = malloc((size_t)numel ? (size_t)numel : 1);
    float *scales = malloc((size_t)cols * sizeof *scales);
    int rc;
    if (!q || !scales)
        rc = llmrt_error(LLMRT_ERR_NOMEM, "%s: out of host memory for %s", path, name);
    else if (!(rc = llmrt_st_read_raw(f, name, LLMRT_ST_I8, q, (size_t)numel)) &&
             !(rc = llmrt_st_read_raw(f, sname, LLMRT_ST_F32, scales,
                                      (size_t)cols * sizeof *scales)))
        rc = convert_on_device(rt, dst, LLMRT_DTYPE_F32, q, LLMRT_DTYPE_I8, scales, rows, cols);
    free(q);
    free(scales);
    return rc ? llmrt_error_prefix(rc, "%s: dequantizing %s", path, name) : LLMRT_OK;
}

int llmrt_qat_is_export_scale(const llmrt_st_file *f, const char *name)
{
    size_t len = strlen(name), suffix = strlen(LLMRT_QAT_SCALE_SUFFIX);
    if (len <= suffix || strcmp(name + len - suffix, LLMRT_QAT_SCALE_SUFFIX)) return 0;
    char base[512];
    if (len - suffix >= sizeof base) return 0;
    memcpy(base, name, len - suffix);
    base[len - suffix] = '\0';
    const llmrt_st_tensor *t = llmrt_st_find(f, base);
    return t && t->dtype == LLMRT_ST_I8;
}
