/* scaling_table.c — the sweep's results table in CSV or JSON lines (see
 * scaling_table.h). */
#include "scaling_table.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"

static const char *const columns[] = {"run", "layers", "dim", "heads", "params", "budget",
                                      "steps", "tokens", "flops", "val_loss"};
#define N_COLUMNS (sizeof columns / sizeof columns[0])

static int is_jsonl(const char *path)
{
    size_t n = strlen(path);
    return n >= 6 && !strcmp(path + n - 6, ".jsonl");
}

/* Append to a growing string; returns -1 when out of memory. */
static int append(char **buf, size_t *len, size_t *cap, const char *text)
{
    size_t n = strlen(text);
    if (*len + n + 1 > *cap) {
        size_t c = (*cap ? *cap * 2 : 4096) + n;
        char *b = realloc(*buf, c);
        if (!b) return -1;
        *buf = b, *cap = c;
    }
    memcpy(*buf + *len, text, n + 1);
    *len += n;
    return 0;
}

int llmrt_scaling_table_write(const char *path, const llmrt_scaling_row *rows, size_t n)
{
    char *buf = NULL, line[1024];
    size_t len = 0, cap = 0;
    int bad = 0, jsonl = is_jsonl(path);
    if (!jsonl) {
        line[0] = '\0';
        for (size_t c = 0; c < N_COLUMNS; c++)
            snprintf(line + strlen(line), sizeof line - strlen(line), "%s%s", c ? "," : "",
                     columns[c]);
        strcat(line, "\n");
        bad |= append(&buf, &len, &cap, line);
    }
    for (size_t i = 0; i < n && !bad; i++) {
        const llmrt_scaling_row *r = &rows[i];
        if (jsonl) {
            json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:I, s:f, s:f, s:f}", "run",
                                  r->run, "layers", r->layers, "dim", r->dim, "heads", r->heads,
                                  "params", r->params, "budget", r->budget, "steps",
                                  (json_int_t)r->steps, "tokens", r->tokens, "flops", r->flops,
                                  "val_loss", r->val_loss);
            char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                               JSON_REAL_PRECISION(10)) : NULL;
            json_decref(o);
            bad |= !text || append(&buf, &len, &cap, text) || append(&buf, &len, &cap, "\n");
            free(text);
        } else {
            snprintf(line, sizeof line, "%s,%d,%d,%d,%.0f,%.10g,%ld,%.0f,%.10g,%.10g\n", r->run,
                     r->layers, r->dim, r->heads, r->params, r->budget, r->steps, r->tokens,
                     r->flops, r->val_loss);
            bad |= append(&buf, &len, &cap, line);
        }
    }
    if (bad) {
        free(buf);
        return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    }
    int rc = llmrt_write_file_atomic(path, buf ? buf : "", len);
    free(buf);
    if (rc) llmrt_error_prefix(rc, "sweep table %s", path);
    return rc;
}

/* A number from a CSV cell or a JSON value. */
static int number(const char *path, size_t line, const char *col, const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    while (*end == ' ' || *end == '\r' || *end == '\n') end++;
    if (!*text || *end || errno == ERANGE)
        return llmrt_error(LLMRT_ERR_FORMAT, "%s:%zu: column %s: '%s' is not a number", path,
                           line, col, text);
    *out = v;
    return LLMRT_OK;
}

static int push(llmrt_scaling_row **rows, size_t *n, size_t *cap, const llmrt_scaling_row *r)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        llmrt_scaling_row *b = realloc(*rows, c * sizeof *b);
        if (!b) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        *rows = b, *cap = c;
    }
    (*rows)[(*n)++] = *r;
    return LLMRT_OK;
}

static void row_init(llmrt_scaling_row *r)
{
    memset(r, 0, sizeof *r);
    r->params = r->tokens = r->val_loss = r->budget = r->flops = NAN;
}

static int check_row(const char *path, size_t line, const llmrt_scaling_row *r)
{
    if (isnan(r->params) || isnan(r->tokens) || isnan(r->val_loss))
        return llmrt_error(LLMRT_ERR_FORMAT, "%s:%zu: needs params, tokens and val_loss", path,
                           line);
    return LLMRT_OK;
}

static int read_jsonl(const char *path, FILE *f, llmrt_scaling_row **rows, size_t *n,
                      size_t *cap)
{
    char buf[4096];
    size_t line = 0;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        if (strspn(buf, " \t\r\n") == strlen(buf)) continue;
        json_error_t jerr;
        json_t *o = json_loads(buf, 0, &jerr);
        if (!json_is_object(o)) {
            json_decref(o);
            return llmrt_error(LLMRT_ERR_FORMAT, "%s:%zu: not a JSON object (%s)", path, line,
                               jerr.text);
        }
        llmrt_scaling_row r;
        row_init(&r);
        double *dst[] = {&r.params, &r.tokens, &r.val_loss, &r.budget, &r.flops};
        static const char *const keys[] = {"params", "tokens", "val_loss", "budget", "flops"};
        for (size_t k = 0; k < 5; k++) {
            json_t *v = json_object_get(o, keys[k]);
            if (json_is_number(v)) *dst[k] = json_number_value(v);
        }
        json_t *run = json_object_get(o, "run");
        if (json_is_string(run)) snprintf(r.run, sizeof r.run, "%s", json_string_value(run));
        json_decref(o);
        int rc = check_row(path, line, &r);
        if (!rc) rc = push(rows, n, cap, &r);
        if (rc) return rc;
    }
    return LLMRT_OK;
}

static int read_csv(const char *path, FILE *f, llmrt_scaling_row **rows, size_t *n,
                    size_t *cap)
{
    char buf[4096];
    int index[64];
    size_t n_cols = 0, line = 1;
    if (!fgets(buf, sizeof buf, f))
        return llmrt_error(LLMRT_ERR_FORMAT, "%s: empty (expected a header line with params, "
                           "tokens, val_loss)", path);
    for (char *save = NULL, *tok = strtok_r(buf, ",\r\n", &save); tok && n_cols < 64;
         tok = strtok_r(NULL, ",\r\n", &save)) {
        index[n_cols] = -1;
        for (size_t c = 0; c < N_COLUMNS; c++)
            if (!strcmp(tok, columns[c])) index[n_cols] = (int)c;
        n_cols++;
    }
    int have[N_COLUMNS] = {0};
    for (size_t i = 0; i < n_cols; i++)
        if (index[i] >= 0) have[index[i]] = 1;
    if (!have[4] || !have[7] || !have[9])
        return llmrt_error(LLMRT_ERR_FORMAT, "%s:1: the header needs the columns params, "
                           "tokens and val_loss", path);
    while (fgets(buf, sizeof buf, f)) {
        line++;
        if (strspn(buf, " \t\r\n") == strlen(buf)) continue;
        llmrt_scaling_row r;
        row_init(&r);
        size_t col = 0;
        char *p = buf;
        int rc = LLMRT_OK;
        for (; p && col < n_cols && !rc; col++) {
            char *comma = strchr(p, ',');
            if (comma) *comma = '\0';
            char *nl = strpbrk(p, "\r\n");
            if (nl) *nl = '\0';
            double v;
            switch (index[col]) {
            case 0: snprintf(r.run, sizeof r.run, "%s", p); break;
            case 4: rc = number(path, line, "params", p, &r.params); break;
            case 5: rc = number(path, line, "budget", p, &r.budget); break;
            case 7: rc = number(path, line, "tokens", p, &r.tokens); break;
            case 8: rc = number(path, line, "flops", p, &r.flops); break;
            case 9: rc = number(path, line, "val_loss", p, &r.val_loss); break;
            case 1: case 2: case 3: case 6:
                if (!(rc = number(path, line, columns[index[col]], p, &v))) {
                    if (index[col] == 1) r.layers = (int)v;
                    else if (index[col] == 2) r.dim = (int)v;
                    else if (index[col] == 3) r.heads = (int)v;
                    else r.steps = (long)v;
                }
                break;
            default: break;
            }
            p = comma ? comma + 1 : NULL;
        }
        if (!rc && col < n_cols)
            rc = llmrt_error(LLMRT_ERR_FORMAT, "%s:%zu: %zu columns, the header has %zu", path,
                             line, col, n_cols);
        if (!rc) rc = check_row(path, line, &r);
        if (!rc) rc = push(rows, n, cap, &r);
        if (rc) return rc;
    }
    return LLMRT_OK;
}

int llmrt_scaling_table_read(const char *path, llmrt_scaling_row **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return llmrt_error(LLMRT_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 0;
    int rc = is_jsonl(path) ? read_jsonl(path, f, rows, n, &cap) : read_csv(path, f, rows, n, &cap);
    fclose(f);
    if (rc) {
        free(*rows);
        *rows = NULL;
        *n = 0;
    }
    return rc;
}
