/* cuda_test_util.c — see cuda_test_util.h. */
#include "cuda_test_util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const llmrt_compute_vtable *cpu_vt, *gpu_vt;
void *cpu, *gpu;

static uint64_t rng = 88172645463325252ull;
float frand(float lo, float hi)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    double u = (double)((rng * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
    return lo + (hi - lo) * (float)u;
}

#define MAXBUF 256
static void *cbufs[MAXBUF], *gbufs[MAXBUF];
static int ncb, ngb;

float *hrand(size_t n, float lo, float hi)
{
    void *p = NULL;
    ck_assert_int_eq(cpu_vt->alloc(cpu, n * sizeof(float), &p), LLMRT_OK);
    ck_assert_int_lt(ncb, MAXBUF);
    cbufs[ncb++] = p;
    float *f = p;
    for (size_t i = 0; i < n; i++) f[i] = frand(lo, hi);
    return f;
}

void *hcopy(const void *src, size_t bytes)
{
    void *p = NULL;
    ck_assert_int_eq(cpu_vt->alloc(cpu, bytes ? bytes : 1, &p), LLMRT_OK);
    ck_assert_int_lt(ncb, MAXBUF);
    cbufs[ncb++] = p;
    memcpy(p, src, bytes);
    return p;
}

void *dev(const void *h, size_t bytes)
{
    void *p = NULL;
    ck_assert_msg(gpu_vt->alloc(gpu, bytes, &p) == LLMRT_OK, "cuda alloc: %s", test_host_error());
    ck_assert_int_lt(ngb, MAXBUF);
    gbufs[ngb++] = p;
    if (h) ck_assert_int_eq(gpu_vt->copy_to_device(gpu, p, h, bytes, NULL), LLMRT_OK);
    return p;
}

static void compare(const char *what, const float *ref, const void *d, size_t n, double rel,
                    double abs_frac)
{
    float *g = malloc(n * sizeof *g);
    ck_assert_ptr_nonnull(g);
    ck_assert_msg(gpu_vt->copy_to_host(gpu, g, d, n * sizeof *g, NULL) == LLMRT_OK,
                  "%s: copy_to_host: %s", what, test_host_error());
    double maxabs = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(ref[i]) && fabs(ref[i]) > maxabs) maxabs = fabs(ref[i]);
    for (size_t i = 0; i < n; i++) {
        double tol = rel * fabs(ref[i]) + abs_frac * maxabs;
        if (g[i] == ref[i]) continue; /* also equal infinities */
        if (!(fabs((double)g[i] - (double)ref[i]) <= tol) && !(isnan(g[i]) && isnan(ref[i]))) {
            free(g);
            ck_abort_msg("%s[%zu]: cuda %.9g, cpu %.9g (tolerance %.3g)", what, i, (double)g[i],
                         (double)ref[i], tol);
        }
    }
    free(g);
}

void cmp(const char *what, const float *ref, const void *d, size_t n)
{
    compare(what, ref, d, n, 1e-5, 1e-6);
}

void cmp_tol(const char *what, const float *ref, const void *d, size_t n, double rel)
{
    compare(what, ref, d, n, rel, 0.1 * rel);
}

void cuda_test_setup(void)
{
    test_host_reset();
    ck_assert_msg(cpu_vt->create(test_host(), test_host_params(), &cpu) == LLMRT_OK, "cpu: %s",
                  test_host_error());
    ck_assert_msg(gpu_vt->create(test_host(), test_host_params(), &gpu) == LLMRT_OK, "cuda: %s",
                  test_host_error());
}

void cuda_test_teardown(void)
{
    for (int i = 0; i < ngb; i++) gpu_vt->free(gpu, gbufs[i]);
    for (int i = 0; i < ncb; i++) cpu_vt->free(cpu, cbufs[i]);
    ngb = ncb = 0;
    gpu_vt->destroy(gpu);
    cpu_vt->destroy(cpu);
}

static const llmrt_compute_vtable *load(const char *prog, const char *file)
{
    char why[1024];
    const llmrt_plugin *p = test_load_plugin(file, why, sizeof why);
    if (!p) {
        fprintf(stderr, "%s: %s\n", prog, why);
        exit(1);
    }
    return p->components[0].vtable;
}

void cuda_test_load(const char *prog)
{
    char why[1024];
    const llmrt_plugin *pc = test_load_plugin("llmrt-compute-cuda.so", why, sizeof why);
    if (!pc) {
        fprintf(stderr, "%s: %s\n", prog, why);
        exit(1);
    }
    if (pc->components[0].probe && pc->components[0].probe(test_host()) <= 0) {
        fprintf(stderr, "%s: SKIP: %s\n", prog, test_host_error());
        exit(77);
    }
    gpu_vt = pc->components[0].vtable;
    cpu_vt = load(prog, "llmrt-compute-cpu.so");
}

int cuda_test_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
