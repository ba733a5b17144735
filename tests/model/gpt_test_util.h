/* gpt_test_util.h — what the model tests share: a runtime with the default
 * plugins (cpu, local, ddp) and a model attached to it, host copies of
 * parameters and gradients, and error measures. */
#ifndef LLMRT_TESTS_GPT_TEST_UTIL_H
#define LLMRT_TESTS_GPT_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "gpt.h"
#include "runtime.h"

typedef struct gpt_env {
    llmrt_config *conf;
    llmrt_rt *rt;
    llmrt_gpt *model;
    llmrt_model_layout layout_own; /* attached: the runtime borrows it until destroy */
    const llmrt_model_layout *layout;
    size_t act_before;  /* LLMRT_MEM_ACTIVATIONS before llmrt_gpt_create */
} gpt_env;

/* Runtime from an empty config (defaults: backend cpu, collective local,
 * strategy ddp), model for B_max x T_max, attached. Fails the test (with the
 * core's message) on any error. The attached layout is built with
 * llmrt_gpt_layout_build() and freed after llmrt_rt_destroy(): the runtime's
 * strategy borrows it for the runtime's whole life, longer than the model
 * lives (the model frees its activations through the runtime). */
void gpt_env_open(gpt_env *e, const llmrt_gpt_config *cfg, int B_max, int T_max);
void gpt_env_close(gpt_env *e);

/* GPT-2 init of every unit from `seed`, loaded with set_state(PARAMS). */
void gpt_env_init_params(gpt_env *e, uint64_t seed);

/* Copy unit u's gradient buffer to host (numel floats). Peeks through a
 * pre_backward/post_backward pair; with ddp this adds nothing and, inside a
 * micro-batch that is not the step's last, communicates nothing. */
void gpt_env_read_grads(gpt_env *e, size_t unit, float *host);

/* The message of the last core error, for assertions. */
const char *gpt_env_error(void);

/* max_i |a_i - b_i| / max(|b_i|, rms(b)): the relative error, with elements
 * much smaller than the tensor's RMS measured against the RMS. */
double rel_err_rms(const float *a, const float *b, size_t n);

#endif
