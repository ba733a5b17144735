/* cpu_test_util.c — see cpu_test_util.h. */
#include "cpu_test_util.h"

#include <stdio.h>
#include <string.h>

const llmrt_plugin *plugin;
const llmrt_compute_vtable *vt;
void *ctx;

/* ------------------------------------------------------------------------ */
/* Buffers                                                                   */

#define MAX_BUFS 512
static void *bufs[MAX_BUFS];
static int n_bufs;

void *dbuf(size_t bytes)
{
    void *p = NULL;
    ck_assert_int_eq(vt->alloc(ctx, bytes, &p), LLMRT_OK);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_lt(n_bufs, MAX_BUFS);
    bufs[n_bufs++] = p;
    return p;
}

float *fbuf(size_t n) { return dbuf(n * sizeof(float)); }

void free_bufs(void)
{
    while (n_bufs) vt->free(ctx, bufs[--n_bufs]);
}

/* ------------------------------------------------------------------------ */
/* Random numbers                                                            */

static uint64_t rng;

void seed(uint64_t s) { rng = s * 0x9E3779B97F4A7C15ull + 1; }

uint64_t next_u64(void)
{
    /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
}

double urand(void) { return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
float frand(float lo, float hi) { return lo + (hi - lo) * (float)urand(); }
size_t irand(size_t n) { return (size_t)(next_u64() % n); }

float *rbuf(size_t n, float lo, float hi)
{
    float *p = fbuf(n);
    for (size_t i = 0; i < n; i++) p[i] = frand(lo, hi);
    return p;
}

float *copyf(const float *x, size_t n)
{
    float *p = fbuf(n);
    memcpy(p, x, n * sizeof *p);
    return p;
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                    */

void expect_same(const char *what, const void *a, const void *b, size_t bytes)
{
    ck_assert_msg(memcmp(a, b, bytes) == 0, "%s: results differ in their bits", what);
}

void expect_error(int rc, int code, const char *w1, const char *w2, const char *w3)
{
    const char *msg = test_host_error();
    ck_assert_msg(rc == code, "status %d, want %d (message: %s)", rc, code, msg);
    ck_assert_msg(strstr(msg, "cpu") != NULL, "message does not name cpu: %s", msg);
    if (w1) ck_assert_msg(strstr(msg, w1) != NULL, "message lacks '%s': %s", w1, msg);
    if (w2) ck_assert_msg(strstr(msg, w2) != NULL, "message lacks '%s': %s", w2, msg);
    if (w3) ck_assert_msg(strstr(msg, w3) != NULL, "message lacks '%s': %s", w3, msg);
}

/* ------------------------------------------------------------------------ */
/* Fixture, suite, plugin                                                    */

void *create_with(const char *threads)
{
    void *c = NULL;
    test_host_set_param("threads", threads);
    int rc = vt->create(test_host(), test_host_params(), &c);
    ck_assert_msg(rc == 0, "create failed: %s", test_host_error());
    test_host_set_param("threads", NULL);
    return c;
}

void cpu_setup(uint64_t rng_seed, const char *threads)
{
    test_host_reset();
    test_host_set_param("peak_gflops", "100");
    seed(rng_seed);
    ctx = create_with(threads);
}

void cpu_teardown(void)
{
    free_bufs();
    vt->destroy(ctx);
    ctx = NULL;
}

void cpu_add_tests(Suite *s, const cpu_test *tests, size_t n, void (*setup)(void),
                   double timeout)
{
    for (size_t i = 0; i < n; i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_add_checked_fixture(tc, setup, cpu_teardown);
        tcase_set_timeout(tc, timeout);
        tcase_add_test(tc, tests[i].test);
        suite_add_tcase(s, tc);
    }
}

int cpu_load_plugin(const char *prog)
{
    char why[4200];
    plugin = test_load_plugin("llmrt-compute-cpu.so", why, sizeof why);
    if (!plugin) {
        fprintf(stderr, "%s: %s\n", prog, why);
        return 1;
    }
    if (plugin->n_components < 1 || !plugin->components[0].vtable) {
        fprintf(stderr, "%s: the cpu plugin has no compute component\n", prog);
        return 1;
    }
    vt = plugin->components[0].vtable;
    return 0;
}

int cpu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
