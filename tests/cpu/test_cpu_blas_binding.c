/* test_cpu_blas_binding.c — the cpu backend's products run on the OpenBLAS
 * it links even when another CBLAS comes first in the process.
 *
 * This program links libgslcblas (a reference CBLAS exporting the same
 * cblas_* names) directly, so the global scope serves cblas_sgemm from it
 * before the plugin's own dependencies: the situation of `llmrt`, whose
 * libllmrt links libgsl -> libgslcblas (cpu_blas.c says why the plugin binds
 * OpenBLAS's Fortran sgemm_). The plugin's gemm must equal OpenBLAS's (linked
 * second here, reached through sgemm_, which libgslcblas lacks) bit for bit
 * and differ from the reference CBLAS's (a k = 1031 sum rounds
 * differently in the two; if they happened to agree the test could not tell
 * them apart, and says so). One thread, so the backend makes one call.
 */
#include <gsl/gsl_cblas.h>
#include <string.h>

#include "cpu_test_util.h"

void sgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc);

START_TEST(gemm_runs_on_openblas)
{
    enum { M = 24, N = 40, K = 1031 };
    float *a = rbuf((size_t)M * K, -1, 1), *b = rbuf((size_t)K * N, -1, 1);
    float *c_plugin = fbuf((size_t)M * N);
    static float c_ref[M * N], c_open[M * N];
    llmrt_gemm_desc d = {.struct_size = sizeof d, .m = M, .n = N, .k = K, .alpha = 1.0f,
                         .a = a, .lda = K, .a_type = LLMRT_DTYPE_F32,
                         .b = b, .ldb = N, .b_type = LLMRT_DTYPE_F32,
                         .c = c_plugin, .ldc = N, .c_type = LLMRT_DTYPE_F32};
    ck_assert_int_eq(vt->gemm(ctx, &d), LLMRT_OK);

    /* What the process's global scope calls cblas_sgemm: the reference CBLAS
     * (linked first). */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f,
                c_ref, N);
    /* OpenBLAS, through the Fortran entry point the reference CBLAS does not
     * have (linked second): C^T = B^T A^T in column-major terms. */
    const char no = 'N';
    const int m = M, n = N, k = K, one_lda = K, one_ldb = N, ldc = N;
    const float alpha = 1.0f, beta = 0.0f;
    sgemm_(&no, &no, &n, &m, &k, &alpha, b, &one_ldb, a, &one_lda, &beta, c_open, &ldc);

    ck_assert_msg(memcmp(c_ref, c_open, sizeof c_ref) != 0,
                  "the reference CBLAS and OpenBLAS agree bit for bit here: this test cannot "
                  "tell which one the plugin used");
    expect_same("cpu gemm vs OpenBLAS sgemm_", c_plugin, c_open, sizeof c_open);
}
END_TEST

static void setup(void) { cpu_setup(7, "1"); }

int main(void)
{
    if (cpu_load_plugin("test_cpu_blas_binding")) return 1;
    Suite *s = suite_create("cpu_blas_binding");
    const cpu_test tests[] = {{"gemm_runs_on_openblas", gemm_runs_on_openblas}};
    cpu_add_tests(s, tests, 1, setup, 60);
    return cpu_run_suite(s);
}
