/* host_api.c — the llmrt_host_api table the core lends to plugins. */
#include "host_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <llmrt/format.h>
#include <llmrt/plugin.h>
#include "config.h"
#include "error.h"
#include "registry.h"

static llmrt_log_level log_level = LLMRT_LOG_WARN;

void llmrt_log_set_level(llmrt_log_level level) { log_level = level; }

static void log_v(llmrt_log_level level, const char *component, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (level > log_level) return;
    fprintf(stderr, "llmrt: %s: %s: ", component ? component : "core",
            names[level <= LLMRT_LOG_DEBUG ? level : LLMRT_LOG_DEBUG]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void llmrt_log(llmrt_log_level level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_v(level, component, fmt, ap);
    va_end(ap);
}

static int host_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    llmrt_errorv(code, fmt, ap);
    va_end(ap);
    return code;
}

static int host_param_int(llmrt_params *p, const char *key, long def, long min, long max,
                          const char *help, long *out)
{
    return llmrt_config_int(llmrt_params_config(p), llmrt_params_section(p), key, def, min, max,
                            help, out);
}

static int host_param_double(llmrt_params *p, const char *key, double def, double min,
                             double max, const char *help, double *out)
{
    return llmrt_config_double(llmrt_params_config(p), llmrt_params_section(p), key, def, min,
                               max, help, out);
}

static int host_param_bool(llmrt_params *p, const char *key, int def, const char *help, int *out)
{
    return llmrt_config_bool(llmrt_params_config(p), llmrt_params_section(p), key, def, help,
                             out);
}

static int host_param_string(llmrt_params *p, const char *key, const char *def,
                             const char *help, const char **out)
{
    return llmrt_config_string(llmrt_params_config(p), llmrt_params_section(p), key, def, help,
                               out);
}

/* Host allocations of plugins are rare and small (descriptors, scratch);
 * they are aligned but, unlike device buffers, not counted by category. */
static void *host_alloc(size_t bytes, llmrt_mem_category category)
{
    (void)category;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0) {
        llmrt_error(LLMRT_ERR_NOMEM, "out of host memory allocating %zu bytes", bytes);
        return NULL;
    }
    return p;
}

static void host_free(void *ptr) { free(ptr); }

static const llmrt_format *host_format_lookup(const char *name)
{
    const llmrt_component *comp = NULL;
    if (llmrt_registry_find(LLMRT_KIND_FORMAT, name, &comp, NULL) != LLMRT_OK) return NULL;
    return (const llmrt_format *)comp->vtable;
}

static double host_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const llmrt_host_api host_api = {
    .struct_size = sizeof(llmrt_host_api),
    .abi_major = LLMRT_ABI_MAJOR,
    .abi_minor = LLMRT_ABI_MINOR,
    .error = host_error,
    .log = llmrt_log,
    .param_int = host_param_int,
    .param_double = host_param_double,
    .param_bool = host_param_bool,
    .param_string = host_param_string,
    .host_alloc = host_alloc,
    .host_free = host_free,
    .format_lookup = host_format_lookup,
    .now = host_now,
};

const llmrt_host_api *llmrt_host_api_get(void) { return &host_api; }
