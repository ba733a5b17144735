/* model_check.h — the checks of [model] values that gpt.c, bert.c and t5.c
 * share. Each returns LLMRT_OK or LLMRT_ERR_INVALID with a message naming
 * the key (or the model) and what is accepted. */
#ifndef LLMRT_CORE_MODEL_CHECK_H
#define LLMRT_CORE_MODEL_CHECK_H

#include <llmrt/llmrt.h>

/* "model.<key> = <value>: expected <lo> .. <hi>". */
int llmrt_model_check_range(const char *key, int value, int lo, int hi);

/* The compute dtype is f32, bf16 or f16 (`note`, "" or " (...)", ends the
 * message); qat is 0 or 1, and 1 only with f32: the fake-quant kernels are
 * fp32 only, so int8 QAT trains fp32 weights. */
int llmrt_model_check_dtype(const char *model, llmrt_dtype dtype, int qat, const char *note);

#endif
