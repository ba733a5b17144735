/* quant.h — what the files of the quant format plugin share: the three
 * format descriptors and the host table used to report errors. */
#ifndef LLMRT_PLUGIN_QUANT_H
#define LLMRT_PLUGIN_QUANT_H

#include <llmrt/llmrt.h>

extern const llmrt_format quant_fp16_format;
extern const llmrt_format quant_bf16_format;
extern const llmrt_format quant_int8_format;

/* The host table, kept by probe() (host.h allows keeping it); NULL until a
 * probe ran, in which case errors are returned without a message. */
const llmrt_host_api *quant_host(void);
void quant_set_host(const llmrt_host_api *host);

/* Record "<format>: <message>" through the host (when known) and return code. */
int quant_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The checks every encode/decode makes: n values need dst and src. */
int quant_check_buffers(const llmrt_format *f, const void *dst, const void *src, size_t n);

#endif
