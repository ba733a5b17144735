/* cuda_plugin.c — the cuda compute backend: descriptor, probe, create/destroy,
 * capabilities, memory, streams and events.
 *
 * Memory is plain cudaMalloc (never managed memory); caps.host_addressable is
 * 0, so the core moves data with copy_to_device/copy_to_host. Copies and
 * memsets are asynchronous on their stream, except copy_to_host, which
 * returns when the bytes are in host memory (compute.h rule 5).
 *
 * Parameters of the [cuda] section:
 *   device       CUDA device ordinal, or auto (default): the local rank from the
 *                launcher's variables modulo the device count (docs/cuda.md)
 *   peak_tflops  bf16 dense peak for MFU in TFLOP/s, 0: from the table below
 *                (H100/H200/A100), else fp32 from SMs x clock
 *
 * Dtypes: gemm f32/bf16/f16 through cuBLASLt (cuda_gemm.c), adamw gradients
 * f32/f16/bf16 (cuda_adamw.c), f32 for the other kernels so far (docs/cuda.md;
 * others return LLMRT_ERR_UNSUPPORTED); convert/convert_ex take the cpu backend's pairs
 * (f32/f16/bf16, i8 with scales, i32); fake_quant_* are fp32 as on cpu.
 *
 * UNTESTED on a GPU: written and compiled on a machine without one.
 */
#include "cuda_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LLMRT_CUDA_VERSION /* set by plugins/cuda/local.mk from configure */
#define LLMRT_CUDA_VERSION "unknown"
#endif

/* --- helpers --- */

const char *cuda_dtype_name(llmrt_dtype t)
{
    static const char *const names[] = {"f32", "f16", "bf16", "i8", "i32", "u16", "u8", "f64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

int cuda_check(const cuda_ctx *c, int err, const char *what)
{
    if (err == cudaSuccess) return LLMRT_OK;
    int code = err == cudaErrorMemoryAllocation ? LLMRT_ERR_NOMEM : LLMRT_ERR_DEVICE;
    return c->host->error(code, "cuda: %s: %s (%s)", what,
                          cudaGetErrorString((cudaError_t)err),
                          cudaGetErrorName((cudaError_t)err));
}

int cuda_require_desc(const cuda_ctx *c, const char *kernel, const void *desc, size_t desc_size,
                      size_t need)
{
    if (!desc) return c->host->error(LLMRT_ERR_INVALID, "cuda: %s: descriptor is NULL", kernel);
    if (desc_size < need)
        return c->host->error(LLMRT_ERR_INVALID,
                              "cuda: %s: descriptor struct_size %zu is smaller than the ABI 1.0 "
                              "size %zu",
                              kernel, desc_size, need);
    return LLMRT_OK;
}

int cuda_require_f32(const cuda_ctx *c, const char *kernel, llmrt_dtype t)
{
    if (t == LLMRT_DTYPE_F32) return LLMRT_OK;
    return c->host->error(LLMRT_ERR_UNSUPPORTED,
                          "cuda: %s: dtype %s is not supported yet (f32 only; docs/cuda.md)",
                          kernel, cuda_dtype_name(t));
}

int cuda_require_float(const cuda_ctx *c, const char *kernel, llmrt_dtype t, int *dt)
{
    switch (t) {
    case LLMRT_DTYPE_F32: *dt = CUK_DT_F32; return LLMRT_OK;
    case LLMRT_DTYPE_F16: *dt = CUK_DT_F16; return LLMRT_OK;
    case LLMRT_DTYPE_BF16: *dt = CUK_DT_BF16; return LLMRT_OK;
    default:
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cuda: %s: dtype %s is not supported (f32, f16 and bf16 only)",
                              kernel, cuda_dtype_name(t));
    }
}

int cuda_work(cuda_ctx *c, size_t bytes, const char *kernel, void **work)
{
    if (bytes <= c->work_bytes) {
        *work = c->work;
        return LLMRT_OK;
    }
    /* cudaFree waits for the kernels that still use the old area. */
    if (c->work) cudaFree(c->work);
    c->work = NULL;
    c->work_bytes = 0;
    char what[96];
    snprintf(what, sizeof what, "%s (scratch of %zu bytes)", kernel, bytes);
    int rc = cuda_check(c, cudaMalloc(&c->work, bytes), what);
    if (rc) {
        c->work = NULL;
        return rc;
    }
    c->work_bytes = bytes;
    *work = c->work;
    return LLMRT_OK;
}

/* --- streams and events --- */

struct cuda_obj {
    cuda_obj *prev, *next;
    int is_event;
};
struct llmrt_stream {
    cuda_obj obj; /* first: a stream is its list entry */
    cudaStream_t s;
};
struct llmrt_event {
    cuda_obj obj;
    cudaEvent_t e;
};

cudaStream_t cuda_stream_of(const cuda_ctx *c, llmrt_stream *s)
{
    return s ? s->s : c->stream;
}

static void obj_link(cuda_ctx *c, cuda_obj *o)
{
    o->prev = NULL;
    o->next = c->objs;
    if (c->objs) c->objs->prev = o;
    c->objs = o;
}

static void obj_unlink(cuda_ctx *c, cuda_obj *o)
{
    if (o->prev) o->prev->next = o->next;
    else c->objs = o->next;
    if (o->next) o->next->prev = o->prev;
}

static void obj_release(cuda_obj *o)
{
    if (o->is_event) cudaEventDestroy(((llmrt_event *)o)->e);
    else cudaStreamDestroy(((llmrt_stream *)o)->s);
    free(o);
}

static int cuda_stream_create(void *ctx, llmrt_stream **stream)
{
    cuda_ctx *c = ctx;
    llmrt_stream *s = calloc(1, sizeof *s);
    if (!s) return c->host->error(LLMRT_ERR_NOMEM, "cuda: out of memory creating a stream");
    int rc = cuda_check(c, cudaStreamCreateWithFlags(&s->s, cudaStreamNonBlocking),
                        "cudaStreamCreateWithFlags");
    if (rc) {
        free(s);
        return rc;
    }
    obj_link(c, &s->obj);
    *stream = s;
    return LLMRT_OK;
}

static void cuda_stream_destroy(void *ctx, llmrt_stream *stream)
{
    if (!stream) return;
    obj_unlink(ctx, &stream->obj);
    obj_release(&stream->obj);
}

static int cuda_stream_synchronize(void *ctx, llmrt_stream *stream)
{
    cuda_ctx *c = ctx;
    return cuda_check(c, cudaStreamSynchronize(cuda_stream_of(c, stream)), "cudaStreamSynchronize");
}

static void *cuda_stream_native(void *ctx, llmrt_stream *stream)
{
    return (void *)cuda_stream_of(ctx, stream);
}

static int cuda_event_create(void *ctx, llmrt_event **event)
{
    cuda_ctx *c = ctx;
    llmrt_event *e = calloc(1, sizeof *e);
    if (!e) return c->host->error(LLMRT_ERR_NOMEM, "cuda: out of memory creating an event");
    e->obj.is_event = 1;
    int rc = cuda_check(c, cudaEventCreateWithFlags(&e->e, cudaEventDisableTiming),
                        "cudaEventCreateWithFlags");
    if (rc) {
        free(e);
        return rc;
    }
    obj_link(c, &e->obj);
    *event = e;
    return LLMRT_OK;
}

static void cuda_event_destroy(void *ctx, llmrt_event *event)
{
    if (!event) return;
    obj_unlink(ctx, &event->obj);
    obj_release(&event->obj);
}

static int cuda_event_record(void *ctx, llmrt_event *event, llmrt_stream *stream)
{
    cuda_ctx *c = ctx;
    if (!event) return c->host->error(LLMRT_ERR_INVALID, "cuda: event_record: event is NULL");
    return cuda_check(c, cudaEventRecord(event->e, cuda_stream_of(c, stream)), "cudaEventRecord");
}

static int cuda_stream_wait_event(void *ctx, llmrt_stream *stream, llmrt_event *event)
{
    cuda_ctx *c = ctx;
    if (!event)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: stream_wait_event: event is NULL");
    return cuda_check(c, cudaStreamWaitEvent(cuda_stream_of(c, stream), event->e, 0),
                      "cudaStreamWaitEvent");
}

static int cuda_event_synchronize(void *ctx, llmrt_event *event)
{
    cuda_ctx *c = ctx;
    if (!event)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: event_synchronize: event is NULL");
    return cuda_check(c, cudaEventSynchronize(event->e), "cudaEventSynchronize");
}

static int cuda_synchronize(void *ctx)
{
    cuda_ctx *c = ctx;
    /* Every stream of the context lives on its device. */
    return cuda_check(c, cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

/* --- memory --- */

static int cuda_alloc(void *ctx, size_t bytes, void **ptr)
{
    cuda_ctx *c = ctx;
    void *p = NULL;
    /* alloc(0) gets a unique address of its own (rule 3). */
    cudaError_t err = cudaMalloc(&p, bytes ? bytes : 256);
    if (err != cudaSuccess)
        return c->host->error(err == cudaErrorMemoryAllocation ? LLMRT_ERR_NOMEM
                                                               : LLMRT_ERR_DEVICE,
                              "cuda: cudaMalloc of %zu bytes on device %d: %s", bytes, c->device,
                              cudaGetErrorString(err));
    *ptr = p;
    return LLMRT_OK;
}

static void cuda_free(void *ctx, void *ptr)
{
    cuda_ctx *c = ctx;
    if (!ptr) return;
    /* cudaFree synchronises the device: nothing still queued reads ptr. */
    cudaError_t err = cudaFree(ptr);
    if (err != cudaSuccess && c->host->log)
        c->host->log(LLMRT_LOG_WARN, "cuda", "cudaFree: %s", cudaGetErrorString(err));
}

static int cuda_copy_to_device(void *ctx, void *dst, const void *src, size_t bytes,
                               llmrt_stream *stream)
{
    cuda_ctx *c = ctx;
    if (!bytes) return LLMRT_OK;
    return cuda_check(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice,
                                         cuda_stream_of(c, stream)),
                      "copy_to_device (cudaMemcpyAsync)");
}

static int cuda_copy_to_host(void *ctx, void *dst, const void *src, size_t bytes,
                             llmrt_stream *stream)
{
    cuda_ctx *c = ctx;
    if (!bytes) return LLMRT_OK;
    cudaStream_t s = cuda_stream_of(c, stream);
    int rc = cuda_check(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s),
                        "copy_to_host (cudaMemcpyAsync)");
    if (rc) return rc;
    return cuda_check(c, cudaStreamSynchronize(s), "copy_to_host (cudaStreamSynchronize)");
}

static int cuda_copy(void *ctx, void *dst, const void *src, size_t bytes, llmrt_stream *stream)
{
    cuda_ctx *c = ctx;
    if (!bytes || dst == src) return LLMRT_OK;
    return cuda_check(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice,
                                         cuda_stream_of(c, stream)),
                      "copy (cudaMemcpyAsync)");
}

static int cuda_memset(void *ctx, void *dst, int value, size_t bytes, llmrt_stream *stream)
{
    cuda_ctx *c = ctx;
    if (!bytes) return LLMRT_OK;
    return cuda_check(c, cudaMemsetAsync(dst, value, bytes, cuda_stream_of(c, stream)),
                      "memset (cudaMemsetAsync)");
}

static int cuda_host_alloc_pinned(void *ctx, size_t bytes, void **ptr)
{
    cuda_ctx *c = ctx;
    void *p = NULL;
    int rc = cuda_check(c, cudaHostAlloc(&p, bytes ? bytes : 64, cudaHostAllocPortable),
                        "cudaHostAlloc");
    if (rc) return rc;
    *ptr = p;
    return LLMRT_OK;
}

static void cuda_host_free_pinned(void *ctx, void *ptr)
{
    (void)ctx;
    if (ptr) cudaFreeHost(ptr);
}

/* --- lifecycle and capabilities --- */

/* Peaks (dense, FLOP/s) from the vendors' data sheets, matched on the device
 * name; fp32 is the non-tensor-core rate. */
static const struct {
    const char *match, *also;
    double f32, bf16;
    const char *source;
} peak_table[] = {
    {"H200", NULL, 67e12, 989e12, "table: H200 (NVIDIA data sheet, dense)"},
    {"H100", "PCIe", 51.2e12, 756e12, "table: H100 PCIe (NVIDIA data sheet, dense)"},
    {"H100", "NVL", 60e12, 835e12, "table: H100 NVL (NVIDIA data sheet, dense)"},
    {"H100", NULL, 67e12, 989e12, "table: H100 SXM (NVIDIA data sheet, dense)"},
    {"A100", NULL, 19.5e12, 312e12, "table: A100 (NVIDIA data sheet, dense)"},
};

static void set_peak(cuda_ctx *c, const char *name, double param_tflops)
{
    for (size_t i = 0; i < sizeof peak_table / sizeof peak_table[0]; i++) {
        if (!strstr(name, peak_table[i].match)) continue;
        if (peak_table[i].also && !strstr(name, peak_table[i].also)) continue;
        c->peak_f32 = peak_table[i].f32;
        c->peak_bf16 = peak_table[i].bf16;
        snprintf(c->peak_source, sizeof c->peak_source, "%s", peak_table[i].source);
        break;
    }
    if (c->peak_f32 == 0) {
        /* fp32 lanes per SM: 64 on sm_80 (A100), 128 on sm_86 and later. */
        int sms = 0, khz = 0, major = 0, minor = 0;
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, c->device);
        cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, c->device);
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, c->device);
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, c->device);
        int lanes = major == 8 && minor == 0 ? 64 : 128;
        c->peak_f32 = 2.0 * lanes * (double)sms * (double)khz * 1e3;
        snprintf(c->peak_source, sizeof c->peak_source,
                 "computed: %d SMs x %d fp32 lanes x %.0f MHz x 2 (bf16 unknown)", sms, lanes,
                 khz / 1e3);
    }
    if (param_tflops > 0) {
        c->peak_bf16 = param_tflops * 1e12;
        snprintf(c->peak_source, sizeof c->peak_source, "[cuda] peak_tflops = %g (bf16)",
                 param_tflops);
    }
}

/* A usable GPU is one cudaGetDeviceCount reports; nothing else is touched. */
static int cuda_probe(const llmrt_host_api *host)
{
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err == cudaErrorInsufficientDriver || err == cudaErrorNoDevice) {
        int rt = 0;
        cudaRuntimeGetVersion(&rt);
        host->error(LLMRT_ERR_UNSUPPORTED,
                    "cuda: no usable GPU here: no NVIDIA GPU, or its driver is missing or older "
                    "than this plugin's CUDA %d.%d runtime (%s)",
                    rt / 1000, rt % 1000 / 10, cudaGetErrorName(err));
        return 0;
    }
    if (err != cudaSuccess) {
        host->error(LLMRT_ERR_UNSUPPORTED, "cuda: no usable GPU here: %s (%s)",
                    cudaGetErrorString(err), cudaGetErrorName(err));
        return 0;
    }
    if (n < 1) {
        host->error(LLMRT_ERR_UNSUPPORTED, "cuda: no usable GPU here: no CUDA device found");
        return 0;
    }
    return 100;
}

static void release(cuda_ctx *c)
{
    while (c->objs) {
        cuda_obj *o = c->objs;
        obj_unlink(c, o);
        obj_release(o);
    }
    if (c->ssq_scratch) cudaFree(c->ssq_scratch);
    if (c->att_scratch) cudaFree(c->att_scratch);
    if (c->work) cudaFree(c->work);
    cuda_lt_destroy(c);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

static int cuda_create(const llmrt_host_api *host, llmrt_params *params, void **ctx)
{
    const char *device_param = "auto";
    double peak = 0;
    int rc = host->param_string(params, "device", "auto",
                                "CUDA device ordinal, or auto: the rank's local rank (LOCAL_RANK, "
                                "else OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, "
                                "MPI_LOCALRANKID, else 0) modulo the device count",
                                &device_param);
    if (rc) return rc;
    rc = host->param_double(params, "peak_tflops", 0.0, 0.0, 1e6,
                            "bf16 dense peak in TFLOP/s for MFU; 0: the built-in table "
                            "(H100, H200, A100)",
                            &peak);
    if (rc) return rc;

    cuda_ctx *c = calloc(1, sizeof *c);
    if (!c) return host->error(LLMRT_ERR_NOMEM, "cuda: out of memory creating the context");
    c->host = host;
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    /* Several ranks per host each take their own GPU: the launchers' local
     * rank (torchrun, Open MPI, Slurm, MPICH/Intel MPI, in that order). */
    static const char *const local_rank_vars[] = {"LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK",
                                                  "SLURM_LOCALID", "MPI_LOCALRANKID", NULL};
    const char *device_from = "[cuda] device";
    char *end = NULL;
    long device = 0;
    if (!strcmp(device_param, "auto")) {
        device_from = "auto: no local rank variable set";
        for (int i = 0; local_rank_vars[i]; i++) {
            const char *v = getenv(local_rank_vars[i]);
            if (!v || !*v) continue;
            long local = strtol(v, &end, 10);
            if (*end || local < 0 || local > 1 << 20) {
                free(c);
                return host->error(LLMRT_ERR_INVALID, "cuda: [cuda] device = auto: %s=%s is "
                                   "not a local rank (a non-negative integer)",
                                   local_rank_vars[i], v);
            }
            device = err == cudaSuccess && n > 0 ? local % n : local;
            device_from = local_rank_vars[i];
            break;
        }
    } else {
        device = strtol(device_param, &end, 10);
        if (end == device_param || *end || device < 0 || device > 1023) {
            free(c);
            return host->error(LLMRT_ERR_INVALID, "cuda: [cuda] device = %s is neither auto nor "
                               "a device ordinal (0..1023)", device_param);
        }
    }
    c->device = (int)device;
    if (err != cudaSuccess || c->device >= n) {
        free(c);
        return host->error(LLMRT_ERR_DEVICE, "cuda: device %ld (%s) is not available (%d "
                           "device%s%s%s)", device, device_from, n, n == 1 ? "" : "s",
                           err ? ": " : "", err ? cudaGetErrorString(err) : "");
    }
    if (host->log)
        host->log(LLMRT_LOG_INFO, "cuda", "device %d (%s, %d visible)", c->device, device_from, n);
    if ((rc = cuda_check(c, cudaSetDevice(c->device), "cudaSetDevice")) ||
        (rc = cuda_check(c, cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking),
                         "cudaStreamCreateWithFlags")) ||
        (rc = cuda_check(c, cudaMalloc((void **)&c->ssq_scratch,
                                       (CUK_SSQ_BLOCKS + 1) * sizeof(double)),
                         "cudaMalloc (scratch)"))) {
        release(c);
        return rc;
    }
    if ((rc = cuda_lt_create(c))) {
        release(c);
        return rc;
    }

    struct cudaDeviceProp prop;
    memset(&prop, 0, sizeof prop);
    cudaGetDeviceProperties(&prop, c->device);
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) c->total_memory = total_b;
    else c->total_memory = prop.totalGlobalMem;
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    snprintf(c->device_name, sizeof c->device_name,
             "%.256s (device %d, sm_%d%d, %d SMs, %.1f GiB; runtime %d.%d, driver %d.%d)", prop.name,
             c->device, prop.major, prop.minor, prop.multiProcessorCount,
             (double)c->total_memory / (1024.0 * 1024.0 * 1024.0), rt / 1000, rt % 1000 / 10,
             drv / 1000, drv % 1000 / 10);
    set_peak(c, prop.name, peak);
    if (host->log) host->log(LLMRT_LOG_INFO, "cuda", "%s; peak: %s", c->device_name, c->peak_source);
    *ctx = c;
    return LLMRT_OK;
}

static void cuda_destroy(void *ctx)
{
    cuda_ctx *c = ctx;
    if (!c) return;
    cudaSetDevice(c->device);
    cudaDeviceSynchronize();
    release(c);
}

static int cuda_get_caps(void *ctx, llmrt_compute_caps *caps)
{
    cuda_ctx *c = ctx;
    if (!caps) return c->host->error(LLMRT_ERR_INVALID, "cuda: get_caps: caps is NULL");
    llmrt_compute_caps full = {
        .struct_size = caps->struct_size,
        .device_name = c->device_name,
        .host_addressable = 0,
        .total_memory = c->total_memory,
        .peak_flops_f32 = c->peak_f32,
        .peak_flops_bf16 = c->peak_bf16,
        .peak_source = c->peak_source,
        .gemm_epilogues = 1u << LLMRT_EPILOGUE_GELU, /* cuda_gemm.c */
        .adamw_params_out = 1,                       /* cuda_adamw.c */
    };
    size_t n = caps->struct_size < sizeof full ? caps->struct_size : sizeof full;
    memcpy(caps, &full, n);
    return LLMRT_OK;
}

static const llmrt_compute_vtable cuda_vtable = {
    .struct_size = sizeof(llmrt_compute_vtable),
    .create = cuda_create,
    .destroy = cuda_destroy,
    .get_caps = cuda_get_caps,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .copy_to_device = cuda_copy_to_device,
    .copy_to_host = cuda_copy_to_host,
    .copy = cuda_copy,
    .memset = cuda_memset,
    .host_alloc_pinned = cuda_host_alloc_pinned,
    .host_free_pinned = cuda_host_free_pinned,
    .stream_create = cuda_stream_create,
    .stream_destroy = cuda_stream_destroy,
    .stream_synchronize = cuda_stream_synchronize,
    .stream_native = cuda_stream_native,
    .event_create = cuda_event_create,
    .event_destroy = cuda_event_destroy,
    .event_record = cuda_event_record,
    .stream_wait_event = cuda_stream_wait_event,
    .event_synchronize = cuda_event_synchronize,
    .synchronize = cuda_synchronize,
    .gemm = cuda_gemm,
    .bias_grad = cuda_bias_grad,
    .norm_forward = cuda_norm_forward,
    .norm_backward = cuda_norm_backward,
    .gelu_forward = cuda_gelu_forward,
    .gelu_backward = cuda_gelu_backward,
    .attention_forward = cuda_attention_forward,
    .attention_backward = cuda_attention_backward,
    .softmax_xent = cuda_softmax_xent,
    .embedding_forward = cuda_embedding_forward,
    .embedding_backward = cuda_embedding_backward,
    .add = cuda_add,
    .scale = cuda_scale,
    .sum_squares = cuda_sum_squares,
    .adamw = cuda_adamw,
    .convert = cuda_convert,
    .convert_ex = cuda_convert_ex,
    .fake_quant_forward = cuda_fake_quant_forward,
    .fake_quant_backward = cuda_fake_quant_backward,
    .relu_forward = cuda_relu_forward,
    .relu_backward = cuda_relu_backward,
    .mul = cuda_mul,
};

static const llmrt_component cuda_components[] = {{
    .struct_size = sizeof(llmrt_component),
    .kind = LLMRT_KIND_COMPUTE,
    .name = "cuda",
    .description = "NVIDIA GPU: cuBLASLt matmuls and CUDA kernels (untested on a GPU so far)",
    .probe = cuda_probe,
    .vtable = &cuda_vtable,
}};

LLMRT_PLUGIN_EXPORT const llmrt_plugin llmrt_plugin_v1 = {
    LLMRT_PLUGIN_HEADER(LLMRT_KIND_COMPUTE, "cuda", LLMRT_CUDA_VERSION),
    .n_components = 1,
    .components = cuda_components,
};
