/* test_gpt_reference.c — core/gpt.c against the PyTorch reference fixture
 * (tests/model/gpt_tiny_fixture.safetensors, made by make_gpt_fixture.py):
 * the loss and every parameter gradient of one forward/backward, then the
 * losses of 10 AdamW steps through the strategy's optimizer_step.
 *
 * Error measure (gpt_test_util.h): for each tensor
 *   max_i |a_i - b_i| / max(|b_i|, rms(b))
 * i.e. relative error, with elements far below the tensor's RMS measured
 * against the RMS (an fp32 sum has absolute, not relative, rounding error).
 * The reference is float64, rounded to float32 when stored. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_test_util.h"
#include "safetensors.h"

/* Tolerances. */
static const double GRAD_TOL = 1e-5;  /* per tensor, rel_err_rms               */
static const double LOSS_TOL = 1e-5;  /* relative, the first forward          */
static const double ADAM_TOL = 1e-5;  /* relative, each of the 10 AdamW losses */

static const char FIXTURE[] = "gpt_tiny_fixture.safetensors";

/* --- tests ---------------------------------------------------------------- */

START_TEST(loss_and_gradients)
{
    gpt_fixture_run r;
    gpt_fixture_run_open(&r, FIXTURE, 0);
    gpt_fixture_run_loss(&r, LOSS_TOL, "");
    double ref_norm_sq = 0.0;
    gpt_fixture_check_grads(r.fx, &r.env, GRAD_TOL, &ref_norm_sq);

    /* The strategy's view of the same gradients. */
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(r.env.rt, &sctx);
    double norm_sq = 0.0;
    OK(st->grad_norm_sq(sctx, &norm_sq));
    double norm_err = fabs(sqrt(norm_sq) - sqrt(ref_norm_sq)) / sqrt(ref_norm_sq);
    printf("gradient norm %.7f, reference %.7f, relative error %.2e\n", sqrt(norm_sq),
           sqrt(ref_norm_sq), norm_err);
    ck_assert(norm_err <= GRAD_TOL);
    gpt_fixture_run_close(&r);
}
END_TEST

START_TEST(adamw_trajectory)
{
    gpt_fixture_run r;
    gpt_fixture_run_open(&r, FIXTURE, 0);
    gpt_fixture_run_adamw(&r, ADAM_TOL, "");
    gpt_fixture_run_close(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gpt_reference");
    const TTest *pytorch[] = {loss_and_gradients, adamw_trajectory};
    GPT_ADD_TCASE(s, "pytorch", 300, pytorch);
    return gpt_test_run(s);
}
