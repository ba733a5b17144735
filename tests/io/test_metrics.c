/* test_metrics.c — core/metrics.c: metrics.jsonl records and resume, run.json,
 * and the progress line on a terminal and off one. */
#include "iotest.h"

#include <jansson.h>
#include <math.h>

#include "metrics.h"

static char out_dir[1024];

static void setup(void)
{
    iot_mkdtemp();
    snprintf(out_dir, sizeof out_dir, "%s/train.out", iot_dir);
    llmrt_error_clear();
}

static void teardown(void) { iot_cleanup(); }

static llmrt_metrics_record rec(uint64_t step)
{
    llmrt_metrics_record r = {
        .step = step,
        .loss = 2.5 - 0.01 * (double)step,
        .val_loss = step % 5 == 0 ? 2.75 : NAN,
        .lr = 3e-4,
        .grad_norm = 0.5,
        .tokens_per_s = 3210.5,
        .mfu = 0.412,
        .elapsed_s = (double)step,
    };
    return r;
}

/* The steps of metrics.jsonl, each line checked for its fields. */
static int read_steps(uint64_t *steps, int max)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", out_dir, LLMRT_METRICS_FILE);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    int n = 0;
    static const char *const fields[] = {"step", "loss", "val_loss", "lr", "grad_norm",
                                         "tokens_per_s", "mfu", "elapsed_s"};
    while (fgets(line, sizeof line, f)) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        ck_assert_msg(o != NULL, "bad line: %s", line);
        ck_assert_uint_eq(json_object_size(o), 8);
        /* exactly these fields, in this order */
        const char *key;
        json_t *v;
        size_t i = 0;
        json_object_foreach(o, key, v) ck_assert_str_eq(key, fields[i++]);
        ck_assert_int_lt(n, max);
        steps[n++] = (uint64_t)json_integer_value(json_object_get(o, "step"));
        json_decref(o);
    }
    fclose(f);
    return n;
}

START_TEST(records)
{
    llmrt_metrics *m;
    IOT_OK(llmrt_metrics_open(&m, out_dir, 0, 0));
    for (uint64_t s = 1; s <= 5; s++) {
        llmrt_metrics_record r = rec(s);
        IOT_OK(llmrt_metrics_log(m, &r));
    }
    /* Flushed line by line: readable before close. */
    uint64_t steps[16];
    ck_assert_int_eq(read_steps(steps, 16), 5);
    llmrt_metrics_close(m);

    llmrt_metrics_record r = rec(4);
    r.loss = NAN;
    r.mfu = NAN;
    char line[512];
    llmrt_metrics_format(&r, line, sizeof line);
    ck_assert_str_eq(line, "{\"step\":4,\"loss\":null,\"val_loss\":null,\"lr\":0.0003,"
                           "\"grad_norm\":0.5,\"tokens_per_s\":3210.5,\"mfu\":null,"
                           "\"elapsed_s\":4.0}");
    r = rec(5);
    llmrt_metrics_format(&r, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "\"val_loss\":2.75,"));
    ck_assert_ptr_nonnull(strstr(line, "\"mfu\":0.412,"));
}
END_TEST

START_TEST(fresh_run_truncates)
{
    llmrt_metrics *m;
    IOT_OK(llmrt_metrics_open(&m, out_dir, 0, 0));
    llmrt_metrics_record r = rec(1);
    IOT_OK(llmrt_metrics_log(m, &r));
    llmrt_metrics_close(m);
    IOT_OK(llmrt_metrics_open(&m, out_dir, 0, 0));
    r = rec(7);
    IOT_OK(llmrt_metrics_log(m, &r));
    llmrt_metrics_close(m);
    uint64_t steps[16];
    ck_assert_int_eq(read_steps(steps, 16), 1);
    ck_assert_uint_eq(steps[0], 7);
}
END_TEST

START_TEST(resume_drops_later_records)
{
    llmrt_metrics *m;
    IOT_OK(llmrt_metrics_open(&m, out_dir, 0, 0));
    for (uint64_t s = 1; s <= 8; s++) {
        llmrt_metrics_record r = rec(s);
        IOT_OK(llmrt_metrics_log(m, &r));
    }
    llmrt_metrics_close(m);
    /* A crash mid-line left a torn record at the end. */
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", out_dir, LLMRT_METRICS_FILE);
    FILE *f = fopen(path, "a");
    fputs("{\"step\":9,\"lo", f);
    fclose(f);
    /* Resume from the checkpoint of step 5. */
    IOT_OK(llmrt_metrics_open(&m, out_dir, 1, 5));
    for (uint64_t s = 6; s <= 7; s++) {
        llmrt_metrics_record r = rec(s);
        IOT_OK(llmrt_metrics_log(m, &r));
    }
    llmrt_metrics_close(m);
    uint64_t steps[16];
    int n = read_steps(steps, 16);
    ck_assert_int_eq(n, 7);
    for (int i = 0; i < n; i++) ck_assert_uint_eq(steps[i], (uint64_t)i + 1);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert(!iot_exists(tmp));
    /* Resuming where there is no log yet starts one. */
    llmrt_rm_rf(path);
    IOT_OK(llmrt_metrics_open(&m, out_dir, 1, 5));
    llmrt_metrics_close(m);
    ck_assert(iot_exists(path));
}
END_TEST

START_TEST(open_errors)
{
    llmrt_metrics *m = NULL;
    const char *file = iot_path("plainfile");
    iot_write_str(file, "x");
    char bad[1100];
    snprintf(bad, sizeof bad, "%s/sub", file);
    IOT_EXPECT_ERROR(llmrt_metrics_open(&m, bad, 0, 0), LLMRT_ERR_IO, bad);
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(run_info)
{
    llmrt_run_info *ri;
    IOT_OK(llmrt_run_info_new(&ri));
    IOT_OK(llmrt_run_info_str(ri, "backend", "cpu"));
    IOT_OK(llmrt_run_info_str(ri, "peak_source", "measured sgemm"));
    IOT_OK(llmrt_run_info_num(ri, "peak_flops", 1.25e12));
    IOT_OK(llmrt_run_info_num(ri, "unknown", NAN));
    IOT_OK(llmrt_run_info_int(ri, "world_size", 2));
    IOT_OK(llmrt_run_info_bool(ri, "resumed", 1));
    IOT_OK(llmrt_run_info_str(ri, "backend", "cuda")); /* replaces */
    IOT_OK(llmrt_mkdir_p(out_dir));
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", out_dir, LLMRT_RUN_INFO_FILE);
    IOT_OK(llmrt_run_info_write(ri, path));
    llmrt_run_info_free(ri);
    json_error_t err;
    json_t *o = json_load_file(path, 0, &err);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "backend")), "cuda");
    ck_assert(json_real_value(json_object_get(o, "peak_flops")) == 1.25e12);
    ck_assert(json_is_null(json_object_get(o, "unknown")));
    ck_assert_int_eq(json_integer_value(json_object_get(o, "world_size")), 2);
    ck_assert(json_is_true(json_object_get(o, "resumed")));
    json_decref(o);
}
END_TEST

/* ------------------------------------------------------------------ progress */

START_TEST(formats)
{
    char b[32];
    llmrt_format_duration(252, b, sizeof b);
    ck_assert_str_eq(b, "4m12s");
    llmrt_format_duration(37.4, b, sizeof b);
    ck_assert_str_eq(b, "37s");
    llmrt_format_duration(7500, b, sizeof b);
    ck_assert_str_eq(b, "2h05m");
    llmrt_format_duration(3 * 86400 + 4 * 3600 + 5, b, sizeof b);
    ck_assert_str_eq(b, "3d04h");
    llmrt_format_duration(NAN, b, sizeof b);
    ck_assert_str_eq(b, "--");
    llmrt_format_thousands(3210.4, b, sizeof b);
    ck_assert_str_eq(b, "3,210");
    llmrt_format_thousands(999, b, sizeof b);
    ck_assert_str_eq(b, "999");
    llmrt_format_thousands(1234567, b, sizeof b);
    ck_assert_str_eq(b, "1,234,567");
    llmrt_format_thousands(100000, b, sizeof b);
    ck_assert_str_eq(b, "100,000");
}
END_TEST

START_TEST(progress_line)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    llmrt_progress *p;
    IOT_OK(llmrt_progress_new(&p, f, 2000, 100));
    llmrt_progress_set_tty(p, 0);
    /* 118 steps in 29.5 s from step 2: 4 steps/s, 1880 left = 7m50s. */
    llmrt_metrics_record r = {.step = 2, .loss = 3.0, .val_loss = NAN, .tokens_per_s = 3210.4,
                              .mfu = 0.412, .elapsed_s = 0.5};
    llmrt_progress_update(p, &r);
    r.step = 100;
    r.loss = 2.5;
    r.val_loss = 2.21;
    r.elapsed_s = 25.0;
    llmrt_progress_update(p, &r); /* printed: step % 100 == 0 */
    r.step = 120;
    r.loss = 2.1341;
    r.val_loss = NAN;
    r.elapsed_s = 30.0;
    char line[256];
    llmrt_progress_format(p, &r, line, sizeof line);
    ck_assert_str_eq(line, " step 120/2000 | loss 2.134 | val 2.210 | 3,210 tok/s | "
                           "MFU 41.2% | ETA 7m50s");
    llmrt_progress_update(p, &r); /* not printed */
    r.step = 2000;
    r.elapsed_s = 500.0;
    r.mfu = NAN;
    llmrt_progress_update(p, &r); /* the last step is always printed */
    llmrt_progress_finish(p);
    llmrt_progress_free(p);
    fclose(f);
    ck_assert_str_eq(text, "step 100/2000 | loss 2.500 | val 2.210 | 3,210 tok/s | MFU 41.2% "
                           "| ETA 7m55s\n"
                           "step 2000/2000 | loss 2.134 | val 2.210 | 3,210 tok/s | ETA 0s\n");
    free(text);
}
END_TEST

START_TEST(progress_tty)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    llmrt_progress *p;
    IOT_OK(llmrt_progress_new(&p, f, 0, 10));
    llmrt_progress_set_tty(p, 1);
    llmrt_metrics_record r = {.step = 1, .loss = 3.0, .val_loss = NAN, .tokens_per_s = 10,
                              .mfu = NAN, .elapsed_s = 0.0};
    llmrt_progress_update(p, &r); /* drawn */
    r.step = 2;
    r.elapsed_s = 0.01;
    llmrt_progress_update(p, &r); /* throttled */
    r.step = 3;
    r.elapsed_s = 0.5;
    llmrt_progress_update(p, &r); /* drawn */
    llmrt_progress_clear(p);
    fputs("a message\n", f);
    r.step = 4;
    r.elapsed_s = 0.51;
    llmrt_progress_update(p, &r); /* drawn again after a clear */
    llmrt_progress_finish(p);
    llmrt_progress_free(p);
    fclose(f);
    ck_assert_str_eq(text, "\r step 1 | loss 3.000 | 10 tok/s\033[K"
                           "\r step 3 | loss 3.000 | 10 tok/s\033[K"
                           "\r\033[Ka message\n"
                           "\r step 4 | loss 3.000 | 10 tok/s\033[K"
                           "\r step 4 | loss 3.000 | 10 tok/s\033[K\n");
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, records);
    tcase_add_test(tc, fresh_run_truncates);
    tcase_add_test(tc, resume_drops_later_records);
    tcase_add_test(tc, open_errors);
    tcase_add_test(tc, run_info);
    tcase_add_test(tc, formats);
    tcase_add_test(tc, progress_line);
    tcase_add_test(tc, progress_tty);
    suite_add_tcase(s, tc);
    return iot_run(s);
}
