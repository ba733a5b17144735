/* model_check.c — shared checks of [model] values (model_check.h). */
#include "model_check.h"

#include "error.h"
#include "precision.h"

int llmrt_model_check_range(const char *key, int value, int lo, int hi)
{
    if (value < lo || value > hi)
        return llmrt_error(LLMRT_ERR_INVALID, "model.%s = %d: expected %d .. %d", key, value, lo,
                           hi);
    return LLMRT_OK;
}

int llmrt_model_check_dtype(const char *model, llmrt_dtype dtype, int qat, const char *note)
{
    if (dtype != LLMRT_DTYPE_F32 && dtype != LLMRT_DTYPE_BF16 && dtype != LLMRT_DTYPE_F16)
        return llmrt_error(LLMRT_ERR_INVALID, "%s: compute dtype %d: expected f32, bf16 or f16%s",
                           model, (int)dtype, note);
    if (qat != 0 && qat != 1)
        return llmrt_error(LLMRT_ERR_INVALID, "%s: qat = %d: expected 0 or 1", model, qat);
    if (qat && dtype != LLMRT_DTYPE_F32)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "%s: int8 QAT needs fp32 compute, not %s: [runtime] format = int8 "
                           "trains fp32 weights fake-quantized to int8 and combines with no "
                           "other format",
                           model, llmrt_precision_dtype_name(dtype));
    return LLMRT_OK;
}
