/* quant_test_util.c — see quant_test_util.h. */
#include "quant_test_util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/valgrind.h>

#include "error.h"
#include "registry.h"

const llmrt_format *qt_format(const char *name, const char **file)
{
    static int initialised;
    if (!initialised) {
        ck_assert_msg(llmrt_registry_init(NULL) == LLMRT_OK, "registry: %s", llmrt_last_error());
        ck_assert_msg(llmrt_registry_add_core_builtins() == LLMRT_OK, "builtins: %s",
                      llmrt_last_error());
        initialised = 1;
    }
    const llmrt_component *comp = NULL;
    const char *where = NULL;
    int rc = llmrt_registry_find(LLMRT_KIND_FORMAT, name, &comp, &where);
    ck_assert_msg(rc == LLMRT_OK, "format %s: %s", name, llmrt_last_error());
    ck_assert_ptr_nonnull(comp->vtable);
    if (file) *file = where;
    return comp->vtable;
}

int qt_quick(void)
{
    const char *q = getenv("LLMRT_TEST_QUICK");
    return (q && *q && strcmp(q, "0") != 0) || RUNNING_ON_VALGRIND;
}

double qt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *qt_last_error(void) { return llmrt_last_error(); }

TCase *qt_add_tcase(Suite *s, const char *name, double timeout, const TTest *const *tests,
                    size_t n)
{
    TCase *tc = tcase_create(name);
    if (timeout > 0) tcase_set_timeout(tc, timeout);
    for (size_t i = 0; i < n; i++) tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return tc;
}

int qt_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
