/* host_stub.h — a minimal llmrt_host_api for tests that load a plugin
 * directly, without the core: a parameter comes from a test's override, else
 * from LLMRT_CPU_<KEY> in the environment (as the core reads the [cpu]
 * section), else from its default; error() keeps the last message, log()
 * keeps the last line.
 */
#ifndef LLMRT_TESTS_CPU_HOST_STUB_H
#define LLMRT_TESTS_CPU_HOST_STUB_H

#include <llmrt/llmrt.h>

/* The host table; the llmrt_params pointer to pass is test_host_params(). */
const llmrt_host_api *test_host(void);
llmrt_params *test_host_params(void);

/* Override parameter `key` with the text `value` (parsed like the core
 * would); value NULL removes the override. test_host_reset() removes all
 * overrides and the recorded error. */
void test_host_set_param(const char *key, const char *value);
void test_host_reset(void);

/* The last message recorded with error() on this thread ("" if none), its
 * code, and the last log line. */
const char *test_host_error(void);
int test_host_error_code(void);
const char *test_host_last_log(void);

/* Find `file` in the directories of $LLMRT_PLUGIN_PATH, dlopen it and return
 * its llmrt_plugin_v1 descriptor; NULL with the reason in `why`. */
const llmrt_plugin *test_load_plugin(const char *file, char *why, size_t why_size);

#endif
