/* cpu_peak.c — the fp32 peak the core divides by for MFU, and the names that
 * describe the machine (CPU model, OpenBLAS kernel).
 *
 * [cpu] peak_gflops > 0 is taken as given. Otherwise the first get_caps()
 * times the backend's own gemm path (cblas_sgemm split over the configured
 * threads) on a 2048^3 product, keeps the best of a few repetitions (~0.5 s in
 * all), and caches the figure in
 *   $XDG_CACHE_HOME/llmrt/cpu-peak-<model>-<blas core>-<threads>t
 * (or $HOME/.cache/llmrt/...), so later runs on the same machine and thread
 * count reuse it. The file repeats its key in full and is ignored when the
 * key differs; a cache that cannot be read or written is not an error.
 */
#include "cpu_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

const char *cpu_blas_corename(void)
{
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}

const char *cpu_blas_config(void)
{
    const char *s = openblas_get_config();
    return s ? s : "unknown";
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    size_t i = 0;
    while (s[i] && isspace((unsigned char)s[i])) i++;
    if (i) memmove(s, s + i, n - i + 1);
}

void cpu_read_cpu_model(char *buf, size_t size)
{
    snprintf(buf, size, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    /* x86: "model name"; arm64 kernels print no model name, only parts. */
    static const char *const keys[] = {"model name", "Model", "Hardware", "cpu model"};
    int best = (int)(sizeof keys / sizeof keys[0]);
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = '\0';
        trim(line);
        for (int i = 0; i < best; i++) {
            if (strcmp(line, keys[i]) == 0) {
                char *v = colon + 1;
                trim(v);
                if (*v) {
                    snprintf(buf, size, "%s", v);
                    best = i;
                }
                break;
            }
        }
        if (best == 0) break;
    }
    fclose(f);
}

static double now_s(const cpu_ctx *c)
{
    if (c->host->now) return c->host->now();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* File name characters: [A-Za-z0-9._-], everything else becomes '_'. */
static void sanitize(char *dst, size_t size, const char *src)
{
    size_t j = 0;
    for (size_t i = 0; src[i] && j + 1 < size; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[j++] = (char)(isalnum(ch) || ch == '.' || ch == '-' ? ch : '_');
    }
    dst[j] = '\0';
}

/* The cache file's path, creating its directory; 0 when there is none. */
static int cache_path(const cpu_ctx *c, char *path, size_t size)
{
    char dir[4096];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/') n = snprintf(dir, sizeof dir, "%s", xdg);
    else if (home && home[0] == '/') n = snprintf(dir, sizeof dir, "%s/.cache", home);
    else return 0;
    if (n < 0 || (size_t)n >= sizeof dir) return 0;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return 0; /* XDG: 0700 when created */
    size_t len = strlen(dir);
    if (len + 7 >= sizeof dir) return 0;
    memcpy(dir + len, "/llmrt", 7);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return 0;
    char model[96], core[48];
    sanitize(model, sizeof model, c->cpu_model);
    sanitize(core, sizeof core, cpu_blas_corename());
    return (size_t)snprintf(path, size, "%s/cpu-peak-%s-%s-%dt", dir, model, core, c->threads) <
           size;
}

static int cache_read(const cpu_ctx *c, const char *path, double *gflops)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[1024];
    int ok_magic = 0, ok_model = 0, ok_blas = 0, ok_threads = 0, ok_value = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq) {
            ok_magic |= strcmp(line, "llmrt cpu peak v1") == 0;
            continue;
        }
        *eq = '\0';
        const char *v = eq + 1;
        if (strcmp(line, "model") == 0) ok_model = strcmp(v, c->cpu_model) == 0;
        else if (strcmp(line, "blas") == 0) ok_blas = strcmp(v, cpu_blas_config()) == 0;
        else if (strcmp(line, "threads") == 0) ok_threads = atoi(v) == c->threads;
        else if (strcmp(line, "gflops") == 0) {
            char *end;
            *gflops = strtod(v, &end);
            ok_value = end != v && *gflops > 0 && *gflops < 1e9;
        }
    }
    fclose(f);
    return ok_magic && ok_model && ok_blas && ok_threads && ok_value;
}

/* Written to a temporary file and renamed, so that ranks starting together
 * never read half a file. */
static int cache_write(const cpu_ctx *c, const char *path, double gflops)
{
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= sizeof tmp)
        return 0;
    FILE *f = fopen(tmp, "w");
    if (!f) return 0;
    int ok = fprintf(f, "llmrt cpu peak v1\nmodel=%s\nblas=%s\nthreads=%d\ngflops=%.3f\n",
                     c->cpu_model, cpu_blas_config(), c->threads, gflops) > 0;
    ok = (fclose(f) == 0) && ok;
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) unlink(tmp);
    return ok;
}

static int measure(cpu_ctx *c, double *gflops)
{
    /* 2048^3 (17 GFLOP) sustains the rate better than smaller products, and
     * best-of-several over ~0.5 s rides out a noisy neighbour; it is done
     * once and cached, so the cost is paid once per machine. */
    const int64_t n = 2048;
    const size_t elems = (size_t)(n * n);
    float *a = NULL, *b = NULL, *m = NULL;
    if (posix_memalign((void **)&a, 64, elems * sizeof *a) ||
        posix_memalign((void **)&b, 64, elems * sizeof *b) ||
        posix_memalign((void **)&m, 64, elems * sizeof *m)) {
        free(a);
        free(b);
        return c->host->error(LLMRT_ERR_NOMEM,
                              "cpu: out of memory measuring the sgemm peak (%zu bytes)",
                              3 * elems * sizeof *a);
    }
    for (size_t i = 0; i < elems; i++) {
        a[i] = (float)(i % 17) * 0.01f;
        b[i] = (float)(i % 13) * 0.01f;
    }
    int rc = cpu_gemm_f32(c, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, m, n, NULL); /* warm-up */
    double best = 1e30, start = now_s(c);
    for (int rep = 0; rc == 0 && rep < 20; rep++) {
        double t0 = now_s(c);
        rc = cpu_gemm_f32(c, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, m, n, NULL);
        double t = now_s(c) - t0;
        if (t > 0 && t < best) best = t;
        if (rep >= 3 && now_s(c) - start > 0.5) break;
    }
    free(a);
    free(b);
    free(m);
    if (rc) return rc;
    *gflops = 2.0 * (double)n * (double)n * (double)n / best * 1e-9;
    return LLMRT_OK;
}

int cpu_measure_caps(cpu_ctx *c)
{
    if (c->peak_gflops_param > 0) {
        c->peak_flops = c->peak_gflops_param * 1e9;
        snprintf(c->peak_source, sizeof c->peak_source, "[cpu] peak_gflops");
        return LLMRT_OK;
    }
    char path[4096];
    int have_path = cache_path(c, path, sizeof path);
    double gflops = 0;
    if (have_path && cache_read(c, path, &gflops)) {
        c->peak_flops = gflops * 1e9;
        snprintf(c->peak_source, sizeof c->peak_source, "measured cblas_sgemm (cached in %s)",
                 path);
        return LLMRT_OK;
    }
    int rc = measure(c, &gflops);
    if (rc) return rc;
    c->peak_flops = gflops * 1e9;
    if (have_path && cache_write(c, path, gflops))
        snprintf(c->peak_source, sizeof c->peak_source, "measured cblas_sgemm (cached in %s)",
                 path);
    else
        snprintf(c->peak_source, sizeof c->peak_source, "measured cblas_sgemm");
    if (c->host->log)
        c->host->log(LLMRT_LOG_INFO, "cpu", "sgemm peak %.1f GFLOP/s (%s)", gflops,
                     c->peak_source);
    return LLMRT_OK;
}
