/* bench_train.c — training throughput of one model shape on the configured
 * backend: tokens/s, achieved GFLOP/s and MFU, beside cblas_sgemm's GFLOP/s
 * measured in the same run, and peak RSS against the memory the runtime
 * predicts. Prints figures; asserts nothing (bench/README.md).
 *
 * usage: bench_train NAME LAYERS HEADS DIM VOCAB CONTEXT BATCH T [STEPS]
 *        [--set section.key=value]...
 * The model is built with [model] context = CONTEXT (so the parameter count
 * is the real one) and trained on random tokens in sequences of T. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "error.h"
#include "host_api.h"
#include "rng.h"
#include "train.h"

/* OpenBLAS extensions (declared in its cblas.h on Debian, repeated here in
 * case another CBLAS header is found first). */
char *openblas_get_corename(void);
char *openblas_get_config(void);

static double now(void) { return llmrt_host_api_get()->now(); }

/* Current and peak resident set size in bytes (from /proc). */
static void rss(size_t *current, size_t *peak)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    *current = *peak = 0;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        unsigned long kb;
        if (sscanf(line, "VmRSS: %lu kB", &kb) == 1) *current = kb * 1024;
        if (sscanf(line, "VmHWM: %lu kB", &kb) == 1) *peak = kb * 1024;
    }
    fclose(f);
}

/* GFLOP/s of a square sgemm of size n, best of `reps`. */
static double sgemm_gflops(int n, int reps)
{
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
          *c = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) a[i] = b[i] = 1.0f / (float)(1 + i % 7);
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                    c, n);
        double dt = now() - t0;
        if (r > 0 && dt < best) best = dt; /* the first call warms up */
    }
    free(a), free(b), free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 9) {
        fprintf(stderr, "usage: %s NAME LAYERS HEADS DIM VOCAB CONTEXT BATCH T [STEPS] "
                        "[--set section.key=value]...\n", argv[0]);
        return 2;
    }
    const char *name = argv[1];
    int B = atoi(argv[7]), T = atoi(argv[8]);
    int steps = argc > 9 && strncmp(argv[9], "--", 2) ? atoi(argv[9]) : 5;
    llmrt_config *cfg;
    char set[128];
    if (llmrt_config_new(&cfg)) return 1;
    const char *keys[] = {"layers", "heads", "dim", "vocab", "context"};
    for (int i = 0; i < 5; i++) {
        snprintf(set, sizeof set, "model.%s=%s", keys[i], argv[2 + i]);
        if (llmrt_config_set(cfg, set)) goto fail;
    }
    for (int i = 9; i < argc; i++)
        if (!strcmp(argv[i], "--set") && i + 1 < argc && llmrt_config_set(cfg, argv[++i]))
            goto fail;

    size_t rss_start, peak;
    rss(&rss_start, &peak);
    double sgemm = sgemm_gflops(1024, 3);
    llmrt_session s;
    if (llmrt_session_open(&s, cfg, B, T) || llmrt_session_init_params(&s, 1)) goto fail;
    const llmrt_gpt_config *mc = &s.model_cfg;

    llmrt_rng rng;
    llmrt_rng_seed(&rng, 42);
    size_t n = (size_t)B * T;
    int32_t *in = malloc(n * sizeof *in), *tg = malloc(n * sizeof *tg);
    for (size_t i = 0; i < n; i++) {
        in[i] = (int32_t)llmrt_rng_below(&rng, (uint64_t)mc->vocab);
        tg[i] = (int32_t)llmrt_rng_below(&rng, (uint64_t)mc->vocab);
    }
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(s.rt, &sctx);
    double total = 0.0;
    size_t rss_peak_step = 0;
    for (int step = 0; step <= steps; step++) { /* step 0 warms up */
        double t0 = now(), norm_sq;
        float loss;
        llmrt_optim_step os = {.struct_size = sizeof os, .lr = 3e-4f, .beta1 = 0.9f,
                               .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                               .grad_scale = 1.0f, .t = step + 1};
        if (llmrt_rt_begin_microbatch(s.rt, 0, 1) ||
            llmrt_gpt_forward(s.model, in, tg, B, T, &loss) ||
            llmrt_gpt_backward(s.model, 1.0f) || st->grad_norm_sq(sctx, &norm_sq))
            goto fail;
        double norm = norm_sq > 1.0 ? 1.0 / sqrt(norm_sq) : 1.0; /* clip to 1 */
        os.grad_scale = (float)norm;
        if (st->optimizer_step(sctx, &os)) goto fail;
        double dt = now() - t0;
        size_t cur;
        rss(&cur, &peak);
        if (step > 0) total += dt;
        if (cur > rss_peak_step) rss_peak_step = cur;
        fprintf(stderr, "  step %d: %.3f s, loss %.4f, RSS %.1f MiB\n", step, dt, loss,
                cur / 1048576.0);
    }
    double tps = (double)n * steps / total;
    double flops = llmrt_gpt_flops_per_token(mc, T) * tps;
    const llmrt_compute_caps *caps = llmrt_rt_compute_caps(s.rt);

    size_t plan[LLMRT_MEM_CATEGORY_COUNT] = {0}, predicted = 0;
    st->plan(llmrt_host_api_get(), NULL, llmrt_gpt_layout(s.model), 1, 0, plan);
    plan[LLMRT_MEM_ACTIVATIONS] = llmrt_gpt_activation_bytes(mc, B, T);
    for (int c = 0; c < LLMRT_MEM_CATEGORY_COUNT; c++) predicted += plan[c];
    size_t measured = 0;
    for (int c = 0; c < LLMRT_MEM_CATEGORY_COUNT; c++)
        measured += llmrt_rt_mem_peak(s.rt, (llmrt_mem_category)c);

    printf("llmrt %s params=%zu B=%d T=%d tokens_per_s=%.1f step_s=%.4f gflops=%.1f "
           "sgemm_gflops=%.1f sgemm_fraction=%.3f mfu=%.3f peak_source=\"%s\" blas=\"%s\"\n",
           name, llmrt_gpt_n_params(mc), B, T, tps, total / steps, flops / 1e9, sgemm,
           flops / 1e9 / sgemm, caps->peak_flops_f32 > 0 ? flops / caps->peak_flops_f32 : 0.0,
           caps->peak_source ? caps->peak_source : "", openblas_get_corename());
    printf("llmrt %s memory predicted_mib=%.1f accounted_mib=%.1f rss_start_mib=%.1f "
           "rss_peak_mib=%.1f rss_growth_mib=%.1f rss_growth_over_predicted=%.3f "
           "rss_peak_over_predicted=%.3f\n",
           name, predicted / 1048576.0, measured / 1048576.0, rss_start / 1048576.0,
           rss_peak_step / 1048576.0, (rss_peak_step - rss_start) / 1048576.0,
           (double)(rss_peak_step - rss_start) / (double)predicted,
           (double)rss_peak_step / (double)predicted);
    free(in), free(tg);
    llmrt_session_close(&s);
    llmrt_config_free(cfg);
    return 0;
fail:
    fprintf(stderr, "bench_train: %s\n", llmrt_last_error());
    return 1;
}
