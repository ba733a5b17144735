/* test_config.c — core/config.c: priorities, environment, --set, every kind
 * of bad input with its message, unknown and duplicate keys, choices,
 * scopes, write and help. */
#include "iotest.h"

#include <float.h>
#include <limits.h>
#include <math.h>

#include "config.h"

static llmrt_config *cfg;

static void setup(void)
{
    iot_mkdtemp();
    llmrt_error_clear();
    ck_assert_int_eq(llmrt_config_new(&cfg), 0);
    unsetenv("LLMRT_TRAIN_LR");
    unsetenv("LLMRT_TRAIN_BATCH");
    unsetenv("LLMRT_TRAIN_LRR");
    unsetenv("LLMRT_DATA_SHUFFLE");
}

static void teardown(void)
{
    llmrt_config_free(cfg);
    cfg = NULL;
    iot_cleanup();
}

/* Load `text` as the file "demo.ini" in the scratch directory; returns the
 * path, which is what messages name. */
static const char *load_demo(const char *text, int *st)
{
    const char *path = iot_path("demo.ini");
    iot_write_str(path, text);
    *st = llmrt_config_load_file(cfg, path);
    return path;
}

static char origin_buf[1100];
static const char *at(const char *path, int line)
{
    snprintf(origin_buf, sizeof origin_buf, "%s:%d: ", path, line);
    return origin_buf;
}

static int read_lr(double *lr)
{
    return llmrt_config_double(cfg, "train", "lr", 3e-4, 0.0, 1.0, "peak learning rate", lr);
}

/* ------------------------------------------------------------------ values */

START_TEST(defaults)
{
    long b;
    double lr;
    int sh;
    const char *s, *ch;
    static const char *const opts[] = {"cpu", "cuda", NULL};
    IOT_OK(llmrt_config_int(cfg, "train", "batch", 8, 1, 4096, "rows per batch", &b));
    IOT_OK(read_lr(&lr));
    IOT_OK(llmrt_config_bool(cfg, "data", "shuffle", 1, "shuffle batches", &sh));
    IOT_OK(llmrt_config_string(cfg, "data", "path", "train.bin", "token file", &s));
    IOT_OK(llmrt_config_choice(cfg, "runtime", "backend", "cpu", opts, "compute", &ch));
    ck_assert_int_eq(b, 8);
    ck_assert(lr == 3e-4);
    ck_assert_int_eq(sh, 1);
    ck_assert_str_eq(s, "train.bin");
    ck_assert_str_eq(ch, "cpu");
    const char *unset = "x";
    IOT_OK(llmrt_config_string(cfg, "data", "val_path", NULL, "optional", &unset));
    ck_assert_ptr_null(unset);
}
END_TEST

START_TEST(priorities)
{
    int st;
    load_demo("[train]\nlr = 0.1\nbatch = 4\n", &st);
    IOT_OK(st);
    double lr;
    long b;
    IOT_OK(read_lr(&lr));
    ck_assert(lr == 0.1); /* file over default */
    setenv("LLMRT_TRAIN_LR", "0.2", 1);
    IOT_OK(read_lr(&lr));
    ck_assert(lr == 0.2); /* environment over file */
    IOT_OK(llmrt_config_set(cfg, "train.lr=0.3"));
    IOT_OK(read_lr(&lr));
    ck_assert(lr == 0.3); /* --set over environment */
    IOT_OK(llmrt_config_set(cfg, " train.lr = 0.4 "));
    IOT_OK(read_lr(&lr));
    ck_assert(lr == 0.4); /* a later --set over an earlier one */
    IOT_OK(llmrt_config_int(cfg, "train", "batch", 8, 1, 64, "rows", &b));
    ck_assert_int_eq(b, 4);
    setenv("LLMRT_TRAIN_BATCH", "16", 1);
    IOT_OK(llmrt_config_int(cfg, "train", "batch", 8, 1, 64, "rows", &b));
    ck_assert_int_eq(b, 16);
    unsetenv("LLMRT_TRAIN_LR");
    unsetenv("LLMRT_TRAIN_BATCH");
}
END_TEST

START_TEST(second_file_overrides_first)
{
    IOT_OK(llmrt_config_load_string(cfg, "[train]\nlr = 0.1\n", "base.ini"));
    IOT_OK(llmrt_config_load_string(cfg, "[train]\nlr = 0.2\n", "over.ini"));
    double lr;
    IOT_OK(read_lr(&lr));
    ck_assert(lr == 0.2);
}
END_TEST

START_TEST(booleans)
{
    static const char *const yes[] = {"true", "1", "yes", "on", "TRUE", "Yes"};
    static const char *const no[] = {"false", "0", "no", "off", "Off"};
    char buf[64];
    int v;
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        snprintf(buf, sizeof buf, "data.shuffle=%s", yes[i]);
        IOT_OK(llmrt_config_set(cfg, buf));
        IOT_OK(llmrt_config_bool(cfg, "data", "shuffle", 0, "shuffle", &v));
        ck_assert_int_eq(v, 1);
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        snprintf(buf, sizeof buf, "data.shuffle=%s", no[i]);
        IOT_OK(llmrt_config_set(cfg, buf));
        IOT_OK(llmrt_config_bool(cfg, "data", "shuffle", 1, "shuffle", &v));
        ck_assert_int_eq(v, 0);
    }
    IOT_OK(llmrt_config_set(cfg, "data.shuffle=maybe"));
    IOT_EXPECT_ERROR(llmrt_config_bool(cfg, "data", "shuffle", 1, "shuffle", &v),
                     LLMRT_ERR_INVALID, "--set: ", "data.shuffle", "\"maybe\"",
                     "is not a boolean", "true, false, 1, 0, yes, no, on, off");
}
END_TEST

START_TEST(choices)
{
    static const char *const opts[] = {"cpu", "cuda", NULL};
    const char *v;
    int st;
    const char *p = load_demo("[runtime]\nbackend = cuda\n", &st);
    IOT_OK(st);
    IOT_OK(llmrt_config_choice(cfg, "runtime", "backend", "cpu", opts, "compute", &v));
    ck_assert_str_eq(v, "cuda");
    IOT_OK(llmrt_config_set(cfg, "runtime.backend=cdua"));
    IOT_EXPECT_ERROR(llmrt_config_choice(cfg, "runtime", "backend", "cpu", opts, "c", &v),
                     LLMRT_ERR_INVALID, "--set: runtime.backend = \"cdua\"",
                     "is not one of the choices", "(accepted: cpu, cuda)");
    (void)p;
}
END_TEST

/* Each bad value, from a file line, with the message checked whole. */
START_TEST(bad_numbers_from_file)
{
    static const struct {
        const char *text, *problem;
    } dbl[] = {
        {"abc", "= \"abc\" is not a number (accepted: a number from 0 to 1)"},
        {"1e999", "= \"1e999\" is too large for a double (accepted: a number from 0 to 1)"},
        {"5x", "= \"5x\" is not a number (unexpected \"x\" after it)"},
        {"", "= \"\" is empty (accepted: a number from 0 to 1)"},
        {"5", "= \"5\" is out of range (accepted: a number from 0 to 1)"},
        {"-0.5", "= \"-0.5\" is out of range"},
        {"nan", "= \"nan\" is not a finite number"},
        {"inf", "= \"inf\" is not a finite number"},
        {"1e-400", "is too small for a double"},
    };
    for (size_t i = 0; i < sizeof dbl / sizeof *dbl; i++) {
        llmrt_config_free(cfg);
        ck_assert_int_eq(llmrt_config_new(&cfg), 0);
        char text[256];
        snprintf(text, sizeof text, "; a comment\n[train]\n\nlr = %s\n", dbl[i].text);
        int st;
        const char *p = load_demo(text, &st);
        IOT_OK(st);
        double lr;
        IOT_EXPECT_ERROR(read_lr(&lr), LLMRT_ERR_INVALID, at(p, 4), "train.lr",
                         dbl[i].problem);
    }
    static const struct {
        const char *text, *problem;
    } ints[] = {
        {"abc", "= \"abc\" is not an integer (accepted: an integer from 1 to 4096)"},
        {"1e999", "= \"1e999\" is not an integer (unexpected \"e999\" after the digits)"},
        {"5x", "= \"5x\" is not an integer (unexpected \"x\" after the digits)"},
        {"2.5", "is not an integer"},
        {"", "= \"\" is empty (accepted: an integer from 1 to 4096)"},
        {"0", "= \"0\" is out of range (accepted: an integer from 1 to 4096)"},
        {"99999999999999999999", "is out of range (accepted: an integer from 1 to 4096)"},
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        llmrt_config_free(cfg);
        ck_assert_int_eq(llmrt_config_new(&cfg), 0);
        char text[256];
        snprintf(text, sizeof text, "[train]\nbatch = %s\n", ints[i].text);
        int st;
        const char *p = load_demo(text, &st);
        IOT_OK(st);
        long b;
        IOT_EXPECT_ERROR(llmrt_config_int(cfg, "train", "batch", 8, 1, 4096, "rows", &b),
                         LLMRT_ERR_INVALID, at(p, 2), "train.batch", ints[i].problem);
    }
}
END_TEST

START_TEST(bad_value_from_environment)
{
    setenv("LLMRT_TRAIN_LR", "fast\nplease", 1);
    double lr;
    /* A newline in the value is escaped: the message stays one line. */
    IOT_EXPECT_ERROR(read_lr(&lr), LLMRT_ERR_INVALID, "environment LLMRT_TRAIN_LR: ",
                     "train.lr = \"fast\\x0aplease\" is not a number",
                     "(accepted: a number from 0 to 1)");
    unsetenv("LLMRT_TRAIN_LR");
}
END_TEST

START_TEST(ranges_in_messages)
{
    long v;
    double d;
    IOT_OK(llmrt_config_set(cfg, "a.x=-1"));
    IOT_EXPECT_ERROR(llmrt_config_int(cfg, "a", "x", 1, 0, LONG_MAX, "h", &v),
                     LLMRT_ERR_INVALID, "(accepted: an integer >= 0)");
    IOT_OK(llmrt_config_set(cfg, "a.y=2"));
    IOT_EXPECT_ERROR(llmrt_config_double(cfg, "a", "y", 0, -INFINITY, 1.5, "h", &d),
                     LLMRT_ERR_INVALID, "(accepted: a number <= 1.5)");
    IOT_OK(llmrt_config_set(cfg, "a.z=-2"));
    IOT_EXPECT_ERROR(llmrt_config_double(cfg, "a", "z", 1, 1e-8, INFINITY, "h", &d),
                     LLMRT_ERR_INVALID, "(accepted: a number >= 1e-08)");
}
END_TEST

START_TEST(bad_default_is_a_bug)
{
    long v;
    IOT_EXPECT_ERROR(llmrt_config_int(cfg, "a", "x", 100, 0, 10, "h", &v), LLMRT_ERR_INTERNAL,
                     "the default of a.x = \"100\" is out of range");
}
END_TEST

/* ------------------------------------------------------------------ the file */

START_TEST(duplicate_key)
{
    int st;
    const char *p = load_demo("[train]\nlr = 0.1\nbatch = 2\n\n[train]\nlr = 0.2\n", &st);
    char first[1100];
    snprintf(first, sizeof first, "(first at %s:2)", p);
    IOT_EXPECT_ERROR(st, LLMRT_ERR_INVALID, at(p, 6), "key train.lr is given twice", first);
}
END_TEST

START_TEST(key_outside_section)
{
    int st;
    const char *p = load_demo("lr = 0.1\n[train]\n", &st);
    IOT_EXPECT_ERROR(st, LLMRT_ERR_INVALID, at(p, 1), "key lr is outside any [section]");
}
END_TEST

START_TEST(syntax_error)
{
    int st;
    const char *p = load_demo("[train]\nlr = 0.1\n[model\nlayers = 2\n", &st);
    IOT_EXPECT_ERROR(st, LLMRT_ERR_INVALID, at(p, 3), "syntax error in \"[model\"",
                     "accepted: [section], key = value");
    llmrt_config_free(cfg);
    ck_assert_int_eq(llmrt_config_new(&cfg), 0);
    p = load_demo("[train]\njust words\n", &st);
    IOT_EXPECT_ERROR(st, LLMRT_ERR_INVALID, at(p, 2), "syntax error in \"just words\"");
}
END_TEST

START_TEST(continuation_line)
{
    int st;
    const char *p = load_demo("[train]\nlr = 0.1\n  batch = 4\n", &st);
    IOT_EXPECT_ERROR(st, LLMRT_ERR_INVALID, at(p, 3), "continuation of train.lr",
                     "remove the indentation");
}
END_TEST

START_TEST(long_line)
{
    char text[600];
    int n = snprintf(text, sizeof text, "[train]\nlr = 0.1\nname = ");
    memset(text + n, 'a', 400);
    strcpy(text + n + 400, "\nbatch = 2\n");
    int st;
    const char *p = load_demo(text, &st);
    IOT_EXPECT_ERROR(st, LLMRT_ERR_INVALID, at(p, 3), "line is longer than");
}
END_TEST

START_TEST(line_numbers_and_comments)
{
    int st;
    const char *p = load_demo("# header\n; another\n\n[model]\nlayers = 2 ; inline\n"
                              "\n[train]\r\nlr = 0.5\r\nbatch = x\n",
                              &st);
    IOT_OK(st);
    long layers, b;
    double lr;
    IOT_OK(llmrt_config_int(cfg, "model", "layers", 12, 1, 96, "blocks", &layers));
    ck_assert_int_eq(layers, 2);
    IOT_OK(read_lr(&lr));
    ck_assert(lr == 0.5);
    IOT_EXPECT_ERROR(llmrt_config_int(cfg, "train", "batch", 8, 1, 64, "rows", &b),
                     LLMRT_ERR_INVALID, at(p, 9), "train.batch = \"x\"");
}
END_TEST

START_TEST(missing_file)
{
    const char *p = iot_path("nope.ini");
    IOT_EXPECT_ERROR(llmrt_config_load_file(cfg, p), LLMRT_ERR_IO, p, "cannot open",
                     "No such file");
}
END_TEST

START_TEST(load_string_origin)
{
    IOT_EXPECT_ERROR(llmrt_config_load_string(cfg, "[a]\nx = 1\nx = 2\n", "<embedded>"),
                     LLMRT_ERR_INVALID, "<embedded>:3: key a.x is given twice");
}
END_TEST

START_TEST(bad_set_syntax)
{
    IOT_EXPECT_ERROR(llmrt_config_set(cfg, "train.lr"), LLMRT_ERR_INVALID,
                     "--set \"train.lr\": expected section.key=value");
    IOT_EXPECT_ERROR(llmrt_config_set(cfg, "lr=3"), LLMRT_ERR_INVALID,
                     "--set \"lr=3\": expected section.key=value");
    IOT_EXPECT_ERROR(llmrt_config_set(cfg, ".lr=3"), LLMRT_ERR_INVALID,
                     "--set \".lr=3\": empty section");
    IOT_EXPECT_ERROR(llmrt_config_set(cfg, "train.=3"), LLMRT_ERR_INVALID,
                     "--set \"train.=3\": empty key");
    /* A value may hold '=' and '.'. */
    IOT_OK(llmrt_config_set(cfg, "data.path=a=b.bin"));
    const char *s;
    IOT_OK(llmrt_config_string(cfg, "data", "path", "x", "h", &s));
    ck_assert_str_eq(s, "a=b.bin");
}
END_TEST

/* ------------------------------------------------------------------ unknown keys */

static void declare_train(void)
{
    long v;
    double d;
    IOT_OK(llmrt_config_int(cfg, "train", "batch", 8, 1, 64, "rows", &v));
    IOT_OK(llmrt_config_int(cfg, "train", "accum", 1, 1, 64, "micro-batches", &v));
    IOT_OK(read_lr(&d));
}

START_TEST(unknown_key_in_file)
{
    int st;
    const char *p = load_demo("[train]\nbatch = 2\n\n\n\n\nlrr = 0.1\n", &st);
    IOT_OK(st);
    declare_train();
    IOT_EXPECT_ERROR(llmrt_config_check_unknown(cfg, NULL), LLMRT_ERR_INVALID, at(p, 7),
                     "unknown key train.lrr; did you mean lr?",
                     "(accepted: batch, accum, lr)");
    /* Scoped to another section, it is not reported. */
    IOT_OK(llmrt_config_check_unknown(cfg, "model"));
    IOT_EXPECT_ERROR(llmrt_config_check_unknown(cfg, "train"), LLMRT_ERR_INVALID, "train.lrr");
}
END_TEST

START_TEST(unknown_section)
{
    int st;
    const char *p = load_demo("[train]\nbatch = 2\n[trian]\nlr = 0.1\n", &st);
    IOT_OK(st);
    declare_train();
    IOT_EXPECT_ERROR(llmrt_config_check_unknown(cfg, NULL), LLMRT_ERR_INVALID, at(p, 4),
                     "section [trian] is not read by any component",
                     "did you mean [train]?", "(known sections: train)");
}
END_TEST

START_TEST(unknown_key_from_set_and_env)
{
    declare_train();
    IOT_OK(llmrt_config_check_unknown(cfg, NULL));
    IOT_OK(llmrt_config_set(cfg, "train.LR=4"));
    IOT_EXPECT_ERROR(llmrt_config_check_unknown(cfg, NULL), LLMRT_ERR_INVALID,
                     "--set: unknown key train.LR; did you mean lr?");
    llmrt_config_free(cfg);
    ck_assert_int_eq(llmrt_config_new(&cfg), 0);
    declare_train();
    IOT_OK(llmrt_config_set(cfg, "train.bacth=4"));
    IOT_EXPECT_ERROR(llmrt_config_check_unknown(cfg, NULL), LLMRT_ERR_INVALID,
                     "--set: unknown key train.bacth; did you mean batch?");
    llmrt_config_free(cfg);
    ck_assert_int_eq(llmrt_config_new(&cfg), 0);
    declare_train();
    setenv("LLMRT_TRAIN_LRR", "1", 1);
    IOT_EXPECT_ERROR(llmrt_config_check_unknown(cfg, NULL), LLMRT_ERR_INVALID,
                     "environment LLMRT_TRAIN_LRR: unknown key train.lrr",
                     "(accepted: batch, accum, lr)");
    unsetenv("LLMRT_TRAIN_LRR");
    /* Variables of sections nobody declared are not ours to judge. */
    setenv("LLMRT_SOMETHING_ELSE", "1", 1);
    IOT_OK(llmrt_config_check_unknown(cfg, NULL));
    unsetenv("LLMRT_SOMETHING_ELSE");
}
END_TEST

START_TEST(has_section)
{
    IOT_OK(llmrt_config_load_string(cfg, "\xef\xbb\xbf[cuda]\n[cpu]\nthreads = 2\n", "t.ini"));
    IOT_OK(llmrt_config_set(cfg, "nccl.algo=ring"));
    ck_assert(llmrt_config_has_section(cfg, "cuda")); /* empty, but present */
    ck_assert(llmrt_config_has_section(cfg, "cpu"));
    ck_assert(llmrt_config_has_section(cfg, "nccl"));
    ck_assert(!llmrt_config_has_section(cfg, "mpi"));
    setenv("LLMRT_MPI_X", "1", 1);
    ck_assert(llmrt_config_has_section(cfg, "mpi"));
    unsetenv("LLMRT_MPI_X");
}
END_TEST

/* ------------------------------------------------------------------ scopes, output */

START_TEST(params_scope)
{
    llmrt_params *p = llmrt_config_params(cfg, "cpu");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_eq(llmrt_config_params(cfg, "cpu"), p);
    ck_assert_ptr_ne(llmrt_config_params(cfg, "cuda"), p);
    ck_assert_ptr_eq(llmrt_params_config(p), cfg);
    ck_assert_str_eq(llmrt_params_section(p), "cpu");
    IOT_OK(llmrt_config_set(cfg, "cpu.threads=3"));
    long v;
    IOT_OK(llmrt_config_int(llmrt_params_config(p), llmrt_params_section(p), "threads", 1, 1,
                            256, "OpenMP threads", &v));
    ck_assert_int_eq(v, 3);
}
END_TEST

START_TEST(write_and_reload)
{
    static const char *const opts[] = {"cpu", "cuda", NULL};
    IOT_OK(llmrt_config_load_string(cfg, "[train]\nlr = 3e-3\n", "a.ini"));
    IOT_OK(llmrt_config_set(cfg, "runtime.backend=cuda"));
    long b;
    double lr;
    int sh;
    const char *ch, *s, *un;
    IOT_OK(llmrt_config_int(cfg, "train", "batch", 8, 1, 64, "rows per batch", &b));
    IOT_OK(read_lr(&lr));
    IOT_OK(llmrt_config_bool(cfg, "data", "shuffle", 1, "shuffle", &sh));
    IOT_OK(llmrt_config_string(cfg, "data", "path", "x y.bin", "file", &s));
    IOT_OK(llmrt_config_string(cfg, "data", "val", NULL, "optional", &un));
    IOT_OK(llmrt_config_choice(cfg, "runtime", "backend", "cpu", opts, "compute", &ch));
    const char *out = iot_path("effective.ini");
    IOT_OK(llmrt_config_write(cfg, out));
    ck_assert(!iot_exists(iot_path("effective.ini.tmp")));

    llmrt_config *c2;
    ck_assert_int_eq(llmrt_config_new(&c2), 0);
    IOT_OK(llmrt_config_load_file(c2, out));
    long b2;
    double lr2;
    int sh2;
    const char *ch2, *s2, *un2;
    IOT_OK(llmrt_config_int(c2, "train", "batch", 1, 1, 64, "", &b2));
    IOT_OK(llmrt_config_double(c2, "train", "lr", 0, 0, 1, "", &lr2));
    IOT_OK(llmrt_config_bool(c2, "data", "shuffle", 0, "", &sh2));
    IOT_OK(llmrt_config_string(c2, "data", "path", "", "", &s2));
    IOT_OK(llmrt_config_string(c2, "data", "val", NULL, "", &un2));
    IOT_OK(llmrt_config_choice(c2, "runtime", "backend", "cpu", opts, "", &ch2));
    ck_assert_int_eq(b2, b);
    ck_assert(lr2 == lr);
    ck_assert_int_eq(sh2, sh);
    ck_assert_str_eq(s2, s);
    ck_assert_ptr_null(un2);
    ck_assert_str_eq(ch2, "cuda");
    IOT_OK(llmrt_config_check_unknown(c2, NULL));
    llmrt_config_free(c2);
}
END_TEST

START_TEST(help)
{
    static const char *const opts[] = {"cpu", "cuda", NULL};
    long b;
    const char *ch;
    IOT_OK(llmrt_config_set(cfg, "train.batch=16"));
    IOT_OK(llmrt_config_int(cfg, "train", "batch", 8, 1, 64, "rows per batch", &b));
    IOT_OK(llmrt_config_choice(cfg, "runtime", "backend", "cpu", opts, "compute backend", &ch));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    llmrt_config_print_help(cfg, NULL, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "[train]"));
    ck_assert_ptr_nonnull(strstr(text, "LLMRT_TRAIN_<KEY>"));
    ck_assert_ptr_nonnull(strstr(text, "batch"));
    ck_assert_ptr_nonnull(strstr(text, "an integer from 1 to 64; default 8; set to 16 by --set"));
    ck_assert_ptr_nonnull(strstr(text, "rows per batch"));
    ck_assert_ptr_nonnull(strstr(text, "choice: cpu, cuda; default cpu"));
    free(text);
    /* One section only. */
    f = open_memstream(&text, &len);
    llmrt_config_print_help(cfg, "runtime", f);
    fclose(f);
    ck_assert_ptr_null(strstr(text, "[train]"));
    ck_assert_ptr_nonnull(strstr(text, "[runtime]"));
    free(text);
}
END_TEST

START_TEST(redeclare)
{
    long v;
    IOT_OK(llmrt_config_int(cfg, "a", "x", 1, 0, 9, "h", &v));
    IOT_OK(llmrt_config_int(cfg, "a", "x", 2, 0, 9, "h", &v));
    ck_assert_int_eq(v, 2);
    const char *s1, *s2;
    IOT_OK(llmrt_config_string(cfg, "a", "s", "one", "h", &s1));
    IOT_OK(llmrt_config_string(cfg, "a", "s", "two", "h", &s2));
    ck_assert_str_eq(s1, "one"); /* still valid: strings live as long as the config */
    ck_assert_str_eq(s2, "two");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, priorities);
    tcase_add_test(tc, second_file_overrides_first);
    tcase_add_test(tc, booleans);
    tcase_add_test(tc, choices);
    tcase_add_test(tc, bad_numbers_from_file);
    tcase_add_test(tc, bad_value_from_environment);
    tcase_add_test(tc, ranges_in_messages);
    tcase_add_test(tc, bad_default_is_a_bug);
    tcase_add_test(tc, duplicate_key);
    tcase_add_test(tc, key_outside_section);
    tcase_add_test(tc, syntax_error);
    tcase_add_test(tc, continuation_line);
    tcase_add_test(tc, long_line);
    tcase_add_test(tc, line_numbers_and_comments);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, load_string_origin);
    tcase_add_test(tc, bad_set_syntax);
    tcase_add_test(tc, unknown_key_in_file);
    tcase_add_test(tc, unknown_section);
    tcase_add_test(tc, unknown_key_from_set_and_env);
    tcase_add_test(tc, has_section);
    tcase_add_test(tc, params_scope);
    tcase_add_test(tc, write_and_reload);
    tcase_add_test(tc, help);
    tcase_add_test(tc, redeclare);
    suite_add_tcase(s, tc);
    return iot_run(s);
}
