/* fake_compute.c — a compute plugin whose every kernel is a stub, built many
 * times by tests/loader/local.mk with macros that break it in one way each:
 *
 *   FAKE_NAME=id            descriptor name (required)
 *   FAKE_COMPONENT=id       component name (default: FAKE_NAME)
 *   FAKE_SYMBOL=id          exported symbol (default: llmrt_plugin_v1)
 *   FAKE_NO_DESCRIPTOR      export a differently named symbol instead
 *   FAKE_MAGIC, FAKE_ABI_MAJOR, FAKE_ABI_MINOR, FAKE_DESC_SIZE, FAKE_KIND
 *                           descriptor fields (default: correct)
 *   FAKE_NULL_NAME          descriptor name NULL
 *   FAKE_COMPONENT_KIND     kind of the component (default: compute)
 *   FAKE_NULL_VTABLE        component vtable NULL
 *   FAKE_VT_SIZE_TO=member  vtable struct_size ends before `member`
 *   FAKE_OMIT_ADAMW         the mandatory member adamw is NULL
 *   FAKE_PROBE_ZERO         probe() records a reason and returns 0
 *   FAKE_USE_DEP            needs llmrt_test_dep() from libllmrtdep.so
 */
#include <stddef.h>
#include <llmrt/llmrt.h>

#define STR_(x) #x
#define STR(x) STR_(x)

#ifndef FAKE_COMPONENT
#define FAKE_COMPONENT FAKE_NAME
#endif
#ifndef FAKE_SYMBOL
#define FAKE_SYMBOL llmrt_plugin_v1
#endif
#ifndef FAKE_MAGIC
#define FAKE_MAGIC LLMRT_PLUGIN_MAGIC
#endif
#ifndef FAKE_ABI_MAJOR
#define FAKE_ABI_MAJOR LLMRT_ABI_MAJOR
#endif
#ifndef FAKE_ABI_MINOR
#define FAKE_ABI_MINOR LLMRT_ABI_MINOR
#endif
#ifndef FAKE_DESC_SIZE
#define FAKE_DESC_SIZE sizeof(llmrt_plugin)
#endif
#ifndef FAKE_KIND
#define FAKE_KIND LLMRT_KIND_COMPUTE
#endif
#ifndef FAKE_COMPONENT_KIND
#define FAKE_COMPONENT_KIND LLMRT_KIND_COMPUTE
#endif
#ifdef FAKE_VT_SIZE_TO
#define FAKE_VT_SIZE offsetof(llmrt_compute_vtable, FAKE_VT_SIZE_TO)
#else
#define FAKE_VT_SIZE sizeof(llmrt_compute_vtable)
#endif

#ifdef FAKE_USE_DEP
int llmrt_test_dep(void);
#endif

static int probed;

static int fake_create(const llmrt_host_api *host, llmrt_params *params, void **ctx)
{
    (void)host, (void)params;
    *ctx = NULL;
    return LLMRT_OK;
}
static void fake_destroy(void *ctx) { (void)ctx; }
static int fake_get_caps(void *ctx, llmrt_compute_caps *caps)
{
    (void)ctx;
#ifdef FAKE_USE_DEP
    caps->total_memory = (size_t)llmrt_test_dep();
#endif
    caps->device_name = probed ? "fake " STR(FAKE_NAME) " (probed)" : "fake " STR(FAKE_NAME);
    return LLMRT_OK;
}
static int fake_alloc(void *ctx, size_t bytes, void **ptr) { (void)ctx, (void)bytes; *ptr = NULL; return 0; }
static void fake_free(void *ctx, void *ptr) { (void)ctx, (void)ptr; }
static int fake_copy_in(void *c, void *d, const void *s, size_t n, llmrt_stream *st) { (void)c, (void)d, (void)s, (void)n, (void)st; return 0; }
static int fake_copy_out(void *c, void *d, const void *s, size_t n, llmrt_stream *st) { (void)c, (void)d, (void)s, (void)n, (void)st; return 0; }
static int fake_copy(void *c, void *d, const void *s, size_t n, llmrt_stream *st) { (void)c, (void)d, (void)s, (void)n, (void)st; return 0; }
static int fake_memset(void *c, void *d, int v, size_t n, llmrt_stream *st) { (void)c, (void)d, (void)v, (void)n, (void)st; return 0; }
static int fake_synchronize(void *c) { (void)c; return 0; }
static int fake_gemm(void *c, const llmrt_gemm_desc *d) { (void)c, (void)d; return 0; }
static int fake_bias_grad(void *c, void *db, const void *dout, int64_t r, int64_t k, llmrt_dtype t) { (void)c, (void)db, (void)dout, (void)r, (void)k, (void)t; return 0; }
static int fake_norm(void *c, const llmrt_norm_desc *d) { (void)c, (void)d; return 0; }
static int fake_gelu_f(void *c, void *o, const void *i, size_t n, llmrt_dtype t, llmrt_gelu_kind k) { (void)c, (void)o, (void)i, (void)n, (void)t, (void)k; return 0; }
static int fake_gelu_b(void *c, void *di, const void *i, const void *d, size_t n, llmrt_dtype t, llmrt_gelu_kind k) { (void)c, (void)di, (void)i, (void)d, (void)n, (void)t, (void)k; return 0; }
static int fake_attention(void *c, const llmrt_attention_desc *d) { (void)c, (void)d; return 0; }
static int fake_xent(void *c, const llmrt_xent_desc *d) { (void)c, (void)d; return 0; }
static int fake_emb_f(void *c, void *o, const int32_t *ids, const void *t, int64_t r, int64_t dim, llmrt_dtype ty, int acc) { (void)c, (void)o, (void)ids, (void)t, (void)r, (void)dim, (void)ty, (void)acc; return 0; }
static int fake_emb_b(void *c, void *dt, const int32_t *ids, const void *d, int64_t r, int64_t dim, llmrt_dtype ty) { (void)c, (void)dt, (void)ids, (void)d, (void)r, (void)dim, (void)ty; return 0; }
static int fake_add(void *c, void *o, const void *a, const void *b, size_t n, llmrt_dtype t) { (void)c, (void)o, (void)a, (void)b, (void)n, (void)t; return 0; }
static int fake_scale(void *c, void *x, size_t n, llmrt_dtype t, float a) { (void)c, (void)x, (void)n, (void)t, (void)a; return 0; }
static int fake_sumsq(void *c, const void *x, size_t n, llmrt_dtype t, double *r) { (void)c, (void)x, (void)n, (void)t; *r = 0; return 0; }
#ifndef FAKE_OMIT_ADAMW
static int fake_adamw(void *c, const llmrt_adamw_desc *d) { (void)c, (void)d; return 0; }
#endif

static int fake_probe(const llmrt_host_api *host)
{
#ifdef FAKE_PROBE_ZERO
    host->error(LLMRT_ERR_UNSUPPORTED, "%s: no frobnicator on this machine",
                STR(FAKE_COMPONENT));
    return 0;
#else
    probed = host != NULL && host->struct_size >= sizeof(llmrt_host_api);
    return 1;
#endif
}

__attribute__((unused)) static const llmrt_compute_vtable fake_vtable = {
    .struct_size = FAKE_VT_SIZE,
    .create = fake_create,
    .destroy = fake_destroy,
    .get_caps = fake_get_caps,
    .alloc = fake_alloc,
    .free = fake_free,
    .copy_to_device = fake_copy_in,
    .copy_to_host = fake_copy_out,
    .copy = fake_copy,
    .memset = fake_memset,
    .synchronize = fake_synchronize,
    .gemm = fake_gemm,
    .bias_grad = fake_bias_grad,
    .norm_forward = fake_norm,
    .norm_backward = fake_norm,
    .gelu_forward = fake_gelu_f,
    .gelu_backward = fake_gelu_b,
    .attention_forward = fake_attention,
    .attention_backward = fake_attention,
    .softmax_xent = fake_xent,
    .embedding_forward = fake_emb_f,
    .embedding_backward = fake_emb_b,
    .add = fake_add,
    .scale = fake_scale,
    .sum_squares = fake_sumsq,
#ifndef FAKE_OMIT_ADAMW
    .adamw = fake_adamw,
#endif
};

static const llmrt_component fake_components[] = {{
    .struct_size = sizeof(llmrt_component),
    .kind = FAKE_COMPONENT_KIND,
    .name = STR(FAKE_COMPONENT),
    .description = "a test double",
    .probe = fake_probe,
#ifdef FAKE_NULL_VTABLE
    .vtable = NULL,
#else
    .vtable = &fake_vtable,
#endif
}};

#ifdef FAKE_NO_DESCRIPTOR
/* Exported, but under a name the loader does not look for. */
LLMRT_PLUGIN_EXPORT const llmrt_plugin llmrt_plugin_descriptor = {
#else
LLMRT_PLUGIN_EXPORT const llmrt_plugin FAKE_SYMBOL = {
#endif
    .magic = FAKE_MAGIC,
    .struct_size = FAKE_DESC_SIZE,
    .abi_major = FAKE_ABI_MAJOR,
    .abi_minor = FAKE_ABI_MINOR,
    .kind = FAKE_KIND,
#ifdef FAKE_NULL_NAME
    .name = NULL,
#else
    .name = STR(FAKE_NAME),
#endif
    .version = "0.0.1",
    .n_components = 1,
    .components = fake_components,
};
