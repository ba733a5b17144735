/* test_weights.c — weights files with Hugging Face GPT-2 names: with or
 * without the "transformer." prefix, with the causal-mask buffers and the
 * tied lm_head that older files carry; and the errors for missing, stray and
 * mis-shaped tensors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "safetensors.h"
#include "train.h"

static char tmpdir[] = "/tmp/llmrt-weights-XXXXXX";

static llmrt_config *tiny_config(void)
{
    llmrt_config *cfg;
    ck_assert_int_eq(llmrt_config_new(&cfg), 0);
    const char *text = "[model]\nlayers = 2\nheads = 2\ndim = 16\ncontext = 8\nvocab = 32\n"
                       "[cpu]\nthreads = 1\n";
    ck_assert_int_eq(llmrt_config_load_string(cfg, text, "tiny"), 0);
    return cfg;
}

/* Value of parameter i of tensor t: distinct and exactly representable. */
static float value(size_t t, size_t i) { return (float)(t * 1000 + i % 997) / 1024.0f; }

typedef enum { PREFIXED, BARE, BARE_WITH_BUFFERS } naming;

/* Write the model's tensors under the chosen naming; `skip` names a tensor to
 * leave out, `extra` adds a tensor the model does not have, `bad_shape` gives
 * wpe the wrong shape. */
static void write_weights(llmrt_session *s, const char *path, naming nm, const char *skip,
                          const char *extra, int bad_shape)
{
    const llmrt_model_layout *layout = llmrt_model_get_layout(s->model);
    llmrt_st_writer *w;
    ck_assert_int_eq(llmrt_st_writer_new(&w), 0);
    float *bufs[64] = {0};
    size_t nb = 0, k = 0;
    for (size_t u = 0; u < layout->n_units; u++)
        for (size_t t = 0; t < layout->units[u].n_tensors; t++, k++) {
            const llmrt_tensor_desc *td = &layout->units[u].tensors[t];
            const char *name = nm == PREFIXED ? td->name : td->name + strlen("transformer.");
            if (skip && !strcmp(skip, td->name)) continue;
            int64_t dims[2];
            uint64_t shape[2];
            int nd = llmrt_model_tensor_shape(&s->model_cfg, u, t, dims);
            for (int d = 0; d < nd; d++) shape[d] = (uint64_t)dims[d];
            if (bad_shape && strstr(name, "wpe")) shape[0] += 1;
            float *b = bufs[nb++] = calloc(td->numel + dims[1] + 1, sizeof *b);
            for (size_t i = 0; i < td->numel; i++) b[i] = value(k, i);
            ck_assert_int_eq(llmrt_st_writer_add(w, name, LLMRT_ST_F32, nd, shape, b), 0);
        }
    static float mask[8 * 8], lm_head[32 * 16], one = 1.0f;
    if (nm == BARE_WITH_BUFFERS) {
        uint64_t mshape[4] = {1, 1, 8, 8}, lshape[2] = {32, 16};
        ck_assert_int_eq(llmrt_st_writer_add(w, "h.0.attn.bias", LLMRT_ST_F32, 4, mshape, mask), 0);
        ck_assert_int_eq(llmrt_st_writer_add(w, "h.1.attn.masked_bias", LLMRT_ST_F32, 0, NULL, &one), 0);
        ck_assert_int_eq(llmrt_st_writer_add(w, "lm_head.weight", LLMRT_ST_F32, 2, lshape, lm_head), 0);
    }
    if (extra) {
        uint64_t shape[1] = {1};
        ck_assert_int_eq(llmrt_st_writer_add(w, extra, LLMRT_ST_F32, 1, shape, &one), 0);
    }
    ck_assert_int_eq(llmrt_st_writer_write(w, path), 0);
    llmrt_st_writer_free(w);
    for (size_t i = 0; i < nb; i++) free(bufs[i]);
}

/* Every parameter holds value(tensor index, i). */
static void check_loaded(llmrt_session *s)
{
    const llmrt_model_layout *layout = llmrt_model_get_layout(s->model);
    size_t k = 0;
    for (size_t u = 0; u < layout->n_units; u++) {
        float *dev, *host = malloc(layout->units[u].numel * sizeof *host);
        ck_assert_int_eq(llmrt_rt_pre_forward(s->rt, u, (void **)&dev), 0);
        ck_assert_int_eq(llmrt_rt_download(s->rt, host, dev, layout->units[u].numel * 4), 0);
        ck_assert_int_eq(llmrt_rt_post_forward(s->rt, u), 0);
        for (size_t t = 0; t < layout->units[u].n_tensors; t++, k++) {
            const llmrt_tensor_desc *td = &layout->units[u].tensors[t];
            for (size_t i = 0; i < td->numel; i++)
                ck_assert_msg(host[td->offset + i] == value(k, i), "%s[%zu]", td->name, i);
        }
        free(host);
    }
}

static void roundtrip(naming nm)
{
    llmrt_config *cfg = tiny_config();
    llmrt_session s;
    char path[256];
    snprintf(path, sizeof path, "%s/w%d.safetensors", tmpdir, (int)nm);
    ck_assert_msg(llmrt_session_open(&s, cfg, 1, 0) == 0, "%s", llmrt_last_error());
    write_weights(&s, path, nm, NULL, NULL, 0);
    ck_assert_msg(llmrt_session_load_weights(&s, path) == 0, "%s", llmrt_last_error());
    check_loaded(&s);
    /* What we write loads back the same (the checkpoint path). */
    snprintf(path, sizeof path, "%s/saved%d.safetensors", tmpdir, (int)nm);
    ck_assert_int_eq(llmrt_session_save_weights(&s, path), 0);
    ck_assert_int_eq(llmrt_session_init_params(&s, 3), 0);
    ck_assert_int_eq(llmrt_session_load_weights(&s, path), 0);
    check_loaded(&s);
    llmrt_session_close(&s);
    llmrt_config_free(cfg);
}

START_TEST(test_prefixed) { roundtrip(PREFIXED); }
END_TEST

START_TEST(test_bare) { roundtrip(BARE); }
END_TEST

START_TEST(test_bare_with_buffers) { roundtrip(BARE_WITH_BUFFERS); }
END_TEST

static void expect_error(const char *skip, const char *extra, int bad_shape, const char *needle)
{
    llmrt_config *cfg = tiny_config();
    llmrt_session s;
    char path[256];
    snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);
    ck_assert_int_eq(llmrt_session_open(&s, cfg, 1, 0), 0);
    write_weights(&s, path, PREFIXED, skip, extra, bad_shape);
    ck_assert_int_ne(llmrt_session_load_weights(&s, path), 0);
    ck_assert_msg(strstr(llmrt_last_error(), needle) && strstr(llmrt_last_error(), "bad.safetensors"),
                  "message '%s' lacks '%s'", llmrt_last_error(), needle);
    ck_assert_ptr_null(strchr(llmrt_last_error(), '\n'));
    llmrt_session_close(&s);
    llmrt_config_free(cfg);
}

START_TEST(test_missing_tensor)
{
    expect_error("transformer.h.1.mlp.c_fc.bias", NULL, 0, "transformer.h.1.mlp.c_fc.bias");
}
END_TEST

START_TEST(test_stray_tensor) { expect_error(NULL, "transformer.h.7.attn.c_attn.weight", 0, "h.7"); }
END_TEST

START_TEST(test_bad_shape) { expect_error(NULL, NULL, 1, "wpe"); }
END_TEST

int main(void)
{
    if (!mkdtemp(tmpdir)) return 99;
    Suite *s = suite_create("weights");
    TCase *tc = tcase_create("hf-names");
    tcase_add_test(tc, test_prefixed);
    tcase_add_test(tc, test_bare);
    tcase_add_test(tc, test_bare_with_buffers);
    tcase_add_test(tc, test_missing_tensor);
    tcase_add_test(tc, test_stray_tensor);
    tcase_add_test(tc, test_bad_shape);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed ? 1 : 0;
}
