/* quant_test_util.h — what the tests of the number formats share: the
 * formats found through the core's registry (fp32 built in, the rest from
 * llmrt-format-quant.so in LLMRT_PLUGIN_PATH), the fixture directory, and
 * whether to run a sample instead of everything (valgrind). */
#ifndef LLMRT_TESTS_QUANT_UTIL_H
#define LLMRT_TESTS_QUANT_UTIL_H

#include <check.h>
#include <stdint.h>
#include <llmrt/llmrt.h> /* llmrt/convert.h: llmrt_f32_bits, llmrt_f32_from_bits */

/* The format `name` (the test aborts with the registry's message if it
 * cannot be found); *file gets its plugin file (NULL for built-ins). */
const llmrt_format *qt_format(const char *name, const char **file);

/* 1 when LLMRT_TEST_QUICK is set or the test runs under valgrind: the
 * exhaustive passes then test a strided sample. */
int qt_quick(void);

/* Seconds on a monotonic clock. */
double qt_now(void);

/* The last error message recorded by the core or a plugin. */
const char *qt_last_error(void);

/* A tcase `name` of the n tests (timeout in seconds; 0: check's default),
 * added to s. */
TCase *qt_add_tcase(Suite *s, const char *name, double timeout, const TTest *const *tests,
                    size_t n);
#define QT_ADD_TCASE(s, name, timeout, tests)                                                \
    qt_add_tcase((s), (name), (timeout), (tests), sizeof(tests) / sizeof((tests)[0]))

/* Run the suite: EXIT_FAILURE if a test failed, else EXIT_SUCCESS. */
int qt_run_suite(Suite *s);

#endif
