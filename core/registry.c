/* registry.c — the plugin search path and component lookup (registry.h). */
#define _GNU_SOURCE /* asprintf, vasprintf, strndup */
#include "registry.h"
#include "format_fp32.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "loader.h"

#ifndef LLMRT_PLUGINDIR
#error "LLMRT_PLUGINDIR must be defined (core/local.mk passes $(plugindir))"
#endif

/* --- state --------------------------------------------------------------- */

typedef struct reg_probe {
    int done;
    llmrt_load_status status;
    char *message; /* full message when status is not OK */
} reg_probe;

typedef struct reg_file {
    const char *path;          /* interned: lives until exit */
    const char *base;          /* inside path */
    llmrt_plugin_kind kind;    /* from the file name; 0 when it has none */
    char name[256];            /* plugin name from the file name */
    int tried;
    llmrt_load_status status;
    char *message;             /* full message when status is not OK */
    unsigned abi_major, abi_minor;
    llmrt_loaded_plugin lp;
    reg_probe *probes;         /* one per component */
} reg_file;

typedef struct reg_dir {
    char *path;
    const char *origin;        /* static string */
    int exists;
    int scanned;
    reg_file **files;
    size_t n_files;
} reg_dir;

typedef struct reg_builtin {
    const llmrt_component *comp;
    reg_probe probe;
} reg_builtin;

static struct {
    int initialised;
    reg_dir **dirs;
    size_t n_dirs;
    reg_builtin *builtins;
    size_t n_builtins;
    char *first_origin;        /* origin label of the first list */
    char **scratch;            /* strings that live until the next init */
    size_t n_scratch;
} R;

/* Paths handed out live until exit (llmrt_rt keeps them). */
static char **intern_pool;
static size_t n_intern;

static pthread_mutex_t lock;
static pthread_once_t lock_once = PTHREAD_ONCE_INIT;

static void lock_init(void)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&lock, &attr);
    pthread_mutexattr_destroy(&attr);
}

static void reg_lock(void)
{
    pthread_once(&lock_once, lock_init);
    pthread_mutex_lock(&lock);
}

static void reg_unlock(void) { pthread_mutex_unlock(&lock); }

static const char *intern(const char *s)
{
    for (size_t i = 0; i < n_intern; i++)
        if (!strcmp(intern_pool[i], s)) return intern_pool[i];
    char **grown = realloc(intern_pool, (n_intern + 1) * sizeof *grown);
    if (!grown) return NULL;
    intern_pool = grown;
    if (!(intern_pool[n_intern] = strdup(s))) return NULL;
    return intern_pool[n_intern++];
}

/* A string that lives until the next init/reset; NULL when out of memory. */
static const char *scratch_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *scratch_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int rc = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (rc < 0) return NULL;
    char **grown = realloc(R.scratch, (R.n_scratch + 1) * sizeof *grown);
    if (!grown) {
        free(s);
        return NULL;
    }
    R.scratch = grown;
    R.scratch[R.n_scratch++] = s;
    return s;
}

static void free_file(reg_file *f)
{
    if (!f) return;
    free(f->message);
    if (f->probes)
        for (size_t i = 0; i < f->lp.n_components; i++) free(f->probes[i].message);
    free(f->probes);
    free(f); /* the plugin itself stays loaded (rule: never dlclose) */
}

static void forget_dirs(void)
{
    for (size_t i = 0; i < R.n_dirs; i++) {
        reg_dir *d = R.dirs[i];
        for (size_t j = 0; j < d->n_files; j++) free_file(d->files[j]);
        free(d->files);
        free(d->path);
        free(d);
    }
    free(R.dirs);
    R.dirs = NULL;
    R.n_dirs = 0;
    for (size_t i = 0; i < R.n_scratch; i++) free(R.scratch[i]);
    free(R.scratch);
    R.scratch = NULL;
    R.n_scratch = 0;
    free(R.first_origin);
    R.first_origin = NULL;
    R.initialised = 0;
}

/* --- the search path ----------------------------------------------------- */

static int same_dir(const char *a, const char *b)
{
    if (!strcmp(a, b)) return 1;
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

static int add_dir(const char *path, size_t len, const char *origin)
{
    if (len == 0) return LLMRT_OK; /* empty element: skipped, never "." */
    char *p = strndup(path, len);
    if (!p) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    /* Trailing slashes only make the messages uglier. */
    for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--) p[n - 1] = '\0';
    for (size_t i = 0; i < R.n_dirs; i++)
        if (same_dir(R.dirs[i]->path, p)) {
            free(p);
            return LLMRT_OK;
        }
    reg_dir *d = calloc(1, sizeof *d);
    reg_dir **grown = realloc(R.dirs, (R.n_dirs + 1) * sizeof *grown);
    if (!d || !grown) {
        free(p);
        free(d);
        if (grown) R.dirs = grown;
        return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    }
    R.dirs = grown;
    struct stat st;
    d->path = p;
    d->origin = origin;
    d->exists = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
    R.dirs[R.n_dirs++] = d;
    return LLMRT_OK;
}

static int add_list(const char *list, const char *origin)
{
    if (!list) return LLMRT_OK;
    for (const char *s = list;;) {
        const char *colon = strchr(s, ':');
        size_t len = colon ? (size_t)(colon - s) : strlen(s);
        int rc = add_dir(s, len, origin);
        if (rc) return rc;
        if (!colon) return LLMRT_OK;
        s = colon + 1;
    }
}

static int init_locked(const char *first_path, const char *origin)
{
    forget_dirs();
    int rc;
    if (!(R.first_origin = strdup(origin ? origin : "[runtime] plugin_path")))
        return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    if ((rc = add_list(first_path, R.first_origin)) ||
        (rc = add_list(getenv("LLMRT_PLUGIN_PATH"), "LLMRT_PLUGIN_PATH")) ||
        (rc = add_dir(LLMRT_PLUGINDIR, strlen(LLMRT_PLUGINDIR), "installed"))) {
        forget_dirs();
        return rc;
    }
    R.initialised = 1;
    return LLMRT_OK;
}

int llmrt_registry_init_with_origin(const char *first_path, const char *origin)
{
    reg_lock();
    int rc = init_locked(first_path, origin);
    reg_unlock();
    return rc;
}

int llmrt_registry_init(const char *config_plugin_path)
{
    return llmrt_registry_init_with_origin(config_plugin_path, "[runtime] plugin_path");
}

void llmrt_registry_reset(void)
{
    reg_lock();
    forget_dirs();
    for (size_t i = 0; i < R.n_builtins; i++) free(R.builtins[i].probe.message);
    free(R.builtins);
    R.builtins = NULL;
    R.n_builtins = 0;
    reg_unlock();
}

static int ensure_init(void)
{
    return R.initialised ? LLMRT_OK : init_locked(NULL, NULL);
}

const char *llmrt_registry_installed_dir(void) { return LLMRT_PLUGINDIR; }

size_t llmrt_registry_n_dirs(void)
{
    reg_lock();
    size_t n = ensure_init() ? 0 : R.n_dirs;
    reg_unlock();
    return n;
}

const char *llmrt_registry_dir(size_t i, const char **origin, int *exists)
{
    reg_lock();
    const char *p = NULL;
    if (!ensure_init() && i < R.n_dirs) {
        p = R.dirs[i]->path;
        if (origin) *origin = R.dirs[i]->origin;
        if (exists) *exists = R.dirs[i]->exists;
    }
    reg_unlock();
    return p;
}

/* --- files --------------------------------------------------------------- */

static int cmp_files(const void *a, const void *b)
{
    const reg_file *const *fa = a, *const *fb = b;
    return strcmp((*fa)->base, (*fb)->base);
}

/* List the directory's llmrt-*.so files (not opened yet). A directory that
 * cannot be read counts as empty: the not-found message says it is missing. */
static int scan_dir(reg_dir *d)
{
    if (d->scanned) return LLMRT_OK;
    d->scanned = 1;
    DIR *dir = d->exists ? opendir(d->path) : NULL;
    if (!dir) return LLMRT_OK;
    int rc = LLMRT_OK;
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "llmrt-", 6) || len < 9 || strcmp(e->d_name + len - 3, ".so"))
            continue;
        char *path = NULL;
        if (asprintf(&path, "%s/%s", d->path, e->d_name) < 0) {
            rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
            break;
        }
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        reg_file *f = calloc(1, sizeof *f);
        reg_file **grown = realloc(d->files, (d->n_files + 1) * sizeof *grown);
        const char *ip = intern(path);
        free(path);
        if (grown) d->files = grown;
        if (!f || !grown || !ip) {
            free(f);
            rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
            break;
        }
        f->path = ip;
        f->base = strrchr(ip, '/') + 1;
        if (llmrt_loader_parse_file_name(f->base, &f->kind, f->name, sizeof f->name)) {
            f->kind = 0;
            f->name[0] = '\0';
        }
        d->files[d->n_files++] = f;
    }
    closedir(dir);
    qsort(d->files, d->n_files, sizeof *d->files, cmp_files);
    llmrt_error_clear();
    return rc;
}

/* Open the file once; the outcome (and its message) is kept. */
static llmrt_load_status load_file(reg_file *f)
{
    if (f->tried) return f->status;
    f->tried = 1;
    f->status = llmrt_loader_open(f->path, &f->lp, &f->abi_major, &f->abi_minor);
    if (f->status != LLMRT_LOAD_OK) {
        f->message = strdup(llmrt_last_error());
        return f->status;
    }
    f->probes = calloc(f->lp.n_components, sizeof *f->probes);
    if (!f->probes) {
        /* Extremely unlikely; the file loaded but cannot be tracked. */
        f->status = LLMRT_LOAD_BAD_DESCRIPTOR;
        f->message = strdup("out of memory tracking its components");
        memset(&f->lp, 0, sizeof f->lp);
    }
    return f->status;
}

/* Re-record a kept message as the current error. */
static llmrt_load_status replay(llmrt_load_status st, const char *message)
{
    llmrt_error(llmrt_load_status_code(st), "%s", message ? message : "out of memory");
    return st;
}

static llmrt_load_status probe_cached(reg_probe *p, const llmrt_component *c, const char *file)
{
    if (!p->done) {
        p->done = 1;
        p->status = llmrt_loader_probe(c, file);
        if (p->status != LLMRT_LOAD_OK) p->message = strdup(llmrt_last_error());
    }
    if (p->status != LLMRT_LOAD_OK) return replay(p->status, p->message);
    return LLMRT_LOAD_OK;
}

/* Index of component `name` in a loaded file, or -1. */
static long component_index(const reg_file *f, const char *name)
{
    if (f->status != LLMRT_LOAD_OK) return -1;
    for (size_t i = 0; i < f->lp.n_components; i++)
        if (!strcmp(llmrt_loader_component(&f->lp, i)->name, name)) return (long)i;
    return -1;
}

static reg_builtin *find_builtin(llmrt_plugin_kind kind, const char *name)
{
    for (size_t i = 0; i < R.n_builtins; i++)
        if (R.builtins[i].comp->kind == kind && !strcmp(R.builtins[i].comp->name, name))
            return &R.builtins[i];
    return NULL;
}

int llmrt_registry_add_builtin(const llmrt_component *comp)
{
    reg_lock();
    int rc = LLMRT_OK;
    for (size_t i = 0; i < R.n_builtins; i++)
        if (R.builtins[i].comp == comp) goto out;
    if (llmrt_loader_check_component(comp, comp->kind, "built-in component") != LLMRT_LOAD_OK) {
        rc = LLMRT_ERR_FORMAT;
        goto out;
    }
    if (find_builtin(comp->kind, comp->name)) {
        rc = llmrt_error(LLMRT_ERR_INVALID, "built-in %s '%s' is registered twice",
                         llmrt_plugin_kind_name(comp->kind), comp->name);
        goto out;
    }
    reg_builtin *grown = realloc(R.builtins, (R.n_builtins + 1) * sizeof *grown);
    if (!grown) {
        rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        goto out;
    }
    R.builtins = grown;
    R.builtins[R.n_builtins++] = (reg_builtin){comp, {0, LLMRT_LOAD_OK, NULL}};
out:
    reg_unlock();
    return rc;
}

/* --- lookup -------------------------------------------------------------- */

/* A growing string for the not-found message. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = b->s ? vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 512;
        if (n >= 0 && cap < b->len + (size_t)n + 1) cap = b->len + (size_t)n + 1;
        char *s = realloc(b->s, cap);
        if (!s) return; /* the message is cut short; no worse */
        b->s = s;
        b->cap = cap;
    }
}

static llmrt_load_status not_found(llmrt_plugin_kind kind, const char *name)
{
    const char *kn = llmrt_plugin_kind_name(kind);
    strbuf b = {0};
    sb_printf(&b, "no %s called '%s' in the plugin search path; searched:", kn, name);
    for (size_t i = 0; i < R.n_dirs; i++)
        sb_printf(&b, "%s %s (%s%s)", i ? "," : "", R.dirs[i]->path, R.dirs[i]->origin,
                  R.dirs[i]->exists ? "" : ", missing");
    /* What there is instead, and what could not be looked at. */
    size_t n_avail = 0, n_failed = 0;
    for (size_t i = 0; i < R.n_builtins; i++)
        if (R.builtins[i].comp->kind == kind)
            sb_printf(&b, "%s%s", n_avail++ ? ", " : "; available: ", R.builtins[i].comp->name);
    for (size_t d = 0; d < R.n_dirs; d++)
        for (size_t j = 0; j < R.dirs[d]->n_files; j++) {
            reg_file *f = R.dirs[d]->files[j];
            if (f->kind != kind) continue;
            if (f->status != LLMRT_LOAD_OK) {
                n_failed++;
                continue;
            }
            for (size_t c = 0; c < f->lp.n_components; c++) {
                const char *cn = llmrt_loader_component(&f->lp, c)->name;
                int seen = find_builtin(kind, cn) != NULL;
                for (size_t d2 = 0; d2 <= d && !seen; d2++)
                    for (size_t j2 = 0; j2 < R.dirs[d2]->n_files && !seen; j2++) {
                        reg_file *g = R.dirs[d2]->files[j2];
                        if (d2 == d && j2 == j) break;
                        seen = g->kind == kind && component_index(g, cn) >= 0;
                    }
                if (!seen) sb_printf(&b, "%s%s", n_avail++ ? ", " : "; available: ", cn);
            }
        }
    if (n_failed)
        sb_printf(&b, "; %zu llmrt-%s-*.so file%s could not be loaded (`llmrt plugins` says why)",
                  n_failed, kn, n_failed == 1 ? "" : "s");
    sb_printf(&b, "; add a directory with [runtime] plugin_path or the LLMRT_PLUGIN_PATH "
                  "environment variable (colon lists)");
    llmrt_error(LLMRT_ERR_INVALID, "%s", b.s ? b.s : "no such plugin (out of memory)");
    free(b.s);
    return LLMRT_LOAD_NOT_FOUND;
}

static llmrt_load_status resolve_locked(llmrt_plugin_kind kind, const char *name,
                                        const llmrt_component **comp, const char **file)
{
    if (ensure_init()) return LLMRT_LOAD_NOT_FOUND;
    if (kind < LLMRT_KIND_COMPUTE || kind > LLMRT_KIND_FORMAT) {
        llmrt_error(LLMRT_ERR_INVALID, "unknown plugin kind %d", (int)kind);
        return LLMRT_LOAD_NOT_FOUND;
    }
    if (!name || !*name) {
        llmrt_error(LLMRT_ERR_INVALID, "no %s named (the name is empty)",
                    llmrt_plugin_kind_name(kind));
        return LLMRT_LOAD_NOT_FOUND;
    }

    reg_builtin *b = find_builtin(kind, name);
    if (b) {
        llmrt_load_status st = probe_cached(&b->probe, b->comp, NULL);
        if (st != LLMRT_LOAD_OK) return st;
        *comp = b->comp;
        if (file) *file = NULL;
        return LLMRT_LOAD_OK;
    }

    char exact_base[512];
    snprintf(exact_base, sizeof exact_base, "llmrt-%s-%s.so", llmrt_plugin_kind_name(kind), name);
    for (size_t d = 0; d < R.n_dirs; d++) {
        reg_dir *dir = R.dirs[d];
        if (scan_dir(dir)) return LLMRT_LOAD_NOT_FOUND;
        reg_file *exact = NULL, *hit = NULL;
        long hit_index = -1;
        for (size_t j = 0; j < dir->n_files; j++)
            if (!strcmp(dir->files[j]->base, exact_base)) exact = dir->files[j];
        if (exact) {
            llmrt_load_status st = load_file(exact);
            if (st != LLMRT_LOAD_OK) return replay(st, exact->message);
            if ((hit_index = component_index(exact, name)) >= 0) hit = exact;
        }
        for (size_t j = 0; j < dir->n_files; j++) {
            reg_file *f = dir->files[j];
            if (f == exact || f->kind != kind) continue;
            if (load_file(f) != LLMRT_LOAD_OK) continue; /* `llmrt plugins` tells */
            long i = component_index(f, name);
            if (i < 0) continue;
            if (hit) {
                llmrt_error(LLMRT_ERR_FORMAT,
                            "%s %s: duplicate: provided by both %s and %s (in one directory a "
                            "name may be provided once; remove one of them)",
                            llmrt_plugin_kind_name(kind), name, hit->path, f->path);
                return LLMRT_LOAD_DUPLICATE;
            }
            hit = f;
            hit_index = i;
        }
        if (hit) {
            const llmrt_component *c = llmrt_loader_component(&hit->lp, (size_t)hit_index);
            llmrt_load_status st = probe_cached(&hit->probes[hit_index], c, hit->path);
            if (st != LLMRT_LOAD_OK) return st;
            *comp = c;
            if (file) *file = hit->path;
            return LLMRT_LOAD_OK;
        }
    }
    return not_found(kind, name);
}

llmrt_load_status llmrt_registry_resolve(llmrt_plugin_kind kind, const char *name,
                                         const llmrt_component **comp, const char **file)
{
    const llmrt_component *c = NULL;
    const char *f = NULL;
    reg_lock();
    llmrt_load_status st = resolve_locked(kind, name, &c, &f);
    reg_unlock();
    if (st == LLMRT_LOAD_OK) {
        if (comp) *comp = c;
        if (file) *file = f;
    }
    return st;
}

int llmrt_registry_find(llmrt_plugin_kind kind, const char *name,
                        const llmrt_component **comp, const char **file)
{
    llmrt_load_status st = llmrt_registry_resolve(kind, name, comp, file);
    return st == LLMRT_LOAD_OK ? LLMRT_OK : llmrt_load_status_code(st);
}

/* --- listing ------------------------------------------------------------- */

/* The message without its leading "<path>: ". */
static const char *strip_path(const char *message, const char *path)
{
    size_t n = strlen(path);
    if (message && !strncmp(message, path, n) && !strncmp(message + n, ": ", 2))
        return message + n + 2;
    return message ? message : "out of memory";
}

/* The probe's message without "<kind> <name> (<file>): ". */
static const char *probe_reason(const char *message)
{
    const char *p = message ? strstr(message, "): unsupported here: ") : NULL;
    return p ? p + 3 : message ? message : "unsupported here";
}

/* The file of an earlier directory, or the same directory, that provides
 * (kind, name): *same says which. */
static reg_file *other_provider(size_t d, const reg_file *self, llmrt_plugin_kind kind,
                                const char *name, int *same)
{
    for (size_t d2 = 0; d2 <= d; d2++)
        for (size_t j = 0; j < R.dirs[d2]->n_files; j++) {
            reg_file *g = R.dirs[d2]->files[j];
            if (g == self || g->kind != kind || component_index(g, name) < 0) continue;
            *same = d2 == d;
            return g;
        }
    return NULL;
}

static int list_locked(llmrt_registry_entry **entries, size_t *count)
{
    int rc = ensure_init();
    if (rc) return rc;
    size_t cap = R.n_builtins;
    for (size_t d = 0; d < R.n_dirs; d++) {
        if ((rc = scan_dir(R.dirs[d]))) return rc;
        for (size_t j = 0; j < R.dirs[d]->n_files; j++) {
            reg_file *f = R.dirs[d]->files[j];
            cap += load_file(f) == LLMRT_LOAD_OK ? f->lp.n_components : 1;
        }
    }
    llmrt_registry_entry *e = calloc(cap ? cap : 1, sizeof *e);
    if (!e) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    size_t n = 0;

    for (size_t i = 0; i < R.n_builtins; i++) {
        reg_builtin *b = &R.builtins[i];
        llmrt_registry_entry *x = &e[n++];
        x->kind = b->comp->kind;
        x->name = b->comp->name;
        x->description = b->comp->description;
        x->plugin = "llmrt";
        x->version = NULL;
        x->abi_known = 1;
        x->abi_major = LLMRT_ABI_MAJOR;
        x->abi_minor = LLMRT_ABI_MINOR;
        x->origin = "built in";
        x->status = probe_cached(&b->probe, b->comp, NULL);
        x->reason = x->status ? probe_reason(b->probe.message) : NULL;
    }

    for (size_t d = 0; d < R.n_dirs; d++)
        for (size_t j = 0; j < R.dirs[d]->n_files; j++) {
            reg_file *f = R.dirs[d]->files[j];
            llmrt_registry_entry base = {
                .kind = f->kind,
                .plugin = f->name[0] ? f->name : NULL,
                .abi_known = f->abi_major != 0,
                .abi_major = f->abi_major,
                .abi_minor = f->abi_minor,
                .file = f->path,
                .origin = R.dirs[d]->origin,
                .status = f->status,
            };
            if (f->status != LLMRT_LOAD_OK) {
                base.reason = strip_path(f->message, f->path);
                e[n++] = base;
                continue;
            }
            base.plugin = f->lp.desc->name;
            base.version = f->lp.desc->version;
            for (size_t i = 0; i < f->lp.n_components; i++) {
                const llmrt_component *c = llmrt_loader_component(&f->lp, i);
                llmrt_registry_entry *x = &e[n++];
                *x = base;
                x->name = c->name;
                x->description = c->description;
                int same = 0;
                reg_file *g;
                if (find_builtin(f->kind, c->name)) {
                    x->status = LLMRT_LOAD_SHADOWED;
                    x->other = "(built in)";
                    x->reason = "shadowed by (built in)";
                } else if ((g = other_provider(d, f, f->kind, c->name, &same)) && !same) {
                    x->status = LLMRT_LOAD_SHADOWED;
                    x->other = g->path;
                    x->reason = scratch_printf("shadowed by %s", g->path);
                } else if (g) {
                    x->status = LLMRT_LOAD_DUPLICATE;
                    x->other = g->path;
                    x->reason = scratch_printf("duplicate: %s '%s' is also provided by %s "
                                               "(same directory)",
                                               llmrt_plugin_kind_name(f->kind), c->name,
                                               g->path);
                } else {
                    x->status = probe_cached(&f->probes[i], c, f->path);
                    x->reason = x->status ? probe_reason(f->probes[i].message) : NULL;
                }
                if (x->status != LLMRT_LOAD_OK && !x->reason) x->reason = "out of memory";
            }
        }
    llmrt_error_clear();
    *entries = e;
    *count = n;
    return LLMRT_OK;
}

int llmrt_registry_list(llmrt_registry_entry **entries, size_t *n)
{
    reg_lock();
    *entries = NULL;
    *n = 0;
    int rc = list_locked(entries, n);
    reg_unlock();
    return rc;
}

int llmrt_registry_add_core_builtins(void)
{
    return llmrt_registry_add_builtin(llmrt_format_fp32_component());
}
