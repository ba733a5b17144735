/* bench_convert.c — the cpu backend's conversion kernels (convert_ex) on a
 * large fp32 tensor, in GB/s of bytes read plus bytes written, beside a
 * memcpy of the same number of bytes measured in the same run (the ratio is
 * the figure that travels between machines). Prints a table; asserts
 * nothing (bench/README.md).
 *
 * usage: bench_convert [MiB of fp32, default 64] [--set section.key=value]...
 * (e.g. --set cpu.threads=2). The plugin is found like any other: the
 * config's plugin_path, LLMRT_PLUGIN_PATH, the installed directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/llmrt.h>

#include "config.h"
#include "error.h"
#include "host_api.h"
#include "registry.h"

#define REPS 15

static double now(void) { return llmrt_host_api_get()->now(); }

typedef struct bench {
    const llmrt_compute_vtable *vt;
    void *ctx;
} bench;

/* Best of REPS runs of one conversion and of a memcpy of `copy_bytes`,
 * alternated so that both see the same load on a shared machine; one
 * warm-up run of each first (page faults). */
static void time_pair(const bench *b, const llmrt_convert_desc *d, void *dst, const void *src,
                      size_t copy_bytes, double *t_convert, double *t_memcpy)
{
    *t_convert = *t_memcpy = 1e30;
    for (int r = 0; r <= REPS; r++) {
        double t0 = now();
        if (b->vt->convert_ex(b->ctx, d) != 0) {
            fprintf(stderr, "bench_convert: %s\n", llmrt_last_error());
            exit(1);
        }
        double t1 = now();
        memcpy(dst, src, copy_bytes);
        double t2 = now();
        if (r > 0 && t1 - t0 < *t_convert) *t_convert = t1 - t0;
        if (r > 0 && t2 - t1 < *t_memcpy) *t_memcpy = t2 - t1;
    }
}

int main(int argc, char **argv)
{
    size_t mib = 64;
    llmrt_config *cfg = NULL;
    if (llmrt_config_new(&cfg) != 0) return 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            if (llmrt_config_set(cfg, argv[++i]) != 0) {
                fprintf(stderr, "bench_convert: %s\n", llmrt_last_error());
                return 1;
            }
        } else {
            mib = (size_t)strtoul(argv[i], NULL, 10);
            if (mib < 1) mib = 1;
        }
    }
    const llmrt_component *comp = NULL;
    if (llmrt_registry_init(NULL) != 0 ||
        llmrt_registry_find(LLMRT_KIND_COMPUTE, "cpu", &comp, NULL) != 0) {
        fprintf(stderr, "bench_convert: %s\n", llmrt_last_error());
        return 1;
    }
    bench b = {comp->vtable, NULL};
    if (!LLMRT_HAS(b.vt, b.vt->struct_size, convert_ex)) {
        fprintf(stderr, "bench_convert: the cpu backend has no convert_ex (ABI 1.1)\n");
        return 1;
    }
    if (b.vt->create(llmrt_host_api_get(), llmrt_config_params(cfg, "cpu"), &b.ctx) != 0) {
        fprintf(stderr, "bench_convert: %s\n", llmrt_last_error());
        return 1;
    }
    llmrt_compute_caps caps = {.struct_size = sizeof caps};
    b.vt->get_caps(b.ctx, &caps);

    const size_t n = mib << 18; /* fp32 values in `mib` MiB */
    const int64_t cols = 4096, rows = (int64_t)(n / (size_t)cols);
    float *x = NULL, *y = NULL, *scales = NULL;
    uint16_t *h = NULL;
    int8_t *q = NULL;
    if (b.vt->alloc(b.ctx, n * 4, (void **)&x) || b.vt->alloc(b.ctx, n * 4, (void **)&y) ||
        b.vt->alloc(b.ctx, n * 2, (void **)&h) || b.vt->alloc(b.ctx, n, (void **)&q) ||
        b.vt->alloc(b.ctx, (size_t)cols * 4, (void **)&scales)) {
        fprintf(stderr, "bench_convert: %s\n", llmrt_last_error());
        return 1;
    }
    uint64_t state = 1;
    for (size_t i = 0; i < n; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(state >> 40) / (double)(1u << 24) * 8.0 - 4.0);
    }
    for (int64_t j = 0; j < cols; j++) scales[j] = 4.0f / 127.0f * (1.0f + (float)j / (float)cols);
    memset(y, 0, n * 4);
    memset(h, 0, n * 2);
    memset(q, 0, n);

    struct {
        const char *name;
        llmrt_dtype dst_type, src_type;
        void *dst;
        const void *src;
        llmrt_rounding rounding;
        const float *scales;
    } cases[] = {
        {"f32->bf16", LLMRT_DTYPE_BF16, LLMRT_DTYPE_F32, h, x, LLMRT_ROUND_NEAREST_EVEN, NULL},
        {"bf16->f32", LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16, y, h, LLMRT_ROUND_NEAREST_EVEN, NULL},
        {"f32->f16", LLMRT_DTYPE_F16, LLMRT_DTYPE_F32, h, x, LLMRT_ROUND_NEAREST_EVEN, NULL},
        {"f16->f32", LLMRT_DTYPE_F32, LLMRT_DTYPE_F16, y, h, LLMRT_ROUND_NEAREST_EVEN, NULL},
        {"f32->i8 (per column)", LLMRT_DTYPE_I8, LLMRT_DTYPE_F32, q, x, LLMRT_ROUND_NEAREST_EVEN,
         scales},
        {"i8->f32 (per column)", LLMRT_DTYPE_F32, LLMRT_DTYPE_I8, y, q, LLMRT_ROUND_NEAREST_EVEN,
         scales},
        {"f32->bf16 stochastic", LLMRT_DTYPE_BF16, LLMRT_DTYPE_F32, h, x, LLMRT_ROUND_STOCHASTIC,
         NULL},
    };
    printf("machine: %s\n", caps.device_name);
    printf("tensor: %zu MiB of fp32 (%lld x %lld); best of %d runs; memcpy: glibc, one "
           "thread\n",
           mib, (long long)rows, (long long)cols, REPS);
    printf("%-22s %10s %12s %10s %14s %8s\n", "kernel", "ms", "bytes (MiB)", "GB/s",
           "memcpy GB/s", "ratio");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        llmrt_convert_desc d = {.struct_size = sizeof d, .rows = rows, .cols = cols,
                                .dst = cases[c].dst, .dst_type = cases[c].dst_type,
                                .src = cases[c].src, .src_type = cases[c].src_type,
                                .rounding = cases[c].rounding, .seed = 42, .offset = 0,
                                .scales = cases[c].scales, .axis = 1};
        size_t bytes = n * (llmrt_dtype_size(cases[c].dst_type) +
                            llmrt_dtype_size(cases[c].src_type));
        /* memcpy of the same traffic: bytes / 2 copied (read + written);
         * y is free for it, no case reads y after writing it */
        double t, tm;
        time_pair(&b, &d, y, x, bytes / 2, &t, &tm);
        double gbs = (double)bytes / t / 1e9, mgbs = (double)bytes / tm / 1e9;
        printf("%-22s %10.2f %12.0f %10.2f %14.2f %8.2f\n", cases[c].name, t * 1e3,
               (double)bytes / (1 << 20), gbs, mgbs, gbs / mgbs);
    }
    b.vt->free(b.ctx, x);
    b.vt->free(b.ctx, y);
    b.vt->free(b.ctx, h);
    b.vt->free(b.ctx, q);
    b.vt->free(b.ctx, scales);
    b.vt->destroy(b.ctx);
    llmrt_config_free(cfg);
    return 0;
}
