/* error.h — the core's per-thread "last error" message.
 *
 * Functions return an llmrt_status; the message that explains a non-zero one
 * is recorded here first (by the core or, through llmrt_host_api.error(), by a
 * plugin) and printed once, by the command line, at the top. */
#ifndef LLMRT_CORE_ERROR_H
#define LLMRT_CORE_ERROR_H

#include <stdarg.h>
#include <llmrt/types.h>

/* Record the message and return `code`. */
int llmrt_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int llmrt_errorv(int code, const char *fmt, va_list ap);
/* Put "<prefix>: " in front of the recorded message (adds context on the way
 * up, e.g. the config file name) and return `code`. */
int llmrt_error_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The message of the last error on this thread ("" if none). */
const char *llmrt_last_error(void);
void llmrt_error_clear(void);
/* A short name for a status code ("invalid argument", ...). */
const char *llmrt_status_name(int code);

#endif
