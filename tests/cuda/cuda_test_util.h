/* cuda_test_util.h — what every tests/cuda program shares: the cpu and cuda
 * backends loaded from $LLMRT_PLUGIN_PATH (host table of tests/cpu/host_stub.h),
 * random data, buffers freed by the fixture, and the fp32 comparison.
 *
 * fp32 results must agree within 1e-5 relative: |gpu - cpu| <= 1e-5 |cpu| +
 * 1e-6 max|cpu| over the tensor (the second term covers results that cancel
 * to near zero, where the two backends' summation orders differ by a few ulps
 * of the terms, not of the result).
 */
#ifndef LLMRT_TESTS_CUDA_TEST_UTIL_H
#define LLMRT_TESTS_CUDA_TEST_UTIL_H

#include <check.h>
#include <stddef.h>

#include "../cpu/host_stub.h"

extern const llmrt_compute_vtable *cpu_vt, *gpu_vt;
extern void *cpu, *gpu;

/* Uniform in [lo, hi) from one fixed xorshift stream. */
float frand(float lo, float hi);
/* A cpu buffer (host memory) of n random floats in [lo, hi), freed by teardown. */
float *hrand(size_t n, float lo, float hi);
/* A cpu buffer holding a copy of `bytes` bytes of src, freed by teardown. */
void *hcopy(const void *src, size_t bytes);
/* A device buffer of `bytes` (a copy of h when h is not NULL), freed by teardown. */
void *dev(const void *h, size_t bytes);
/* Compare n floats of the cpu result ref with device memory d (tolerance above). */
void cmp(const char *what, const float *ref, const void *d, size_t n);
/* Compare with an explicit relative tolerance: |gpu - cpu| <= rel (|cpu| + 0.1 max|cpu|). */
void cmp_tol(const char *what, const float *ref, const void *d, size_t n, double rel);

#define OK(call) ck_assert_msg((call) == LLMRT_OK, "%s: %s", #call, test_host_error())

/* Fixture: both backends created / every buffer freed and both destroyed. */
void cuda_test_setup(void);
void cuda_test_teardown(void);

/* Loads both plugins; exits 77 (automake's SKIP) when cuda's probe finds no
 * usable GPU, 1 when a plugin cannot load. `prog` names the program in messages. */
void cuda_test_load(const char *prog);

/* Runs the suite in one process (a CUDA context does not survive fork());
 * returns main's exit status. */
int cuda_test_run(Suite *s);

#endif
