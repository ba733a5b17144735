/* test_gpt_dtype.c — the GPT model computing in bf16 and f16 against the
 * same model in fp32: the loss, the logits and every parameter gradient of
 * one forward/backward from the same (fp32) initial weights, and the
 * activation memory, which follows the dtype.
 *
 * Tolerances. Each stored value of a 16-bit dtype carries a relative
 * rounding error of up to u (unit roundoff: 2^-8 for bf16's 8 significant
 * bits, 2^-11 for f16's 11); the kernels compute in fp32 in between
 * (compute.h rule 7), so the error comes from the storage roundings alone:
 * the weights, and every activation and gradient buffer on the way. Those
 * errors are independent and add up like a random walk over the ~20 rounded
 * tensors a value passes through, then get amplified by the network's
 * conditioning (softmax and LayerNorm normalise, so modestly). We therefore
 * bound
 *   loss:        relative error <= 4 u
 *   logits:      max error <= 8 u times the logits' RMS (plus an absolute
 *                slack for logits near zero: the error is absolute there)
 *   gradients:   per tensor, ||g - g32|| / ||g32|| <= 16 u
 * (measured values are printed; they sit a few times below these bounds).
 * f16 runs the backward with a loss scale of 2^10, as fp16 training does:
 * many gradients here are below f16's smallest normal (6e-5) and would lose
 * their precision (or vanish) unscaled. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_test_util.h"

/* The model of the PyTorch fixtures, with a vocab that is not a multiple of
 * 64 (padded logits). */
static const llmrt_gpt_config base_cfg = {
    .layers = 2, .heads = 4, .dim = 64, .context = 16, .vocab = 200,
};
enum { B = 2, T = 16 };

typedef struct result {
    float loss;
    float *logits;  /* [B * T * vocab] */
    float **grads;  /* per unit */
    size_t n_units;
} result;

static void run(llmrt_dtype dtype, float loss_scale, result *out)
{
    llmrt_gpt_config cfg = base_cfg;
    cfg.dtype = dtype;
    int32_t in[B * T], tg[B * T];
    gpt_random_batch(in, tg, B * T, cfg.vocab, 5);
    tg[B * T - 1] = -1;
    gpt_env e;
    gpt_env_open(&e, &cfg, B, T);
    ck_assert_int_eq(e.layout->param_type, dtype);
    ck_assert_int_eq(e.layout->grad_type, dtype);
    gpt_env_init_params(&e, 11);
    OK(llmrt_rt_begin_microbatch(e.rt, 0, 2)); /* gradients stay local (ddp) */
    out->loss = gpt_env_loss(&e, in, tg, B, T);
    size_t V = (size_t)cfg.vocab;
    out->logits = malloc((size_t)B * T * V * sizeof *out->logits);
    ck_assert_ptr_nonnull(out->logits);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            OK(llmrt_gpt_logits(e.model, b, t, out->logits + ((size_t)b * T + (size_t)t) * V));
    OK(llmrt_gpt_backward(e.model, loss_scale));
    out->n_units = e.layout->n_units;
    out->grads = gpt_env_grads_copy(&e);
    for (size_t u = 0; u < out->n_units; u++)
        for (size_t i = 0; i < e.layout->units[u].numel; i++) out->grads[u][i] /= loss_scale;
    gpt_env_close(&e);
}

static void result_free(result *r)
{
    free(r->logits);
    gpt_units_free(r->grads, r->n_units);
}

static double norm_err(const float *a, const float *b, size_t n)
{
    double d = 0.0, ref = 0.0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        ref += (double)b[i] * b[i];
    }
    return ref > 0.0 ? sqrt(d / ref) : sqrt(d);
}

static void compare(llmrt_dtype dtype, const char *name, double u, float loss_scale)
{
    result ref, low;
    run(LLMRT_DTYPE_F32, 1.0f, &ref);
    run(dtype, loss_scale, &low);

    double loss_err = fabs((double)low.loss - ref.loss) / fabs((double)ref.loss);
    printf("%s: loss %.6f, fp32 %.6f, relative error %.2e (%.2f u)\n", name, low.loss, ref.loss,
           loss_err, loss_err / u);
    ck_assert_msg(loss_err <= 4 * u, "%s loss error %.3e > 4 u", name, loss_err);

    size_t nl = (size_t)B * T * (size_t)base_cfg.vocab;
    double ss = 0.0, worst_logit = 0.0;
    for (size_t i = 0; i < nl; i++) ss += (double)ref.logits[i] * ref.logits[i];
    double rms = sqrt(ss / (double)nl);
    for (size_t i = 0; i < nl; i++)
        worst_logit = fmax(worst_logit, fabs((double)low.logits[i] - ref.logits[i]));
    printf("%s: logits max error %.2e (rms %.3f: %.2f u)\n", name, worst_logit, rms,
           worst_logit / rms / u);
    ck_assert_msg(worst_logit <= 8 * u * rms, "%s logits error %.3e > 8 u rms", name,
                  worst_logit);

    llmrt_model_layout lay;
    llmrt_gpt_config cfg = base_cfg;
    OK(llmrt_gpt_layout_build(&cfg, &lay));
    double worst = 0.0;
    const char *worst_name = "";
    for (size_t un = 0; un < lay.n_units; un++)
        for (size_t t = 0; t < lay.units[un].n_tensors; t++) {
            const llmrt_tensor_desc *td = &lay.units[un].tensors[t];
            double e = norm_err(low.grads[un] + td->offset, ref.grads[un] + td->offset,
                                td->numel);
            printf("  %-40s %s gradient error %.2e (%.2f u)\n", td->name, name, e, e / u);
            ck_assert_msg(e <= 16 * u, "%s gradient of %s: error %.3e > 16 u", name, td->name,
                          e);
            if (e > worst) worst = e, worst_name = td->name;
        }
    printf("%s: gradients max norm-wise error %.2e (%.2f u, %s)\n", name, worst, worst / u,
           worst_name);
    llmrt_gpt_layout_free(&lay);
    result_free(&ref);
    result_free(&low);
}

START_TEST(bf16_against_fp32) { compare(LLMRT_DTYPE_BF16, "bf16", 0x1p-8, 1.0f); }
END_TEST

START_TEST(f16_against_fp32) { compare(LLMRT_DTYPE_F16, "f16", 0x1p-11, 1024.0f); }
END_TEST

/* Activation bytes follow the dtype: e B T ((16 L + 12) C + Vp) + 4 B T
 * ((heads + 4) L + 6) when no buffer needs rounding (docs/model.md). */
START_TEST(activation_bytes)
{
    static const llmrt_dtype types[] = {LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16};
    for (size_t k = 0; k < 3; k++) {
        llmrt_gpt_config c = base_cfg;
        c.dtype = types[k];
        size_t es = llmrt_dtype_size(c.dtype), L = 2, C = 64, Vp = 256, NH = 4, BT = B * T;
        size_t documented = es * BT * ((16 * L + 12) * C + Vp) + 4 * BT * ((NH + 4) * L + 6);
        ck_assert_uint_eq(llmrt_gpt_activation_bytes(&c, B, T), documented);
        gpt_env e;
        gpt_env_open(&e, &c, B, T);
        size_t measured = llmrt_rt_mem_current(e.rt, LLMRT_MEM_ACTIVATIONS) - e.act_before;
        printf("activations dtype %d: predicted %zu, measured %zu\n", (int)c.dtype,
               documented, measured);
        ck_assert_uint_eq(measured, documented);
        gpt_env_close(&e);
        /* and with rounding (B T = 3): never below the formula */
        ck_assert_uint_ge(llmrt_gpt_activation_bytes(&c, 1, 3),
                          es * 3 * ((16 * L + 12) * C + Vp) + 4 * 3 * ((NH + 4) * L + 6));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gpt_dtype");
    const TTest *dtype[] = {activation_bytes, bf16_against_fp32, f16_against_fp32};
    GPT_ADD_TCASE(s, "dtype", 300, dtype);
    return gpt_test_run(s);
}
