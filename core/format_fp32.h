/* format_fp32.h — the built-in fp32 format component (registered by the
 * runtime with llmrt_registry_add_builtin). */
#ifndef LLMRT_CORE_FORMAT_FP32_H
#define LLMRT_CORE_FORMAT_FP32_H
#include <llmrt/plugin.h>
const llmrt_component *llmrt_format_fp32_component(void);
#endif
