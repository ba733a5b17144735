/* cpu_test_util.h — what the cpu backend suites (test_cpu_ops,
 * test_cpu_formats) share: the plugin loaded from $LLMRT_PLUGIN_PATH with the
 * host table of host_stub.h, one context a test, device buffers freed at
 * teardown, a seeded xorshift64* generator, bitwise and error-message checks,
 * and the suite runner.
 */
#ifndef LLMRT_TESTS_CPU_CPU_TEST_UTIL_H
#define LLMRT_TESTS_CPU_CPU_TEST_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "host_stub.h"

/* The loaded plugin, its compute vtable, and the context of the running
 * test (created by cpu_setup, destroyed by cpu_teardown). */
extern const llmrt_plugin *plugin;
extern const llmrt_compute_vtable *vt;
extern void *ctx;

/* Device buffers from vt->alloc on ctx, all freed by free_bufs() (and at
 * teardown). */
void *dbuf(size_t bytes);
float *fbuf(size_t n);
void free_bufs(void);

/* xorshift64*, seeded by seed(); urand in [0, 1), frand in [lo, hi), irand
 * in [0, n). */
void seed(uint64_t s);
uint64_t next_u64(void);
double urand(void);
float frand(float lo, float hi);
size_t irand(size_t n);

/* A buffer of n values from frand(lo, hi); a buffer holding a copy of x. */
float *rbuf(size_t n, float lo, float hi);
float *copyf(const float *x, size_t n);

/* The two results have the same bits. */
void expect_same(const char *what, const void *a, const void *b, size_t bytes);

/* rc == code, and the recorded message names cpu and each of the words
 * that is not NULL. */
void expect_error(int rc, int code, const char *w1, const char *w2, const char *w3);

/* A context with parameter threads = `threads` (NULL: the default). */
void *create_with(const char *threads);

/* The checked fixture: reset the host stub, give a peak (tests other than
 * the caps test do not time sgemm), seed the generator and create ctx with
 * `threads`; teardown frees the buffers and destroys ctx. */
void cpu_setup(uint64_t rng_seed, const char *threads);
void cpu_teardown(void);

/* Add each test as its own tcase, with setup/cpu_teardown as the checked
 * fixture and the given timeout in seconds. */
typedef struct {
    const char *name;
    const TTest *test;
} cpu_test;
void cpu_add_tests(Suite *s, const cpu_test *tests, size_t n, void (*setup)(void),
                   double timeout);

/* Load llmrt-compute-cpu.so and set plugin and vt: 0, or 1 with the reason
 * on stderr after "prog: ". */
int cpu_load_plugin(const char *prog);

/* Run the suite: the exit status (1 if a test failed). */
int cpu_run_suite(Suite *s);

#endif
