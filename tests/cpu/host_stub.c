/* host_stub.c — see host_stub.h. */
#include "host_stub.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_OVERRIDES 16

static struct {
    char key[64];
    char value[256];
} overrides[MAX_OVERRIDES];
static int n_overrides;

static __thread char last_error[1024];
static __thread int last_code;
static char last_log[1024];

/* Non-NULL and distinct from any real scope: plugins only pass it back. */
static char params_token;

llmrt_params *test_host_params(void) { return (llmrt_params *)(void *)&params_token; }

void test_host_set_param(const char *key, const char *value)
{
    for (int i = 0; i < n_overrides; i++) {
        if (strcmp(overrides[i].key, key) == 0) {
            if (value) {
                snprintf(overrides[i].value, sizeof overrides[i].value, "%s", value);
            } else {
                overrides[i] = overrides[--n_overrides];
            }
            return;
        }
    }
    if (!value || n_overrides == MAX_OVERRIDES) return;
    snprintf(overrides[n_overrides].key, sizeof overrides[n_overrides].key, "%s", key);
    snprintf(overrides[n_overrides].value, sizeof overrides[n_overrides].value, "%s", value);
    n_overrides++;
}

void test_host_reset(void)
{
    n_overrides = 0;
    last_error[0] = '\0';
    last_code = 0;
    last_log[0] = '\0';
}

const char *test_host_error(void) { return last_error; }
int test_host_error_code(void) { return last_code; }
const char *test_host_last_log(void) { return last_log; }

/* An override, else the environment as the core reads it for the [cpu]
 * section (LLMRT_CPU_<KEY>), else NULL: the default. */
static const char *lookup(const char *key)
{
    for (int i = 0; i < n_overrides; i++)
        if (strcmp(overrides[i].key, key) == 0) return overrides[i].value;
    char env[96];
    int n = snprintf(env, sizeof env, "LLMRT_CPU_%s", key);
    if (n < 0 || (size_t)n >= sizeof env) return NULL;
    for (char *c = env; *c; c++) *c = (char)toupper((unsigned char)*c);
    return getenv(env);
}

__attribute__((format(printf, 2, 3))) static int host_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    last_code = code;
    return code;
}

__attribute__((format(printf, 3, 4))) static void host_log(llmrt_log_level level,
                                                            const char *component,
                                                            const char *fmt, ...)
{
    (void)level;
    (void)component;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_log, sizeof last_log, fmt, ap);
    va_end(ap);
    if (getenv("LLMRT_TEST_VERBOSE")) fprintf(stderr, "log: %s: %s\n", component, last_log);
}

static int param_int(llmrt_params *p, const char *key, long def, long min, long max,
                     const char *help, long *out)
{
    (void)p;
    (void)help;
    const char *v = lookup(key);
    long x = def;
    if (v) {
        char *end;
        errno = 0;
        x = strtol(v, &end, 10);
        if (errno || end == v || *end)
            return host_error(LLMRT_ERR_INVALID, "test: %s = '%s' is not an integer", key, v);
    }
    if (x < min || x > max)
        return host_error(LLMRT_ERR_INVALID, "test: %s = %ld is outside [%ld, %ld]", key, x, min,
                          max);
    *out = x;
    return LLMRT_OK;
}

static int param_double(llmrt_params *p, const char *key, double def, double min, double max,
                        const char *help, double *out)
{
    (void)p;
    (void)help;
    const char *v = lookup(key);
    double x = def;
    if (v) {
        char *end;
        x = strtod(v, &end);
        if (end == v || *end)
            return host_error(LLMRT_ERR_INVALID, "test: %s = '%s' is not a number", key, v);
    }
    if (!(x >= min && x <= max))
        return host_error(LLMRT_ERR_INVALID, "test: %s = %g is outside [%g, %g]", key, x, min,
                          max);
    *out = x;
    return LLMRT_OK;
}

static int param_bool(llmrt_params *p, const char *key, int def, const char *help, int *out)
{
    (void)p;
    (void)help;
    const char *v = lookup(key);
    if (!v) {
        *out = def;
        return LLMRT_OK;
    }
    if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes")) *out = 1;
    else if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no")) *out = 0;
    else return host_error(LLMRT_ERR_INVALID, "test: %s = '%s' is not a boolean", key, v);
    return LLMRT_OK;
}

static int param_string(llmrt_params *p, const char *key, const char *def, const char *help,
                        const char **out)
{
    (void)p;
    (void)help;
    const char *v = lookup(key);
    *out = v ? v : def;
    return LLMRT_OK;
}

static void *host_alloc(size_t bytes, llmrt_mem_category category)
{
    (void)category;
    void *ptr = NULL;
    if (posix_memalign(&ptr, 64, bytes ? bytes : 1) != 0) {
        host_error(LLMRT_ERR_NOMEM, "test: out of memory (%zu bytes)", bytes);
        return NULL;
    }
    return ptr;
}

static void host_free(void *ptr) { free(ptr); }

static const struct llmrt_format *format_lookup(const char *name)
{
    (void)name;
    return NULL;
}

static double host_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const llmrt_host_api host = {
    .struct_size = sizeof(llmrt_host_api),
    .abi_major = LLMRT_ABI_MAJOR,
    .abi_minor = LLMRT_ABI_MINOR,
    .error = host_error,
    .log = host_log,
    .param_int = param_int,
    .param_double = param_double,
    .param_bool = param_bool,
    .param_string = param_string,
    .host_alloc = host_alloc,
    .host_free = host_free,
    .format_lookup = format_lookup,
    .now = host_now,
};

const llmrt_host_api *test_host(void) { return &host; }

const llmrt_plugin *test_load_plugin(const char *file, char *why, size_t why_size)
{
    const char *path = getenv("LLMRT_PLUGIN_PATH");
    if (!path || !*path) {
        snprintf(why, why_size, "LLMRT_PLUGIN_PATH is not set");
        return NULL;
    }
    char *dirs = strdup(path), *save = NULL;
    if (!dirs) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    const llmrt_plugin *found = NULL;
    snprintf(why, why_size, "%s not found in LLMRT_PLUGIN_PATH=%s", file, path);
    for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char full[4096];
        if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, file) >= sizeof full) continue;
        if (access(full, F_OK) != 0) continue;
        void *h = dlopen(full, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            snprintf(why, why_size, "dlopen %s: %s", full, dlerror());
            break;
        }
        found = dlsym(h, LLMRT_PLUGIN_SYMBOL);
        if (!found) snprintf(why, why_size, "%s has no %s", full, LLMRT_PLUGIN_SYMBOL);
        break; /* never dlclose: the descriptor must stay valid */
    }
    free(dirs);
    return found;
}
