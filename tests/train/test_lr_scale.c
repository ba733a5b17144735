/* test_lr_scale.c — core/lr_scale.c: the multipliers of [train] lr_scale = rms
 * from per-tensor sums of squares (units in order, their tensors in order),
 * the floor for small tensors and a NaN kept as NaN (a diverged run must not
 * be stepped at the floor). The rule against PyTorch is in
 * tests/model/test_t5_reference; across strategies in
 * tests/shard/test_t5_multirank.sh. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "lr_scale.h"

START_TEST(rms_per_tensor)
{
    /* Two units: {4, 9 elements}, {16 elements}. */
    const llmrt_tensor_desc u0[] = {{"a", 0, 4, 1}, {"b", 4, 9, 0}};
    const llmrt_tensor_desc u1[] = {{"c", 0, 16, 1}};
    const llmrt_unit_desc units[] = {{"embedding", 13, 2, u0}, {"head", 16, 1, u1}};
    const llmrt_model_layout layout = {.struct_size = sizeof layout, .n_units = 2,
                                       .units = units};
    ck_assert_uint_eq(llmrt_lr_scale_count(&layout), 3);
    /* RMS 2 (4 elements of 2), 1e-4 (below the floor), 0.5. */
    const double sums[] = {16.0, 9.0 * 1e-8, 16.0 * 0.25};
    float scales[3];
    llmrt_lr_scale_rms(&layout, sums, LLMRT_LR_SCALE_RMS_FLOOR, scales);
    ck_assert_float_eq(scales[0], 2.0f);
    ck_assert_float_eq(scales[1], (float)LLMRT_LR_SCALE_RMS_FLOOR);
    ck_assert_float_eq(scales[2], 0.5f);
    /* A zero tensor (a bias at init) moves at the floor. */
    const double zeros[] = {0.0, 0.0, 0.0};
    llmrt_lr_scale_rms(&layout, zeros, 0.25, scales);
    ck_assert_float_eq(scales[0], 0.25f);
    ck_assert_float_eq(scales[2], 0.25f);
    /* Diverged parameters: NaN and infinity pass through. */
    const double bad[] = {NAN, INFINITY, 4.0};
    llmrt_lr_scale_rms(&layout, bad, LLMRT_LR_SCALE_RMS_FLOOR, scales);
    ck_assert(isnan(scales[0]));
    ck_assert(isinf(scales[1]));
    ck_assert_float_eq(scales[2], 0.5f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lr_scale");
    TCase *tc = tcase_create("rms");
    tcase_add_test(tc, rms_per_tensor);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
