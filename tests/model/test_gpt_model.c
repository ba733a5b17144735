/* test_gpt_model.c — core/gpt.c beyond the reference fixture: config
 * checks, the parameter layout, initialisation, FLOPs, the activation
 * memory formula against the runtime's accounting, the generation path
 * (shorter and fewer sequences than the maximum), gradient accumulation over
 * micro-batches, and argument errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_test_util.h"
#include "rng.h"

/* A small model whose vocab is not a multiple of 64 (padded logits). */
static const llmrt_gpt_config small = {
    .layers = 2, .heads = 4, .dim = 32, .context = 16, .vocab = 100,
};

static void random_tokens(int32_t *ids, size_t n, int vocab, uint64_t seed)
{
    llmrt_rng r;
    llmrt_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)llmrt_rng_below(&r, (uint64_t)vocab);
}

/* --- no runtime ------------------------------------------------------------ */

START_TEST(config_check)
{
    llmrt_gpt_config c = small;
    ck_assert_int_eq(llmrt_gpt_config_check(&c), LLMRT_OK);
    c.heads = 5;
    ck_assert_int_eq(llmrt_gpt_config_check(&c), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "model.heads"));
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "model.dim"));
    c = small;
    c.layers = 0;
    ck_assert_int_eq(llmrt_gpt_config_check(&c), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "model.layers"));
    c = small;
    c.vocab = -3;
    ck_assert_int_eq(llmrt_gpt_config_check(&c), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "model.vocab"));
    c = small;
    c.context = 0;
    ck_assert_int_eq(llmrt_gpt_config_check(&c), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "model.context"));
}
END_TEST

START_TEST(layout)
{
    const llmrt_gpt_config c = {.layers = 3, .heads = 2, .dim = 8, .context = 5, .vocab = 11};
    llmrt_model_layout lay;
    OK(llmrt_gpt_layout_build(&c, &lay));
    ck_assert_uint_eq(lay.n_units, 5);
    ck_assert_uint_eq(llmrt_gpt_n_units(&c), 5);
    ck_assert_int_eq(lay.param_type, LLMRT_DTYPE_F32);
    ck_assert_int_eq(lay.grad_type, LLMRT_DTYPE_F32);
    ck_assert_str_eq(lay.units[0].name, "embedding");
    ck_assert_str_eq(lay.units[1].name, "block.0");
    ck_assert_str_eq(lay.units[3].name, "block.2");
    ck_assert_str_eq(lay.units[4].name, "head");
    ck_assert_uint_eq(lay.units[0].n_tensors, 2);
    ck_assert_uint_eq(lay.units[2].n_tensors, 12);
    ck_assert_uint_eq(lay.units[4].n_tensors, 2);
    ck_assert_str_eq(lay.units[0].tensors[0].name, "transformer.wte.weight");
    ck_assert_str_eq(lay.units[0].tensors[1].name, "transformer.wpe.weight");
    ck_assert_str_eq(lay.units[2].tensors[2].name, "transformer.h.1.attn.c_attn.weight");
    ck_assert_str_eq(lay.units[3].tensors[11].name, "transformer.h.2.mlp.c_proj.bias");
    ck_assert_str_eq(lay.units[4].tensors[0].name, "transformer.ln_f.weight");
    ck_assert_str_eq(lay.units[4].tensors[1].name, "transformer.ln_f.bias");

    static const char *const block[12] = {
        "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
        "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
        "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"};
    static const int64_t block_dims[12][2] = {
        {8, 0}, {8, 0}, {8, 24}, {24, 0}, {8, 8}, {8, 0},
        {8, 0}, {8, 0}, {8, 32}, {32, 0}, {32, 8}, {8, 0}};
    size_t total = 0;
    for (size_t u = 0; u < lay.n_units; u++) {
        const llmrt_unit_desc *unit = &lay.units[u];
        size_t off = 0;
        for (size_t t = 0; t < unit->n_tensors; t++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            int64_t dims[2];
            int ndim = llmrt_gpt_tensor_shape(&c, u, t, dims);
            ck_assert_int_ge(ndim, 1);
            ck_assert_uint_eq(td->offset, off);
            ck_assert_uint_eq(td->numel, (size_t)(dims[0] * (ndim == 2 ? dims[1] : 1)));
            ck_assert_int_eq(td->weight_decay, ndim == 2);
            if (u >= 1 && u <= 3) {
                char want[128];
                snprintf(want, sizeof want, "transformer.h.%zu.%s", u - 1, block[t]);
                ck_assert_str_eq(td->name, want);
                ck_assert_int_eq(ndim, block_dims[t][1] ? 2 : 1);
                ck_assert_int_eq(dims[0], block_dims[t][0]);
                if (ndim == 2) ck_assert_int_eq(dims[1], block_dims[t][1]);
            }
            off += td->numel;
        }
        ck_assert_uint_eq(unit->numel, off);
        ck_assert_int_eq(llmrt_gpt_tensor_shape(&c, u, unit->n_tensors, (int64_t[2]){0}), 0);
        total += off;
    }
    int64_t d[2];
    ck_assert_int_eq(llmrt_gpt_tensor_shape(&c, 0, 0, d), 2);
    ck_assert_int_eq(d[0], 11);
    ck_assert_int_eq(d[1], 8);
    ck_assert_int_eq(llmrt_gpt_tensor_shape(&c, 0, 1, d), 2);
    ck_assert_int_eq(d[0], 5);
    ck_assert_int_eq(llmrt_gpt_tensor_shape(&c, 5, 0, d), 0);
    /* V C + T C + L (12 C^2 + 13 C) + 2 C */
    ck_assert_uint_eq(total, 11 * 8 + 5 * 8 + 3 * (12 * 64 + 13 * 8) + 2 * 8);
    ck_assert_uint_eq(llmrt_gpt_n_params(&c), total);
    llmrt_gpt_layout_free(&lay);
    ck_assert_ptr_null(lay.units);

    /* GPT-2 small, as Hugging Face counts it. */
    const llmrt_gpt_config gpt2 = {.layers = 12, .heads = 12, .dim = 768, .context = 1024, .vocab = 50257};
    ck_assert_uint_eq(llmrt_gpt_n_params(&gpt2), 124439808);
    ck_assert_int_eq(llmrt_gpt_layout_build(&(llmrt_gpt_config){.layers = 2, .heads = 3, .dim = 8, .context = 4, .vocab = 4}, &lay),
                     LLMRT_ERR_INVALID);
}
END_TEST

static void moments(const float *x, size_t n, double *mean, double *std)
{
    double s = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i], ss += (double)x[i] * x[i];
    *mean = s / (double)n;
    *std = sqrt(ss / (double)n - *mean * *mean);
}

START_TEST(init)
{
    const llmrt_gpt_config c = {.layers = 4, .heads = 4, .dim = 64, .context = 64,
                                .vocab = 500};
    llmrt_model_layout lay;
    OK(llmrt_gpt_layout_build(&c, &lay));
    size_t nb = lay.units[1].numel;
    float *a = malloc(nb * sizeof *a), *b = malloc(nb * sizeof *b);
    float *e = malloc(lay.units[0].numel * sizeof *e);
    llmrt_gpt_init_unit(&c, 1, 42, a);
    llmrt_gpt_init_unit(&c, 1, 42, b);
    ck_assert(memcmp(a, b, nb * sizeof *a) == 0); /* deterministic */
    llmrt_gpt_init_unit(&c, 2, 42, b);
    ck_assert(memcmp(a, b, nb * sizeof *a) != 0); /* units differ */
    llmrt_gpt_init_unit(&c, 1, 43, b);
    ck_assert(memcmp(a, b, nb * sizeof *a) != 0); /* seeds differ */

    const llmrt_tensor_desc *t = lay.units[1].tensors;
    double mean, std, res = 0.02 / sqrt(2.0 * c.layers);
    for (size_t i = 0; i < t[0].numel; i++) ck_assert(a[t[0].offset + i] == 1.0f); /* ln_1.w */
    for (size_t i = 0; i < t[1].numel; i++) ck_assert(a[t[1].offset + i] == 0.0f); /* ln_1.b */
    for (size_t i = 0; i < t[3].numel; i++) ck_assert(a[t[3].offset + i] == 0.0f);
    moments(a + t[2].offset, t[2].numel, &mean, &std); /* c_attn.weight */
    ck_assert_double_lt(fabs(mean), 0.002);
    ck_assert_double_lt(fabs(std - 0.02), 0.02 * 0.05);
    moments(a + t[4].offset, t[4].numel, &mean, &std); /* attn.c_proj.weight */
    ck_assert_double_lt(fabs(std - res), res * 0.08);
    moments(a + t[10].offset, t[10].numel, &mean, &std); /* mlp.c_proj.weight */
    ck_assert_double_lt(fabs(std - res), res * 0.05);
    llmrt_gpt_init_unit(&c, 0, 42, e);
    moments(e, lay.units[0].numel, &mean, &std);
    ck_assert_double_lt(fabs(std - 0.02), 0.02 * 0.05);
    llmrt_gpt_init_unit(&c, 5, 42, e);
    ck_assert(e[0] == 1.0f && e[63] == 1.0f && e[64] == 0.0f && e[127] == 0.0f);
    free(a);
    free(b);
    free(e);
    llmrt_gpt_layout_free(&lay);
}
END_TEST

START_TEST(flops)
{
    const llmrt_gpt_config gpt2 = {.layers = 12, .heads = 12, .dim = 768, .context = 1024, .vocab = 50257};
    double f = llmrt_gpt_flops_per_token(&gpt2, 1024);
    ck_assert_double_eq_tol(f, 6.0 * 124439808.0 + 12.0 * 12 * 1024 * 768, 1.0);
}
END_TEST

/* --- on the runtime ------------------------------------------------------- */

/* 4 B T ((16 L + 12) C + (heads + 4) L + Vp + 6) when B T is a multiple of
 * 16 (docs/model.md). */
static size_t documented_bytes(const llmrt_gpt_config *c, size_t B, size_t T)
{
    size_t Vp = ((size_t)c->vocab + 63) / 64 * 64, L = (size_t)c->layers;
    return 4 * B * T *
           ((16 * L + 12) * (size_t)c->dim + ((size_t)c->heads + 4) * L + Vp + 6);
}

START_TEST(activation_bytes)
{
    static const int shapes[][2] = {{2, 16}, {1, 3}, {3, 7}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int B = shapes[i][0], T = shapes[i][1];
        gpt_env e;
        gpt_env_open(&e, &small, B, T);
        size_t measured = llmrt_rt_mem_current(e.rt, LLMRT_MEM_ACTIVATIONS) - e.act_before;
        size_t predicted = llmrt_gpt_activation_bytes(&small, B, T);
        printf("activations B=%d T=%d: predicted %zu, measured %zu\n", B, T, predicted,
               measured);
        ck_assert_uint_eq(measured, predicted);
        if ((B * T) % 16 == 0)
            ck_assert_uint_eq(predicted, documented_bytes(&small, (size_t)B, (size_t)T));
        else
            ck_assert_uint_ge(predicted, documented_bytes(&small, (size_t)B, (size_t)T));
        gpt_env_close(&e);
    }
    const llmrt_gpt_config gpt2 = {.layers = 12, .heads = 12, .dim = 768, .context = 1024, .vocab = 50257};
    ck_assert_uint_eq(llmrt_gpt_activation_bytes(&gpt2, 4, 1024),
                      documented_bytes(&gpt2, 4, 1024));
}
END_TEST

/* Logits of a sequence prefix (B = 1, T' < T_max) equal those of the same
 * positions in a full forward: causal attention, and nothing depends on the
 * batch's shape. */
START_TEST(generation_prefix)
{
    enum { B = 2, T = 16 };
    gpt_env e;
    gpt_env_open(&e, &small, B, T);
    gpt_env_init_params(&e, 7);
    int32_t tokens[B * T];
    random_tokens(tokens, B * T, small.vocab, 99);
    const size_t V = (size_t)small.vocab;
    float *full = malloc((size_t)B * T * V * sizeof *full), *row = malloc(V * sizeof *row);
    OK(llmrt_gpt_forward(e.model, tokens, NULL, B, T, NULL));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            OK(llmrt_gpt_logits(e.model, b, t, full + ((size_t)b * T + (size_t)t) * V));

    double worst = 0.0;
    for (int b = 0; b < B; b++) {
        for (int len = 1; len <= T; len++) {
            OK(llmrt_gpt_forward(e.model, tokens + b * T, NULL, 1, len, NULL));
            for (int t = 0; t < len; t++) {
                OK(llmrt_gpt_logits(e.model, 0, t, row));
                double err = rel_err_rms(row, full + ((size_t)b * T + (size_t)t) * V, V);
                if (err > worst) worst = err;
                ck_assert_msg(err <= 1e-5, "row %d, prefix %d, position %d: error %.2e", b,
                              len, t, err);
            }
        }
    }
    printf("generation prefix: max relative error %.2e\n", worst);
    /* Out of range. */
    ck_assert_int_eq(llmrt_gpt_logits(e.model, 1, 0, row), LLMRT_ERR_INVALID);
    ck_assert_int_eq(llmrt_gpt_logits(e.model, 0, T, row), LLMRT_ERR_INVALID);
    free(full);
    free(row);
    gpt_env_close(&e);
}
END_TEST

/* A loss over a subset of rows (B' < B_max) equals the loss of those rows in
 * the full batch, when every row has the same loss weight. Two micro-batches
 * with loss_scale 1/2 accumulate the same gradient as one with 1. */
START_TEST(accumulation)
{
    enum { B = 2, T = 12 };
    gpt_env e;
    gpt_env_open(&e, &small, B, T);
    gpt_env_init_params(&e, 11);
    int32_t seq[B * (T + 1)], in[B * T], tg[B * T];
    random_tokens(seq, B * (T + 1), small.vocab, 5);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            in[b * T + t] = seq[b * (T + 1) + t];
            tg[b * T + t] = seq[b * (T + 1) + t + 1];
        }
    const llmrt_model_layout *lay = e.layout;
    size_t n_units = lay->n_units;
    float **g1 = calloc(n_units, sizeof *g1), **g2 = calloc(n_units, sizeof *g2);
    for (size_t u = 0; u < n_units; u++) {
        g1[u] = malloc(lay->units[u].numel * sizeof(float));
        g2[u] = malloc(lay->units[u].numel * sizeof(float));
    }
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(e.rt, &sctx);
    llmrt_optim_step zero_step = {.struct_size = sizeof zero_step, .lr = 0.0f, .beta1 = 0.9f,
                                  .beta2 = 0.95f, .eps = 1e-8f, .grad_scale = 1.0f, .t = 1};

    /* One micro-batch, scale 1. Micro 0 of 2 keeps ddp from communicating
     * before the gradients are read back. */
    float l_full, l0, l1;
    OK(llmrt_rt_begin_microbatch(e.rt, 0, 2));
    OK(llmrt_gpt_forward(e.model, in, tg, B, T, &l_full));
    OK(llmrt_gpt_backward(e.model, 1.0f));
    for (size_t u = 0; u < n_units; u++) gpt_env_read_grads(&e, u, g1[u]);
    OK(st->optimizer_step(sctx, &zero_step)); /* lr 0: zeroes the gradients only */

    /* The same batch twice at scale 1/2. */
    for (int m = 0; m < 2; m++) {
        OK(llmrt_rt_begin_microbatch(e.rt, m, 3));
        OK(llmrt_gpt_forward(e.model, in, tg, B, T, &l0));
        ck_assert(l0 == l_full);
        OK(llmrt_gpt_backward(e.model, 0.5f));
    }
    for (size_t u = 0; u < n_units; u++) {
        gpt_env_read_grads(&e, u, g2[u]);
        double err = rel_err_rms(g2[u], g1[u], lay->units[u].numel);
        ck_assert_msg(err <= 1e-6, "unit %s: accumulated gradient differs by %.2e",
                      lay->units[u].name, err);
    }

    /* Each row alone (B' = 1 < B_max): the mean of the two equals the full loss. */
    OK(llmrt_gpt_forward(e.model, in, tg, 1, T, &l0));
    OK(llmrt_gpt_forward(e.model, in + T, tg + T, 1, T, &l1));
    ck_assert_double_le(fabs(0.5 * ((double)l0 + l1) - l_full), 1e-5 * l_full);
    /* Shorter sequences (T' < T_max) work too and give a finite loss. */
    OK(llmrt_gpt_forward(e.model, in, tg, 2, 5, &l0));
    ck_assert(isfinite(l0) && l0 > 0.0f);

    for (size_t u = 0; u < n_units; u++) free(g1[u]), free(g2[u]);
    free(g1);
    free(g2);
    gpt_env_close(&e);
}
END_TEST

START_TEST(argument_errors)
{
    llmrt_config *conf;
    llmrt_rt *rt;
    llmrt_gpt *m;
    OK(llmrt_config_new(&conf));
    OK(llmrt_rt_create(&rt, conf));
    llmrt_gpt_config bad = small;
    bad.heads = 3;
    ck_assert_int_eq(llmrt_gpt_create(&m, &bad, rt, 1, 8), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "model.heads"));
    ck_assert_int_eq(llmrt_gpt_create(&m, &small, rt, 1, small.context + 1),
                     LLMRT_ERR_INVALID);
    ck_assert_int_eq(llmrt_gpt_create(&m, &small, rt, 0, 8), LLMRT_ERR_INVALID);
    OK(llmrt_gpt_create(&m, &small, rt, 2, 8));

    int32_t in[16] = {0}, tg[16] = {0};
    /* No strategy attached yet. */
    ck_assert_int_eq(llmrt_gpt_forward(m, in, tg, 2, 8, NULL), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "llmrt_rt_attach_model"));
    /* The model's layout is the one llmrt_gpt_layout_build() gives. The
     * runtime borrows what it is given for its whole life, which is longer
     * than the model's: attach a layout that outlives both. */
    llmrt_model_layout lay;
    OK(llmrt_gpt_layout_build(&small, &lay));
    const llmrt_model_layout *ml = llmrt_gpt_layout(m);
    ck_assert_uint_eq(ml->n_units, lay.n_units);
    for (size_t u = 0; u < lay.n_units; u++) {
        ck_assert_str_eq(ml->units[u].name, lay.units[u].name);
        ck_assert_uint_eq(ml->units[u].numel, lay.units[u].numel);
        ck_assert_uint_eq(ml->units[u].n_tensors, lay.units[u].n_tensors);
        for (size_t t = 0; t < lay.units[u].n_tensors; t++)
            ck_assert_str_eq(ml->units[u].tensors[t].name, lay.units[u].tensors[t].name);
    }
    OK(llmrt_rt_attach_model(rt, &lay));
    /* Too large a batch or sequence. */
    ck_assert_int_eq(llmrt_gpt_forward(m, in, tg, 3, 8, NULL), LLMRT_ERR_INVALID);
    ck_assert_int_eq(llmrt_gpt_forward(m, in, tg, 2, 9, NULL), LLMRT_ERR_INVALID);
    /* Token ids out of range. */
    in[5] = small.vocab;
    ck_assert_int_eq(llmrt_gpt_forward(m, in, tg, 2, 8, NULL), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "model.vocab"));
    in[5] = 0;
    tg[3] = small.vocab;
    ck_assert_int_eq(llmrt_gpt_forward(m, in, tg, 2, 8, NULL), LLMRT_ERR_INVALID);
    tg[3] = -1; /* ignored: fine */
    /* Backward needs a forward with targets, once. */
    OK(llmrt_gpt_forward(m, in, NULL, 2, 8, NULL));
    ck_assert_int_eq(llmrt_gpt_backward(m, 1.0f), LLMRT_ERR_INVALID);
    float loss, row[100];
    OK(llmrt_gpt_forward(m, in, tg, 2, 8, &loss));
    ck_assert(isfinite(loss));
    OK(llmrt_gpt_logits(m, 1, 7, row));
    OK(llmrt_gpt_backward(m, 1.0f));
    ck_assert_int_eq(llmrt_gpt_backward(m, 1.0f), LLMRT_ERR_INVALID);
    /* The backward overwrote the logits. */
    ck_assert_int_eq(llmrt_gpt_logits(m, 1, 7, row), LLMRT_ERR_INVALID);

    llmrt_gpt_destroy(m);
    ck_assert_uint_eq(llmrt_rt_mem_current(rt, LLMRT_MEM_ACTIVATIONS), 0);
    llmrt_rt_destroy(rt);
    llmrt_gpt_layout_free(&lay);
    llmrt_config_free(conf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gpt_model");
    const TTest *host[] = {config_check, layout, init, flops};
    const TTest *rt[] = {activation_bytes, generation_prefix, accumulation, argument_errors};
    GPT_ADD_TCASE(s, "host", 0, host);
    GPT_ADD_TCASE(s, "runtime", 300, rt);
    return gpt_test_run(s);
}
