/* cpu_plugin.c — the cpu compute backend: its descriptor, create/destroy,
 * capabilities, memory, and the (trivial) streams and events.
 *
 * The cpu executes every call synchronously, so a stream is an allocated
 * handle that orders nothing and an event is complete as soon as it is
 * recorded. Device memory is host memory (caps.host_addressable = 1): alloc()
 * is a 64-byte aligned posix_memalign, host_alloc_pinned() the same.
 *
 * Parameters of the [cpu] section:
 *   threads      OpenMP threads of every kernel and of the gemm split
 *                (default: the cores this process may run on)
 *   peak_gflops  fp32 peak for MFU in GFLOP/s; 0 measures cblas_sgemm once
 *                (cpu_peak.c)
 *
 * Dtypes (ABI 1.1, compute.h rule 7; cpu_convert.c, cpu_fake_quant.c):
 *   gemm                 a_type, b_type, c_type each f32, f16 or bf16 (bias: c_type)
 *   bias_grad, norm_*, gelu_*, attention_*, softmax_xent, embedding_*, add,
 *   scale, sum_squares, relu_*, mul
 *                        f32, f16, bf16 (norm mean/rstd, attention lse/bias/
 *                        dbias, xent losses: always fp32)
 *   adamw                grad_type f32, f16, bf16 (params, m, v fp32)
 *   convert_ex           f32/f16/bf16 to each other (nearest-even), f32->bf16
 *                        stochastic, f32<->i8 with per-row/column/one scales,
 *                        f32<->i32
 *   convert              as convert_ex's nearest-even pairs, without i8
 *   fake_quant_*         f32
 * A 16-bit kernel reads its 16-bit operands, widens them exactly to fp32,
 * runs the fp32 kernel and rounds every stored result with convert.h's
 * nearest-even: its bits are those of the fp32 kernel on the widened inputs,
 * rounded once. Anything else is LLMRT_ERR_UNSUPPORTED naming the kernel.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "cpu_internal.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cblas.h>

#ifndef LLMRT_CPU_VERSION /* set by plugins/cpu/local.mk from configure */
#define LLMRT_CPU_VERSION "unknown"
#endif

/* --- helpers shared by the kernels --- */

const char *cpu_dtype_name(llmrt_dtype t)
{
    static const char *const names[] = {"f32", "f16", "bf16", "i8", "i32", "u16", "u8", "f64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

int cpu_require_desc(const cpu_ctx *c, const char *kernel, const void *desc, size_t desc_size,
                     size_t need)
{
    if (!desc) return c->host->error(LLMRT_ERR_INVALID, "cpu: %s: descriptor is NULL", kernel);
    if (desc_size < need)
        return c->host->error(LLMRT_ERR_INVALID,
                              "cpu: %s: descriptor struct_size %zu is smaller than the ABI 1.0 "
                              "size %zu",
                              kernel, desc_size, need);
    return LLMRT_OK;
}

void *cpu_scratch(cpu_ctx *c, size_t bytes)
{
    if (bytes <= c->scratch_bytes && c->scratch) return c->scratch;
    free(c->scratch);
    c->scratch = NULL;
    c->scratch_bytes = 0;
    size_t want = cpu_round64(bytes ? bytes : 64);
    void *p = NULL;
    if (posix_memalign(&p, 64, want) != 0) {
        c->host->error(LLMRT_ERR_NOMEM, "cpu: out of memory allocating %zu bytes of scratch",
                       want);
        return NULL;
    }
    c->scratch = p;
    c->scratch_bytes = want;
    return p;
}

void *cpu_stage(cpu_ctx *c, size_t bytes)
{
    if (bytes <= c->stage_bytes && c->stage) return c->stage;
    free(c->stage);
    c->stage = NULL;
    c->stage_bytes = 0;
    size_t want = cpu_round64(bytes ? bytes : 64);
    void *p = NULL;
    if (posix_memalign(&p, 64, want) != 0) {
        c->host->error(LLMRT_ERR_NOMEM,
                       "cpu: out of memory allocating %zu bytes of fp32 staging for f16/bf16",
                       want);
        return NULL;
    }
    c->stage = p;
    c->stage_bytes = want;
    return p;
}

/* --- streams and events --- */

struct cpu_obj {
    cpu_obj *prev, *next;
};
struct llmrt_stream {
    cpu_obj obj; /* first: a stream is its list entry */
};
struct llmrt_event {
    cpu_obj obj;
    int recorded;
};

static void obj_link(cpu_ctx *c, cpu_obj *o)
{
    o->prev = NULL;
    o->next = c->objs;
    if (c->objs) c->objs->prev = o;
    c->objs = o;
}

static void obj_unlink(cpu_ctx *c, cpu_obj *o)
{
    if (o->prev) o->prev->next = o->next;
    else c->objs = o->next;
    if (o->next) o->next->prev = o->prev;
}

static int cpu_stream_create(void *ctx, llmrt_stream **stream)
{
    cpu_ctx *c = ctx;
    llmrt_stream *s = calloc(1, sizeof *s);
    if (!s) return c->host->error(LLMRT_ERR_NOMEM, "cpu: out of memory creating a stream");
    obj_link(c, &s->obj);
    *stream = s;
    return LLMRT_OK;
}

static void cpu_stream_destroy(void *ctx, llmrt_stream *stream)
{
    if (!stream) return;
    obj_unlink(ctx, &stream->obj);
    free(stream);
}

static int cpu_stream_synchronize(void *ctx, llmrt_stream *stream)
{
    (void)ctx;
    (void)stream;
    return LLMRT_OK; /* work completed when it was enqueued */
}

static void *cpu_stream_native(void *ctx, llmrt_stream *stream)
{
    (void)ctx;
    (void)stream;
    return NULL;
}

static int cpu_event_create(void *ctx, llmrt_event **event)
{
    cpu_ctx *c = ctx;
    llmrt_event *e = calloc(1, sizeof *e);
    if (!e) return c->host->error(LLMRT_ERR_NOMEM, "cpu: out of memory creating an event");
    obj_link(c, &e->obj);
    *event = e;
    return LLMRT_OK;
}

static void cpu_event_destroy(void *ctx, llmrt_event *event)
{
    if (!event) return;
    obj_unlink(ctx, &event->obj);
    free(event);
}

static int cpu_event_record(void *ctx, llmrt_event *event, llmrt_stream *stream)
{
    cpu_ctx *c = ctx;
    (void)stream;
    if (!event) return c->host->error(LLMRT_ERR_INVALID, "cpu: event_record: event is NULL");
    event->recorded = 1;
    return LLMRT_OK;
}

static int cpu_stream_wait_event(void *ctx, llmrt_stream *stream, llmrt_event *event)
{
    cpu_ctx *c = ctx;
    (void)stream;
    if (!event) return c->host->error(LLMRT_ERR_INVALID, "cpu: stream_wait_event: event is NULL");
    return LLMRT_OK;
}

static int cpu_event_synchronize(void *ctx, llmrt_event *event)
{
    cpu_ctx *c = ctx;
    if (!event) return c->host->error(LLMRT_ERR_INVALID, "cpu: event_synchronize: event is NULL");
    return LLMRT_OK;
}

static int cpu_synchronize(void *ctx)
{
    (void)ctx;
    return LLMRT_OK;
}

/* --- memory --- */

static int cpu_alloc(void *ctx, size_t bytes, void **ptr)
{
    cpu_ctx *c = ctx;
    void *p = NULL;
    /* alloc(0) gets a unique address of its own (rule 3). */
    int rc = posix_memalign(&p, 64, bytes ? bytes : 64);
    if (rc != 0)
        return c->host->error(LLMRT_ERR_NOMEM, "cpu: out of memory allocating %zu bytes", bytes);
    *ptr = p;
    return LLMRT_OK;
}

static void cpu_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

static int cpu_copy(void *ctx, void *dst, const void *src, size_t bytes, llmrt_stream *stream)
{
    (void)ctx;
    (void)stream;
    if (bytes && dst != src) memmove(dst, src, bytes);
    return LLMRT_OK;
}

static int cpu_memset(void *ctx, void *dst, int value, size_t bytes, llmrt_stream *stream)
{
    (void)ctx;
    (void)stream;
    if (bytes) memset(dst, value, bytes);
    return LLMRT_OK;
}

static void cpu_host_free_pinned(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

/* --- lifecycle and capabilities --- */

/* The cores this process may run on (its affinity mask, which MPI launchers
 * narrow per rank), else the online cores. */
static long default_threads(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        long n = CPU_COUNT(&set);
        if (n >= 1 && n < online) return n;
    }
#endif
    return online;
}

static int cpu_create(const llmrt_host_api *host, llmrt_params *params, void **ctx)
{
    long threads = 0;
    double peak = 0;
    int rc = host->param_int(params, "threads", default_threads(), 1, 4096,
                             "threads of the cpu kernels (OpenMP) and of the matrix products "
                             "(default: the cores this process may use)",
                             &threads);
    if (rc) return rc;
    rc = host->param_double(params, "peak_gflops", 0.0, 0.0, 1e9,
                            "fp32 peak in GFLOP/s used for MFU; 0 measures cblas_sgemm once "
                            "and caches the result under $XDG_CACHE_HOME/llmrt",
                            &peak);
    if (rc) return rc;

    cpu_ctx *c = calloc(1, sizeof *c);
    if (!c) return host->error(LLMRT_ERR_NOMEM, "cpu: out of memory creating the context");
    c->host = host;
    c->threads = (int)threads;
    c->peak_gflops_param = peak;

    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    c->total_memory = pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
    cpu_read_cpu_model(c->cpu_model, sizeof c->cpu_model);
    snprintf(c->device_name, sizeof c->device_name, "cpu: %s (%d thread%s, OpenBLAS %s)",
             c->cpu_model, c->threads, c->threads == 1 ? "" : "s", cpu_blas_corename());

    /* One pool of threads: OpenBLAS runs single-threaded inside our OpenMP
     * team (cpu_gemm.c splits the products). */
    openblas_set_num_threads(1);
    if (host->log)
        host->log(LLMRT_LOG_INFO, "cpu", "%s; BLAS: %s", c->device_name, cpu_blas_config());
    *ctx = c;
    return LLMRT_OK;
}

static void cpu_destroy(void *ctx)
{
    cpu_ctx *c = ctx;
    if (!c) return;
    while (c->objs) {
        cpu_obj *o = c->objs;
        obj_unlink(c, o);
        free(o); /* the list entry is the first member of a stream or event */
    }
    free(c->scratch);
    free(c->stage);
    free(c);
}

static int cpu_get_caps(void *ctx, llmrt_compute_caps *caps)
{
    cpu_ctx *c = ctx;
    if (!caps) return c->host->error(LLMRT_ERR_INVALID, "cpu: get_caps: caps is NULL");
    if (!c->caps_ready) {
        int rc = cpu_measure_caps(c);
        if (rc) return rc;
        c->caps_ready = 1;
    }
    llmrt_compute_caps full = {
        .struct_size = caps->struct_size,
        .device_name = c->device_name,
        .host_addressable = 1,
        .total_memory = c->total_memory,
        .peak_flops_f32 = c->peak_flops,
        .peak_flops_bf16 = 0,
        .peak_source = c->peak_source,
        .gemm_epilogues = 1u << LLMRT_EPILOGUE_GELU, /* cpu_gemm.c */
        .adamw_params_out = 1,                       /* cpu_adamw.c */
    };
    /* Fill only what the caller's struct holds (types.h rule 2). */
    size_t n = caps->struct_size < sizeof full ? caps->struct_size : sizeof full;
    memcpy(caps, &full, n);
    return LLMRT_OK;
}

static const llmrt_compute_vtable cpu_vtable = {
    .struct_size = sizeof(llmrt_compute_vtable),
    .create = cpu_create,
    .destroy = cpu_destroy,
    .get_caps = cpu_get_caps,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .copy_to_device = cpu_copy,
    .copy_to_host = cpu_copy,
    .copy = cpu_copy,
    .memset = cpu_memset,
    .host_alloc_pinned = cpu_alloc,
    .host_free_pinned = cpu_host_free_pinned,
    .stream_create = cpu_stream_create,
    .stream_destroy = cpu_stream_destroy,
    .stream_synchronize = cpu_stream_synchronize,
    .stream_native = cpu_stream_native,
    .event_create = cpu_event_create,
    .event_destroy = cpu_event_destroy,
    .event_record = cpu_event_record,
    .stream_wait_event = cpu_stream_wait_event,
    .event_synchronize = cpu_event_synchronize,
    .synchronize = cpu_synchronize,
    .gemm = cpu_gemm,
    .bias_grad = cpu_bias_grad,
    .norm_forward = cpu_norm_forward,
    .norm_backward = cpu_norm_backward,
    .gelu_forward = cpu_gelu_forward,
    .gelu_backward = cpu_gelu_backward,
    .attention_forward = cpu_attention_forward,
    .attention_backward = cpu_attention_backward,
    .softmax_xent = cpu_softmax_xent,
    .embedding_forward = cpu_embedding_forward,
    .embedding_backward = cpu_embedding_backward,
    .add = cpu_add,
    .scale = cpu_scale,
    .sum_squares = cpu_sum_squares,
    .adamw = cpu_adamw,
    .convert = cpu_convert,
    .convert_ex = cpu_convert_ex,
    .fake_quant_forward = cpu_fake_quant_forward,
    .fake_quant_backward = cpu_fake_quant_backward,
    .relu_forward = cpu_relu_forward,
    .relu_backward = cpu_relu_backward,
    .mul = cpu_mul,
};

static const llmrt_component cpu_components[] = {{
    .struct_size = sizeof(llmrt_component),
    .kind = LLMRT_KIND_COMPUTE,
    .name = "cpu",
    .description = "CPU: OpenBLAS sgemm and OpenMP kernels; f32, f16, bf16",
    .probe = NULL, /* always usable */
    .vtable = &cpu_vtable,
}};

LLMRT_PLUGIN_EXPORT const llmrt_plugin llmrt_plugin_v1 = {
    LLMRT_PLUGIN_HEADER(LLMRT_KIND_COMPUTE, "cpu", LLMRT_CPU_VERSION),
    .n_components = 1,
    .components = cpu_components,
};
