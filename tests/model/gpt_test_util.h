/* gpt_test_util.h — what the model tests share: a runtime with the default
 * plugins (cpu, local, ddp) and a model attached to it, host copies of
 * parameters and gradients, and error measures. */
#ifndef LLMRT_TESTS_GPT_TEST_UTIL_H
#define LLMRT_TESTS_GPT_TEST_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "gpt.h"
#include "runtime.h"
#include "safetensors.h"

/* A core call that must succeed: fails the test with the core's message. */
#define OK(call)                                                                            \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        ck_assert_msg(rc_ == 0, "%s failed (%d): %s", #call, rc_, gpt_env_error());        \
    } while (0)

typedef struct gpt_env {
    llmrt_config *conf;
    llmrt_rt *rt;
    llmrt_gpt *model;
    llmrt_model_layout layout_own; /* attached: the runtime borrows it until destroy */
    const llmrt_model_layout *layout;
    size_t act_before;  /* LLMRT_MEM_ACTIVATIONS before llmrt_gpt_create */
} gpt_env;

/* Runtime from an empty config (defaults: backend cpu, collective local,
 * strategy ddp) with [runtime] format matching cfg (fp32, bf16, fp16, or
 * int8 for qat), model for B_max x T_max, attached. Fails the test (with the
 * core's message) on any error. The attached layout is built with
 * llmrt_gpt_layout_build() and freed after llmrt_rt_destroy(): the runtime's
 * strategy borrows it for the runtime's whole life, longer than the model
 * lives (the model frees its activations through the runtime). */
void gpt_env_open(gpt_env *e, const llmrt_gpt_config *cfg, int B_max, int T_max);
void gpt_env_close(gpt_env *e);

/* GPT-2 init of every unit from `seed`, loaded with set_state(PARAMS). */
void gpt_env_init_params(gpt_env *e, uint64_t seed);

/* Copy unit u's gradient buffer to host (numel floats, widened exactly from
 * the layout's grad_type). Peeks through a pre_backward/post_backward pair;
 * with ddp this adds nothing and, inside a micro-batch that is not the
 * step's last, communicates nothing. */
void gpt_env_read_grads(gpt_env *e, size_t unit, float *host);

/* Unit u's fp32 (master) parameters to and from host memory (get_state /
 * set_state of LLMRT_STATE_PARAMS; ddp owns whole units). */
void gpt_env_get_params(gpt_env *e, size_t unit, float *host);
void gpt_env_set_params(gpt_env *e, size_t unit, const float *host);

/* A malloc'ed host copy of every unit's parameters (units[u] has the unit's
 * numel floats); free with gpt_units_free(). */
float **gpt_env_params_copy(gpt_env *e);
/* The same for every unit's gradients (gpt_env_read_grads). */
float **gpt_env_grads_copy(gpt_env *e);
void gpt_units_free(float **units, size_t n_units);

/* LSQ's initial step sizes, one per row of a [rows, cols] weight (axis 0):
 * s[r] = 2 mean|w[r, :]| / sqrt(127), each to 1e-6 relative. */
void test_check_lsq_rows(const float *w, const float *s, size_t rows, size_t cols);

/* Every unit's gradient after a backward on rt (any model), downloaded in
 * the layout's grad dtype, widened to fp32 and divided by loss_scale: one
 * malloc'd array of units[u].numel floats per unit; free with
 * gpt_units_free(). */
float **test_grads_download(llmrt_rt *rt, const llmrt_model_layout *layout, llmrt_dtype dtype,
                            float loss_scale);

/* Forward of one batch with targets; returns the mean loss. */
float gpt_env_loss(gpt_env *e, const int32_t *inputs, const int32_t *targets, int B, int T);

/* n random inputs and targets below vocab from llmrt_rng `seed`, drawn in
 * turn (inputs[0], targets[0], inputs[1], ...). */
void gpt_random_batch(int32_t *inputs, int32_t *targets, size_t n, int vocab, uint64_t seed);

/* --- reference fixtures (the .safetensors files in tests/model) --- */

/* Open tests/model/<file> under LLMRT_TEST_SRCDIR. */
llmrt_st_file *gpt_fixture_open(const char *file);
/* A malloc'ed float copy of tensor `name`, which must hold `numel` values. */
float *gpt_fixture_f32(const llmrt_st_file *f, const char *name, size_t numel);
int gpt_fixture_meta_int(const llmrt_st_file *f, const char *key);
double gpt_fixture_meta_double(const llmrt_st_file *f, const char *key);
/* The [model] keys of the fixture's metadata into *cfg (dtype f32, qat 0). */
void gpt_fixture_config(const llmrt_st_file *f, llmrt_gpt_config *cfg);
/* Load every parameter of e's layout from the fixture (names and shapes
 * checked) into the strategy. */
void gpt_fixture_load_params(const llmrt_st_file *f, gpt_env *e);
/* Compare the gradients the model left in e's buffers with the fixture's
 * grad.<name> tensors; prints each, fails above tol; returns the largest
 * rel_err_rms. ref_norm_sq, if not NULL, receives the squared norm of all
 * the fixture's gradients. */
double gpt_fixture_check_grads(const llmrt_st_file *f, gpt_env *e, double tol,
                               double *ref_norm_sq);

/* A fixture with its batch (metadata batch, seq_len; tensors inputs,
 * targets) and the model of its [model] keys (with int8 QAT if qat), its
 * parameters loaded from the fixture. */
typedef struct gpt_fixture_run {
    llmrt_st_file *fx;
    llmrt_gpt_config cfg;
    int B, T;
    int32_t *inputs, *targets;
    gpt_env env;
} gpt_fixture_run;

void gpt_fixture_run_open(gpt_fixture_run *r, const char *file, int qat);
void gpt_fixture_run_close(gpt_fixture_run *r);

/* Micro-batch 0 of 2 (ddp keeps the gradients local, so they can be read
 * back through the hooks without an allreduce in between): the forward's
 * loss against the fixture's `loss` within relative tol, then the backward.
 * `label` starts the printed line. */
void gpt_fixture_run_loss(gpt_fixture_run *r, double tol, const char *label);

/* adam.steps AdamW steps (the fixture's adam.* hyperparameters) through the
 * strategy's optimizer_step, each loss against adam_losses within relative
 * tol; returns the largest relative error. */
double gpt_fixture_run_adamw(gpt_fixture_run *r, double tol, const char *label);

/* A tcase `name` of the n tests, with the timeout in seconds (0: check's
 * default), added to s. */
void gpt_add_tcase(Suite *s, const char *name, double timeout, const TTest *const *tests,
                   size_t n);
#define GPT_ADD_TCASE(s, name, timeout, tests)                                               \
    gpt_add_tcase((s), (name), (timeout), (tests), sizeof(tests) / sizeof((tests)[0]))

/* Run the suite with stdout line-buffered (the figures survive the forked
 * tests); the exit status. */
int gpt_test_run(Suite *s);

/* The message of the last core error, for assertions. */
const char *gpt_env_error(void);

/* max_i |a_i - b_i| / max(|b_i|, rms(b)): the relative error, with elements
 * much smaller than the tensor's RMS measured against the RMS. */
double rel_err_rms(const float *a, const float *b, size_t n);

#endif
