/* metrics.c — metrics.jsonl, run.json and the progress line (see metrics.h). */
#define _GNU_SOURCE
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "error.h"
#include "fileio.h"
#include <llmrt/types.h>

/* Ten significant digits: a float32 quantity reads back exactly, and 3e-4
 * stays "0.0003". */
#define REAL_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *record_json(const llmrt_metrics_record *r)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "step", json_integer((json_int_t)r->step));
    json_object_set_new(o, "loss", num(r->loss));
    json_object_set_new(o, "val_loss", num(r->val_loss));
    json_object_set_new(o, "lr", num(r->lr));
    json_object_set_new(o, "grad_norm", num(r->grad_norm));
    json_object_set_new(o, "tokens_per_s", num(r->tokens_per_s));
    json_object_set_new(o, "mfu", num(r->mfu));
    json_object_set_new(o, "elapsed_s", num(r->elapsed_s));
    if (r->loss_scale > 0.0) {
        json_object_set_new(o, "loss_scale", num(r->loss_scale));
        json_object_set_new(o, "skipped", json_boolean(r->skipped));
    }
    return o;
}

size_t llmrt_metrics_format(const llmrt_metrics_record *r, char *buf, size_t cap)
{
    json_t *o = record_json(r);
    char *s = o ? json_dumps(o, REAL_FLAGS) : NULL;
    json_decref(o);
    if (!s) {
        if (cap) buf[0] = '\0';
        return 0;
    }
    size_t n = strlen(s);
    if (cap) snprintf(buf, cap, "%s", s);
    free(s);
    return n;
}

/* ------------------------------------------------------------------ metrics.jsonl */

struct llmrt_metrics {
    char *path;
    FILE *f;
};

/* Rewrite `path` keeping the records with step <= keep. Torn or foreign
 * lines are dropped. */
static int truncate_after(const char *path, uint64_t keep)
{
    FILE *in = fopen(path, "re");
    if (!in) {
        if (errno == ENOENT) return llmrt_write_file_atomic(path, "", 0);
        return llmrt_error(LLMRT_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    }
    llmrt_atomic_file af;
    int st = llmrt_atomic_open(&af, path);
    if (st) {
        fclose(in);
        return st;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        if (line[n - 1] != '\n') break; /* torn last line: a crash mid-write */
        json_t *o = json_loadb(line, (size_t)n, 0, NULL);
        json_t *step = o ? json_object_get(o, "step") : NULL;
        int ok = json_is_integer(step) && json_integer_value(step) >= 0 &&
                 (uint64_t)json_integer_value(step) <= keep;
        json_decref(o);
        if (ok) fwrite(line, 1, (size_t)n, af.f);
    }
    free(line);
    int bad = ferror(in);
    fclose(in);
    if (bad) {
        llmrt_atomic_abort(&af);
        return llmrt_error(LLMRT_ERR_IO, "%s: read error", path);
    }
    return llmrt_atomic_commit(&af);
}

int llmrt_metrics_open(llmrt_metrics **out, const char *out_dir, int resume,
                       uint64_t resume_step)
{
    *out = NULL;
    int st = llmrt_mkdir_p(out_dir);
    if (st) return st;
    llmrt_metrics *m = calloc(1, sizeof *m);
    if (!m || !(m->path = llmrt_path_join(out_dir, LLMRT_METRICS_FILE))) {
        free(m);
        return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", out_dir);
    }
    st = resume ? truncate_after(m->path, resume_step)
                : llmrt_write_file_atomic(m->path, "", 0);
    if (!st) {
        m->f = fopen(m->path, "ae");
        if (!m->f)
            st = llmrt_error(LLMRT_ERR_IO, "%s: cannot open for appending: %s", m->path,
                             strerror(errno));
    }
    if (st) {
        llmrt_metrics_close(m);
        return st;
    }
    *out = m;
    return LLMRT_OK;
}

int llmrt_metrics_log(llmrt_metrics *m, const llmrt_metrics_record *r)
{
    json_t *o = record_json(r);
    char *s = o ? json_dumps(o, REAL_FLAGS) : NULL;
    json_decref(o);
    if (!s) return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", m->path);
    int bad = fputs(s, m->f) < 0 || fputc('\n', m->f) == EOF || fflush(m->f);
    free(s);
    if (bad) return llmrt_error(LLMRT_ERR_IO, "%s: write failed: %s", m->path, strerror(errno));
    return LLMRT_OK;
}

const char *llmrt_metrics_path(const llmrt_metrics *m) { return m->path; }

void llmrt_metrics_close(llmrt_metrics *m)
{
    if (!m) return;
    if (m->f) fclose(m->f);
    free(m->path);
    free(m);
}

/* ------------------------------------------------------------------ run.json */

struct llmrt_run_info {
    json_t *o;
};

int llmrt_run_info_new(llmrt_run_info **out)
{
    *out = calloc(1, sizeof **out);
    if (*out && !((*out)->o = json_object())) {
        free(*out);
        *out = NULL;
    }
    return *out ? LLMRT_OK : llmrt_error(LLMRT_ERR_NOMEM, "run info: out of memory");
}

void llmrt_run_info_free(llmrt_run_info *ri)
{
    if (!ri) return;
    json_decref(ri->o);
    free(ri);
}

static int ri_set(llmrt_run_info *ri, const char *key, json_t *v)
{
    if (!v || json_object_set_new(ri->o, key, v))
        return llmrt_error(LLMRT_ERR_NOMEM, "run info: cannot set \"%s\"", key);
    return LLMRT_OK;
}

int llmrt_run_info_str(llmrt_run_info *ri, const char *key, const char *value)
{
    return ri_set(ri, key, value ? json_string(value) : json_null());
}

int llmrt_run_info_num(llmrt_run_info *ri, const char *key, double value)
{
    return ri_set(ri, key, num(value));
}

int llmrt_run_info_int(llmrt_run_info *ri, const char *key, long long value)
{
    return ri_set(ri, key, json_integer(value));
}

int llmrt_run_info_bool(llmrt_run_info *ri, const char *key, int value)
{
    return ri_set(ri, key, json_boolean(value));
}

int llmrt_run_info_write(const llmrt_run_info *ri, const char *path)
{
    char *s = json_dumps(ri->o, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    if (!s) return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(s);
    s[n] = '\n';
    int st = llmrt_write_file_atomic(path, s, n + 1);
    free(s);
    return st;
}

/* ------------------------------------------------------------------ progress */

struct llmrt_progress {
    FILE *stream;
    uint64_t total, every;
    int tty;
    int drawn;          /* a live line is on the terminal */
    int have_first;
    uint64_t first_step;
    double first_elapsed;
    double last_draw;   /* elapsed_s of the last redraw */
    double last_val;    /* the latest validation loss seen, NAN if none */
    llmrt_metrics_record last;
    int have_last;
};

void llmrt_format_duration(double s, char *buf, size_t cap)
{
    if (!isfinite(s) || s < 0 || s > 1e9) {
        snprintf(buf, cap, "--");
        return;
    }
    unsigned long long t = (unsigned long long)(s + 0.5);
    if (t < 60) snprintf(buf, cap, "%llus", t);
    else if (t < 3600) snprintf(buf, cap, "%llum%02llus", t / 60, t % 60);
    else if (t < 86400) snprintf(buf, cap, "%lluh%02llum", t / 3600, t / 60 % 60);
    else snprintf(buf, cap, "%llud%02lluh", t / 86400, t / 3600 % 24);
}

void llmrt_format_thousands(double v, char *buf, size_t cap)
{
    if (!isfinite(v) || fabs(v) >= 1e18) {
        snprintf(buf, cap, "%g", v);
        return;
    }
    char digits[32];
    long long x = llround(v);
    snprintf(digits, sizeof digits, "%lld", x < 0 ? -x : x);
    size_t n = strlen(digits), o = 0;
    char tmp[48];
    if (x < 0) tmp[o++] = '-';
    for (size_t i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) tmp[o++] = ',';
        tmp[o++] = digits[i];
    }
    tmp[o] = '\0';
    snprintf(buf, cap, "%s", tmp);
}

int llmrt_progress_new(llmrt_progress **out, FILE *stream, uint64_t total_steps,
                       uint64_t every)
{
    llmrt_progress *p = calloc(1, sizeof *p);
    if (!p) return llmrt_error(LLMRT_ERR_NOMEM, "progress: out of memory");
    p->stream = stream ? stream : stderr;
    p->total = total_steps;
    p->every = every ? every : 1;
    p->tty = isatty(fileno(p->stream));
    p->last_val = NAN;
    p->last_draw = -INFINITY;
    *out = p;
    return LLMRT_OK;
}

void llmrt_progress_set_tty(llmrt_progress *p, int tty) { p->tty = tty != 0; }

static size_t format_line(const llmrt_progress *p, const llmrt_metrics_record *r, double val,
                          char *buf, size_t cap)
{
    char tok[32], eta[32];
    size_t o = 0;
#define ADD(...)                                                                           \
    do {                                                                                   \
        if (o < cap) o += (size_t)snprintf(buf + o, cap - o, __VA_ARGS__);                 \
    } while (0)
    if (p->total) ADD(" step %llu/%llu", (unsigned long long)r->step,
                      (unsigned long long)p->total);
    else ADD(" step %llu", (unsigned long long)r->step);
    ADD(" | loss %.3f", r->loss);
    if (isfinite(val)) ADD(" | val %.3f", val);
    llmrt_format_thousands(r->tokens_per_s, tok, sizeof tok);
    ADD(" | %s tok/s", tok);
    if (isfinite(r->mfu)) ADD(" | MFU %.1f%%", 100.0 * r->mfu);
    if (r->loss_scale > 0.0) ADD(" | scale %g%s", r->loss_scale, r->skipped ? " (skipped)" : "");
    if (p->total) {
        double rate = NAN;
        if (p->have_first && r->step > p->first_step && r->elapsed_s > p->first_elapsed)
            rate = (double)(r->step - p->first_step) / (r->elapsed_s - p->first_elapsed);
        double left = r->step >= p->total ? 0.0 : (double)(p->total - r->step) / rate;
        llmrt_format_duration(left, eta, sizeof eta);
        ADD(" | ETA %s", eta);
    }
#undef ADD
    return o;
}

size_t llmrt_progress_format(const llmrt_progress *p, const llmrt_metrics_record *r, char *buf,
                             size_t cap)
{
    double val = isfinite(r->val_loss) ? r->val_loss : p->last_val;
    return format_line(p, r, val, buf, cap);
}

static void draw(llmrt_progress *p, const llmrt_metrics_record *r)
{
    char line[256];
    format_line(p, r, p->last_val, line, sizeof line);
    fprintf(p->stream, "\r%s\033[K", line);
    fflush(p->stream);
    p->drawn = 1;
    p->last_draw = r->elapsed_s;
}

void llmrt_progress_update(llmrt_progress *p, const llmrt_metrics_record *r)
{
    if (!p->have_first) {
        p->have_first = 1;
        p->first_step = r->step;
        p->first_elapsed = r->elapsed_s;
    }
    int has_val = isfinite(r->val_loss);
    if (has_val) p->last_val = r->val_loss;
    p->last = *r;
    p->have_last = 1;
    int final = p->total && r->step >= p->total;
    if (p->tty) {
        if (final || has_val || !p->drawn || r->elapsed_s - p->last_draw >= 0.1) draw(p, r);
        return;
    }
    if (final || has_val || r->step % p->every == 0) {
        char line[256];
        format_line(p, r, p->last_val, line, sizeof line);
        fprintf(p->stream, "%s\n", line + 1); /* no leading space on a plain line */
        fflush(p->stream);
    }
}

void llmrt_progress_clear(llmrt_progress *p)
{
    if (!p->tty || !p->drawn) return;
    fputs("\r\033[K", p->stream);
    fflush(p->stream);
    p->drawn = 0;
}

void llmrt_progress_finish(llmrt_progress *p)
{
    if (!p->tty) return;
    if (p->have_last) draw(p, &p->last); /* the last state, even if throttled */
    if (p->drawn) fputc('\n', p->stream);
    fflush(p->stream);
    p->drawn = 0;
}

void llmrt_progress_free(llmrt_progress *p) { free(p); }
