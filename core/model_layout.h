/* model_layout.h — the parameter layout of an architecture, derived from its
 * tensor tables: the llmrt_model_layout the strategy sees, tensor shapes,
 * offsets, parameter counts, the seeded initialisation and QAT's step sizes.
 * gpt.c, bert.c and t5.c each describe their tables once (a static
 * llmrt_layout_model: which tensors a unit holds, what a dimension code
 * stands for, how a tensor starts) and call these with their config for the
 * arithmetic.
 *
 * Ownership: nothing here keeps the model's description or config.
 * llmrt_layout_build() allocates everything the layout points to as one
 * block, which llmrt_layout_free() releases. */
#ifndef LLMRT_CORE_MODEL_LAYOUT_H
#define LLMRT_CORE_MODEL_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include <llmrt/llmrt.h>

/* The most tensors one unit holds, in any architecture (t5's gated QAT
 * decoder block 0: 26). */
enum { LLMRT_UNIT_MAX_TENSORS = 32 };

/* Dimension code 0 of every table: no dimension (size 1), so d1 == 0 makes
 * a vector. */
enum { LLMRT_DIM_NONE = 0 };

/* One tensor of an architecture's table. */
typedef struct llmrt_tensor_spec {
    const char *name; /* what the model's tensor_name completes (a suffix or the full name) */
    int d0, d1;       /* the model's dimension codes; d1 == LLMRT_DIM_NONE: a vector */
    int weight_decay;
    int init;         /* the model's initialisation kind */
    int scale_of;     /* QAT step sizes: the index (in the unit) of the weight they scale */
    int role;         /* t5: what the tensor is for (t5.c's role) */
} llmrt_tensor_spec;

/* An architecture's tables, for the functions below; the callbacks get the
 * model's config (`cfg` below) back. */
typedef struct llmrt_layout_model {
    const char *name; /* "gpt", "bert" or "t5": the prefix of error messages */
    /* The init kind of QAT step sizes (set from the weights), or -1. */
    int init_lsq;
    /* The config's own check (LLMRT_ERR_INVALID naming the key). */
    int (*check)(const void *cfg);
    size_t (*n_units)(const void *cfg);
    /* The tensors of `unit`, in order, into out (at most
     * LLMRT_UNIT_MAX_TENSORS); returns their number, 0 for no such unit. */
    size_t (*unit_specs)(const void *cfg, size_t unit, llmrt_tensor_spec *out);
    /* The size a dimension code stands for (1 for LLMRT_DIM_NONE). */
    size_t (*dim)(const void *cfg, int code);
    /* Names with snprintf semantics (buf NULL and size 0: only the length). */
    int (*unit_name)(const void *cfg, size_t unit, char *buf, size_t size);
    int (*tensor_name)(const void *cfg, size_t unit, const llmrt_tensor_spec *s, char *buf,
                       size_t size);
    /* How a tensor starts: returns the standard deviation of its normal
     * draws, or 0 for the constant *value (no random numbers drawn). */
    double (*init_std)(const void *cfg, const llmrt_tensor_spec *s, float *value);
} llmrt_layout_model;

size_t llmrt_layout_numel(const llmrt_layout_model *lm, const void *cfg,
                          const llmrt_tensor_spec *s);
/* off[i] of each of the n tensors of s, back to back (in elements); off[n]
 * is their total. */
void llmrt_layout_offsets(const llmrt_layout_model *lm, const void *cfg,
                          const llmrt_tensor_spec *s, size_t n, size_t *off);
/* off[i] for the tensors of `unit` (off has LLMRT_UNIT_MAX_TENSORS + 1
 * entries); returns the unit's numel. */
size_t llmrt_layout_unit_offsets(const llmrt_layout_model *lm, const void *cfg, size_t unit,
                                 size_t *off);
size_t llmrt_layout_n_params(const llmrt_layout_model *lm, const void *cfg);
/* As llmrt_gpt_tensor_shape(): ndim (1 or 2), or 0 when either index is out
 * of range. */
int llmrt_layout_tensor_shape(const llmrt_layout_model *lm, const void *cfg, size_t unit,
                              size_t tensor, int64_t dims[2]);

/* Checks cfg, then fills *layout (as llmrt_gpt_layout_build() says:
 * param_type = grad_type = reduce_type = dtype, rounding to nearest even,
 * seed 0). */
int llmrt_layout_build(const llmrt_layout_model *lm, const void *cfg, llmrt_dtype dtype,
                       llmrt_model_layout *layout);
void llmrt_layout_free(llmrt_model_layout *layout);

/* The unit's initial values into host_params (its numel floats): one random
 * stream per (seed, unit), drawn tensor by tensor as lm->init_std says. */
void llmrt_layout_init_unit(const llmrt_layout_model *lm, const void *cfg, size_t unit,
                            uint64_t seed, float *host_params);

/* QAT: every step size of `unit` from its weights, LSQ's initialisation
 * (core/qat.h), one per output channel: axis 1 per column of an [in, out]
 * weight (gpt), axis 0 per row of an [out, in] one (bert, t5). LLMRT_ERR_INVALID
 * when qat is 0 or the unit does not exist. */
int llmrt_layout_qat_init_scales(const llmrt_layout_model *lm, const void *cfg, int qat, int axis,
                                 size_t unit, float *host_unit);
/* QAT: the index of the step sizes of tensor `tensor` of `unit`, or -1. */
int llmrt_layout_tensor_scale(const llmrt_layout_model *lm, const void *cfg, size_t unit,
                              size_t tensor);

#endif
