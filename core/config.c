/* config.c — INI file + environment + --set overrides, with declared, typed
 * keys (see config.h).
 *
 * Storage. Values that were *given* (by a file or --set) are kept as
 * "entries", in the order they were given, each with its origin. Keys that
 * were *declared* (by whoever reads them) are kept as "decls", each with its
 * type, range, help and effective value. The environment is not scanned up
 * front: a declared key looks up LLMRT_<SECTION>_<KEY> when it is declared,
 * and llmrt_config_check_unknown() looks for stray LLMRT_<SECTION>_* variables
 * of sections that declared keys.
 *
 * Line numbers. Debian's inih is built without INI_HANDLER_LINENO, so the
 * handler is not told the line. We feed inih through ini_parse_stream() with
 * our own line reader, which counts lines; inih calls the handler for a line
 * before it reads the next one, so the count is the handler's line.
 *
 * Every public function takes the config's mutex: plugins read parameters
 * through the host API from any thread (llmrt/host.h rule 2). */
#define _GNU_SOURCE
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "error.h"
#include "fileio.h"

extern char **environ;

enum { LEVEL_DEFAULT = 0, LEVEL_FILE = 1, LEVEL_ENV = 2, LEVEL_SET = 3 };
enum { T_INT, T_DOUBLE, T_BOOL, T_STRING, T_CHOICE };
enum { VALUE_SHOWN_MAX = 80 }; /* characters of a bad value quoted in an error */

/* A value given by a file or by --set. */
typedef struct entry {
    const char *section, *key, *value;
    const char *origin; /* "demo.ini:7" or "--set" */
    int level;          /* LEVEL_FILE or LEVEL_SET */
    int source;         /* which load_file/load_string call (duplicate check) */
} entry;

/* A declared key. */
typedef struct decl {
    const char *section, *key, *help;
    int type;
    const char *def;           /* default as text; NULL = no default (strings) */
    long imin, imax;           /* T_INT */
    double dmin, dmax;         /* T_DOUBLE */
    const char **choices;      /* T_CHOICE, NULL-terminated, pool-owned */
    const char *value;         /* effective value as text (NULL: unset string) */
    const char *value_origin;  /* "default", "demo.ini:7", "--set", "environment X" */
} decl;

/* A [section] header seen in a file (sections may be empty). */
typedef struct seen_section {
    const char *name, *origin;
} seen_section;

struct llmrt_params {
    llmrt_config *config;
    const char *section;
};

/* Every string the config hands out lives until llmrt_config_free(). */
typedef struct pool_block {
    struct pool_block *next;
    char data[];
} pool_block;

struct llmrt_config {
    pthread_mutex_t mu;
    pool_block *pool;
    entry *entries;
    size_t n_entries, cap_entries;
    decl *decls;
    size_t n_decls, cap_decls;
    seen_section *sections;
    size_t n_sections, cap_sections;
    llmrt_params **scopes;
    size_t n_scopes, cap_scopes;
    int n_sources;
};

/* ------------------------------------------------------------------ helpers */

static void *pool_alloc(llmrt_config *c, size_t n)
{
    pool_block *b = malloc(sizeof *b + n);
    if (!b) return NULL;
    b->next = c->pool;
    c->pool = b;
    return b->data;
}

static const char *pool_strdup(llmrt_config *c, const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = pool_alloc(c, n);
    if (d) memcpy(d, s, n);
    return d;
}

static const char *pool_printf(llmrt_config *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *pool_printf(llmrt_config *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *d = pool_alloc(c, (size_t)n + 1);
    if (!d) return NULL;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need) ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p) return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int nomem(void) { return llmrt_error(LLMRT_ERR_NOMEM, "config: out of memory"); }

/* A value as it appears in a message: quoted, control characters escaped,
 * cut at VALUE_SHOWN_MAX characters so the message stays one short line. */
static void quote(char *buf, size_t cap, const char *v)
{
    size_t o = 0;
    if (cap < 8) { if (cap) buf[0] = '\0'; return; }
    buf[o++] = '"';
    for (size_t i = 0; v[i]; i++) {
        if (o + 8 >= cap || i >= VALUE_SHOWN_MAX) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char ch = (unsigned char)v[i];
        if (ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
        } else {
            buf[o++] = (char)ch;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

/* LLMRT_<SECTION>_<KEY>, upper case, anything not alphanumeric as '_'. */
static void env_name(char *buf, size_t cap, const char *section, const char *key)
{
    size_t o = (size_t)snprintf(buf, cap, "LLMRT_");
    for (const char *s = section; *s && o + 1 < cap; s++)
        buf[o++] = isalnum((unsigned char)*s) ? (char)toupper((unsigned char)*s) : '_';
    if (key) {
        if (o + 1 < cap) buf[o++] = '_';
        for (const char *s = key; *s && o + 1 < cap; s++)
            buf[o++] = isalnum((unsigned char)*s) ? (char)toupper((unsigned char)*s) : '_';
    } else if (o + 1 < cap) {
        buf[o++] = '_';
    }
    buf[o] = '\0';
}

/* Shortest "%.Ng" that reads back as the same double. */
static void fmt_double(char *buf, size_t cap, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* Levenshtein distance, ignoring case: for "did you mean" suggestions. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (tolower((unsigned char)a[i - 1]) !=
                                  tolower((unsigned char)b[j - 1]));
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* A growable one-line message buffer. */
typedef struct strbuf {
    char buf[1536];
    size_t len;
} strbuf;

static void sb_add(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(strbuf *b, const char *fmt, ...)
{
    if (b->len >= sizeof b->buf - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->len, sizeof b->buf - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    b->len += (size_t)n;
    if (b->len >= sizeof b->buf) {
        b->len = sizeof b->buf - 1;
        memcpy(b->buf + b->len - 3, "...", 3);
    }
}

/* ------------------------------------------------------------------ lookups */

static decl *find_decl(const llmrt_config *c, const char *section, const char *key)
{
    for (size_t i = 0; i < c->n_decls; i++)
        if (!strcmp(c->decls[i].section, section) && !strcmp(c->decls[i].key, key))
            return &c->decls[i];
    return NULL;
}

static int section_declared(const llmrt_config *c, const char *section)
{
    for (size_t i = 0; i < c->n_decls; i++)
        if (!strcmp(c->decls[i].section, section)) return 1;
    return 0;
}

/* The highest-priority entry given for section.key at `level`, or NULL. */
static const entry *find_entry(const llmrt_config *c, const char *section, const char *key,
                               int level)
{
    const entry *found = NULL;
    for (size_t i = 0; i < c->n_entries; i++) {
        const entry *e = &c->entries[i];
        if (e->level == level && !strcmp(e->section, section) && !strcmp(e->key, key))
            found = e; /* later wins: a later file or a later --set */
    }
    return found;
}

/* ------------------------------------------------------------------ create */

int llmrt_config_new(llmrt_config **out)
{
    *out = NULL;
    llmrt_config *c = calloc(1, sizeof *c);
    if (!c) return nomem();
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return LLMRT_OK;
}

void llmrt_config_free(llmrt_config *c)
{
    if (!c) return;
    pool_block *b = c->pool;
    while (b) {
        pool_block *next = b->next;
        free(b);
        b = next;
    }
    for (size_t i = 0; i < c->n_scopes; i++) free(c->scopes[i]);
    free(c->scopes);
    free(c->entries);
    free(c->decls);
    free(c->sections);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int add_entry(llmrt_config *c, const char *section, const char *key, const char *value,
                     const char *origin, int level, int source)
{
    if (grow((void **)&c->entries, &c->cap_entries, c->n_entries + 1, sizeof(entry)))
        return nomem();
    entry *e = &c->entries[c->n_entries];
    e->section = pool_strdup(c, section);
    e->key = pool_strdup(c, key);
    e->value = pool_strdup(c, value);
    e->origin = origin;
    e->level = level;
    e->source = source;
    if (!e->section || !e->key || !e->value) return nomem();
    c->n_entries++;
    return LLMRT_OK;
}

/* ------------------------------------------------------------------ INI parsing */

typedef struct ini_src {
    llmrt_config *c;
    const char *name;  /* file name or origin, for messages */
    FILE *f;           /* a file, or ... */
    const char *s;     /* ... a string */
    int line;          /* lines read so far = the line being handled */
    int indented;      /* the current line starts with blank space */
    int too_long;      /* the reader stopped at an over-long line */
    int max_line;      /* the longest line inih takes */
    int source;        /* this parse's id */
    int failed;        /* the handler recorded an error */
    int status;
    const char *last_section, *last_key; /* previous handler call */
} ini_src;

static void note_section_header(ini_src *r, const char *line)
{
    if (r->line == 1 && !strncmp(line, "\xef\xbb\xbf", 3)) line += 3; /* BOM */
    while (*line == ' ' || *line == '\t') line++;
    if (*line != '[') return;
    const char *end = strchr(line, ']');
    if (!end) return;
    const char *a = line + 1;
    while (a < end && isspace((unsigned char)*a)) a++;
    const char *b = end;
    while (b > a && isspace((unsigned char)b[-1])) b--;
    llmrt_config *c = r->c;
    if (grow((void **)&c->sections, &c->cap_sections, c->n_sections + 1, sizeof(seen_section)))
        return;
    char name[256];
    size_t n = (size_t)(b - a) < sizeof name - 1 ? (size_t)(b - a) : sizeof name - 1;
    memcpy(name, a, n);
    name[n] = '\0';
    seen_section *s = &c->sections[c->n_sections];
    s->name = pool_strdup(c, name);
    s->origin = pool_printf(c, "%s:%d", r->name, r->line);
    if (s->name && s->origin) c->n_sections++;
}

static int src_getc(ini_src *r)
{
    if (r->f) return fgetc(r->f);
    if (!*r->s) return EOF;
    return (unsigned char)*r->s++;
}

static int src_peek(ini_src *r)
{
    if (r->f) {
        int ch = fgetc(r->f);
        if (ch != EOF) ungetc(ch, r->f);
        return ch;
    }
    return *r->s ? (unsigned char)*r->s : EOF;
}

/* fgets() for inih, counting lines. A line that does not fit inih's buffer
 * stops the parse (inih would silently split it). */
static char *ini_reader_fn(char *str, int num, void *stream)
{
    ini_src *r = stream;
    if (r->too_long || num < 3) return NULL;
    r->max_line = num - 1;
    size_t n = 0, max = (size_t)num - 1;
    int ch = EOF;
    while (n < max && (ch = src_getc(r)) != EOF) {
        str[n++] = (char)ch;
        if (ch == '\n') break;
    }
    if (n == 0) return NULL;
    str[n] = '\0';
    r->line++;
    if (n == max && ch != '\n') {
        /* Full buffer: fine only if the line ends right here. */
        int next = src_peek(r);
        if (next == '\r') {
            src_getc(r);
            next = src_peek(r);
        }
        if (next == '\n') src_getc(r);
        else if (next != EOF) {
            r->too_long = 1;
            return NULL;
        }
    }
    r->indented = str[0] == ' ' || str[0] == '\t';
    note_section_header(r, str);
    return str;
}

static int ini_handler_fn(void *user, const char *section, const char *name, const char *value)
{
    ini_src *r = user;
    llmrt_config *c = r->c;
    if (r->failed) return 1; /* keep the first error only */
    char q[VALUE_SHOWN_MAX + 16];
    if (r->indented && r->last_key && !strcmp(r->last_section, section) &&
        !strcmp(r->last_key, name)) {
        quote(q, sizeof q, value);
        r->status = llmrt_error(LLMRT_ERR_INVALID,
                                "%s:%d: indented line %s reads as a continuation of %s.%s; "
                                "remove the indentation (continuation lines are not supported)",
                                r->name, r->line, q, section, name);
        r->failed = 1;
        return 0;
    }
    if (!section[0]) {
        r->status = llmrt_error(LLMRT_ERR_INVALID,
                                "%s:%d: key %s is outside any [section] (put it under one, "
                                "e.g. [train])",
                                r->name, r->line, name);
        r->failed = 1;
        return 0;
    }
    for (size_t i = 0; i < c->n_entries; i++) {
        const entry *e = &c->entries[i];
        if (e->level == LEVEL_FILE && e->source == r->source && !strcmp(e->section, section) &&
            !strcmp(e->key, name)) {
            r->status = llmrt_error(LLMRT_ERR_INVALID,
                                    "%s:%d: key %s.%s is given twice (first at %s); "
                                    "keep one",
                                    r->name, r->line, section, name, e->origin);
            r->failed = 1;
            return 0;
        }
    }
    const char *origin = pool_printf(c, "%s:%d", r->name, r->line);
    const char *ls = pool_strdup(c, section), *lk = pool_strdup(c, name);
    if (!origin || !ls || !lk) {
        r->status = nomem();
        r->failed = 1;
        return 0;
    }
    r->last_section = ls;
    r->last_key = lk;
    int st = add_entry(c, section, name, value, origin, LEVEL_FILE, r->source);
    if (st) {
        r->status = st;
        r->failed = 1;
        return 0;
    }
    return 1;
}

/* The text of line `lineno` of the source, for a syntax error message. */
static void source_line(ini_src *r, const char *text, int lineno, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (r->f) {
        rewind(r->f);
        char line[1024];
        for (int i = 1; fgets(line, sizeof line, r->f); i++) {
            if (i == lineno) {
                line[strcspn(line, "\r\n")] = '\0';
                quote(buf, cap, line);
                return;
            }
        }
    } else {
        const char *p = text;
        for (int i = 1; i < lineno && p; i++) {
            p = strchr(p, '\n');
            if (p) p++;
        }
        if (!p) return;
        char line[1024];
        size_t n = strcspn(p, "\r\n");
        if (n >= sizeof line) n = sizeof line - 1;
        memcpy(line, p, n);
        line[n] = '\0';
        quote(buf, cap, line);
    }
}

static int parse_ini(llmrt_config *c, ini_src *r, const char *text)
{
    r->c = c;
    r->source = ++c->n_sources;
    int ret = ini_parse_stream(ini_reader_fn, r, ini_handler_fn, r);
    if (r->failed) return r->status;
    if (r->too_long)
        return llmrt_error(LLMRT_ERR_INVALID, "%s:%d: line is longer than %d characters (the INI "
                           "parser's limit)",
                           r->name, r->line, r->max_line);
    if (ret == -2) return nomem();
    if (ret != 0) {
        char q[VALUE_SHOWN_MAX + 16];
        source_line(r, text, ret, q, sizeof q);
        return llmrt_error(LLMRT_ERR_INVALID,
                           "%s:%d: syntax error in %s (accepted: [section], key = value, "
                           "or a comment starting with ; or #)",
                           r->name, ret, q[0] ? q : "this line");
    }
    return LLMRT_OK;
}

int llmrt_config_load_file(llmrt_config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return llmrt_error(LLMRT_ERR_IO, "%s: cannot open the config file: %s", path,
                           strerror(errno));
    pthread_mutex_lock(&c->mu);
    ini_src r = {.name = path, .f = f};
    const char *name = pool_strdup(c, path);
    int st = name ? (r.name = name, parse_ini(c, &r, NULL)) : nomem();
    pthread_mutex_unlock(&c->mu);
    fclose(f);
    return st;
}

int llmrt_config_load_string(llmrt_config *c, const char *text, const char *origin)
{
    pthread_mutex_lock(&c->mu);
    ini_src r = {.s = text};
    const char *name = pool_strdup(c, origin ? origin : "<string>");
    int st = name ? (r.name = name, parse_ini(c, &r, text)) : nomem();
    pthread_mutex_unlock(&c->mu);
    return st;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

int llmrt_config_set(llmrt_config *c, const char *assignment)
{
    char q[VALUE_SHOWN_MAX + 16];
    quote(q, sizeof q, assignment);
    char *copy = strdup(assignment);
    if (!copy) return nomem();
    char *eq = strchr(copy, '=');
    char *dot = strchr(copy, '.');
    int st = LLMRT_OK;
    if (!eq || !dot || dot > eq) {
        st = llmrt_error(LLMRT_ERR_INVALID,
                         "--set %s: expected section.key=value (e.g. --set train.lr=3e-4)", q);
        goto out;
    }
    *eq = '\0';
    *dot = '\0';
    char *section = trim(copy), *key = trim(dot + 1), *value = trim(eq + 1);
    if (!section[0] || !key[0]) {
        st = llmrt_error(LLMRT_ERR_INVALID,
                         "--set %s: empty %s (expected section.key=value, e.g. "
                         "--set train.lr=3e-4)",
                         q, section[0] ? "key" : "section");
        goto out;
    }
    pthread_mutex_lock(&c->mu);
    st = add_entry(c, section, key, value, "--set", LEVEL_SET, 0);
    pthread_mutex_unlock(&c->mu);
out:
    free(copy);
    return st;
}

/* ------------------------------------------------------------------ value parsing */

/* What a declared key accepts, for messages and help. */
static void describe(const decl *d, char *buf, size_t cap)
{
    char a[64], b[64];
    switch (d->type) {
    case T_INT:
        if (d->imin == LONG_MIN && d->imax == LONG_MAX)
            snprintf(buf, cap, "an integer");
        else if (d->imax == LONG_MAX)
            snprintf(buf, cap, "an integer >= %ld", d->imin);
        else if (d->imin == LONG_MIN)
            snprintf(buf, cap, "an integer <= %ld", d->imax);
        else
            snprintf(buf, cap, "an integer from %ld to %ld", d->imin, d->imax);
        break;
    case T_DOUBLE:
        fmt_double(a, sizeof a, d->dmin);
        fmt_double(b, sizeof b, d->dmax);
        if (isinf(d->dmin) && isinf(d->dmax))
            snprintf(buf, cap, "a number");
        else if (isinf(d->dmax))
            snprintf(buf, cap, "a number >= %s", a);
        else if (isinf(d->dmin))
            snprintf(buf, cap, "a number <= %s", b);
        else
            snprintf(buf, cap, "a number from %s to %s", a, b);
        break;
    case T_BOOL: snprintf(buf, cap, "true, false, 1, 0, yes, no, on, off"); break;
    case T_STRING: snprintf(buf, cap, "a string"); break;
    case T_CHOICE: {
        size_t o = 0;
        buf[0] = '\0';
        for (size_t i = 0; d->choices[i] && o < cap; i++)
            o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", d->choices[i]);
        break;
    }
    default: snprintf(buf, cap, "?");
    }
}

static int bad_value(const decl *d, const char *origin, const char *value, const char *problem)
{
    char q[VALUE_SHOWN_MAX + 16], acc[512];
    quote(q, sizeof q, value);
    describe(d, acc, sizeof acc);
    if (!strcmp(origin, "default"))
        return llmrt_error(LLMRT_ERR_INTERNAL,
                           "the default of %s.%s = %s %s (accepted: %s): a bug in its "
                           "declaration",
                           d->section, d->key, q, problem, acc);
    return llmrt_error(LLMRT_ERR_INVALID, "%s: %s.%s = %s %s (accepted: %s)", origin,
                       d->section, d->key, q, problem, acc);
}

static int parse_long(const decl *d, const char *origin, const char *v, long *out)
{
    if (!v[0]) return bad_value(d, origin, v, "is empty");
    errno = 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || isspace((unsigned char)v[0])) return bad_value(d, origin, v, "is not an integer");
    if (*end) {
        char msg[VALUE_SHOWN_MAX + 64], q[VALUE_SHOWN_MAX + 16];
        quote(q, sizeof q, end);
        snprintf(msg, sizeof msg, "is not an integer (unexpected %s after the digits)", q);
        return bad_value(d, origin, v, msg);
    }
    if (errno == ERANGE || x < d->imin || x > d->imax)
        return bad_value(d, origin, v, "is out of range");
    *out = x;
    return LLMRT_OK;
}

static int parse_double(const decl *d, const char *origin, const char *v, double *out)
{
    if (!v[0]) return bad_value(d, origin, v, "is empty");
    errno = 0;
    char *end;
    double x = strtod(v, &end);
    if (end == v || isspace((unsigned char)v[0])) return bad_value(d, origin, v, "is not a number");
    if (*end) {
        char msg[VALUE_SHOWN_MAX + 64], q[VALUE_SHOWN_MAX + 16];
        quote(q, sizeof q, end);
        snprintf(msg, sizeof msg, "is not a number (unexpected %s after it)", q);
        return bad_value(d, origin, v, msg);
    }
    if (errno == ERANGE) {
        if (fabs(x) > 1.0) return bad_value(d, origin, v, "is too large for a double");
        return bad_value(d, origin, v, "is too small for a double (underflows)");
    }
    if (isnan(x) || isinf(x)) return bad_value(d, origin, v, "is not a finite number");
    if (x < d->dmin || x > d->dmax) return bad_value(d, origin, v, "is out of range");
    *out = x;
    return LLMRT_OK;
}

static int parse_bool(const decl *d, const char *origin, const char *v, int *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    if (!v[0]) return bad_value(d, origin, v, "is empty");
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i])) { *out = 1; return LLMRT_OK; }
        if (!strcasecmp(v, no[i])) { *out = 0; return LLMRT_OK; }
    }
    return bad_value(d, origin, v, "is not a boolean");
}

static int parse_choice(const decl *d, const char *origin, const char *v, const char **out)
{
    if (!v[0]) return bad_value(d, origin, v, "is empty");
    for (size_t i = 0; d->choices[i]; i++)
        if (!strcmp(v, d->choices[i])) {
            *out = d->choices[i];
            return LLMRT_OK;
        }
    return bad_value(d, origin, v, "is not one of the choices");
}

/* ------------------------------------------------------------------ declare */

/* Declare (or re-declare) section.key and resolve its effective value. */
static int declare(llmrt_config *c, const decl *proto, decl **out)
{
    if (!proto->section || !proto->key || !proto->section[0] || !proto->key[0])
        return llmrt_error(LLMRT_ERR_INTERNAL, "config: a key was declared with no %s",
                           proto->section && proto->section[0] ? "name" : "section");
    decl *d = find_decl(c, proto->section, proto->key);
    if (!d) {
        if (grow((void **)&c->decls, &c->cap_decls, c->n_decls + 1, sizeof(decl)))
            return nomem();
        d = &c->decls[c->n_decls];
        memset(d, 0, sizeof *d);
        d->section = pool_strdup(c, proto->section);
        d->key = pool_strdup(c, proto->key);
        if (!d->section || !d->key) return nomem();
        c->n_decls++;
    }
    d->type = proto->type;
    d->help = pool_strdup(c, proto->help ? proto->help : "");
    d->def = pool_strdup(c, proto->def);
    d->imin = proto->imin;
    d->imax = proto->imax;
    d->dmin = proto->dmin;
    d->dmax = proto->dmax;
    d->choices = NULL;
    if (proto->choices) {
        size_t n = 0;
        while (proto->choices[n]) n++;
        d->choices = pool_alloc(c, (n + 1) * sizeof *d->choices);
        if (!d->choices) return nomem();
        for (size_t i = 0; i < n; i++)
            if (!(d->choices[i] = pool_strdup(c, proto->choices[i]))) return nomem();
        d->choices[n] = NULL;
    }
    if ((proto->help && !d->help) || (proto->def && !d->def)) return nomem();

    /* default < file < environment < --set */
    d->value = d->def;
    d->value_origin = "default";
    const entry *e = find_entry(c, d->section, d->key, LEVEL_FILE);
    if (e) {
        d->value = e->value;
        d->value_origin = e->origin;
    }
    char env[256];
    env_name(env, sizeof env, d->section, d->key);
    const char *ev = getenv(env);
    if (ev) {
        const char *origin = pool_printf(c, "environment %s", env);
        const char *val = pool_strdup(c, ev);
        if (!origin || !val) return nomem();
        d->value = val;
        d->value_origin = origin;
    }
    e = find_entry(c, d->section, d->key, LEVEL_SET);
    if (e) {
        d->value = e->value;
        d->value_origin = e->origin;
    }
    *out = d;
    return LLMRT_OK;
}

int llmrt_config_int(llmrt_config *c, const char *section, const char *key, long def,
                     long min, long max, const char *help, long *out)
{
    char defs[32];
    snprintf(defs, sizeof defs, "%ld", def);
    decl p = {.section = section, .key = key, .help = help, .type = T_INT, .def = defs,
              .imin = min, .imax = max};
    pthread_mutex_lock(&c->mu);
    decl *d;
    int st = declare(c, &p, &d);
    if (!st && min > max)
        st = llmrt_error(LLMRT_ERR_INTERNAL, "config: %s.%s declared with min %ld > max %ld",
                         section, key, min, max);
    long v = 0;
    if (!st) st = parse_long(d, d->value_origin, d->value, &v);
    pthread_mutex_unlock(&c->mu);
    if (!st) *out = v;
    return st;
}

int llmrt_config_double(llmrt_config *c, const char *section, const char *key, double def,
                        double min, double max, const char *help, double *out)
{
    char defs[64];
    fmt_double(defs, sizeof defs, def);
    decl p = {.section = section, .key = key, .help = help, .type = T_DOUBLE, .def = defs,
              .dmin = min, .dmax = max};
    pthread_mutex_lock(&c->mu);
    decl *d;
    int st = declare(c, &p, &d);
    if (!st && !(min <= max))
        st = llmrt_error(LLMRT_ERR_INTERNAL, "config: %s.%s declared with min %g > max %g",
                         section, key, min, max);
    double v = 0;
    if (!st) st = parse_double(d, d->value_origin, d->value, &v);
    pthread_mutex_unlock(&c->mu);
    if (!st) *out = v;
    return st;
}

int llmrt_config_bool(llmrt_config *c, const char *section, const char *key, int def,
                      const char *help, int *out)
{
    decl p = {.section = section, .key = key, .help = help, .type = T_BOOL,
              .def = def ? "true" : "false"};
    pthread_mutex_lock(&c->mu);
    decl *d;
    int st = declare(c, &p, &d);
    int v = 0;
    if (!st) st = parse_bool(d, d->value_origin, d->value, &v);
    pthread_mutex_unlock(&c->mu);
    if (!st) *out = v;
    return st;
}

int llmrt_config_string(llmrt_config *c, const char *section, const char *key,
                        const char *def, const char *help, const char **out)
{
    decl p = {.section = section, .key = key, .help = help, .type = T_STRING, .def = def};
    pthread_mutex_lock(&c->mu);
    decl *d;
    int st = declare(c, &p, &d);
    if (!st) *out = d->value;
    pthread_mutex_unlock(&c->mu);
    return st;
}

int llmrt_config_choice(llmrt_config *c, const char *section, const char *key,
                        const char *def, const char *const *choices, const char *help,
                        const char **out)
{
    if (!choices || !choices[0])
        return llmrt_error(LLMRT_ERR_INTERNAL, "config: %s.%s declared with no choices",
                           section, key);
    decl p = {.section = section, .key = key, .help = help, .type = T_CHOICE, .def = def,
              .choices = (const char **)choices};
    pthread_mutex_lock(&c->mu);
    decl *d;
    int st = declare(c, &p, &d);
    if (!st && !d->value)
        st = llmrt_error(LLMRT_ERR_INTERNAL, "config: %s.%s declared with no default",
                         section, key);
    const char *v = NULL;
    if (!st) st = parse_choice(d, d->value_origin, d->value, &v);
    pthread_mutex_unlock(&c->mu);
    if (!st) *out = v;
    return st;
}

/* ------------------------------------------------------------------ unknown keys */

/* ", "-separated list of the keys declared in `section`, with a suggestion. */
static void accepted_keys(const llmrt_config *c, const char *section, const char *bad,
                          strbuf *b)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < c->n_decls; i++) {
        if (strcmp(c->decls[i].section, section)) continue;
        size_t dist = edit_distance(bad, c->decls[i].key);
        if (dist < best_d) {
            best_d = dist;
            best = c->decls[i].key;
        }
    }
    size_t lim = strlen(bad) / 2 > 2 ? 2 : (strlen(bad) > 1 ? strlen(bad) / 2 : 1);
    if (best && best_d <= lim) sb_add(b, "; did you mean %s? ", best);
    else sb_add(b, " ");
    sb_add(b, "(accepted: ");
    int first = 1;
    for (size_t i = 0; i < c->n_decls; i++) {
        if (strcmp(c->decls[i].section, section)) continue;
        sb_add(b, "%s%s", first ? "" : ", ", c->decls[i].key);
        first = 0;
    }
    sb_add(b, ")");
}

static void known_sections(const llmrt_config *c, const char *bad, strbuf *b)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < c->n_decls; i++) {
        size_t dist = edit_distance(bad, c->decls[i].section);
        if (dist < best_d) {
            best_d = dist;
            best = c->decls[i].section;
        }
    }
    if (best && best_d <= 2 && best_d < strlen(bad)) sb_add(b, "; did you mean [%s]? ", best);
    else sb_add(b, " ");
    sb_add(b, "(known sections: ");
    int first = 1;
    for (size_t i = 0; i < c->n_decls; i++) {
        size_t j;
        for (j = 0; j < i; j++)
            if (!strcmp(c->decls[j].section, c->decls[i].section)) break;
        if (j < i) continue;
        sb_add(b, "%s%s", first ? "" : ", ", c->decls[i].section);
        first = 0;
    }
    if (first) sb_add(b, "none");
    sb_add(b, ")");
}

static int unknown_key_error(const llmrt_config *c, const char *origin, const char *section,
                             const char *key)
{
    strbuf b = {.len = 0};
    b.buf[0] = '\0';
    if (section_declared(c, section)) {
        sb_add(&b, "%s: unknown key %s.%s", origin, section, key);
        accepted_keys(c, section, key, &b);
    } else {
        sb_add(&b, "%s: %s.%s: section [%s] is not read by any component of this run",
               origin, section, key, section);
        known_sections(c, section, &b);
    }
    return llmrt_error(LLMRT_ERR_INVALID, "%s", b.buf);
}

int llmrt_config_check_unknown(const llmrt_config *c, const char *section)
{
    llmrt_config *mc = (llmrt_config *)c; /* the mutex only */
    int st = LLMRT_OK;
    pthread_mutex_lock(&mc->mu);
    /* Files first (in line order), then --set: the first error a user would
     * meet reading top to bottom. */
    static const int levels[] = {LEVEL_FILE, LEVEL_SET};
    for (size_t l = 0; l < 2 && !st; l++) {
        for (size_t i = 0; i < c->n_entries && !st; i++) {
            const entry *e = &c->entries[i];
            if (e->level != levels[l]) continue;
            if (section && strcmp(e->section, section)) continue;
            if (!find_decl(c, e->section, e->key))
                st = unknown_key_error(c, e->origin, e->section, e->key);
        }
    }
    /* The environment: LLMRT_<SECTION>_* of a section that declared keys,
     * where the rest names no declared key of any section. */
    for (char **ep = environ; ep && *ep && !st; ep++) {
        const char *var = *ep;
        if (strncmp(var, "LLMRT_", 6)) continue;
        const char *eq = strchr(var, '=');
        if (!eq) continue;
        char name[256];
        size_t nl = (size_t)(eq - var);
        if (nl >= sizeof name) continue;
        memcpy(name, var, nl);
        name[nl] = '\0';
        int claimed = 0;
        for (size_t i = 0; i < c->n_decls && !claimed; i++) {
            char en[256];
            env_name(en, sizeof en, c->decls[i].section, c->decls[i].key);
            claimed = !strcmp(en, name);
        }
        if (claimed) continue;
        for (size_t i = 0; i < c->n_decls; i++) {
            const char *sec = c->decls[i].section;
            if (section && strcmp(sec, section)) continue;
            char prefix[256];
            env_name(prefix, sizeof prefix, sec, NULL);
            size_t pl = strlen(prefix);
            if (strncmp(name, prefix, pl) || !name[pl]) continue;
            char key[256], origin[300];
            size_t k;
            for (k = 0; name[pl + k] && k < sizeof key - 1; k++)
                key[k] = (char)tolower((unsigned char)name[pl + k]);
            key[k] = '\0';
            snprintf(origin, sizeof origin, "environment %s", name);
            st = unknown_key_error(c, origin, sec, key);
            break;
        }
    }
    pthread_mutex_unlock(&mc->mu);
    return st;
}

int llmrt_config_has_section(const llmrt_config *c, const char *section)
{
    llmrt_config *mc = (llmrt_config *)c;
    int found = 0;
    pthread_mutex_lock(&mc->mu);
    for (size_t i = 0; i < c->n_entries && !found; i++)
        found = !strcmp(c->entries[i].section, section);
    for (size_t i = 0; i < c->n_sections && !found; i++)
        found = !strcmp(c->sections[i].name, section);
    pthread_mutex_unlock(&mc->mu);
    if (!found) {
        char prefix[256];
        env_name(prefix, sizeof prefix, section, NULL);
        size_t pl = strlen(prefix);
        for (char **ep = environ; ep && *ep && !found; ep++)
            found = !strncmp(*ep, prefix, pl);
    }
    return found;
}

/* ------------------------------------------------------------------ scopes */

llmrt_params *llmrt_config_params(llmrt_config *c, const char *section)
{
    llmrt_params *p = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_scopes; i++)
        if (!strcmp(c->scopes[i]->section, section)) {
            p = c->scopes[i];
            goto out;
        }
    if (grow((void **)&c->scopes, &c->cap_scopes, c->n_scopes + 1, sizeof *c->scopes)) {
        nomem();
        goto out;
    }
    p = malloc(sizeof *p);
    if (!p || !(p->section = pool_strdup(c, section))) {
        free(p);
        p = NULL;
        nomem();
        goto out;
    }
    p->config = c;
    c->scopes[c->n_scopes++] = p;
out:
    pthread_mutex_unlock(&c->mu);
    return p;
}

llmrt_config *llmrt_params_config(llmrt_params *p) { return p->config; }

const char *llmrt_params_section(llmrt_params *p) { return p->section; }

/* ------------------------------------------------------------------ output */

/* Sections in the order they were first declared. */
static size_t section_order(const llmrt_config *c, const char **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_decls; i++) {
        size_t j;
        for (j = 0; j < n; j++)
            if (!strcmp(out[j], c->decls[i].section)) break;
        if (j == n && n < cap) out[n++] = c->decls[i].section;
    }
    return n;
}

static const char *type_name(int t)
{
    switch (t) {
    case T_INT: return "integer";
    case T_DOUBLE: return "number";
    case T_BOOL: return "boolean";
    case T_CHOICE: return "choice";
    default: return "string";
    }
}

int llmrt_config_write(const llmrt_config *c, const char *path)
{
    llmrt_config *mc = (llmrt_config *)c;
    llmrt_atomic_file af;
    int st = llmrt_atomic_open(&af, path);
    if (st) return st;
    FILE *f = af.f;
    pthread_mutex_lock(&mc->mu);
    fprintf(f, "# llmrt: the effective configuration of this run (every declared key).\n");
    const char **secs = malloc((c->n_decls + 1) * sizeof *secs);
    size_t ns = secs ? section_order(c, secs, c->n_decls) : 0;
    for (size_t s = 0; s < ns; s++) {
        fprintf(f, "\n[%s]\n", secs[s]);
        for (size_t i = 0; i < c->n_decls; i++) {
            const decl *d = &c->decls[i];
            if (strcmp(d->section, secs[s])) continue;
            if (d->help && d->help[0]) fprintf(f, "; %s\n", d->help);
            if (!d->value) fprintf(f, "; %s = (unset)\n", d->key);
            else fprintf(f, "%s = %s\n", d->key, d->value);
        }
    }
    pthread_mutex_unlock(&mc->mu);
    if (!secs) {
        llmrt_atomic_abort(&af);
        return nomem();
    }
    free(secs);
    return llmrt_atomic_commit(&af);
}

void llmrt_config_print_help(const llmrt_config *c, const char *section, void *FILE_stream)
{
    llmrt_config *mc = (llmrt_config *)c;
    FILE *f = FILE_stream ? FILE_stream : stdout;
    pthread_mutex_lock(&mc->mu);
    const char **secs = malloc((c->n_decls + 1) * sizeof *secs);
    size_t ns = secs ? section_order(c, secs, c->n_decls) : 0;
    for (size_t s = 0; s < ns; s++) {
        if (section && strcmp(section, secs[s])) continue;
        char env[256];
        env_name(env, sizeof env, secs[s], NULL);
        fprintf(f, "[%s]    (environment: %s<KEY>, command line: --set %s.<key>=<value>)\n",
                secs[s], env, secs[s]);
        for (size_t i = 0; i < c->n_decls; i++) {
            const decl *d = &c->decls[i];
            if (strcmp(d->section, secs[s])) continue;
            char acc[512];
            describe(d, acc, sizeof acc);
            fprintf(f, "  %-20s %s", d->key, type_name(d->type));
            if (d->type != T_STRING) fprintf(f, ": %s", acc);
            fprintf(f, "; default %s", d->def ? (d->def[0] ? d->def : "\"\"") : "(unset)");
            if (d->value && (!d->def || strcmp(d->value, d->def)))
                fprintf(f, "; set to %s by %s", d->value, d->value_origin);
            fprintf(f, "\n");
            if (d->help && d->help[0]) fprintf(f, "  %-20s %s\n", "", d->help);
        }
        fprintf(f, "\n");
    }
    pthread_mutex_unlock(&mc->mu);
    free(secs);
}
