/* quant_plugin.c — the descriptor of llmrt-format-quant.so: three number
 * format components (fp16, bf16, int8) whose conversions follow
 * sdk/llmrt/convert.h bit for bit. */
#include <stdarg.h>
#include <stdio.h>

#include "quant.h"

static const llmrt_host_api *_Atomic kept_host;

const llmrt_host_api *quant_host(void) { return kept_host; }
void quant_set_host(const llmrt_host_api *host) { kept_host = host; }

int quant_error(int code, const char *fmt, ...)
{
    const llmrt_host_api *host = quant_host();
    if (!host) return code;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return host->error(code, "%s", msg);
}

int quant_check_buffers(const llmrt_format *f, const void *dst, const void *src, size_t n)
{
    if (n > 0 && (!dst || !src))
        return quant_error(LLMRT_ERR_INVALID, "%s: %s buffer is NULL for %zu values", f->name,
                           !dst ? "the destination" : "the source", n);
    return LLMRT_OK;
}

/* Pure arithmetic: always usable. Keeps the host table for error messages. */
static int quant_probe(const llmrt_host_api *host)
{
    quant_set_host(host);
    return 1;
}

static const llmrt_component quant_components[] = {
    {
        .struct_size = sizeof(llmrt_component),
        .kind = LLMRT_KIND_FORMAT,
        .name = "fp16",
        .description = "IEEE 754 binary16 (5/10 bits), round to nearest even; needs loss scaling",
        .probe = quant_probe,
        .vtable = &quant_fp16_format,
    },
    {
        .struct_size = sizeof(llmrt_component),
        .kind = LLMRT_KIND_FORMAT,
        .name = "bf16",
        .description = "bfloat16 (8/7 bits), round to nearest even or stochastic",
        .probe = quant_probe,
        .vtable = &quant_bf16_format,
    },
    {
        .struct_size = sizeof(llmrt_component),
        .kind = LLMRT_KIND_FORMAT,
        .name = "int8",
        .description = "symmetric int8 in [-127, 127] with fp32 scales per tensor, row or column",
        .probe = quant_probe,
        .vtable = &quant_int8_format,
    },
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin llmrt_plugin_v1 = {
    LLMRT_PLUGIN_HEADER(LLMRT_KIND_FORMAT, "quant", LLMRT_QUANT_VERSION),
    .n_components = sizeof quant_components / sizeof quant_components[0],
    .components = quant_components,
};
