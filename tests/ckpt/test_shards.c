/* test_shards.c — sharded checkpoints without a training run: a fake world of
 * 2 ranks writes its slices (with padding past the unit's end, as ZeRO pads
 * to the world size) and index.json; the full vectors come back exactly, a
 * world of 3 gets its new slices (re-sharding), consolidation writes one
 * file with HF names and exp_avg./exp_avg_sq. tensors, and a bad index is a
 * one-line error. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "ckpt_shards.h"
#include "error.h"
#include "fileio.h"
#include "safetensors.h"

static char dir[] = "/tmp/llmrt-shards-XXXXXX";

/* Two units: "embedding" (a [4, 3] and a [5] tensor: 17 values) and "head"
 * (one [6] tensor). */
#define N_UNITS 2
static const size_t numel[N_UNITS] = {17, 6};
static const char *const unit_names[N_UNITS] = {"embedding", "head"};

static float value(int kind, size_t unit, size_t i)
{
    return (float)(kind * 1000 + (int)unit * 100 + (int)i) / 8.0f;
}

static void fill_index(llmrt_ckpt_index *idx, int world)
{
    ck_assert_int_eq(llmrt_ckpt_index_alloc(idx, world, N_UNITS), 0);
    idx->step = 30;
    idx->strategy = strdup("fake");
    static const char *const names[] = {"transformer.wte.weight", "transformer.ln_f.bias",
                                        "transformer.ln_f.weight"};
    for (size_t u = 0; u < N_UNITS; u++) {
        llmrt_ckpt_unit_info *ui = &idx->units[u];
        ui->name = strdup(unit_names[u]);
        ui->numel = numel[u];
        ui->n_tensors = u == 0 ? 2 : 1;
        ui->tensors = calloc(ui->n_tensors, sizeof *ui->tensors);
        if (u == 0) {
            ui->tensors[0] = (llmrt_ckpt_tensor_info){strdup(names[0]), 2, {4, 3}, 0, 12};
            ui->tensors[1] = (llmrt_ckpt_tensor_info){strdup(names[1]), 1, {5, 0}, 12, 5};
        } else {
            ui->tensors[0] = (llmrt_ckpt_tensor_info){strdup(names[2]), 1, {6, 0}, 0, 6};
        }
    }
}

/* Rank r of `world`: ceil(numel / world) values each, the last padded. */
static void range_of(size_t unit, int rank, int world, size_t *b, size_t *e)
{
    size_t per = (numel[unit] + (size_t)world - 1) / (size_t)world;
    *b = per * (size_t)rank;
    *e = *b + per;
}

static void write_fake_shards(int world)
{
    char file[96], key[96], val[64];
    for (int r = 0; r < world; r++) {
        llmrt_st_writer *w;
        ck_assert_int_eq(llmrt_st_writer_new(&w), 0);
        float *bufs[N_UNITS * 3];
        for (size_t u = 0; u < N_UNITS; u++) {
            size_t b, e;
            range_of(u, r, world, &b, &e);
            snprintf(key, sizeof key, "llmrt.range.%s", unit_names[u]);
            snprintf(val, sizeof val, "%zu %zu", b, e);
            ck_assert_int_eq(llmrt_st_writer_metadata(w, key, val), 0);
            for (int k = 0; k < 3; k++) {
                float *p = bufs[u * 3 + (size_t)k] = calloc(e - b + 1, sizeof *p);
                for (size_t i = b; i < e; i++) p[i - b] = i < numel[u] ? value(k, u, i) : -1.0f;
                uint64_t shape[1] = {e - b};
                snprintf(key, sizeof key, "%s.%s", llmrt_ckpt_kind_name((llmrt_state_kind)k),
                         unit_names[u]);
                ck_assert_int_eq(llmrt_st_writer_add(w, key, LLMRT_ST_F32, 1, shape, p), 0);
            }
        }
        llmrt_ckpt_shard_file(r, world, file, sizeof file);
        char *path = llmrt_path_join(dir, file);
        ck_assert_int_eq(llmrt_st_writer_write(w, path), 0);
        free(path);
        llmrt_st_writer_free(w);
        for (size_t i = 0; i < N_UNITS * 3; i++) free(bufs[i]);
    }
}

static void setup(void)
{
    strcpy(dir, "/tmp/llmrt-shards-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) { llmrt_rm_rf(dir); }

static char *in_dir(const char *name) { return llmrt_path_join(dir, name); }

/* Write world-2 shards + index; read it back; assemble; re-shard for 3. */
START_TEST(roundtrip_and_reshard)
{
    char name[96];
    llmrt_ckpt_shard_file(0, 4, name, sizeof name);
    ck_assert_str_eq(name, "shard-00001-of-00004.safetensors");
    write_fake_shards(2);
    llmrt_ckpt_index w;
    fill_index(&w, 2);
    ck_assert_int_eq(llmrt_ckpt_index_collect_ranges(&w, dir), 0);
    ck_assert_uint_eq(LLMRT_CKPT_RANGE(&w, 1, 0)[0], 9);
    ck_assert_uint_eq(LLMRT_CKPT_RANGE(&w, 1, 0)[1], 18); /* padded past 17 */
    char *ipath = in_dir(LLMRT_CKPT_INDEX_FILE);
    ck_assert_int_eq(llmrt_ckpt_index_write(ipath, &w), 0);
    llmrt_ckpt_index_free(&w);

    llmrt_ckpt_index idx;
    ck_assert_msg(llmrt_ckpt_index_read(ipath, &idx) == 0, "%s", llmrt_last_error());
    ck_assert_int_eq(idx.world_size, 2);
    ck_assert_uint_eq(idx.step, 30);
    ck_assert_str_eq(idx.strategy, "fake");
    ck_assert_str_eq(idx.files[1], "shard-00002-of-00002.safetensors");
    ck_assert_uint_eq(idx.units[0].tensors[0].shape[1], 3);
    llmrt_ckpt_shards *sh;
    ck_assert_int_eq(llmrt_ckpt_shards_open(&sh, dir, &idx), 0);
    for (size_t u = 0; u < N_UNITS; u++)
        for (int k = 0; k < 3; k++) {
            float full[32];
            ck_assert_msg(llmrt_ckpt_shards_read_full(sh, u, (llmrt_state_kind)k, full) == 0,
                          "%s", llmrt_last_error());
            for (size_t i = 0; i < numel[u]; i++) ck_assert_float_eq(full[i], value(k, u, i));
            /* Re-sharding to 3 ranks is slicing the full vector. */
            for (int r = 0; r < 3; r++) {
                size_t b, e;
                range_of(u, r, 3, &b, &e);
                for (size_t i = b; i < e && i < numel[u]; i++)
                    ck_assert_float_eq(full[i], value(k, u, i));
            }
        }
    /* A rank's own slice, padding included. */
    float slice[16];
    ck_assert_int_eq(llmrt_ckpt_shards_read_slice(sh, 1, 0, LLMRT_STATE_ADAM_V, slice), 0);
    ck_assert_float_eq(slice[0], value(2, 0, 9));
    ck_assert_float_eq(slice[8], -1.0f);
    llmrt_ckpt_shards_close(sh);
    llmrt_ckpt_index_free(&idx);
    free(ipath);
}
END_TEST

/* Consolidation: model.safetensors' metadata, the step, HF names. */
START_TEST(consolidate)
{
    write_fake_shards(2);
    llmrt_ckpt_index w;
    fill_index(&w, 2);
    ck_assert_int_eq(llmrt_ckpt_index_collect_ranges(&w, dir), 0);
    char *ipath = in_dir(LLMRT_CKPT_INDEX_FILE), *mpath = in_dir(LLMRT_CKPT_MODEL_FILE),
         *spath = in_dir(LLMRT_CKPT_STATE_FILE), *out = in_dir("one.safetensors");
    ck_assert_int_eq(llmrt_ckpt_index_write(ipath, &w), 0);
    llmrt_ckpt_index_free(&w);
    llmrt_st_writer *mw;
    ck_assert_int_eq(llmrt_st_writer_new(&mw), 0);
    ck_assert_int_eq(llmrt_st_writer_metadata(mw, "format", "pt"), 0);
    ck_assert_int_eq(llmrt_st_writer_write(mw, mpath), 0);
    llmrt_st_writer_free(mw);
    llmrt_ckpt_state st;
    llmrt_ckpt_state_init(&st);
    st.step = 30;
    ck_assert_int_eq(llmrt_ckpt_write_state(spath, &st), 0);

    ck_assert_msg(llmrt_ckpt_consolidate(dir, out) == 0, "%s", llmrt_last_error());
    llmrt_st_file *f;
    ck_assert_int_eq(llmrt_st_open(&f, out), 0);
    ck_assert_str_eq(llmrt_st_metadata(f, "format"), "pt");
    ck_assert_str_eq(llmrt_st_metadata(f, "llmrt.step"), "30");
    ck_assert_uint_eq(llmrt_st_count(f), 9);
    uint64_t shape[2] = {4, 3};
    ck_assert_int_eq(llmrt_st_expect(f, "transformer.wte.weight", 2, shape), 0);
    float v[12];
    ck_assert_int_eq(llmrt_st_read_f32(f, "exp_avg.transformer.wte.weight", v, 12), 0);
    for (size_t i = 0; i < 12; i++) ck_assert_float_eq(v[i], value(1, 0, i));
    ck_assert_int_eq(llmrt_st_read_f32(f, "exp_avg_sq.transformer.ln_f.bias", v, 5), 0);
    for (size_t i = 0; i < 5; i++) ck_assert_float_eq(v[i], value(2, 0, 12 + i));
    ck_assert_int_eq(llmrt_st_read_f32(f, "transformer.ln_f.weight", v, 6), 0);
    for (size_t i = 0; i < 6; i++) ck_assert_float_eq(v[i], value(0, 1, i));
    llmrt_st_close(f);
    free(ipath);
    free(mpath);
    free(spath);
    free(out);
}
END_TEST

/* Ranges that leave a hole are refused with one line naming the unit. */
START_TEST(bad_index)
{
    llmrt_ckpt_index w;
    fill_index(&w, 2);
    w.files[0] = strdup("a.safetensors");
    w.files[1] = strdup("b.safetensors");
    size_t *r0 = LLMRT_CKPT_RANGE(&w, 0, 0), *r1 = LLMRT_CKPT_RANGE(&w, 1, 0);
    r0[0] = 0, r0[1] = 5, r1[0] = 6, r1[1] = 17;
    LLMRT_CKPT_RANGE(&w, 0, 1)[1] = 6;
    char *ipath = in_dir(LLMRT_CKPT_INDEX_FILE);
    ck_assert_int_eq(llmrt_ckpt_index_write(ipath, &w), 0);
    llmrt_ckpt_index idx;
    ck_assert_int_eq(llmrt_ckpt_index_read(ipath, &idx), LLMRT_ERR_FORMAT);
    const char *msg = llmrt_last_error();
    ck_assert_msg(strstr(msg, "embedding") && strstr(msg, "element 5") && !strchr(msg, '\n'),
                  "%s", msg);
    llmrt_ckpt_index_free(&w);
    /* Not JSON at all. */
    FILE *fp = fopen(ipath, "w");
    fputs("{\"format\": 3", fp);
    fclose(fp);
    ck_assert_int_eq(llmrt_ckpt_index_read(ipath, &idx), LLMRT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(llmrt_last_error(), "index.json"));
    free(ipath);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ckpt_shards");
    TCase *tc = tcase_create("shards");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, roundtrip_and_reshard);
    tcase_add_test(tc, consolidate);
    tcase_add_test(tc, bad_index);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
