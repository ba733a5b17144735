/* ckpt_shards.c — sharded checkpoints (see ckpt_shards.h). */
#include "ckpt_shards.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "checkpoint.h"
#include "error.h"
#include "fileio.h"
#include "hf_config.h"
#include "safetensors.h"

static const char *const kind_names[LLMRT_CKPT_N_KINDS] = {"params", "exp_avg", "exp_avg_sq"};

const char *llmrt_ckpt_kind_name(llmrt_state_kind kind)
{
    return (unsigned)kind < LLMRT_CKPT_N_KINDS ? kind_names[kind] : "?";
}

void llmrt_ckpt_shard_file(int rank, int world, char *buf, size_t cap)
{
    snprintf(buf, cap, "shard-%05d-of-%05d.safetensors", rank + 1, world);
}

/* ------------------------------------------------------------------ index */

int llmrt_ckpt_index_alloc(llmrt_ckpt_index *idx, int world, size_t n_units)
{
    memset(idx, 0, sizeof *idx);
    idx->world_size = world;
    idx->n_units = n_units;
    idx->units = calloc(n_units ? n_units : 1, sizeof *idx->units);
    idx->files = calloc((size_t)world, sizeof *idx->files);
    idx->ranges = calloc((size_t)world * (n_units ? n_units : 1) * 2, sizeof *idx->ranges);
    if (!idx->units || !idx->files || !idx->ranges) {
        llmrt_ckpt_index_free(idx);
        return llmrt_error(LLMRT_ERR_NOMEM, "out of memory for a checkpoint index");
    }
    return LLMRT_OK;
}

void llmrt_ckpt_index_free(llmrt_ckpt_index *idx)
{
    if (idx->units)
        for (size_t u = 0; u < idx->n_units; u++) {
            free(idx->units[u].name);
            for (size_t t = 0; t < idx->units[u].n_tensors; t++)
                free(idx->units[u].tensors[t].name);
            free(idx->units[u].tensors);
        }
    if (idx->files)
        for (int r = 0; r < idx->world_size; r++) free(idx->files[r]);
    free(idx->units);
    free(idx->files);
    free(idx->ranges);
    free(idx->strategy);
    memset(idx, 0, sizeof *idx);
}

int llmrt_ckpt_index_write(const char *path, const llmrt_ckpt_index *idx)
{
    json_t *o = json_object(), *units = json_array(), *shards = json_array();
    if (!o || !units || !shards) goto nomem;
    json_object_set_new(o, "format", json_string("llmrt-sharded-checkpoint"));
    json_object_set_new(o, "format_version", json_integer(LLMRT_CKPT_INDEX_FORMAT_VERSION));
    json_object_set_new(o, "step", json_integer((json_int_t)idx->step));
    json_object_set_new(o, "world_size", json_integer(idx->world_size));
    json_object_set_new(o, "strategy", json_string(idx->strategy ? idx->strategy : ""));
    json_t *kinds = json_array();
    for (int k = 0; k < LLMRT_CKPT_N_KINDS; k++) json_array_append_new(kinds, json_string(kind_names[k]));
    json_object_set_new(o, "kinds", kinds);
    for (size_t u = 0; u < idx->n_units; u++) {
        const llmrt_ckpt_unit_info *ui = &idx->units[u];
        json_t *uo = json_object(), *ts = json_array();
        json_object_set_new(uo, "name", json_string(ui->name));
        json_object_set_new(uo, "numel", json_integer((json_int_t)ui->numel));
        for (size_t t = 0; t < ui->n_tensors; t++) {
            const llmrt_ckpt_tensor_info *ti = &ui->tensors[t];
            json_t *to = json_object(), *shape = json_array();
            for (int d = 0; d < ti->ndim; d++)
                json_array_append_new(shape, json_integer((json_int_t)ti->shape[d]));
            json_object_set_new(to, "name", json_string(ti->name));
            json_object_set_new(to, "shape", shape);
            json_object_set_new(to, "offset", json_integer((json_int_t)ti->offset));
            json_object_set_new(to, "numel", json_integer((json_int_t)ti->numel));
            json_array_append_new(ts, to);
        }
        json_object_set_new(uo, "tensors", ts);
        json_array_append_new(units, uo);
    }
    json_object_set_new(o, "units", units);
    units = NULL;
    for (int r = 0; r < idx->world_size; r++) {
        json_t *so = json_object(), *rs = json_array();
        json_object_set_new(so, "rank", json_integer(r));
        json_object_set_new(so, "file", json_string(idx->files[r] ? idx->files[r] : ""));
        for (size_t u = 0; u < idx->n_units; u++) {
            const size_t *rg = LLMRT_CKPT_RANGE(idx, r, u);
            json_t *pair = json_array();
            json_array_append_new(pair, json_integer((json_int_t)rg[0]));
            json_array_append_new(pair, json_integer((json_int_t)rg[1]));
            json_array_append_new(rs, pair);
        }
        json_object_set_new(so, "ranges", rs);
        json_array_append_new(shards, so);
    }
    json_object_set_new(o, "shards", shards);
    char *text = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text) return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(text);
    text[n] = '\n';
    int rc = llmrt_write_file_atomic(path, text, n + 1);
    free(text);
    return rc;
nomem:
    json_decref(o);
    json_decref(units);
    json_decref(shards);
    return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", path);
}

static int bad(const char *path, const char *field, const char *what)
{
    return llmrt_error(LLMRT_ERR_FORMAT, "%s: field \"%s\" %s", path, field, what);
}

static int get_size(const char *path, json_t *o, const char *field, size_t *out)
{
    json_t *v = json_object_get(o, field);
    if (!v) return bad(path, field, "is missing (expected a non-negative integer)");
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return bad(path, field, "is not a non-negative integer");
    *out = (size_t)json_integer_value(v);
    return LLMRT_OK;
}

static int get_string(const char *path, json_t *o, const char *field, char **out)
{
    json_t *v = json_object_get(o, field);
    if (!v || !json_is_string(v)) return bad(path, field, "is missing or not a string");
    if (!(*out = strdup(json_string_value(v))))
        return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", path);
    return LLMRT_OK;
}

static int read_units(const char *path, json_t *units, llmrt_ckpt_index *idx)
{
    int rc;
    for (size_t u = 0; u < idx->n_units; u++) {
        json_t *uo = json_array_get(units, u), *ts;
        llmrt_ckpt_unit_info *ui = &idx->units[u];
        if (!json_is_object(uo)) return bad(path, "units", "holds an entry that is not an object");
        if ((rc = get_string(path, uo, "name", &ui->name)) ||
            (rc = get_size(path, uo, "numel", &ui->numel)))
            return rc;
        ts = json_object_get(uo, "tensors");
        if (!json_is_array(ts)) return bad(path, "tensors", "is missing or not an array");
        ui->n_tensors = json_array_size(ts);
        ui->tensors = calloc(ui->n_tensors ? ui->n_tensors : 1, sizeof *ui->tensors);
        if (!ui->tensors) return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", path);
        for (size_t t = 0; t < ui->n_tensors; t++) {
            json_t *to = json_array_get(ts, t), *shape;
            llmrt_ckpt_tensor_info *ti = &ui->tensors[t];
            if (!json_is_object(to)) return bad(path, "tensors", "holds a non-object");
            if ((rc = get_string(path, to, "name", &ti->name)) ||
                (rc = get_size(path, to, "offset", &ti->offset)) ||
                (rc = get_size(path, to, "numel", &ti->numel)))
                return rc;
            shape = json_object_get(to, "shape");
            if (!json_is_array(shape) || json_array_size(shape) < 1 || json_array_size(shape) > 2)
                return bad(path, "shape", "is not an array of 1 or 2 dimensions");
            ti->ndim = (int)json_array_size(shape);
            uint64_t prod = 1;
            for (int d = 0; d < ti->ndim; d++) {
                json_t *dv = json_array_get(shape, (size_t)d);
                if (!json_is_integer(dv) || json_integer_value(dv) < 0)
                    return bad(path, "shape", "holds a negative or non-integer dimension");
                ti->shape[d] = (uint64_t)json_integer_value(dv);
                prod *= ti->shape[d];
            }
            if (prod != ti->numel || ti->offset + ti->numel > ui->numel)
                return llmrt_error(LLMRT_ERR_FORMAT, "%s: tensor %s: shape, offset and numel "
                                   "do not fit unit %s of %zu values", path, ti->name,
                                   ui->name, ui->numel);
        }
    }
    return LLMRT_OK;
}

/* Every element of every unit lies in some rank's range. */
static int check_coverage(const char *path, const llmrt_ckpt_index *idx)
{
    for (size_t u = 0; u < idx->n_units; u++) {
        size_t covered = 0, progress = 1;
        /* Repeatedly extend the covered prefix: O(world^2), worlds are small. */
        while (covered < idx->units[u].numel && progress) {
            progress = 0;
            for (int r = 0; r < idx->world_size; r++) {
                const size_t *rg = LLMRT_CKPT_RANGE(idx, r, u);
                if (rg[0] <= covered && rg[1] > covered) {
                    covered = rg[1];
                    progress = 1;
                }
            }
        }
        if (covered < idx->units[u].numel)
            return llmrt_error(LLMRT_ERR_FORMAT, "%s: unit %s: no shard holds element %zu "
                               "(the ranges do not cover the unit's %zu values)", path,
                               idx->units[u].name, covered, idx->units[u].numel);
    }
    return LLMRT_OK;
}

int llmrt_ckpt_index_read(const char *path, llmrt_ckpt_index *idx)
{
    json_error_t err;
    memset(idx, 0, sizeof *idx);
    json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!o) return llmrt_error(LLMRT_ERR_FORMAT, "%s: line %d: %s", path, err.line, err.text);
    int rc = LLMRT_OK;
    json_t *fmt = json_object_get(o, "format"), *units, *shards;
    size_t version, world, step;
    if (!json_is_object(o)) {
        rc = llmrt_error(LLMRT_ERR_FORMAT, "%s: not a JSON object", path);
        goto out;
    }
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "llmrt-sharded-checkpoint")) {
        rc = bad(path, "format", "is not \"llmrt-sharded-checkpoint\"");
        goto out;
    }
    if ((rc = get_size(path, o, "format_version", &version)) ||
        (rc = get_size(path, o, "world_size", &world)) || (rc = get_size(path, o, "step", &step)))
        goto out;
    if (version > LLMRT_CKPT_INDEX_FORMAT_VERSION) {
        rc = llmrt_error(LLMRT_ERR_FORMAT, "%s: format_version %zu is newer than this llmrt "
                         "reads (%d)", path, version, LLMRT_CKPT_INDEX_FORMAT_VERSION);
        goto out;
    }
    units = json_object_get(o, "units");
    shards = json_object_get(o, "shards");
    if (!json_is_array(units)) {
        rc = bad(path, "units", "is missing or not an array");
        goto out;
    }
    if (!json_is_array(shards) || json_array_size(shards) != world || world < 1 ||
        world > (1 << 24)) {
        rc = bad(path, "shards", "is missing or does not hold one entry per rank of world_size");
        goto out;
    }
    if ((rc = llmrt_ckpt_index_alloc(idx, (int)world, json_array_size(units)))) goto out;
    idx->step = step;
    if ((rc = get_string(path, o, "strategy", &idx->strategy)) ||
        (rc = read_units(path, units, idx)))
        goto out;
    for (size_t r = 0; r < world; r++) {
        json_t *so = json_array_get(shards, r), *rs;
        size_t rank;
        if (!json_is_object(so)) {
            rc = bad(path, "shards", "holds an entry that is not an object");
            goto out;
        }
        if ((rc = get_size(path, so, "rank", &rank)) ||
            (rc = get_string(path, so, "file", &idx->files[r])))
            goto out;
        if (rank != r || strchr(idx->files[r], '/')) {
            rc = bad(path, "shards", "is not in rank order or names a file outside the directory");
            goto out;
        }
        rs = json_object_get(so, "ranges");
        if (!json_is_array(rs) || json_array_size(rs) != idx->n_units) {
            rc = bad(path, "ranges", "does not hold one [begin, end] pair per unit");
            goto out;
        }
        for (size_t u = 0; u < idx->n_units; u++) {
            json_t *pair = json_array_get(rs, u);
            size_t *rg = LLMRT_CKPT_RANGE(idx, r, u);
            json_t *b = json_array_get(pair, 0), *e = json_array_get(pair, 1);
            if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_integer(b) ||
                !json_is_integer(e) || json_integer_value(b) < 0 ||
                json_integer_value(e) < json_integer_value(b)) {
                rc = bad(path, "ranges", "holds a pair that is not [begin, end] with begin <= end");
                goto out;
            }
            rg[0] = (size_t)json_integer_value(b);
            rg[1] = (size_t)json_integer_value(e);
        }
    }
    rc = check_coverage(path, idx);
out:
    json_decref(o);
    if (rc) llmrt_ckpt_index_free(idx);
    return rc;
}

static int parse_range(const char *path, const char *text, size_t *begin, size_t *end)
{
    unsigned long long b, e;
    char extra;
    if (!text || sscanf(text, "%llu %llu%c", &b, &e, &extra) != 2 || e < b)
        return llmrt_error(LLMRT_ERR_FORMAT, "%s: a llmrt.range.* metadata value is not "
                           "\"begin end\"", path);
    *begin = (size_t)b;
    *end = (size_t)e;
    return LLMRT_OK;
}

int llmrt_ckpt_index_collect_ranges(llmrt_ckpt_index *idx, const char *dir)
{
    char file[96], key[320];
    for (int r = 0; r < idx->world_size; r++) {
        llmrt_ckpt_shard_file(r, idx->world_size, file, sizeof file);
        free(idx->files[r]);
        if (!(idx->files[r] = strdup(file))) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        char *path = llmrt_path_join(dir, file);
        if (!path) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        llmrt_st_file *f = NULL;
        int rc = llmrt_st_open(&f, path);
        for (size_t u = 0; u < idx->n_units && !rc; u++) {
            snprintf(key, sizeof key, "llmrt.range.%s", idx->units[u].name);
            size_t *rg = LLMRT_CKPT_RANGE(idx, r, u);
            rc = parse_range(path, llmrt_st_metadata(f, key), &rg[0], &rg[1]);
        }
        if (f) llmrt_st_close(f);
        free(path);
        if (rc) return rc;
    }
    return check_coverage(dir, idx);
}

/* ------------------------------------------------------------------ reading shards */

struct llmrt_ckpt_shards {
    const llmrt_ckpt_index *idx;
    char *dir;
    llmrt_st_file **files; /* opened when first needed */
};

int llmrt_ckpt_shards_open(llmrt_ckpt_shards **out, const char *dir, const llmrt_ckpt_index *idx)
{
    *out = NULL;
    llmrt_ckpt_shards *s = calloc(1, sizeof *s);
    if (!s || !(s->files = calloc((size_t)idx->world_size, sizeof *s->files)) ||
        !(s->dir = strdup(dir))) {
        if (s) free(s->files);
        free(s);
        return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    }
    s->idx = idx;
    *out = s;
    return LLMRT_OK;
}

void llmrt_ckpt_shards_close(llmrt_ckpt_shards *s)
{
    if (!s) return;
    for (int r = 0; r < s->idx->world_size; r++)
        if (s->files[r]) llmrt_st_close(s->files[r]);
    free(s->files);
    free(s->dir);
    free(s);
}

/* Files are opened when first needed: a rank that loads its own slice maps
 * one file. */
static int shard_at(llmrt_ckpt_shards *s, int rank, llmrt_st_file **f)
{
    if (!s->files[rank]) {
        char *path = llmrt_path_join(s->dir, s->idx->files[rank]);
        if (!path) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        int rc = llmrt_st_open(&s->files[rank], path);
        free(path);
        if (rc) return rc;
    }
    *f = s->files[rank];
    return LLMRT_OK;
}

int llmrt_ckpt_shards_read_slice(llmrt_ckpt_shards *s, int rank, size_t unit,
                                 llmrt_state_kind kind, float *dst)
{
    llmrt_st_file *f = NULL;
    char name[320];
    int rc = shard_at(s, rank, &f);
    if (rc) return rc;
    const size_t *rg = LLMRT_CKPT_RANGE(s->idx, rank, unit);
    snprintf(name, sizeof name, "%s.%s", llmrt_ckpt_kind_name(kind), s->idx->units[unit].name);
    return llmrt_st_read_f32(f, name, dst, rg[1] - rg[0]);
}

int llmrt_ckpt_shards_read_full(llmrt_ckpt_shards *s, size_t unit, llmrt_state_kind kind,
                                float *full)
{
    size_t numel = s->idx->units[unit].numel, covered = 0;
    float *tmp = NULL;
    size_t tmp_cap = 0;
    int rc = LLMRT_OK;
    /* Take each element from the first shard (by begin) that holds it. */
    while (covered < numel && !rc) {
        int best = -1;
        for (int r = 0; r < s->idx->world_size; r++) {
            const size_t *rg = LLMRT_CKPT_RANGE(s->idx, r, unit);
            if (rg[0] <= covered && rg[1] > covered &&
                (best < 0 || rg[1] > LLMRT_CKPT_RANGE(s->idx, best, unit)[1]))
                best = r;
        }
        if (best < 0) return llmrt_error(LLMRT_ERR_FORMAT, "unit %s: no shard holds element %zu",
                                         s->idx->units[unit].name, covered);
        const size_t *rg = LLMRT_CKPT_RANGE(s->idx, best, unit);
        size_t n = rg[1] - rg[0];
        if (n > tmp_cap) {
            float *p = realloc(tmp, n * sizeof *p);
            if (!p) {
                rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
                break;
            }
            tmp = p;
            tmp_cap = n;
        }
        if ((rc = llmrt_ckpt_shards_read_slice(s, best, unit, kind, tmp))) break;
        size_t stop = rg[1] < numel ? rg[1] : numel;
        memcpy(full + covered, tmp + (covered - rg[0]), (stop - covered) * sizeof *full);
        covered = stop;
    }
    free(tmp);
    return rc;
}

/* ------------------------------------------------------------------ consolidation */

/* The metadata of DIR/model.safetensors (format, model shape), and the step. */
static int consolidated_metadata(const char *dir, llmrt_st_writer *w)
{
    char *path = llmrt_path_join(dir, LLMRT_CKPT_MODEL_FILE);
    llmrt_st_file *f = NULL;
    llmrt_ckpt_state st;
    char v[32];
    int rc = path ? llmrt_st_open(&f, path) : llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    free(path);
    for (size_t k = 0; !rc && k < llmrt_st_metadata_count(f); k++) {
        const char *key, *value;
        llmrt_st_metadata_at(f, k, &key, &value);
        rc = llmrt_st_writer_metadata(w, key, value);
    }
    if (f) llmrt_st_close(f);
    if (rc || (rc = llmrt_ckpt_load_state(dir, &st))) return rc;
    snprintf(v, sizeof v, "%" PRIu64, st.step);
    llmrt_ckpt_state_free(&st);
    return llmrt_st_writer_metadata(w, "llmrt.step", v);
}

static int consolidate_sharded(const char *dir, const char *index_path, const char *out_path)
{
    llmrt_ckpt_index idx;
    int rc = llmrt_ckpt_index_read(index_path, &idx);
    if (rc) return rc;
    llmrt_ckpt_shards *s = NULL;
    llmrt_st_writer *w = NULL;
    float **bufs = calloc(idx.n_units * LLMRT_CKPT_N_KINDS, sizeof *bufs);
    char name[512];
    if (!bufs) {
        rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = llmrt_ckpt_shards_open(&s, dir, &idx)) || (rc = llmrt_st_writer_new(&w))) goto out;
    if ((rc = consolidated_metadata(dir, w))) goto out;
    for (int k = 0; k < LLMRT_CKPT_N_KINDS && !rc; k++)
        for (size_t u = 0; u < idx.n_units && !rc; u++) {
            const llmrt_ckpt_unit_info *ui = &idx.units[u];
            float *full = bufs[k * idx.n_units + u] = malloc((ui->numel ? ui->numel : 1) * sizeof(float));
            if (!full) {
                rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory for unit %s", ui->name);
                break;
            }
            if ((rc = llmrt_ckpt_shards_read_full(s, u, (llmrt_state_kind)k, full))) break;
            for (size_t t = 0; t < ui->n_tensors && !rc; t++) {
                const llmrt_ckpt_tensor_info *ti = &ui->tensors[t];
                snprintf(name, sizeof name, "%s%s", k == 0 ? "" : k == 1 ? LLMRT_CKPT_EXP_AVG_PREFIX
                                                                    : LLMRT_CKPT_EXP_AVG_SQ_PREFIX,
                         ti->name);
                rc = llmrt_st_writer_add(w, name, LLMRT_ST_F32, ti->ndim, ti->shape,
                                         full + ti->offset);
            }
        }
    if (!rc) rc = llmrt_st_writer_write(w, out_path);
out:
    if (bufs)
        for (size_t i = 0; i < idx.n_units * LLMRT_CKPT_N_KINDS; i++) free(bufs[i]);
    free(bufs);
    if (w) llmrt_st_writer_free(w);
    llmrt_ckpt_shards_close(s);
    llmrt_ckpt_index_free(&idx);
    return rc;
}

/* Unsharded: every tensor of model.safetensors, then of optimizer.safetensors. */
static int consolidate_plain(const char *dir, const char *out_path)
{
    static const char *const files[] = {LLMRT_CKPT_MODEL_FILE, LLMRT_CKPT_OPTIMIZER_FILE};
    llmrt_st_file *f[2] = {NULL, NULL};
    llmrt_st_writer *w = NULL;
    int rc = llmrt_st_writer_new(&w);
    if (!rc) rc = consolidated_metadata(dir, w);
    for (int i = 0; i < 2 && !rc; i++) {
        char *path = llmrt_path_join(dir, files[i]);
        if (!path) rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        else rc = llmrt_st_open(&f[i], path);
        free(path);
        for (size_t t = 0; !rc && t < llmrt_st_count(f[i]); t++) {
            const llmrt_st_tensor *ti = llmrt_st_tensor_at(f[i], t);
            rc = llmrt_st_writer_add(w, ti->name, ti->dtype, ti->ndim, ti->shape,
                                     llmrt_st_data(f[i], ti));
        }
    }
    if (!rc) rc = llmrt_st_writer_write(w, out_path);
    for (int i = 0; i < 2; i++)
        if (f[i]) llmrt_st_close(f[i]);
    if (w) llmrt_st_writer_free(w);
    return rc;
}

int llmrt_ckpt_consolidate(const char *dir, const char *out_path)
{
    char *index_path = llmrt_path_join(dir, LLMRT_CKPT_INDEX_FILE);
    if (!index_path) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    FILE *fp = fopen(index_path, "r");
    int rc;
    if (fp) {
        fclose(fp);
        rc = consolidate_sharded(dir, index_path, out_path);
    } else {
        rc = consolidate_plain(dir, out_path);
    }
    free(index_path);
    return rc;
}

/* ------------------------------------------------------------------ re-sharding */

static int copy_file(const char *from_dir, const char *to_dir, const char *name)
{
    char *from = llmrt_path_join(from_dir, name), *to = llmrt_path_join(to_dir, name);
    FILE *f = from ? fopen(from, "rb") : NULL;
    char *data = NULL;
    long n = -1;
    int rc;
    if (f && !fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) &&
        (data = malloc((size_t)n + 1)) && fread(data, 1, (size_t)n, f) == (size_t)n)
        rc = llmrt_write_file_atomic(to, data, (size_t)n);
    else
        rc = llmrt_error(LLMRT_ERR_IO, "%s: cannot read", from ? from : name);
    if (f) fclose(f);
    free(data);
    free(from);
    free(to);
    return rc;
}

/* config.json (hf_config.h) as the source has it; a checkpoint written
 * before checkpoints had one gets it from its config.ini, so every
 * checkpoint directory this makes loads into transformers. */
static int copy_hf_config(const char *from_dir, const char *to_dir)
{
    char *from = llmrt_path_join(from_dir, LLMRT_HF_CONFIG_FILE);
    char *ini = llmrt_path_join(from_dir, "config.ini");
    char *to = llmrt_path_join(to_dir, LLMRT_HF_CONFIG_FILE);
    struct stat sb;
    int rc = !from || !ini || !to ? llmrt_error(LLMRT_ERR_NOMEM, "out of memory")
             : !stat(from, &sb)   ? copy_file(from_dir, to_dir, LLMRT_HF_CONFIG_FILE)
                                  : llmrt_hf_config_write_from_ini(ini, to);
    free(from);
    free(ini);
    free(to);
    return rc;
}

int llmrt_ckpt_reshard(const char *dir, int world, const char *out_dir)
{
    if (world < 1) return llmrt_error(LLMRT_ERR_INVALID, "world size %d: must be >= 1", world);
    char *index_path = llmrt_path_join(dir, LLMRT_CKPT_INDEX_FILE);
    struct stat sb;
    if (!index_path) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    if (stat(index_path, &sb)) {
        free(index_path);
        return llmrt_error(LLMRT_ERR_INVALID, "%s: not sharded (no %s): an unsharded checkpoint "
                           "loads at any world size as it is", dir, LLMRT_CKPT_INDEX_FILE);
    }
    if (!stat(out_dir, &sb)) {
        free(index_path);
        return llmrt_error(LLMRT_ERR_INVALID, "%s: exists already (give a new directory)",
                           out_dir);
    }
    llmrt_ckpt_index idx, out;
    llmrt_ckpt_shards *s = NULL;
    float **full = NULL;
    int rc = llmrt_ckpt_index_read(index_path, &idx);
    free(index_path);
    if (rc) return rc;
    memset(&out, 0, sizeof out);
    size_t nf = idx.n_units * LLMRT_CKPT_N_KINDS;
    if (!(full = calloc(nf ? nf : 1, sizeof *full))) {
        rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = llmrt_ckpt_shards_open(&s, dir, &idx))) goto done;
    for (size_t u = 0; u < idx.n_units && !rc; u++)
        for (int k = 0; k < LLMRT_CKPT_N_KINDS && !rc; k++) {
            float *p = full[u * LLMRT_CKPT_N_KINDS + (size_t)k] =
                malloc((idx.units[u].numel ? idx.units[u].numel : 1) * sizeof *p);
            rc = p ? llmrt_ckpt_shards_read_full(s, u, (llmrt_state_kind)k, p)
                   : llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        }
    if (rc || (rc = llmrt_mkdir_p(out_dir))) goto done;
    /* The new index: the same units, even ranges. */
    if ((rc = llmrt_ckpt_index_alloc(&out, world, idx.n_units))) goto done;
    out.step = idx.step;
    out.strategy = idx.strategy;
    free(out.units);
    out.units = idx.units;
    idx.strategy = NULL;
    idx.units = NULL;
    char file[96], key[320], value[64];
    for (int r = 0; r < world && !rc; r++) {
        llmrt_st_writer *w = NULL;
        llmrt_ckpt_shard_file(r, world, file, sizeof file);
        if (!(out.files[r] = strdup(file))) rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        if (!rc) rc = llmrt_st_writer_new(&w);
        snprintf(value, sizeof value, "%d", r);
        if (!rc) rc = llmrt_st_writer_metadata(w, "llmrt.rank", value);
        snprintf(value, sizeof value, "%d", world);
        if (!rc) rc = llmrt_st_writer_metadata(w, "llmrt.world_size", value);
        if (!rc) rc = llmrt_st_writer_metadata(w, "llmrt.strategy", out.strategy);
        for (size_t u = 0; u < out.n_units && !rc; u++) {
            size_t numel = out.units[u].numel, per = (numel + (size_t)world - 1) / (size_t)world;
            size_t *rg = LLMRT_CKPT_RANGE(&out, r, u);
            rg[0] = per * (size_t)r < numel ? per * (size_t)r : numel;
            rg[1] = rg[0] + per < numel ? rg[0] + per : numel;
            snprintf(key, sizeof key, "llmrt.range.%s", out.units[u].name);
            snprintf(value, sizeof value, "%zu %zu", rg[0], rg[1]);
            rc = llmrt_st_writer_metadata(w, key, value);
            for (int k = 0; k < LLMRT_CKPT_N_KINDS && !rc; k++) {
                uint64_t shape[1] = {rg[1] - rg[0]};
                snprintf(key, sizeof key, "%s.%s", kind_names[k], out.units[u].name);
                rc = llmrt_st_writer_add(w, key, LLMRT_ST_F32, 1, shape,
                                         full[u * LLMRT_CKPT_N_KINDS + (size_t)k] + rg[0]);
            }
        }
        char *path = rc ? NULL : llmrt_path_join(out_dir, file);
        if (!rc) rc = path ? llmrt_st_writer_write(w, path) : llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        free(path);
        if (w) llmrt_st_writer_free(w);
    }
    char *opath = rc ? NULL : llmrt_path_join(out_dir, LLMRT_CKPT_INDEX_FILE);
    if (!rc) rc = opath ? llmrt_ckpt_index_write(opath, &out) : llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    free(opath);
    static const char *const copies[] = {LLMRT_CKPT_MODEL_FILE, "config.ini", LLMRT_CKPT_STATE_FILE};
    for (size_t i = 0; i < 3 && !rc; i++) rc = copy_file(dir, out_dir, copies[i]);
    if (!rc) rc = copy_hf_config(dir, out_dir);
    if (!rc) rc = llmrt_fsync_path(out_dir);
done:
    if (full)
        for (size_t i = 0; i < nf; i++) free(full[i]);
    free(full);
    llmrt_ckpt_shards_close(s);
    llmrt_ckpt_index_free(&out);
    llmrt_ckpt_index_free(&idx);
    return rc;
}
