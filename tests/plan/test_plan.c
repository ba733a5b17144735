/* test_plan.c — `llmrt plan`'s arithmetic: the ZeRO paper's table for
 * Psi = 7.5e9 and N = 64 with mixed-precision Adam, the 16 bytes/param rule of
 * fp32 Adam, parameter counts with suffixes (and the one-line errors for bad
 * ones), and the real-layout path against the ddp plugin's own plan(). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "plan.h"
#include "train.h"

static double model_state(const double b[LLMRT_MEM_CATEGORY_COUNT])
{
    return b[LLMRT_MEM_PARAMS] + b[LLMRT_MEM_GRADS] + b[LLMRT_MEM_OPTIMIZER];
}

/* ZeRO (arXiv 1910.02054) table 1, Psi = 7.5B, N_d = 64, K = 12: 120 GB,
 * 31.4 GB, 16.6 GB, 1.9 GB (GB = 1e9 bytes). */
START_TEST(zero_paper_table)
{
    static const struct {
        const char *strategy;
        double exact;
        const char *printed;
    } rows[] = {
        {"ddp", 120e9, "120.0"},       /* 16 Psi */
        {"zero1", 31.40625e9, "31.4"}, /* (2 + 2 + 12/64) Psi */
        {"zero2", 16.640625e9, "16.6"}, /* (2 + 14/64) Psi */
        {"zero3", 1.875e9, "1.9"},     /* 16 Psi / 64 */
        {"fsdp", 1.875e9, "1.9"},      /* full sharding = ZeRO-3 */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        for (int f = 0; f < 2; f++) {
            double b[LLMRT_MEM_CATEGORY_COUNT];
            ck_assert_int_eq(llmrt_plan_formula(7.5e9, 64, rows[i].strategy,
                                                f ? "fp16" : "bf16", b), 0);
            ck_assert_double_eq_tol(model_state(b), rows[i].exact, 1.0);
            char text[32];
            snprintf(text, sizeof text, "%.1f", model_state(b) / 1e9);
            ck_assert_str_eq(text, rows[i].printed);
            ck_assert_double_eq(b[LLMRT_MEM_ACTIVATIONS], 0.0);
        }
    }
}
END_TEST

/* fp32 Adam: 4 + 4 + 8 = 16 bytes per parameter of model state, unsharded. */
START_TEST(fp32_sixteen_bytes_per_param)
{
    double b[LLMRT_MEM_CATEGORY_COUNT], p, g, o;
    ck_assert_int_eq(llmrt_plan_formula(124e6, 1, "ddp", "fp32", b), 0);
    ck_assert_double_eq_tol(model_state(b) / 124e6, 16.0, 1e-12);
    ck_assert_double_eq_tol(b[LLMRT_MEM_PARAMS], 4 * 124e6, 1e-3);
    ck_assert_double_eq_tol(b[LLMRT_MEM_GRADS], 4 * 124e6, 1e-3);
    ck_assert_double_eq_tol(b[LLMRT_MEM_OPTIMIZER], 8 * 124e6, 1e-3);
    ck_assert_int_eq(llmrt_plan_format_bytes("bf16", &p, &g, &o), 0);
    ck_assert_double_eq(p + g + o, 16.0);
    /* ZeRO-3 on 8 ranks: 2 bytes/param. */
    ck_assert_int_eq(llmrt_plan_formula(1e9, 8, "zero3", "fp32", b), 0);
    ck_assert_double_eq_tol(model_state(b), 2e9, 1.0);
}
END_TEST

START_TEST(parse_counts)
{
    static const struct {
        const char *text;
        uint64_t value;
    } ok[] = {{"7B", 7000000000ULL}, {"124M", 124000000ULL}, {"1.5e9", 1500000000ULL},
              {"7.5e9", 7500000000ULL}, {"7.5B", 7500000000ULL}, {"350000", 350000},
              {"350k", 350000}, {"1T", 1000000000000ULL}, {"2G", 2000000000ULL},
              {"124m", 124000000ULL}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 0;
        ck_assert_msg(llmrt_plan_parse_count(ok[i].text, &v) == 0, "%s: %s", ok[i].text,
                      llmrt_last_error());
        ck_assert_uint_eq(v, ok[i].value);
    }
    static const char *const bad[] = {"", "7Q", "-5", "7BB", "abc", "0", "1e30", "B", " 7B",
                                      "7 B"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v;
        ck_assert_msg(llmrt_plan_parse_count(bad[i], &v) == LLMRT_ERR_INVALID, "'%s' accepted",
                      bad[i]);
        const char *msg = llmrt_last_error();
        ck_assert_ptr_null(strchr(msg, '\n'));
        ck_assert_msg(strstr(msg, "parameter count"), "%s", msg);
    }
}
END_TEST

START_TEST(unknown_names)
{
    double b[LLMRT_MEM_CATEGORY_COUNT];
    ck_assert_int_eq(llmrt_plan_formula(1e9, 1, "zero4", "fp32", b), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(llmrt_last_error(), "zero4"));
    ck_assert_ptr_nonnull(strstr(llmrt_last_error(), "zero3"));
    ck_assert_int_eq(llmrt_plan_formula(1e9, 1, "ddp", "fp8", b), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(llmrt_last_error(), "bf16"));
}
END_TEST

/* The real-layout path asks the ddp plugin: 16 bytes per (padded) parameter,
 * the model's activations and the runtime's scratch. */
START_TEST(layout_ddp)
{
    llmrt_config *cfg;
    ck_assert_int_eq(llmrt_config_new(&cfg), 0);
    ck_assert_int_eq(llmrt_config_load_string(cfg, "[model]\nlayers = 2\nheads = 2\ndim = 32\n"
                                                   "context = 16\nvocab = 256\n", "tiny"), 0);
    llmrt_model_config mc;
    ck_assert_int_eq(llmrt_read_model_config(cfg, &mc), 0);
    size_t b[LLMRT_MEM_CATEGORY_COUNT];
    int rc = llmrt_plan_layout(cfg, "ddp", &mc, NULL, 1, 0, 4, 16, b);
    ck_assert_msg(rc == 0, "%s", llmrt_last_error());
    size_t padded = 0;
    llmrt_model_layout layout;
    ck_assert_int_eq(llmrt_model_layout_build(&mc, &layout), 0);
    for (size_t u = 0; u < layout.n_units; u++) padded += (layout.units[u].numel + 15) & ~(size_t)15;
    llmrt_model_layout_free(&mc, &layout);
    ck_assert_uint_eq(b[LLMRT_MEM_PARAMS], 4 * padded);
    ck_assert_uint_eq(b[LLMRT_MEM_GRADS], 4 * padded);
    ck_assert_uint_eq(b[LLMRT_MEM_OPTIMIZER], 8 * padded);
    ck_assert_uint_eq(b[LLMRT_MEM_ACTIVATIONS], llmrt_model_activation_bytes(&mc, 4, 16));
    ck_assert_uint_ge(b[LLMRT_MEM_COMM], LLMRT_PLAN_RUNTIME_COMM_BYTES);
    ck_assert_int_eq(llmrt_plan_layout(cfg, "nope", &mc, NULL, 1, 0, 4, 16, b), LLMRT_ERR_INVALID);
    llmrt_config_free(cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("plan");
    tcase_add_test(tc, zero_paper_table);
    tcase_add_test(tc, fp32_sixteen_bytes_per_param);
    tcase_add_test(tc, parse_counts);
    tcase_add_test(tc, unknown_names);
    tcase_add_test(tc, layout_ddp);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
