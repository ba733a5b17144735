/* error.c — per-thread last-error message (see error.h). */
#include "error.h"

#include <stdio.h>
#include <string.h>

enum { LLMRT_ERROR_MAX = 2048 };
static _Thread_local char last_error[LLMRT_ERROR_MAX];

int llmrt_errorv(int code, const char *fmt, va_list ap)
{
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    return code;
}

int llmrt_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    llmrt_errorv(code, fmt, ap);
    va_end(ap);
    return code;
}

int llmrt_error_prefix(int code, const char *fmt, ...)
{
    char prefix[512], old[LLMRT_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    /* Truncation of a very long message is acceptable: it stays one line. */
    size_t n = strlen(prefix);
    if (n > sizeof last_error - 3) n = sizeof last_error - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t room = sizeof last_error - n - 3;
    size_t m = strnlen(old, room);
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = '\0';
    return code;
}

const char *llmrt_last_error(void) { return last_error; }

void llmrt_error_clear(void) { last_error[0] = '\0'; }

const char *llmrt_status_name(int code)
{
    switch (code) {
    case LLMRT_OK: return "ok";
    case LLMRT_ERR_INVALID: return "invalid argument";
    case LLMRT_ERR_NOMEM: return "out of memory";
    case LLMRT_ERR_IO: return "i/o error";
    case LLMRT_ERR_UNSUPPORTED: return "unsupported";
    case LLMRT_ERR_TIMEOUT: return "timeout";
    case LLMRT_ERR_COMM: return "communication error";
    case LLMRT_ERR_DEVICE: return "device error";
    case LLMRT_ERR_FORMAT: return "corrupt or truncated data";
    case LLMRT_ERR_INTERNAL: return "internal error";
    default: return "unknown error";
    }
}
