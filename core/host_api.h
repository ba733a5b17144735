/* host_api.h — the core's implementation of llmrt_host_api (llmrt/host.h). */
#ifndef LLMRT_CORE_HOST_API_H
#define LLMRT_CORE_HOST_API_H

#include <llmrt/host.h>

/* The one table the core hands to every plugin; valid for the process. */
const llmrt_host_api *llmrt_host_api_get(void);
/* Messages at or below `level` are printed to stderr (default: WARN). */
void llmrt_log_set_level(llmrt_log_level level);
/* The core's own diagnostics go through the same logger. */
void llmrt_log(llmrt_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
