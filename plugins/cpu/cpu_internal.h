/* cpu_internal.h — private declarations shared by the files of the cpu compute
 * backend: the context, the kernel entry points of the vtable, and the small
 * helpers every kernel uses (dtype checks, thread ranges, scratch, a
 * vectorisable expf).
 *
 * Threading model: the backend runs every kernel synchronously on the calling
 * thread plus an OpenMP team of ctx->threads threads (num_threads clauses on
 * every parallel region). OpenBLAS is set to one thread and called from inside
 * those regions on disjoint blocks (cpu_gemm.c), so only one pool of threads
 * ever runs: OpenBLAS's own pthread pool would otherwise spin after each call
 * and compete with the OpenMP team.
 *
 * Determinism (compute.h rule 9): every parallel loop either writes disjoint
 * outputs whose values do not depend on the partition, or reduces in a fixed
 * order. Most kernels are bit-identical for any thread count; norm_backward's
 * weight/bias gradients depend on the thread count (per-thread partial sums
 * added in thread order).
 */
#ifndef LLMRT_CPU_INTERNAL_H
#define LLMRT_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <llmrt/llmrt.h>

/* Hot loops are compiled for three x86-64 levels and picked at load time by
 * GCC's ifunc resolver (cpuid only: nothing ISA-specific runs before a kernel
 * is called). Elsewhere they are plain functions. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 &&      \
    !defined(LLMRT_CPU_NO_CLONES)
#define CPU_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CPU_HOT
#endif

typedef struct cpu_obj cpu_obj; /* a live stream or event, listed for destroy() */

typedef struct cpu_ctx {
    const llmrt_host_api *host;
    int threads;                /* [cpu] threads: the OpenMP team and gemm split */
    double peak_gflops_param;   /* [cpu] peak_gflops; 0 = measure */
    int caps_ready;             /* peak measured or read (lazily, first get_caps) */
    double peak_flops;
    size_t total_memory;
    char cpu_model[128];
    char device_name[256];
    char peak_source[4400];     /* may name the cache file */
    void *scratch;              /* per-thread scratch of the kernels, grown on demand */
    size_t scratch_bytes;
    void *stage;                /* fp32 copies of f16/bf16 operands (cpu_stage) */
    size_t stage_bytes;
    cpu_obj *objs;              /* streams and events not yet destroyed */
} cpu_ctx;

/* --- helpers (cpu_plugin.c) --- */

const char *cpu_dtype_name(llmrt_dtype t);
/* LLMRT_ERR_INVALID unless desc_size covers a v1.0 descriptor of `need` bytes. */
int cpu_require_desc(const cpu_ctx *c, const char *kernel, const void *desc, size_t desc_size,
                     size_t need);
/* f16/bf16 support (cpu_convert.c; cpu_stage in cpu_plugin.c). The 16-bit
 * path of every kernel is "stage": convert the 16-bit operands to fp32
 * (exact), run the fp32 kernel, round what it wrote back with convert.h's
 * nearest-even (compute.h rule 7), so its bits equal the fp32 kernel's on the
 * widened inputs, rounded. */
int cpu_is_float(llmrt_dtype t); /* f32, f16 or bf16 */
/* LLMRT_OK for f32/f16/bf16, else LLMRT_ERR_UNSUPPORTED naming the kernel. */
int cpu_require_float(const cpu_ctx *c, const char *kernel, llmrt_dtype t);
/* dst[0:n] = src (dtype t) widened to fp32 / src rounded to t; serial,
 * vectorised; f32 is a memmove. */
void cpu_load_f32(float *dst, const void *src, llmrt_dtype t, size_t n);
void cpu_store_f32(void *dst, llmrt_dtype t, const float *src, size_t n);
/* The same split over the threads. */
void cpu_load_f32_par(cpu_ctx *c, float *dst, const void *src, llmrt_dtype t, size_t n);
void cpu_store_f32_par(cpu_ctx *c, void *dst, llmrt_dtype t, const float *src, size_t n);
/* The same over rows x cols with leading dimensions (elements), threaded by
 * rows. */
void cpu_load_rows(cpu_ctx *c, float *dst, int64_t dst_ld, const void *src, int64_t src_ld,
                   llmrt_dtype t, int64_t rows, int64_t cols);
void cpu_store_rows(cpu_ctx *c, void *dst, int64_t dst_ld, llmrt_dtype t, const float *src,
                    int64_t src_ld, int64_t rows, int64_t cols);
/* At least `bytes` of 64-byte aligned staging memory, separate from
 * cpu_scratch (the fp32 kernel a staging path calls uses that); NULL with
 * LLMRT_ERR_NOMEM recorded on failure. Kept and grown like the scratch: it
 * holds the largest staged call so far (gemm and softmax_xent stage large
 * operands in blocks of rows of 16 MiB; the others stage them whole). */
void *cpu_stage(cpu_ctx *c, size_t bytes);
/* Bytes of n floats rounded to a cache line, to carve several arrays out of
 * one stage. */
static inline size_t cpu_stage_floats(size_t n) { return (n * sizeof(float) + 63) / 64 * 64; }

/* At least `bytes` of 64-byte aligned scratch, kept by the context; NULL with
 * LLMRT_ERR_NOMEM recorded on failure. The previous contents are lost. */
void *cpu_scratch(cpu_ctx *c, size_t bytes);

/* [begin, end) of part t of T of n items, ends rounded to multiples of align
 * (the last part takes the remainder). */
static inline void cpu_part(size_t n, int t, int T, size_t align, size_t *begin, size_t *end)
{
    size_t per = (n + (size_t)T - 1) / (size_t)T;
    per = (per + align - 1) / align * align;
    size_t b = per * (size_t)t, e = b + per;
    if (b > n) b = n;
    if (e > n) e = n;
    *begin = b;
    *end = e;
}

/* Bytes rounded up to a cache line, for per-thread slices of scratch. */
static inline size_t cpu_round64(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* Minimum elements per thread before an elementwise loop goes parallel. */
#define CPU_PAR_MIN 16384

/* exp(x) for float, in a form GCC vectorises (no libm call): Cephes' expf
 * polynomial after reduction by ln 2, scaled by 2^n built from its bits.
 * Relative error about 2 ulp. The argument is clamped to [-86, 88.3] so that
 * 2^n stays a normal number (results below exp(-86) ~ 4e-38 read as that);
 * NaN propagates. */
static inline float cpu_expf(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    x = x < -86.0f ? -86.0f : x;
    x = x > 88.3f ? 88.3f : x;
    float t = x * 1.44269504088896341f + magic;
    float n = t - magic;
    float r = x - n * 0.693359375f;  /* ln 2 split in two for an exact product */
    r = r - n * -2.12194440e-4f;
    float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

/* --- lifecycle, memory, streams (cpu_plugin.c); peak (cpu_peak.c) --- */
int cpu_measure_caps(cpu_ctx *c);           /* fills peak_flops and peak_source */
void cpu_read_cpu_model(char *buf, size_t size);
/* cpu_blas.c: a row-major sgemm through the Fortran BLAS entry point, which
 * a CBLAS-only library elsewhere in the process (libgslcblas) cannot serve. */
void cpu_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
               int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
const char *cpu_blas_corename(void);
const char *cpu_blas_config(void);

/* --- kernels, one file each --- */
int cpu_gemm(void *ctx, const llmrt_gemm_desc *d);                       /* cpu_gemm.c */
int cpu_gemm_f32(cpu_ctx *c, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                 float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                 float beta, float *cm, int64_t ldc, const float *bias);
int cpu_bias_grad(void *ctx, void *dbias, const void *dout, int64_t rows, int64_t cols,
                  llmrt_dtype dtype);                                    /* cpu_reduce.c */
int cpu_sum_squares(void *ctx, const void *x, size_t n, llmrt_dtype dtype, double *result);
int cpu_norm_forward(void *ctx, const llmrt_norm_desc *d);               /* cpu_norm.c */
int cpu_norm_backward(void *ctx, const llmrt_norm_desc *d);
int cpu_gelu_forward(void *ctx, void *out, const void *inp, size_t n, llmrt_dtype dtype,
                     llmrt_gelu_kind kind);                              /* cpu_gelu.c */
int cpu_gelu_backward(void *ctx, void *dinp, const void *inp, const void *dout, size_t n,
                      llmrt_dtype dtype, llmrt_gelu_kind kind);
int cpu_attention_forward(void *ctx, const llmrt_attention_desc *d);     /* cpu_attention.c */
int cpu_attention_backward(void *ctx, const llmrt_attention_desc *d);
int cpu_softmax_xent(void *ctx, const llmrt_xent_desc *d);               /* cpu_xent.c */
int cpu_embedding_forward(void *ctx, void *out, const int32_t *ids, const void *table,
                          int64_t rows, int64_t dim, llmrt_dtype dtype, int accumulate);
int cpu_embedding_backward(void *ctx, void *dtable, const int32_t *ids, const void *dout,
                           int64_t rows, int64_t dim, llmrt_dtype dtype); /* cpu_embedding.c */
int cpu_add(void *ctx, void *out, const void *a, const void *b, size_t n, llmrt_dtype dtype);
int cpu_mul(void *ctx, void *out, const void *a, const void *b, size_t n, llmrt_dtype dtype);
int cpu_scale(void *ctx, void *x, size_t n, llmrt_dtype dtype, float alpha);
int cpu_relu_forward(void *ctx, void *out, const void *inp, size_t n,
                     llmrt_dtype dtype);                                 /* cpu_relu.c */
int cpu_relu_backward(void *ctx, void *dinp, const void *inp, const void *dout, size_t n,
                      llmrt_dtype dtype);
int cpu_convert(void *ctx, void *dst, llmrt_dtype dst_type, const void *src,
                llmrt_dtype src_type, size_t n);                         /* cpu_convert.c */
int cpu_adamw(void *ctx, const llmrt_adamw_desc *d);                     /* cpu_adamw.c */
int cpu_convert_ex(void *ctx, const llmrt_convert_desc *d);              /* cpu_convert.c */
int cpu_fake_quant_forward(void *ctx, const llmrt_fake_quant_desc *d);   /* cpu_fake_quant.c */
int cpu_fake_quant_backward(void *ctx, const llmrt_fake_quant_desc *d);

#endif /* LLMRT_CPU_INTERNAL_H */
