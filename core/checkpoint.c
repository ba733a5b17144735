/* checkpoint.c — checkpoint directories and state.json (see checkpoint.h). */
#define _GNU_SOURCE
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "error.h"
#include "fileio.h"
#include <llmrt/types.h>

/* ------------------------------------------------------------------ state.json */

void llmrt_ckpt_state_init(llmrt_ckpt_state *s)
{
    memset(s, 0, sizeof *s);
    s->format_version = LLMRT_CKPT_FORMAT_VERSION;
    s->world_size = 1;
    s->loss_scale = 1.0;
    s->best_val_loss = NAN;
    s->last_val_loss = NAN;
}

void llmrt_ckpt_state_free(llmrt_ckpt_state *s)
{
    free(s->config);
    s->config = NULL;
}

static json_t *u64_json(uint64_t v) { return json_integer((json_int_t)v); }

static json_t *real_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

int llmrt_ckpt_write_state(const char *path, const llmrt_ckpt_state *s)
{
    if (s->step > INT64_MAX || s->adam_t > INT64_MAX || s->data_position > INT64_MAX ||
        s->tokens_seen > INT64_MAX)
        return llmrt_error(LLMRT_ERR_INVALID, "%s: a counter is larger than 2^63-1", path);
    json_t *o = json_object(), *rng = json_array();
    if (!o || !rng) {
        json_decref(o);
        json_decref(rng);
        return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < 4; i++) {
        char b[24];
        snprintf(b, sizeof b, "%" PRIu64, s->rng[i]);
        json_array_append_new(rng, json_string(b));
    }
    json_object_set_new(o, "format", json_string("llmrt-checkpoint"));
    json_object_set_new(o, "format_version", json_integer(LLMRT_CKPT_FORMAT_VERSION));
    json_object_set_new(o, "step", u64_json(s->step));
    json_object_set_new(o, "adam_t", u64_json(s->adam_t));
    json_object_set_new(o, "rng", rng);
    json_object_set_new(o, "data_position", u64_json(s->data_position));
    json_object_set_new(o, "world_size", json_integer(s->world_size));
    json_object_set_new(o, "tokens_seen", u64_json(s->tokens_seen));
    json_object_set_new(o, "elapsed_s", real_or_null(s->elapsed_s));
    json_object_set_new(o, "loss_scale", real_or_null(s->loss_scale));
    json_object_set_new(o, "best_val_loss", real_or_null(s->best_val_loss));
    json_object_set_new(o, "last_val_loss", real_or_null(s->last_val_loss));
    json_object_set_new(o, "config", s->config ? json_string(s->config) : json_null());
    /* 17 significant digits: doubles read back bit for bit. */
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    json_decref(o);
    if (!text) return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the NUL; written with its length */
    int st = llmrt_write_file_atomic(path, text, n + 1);
    free(text);
    return st;
}

typedef struct field_ctx {
    const char *path;
    json_t *root;
} field_ctx;

static int field_err(const field_ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int field_err(const field_ctx *c, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return llmrt_error(LLMRT_ERR_FORMAT, "%s: field \"%s\" %s", c->path, field, msg);
}

static int get_u64(const field_ctx *c, const char *field, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(c->root, field);
    if (!v) return field_err(c, field, "is missing (expected a non-negative integer)");
    if (!json_is_integer(v)) return field_err(c, field, "is not an integer");
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > max)
        return field_err(c, field, "is %lld (expected 0 to %llu)", (long long)x,
                         (unsigned long long)max);
    *out = (uint64_t)x;
    return LLMRT_OK;
}

/* A number or null (NAN); `required`: missing is an error. */
static int get_real(const field_ctx *c, const char *field, int required, double def,
                    double *out)
{
    json_t *v = json_object_get(c->root, field);
    if (!v) {
        if (required) return field_err(c, field, "is missing (expected a number or null)");
        *out = def;
        return LLMRT_OK;
    }
    if (json_is_null(v)) *out = NAN;
    else if (json_is_number(v)) *out = json_number_value(v);
    else return field_err(c, field, "is not a number or null");
    return LLMRT_OK;
}

int llmrt_ckpt_read_state(const char *path, llmrt_ckpt_state *s)
{
    llmrt_ckpt_state_init(s);
    json_error_t err;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        if (access(path, R_OK))
            return llmrt_error(LLMRT_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        return llmrt_error(LLMRT_ERR_FORMAT, "%s:%d: not valid JSON: %s", path, err.line,
                           err.text);
    }
    field_ctx c = {path, root};
    int st = LLMRT_OK;
    uint64_t u;
    if (!json_is_object(root)) {
        st = llmrt_error(LLMRT_ERR_FORMAT, "%s: not a JSON object", path);
        goto out;
    }
    json_t *fmt = json_object_get(root, "format");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "llmrt-checkpoint")) {
        st = field_err(&c, "format", "is not \"llmrt-checkpoint\" (not an llmrt state.json)");
        goto out;
    }
    if ((st = get_u64(&c, "format_version", UINT32_MAX, &u))) goto out;
    if (u == 0 || u > LLMRT_CKPT_FORMAT_VERSION) {
        st = field_err(&c, "format_version",
                       "is %llu; this llmrt reads versions 1 to %d (a newer llmrt wrote it?)",
                       (unsigned long long)u, LLMRT_CKPT_FORMAT_VERSION);
        goto out;
    }
    s->format_version = (uint32_t)u;
    if ((st = get_u64(&c, "step", INT64_MAX, &s->step))) goto out;
    if ((st = get_u64(&c, "adam_t", INT64_MAX, &s->adam_t))) goto out;
    if ((st = get_u64(&c, "data_position", INT64_MAX, &s->data_position))) goto out;
    if ((st = get_u64(&c, "world_size", INT32_MAX, &u))) goto out;
    if (u == 0) {
        st = field_err(&c, "world_size", "is 0 (expected at least 1)");
        goto out;
    }
    s->world_size = (uint32_t)u;
    if ((st = get_u64(&c, "tokens_seen", INT64_MAX, &s->tokens_seen))) goto out;
    json_t *rng = json_object_get(root, "rng");
    if (!json_is_array(rng) || json_array_size(rng) != 4) {
        st = field_err(&c, "rng", "%s (expected 4 decimal strings)",
                       rng ? "is not an array of 4" : "is missing");
        goto out;
    }
    for (size_t i = 0; i < 4; i++) {
        json_t *w = json_array_get(rng, i);
        const char *t = json_is_string(w) ? json_string_value(w) : NULL;
        char *end = NULL;
        errno = 0;
        unsigned long long x = t && t[0] >= '0' && t[0] <= '9' ? strtoull(t, &end, 10) : 0;
        if (!t || !end || *end || errno == ERANGE) {
            st = llmrt_error(LLMRT_ERR_FORMAT,
                             "%s: field \"rng\"[%zu] is not a decimal string of a 64-bit "
                             "unsigned integer",
                             path, i);
            goto out;
        }
        s->rng[i] = x;
    }
    if ((st = get_real(&c, "elapsed_s", 0, 0.0, &s->elapsed_s))) goto out;
    if ((st = get_real(&c, "loss_scale", 0, 1.0, &s->loss_scale))) goto out;
    if ((st = get_real(&c, "best_val_loss", 0, NAN, &s->best_val_loss))) goto out;
    if ((st = get_real(&c, "last_val_loss", 0, NAN, &s->last_val_loss))) goto out;
    json_t *cfg = json_object_get(root, "config");
    if (cfg && !json_is_null(cfg)) {
        if (!json_is_string(cfg)) {
            st = field_err(&c, "config", "is not a string or null");
            goto out;
        }
        if (!(s->config = strdup(json_string_value(cfg)))) {
            st = llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
    }
out:
    json_decref(root);
    if (st) llmrt_ckpt_state_free(s);
    return st;
}

/* N for a name "step-N" (N all digits), else -1. */
static int parse_step_name(const char *name, uint64_t *step)
{
    if (strncmp(name, "step-", 5)) return -1;
    const char *d = name + 5;
    if (!*d || strlen(d) > 19) return -1;
    uint64_t v = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9') return -1;
        v = v * 10 + (uint64_t)(*d - '0');
    }
    *step = v;
    return 0;
}

static const char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *p = path + n;
    while (p > path && p[-1] != '/') p--;
    return p;
}

int llmrt_ckpt_load_state(const char *ckpt_dir, llmrt_ckpt_state *s)
{
    char *path = llmrt_path_join(ckpt_dir, LLMRT_CKPT_STATE_FILE);
    if (!path) return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", ckpt_dir);
    int st = llmrt_ckpt_read_state(path, s);
    if (!st) {
        char name[256];
        snprintf(name, sizeof name, "%s", base_name(ckpt_dir));
        size_t n = strlen(name);
        if (n && name[n - 1] == '/') name[n - 1] = '\0';
        uint64_t dstep;
        if (!parse_step_name(name, &dstep) && dstep != s->step) {
            st = llmrt_error(LLMRT_ERR_FORMAT,
                             "%s: field \"step\" is %llu, but the directory is %s",
                             path, (unsigned long long)s->step, name);
            llmrt_ckpt_state_free(s);
        }
    }
    free(path);
    return st;
}

/* ------------------------------------------------------------------ writing */

struct llmrt_ckpt_txn {
    char *out_dir;
    char *tmp_dir;
    uint64_t step;
};

void llmrt_ckpt_dir_name(uint64_t step, char *buf, size_t cap)
{
    snprintf(buf, cap, "step-%06llu", (unsigned long long)step);
}

int llmrt_ckpt_begin_tagged(llmrt_ckpt_txn **out, const char *out_dir, uint64_t step,
                            unsigned long tag)
{
    *out = NULL;
    int st = llmrt_mkdir_p(out_dir);
    if (st) return st;
    char name[96], sn[40];
    llmrt_ckpt_dir_name(step, sn, sizeof sn);
    snprintf(name, sizeof name, ".%s.tmp-%lu", sn, tag);
    llmrt_ckpt_txn *t = calloc(1, sizeof *t);
    if (!t || !(t->out_dir = strdup(out_dir)) || !(t->tmp_dir = llmrt_path_join(out_dir, name))) {
        if (t) free(t->out_dir);
        free(t);
        return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", out_dir);
    }
    t->step = step;
    if (mkdir(t->tmp_dir, 0777)) {
        if (errno != EEXIST) {
            st = llmrt_error(LLMRT_ERR_IO, "%s: cannot create the checkpoint directory: %s",
                             t->tmp_dir, strerror(errno));
            llmrt_ckpt_release(t);
            return st;
        }
        /* Ours from an earlier attempt (same tag): start clean, unless several
         * ranks share it, in which case another rank made it just now. */
    }
    *out = t;
    return LLMRT_OK;
}

int llmrt_ckpt_begin(llmrt_ckpt_txn **out, const char *out_dir, uint64_t step)
{
    return llmrt_ckpt_begin_tagged(out, out_dir, step, (unsigned long)getpid());
}

const char *llmrt_ckpt_txn_dir(const llmrt_ckpt_txn *t) { return t->tmp_dir; }

char *llmrt_ckpt_txn_path(const llmrt_ckpt_txn *t, const char *file)
{
    return llmrt_path_join(t->tmp_dir, file);
}

void llmrt_ckpt_release(llmrt_ckpt_txn *t)
{
    if (!t) return;
    free(t->out_dir);
    free(t->tmp_dir);
    free(t);
}

void llmrt_ckpt_abort(llmrt_ckpt_txn *t)
{
    if (!t) return;
    llmrt_rm_rf(t->tmp_dir);
    llmrt_ckpt_release(t);
}

/* fsync every file below `dir`, then `dir`. */
static int fsync_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return llmrt_error(LLMRT_ERR_IO, "%s: cannot read: %s", dir, strerror(errno));
    int st = LLMRT_OK;
    struct dirent *de;
    while (!st && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *p = llmrt_path_join(dir, de->d_name);
        if (!p) {
            st = llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        struct stat sb;
        if (lstat(p, &sb)) st = llmrt_error(LLMRT_ERR_IO, "%s: %s", p, strerror(errno));
        else if (S_ISDIR(sb.st_mode)) st = fsync_tree(p);
        else if (S_ISREG(sb.st_mode)) st = llmrt_fsync_path(p);
        free(p);
    }
    closedir(d);
    return st ? st : llmrt_fsync_path(dir);
}

/* Hidden leftovers of earlier attempts: .step-*.tmp-* and .step-*.old-*. */
static int is_stale_name(const char *name)
{
    return !strncmp(name, ".step-", 6) && (strstr(name, ".tmp-") || strstr(name, ".old-"));
}

static void clean_stale(const char *out_dir)
{
    DIR *d = opendir(out_dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_stale_name(de->d_name)) continue;
        char *p = llmrt_path_join(out_dir, de->d_name);
        if (p) llmrt_rm_rf(p); /* best effort: a failure here loses nothing */
        free(p);
    }
    closedir(d);
}

/* Move `from` to `to`, replacing an existing directory `to`. Afterwards the
 * old `to` (if any) is at `old`, for the caller to remove. */
static int replace_dir(const char *from, const char *to, const char *old, int *had_old)
{
    *had_old = 0;
    if (!rename(from, to)) return LLMRT_OK;
    if (errno != EEXIST && errno != ENOTEMPTY)
        return llmrt_error(LLMRT_ERR_IO, "%s: cannot rename to %s: %s", from, to,
                           strerror(errno));
#ifdef RENAME_EXCHANGE
    /* One atomic swap: no moment without a step-N directory. */
    if (!renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE)) {
        if (rename(from, old))
            return llmrt_error(LLMRT_ERR_IO, "%s: cannot rename to %s: %s", from, old,
                               strerror(errno));
        *had_old = 1;
        return LLMRT_OK;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return llmrt_error(LLMRT_ERR_IO, "%s: cannot exchange with %s: %s", from, to,
                           strerror(errno));
#endif
    /* No atomic exchange on this file system: move the old one aside first. */
    if (rename(to, old))
        return llmrt_error(LLMRT_ERR_IO, "%s: cannot move aside to %s: %s", to, old,
                           strerror(errno));
    *had_old = 1;
    if (rename(from, to)) {
        int e = errno;
        rename(old, to); /* put it back */
        *had_old = 0;
        return llmrt_error(LLMRT_ERR_IO, "%s: cannot rename to %s: %s", from, to, strerror(e));
    }
    return LLMRT_OK;
}

int llmrt_ckpt_commit(llmrt_ckpt_txn *t, char **final_dir)
{
    if (final_dir) *final_dir = NULL;
    char name[40], oldname[96];
    llmrt_ckpt_dir_name(t->step, name, sizeof name);
    snprintf(oldname, sizeof oldname, ".%s.old-%ld", name, (long)getpid());
    char *final = llmrt_path_join(t->out_dir, name);
    char *old = llmrt_path_join(t->out_dir, oldname);
    char *state = llmrt_path_join(t->tmp_dir, LLMRT_CKPT_STATE_FILE);
    char *latest = llmrt_path_join(t->out_dir, LLMRT_CKPT_LATEST_FILE);
    int st = LLMRT_OK, had_old = 0;
    if (!final || !old || !state || !latest) {
        st = llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", t->out_dir);
        goto fail;
    }
    struct stat sb;
    if (stat(state, &sb) || !S_ISREG(sb.st_mode)) {
        st = llmrt_error(LLMRT_ERR_INVALID,
                         "%s: no %s: write the state before committing a checkpoint",
                         t->tmp_dir, LLMRT_CKPT_STATE_FILE);
        goto fail;
    }
    if ((st = fsync_tree(t->tmp_dir))) goto fail;
    if ((st = replace_dir(t->tmp_dir, final, old, &had_old))) goto fail;
    /* From here on the checkpoint is published. */
    if ((st = llmrt_fsync_path(t->out_dir))) goto done;
    char text[64];
    int n = snprintf(text, sizeof text, "%s\n", name);
    if ((st = llmrt_write_file_atomic(latest, text, (size_t)n))) goto done;
    if (had_old) llmrt_rm_rf(old);
    clean_stale(t->out_dir);
    if (final_dir) {
        *final_dir = final;
        final = NULL;
    }
    goto done;
fail:
    llmrt_rm_rf(t->tmp_dir);
done:
    free(final);
    free(old);
    free(state);
    free(latest);
    llmrt_ckpt_release(t);
    return st;
}

/* ------------------------------------------------------------------ finding */

static int is_complete(const char *dir)
{
    char *p = llmrt_path_join(dir, LLMRT_CKPT_STATE_FILE);
    struct stat sb;
    int ok = p && !stat(p, &sb) && S_ISREG(sb.st_mode);
    free(p);
    return ok;
}

/* The name `latest` holds, if it names a complete checkpoint. */
static int read_latest(const char *out_dir, char *name, size_t cap, uint64_t *step)
{
    char *p = llmrt_path_join(out_dir, LLMRT_CKPT_LATEST_FILE);
    if (!p) return 0;
    FILE *f = fopen(p, "re");
    free(p);
    if (!f) return 0;
    char buf[128];
    int ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    if (!ok) return 0;
    buf[strcspn(buf, "\r\n")] = '\0';
    if (parse_step_name(buf, step)) return 0;
    char *dir = llmrt_path_join(out_dir, buf);
    ok = dir && is_complete(dir);
    free(dir);
    if (ok) snprintf(name, cap, "%s", buf);
    return ok;
}

typedef struct ckpt_list {
    uint64_t *steps;
    char **names;
    size_t n, cap;
} ckpt_list;

static void list_free(ckpt_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->names[i]);
    free(l->steps);
    free(l->names);
}

/* Complete step-N directories of `out_dir`. */
static int list_complete(const char *out_dir, ckpt_list *l)
{
    memset(l, 0, sizeof *l);
    DIR *d = opendir(out_dir);
    if (!d) {
        if (errno == ENOENT) return LLMRT_OK;
        return llmrt_error(LLMRT_ERR_IO, "%s: cannot read: %s", out_dir, strerror(errno));
    }
    struct dirent *de;
    int st = LLMRT_OK;
    while (!st && (de = readdir(d))) {
        uint64_t step;
        if (parse_step_name(de->d_name, &step)) continue;
        char *p = llmrt_path_join(out_dir, de->d_name);
        int ok = p && is_complete(p);
        free(p);
        if (!ok) continue;
        if (l->n == l->cap) {
            size_t nc = l->cap ? 2 * l->cap : 16;
            uint64_t *s = realloc(l->steps, nc * sizeof *s);
            if (s) l->steps = s;
            char **nm = realloc(l->names, nc * sizeof *nm);
            if (nm) l->names = nm;
            if (!s || !nm) {
                st = llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", out_dir);
                break;
            }
            l->cap = nc;
        }
        if (!(l->names[l->n] = strdup(de->d_name))) {
            st = llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", out_dir);
            break;
        }
        l->steps[l->n++] = step;
    }
    closedir(d);
    if (st) list_free(l);
    return st;
}

int llmrt_ckpt_find_latest(const char *out_dir, char **dir, uint64_t *step)
{
    *dir = NULL;
    *step = 0;
    char name[128];
    uint64_t s;
    if (!read_latest(out_dir, name, sizeof name, &s)) {
        ckpt_list l;
        int st = list_complete(out_dir, &l);
        if (st) return st;
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < l.n; i++)
            if (best == SIZE_MAX || l.steps[i] > l.steps[best]) best = i;
        if (best != SIZE_MAX) {
            snprintf(name, sizeof name, "%s", l.names[best]);
            s = l.steps[best];
        }
        list_free(&l);
        if (best == SIZE_MAX) return LLMRT_OK;
    }
    if (!(*dir = llmrt_path_join(out_dir, name)))
        return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", out_dir);
    *step = s;
    return LLMRT_OK;
}

int llmrt_ckpt_prune(const char *out_dir, unsigned keep)
{
    if (keep == 0) keep = 1;
    char latest[128] = "";
    uint64_t ls;
    if (!read_latest(out_dir, latest, sizeof latest, &ls)) latest[0] = '\0';
    ckpt_list l;
    int st = list_complete(out_dir, &l);
    if (st) return st;
    for (size_t i = 0; i < l.n && !st; i++) {
        size_t newer = 0;
        for (size_t j = 0; j < l.n; j++) newer += l.steps[j] > l.steps[i];
        if (newer < keep || !strcmp(l.names[i], latest)) continue;
        char *p = llmrt_path_join(out_dir, l.names[i]);
        if (!p) {
            st = llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", out_dir);
            break;
        }
        /* Hide it first (one rename), so a crash mid-removal leaves stale
         * litter, not a half-deleted checkpoint that looks complete. */
        char hidden[160];
        snprintf(hidden, sizeof hidden, ".%s.old-%ld", l.names[i], (long)getpid());
        char *h = llmrt_path_join(out_dir, hidden);
        if (h && !rename(p, h)) st = llmrt_rm_rf(h);
        else st = llmrt_rm_rf(p);
        free(h);
        free(p);
    }
    list_free(&l);
    return st;
}
