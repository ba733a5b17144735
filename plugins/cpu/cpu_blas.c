/* cpu_blas.c — the backend's matrix product, bound to the OpenBLAS this
 * plugin was linked against, whatever else the process has loaded.
 *
 * Why not call cblas_sgemm by name: a dlopen'd plugin's undefined symbols are
 * looked up in the process's global scope (the executable and the libraries
 * it loaded first) before the plugin's own dependencies. Any other CBLAS
 * there wins: libgsl (linked into libllmrt for `llmrt fit`) pulls in
 * libgslcblas, a reference CBLAS with the same cblas_* names, and a host
 * program embedding llmrt may have MKL or another BLAS. Then every product
 * would silently run on that library: slower by orders of magnitude and
 * rounded differently. So the plugin finds its own OpenBLAS through a symbol
 * only OpenBLAS has (openblas_get_config), opens that very file again with
 * RTLD_NOLOAD (no second copy) and takes cblas_sgemm from its handle.
 * tests/cpu/test_cpu_blas_binding checks it in a process where libgslcblas
 * comes first.
 */
#define _GNU_SOURCE /* dladdr */
#include "cpu_internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include <cblas.h>

typedef void (*cpu_sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
                             const enum CBLAS_TRANSPOSE, const blasint, const blasint,
                             const blasint, const float, const float *, const blasint,
                             const float *, const blasint, const float, float *, const blasint);

static cpu_sgemm_fn bound_sgemm;
static char bound_path[512];
static char bind_failure[600];
static pthread_once_t bind_once = PTHREAD_ONCE_INIT;

static void bind_openblas(void)
{
    Dl_info info;
    if (!dladdr((void *)&openblas_get_config, &info) || !info.dli_fname) {
        snprintf(bind_failure, sizeof bind_failure,
                 "cannot find the file of OpenBLAS's openblas_get_config (dladdr failed)");
        return;
    }
    void *h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    if (!h) {
        snprintf(bind_failure, sizeof bind_failure, "dlopen(%s, RTLD_NOLOAD): %s",
                 info.dli_fname, dlerror());
        return;
    }
    void *sym = dlsym(h, "cblas_sgemm");
    /* The plugin's own DT_NEEDED keeps the library loaded; this handle was
     * only a second reference. */
    dlclose(h);
    if (!sym) {
        snprintf(bind_failure, sizeof bind_failure, "%s has no cblas_sgemm", info.dli_fname);
        return;
    }
    memcpy(&bound_sgemm, &sym, sizeof bound_sgemm); /* POSIX: data to function pointer */
    snprintf(bound_path, sizeof bound_path, "%s", info.dli_fname);
}

int cpu_blas_bind(const llmrt_host_api *host)
{
    pthread_once(&bind_once, bind_openblas);
    if (!bound_sgemm)
        return host->error(LLMRT_ERR_UNSUPPORTED, "cpu: cannot bind OpenBLAS's cblas_sgemm: %s",
                           bind_failure);
    return LLMRT_OK;
}

const char *cpu_blas_path(void) { return bound_path; }

void cpu_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
               int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    bound_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta,
                c, (blasint)ldc);
}
