/* test_checkpoint.c — core/checkpoint.c: state.json round trip and
 * validation, commit and `latest`, crashes at each point of a save, and
 * replacing a step that exists. */
#include "iotest.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>

#include "checkpoint.h"
#include "safetensors.h"

static char out_dir[1024];

static void setup(void)
{
    iot_mkdtemp();
    snprintf(out_dir, sizeof out_dir, "%s/train.out", iot_dir);
    llmrt_error_clear();
}

static void teardown(void) { iot_cleanup(); }

static const char *out_path(const char *name)
{
    static char b[4][1200];
    static int k;
    char *p = b[k++ % 4];
    snprintf(p, sizeof b[0], "%s/%s", out_dir, name);
    return p;
}

static llmrt_ckpt_state sample_state(uint64_t step)
{
    llmrt_ckpt_state s;
    llmrt_ckpt_state_init(&s);
    s.step = step;
    s.adam_t = step;
    s.rng[0] = UINT64_MAX;
    s.rng[1] = 0x8000000000000001ull;
    s.rng[2] = 0;
    s.rng[3] = 12345678901234567890ull;
    s.data_position = step * 3;
    s.world_size = 2;
    s.tokens_seen = step * 4096;
    s.elapsed_s = 0.1 + (double)step;
    s.loss_scale = 65536.0;
    s.best_val_loss = 2.0 / 3.0;
    s.last_val_loss = NAN;
    s.config = (char *)"[train]\nlr = 3e-4 ; \"quoted\"\n";
    return s;
}

/* A whole checkpoint: model + optimizer + state, committed. */
static void save(uint64_t step, float value)
{
    llmrt_ckpt_txn *t;
    IOT_OK(llmrt_ckpt_begin(&t, out_dir, step));
    float w[4] = {value, value, value, value}, m[4] = {0}, v[4] = {1, 1, 1, 1};
    uint64_t shape[1] = {4};
    llmrt_st_writer *wr;
    IOT_OK(llmrt_st_writer_new(&wr));
    IOT_OK(llmrt_st_writer_add(wr, "w", LLMRT_ST_F32, 1, shape, w));
    char *p = llmrt_ckpt_txn_path(t, LLMRT_CKPT_MODEL_FILE);
    IOT_OK(llmrt_st_writer_write(wr, p));
    free(p);
    llmrt_st_writer_free(wr);
    IOT_OK(llmrt_st_writer_new(&wr));
    IOT_OK(llmrt_st_writer_add(wr, LLMRT_CKPT_EXP_AVG_PREFIX "w", LLMRT_ST_F32, 1, shape, m));
    IOT_OK(llmrt_st_writer_add(wr, LLMRT_CKPT_EXP_AVG_SQ_PREFIX "w", LLMRT_ST_F32, 1, shape, v));
    p = llmrt_ckpt_txn_path(t, LLMRT_CKPT_OPTIMIZER_FILE);
    IOT_OK(llmrt_st_writer_write(wr, p));
    free(p);
    llmrt_st_writer_free(wr);
    llmrt_ckpt_state s = sample_state(step);
    p = llmrt_ckpt_txn_path(t, LLMRT_CKPT_STATE_FILE);
    IOT_OK(llmrt_ckpt_write_state(p, &s));
    free(p);
    IOT_OK(llmrt_ckpt_commit(t, NULL));
}

/* Find the latest and check it is step `step` with weights `value`. */
static void expect_latest(uint64_t step, float value)
{
    char *dir;
    uint64_t got;
    IOT_OK(llmrt_ckpt_find_latest(out_dir, &dir, &got));
    ck_assert_ptr_nonnull(dir);
    ck_assert_uint_eq(got, step);
    llmrt_ckpt_state s;
    IOT_OK(llmrt_ckpt_load_state(dir, &s));
    ck_assert_uint_eq(s.step, step);
    llmrt_ckpt_state_free(&s);
    char *p = llmrt_path_join(dir, LLMRT_CKPT_MODEL_FILE);
    llmrt_st_file *f;
    IOT_OK(llmrt_st_open(&f, p));
    float w[4];
    IOT_OK(llmrt_st_read_f32(f, "w", w, 4));
    ck_assert(w[0] == value && w[3] == value);
    llmrt_st_close(f);
    free(p);
    free(dir);
}

static int count_hidden(void)
{
    int n = 0;
    DIR *d = opendir(out_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

/* ------------------------------------------------------------------ state.json */

START_TEST(state_round_trip)
{
    IOT_OK(llmrt_mkdir_p(out_dir));
    llmrt_ckpt_state s = sample_state(120), r;
    const char *p = out_path("state.json");
    IOT_OK(llmrt_ckpt_write_state(p, &s));
    IOT_OK(llmrt_ckpt_read_state(p, &r));
    ck_assert_uint_eq(r.format_version, LLMRT_CKPT_FORMAT_VERSION);
    ck_assert_uint_eq(r.step, 120);
    ck_assert_uint_eq(r.adam_t, 120);
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(r.rng[i], s.rng[i]);
    ck_assert_uint_eq(r.data_position, 360);
    ck_assert_uint_eq(r.world_size, 2);
    ck_assert_uint_eq(r.tokens_seen, 120 * 4096);
    ck_assert(r.elapsed_s == s.elapsed_s);       /* bit for bit */
    ck_assert(r.best_val_loss == s.best_val_loss); /* 2/3 exactly */
    ck_assert(isnan(r.last_val_loss));
    ck_assert(r.loss_scale == 65536.0);
    ck_assert_str_eq(r.config, s.config);
    llmrt_ckpt_state_free(&r);
    ck_assert_ptr_null(r.config);
}
END_TEST

static const char *write_state_text(const char *text)
{
    IOT_OK(llmrt_mkdir_p(out_dir));
    const char *p = out_path("state.json");
    iot_write_str(p, text);
    return p;
}

#define STATE_HEAD "{\"format\":\"llmrt-checkpoint\",\"format_version\":1,"
#define STATE_TAIL                                                                         \
    "\"adam_t\":5,\"data_position\":5,\"world_size\":1,\"tokens_seen\":10,"               \
    "\"rng\":[\"1\",\"2\",\"3\",\"4\"]}"

START_TEST(state_errors)
{
    llmrt_ckpt_state s;
    const char *p;

    p = write_state_text(STATE_HEAD STATE_TAIL);
    IOT_EXPECT_ERROR(llmrt_ckpt_read_state(p, &s), LLMRT_ERR_FORMAT, p,
                     "field \"step\" is missing (expected a non-negative integer)");

    p = write_state_text(STATE_HEAD "\"step\":-3," STATE_TAIL);
    IOT_EXPECT_ERROR(llmrt_ckpt_read_state(p, &s), LLMRT_ERR_FORMAT, p,
                     "field \"step\" is -3 (expected 0 to 9223372036854775807)");

    p = write_state_text(STATE_HEAD "\"step\":\"5\"," STATE_TAIL);
    IOT_EXPECT_ERROR(llmrt_ckpt_read_state(p, &s), LLMRT_ERR_FORMAT, p,
                     "field \"step\" is not an integer");

    p = write_state_text(STATE_HEAD "\"step\":5,\"adam_t\":5,\"data_position\":5,"
                                    "\"world_size\":1,\"tokens_seen\":1,"
                                    "\"rng\":[\"1\",\"2\",\"x3\",\"4\"]}");
    IOT_EXPECT_ERROR(llmrt_ckpt_read_state(p, &s), LLMRT_ERR_FORMAT, p,
                     "field \"rng\"[2] is not a decimal string of a 64-bit unsigned integer");

    p = write_state_text(STATE_HEAD "\"step\":5,\"adam_t\":5,\"data_position\":5,"
                                    "\"world_size\":1,\"tokens_seen\":1,"
                                    "\"rng\":[\"1\",\"2\",\"18446744073709551616\",\"4\"]}");
    IOT_EXPECT_ERROR(llmrt_ckpt_read_state(p, &s), LLMRT_ERR_FORMAT, "field \"rng\"[2]");

    p = write_state_text(STATE_HEAD "\"step\":5,\"adam_t\":5,\"data_position\":5,"
                                    "\"world_size\":1,\"tokens_seen\":1,\"rng\":[1,2]}");
    IOT_EXPECT_ERROR(llmrt_ckpt_read_state(p, &s), LLMRT_ERR_FORMAT, p,
                     "field \"rng\" is not an array of 4");

    p = write_state_text(STATE_HEAD "\"step\":5,\"world_size\":0," STATE_TAIL);
    IOT_EXPECT_ERROR(llmrt_ckpt_read_state(p, &s), LLMRT_ERR_FORMAT, p,
                     "duplicate object key");

    p = write_state_text(STATE_HEAD "\"step\":5,\"adam_t\":5,\"data_position\":5,"
                                    "\"world_size\":0,\"tokens_seen\":1,"
                                    "\"rng\":[\"1\",\"2\",\"3\",\"4\"]}");
    IOT_EXPECT_ERROR(llmrt_ckpt_read_state(p, &s), LLMRT_ERR_FORMAT, p,
                     "field \"world_size\" is 0 (expected at least 1)");

    p = write_state_text("{\"format\":\"llmrt-checkpoint\",\"format_version\":9}");
    IOT_EXPECT_ERROR(llmrt_ckpt_read_state(p, &s), LLMRT_ERR_FORMAT, p,
                     "field \"format_version\" is 9; this llmrt reads versions 1 to 1");

    p = write_state_text("{\"step\": 5}");
    IOT_EXPECT_ERROR(llmrt_ckpt_read_state(p, &s), LLMRT_ERR_FORMAT, p,
                     "field \"format\" is not \"llmrt-checkpoint\"");

    p = write_state_text("{\"format\":\"llmrt-checkpoint\",");
    IOT_EXPECT_ERROR(llmrt_ckpt_read_state(p, &s), LLMRT_ERR_FORMAT, p, "not valid JSON");

    p = write_state_text(STATE_HEAD "\"step\":5,\"best_val_loss\":\"low\"," STATE_TAIL);
    IOT_EXPECT_ERROR(llmrt_ckpt_read_state(p, &s), LLMRT_ERR_FORMAT, p,
                     "field \"best_val_loss\" is not a number or null");

    p = out_path("absent.json");
    IOT_EXPECT_ERROR(llmrt_ckpt_read_state(p, &s), LLMRT_ERR_IO, p, "cannot read");
}
END_TEST

START_TEST(state_step_matches_dir)
{
    const char *dir = out_path("step-000007");
    IOT_OK(llmrt_mkdir_p(dir));
    llmrt_ckpt_state s = sample_state(8);
    char *p = llmrt_path_join(dir, LLMRT_CKPT_STATE_FILE);
    IOT_OK(llmrt_ckpt_write_state(p, &s));
    llmrt_ckpt_state r;
    IOT_EXPECT_ERROR(llmrt_ckpt_load_state(dir, &r), LLMRT_ERR_FORMAT, p,
                     "field \"step\" is 8, but the directory is step-000007");
    free(p);
}
END_TEST

/* ------------------------------------------------------------------ commit */

START_TEST(commit_and_latest)
{
    char *dir;
    uint64_t step = 99;
    IOT_OK(llmrt_ckpt_find_latest(out_dir, &dir, &step)); /* no out dir yet */
    ck_assert_ptr_null(dir);
    ck_assert_uint_eq(step, 0);

    save(10, 1.0f);
    ck_assert(iot_exists(out_path("step-000010/model.safetensors")));
    ck_assert(iot_exists(out_path("step-000010/optimizer.safetensors")));
    ck_assert(iot_exists(out_path("step-000010/state.json")));
    char *latest = iot_read(out_path("latest"), NULL);
    ck_assert_str_eq(latest, "step-000010\n");
    free(latest);
    ck_assert_int_eq(count_hidden(), 0);
    expect_latest(10, 1.0f);

    save(20, 2.0f);
    expect_latest(20, 2.0f);
    ck_assert(iot_exists(out_path("step-000010/state.json"))); /* older ones stay */

    /* The optimizer file holds m and v under their names. */
    llmrt_st_file *f;
    IOT_OK(llmrt_st_open(&f, out_path("step-000020/optimizer.safetensors")));
    ck_assert_ptr_nonnull(llmrt_st_find(f, "exp_avg.w"));
    ck_assert_ptr_nonnull(llmrt_st_find(f, "exp_avg_sq.w"));
    llmrt_st_close(f);
}
END_TEST

START_TEST(commit_returns_dir)
{
    llmrt_ckpt_txn *t;
    IOT_OK(llmrt_ckpt_begin(&t, out_dir, 1234567));
    const char *tmp = llmrt_ckpt_txn_dir(t);
    ck_assert_ptr_nonnull(strstr(tmp, "/.step-1234567.tmp-"));
    llmrt_ckpt_state s = sample_state(1234567);
    char *p = llmrt_ckpt_txn_path(t, LLMRT_CKPT_STATE_FILE);
    IOT_OK(llmrt_ckpt_write_state(p, &s));
    free(p);
    char *dir;
    IOT_OK(llmrt_ckpt_commit(t, &dir));
    ck_assert_str_eq(dir, out_path("step-1234567"));
    free(dir);
}
END_TEST

START_TEST(commit_needs_state)
{
    llmrt_ckpt_txn *t;
    IOT_OK(llmrt_ckpt_begin(&t, out_dir, 5));
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s", llmrt_ckpt_txn_dir(t));
    IOT_EXPECT_ERROR(llmrt_ckpt_commit(t, NULL), LLMRT_ERR_INVALID, tmp,
                     "no state.json: write the state before committing");
    ck_assert(!iot_exists(tmp));
    ck_assert(!iot_exists(out_path("step-000005")));
}
END_TEST

START_TEST(abort_removes)
{
    llmrt_ckpt_txn *t;
    IOT_OK(llmrt_ckpt_begin(&t, out_dir, 5));
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s", llmrt_ckpt_txn_dir(t));
    char *p = llmrt_ckpt_txn_path(t, "junk");
    iot_write_str(p, "x");
    free(p);
    llmrt_ckpt_abort(t);
    ck_assert(!iot_exists(tmp));
}
END_TEST

/* ------------------------------------------------------------------ crashes */

START_TEST(crash_while_writing)
{
    save(10, 1.0f);
    /* A save of step 20 dies half-way: a truncated model file, no state,
     * never committed. */
    llmrt_ckpt_txn *t;
    IOT_OK(llmrt_ckpt_begin_tagged(&t, out_dir, 20, 999999));
    char *p = llmrt_ckpt_txn_path(t, LLMRT_CKPT_MODEL_FILE);
    iot_write(p, "\x40\0\0\0\0\0\0\0{\"w\":{\"dtype\"", 20);
    free(p);
    llmrt_ckpt_release(t); /* the process is gone */
    /* Another one died after writing its state, before its rename. */
    IOT_OK(llmrt_ckpt_begin_tagged(&t, out_dir, 30, 888888));
    llmrt_ckpt_state s = sample_state(30);
    p = llmrt_ckpt_txn_path(t, LLMRT_CKPT_STATE_FILE);
    IOT_OK(llmrt_ckpt_write_state(p, &s));
    free(p);
    llmrt_ckpt_release(t);
    /* And a safetensors writer died mid-file in a committed-looking place. */
    iot_write_str(out_path("step-000010/model.safetensors.tmp"), "partial");
    ck_assert_int_eq(count_hidden(), 2);

    expect_latest(10, 1.0f); /* the previous checkpoint loads */
    /* Even without the pointer, the scan ignores the leftovers. */
    unlink(out_path("latest"));
    expect_latest(10, 1.0f);

    /* The next successful save cleans the leftovers. */
    save(40, 4.0f);
    ck_assert_int_eq(count_hidden(), 0);
    expect_latest(40, 4.0f);
}
END_TEST

START_TEST(crash_before_latest)
{
    save(10, 1.0f);
    save(20, 2.0f);
    /* Died after renaming step-30 into place, before updating `latest`:
     * `latest` still names step 20, which is complete, and wins. */
    IOT_OK(llmrt_mkdir_p(out_path("step-000030")));
    llmrt_ckpt_state s = sample_state(30);
    IOT_OK(llmrt_ckpt_write_state(out_path("step-000030/state.json"), &s));
    expect_latest(20, 2.0f);
    /* A `latest` naming a missing or incomplete directory, or garbage, is
     * ignored in favour of the highest complete step. */
    iot_write_str(out_path("latest"), "step-000050\n");
    char *dir;
    uint64_t step;
    IOT_OK(llmrt_ckpt_find_latest(out_dir, &dir, &step));
    ck_assert_uint_eq(step, 30);
    free(dir);
    iot_write_str(out_path("latest"), "../../etc\n");
    IOT_OK(llmrt_ckpt_find_latest(out_dir, &dir, &step));
    ck_assert_uint_eq(step, 30);
    free(dir);
    /* An incomplete step directory (no state.json) is never chosen. */
    IOT_OK(llmrt_mkdir_p(out_path("step-000040")));
    IOT_OK(llmrt_ckpt_find_latest(out_dir, &dir, &step));
    ck_assert_uint_eq(step, 30);
    free(dir);
}
END_TEST

START_TEST(replace_existing_step)
{
    save(10, 1.0f);
    save(20, 2.0f);
    save(10, 5.0f); /* the same step again, e.g. after resuming from 10 */
    expect_latest(10, 5.0f);
    ck_assert_int_eq(count_hidden(), 0); /* the old step-10 is gone */
    llmrt_st_file *f;
    IOT_OK(llmrt_st_open(&f, out_path("step-000020/model.safetensors")));
    llmrt_st_close(f);
    save(10, 6.0f);
    expect_latest(10, 6.0f);
}
END_TEST

START_TEST(prune)
{
    save(10, 1.0f);
    save(20, 2.0f);
    save(30, 3.0f);
    save(40, 4.0f);
    IOT_OK(llmrt_ckpt_prune(out_dir, 2));
    ck_assert(!iot_exists(out_path("step-000010")));
    ck_assert(!iot_exists(out_path("step-000020")));
    ck_assert(iot_exists(out_path("step-000030")));
    ck_assert(iot_exists(out_path("step-000040")));
    /* The one `latest` names is kept even when it is not among the newest. */
    save(15, 1.5f);
    IOT_OK(llmrt_ckpt_prune(out_dir, 1));
    ck_assert(iot_exists(out_path("step-000015")));
    ck_assert(iot_exists(out_path("step-000040")));
    ck_assert(!iot_exists(out_path("step-000030")));
    ck_assert_int_eq(count_hidden(), 0);
    expect_latest(15, 1.5f);
}
END_TEST

START_TEST(dir_names)
{
    char b[32];
    llmrt_ckpt_dir_name(0, b, sizeof b);
    ck_assert_str_eq(b, "step-000000");
    llmrt_ckpt_dir_name(1234567, b, sizeof b);
    ck_assert_str_eq(b, "step-1234567");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, state_round_trip);
    tcase_add_test(tc, state_errors);
    tcase_add_test(tc, state_step_matches_dir);
    tcase_add_test(tc, commit_and_latest);
    tcase_add_test(tc, commit_returns_dir);
    tcase_add_test(tc, commit_needs_state);
    tcase_add_test(tc, abort_removes);
    tcase_add_test(tc, crash_while_writing);
    tcase_add_test(tc, crash_before_latest);
    tcase_add_test(tc, replace_existing_step);
    tcase_add_test(tc, prune);
    tcase_add_test(tc, dir_names);
    suite_add_tcase(s, tc);
    return iot_run(s);
}
