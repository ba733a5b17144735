/* llmrt/host.h — the services the core lends to every plugin.
 *
 * Plugins do not link against libllmrt (they are loaded RTLD_LOCAL and must
 * load into any program that embeds the core). Everything they need from the
 * core reaches them through this table, passed to each component's create()
 * and probe().
 *
 * Ownership and threading:
 *  1. The table and every pointer in it stay valid until the process exits.
 *     A plugin may keep the pointer.
 *  2. error(), log() and the param_*() functions are thread-safe. The error
 *     message is kept per thread: the core reads it on the thread that got the
 *     non-zero status.
 *  3. Strings returned by param_string() are owned by the core and live as long
 *     as the configuration (the whole run).
 */
#ifndef LLMRT_HOST_H
#define LLMRT_HOST_H

#include <stdarg.h>
#include <llmrt/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum llmrt_log_level {
    LLMRT_LOG_ERROR = 0,
    LLMRT_LOG_WARN = 1,
    LLMRT_LOG_INFO = 2,
    LLMRT_LOG_DEBUG = 3
} llmrt_log_level;

struct llmrt_format; /* format.h */

/* Opaque per-component parameter scope, handed to create(): the config
 * section of the component (e.g. [cpu]) plus the environment. */
typedef struct llmrt_params llmrt_params;

typedef struct llmrt_host_api {
    size_t struct_size;
    uint32_t abi_major; /* the core's ABI version, for information */
    uint32_t abi_minor;

    /* Record the message of the error about to be returned and return `code`,
     * so that `return host->error(LLMRT_ERR_INVALID, "cpu: ...", ...);` is the
     * idiom. The message must name the component, key or value at fault and,
     * where it applies, what would be accepted. One line, no trailing newline. */
    int (*error)(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

    /* Diagnostics that are not errors. `component` is the plugin's component
     * name. Filtered by the run's log level; never use for errors. */
    void (*log)(llmrt_log_level level, const char *component, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* Component parameters, registered with help text as Open MPI's MCA does.
     * Each call declares the key `key` in the component's section; the value
     * comes from (in increasing priority) `def`, the config file, the
     * environment variable LLMRT_<SECTION>_<KEY> (upper case) and --set on the
     * command line. A key present in the section but never declared is an
     * error the core reports after create(). A value that does not parse or
     * lies outside [min, max] makes the call fail with the message recorded. */
    int (*param_int)(llmrt_params *p, const char *key, long def, long min, long max,
                     const char *help, long *out);
    int (*param_double)(llmrt_params *p, const char *key, double def, double min,
                        double max, const char *help, double *out);
    int (*param_bool)(llmrt_params *p, const char *key, int def, const char *help,
                      int *out);
    int (*param_string)(llmrt_params *p, const char *key, const char *def,
                        const char *help, const char **out);

    /* Host memory that the core accounts under `category` (use for host-side
     * state of a plugin that is not a device buffer). Aligned to 64 bytes.
     * Returns NULL on failure with the error recorded. */
    void *(*host_alloc)(size_t bytes, llmrt_mem_category category);
    void (*host_free)(void *ptr);

    /* A number format by name ("fp32", "bf16", ...) or NULL if none is loaded
     * by that name. The result stays valid for the process lifetime. */
    const struct llmrt_format *(*format_lookup)(const char *name);

    /* Seconds on a monotonic clock. */
    double (*now)(void);
} llmrt_host_api;

#ifdef __cplusplus
}
#endif
#endif /* LLMRT_HOST_H */
