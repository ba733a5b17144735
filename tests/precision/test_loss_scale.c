/* test_loss_scale.c — dynamic loss scaling (core/loss_scale.c) against
 * DeepSpeed's DynamicLossScaler rules, and the [precision] policy's
 * configuration errors (core/precision.c). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "loss_scale.h"
#include "precision.h"

static llmrt_loss_scale deepspeed_defaults(void)
{
    llmrt_loss_scale ls;
    llmrt_loss_scale_init(&ls, 1, 65536.0, 1000, 2, 1.0, 2.0);
    return ls;
}

START_TEST(grows_after_window_clean_steps)
{
    llmrt_loss_scale ls = deepspeed_defaults();
    for (int i = 0; i < 999; i++) ck_assert_int_eq(llmrt_loss_scale_update(&ls, 0), 0);
    ck_assert(ls.scale == 65536.0);
    ck_assert_int_eq(llmrt_loss_scale_update(&ls, 0), LLMRT_LOSS_SCALE_STEP); /* 1000th */
    ck_assert(ls.scale == 131072.0);
    for (int i = 0; i < 1000; i++) llmrt_loss_scale_update(&ls, 0);
    ck_assert(ls.scale == 262144.0);
}
END_TEST

START_TEST(hysteresis_then_halving)
{
    llmrt_loss_scale ls = deepspeed_defaults();
    /* First overflow uses up the hysteresis: skipped, scale kept. */
    ck_assert_int_eq(llmrt_loss_scale_update(&ls, 1), LLMRT_LOSS_SCALE_SKIP);
    ck_assert(ls.scale == 65536.0);
    /* Second: halved. Third and later: halved each time (no growth reset it). */
    ck_assert_int_eq(llmrt_loss_scale_update(&ls, 1), LLMRT_LOSS_SCALE_SKIP);
    ck_assert(ls.scale == 32768.0);
    ck_assert_int_eq(llmrt_loss_scale_update(&ls, 1), LLMRT_LOSS_SCALE_SKIP);
    ck_assert(ls.scale == 16384.0);
    ck_assert_int_eq((int)ls.overflows, 3);
    /* A growth after 1000 clean steps restores the hysteresis. */
    for (int i = 0; i < 1000; i++) llmrt_loss_scale_update(&ls, 0);
    ck_assert(ls.scale == 32768.0);
    ck_assert_int_eq(llmrt_loss_scale_update(&ls, 1), LLMRT_LOSS_SCALE_SKIP);
    ck_assert(ls.scale == 32768.0);
}
END_TEST

START_TEST(window_counts_from_the_last_overflow)
{
    llmrt_loss_scale ls;
    llmrt_loss_scale_init(&ls, 1, 8.0, 4, 1, 1.0, 2.0);
    llmrt_loss_scale_update(&ls, 0);
    llmrt_loss_scale_update(&ls, 0);
    llmrt_loss_scale_update(&ls, 1); /* hysteresis 1: halves at once */
    ck_assert(ls.scale == 4.0);
    for (int i = 0; i < 3; i++) llmrt_loss_scale_update(&ls, 0);
    ck_assert(ls.scale == 4.0);
    llmrt_loss_scale_update(&ls, 0); /* 4 clean steps after the overflow */
    ck_assert(ls.scale == 8.0);
}
END_TEST

START_TEST(floor_then_stop)
{
    llmrt_loss_scale ls;
    llmrt_loss_scale_init(&ls, 1, 4.0, 1000, 1, 1.0, 2.0);
    ck_assert_int_eq(llmrt_loss_scale_update(&ls, 1), LLMRT_LOSS_SCALE_SKIP);
    ck_assert(ls.scale == 2.0);
    ck_assert_int_eq(llmrt_loss_scale_update(&ls, 1), LLMRT_LOSS_SCALE_SKIP);
    ck_assert(ls.scale == 1.0);
    ck_assert_int_eq(llmrt_loss_scale_update(&ls, 1), LLMRT_LOSS_SCALE_STOP);
    /* With a non-power factor the floor is still reached exactly. */
    llmrt_loss_scale_init(&ls, 1, 10.0, 1000, 1, 3.0, 2.0);
    llmrt_loss_scale_update(&ls, 1);
    ck_assert(ls.scale == 5.0);
    llmrt_loss_scale_update(&ls, 1);
    ck_assert(ls.scale == 3.0);
    ck_assert_int_eq(llmrt_loss_scale_update(&ls, 1), LLMRT_LOSS_SCALE_STOP);
}
END_TEST

START_TEST(static_scale_never_changes)
{
    llmrt_loss_scale ls;
    llmrt_loss_scale_init(&ls, 0, 128.0, 10, 2, 1.0, 2.0);
    for (int i = 0; i < 50; i++) llmrt_loss_scale_update(&ls, 0);
    ck_assert_int_eq(llmrt_loss_scale_update(&ls, 1), LLMRT_LOSS_SCALE_SKIP);
    ck_assert(ls.scale == 128.0);
}
END_TEST

/* The scaler as a state machine, table-driven: a sequence of overflow flags
 * in ('1' overflow, '0' finite), after each step the scale and the action
 * out ('s' step, 'k' skip, 'x' stop). Window 3 keeps the tables short. */
static const struct {
    double initial, min;
    long window, hysteresis;
    const char *flags;
    double scales[12];
    const char *actions;
} scaler_table[] = {
    /* growth every 3 clean steps */
    {8, 1, 3, 2, "0000000", {8, 8, 16, 16, 16, 32, 32}, "sssssss"},
    /* hysteresis 2: the first overflow only uses it up, the second halves */
    {8, 1, 3, 2, "110", {8, 4, 4}, "kks"},
    /* the window counts from the last overflow; growth restores hysteresis */
    {8, 1, 3, 2, "10001", {8, 8, 8, 16, 16}, "ksssk"},
    /* hysteresis 1: every overflow halves; at the floor the next one stops */
    {4, 1, 3, 1, "1111", {2, 1, 1, 1}, "kkx"},
    /* a floor that is not a power of the factor is reached, then stops */
    {10, 3, 100, 1, "111", {5, 3, 3}, "kkx"},
    /* overflows spread out: hysteresis is not restored without a growth */
    {16, 1, 100, 2, "1010101", {16, 16, 8, 8, 4, 4, 2}, "ksksksk"},
};

START_TEST(scaler_table_driven)
{
    const typeof(scaler_table[0]) *r = &scaler_table[_i];
    llmrt_loss_scale ls;
    llmrt_loss_scale_init(&ls, 1, r->initial, r->window, r->hysteresis, r->min, 2.0);
    size_t n = strlen(r->flags);
    for (size_t k = 0; k < n && k < strlen(r->actions); k++) {
        llmrt_loss_scale_action a = llmrt_loss_scale_update(&ls, r->flags[k] == '1');
        char got = a == LLMRT_LOSS_SCALE_STEP ? 's' : a == LLMRT_LOSS_SCALE_SKIP ? 'k' : 'x';
        ck_assert_msg(got == r->actions[k], "row %d step %zu: action %c, want %c", _i, k, got,
                      r->actions[k]);
        if (got == 'x') break;
        ck_assert_msg(ls.scale == r->scales[k], "row %d step %zu: scale %g, want %g", _i, k,
                      ls.scale, r->scales[k]);
    }
}
END_TEST

/* ---- the policy ---- */

static int read_policy(const char *format, const char *ini, llmrt_precision *p)
{
    llmrt_config *cfg = NULL;
    ck_assert_int_eq(llmrt_config_new(&cfg), 0);
    int rc = llmrt_config_load_string(cfg, ini, "test");
    if (!rc) rc = llmrt_precision_read(cfg, format, NULL, p);
    llmrt_config_free(cfg);
    return rc;
}

START_TEST(policy_by_format)
{
    llmrt_precision p;
    ck_assert_int_eq(read_policy("fp32", "", &p), 0);
    ck_assert_int_eq(p.compute_type, LLMRT_DTYPE_F32);
    ck_assert(!p.master_weights && !p.qat && !p.loss_scale_dynamic && p.loss_scale_initial == 1.0);
    ck_assert_int_eq(read_policy("bf16", "", &p), 0);
    ck_assert_int_eq(p.compute_type, LLMRT_DTYPE_BF16);
    ck_assert_int_eq(p.reduce_type, LLMRT_DTYPE_BF16);
    ck_assert(p.master_weights && !p.loss_scale_dynamic);
    ck_assert_int_eq(read_policy("fp16", "", &p), 0);
    ck_assert_int_eq(p.compute_type, LLMRT_DTYPE_F16);
    ck_assert(p.loss_scale_dynamic && p.loss_scale_initial == 65536.0);
    ck_assert(p.loss_scale_window == 1000 && p.loss_scale_hysteresis == 2);
    ck_assert(p.loss_scale_min == 1.0 && p.loss_scale_factor == 2.0);
    ck_assert_int_eq(read_policy("int8", "", &p), 0);
    ck_assert_int_eq(p.compute_type, LLMRT_DTYPE_F32);
    ck_assert(p.qat && !p.master_weights);
    ck_assert_int_eq(read_policy("bf16", "[precision]\nreduce_format = fp32\n"
                                         "stochastic_rounding = 1\nrounding_seed = 9\n", &p), 0);
    ck_assert_int_eq(p.reduce_type, LLMRT_DTYPE_F32);
    ck_assert_int_eq(p.param_rounding, LLMRT_ROUND_STOCHASTIC);
    ck_assert_int_eq((int)p.rounding_seed, 9);
    ck_assert_int_eq(read_policy("fp32", "[precision]\nloss_scale = 1024\n", &p), 0);
    ck_assert(!p.loss_scale_dynamic && p.loss_scale_initial == 1024.0);
    ck_assert_int_eq(read_policy("fp16", "[precision]\nloss_scale = off\n", &p), 0);
    ck_assert(!p.loss_scale_dynamic && p.loss_scale_initial == 1.0);
}
END_TEST

static void expect_error(const char *format, const char *ini, const char *needle)
{
    llmrt_precision p;
    ck_assert_int_ne(read_policy(format, ini, &p), 0);
    ck_assert_msg(strstr(llmrt_last_error(), needle), "'%s' lacks '%s'", llmrt_last_error(),
                  needle);
}

START_TEST(policy_errors_name_the_key)
{
    expect_error("fp8", "", "[runtime] format = fp8");
    expect_error("fp32", "[precision]\nloss_scale = lots\n", "[precision] loss_scale = lots");
    expect_error("fp32", "[precision]\nloss_scale = -2\n", "loss_scale");
    expect_error("fp32", "[precision]\nstochastic_rounding = 1\n", "stochastic_rounding");
    expect_error("bf16", "[precision]\nreduce_format = int8\n", "reduce_format");
    expect_error("fp16", "[precision]\nloss_scale_min = 1e6\n", "loss_scale_min");
    expect_error("fp16", "[precision]\nloss_scale_window = 0\n", "loss_scale_window");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("precision");
    TCase *tc = tcase_create("loss_scale");
    tcase_add_test(tc, grows_after_window_clean_steps);
    tcase_add_test(tc, hysteresis_then_halving);
    tcase_add_test(tc, window_counts_from_the_last_overflow);
    tcase_add_test(tc, floor_then_stop);
    tcase_add_test(tc, static_scale_never_changes);
    tcase_add_loop_test(tc, scaler_table_driven, 0,
                        (int)(sizeof scaler_table / sizeof scaler_table[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("policy");
    tcase_add_test(tc, policy_by_format);
    tcase_add_test(tc, policy_errors_name_the_key);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
