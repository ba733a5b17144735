/* test_gpt_qat.c — int8 quantization-aware training in core/gpt.c: the
 * layout and initialisation of the learned step sizes, the activation
 * memory, the gradients against central finite differences where those are
 * comparable, and loss, every gradient and 10 AdamW losses against PyTorch's
 * learnable fake quantizer (tests/model/gpt_qat_fixture.safetensors, made by
 * make_qat_fixture.py).
 *
 * What finite differences can check. LSQ's round() has derivative zero
 * almost everywhere, so the straight-through weight gradient and the LSQ
 * step gradient are definitions, not derivatives of the loss; a finite
 * difference in a weight or a step size alone measures something else
 * (zero, or a jump). Two things are derivatives of the loss:
 *  (a) every tensor that is not quantized (embeddings, LayerNorms, biases):
 *      with the weights fixed the quantized weights are fixed, and the loss
 *      is smooth in these;
 *  (b) the direction that scales one output channel's weights and its step
 *      together, (w, s) -> (1 + e)(w, s): v = w / s, hence q, does not move,
 *      and w_q = q s (1 + e) moves linearly. Its derivative is
 *          sum_i dL/dw_q[i] q_i s,
 *      and in terms of what the model reports (dw straight-through: dL/dw_q
 *      inside the range, 0 where clamped; dscale = g sum dL/dw_q (q - v) or
 *      qmax/qmin where clamped, g the grad factor) that is
 *          s dscale / g + sum_i dw_i w_i,
 *      which checks the step gradient, its grad factor and the weight
 *      gradient together, clamped elements included. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/convert.h>

#include "gpt_test_util.h"
#include "qat.h"

static const char FIXTURE[] = "gpt_qat_fixture.safetensors";

/* Tolerances against PyTorch: as test_gpt_reference (both compute the same
 * float32 fake quantization; the rest of the reference is float64). */
static const double GRAD_TOL = 1e-5, LOSS_TOL = 1e-5, ADAM_TOL = 1e-5;

/* Finite differences: steps (in parameter norm along a unit direction for
 * (a), relative for (b)) and the tolerance. The fp32 loss is exact to about
 * 1e-6 absolute; the steps make that noise, and the truncation error of the
 * central difference, both small next to the derivatives measured here. */
static double FD_STEP = 1e-2, FD_STEP_LSQ = 5e-2, FD_TOL = 5e-3;

/* LLMRT_TEST_QUICK (check-valgrind): finite differences of the first block
 * and the head only. */
static int quick(void)
{
    const char *q = getenv("LLMRT_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

/* convert.h rule 4 on the host: q of w at step s. */
static float q_host(float w, float s)
{
    return llmrt_quant_round(w, 1.0f / llmrt_quant_scale(s), LLMRT_I8_QMIN, LLMRT_I8_QMAX);
}

static const char *const quantized[4] = {"attn.c_attn.weight", "attn.c_proj.weight",
                                         "mlp.c_fc.weight", "mlp.c_proj.weight"};

/* --- no runtime ------------------------------------------------------------ */

START_TEST(config_check)
{
    llmrt_gpt_config c = {.layers = 2, .heads = 2, .dim = 8, .context = 5, .vocab = 11,
                          .qat = 1};
    OK(llmrt_gpt_config_check(&c));
    c.dtype = LLMRT_DTYPE_BF16;
    ck_assert_int_eq(llmrt_gpt_config_check(&c), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "[runtime] format"));
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "bf16"));
    c.dtype = LLMRT_DTYPE_F16;
    ck_assert_int_eq(llmrt_gpt_config_check(&c), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "[runtime] format"));
    c.dtype = LLMRT_DTYPE_I8;
    c.qat = 0;
    ck_assert_int_eq(llmrt_gpt_config_check(&c), LLMRT_ERR_INVALID);
    c.dtype = LLMRT_DTYPE_F32;
    c.qat = 2;
    ck_assert_int_eq(llmrt_gpt_config_check(&c), LLMRT_ERR_INVALID);
    llmrt_model_layout lay;
    c.qat = 0;
    c.dtype = LLMRT_DTYPE_BF16;
    OK(llmrt_gpt_layout_build(&c, &lay));
    ck_assert_int_eq(lay.param_type, LLMRT_DTYPE_BF16);
    ck_assert_int_eq(lay.grad_type, LLMRT_DTYPE_BF16);
    ck_assert_int_eq(lay.reduce_type, LLMRT_DTYPE_BF16);
    llmrt_gpt_layout_free(&lay);
}
END_TEST

START_TEST(layout)
{
    const size_t C = 8, L = 3;
    llmrt_gpt_config plain = {.layers = 3, .heads = 2, .dim = 8, .context = 5, .vocab = 11};
    llmrt_gpt_config c = plain;
    c.qat = 1;
    llmrt_model_layout lay;
    OK(llmrt_gpt_layout_build(&c, &lay));
    ck_assert_int_eq(lay.param_type, LLMRT_DTYPE_F32);
    ck_assert_uint_eq(lay.units[0].n_tensors, 2);
    ck_assert_uint_eq(lay.units[L + 1].n_tensors, 2);
    static const size_t scale_len[4] = {24, 8, 32, 8};
    for (size_t u = 1; u <= L; u++) {
        const llmrt_unit_desc *unit = &lay.units[u];
        ck_assert_uint_eq(unit->n_tensors, 16);
        ck_assert_uint_eq(unit->numel, 12 * C * C + 13 * C + 9 * C);
        for (size_t k = 0; k < 4; k++) {
            const llmrt_tensor_desc *td = &unit->tensors[12 + k];
            char want[128];
            snprintf(want, sizeof want, "transformer.h.%zu.%s_scale", u - 1, quantized[k]);
            ck_assert_str_eq(td->name, want);
            ck_assert_uint_eq(td->numel, scale_len[k]);
            ck_assert_int_eq(td->weight_decay, 0);
            int64_t d[2];
            ck_assert_int_eq(llmrt_gpt_tensor_shape(&c, u, 12 + k, d), 1);
            ck_assert_int_eq(d[0], (int64_t)scale_len[k]);
            /* the weight it belongs to: [in, out], one step per column */
            static const size_t weight_of[4] = {2, 4, 8, 10};
            ck_assert_int_eq(llmrt_gpt_tensor_scale(&c, u, weight_of[k]), (int)(12 + k));
            ck_assert_int_eq(llmrt_gpt_tensor_shape(&c, u, weight_of[k], d), 2);
            ck_assert_int_eq(d[1], (int64_t)scale_len[k]);
            snprintf(want, sizeof want, "%s_scale", unit->tensors[weight_of[k]].name);
            ck_assert_str_eq(td->name, want);
            ck_assert_int_eq(llmrt_gpt_tensor_scale(&plain, u, weight_of[k]), -1);
        }
        for (size_t t = 0; t < 16; t++)
            if (t != 2 && t != 4 && t != 8 && t != 10)
                ck_assert_int_eq(llmrt_gpt_tensor_scale(&c, u, t), -1);
        ck_assert_uint_eq(unit->tensors[15].offset + unit->tensors[15].numel, unit->numel);
    }
    ck_assert_int_eq(llmrt_gpt_tensor_scale(&c, 0, 0), -1);
    ck_assert_int_eq(llmrt_gpt_tensor_scale(&c, L + 1, 0), -1);
    ck_assert_uint_eq(llmrt_gpt_n_params(&c), llmrt_gpt_n_params(&plain) + L * 9 * C);
    llmrt_gpt_layout_free(&lay);
}
END_TEST

START_TEST(init)
{
    llmrt_gpt_config plain = {.layers = 2, .heads = 4, .dim = 32, .context = 16, .vocab = 100};
    llmrt_gpt_config c = plain;
    c.qat = 1;
    llmrt_model_layout lay, lay_plain;
    OK(llmrt_gpt_layout_build(&c, &lay));
    OK(llmrt_gpt_layout_build(&plain, &lay_plain));
    for (size_t u = 0; u < lay.n_units; u++) {
        size_t n = lay.units[u].numel, n_plain = lay_plain.units[u].numel;
        float *q = malloc(n * sizeof *q), *p = malloc(n_plain * sizeof *p);
        float *again = malloc(n * sizeof *again);
        ck_assert(q && p && again);
        llmrt_gpt_init_unit(&c, u, 42, q);
        llmrt_gpt_init_unit(&plain, u, 42, p);
        /* the same weights as without QAT */
        ck_assert_int_eq(memcmp(q, p, n_plain * sizeof *p), 0);
        size_t checked = 0;
        for (size_t t = 0; t < lay.units[u].n_tensors; t++) {
            int si = llmrt_gpt_tensor_scale(&c, u, t);
            if (si < 0) continue;
            int64_t d[2];
            ck_assert_int_eq(llmrt_gpt_tensor_shape(&c, u, t, d), 2);
            const float *w = q + lay.units[u].tensors[t].offset;
            const float *s = q + lay.units[u].tensors[si].offset;
            for (int64_t col = 0; col < d[1]; col++) {
                double sum = 0.0;
                for (int64_t i = 0; i < d[0]; i++) sum += fabs(w[i * d[1] + col]);
                double want = 2.0 * (sum / (double)d[0]) / sqrt(127.0);
                ck_assert_msg(fabs(s[col] - want) <= 1e-6 * want, "step %g, LSQ init %g",
                              s[col], want);
                ck_assert(s[col] > 0.0f);
                checked++;
            }
        }
        ck_assert_uint_eq(checked, u >= 1 && u <= 2 ? 9 * 32 : 0);
        /* recomputed from the weights after being lost */
        memcpy(again, q, n * sizeof *q);
        for (size_t i = n_plain; i < n; i++) again[i] = 0.0f;
        OK(llmrt_gpt_qat_init_scales(&c, u, again));
        ck_assert_int_eq(memcmp(again, q, n * sizeof *q), 0);
        free(q);
        free(p);
        free(again);
    }
    float x[4];
    ck_assert_int_eq(llmrt_gpt_qat_init_scales(&plain, 1, x), LLMRT_ERR_INVALID);
    ck_assert_int_eq(llmrt_gpt_qat_init_scales(&c, lay.n_units, x), LLMRT_ERR_INVALID);
    ck_assert_double_eq_tol(llmrt_qat_grad_factor(64), 1.0 / sqrt(64.0 * 127.0), 1e-9);
    llmrt_gpt_layout_free(&lay);
    llmrt_gpt_layout_free(&lay_plain);
}
END_TEST

/* --- on the runtime ------------------------------------------------------- */

START_TEST(activation_bytes)
{
    llmrt_gpt_config c = {.layers = 2, .heads = 4, .dim = 32, .context = 16, .vocab = 100,
                          .qat = 1};
    llmrt_gpt_config plain = c;
    plain.qat = 0;
    gpt_env e;
    gpt_env_open(&e, &c, 2, 16);
    size_t measured = llmrt_rt_mem_current(e.rt, LLMRT_MEM_ACTIVATIONS) - e.act_before;
    size_t predicted = llmrt_gpt_activation_bytes(&c, 2, 16);
    size_t scratch = 4 * 32 * 32 * sizeof(float); /* 4C^2 fp32, a multiple of 64 */
    printf("qat activations: predicted %zu, measured %zu, plain %zu\n", predicted, measured,
           llmrt_gpt_activation_bytes(&plain, 2, 16));
    ck_assert_uint_eq(measured, predicted);
    ck_assert_uint_eq(predicted, llmrt_gpt_activation_bytes(&plain, 2, 16) + 2 * scratch);
    gpt_env_close(&e);
}
END_TEST

typedef gpt_fixture_run qat_run;

static void run_open(qat_run *r) { gpt_fixture_run_open(r, FIXTURE, 1); }

START_TEST(pytorch_gradients)
{
    qat_run r;
    run_open(&r);
    gpt_fixture_run_loss(&r, LOSS_TOL, "qat ");
    gpt_fixture_check_grads(r.fx, &r.env, GRAD_TOL, NULL);

    /* The clamped weights have a zero straight-through gradient here too. */
    size_t zeros = 0;
    for (size_t u = 1; u <= (size_t)r.cfg.layers; u++) {
        const llmrt_unit_desc *unit = &r.env.layout->units[u];
        float *g = malloc(unit->numel * sizeof *g);
        ck_assert_ptr_nonnull(g);
        gpt_env_read_grads(&r.env, u, g);
        for (size_t t = 0; t < unit->n_tensors; t++)
            if (llmrt_gpt_tensor_scale(&r.cfg, u, t) >= 0)
                for (size_t i = 0; i < unit->tensors[t].numel; i++)
                    zeros += g[unit->tensors[t].offset + i] == 0.0f;
        free(g);
    }
    printf("clamped weights (zero gradient): %zu, fixture %d\n", zeros,
           gpt_fixture_meta_int(r.fx, "qat.clamped_weights"));
    ck_assert_uint_eq(zeros, (size_t)gpt_fixture_meta_int(r.fx, "qat.clamped_weights"));
    gpt_fixture_run_close(&r);
}
END_TEST

START_TEST(pytorch_adamw)
{
    qat_run r;
    run_open(&r);
    gpt_fixture_run_adamw(&r, ADAM_TOL, "qat ");
    gpt_fixture_run_close(&r);
}
END_TEST

/* Micro-batch `mb` of `n`: forward and backward of the fixture's batch,
 * then a host copy of every unit's gradients. */
static float **microbatch_grads(qat_run *r, int mb, int n)
{
    OK(llmrt_rt_begin_microbatch(r->env.rt, mb, n));
    gpt_env_loss(&r->env, r->inputs, r->targets, r->B, r->T);
    OK(llmrt_gpt_backward(r->env.model, 1.0f));
    return gpt_env_grads_copy(&r->env);
}

/* Gradients accumulate across micro-batches: the same batch twice gives
 * twice the gradients, steps included, which also shows that the d w_q
 * scratch starts from zero in every backward. In the blocks every gradient
 * gets one addition per backward, so the doubling is exact (a + a); wte
 * gets two (the head's and the embedding's), whose rounding differs. */
START_TEST(accumulation)
{
    qat_run r;
    run_open(&r);
    const llmrt_model_layout *lay = r.env.layout;
    size_t U = lay->n_units;
    float **once = microbatch_grads(&r, 0, 3);
    float **twice = microbatch_grads(&r, 1, 3);
    size_t n_scales = 0;
    for (size_t u = 0; u < U; u++) {
        int block = u >= 1 && u <= (size_t)r.cfg.layers;
        for (size_t i = 0; i < lay->units[u].numel; i++) {
            if (!block) once[u][i] *= 2.0f;
            else
                ck_assert_msg(twice[u][i] == 2.0f * once[u][i], "unit %zu [%zu]: %a, once %a",
                              u, i, twice[u][i], once[u][i]);
        }
        if (!block) ck_assert(rel_err_rms(twice[u], once[u], lay->units[u].numel) <= 1e-6);
        for (size_t t = 0; t < lay->units[u].n_tensors; t++)
            n_scales += strstr(lay->units[u].tensors[t].name, "_scale") != NULL;
    }
    ck_assert_uint_eq(n_scales, 4 * (size_t)r.cfg.layers);
    gpt_units_free(once, U);
    gpt_units_free(twice, U);
    gpt_fixture_run_close(&r);
}
END_TEST

/* Loss at params + h * dir (dir: one vector per unit, NULL where zero). */
static double loss_along(qat_run *r, float **base, float **dir, double h)
{
    const llmrt_model_layout *lay = r->env.layout;
    for (size_t u = 0; u < lay->n_units; u++) {
        if (!dir[u]) continue;
        size_t n = lay->units[u].numel;
        float *x = malloc(n * sizeof *x);
        ck_assert_ptr_nonnull(x);
        for (size_t i = 0; i < n; i++) x[i] = (float)((double)base[u][i] + h * dir[u][i]);
        gpt_env_set_params(&r->env, u, x);
        free(x);
    }
    double loss = gpt_env_loss(&r->env, r->inputs, r->targets, r->B, r->T);
    for (size_t u = 0; u < lay->n_units; u++)
        if (dir[u]) gpt_env_set_params(&r->env, u, base[u]);
    return loss;
}

/* The q of every quantized weight at base + h * dir equals that at base. */
static int q_unchanged(qat_run *r, float **base, float **dir, double h)
{
    const llmrt_model_layout *lay = r->env.layout;
    for (size_t u = 1; u <= (size_t)r->cfg.layers; u++) {
        if (!dir[u]) continue;
        const llmrt_unit_desc *unit = &lay->units[u];
        for (size_t t = 0; t < unit->n_tensors; t++) {
            int si = llmrt_gpt_tensor_scale(&r->cfg, u, t);
            if (si < 0) continue;
            int64_t d[2];
            llmrt_gpt_tensor_shape(&r->cfg, u, t, d);
            size_t wo = unit->tensors[t].offset, so = unit->tensors[si].offset;
            for (int64_t i = 0; i < d[0] * d[1]; i++) {
                size_t wi = wo + (size_t)i, ci = so + (size_t)(i % d[1]);
                float w1 = (float)((double)base[u][wi] + h * dir[u][wi]);
                float s1 = (float)((double)base[u][ci] + h * dir[u][ci]);
                if (q_host(w1, s1) != q_host(base[u][wi], base[u][ci])) return 0;
            }
        }
    }
    return 1;
}

/* Central difference of the loss along dir, with a step that leaves every q
 * where it is (halved until it does). */
static double central_difference(qat_run *r, float **base, float **dir, double h)
{
    while (!q_unchanged(r, base, dir, h) || !q_unchanged(r, base, dir, -h)) h *= 0.5;
    return (loss_along(r, base, dir, h) - loss_along(r, base, dir, -h)) / (2.0 * h);
}

START_TEST(finite_differences)
{
    qat_run r;
    run_open(&r);
    const llmrt_model_layout *lay = r.env.layout;
    size_t U = lay->n_units;
    float **grad = microbatch_grads(&r, 0, 2);
    float **base = gpt_env_params_copy(&r.env);
    float **dir = calloc(U, sizeof *dir);
    ck_assert_ptr_nonnull(dir);
    for (size_t u = 0; u < U; u++) {
        dir[u] = calloc(lay->units[u].numel, sizeof *dir[u]);
        ck_assert_ptr_nonnull(dir[u]);
    }
    float **none = calloc(U, sizeof *none);
    double worst_smooth = 0.0, worst_lsq = 0.0;

    /* (a) every tensor that is not quantized, along its own gradient: the
     * derivative there is |g|. Step: 1e-2 in parameter norm. */
    for (size_t u = 0; u < U; u++) {
        if (quick() && u != 1 && u != U - 1) continue;
        for (size_t t = 0; t < lay->units[u].n_tensors; t++) {
            const llmrt_tensor_desc *td = &lay->units[u].tensors[t];
            int quant = llmrt_gpt_tensor_scale(&r.cfg, u, t) >= 0 ||
                        strstr(td->name, "_scale") != NULL;
            if (quant) continue;
            double nn = 0.0;
            for (size_t i = 0; i < td->numel; i++)
                nn += (double)grad[u][td->offset + i] * grad[u][td->offset + i];
            double norm = sqrt(nn);
            memset(dir[u], 0, lay->units[u].numel * sizeof *dir[u]);
            for (size_t i = 0; i < td->numel; i++)
                dir[u][td->offset + i] = (float)(grad[u][td->offset + i] / norm);
            for (size_t v = 0; v < U; v++) none[v] = v == u ? dir[u] : NULL;
            double fd = central_difference(&r, base, none, FD_STEP);
            double e = fabs(fd - norm) / norm;
            printf("  fd %-44s %.6e vs |g| %.6e, rel %.1e\n", td->name, fd, norm, e);
            if (e > worst_smooth) worst_smooth = e;
            ck_assert_msg(e <= FD_TOL, "%s: finite difference %.6e, gradient norm %.6e",
                          td->name, fd, norm);
        }
        memset(dir[u], 0, lay->units[u].numel * sizeof *dir[u]);
    }

    /* (b) per quantized weight, (w[:, c], s[c]) scaled together over a set of
     * output channels c: the columns with a clamped element
     * (make_qat_fixture.py puts one in every 8th), and the others. One
     * column alone moves the loss too little to measure in fp32. */
    for (size_t u = 1; u <= (quick() ? 1 : (size_t)r.cfg.layers); u++) {
        const llmrt_unit_desc *unit = &lay->units[u];
        for (size_t t = 0; t < unit->n_tensors; t++) {
            int si = llmrt_gpt_tensor_scale(&r.cfg, u, t);
            if (si < 0) continue;
            int64_t d[2];
            llmrt_gpt_tensor_shape(&r.cfg, u, t, d);
            size_t wo = unit->tensors[t].offset, so = unit->tensors[si].offset;
            double g = llmrt_qat_grad_factor(d[0]);
            for (int clamped_set = 1; clamped_set >= 0; clamped_set--) {
                memset(dir[u], 0, unit->numel * sizeof *dir[u]);
                double want = 0.0;
                for (int64_t c = 0; c < d[1]; c++) {
                    if ((c % 8 == 0) != clamped_set) continue;
                    want += (double)base[u][so + c] * grad[u][so + c] / g;
                    dir[u][so + c] = base[u][so + c];
                    for (int64_t i = 0; i < d[0]; i++) {
                        size_t wi = wo + (size_t)(i * d[1] + c);
                        dir[u][wi] = base[u][wi];
                        want += (double)grad[u][wi] * base[u][wi];
                    }
                }
                for (size_t v = 0; v < U; v++) none[v] = v == u ? dir[u] : NULL;
                double fd = central_difference(&r, base, none, FD_STEP_LSQ);
                double e = fabs(fd - want) / fabs(want);
                printf("  fd %-40s %s: %.6e vs s ds/g + w.dw %.6e, rel %.1e\n",
                       unit->tensors[t].name, clamped_set ? "clamped cols" : "other cols  ",
                       fd, want, e);
                if (e > worst_lsq) worst_lsq = e;
                ck_assert_msg(e <= FD_TOL, "%s: finite difference %.6e, from the gradients "
                              "%.6e", unit->tensors[t].name, fd, want);
            }
        }
        memset(dir[u], 0, unit->numel * sizeof *dir[u]);
    }
    printf("finite differences: smooth tensors max rel %.1e, LSQ directions max rel %.1e\n",
           worst_smooth, worst_lsq);
    gpt_units_free(base, U);
    gpt_units_free(grad, U);
    gpt_units_free(dir, U);
    free(none);
    gpt_fixture_run_close(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gpt_qat");
    const TTest *host[] = {config_check, layout, init};
    const TTest *rt[] = {activation_bytes, pytorch_gradients, pytorch_adamw, accumulation,
                         finite_differences};
    GPT_ADD_TCASE(s, "host", 0, host);
    GPT_ADD_TCASE(s, "runtime", 600, rt);
    return gpt_test_run(s);
}
