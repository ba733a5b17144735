/* iotest.h — helpers shared by the tests/io suites: a scratch directory per
 * test, small file writers, and the check that an error message is one line
 * naming what it must name. */
#ifndef LLMRT_TESTS_IO_IOTEST_H
#define LLMRT_TESTS_IO_IOTEST_H

#define _GNU_SOURCE
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"

/* A fresh directory under $TMPDIR (or /tmp), removed by iot_cleanup(). */
static char iot_dir[512];

static inline const char *iot_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(iot_dir, sizeof iot_dir, "%s/llmrt-io-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(iot_dir));
    return iot_dir;
}

static inline void iot_cleanup(void)
{
    if (iot_dir[0]) llmrt_rm_rf(iot_dir);
    iot_dir[0] = '\0';
}

/* iot_dir + "/" + name, in a static rotating buffer. */
static inline const char *iot_path(const char *name)
{
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", iot_dir, name);
    return b;
}

static inline void iot_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (n) ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static inline void iot_write_str(const char *path, const char *text)
{
    iot_write(path, text, strlen(text));
}

/* The whole file in a malloc'd NUL-terminated buffer. */
static inline char *iot_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

static inline int iot_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Count of error messages checked, to report how many bad inputs a suite
 * covers. */
static int iot_errors_checked;

/* Assert status `st` == `code` and that the recorded message is one line
 * containing each of the NULL-terminated needles. */
static inline void iot_expect_error_(const char *file, int line, int st, int code, ...)
{
    const char *msg = llmrt_last_error();
    if (st != code)
        ck_abort_msg("%s:%d: status %d (%s), expected %d; message: %s", file, line, st,
                     llmrt_status_name(st), code, msg);
    if (!msg[0]) ck_abort_msg("%s:%d: empty error message", file, line);
    if (strchr(msg, '\n') || strchr(msg, '\r'))
        ck_abort_msg("%s:%d: message is not one line: %s", file, line, msg);
    va_list ap;
    va_start(ap, code);
    const char *needle;
    while ((needle = va_arg(ap, const char *)))
        if (!strstr(msg, needle)) {
            va_end(ap);
            ck_abort_msg("%s:%d: message lacks \"%s\": %s", file, line, needle, msg);
        }
    va_end(ap);
    iot_errors_checked++;
    /* IOT_SHOW=1 prints every checked message, to review their wording. */
    if (getenv("IOT_SHOW")) printf("  %s\n", msg);
}
#define IOT_EXPECT_ERROR(st, code, ...)                                                    \
    iot_expect_error_(__FILE__, __LINE__, (st), (code), __VA_ARGS__, (const char *)NULL)

#define IOT_OK(expr)                                                                       \
    do {                                                                                   \
        int st_ = (expr);                                                                  \
        ck_assert_msg(st_ == 0, "%s failed (%d): %s", #expr, st_, llmrt_last_error());    \
    } while (0)

/* Run one suite with its own runner; exit status for automake. */
static inline int iot_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
