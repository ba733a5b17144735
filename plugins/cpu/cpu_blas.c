/* cpu_blas.c — the backend's matrix product, on the BLAS this plugin links
 * whatever other CBLAS the process has loaded.
 *
 * Why not cblas_sgemm: a dlopen'd plugin's undefined symbols are looked up in
 * the process's global scope (the executable and the libraries it loaded
 * first) before the plugin's own dependencies, so any other library exporting
 * cblas_* wins. libgsl (linked into libllmrt for `llmrt fit`) pulls in
 * libgslcblas, a reference CBLAS without a Fortran BLAS: with cblas_sgemm
 * every product silently ran there (orders of magnitude slower, rounded
 * differently). The Fortran entry point sgemm_ is exported by full BLAS
 * libraries only (OpenBLAS here), not by CBLAS-only wrappers like
 * libgslcblas, so the plugin calls that, with the row-major product written
 * as the column-major one it is (C^T = op(B)^T op(A)^T): exactly what
 * OpenBLAS's own cblas_sgemm does for CblasRowMajor, so results are the same
 * bits. (Binding by address through dlopen(RTLD_NOLOAD) works too, but makes
 * glibc 2.36 lose the plugin's dependency list: a leak valgrind reports.)
 * tests/cpu/test_cpu_blas_binding checks it in a process where libgslcblas
 * comes first.
 */
#include "cpu_internal.h"

#include <cblas.h> /* blasint */

/* The reference BLAS interface (column-major, arguments by address). */
void sgemm_(const char *transa, const char *transb, const blasint *m, const blasint *n,
            const blasint *k, const float *alpha, const float *a, const blasint *lda,
            const float *b, const blasint *ldb, const float *beta, float *c, const blasint *ldc);

void cpu_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
               int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    const char tra = ta ? 'T' : 'N', trb = tb ? 'T' : 'N';
    const blasint M = (blasint)n, N = (blasint)m, K = (blasint)k, LDA = (blasint)ldb,
                  LDB = (blasint)lda, LDC = (blasint)ldc;
    sgemm_(&trb, &tra, &M, &N, &K, &alpha, b, &LDA, a, &LDB, &beta, c, &LDC);
}
