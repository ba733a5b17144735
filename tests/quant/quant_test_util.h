/* quant_test_util.h — what the tests of the number formats share: the
 * formats found through the core's registry (fp32 built in, the rest from
 * llmrt-format-quant.so in LLMRT_PLUGIN_PATH), the fixture directory, and
 * whether to run a sample instead of everything (valgrind). */
#ifndef LLMRT_TESTS_QUANT_UTIL_H
#define LLMRT_TESTS_QUANT_UTIL_H

#include <stdint.h>
#include <string.h>
#include <llmrt/llmrt.h>

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

static inline uint32_t qt_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float qt_float(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#endif
