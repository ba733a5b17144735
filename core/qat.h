/* qat.h — int8 quantization-aware training (LSQ) around the GPT model: the
 * step-size rules, the int8 export writer and the reader that loads an
 * export back.
 *
 * The model (core/gpt.c) fake-quantizes the four linear weights of every
 * block, HF Conv1D [in, out], per output channel (axis 1: one step size per
 * column) with the compute backend's fake_quant kernels (compute.h, LSQ of
 * Esser et al. 2019, arXiv 1902.08153). Quantization follows convert.h
 * rule 4: symmetric, q in [LLMRT_I8_QMIN, LLMRT_I8_QMAX] = [-127, 127],
 * effective step llmrt_quant_scale(s).
 *
 * Export format (safetensors, docs/model.md): every quantized weight NAME is
 * stored as I8 [in, out] holding q, beside NAME_scale, F32 [out], the
 * effective step of each column, so that NAME = q * NAME_scale column by
 * column; every other tensor is F32. __metadata__ has "llmrt.export" =
 * "int8" and the model's [model] keys. */
#ifndef LLMRT_CORE_QAT_H
#define LLMRT_CORE_QAT_H

#include <stdint.h>

#include "gpt.h"
#include "runtime.h"
#include "safetensors.h"

/* The metadata key and value that mark an int8 export. */
#define LLMRT_QAT_EXPORT_KEY "llmrt.export"
#define LLMRT_QAT_EXPORT_VALUE "int8"
/* The suffix of a step-size tensor's name. */
#define LLMRT_QAT_SCALE_SUFFIX "_scale"

/* LSQ's gradient scale for a channel of n values: 1 / sqrt(n * qmax). */
float llmrt_qat_grad_factor(int64_t n);

/* LSQ's initial step of column `col` of a rows x cols row-major matrix:
 * 2 mean_i |w[i, col]| / sqrt(qmax) (summed in double, rows in order). */
float llmrt_qat_init_step(const float *w, int64_t rows, int64_t cols, int64_t col);

/* Write the int8 export of `model` (a QAT model attached to `rt`, whose
 * strategy holds every unit whole on this rank) to `path`, atomically. The
 * weights are quantized on the compute backend (convert_ex f32 -> i8,
 * axis 1). LLMRT_ERR_INVALID for a model without QAT. */
int llmrt_qat_export(llmrt_rt *rt, const llmrt_gpt *model, const char *path);

/* Read tensor `name` of an open safetensors file into host fp32 `dst` of
 * `numel` values. An I8 tensor (an int8 export's weight) must be 2-D with
 * an F32 NAME_scale of one value per column: it is dequantized on rt's
 * compute backend (convert_ex i8 -> f32, axis 1), giving q * scale exactly.
 * Any other tensor is read as llmrt_st_read_f32() does. */
int llmrt_qat_read_f32(llmrt_rt *rt, const llmrt_st_file *f, const char *name, float *dst,
                       uint64_t numel);

/* 1 when `name` is the step-size tensor of an I8 tensor of f (NAME_scale
 * beside an I8 NAME): what a loader of a model without QAT skips. */
int llmrt_qat_is_export_scale(const llmrt_st_file *f, const char *name);

#endif
