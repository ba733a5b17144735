/* safetensors.c — the safetensors reader and writer (see safetensors.h). */
#define _GNU_SOURCE
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "error.h"
#include "fileio.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (the format is little-endian)"
#endif

static const struct {
    const char *name;
    size_t size;
    int llmrt; /* llmrt_dtype or -1 */
} dtypes[LLMRT_ST_DTYPE_COUNT] = {
    [LLMRT_ST_F64] = {"F64", 8, LLMRT_DTYPE_F64},
    [LLMRT_ST_F32] = {"F32", 4, LLMRT_DTYPE_F32},
    [LLMRT_ST_F16] = {"F16", 2, LLMRT_DTYPE_F16},
    [LLMRT_ST_BF16] = {"BF16", 2, LLMRT_DTYPE_BF16},
    [LLMRT_ST_I64] = {"I64", 8, -1},
    [LLMRT_ST_I32] = {"I32", 4, LLMRT_DTYPE_I32},
    [LLMRT_ST_I16] = {"I16", 2, -1},
    [LLMRT_ST_I8] = {"I8", 1, LLMRT_DTYPE_I8},
    [LLMRT_ST_U64] = {"U64", 8, -1},
    [LLMRT_ST_U32] = {"U32", 4, -1},
    [LLMRT_ST_U16] = {"U16", 2, LLMRT_DTYPE_U16},
    [LLMRT_ST_U8] = {"U8", 1, LLMRT_DTYPE_U8},
    [LLMRT_ST_BOOL] = {"BOOL", 1, -1},
    [LLMRT_ST_F8_E4M3] = {"F8_E4M3", 1, -1},
    [LLMRT_ST_F8_E5M2] = {"F8_E5M2", 1, -1},
};

const char *llmrt_st_dtype_name(llmrt_st_dtype t)
{
    return (unsigned)t < LLMRT_ST_DTYPE_COUNT ? dtypes[t].name : NULL;
}

size_t llmrt_st_dtype_size(llmrt_st_dtype t)
{
    return (unsigned)t < LLMRT_ST_DTYPE_COUNT ? dtypes[t].size : 0;
}

int llmrt_st_dtype_parse(const char *name)
{
    for (int i = 0; i < LLMRT_ST_DTYPE_COUNT; i++)
        if (!strcmp(name, dtypes[i].name)) return i;
    return -1;
}

int llmrt_st_to_llmrt_dtype(llmrt_st_dtype t)
{
    return (unsigned)t < LLMRT_ST_DTYPE_COUNT ? dtypes[t].llmrt : -1;
}

int llmrt_st_from_llmrt_dtype(llmrt_dtype t)
{
    for (int i = 0; i < LLMRT_ST_DTYPE_COUNT; i++)
        if (dtypes[i].llmrt == (int)t) return i;
    return -1;
}

static void dtype_list(char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < LLMRT_ST_DTYPE_COUNT && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", dtypes[i].name);
}


/* ------------------------------------------------------------------ reader */

struct llmrt_st_file {
    char *path;
    unsigned char *map;
    size_t size;
    const unsigned char *data; /* start of the data section */
    uint64_t data_size;
    llmrt_st_tensor *tensors;
    size_t n_tensors;
    char **meta_keys, **meta_values;
    size_t n_meta;
};

/* A name from the file as it appears in a message: no control characters,
 * at most 96 of them. */
static void shown(char *buf, size_t cap, const char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i] && o + 4 < cap; i++) {
        if (i >= 96) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char ch = (unsigned char)s[i];
        buf[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    buf[o] = '\0';
}

static void shape_str(char *buf, size_t cap, int ndim, const uint64_t *shape)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%llu", i ? ", " : "",
                              (unsigned long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

static int fmt_err(const char *path, const char *tname, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fmt_err(const char *path, const char *tname, const char *fmt, ...)
{
    char msg[1024], name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!tname) return llmrt_error(LLMRT_ERR_FORMAT, "%s: %s", path, msg);
    shown(name, sizeof name, tname);
    return llmrt_error(LLMRT_ERR_FORMAT, "%s: tensor \"%s\": %s", path, name, msg);
}

static int nonneg_int(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0) return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static int parse_tensor(llmrt_st_file *f, const char *name, json_t *v, llmrt_st_tensor *t)
{
    const char *p = f->path;
    if (!json_is_object(v)) return fmt_err(p, name, "entry is not a JSON object");
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!jd) return fmt_err(p, name, "missing \"dtype\"");
    if (!js) return fmt_err(p, name, "missing \"shape\"");
    if (!jo) return fmt_err(p, name, "missing \"data_offsets\"");
    if (!json_is_string(jd)) return fmt_err(p, name, "\"dtype\" is not a string");
    int dt = llmrt_st_dtype_parse(json_string_value(jd));
    if (dt < 0) {
        char list[256], dn[128];
        dtype_list(list, sizeof list);
        shown(dn, sizeof dn, json_string_value(jd));
        return fmt_err(p, name, "unknown dtype \"%s\" (accepted: %s)", dn, list);
    }
    t->dtype = (llmrt_st_dtype)dt;
    if (!json_is_array(js)) return fmt_err(p, name, "\"shape\" is not an array");
    size_t nd = json_array_size(js);
    if (nd > LLMRT_ST_MAX_DIMS)
        return fmt_err(p, name, "shape has %zu dimensions (at most %d)", nd, LLMRT_ST_MAX_DIMS);
    t->ndim = (int)nd;
    t->numel = 1;
    int overflow = 0;
    for (size_t i = 0; i < nd; i++) {
        if (!nonneg_int(json_array_get(js, i), &t->shape[i]))
            return fmt_err(p, name, "shape[%zu] is not a non-negative integer", i);
        if (t->shape[i] && t->numel > UINT64_MAX / t->shape[i]) overflow = 1;
        else t->numel *= t->shape[i];
    }
    if (!json_is_array(jo) || json_array_size(jo) != 2 ||
        !nonneg_int(json_array_get(jo, 0), &t->begin) ||
        !nonneg_int(json_array_get(jo, 1), &t->end))
        return fmt_err(p, name,
                       "\"data_offsets\" is not [begin, end] (two non-negative integers)");
    char sh[256];
    shape_str(sh, sizeof sh, t->ndim, t->shape);
    size_t es = dtypes[t->dtype].size;
    if (overflow || t->numel > UINT64_MAX / es)
        return fmt_err(p, name, "shape %s is too large", sh);
    if (t->begin > t->end)
        return fmt_err(p, name, "data_offsets [%llu, %llu] end before they begin",
                       (unsigned long long)t->begin, (unsigned long long)t->end);
    uint64_t need = t->numel * es, have = t->end - t->begin;
    if (have != need)
        return fmt_err(p, name,
                       "data_offsets [%llu, %llu] hold %llu bytes, but shape %s of %s needs "
                       "%llu bytes",
                       (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)have, sh, dtypes[t->dtype].name,
                       (unsigned long long)need);
    if (t->end > f->data_size)
        return fmt_err(p, name,
                       "data_offsets [%llu, %llu] go past the end of the data (%llu bytes): "
                       "the file is truncated or the offsets are wrong",
                       (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)f->data_size);
    if (!(t->name = strdup(name)))
        return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", p);
    return LLMRT_OK;
}

static int by_begin(const void *a, const void *b)
{
    const llmrt_st_tensor *x = *(const llmrt_st_tensor *const *)a,
                          *y = *(const llmrt_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int check_overlap(llmrt_st_file *f)
{
    if (f->n_tensors < 2) return LLMRT_OK;
    const llmrt_st_tensor **order = malloc(f->n_tensors * sizeof *order);
    if (!order) return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", f->path);
    for (size_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, f->n_tensors, sizeof *order, by_begin);
    int st = LLMRT_OK;
    uint64_t max_end = 0;
    const llmrt_st_tensor *max_t = NULL;
    for (size_t i = 0; i < f->n_tensors && !st; i++) {
        const llmrt_st_tensor *t = order[i];
        if (t->begin == t->end) continue; /* empty tensors take no room */
        if (max_t && t->begin < max_end) {
            char a[128], b[128];
            shown(a, sizeof a, max_t->name);
            shown(b, sizeof b, t->name);
            st = llmrt_error(LLMRT_ERR_FORMAT,
                             "%s: tensors \"%s\" [%llu, %llu] and \"%s\" [%llu, %llu] "
                             "overlap (data_offsets must not share bytes)",
                             f->path, a, (unsigned long long)max_t->begin,
                             (unsigned long long)max_t->end, b, (unsigned long long)t->begin,
                             (unsigned long long)t->end);
        }
        if (t->end > max_end) {
            max_end = t->end;
            max_t = t;
        }
    }
    free(order);
    return st;
}

static int parse_metadata(llmrt_st_file *f, json_t *m)
{
    if (!json_is_object(m)) return fmt_err(f->path, NULL, "__metadata__ is not a JSON object");
    size_t n = json_object_size(m);
    f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_values = calloc(n ? n : 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values)
        return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", f->path);
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v)
    {
        if (!json_is_string(v)) {
            char kn[128];
            shown(kn, sizeof kn, k);
            return fmt_err(f->path, NULL, "__metadata__ value of \"%s\" is not a string", kn);
        }
        f->meta_keys[f->n_meta] = strdup(k);
        f->meta_values[f->n_meta] = strdup(json_string_value(v));
        if (!f->meta_keys[f->n_meta] || !f->meta_values[f->n_meta])
            return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", f->path);
        f->n_meta++;
    }
    return LLMRT_OK;
}

static int parse_header(llmrt_st_file *f)
{
    const char *p = f->path;
    if (f->size < 8)
        return fmt_err(p, NULL,
                       "%zu bytes is too short for a safetensors file (it starts with an "
                       "8-byte header length)",
                       f->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | f->map[i];
    if (n > LLMRT_ST_HEADER_MAX)
        return fmt_err(p, NULL,
                       "header length %llu is over the limit of %llu bytes (100 MB): not a "
                       "safetensors file, or corrupt",
                       (unsigned long long)n, (unsigned long long)LLMRT_ST_HEADER_MAX);
    if (n > f->size - 8)
        return fmt_err(p, NULL,
                       "header length %llu is larger than the rest of the file (%zu bytes): "
                       "truncated or not a safetensors file",
                       (unsigned long long)n, f->size - 8);
    f->data = f->map + 8 + n;
    f->data_size = f->size - 8 - n;
    json_error_t err;
    json_t *root = json_loadb((const char *)f->map + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        char text[JSON_ERROR_TEXT_LENGTH + 8];
        shown(text, sizeof text, err.text);
        return fmt_err(p, NULL, "header is not valid JSON: %s (at byte %d of the header)",
                       text, err.position);
    }
    int st = LLMRT_OK;
    if (!json_is_object(root)) {
        st = fmt_err(p, NULL, "header is not a JSON object");
        goto out;
    }
    size_t count = json_object_size(root);
    f->tensors = calloc(count ? count : 1, sizeof *f->tensors);
    if (!f->tensors) {
        st = llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", p);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (!strcmp(key, "__metadata__")) {
            if ((st = parse_metadata(f, val))) goto out;
            continue;
        }
        if ((st = parse_tensor(f, key, val, &f->tensors[f->n_tensors]))) goto out;
        f->n_tensors++;
    }
    st = check_overlap(f);
out:
    json_decref(root);
    return st;
}

int llmrt_st_open(llmrt_st_file **out, const char *path)
{
    *out = NULL;
    llmrt_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", path);
    }
    int st = LLMRT_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = llmrt_error(LLMRT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        st = llmrt_error(LLMRT_ERR_IO, "%s: not a readable regular file", path);
        close(fd);
        goto fail;
    }
    f->size = (size_t)sb.st_size;
    if (f->size) {
        void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            st = llmrt_error(LLMRT_ERR_IO, "%s: cannot map %zu bytes: %s", path, f->size,
                             strerror(errno));
            close(fd);
            goto fail;
        }
        f->map = m;
    }
    close(fd);
    if ((st = parse_header(f))) goto fail;
    *out = f;
    return LLMRT_OK;
fail:
    llmrt_st_close(f);
    return st;
}

void llmrt_st_close(llmrt_st_file *f)
{
    if (!f) return;
    if (f->map) munmap(f->map, f->size);
    for (size_t i = 0; i < f->n_tensors; i++) free((char *)f->tensors[i].name);
    free(f->tensors);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->path);
    free(f);
}

const char *llmrt_st_path(const llmrt_st_file *f) { return f->path; }
size_t llmrt_st_count(const llmrt_st_file *f) { return f->n_tensors; }

const llmrt_st_tensor *llmrt_st_tensor_at(const llmrt_st_file *f, size_t i)
{
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const llmrt_st_tensor *llmrt_st_find(const llmrt_st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const void *llmrt_st_data(const llmrt_st_file *f, const llmrt_st_tensor *t)
{
    return f->data + t->begin;
}

const char *llmrt_st_metadata(const llmrt_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}

size_t llmrt_st_metadata_count(const llmrt_st_file *f) { return f->n_meta; }

void llmrt_st_metadata_at(const llmrt_st_file *f, size_t i, const char **key, const char **value)
{
    *key = i < f->n_meta ? f->meta_keys[i] : NULL;
    *value = i < f->n_meta ? f->meta_values[i] : NULL;
}

static const llmrt_st_tensor *need(const llmrt_st_file *f, const char *name, int *st)
{
    const llmrt_st_tensor *t = llmrt_st_find(f, name);
    if (!t) {
        char n[128];
        shown(n, sizeof n, name);
        *st = llmrt_error(LLMRT_ERR_FORMAT, "%s: no tensor \"%s\" (the file has %zu tensors)",
                          f->path, n, f->n_tensors);
    }
    return t;
}

int llmrt_st_expect(const llmrt_st_file *f, const char *name, int ndim, const uint64_t *shape)
{
    int st = LLMRT_OK;
    const llmrt_st_tensor *t = need(f, name, &st);
    if (!t) return st;
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (same) return LLMRT_OK;
    char a[256], b[256];
    shape_str(a, sizeof a, t->ndim, t->shape);
    shape_str(b, sizeof b, ndim, shape);
    return fmt_err(f->path, name, "has shape %s, expected %s", a, b);
}

int llmrt_st_read_f32(const llmrt_st_file *f, const char *name, float *dst, uint64_t numel)
{
    int st = LLMRT_OK;
    const llmrt_st_tensor *t = need(f, name, &st);
    if (!t) return st;
    if (t->numel != numel)
        return fmt_err(f->path, name, "has %llu elements, expected %llu",
                       (unsigned long long)t->numel, (unsigned long long)numel);
    const unsigned char *src = llmrt_st_data(f, t);
    switch (t->dtype) {
    case LLMRT_ST_F32: memcpy(dst, src, numel * 4); break;
    case LLMRT_ST_F16:
    case LLMRT_ST_BF16:
        for (uint64_t i = 0; i < numel; i++) {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            dst[i] = t->dtype == LLMRT_ST_F16 ? llmrt_f16_to_f32(h) : llmrt_bf16_to_f32(h);
        }
        break;
    default:
        return fmt_err(f->path, name, "has dtype %s, expected F32, F16 or BF16",
                       dtypes[t->dtype].name);
    }
    return LLMRT_OK;
}

int llmrt_st_read_raw(const llmrt_st_file *f, const char *name, llmrt_st_dtype dtype,
                      void *dst, size_t nbytes)
{
    int st = LLMRT_OK;
    const llmrt_st_tensor *t = need(f, name, &st);
    if (!t) return st;
    if (t->dtype != dtype)
        return fmt_err(f->path, name, "has dtype %s, expected %s", dtypes[t->dtype].name,
                       llmrt_st_dtype_name(dtype) ? llmrt_st_dtype_name(dtype) : "?");
    if (t->end - t->begin != nbytes)
        return fmt_err(f->path, name, "holds %llu bytes, expected %zu",
                       (unsigned long long)(t->end - t->begin), nbytes);
    memcpy(dst, llmrt_st_data(f, t), nbytes);
    return LLMRT_OK;
}

/* ------------------------------------------------------------------ writer */

typedef struct wtensor {
    char *name;
    llmrt_st_dtype dtype;
    int ndim;
    uint64_t shape[LLMRT_ST_MAX_DIMS];
    uint64_t nbytes;
    const void *data;
} wtensor;

struct llmrt_st_writer {
    wtensor *t;
    size_t n, cap;
    char **mk, **mv;
    size_t nm, capm;
};

int llmrt_st_writer_new(llmrt_st_writer **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? LLMRT_OK : llmrt_error(LLMRT_ERR_NOMEM, "safetensors writer: out of memory");
}

void llmrt_st_writer_free(llmrt_st_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    for (size_t i = 0; i < w->nm; i++) {
        free(w->mk[i]);
        free(w->mv[i]);
    }
    free(w->t);
    free(w->mk);
    free(w->mv);
    free(w);
}

int llmrt_st_writer_add(llmrt_st_writer *w, const char *name, llmrt_st_dtype dtype, int ndim,
                        const uint64_t *shape, const void *data)
{
    if (!name || !strcmp(name, "__metadata__"))
        return llmrt_error(LLMRT_ERR_INVALID, "safetensors: \"%s\" is not a valid tensor name",
                           name ? name : "(null)");
    if ((unsigned)dtype >= LLMRT_ST_DTYPE_COUNT)
        return llmrt_error(LLMRT_ERR_INVALID, "safetensors: tensor \"%s\": bad dtype %d", name,
                           (int)dtype);
    if (ndim < 0 || ndim > LLMRT_ST_MAX_DIMS)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "safetensors: tensor \"%s\": %d dimensions (0 to %d accepted)", name,
                           ndim, LLMRT_ST_MAX_DIMS);
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name))
            return llmrt_error(LLMRT_ERR_INVALID, "safetensors: tensor \"%s\" added twice",
                               name);
    uint64_t nbytes = dtypes[dtype].size;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && nbytes > UINT64_MAX / shape[i])
            return llmrt_error(LLMRT_ERR_INVALID, "safetensors: tensor \"%s\" is too large",
                               name);
        nbytes *= shape[i];
    }
    if (nbytes && !data)
        return llmrt_error(LLMRT_ERR_INVALID, "safetensors: tensor \"%s\" has no data", name);
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 16;
        wtensor *p = realloc(w->t, nc * sizeof *p);
        if (!p) return llmrt_error(LLMRT_ERR_NOMEM, "safetensors writer: out of memory");
        w->t = p;
        w->cap = nc;
    }
    wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name)))
        return llmrt_error(LLMRT_ERR_NOMEM, "safetensors writer: out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nbytes = nbytes;
    t->data = data;
    w->n++;
    return LLMRT_OK;
}

int llmrt_st_writer_metadata(llmrt_st_writer *w, const char *key, const char *value)
{
    for (size_t i = 0; i < w->nm; i++)
        if (!strcmp(w->mk[i], key)) {
            char *v = strdup(value);
            if (!v) return llmrt_error(LLMRT_ERR_NOMEM, "safetensors writer: out of memory");
            free(w->mv[i]);
            w->mv[i] = v;
            return LLMRT_OK;
        }
    if (w->nm == w->capm) {
        size_t nc = w->capm ? 2 * w->capm : 8;
        char **a = realloc(w->mk, nc * sizeof *a);
        if (a) w->mk = a;
        char **b = realloc(w->mv, nc * sizeof *b);
        if (b) w->mv = b;
        if (!a || !b) return llmrt_error(LLMRT_ERR_NOMEM, "safetensors writer: out of memory");
        w->capm = nc;
    }
    w->mk[w->nm] = strdup(key);
    w->mv[w->nm] = strdup(value);
    if (!w->mk[w->nm] || !w->mv[w->nm]) {
        free(w->mk[w->nm]);
        free(w->mv[w->nm]);
        return llmrt_error(LLMRT_ERR_NOMEM, "safetensors writer: out of memory");
    }
    w->nm++;
    return LLMRT_OK;
}

static char *build_header(const llmrt_st_writer *w, size_t *len)
{
    json_t *root = json_object();
    int bad = !root;
    if (!bad && w->nm) {
        json_t *m = json_object();
        bad = !m || json_object_set_new(root, "__metadata__", m);
        for (size_t i = 0; !bad && i < w->nm; i++)
            bad = json_object_set_new(m, w->mk[i], json_string(w->mv[i]));
    }
    uint64_t off = 0;
    for (size_t i = 0; !bad && i < w->n; i++) {
        const wtensor *t = &w->t[i];
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        bad = !e || !shape || !offs;
        for (int d = 0; !bad && d < t->ndim; d++)
            bad = json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        bad = bad || json_array_append_new(offs, json_integer((json_int_t)off)) ||
              json_array_append_new(offs, json_integer((json_int_t)(off + t->nbytes)));
        if (bad) {
            json_decref(e);
            json_decref(shape);
            json_decref(offs);
            break;
        }
        json_object_set_new(e, "dtype", json_string(dtypes[t->dtype].name));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", offs);
        bad = json_object_set_new(root, t->name, e);
        off += t->nbytes;
    }
    char *s = bad ? NULL : json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!s) return NULL;
    size_t n = strlen(s), padded = (n + 7) & ~(size_t)7; /* 8 + padded: a multiple of 8 */
    char *p = realloc(s, padded + 1);
    if (!p) {
        free(s);
        return NULL;
    }
    memset(p + n, ' ', padded - n);
    p[padded] = '\0';
    *len = padded;
    return p;
}

int llmrt_st_writer_write(llmrt_st_writer *w, const char *path)
{
    size_t hlen = 0;
    char *header = build_header(w, &hlen);
    if (!header)
        return llmrt_error(LLMRT_ERR_NOMEM, "%s: cannot build the safetensors header", path);
    llmrt_atomic_file af;
    int st = llmrt_atomic_open(&af, path);
    if (st) {
        free(header);
        return st;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int fd = fileno(af.f); /* nothing buffered yet: write the fd directly */
    int bad = llmrt_write_all(fd, len8, 8) || llmrt_write_all(fd, header, hlen);
    for (size_t i = 0; !bad && i < w->n; i++)
        bad = llmrt_write_all(fd, w->t[i].data, (size_t)w->t[i].nbytes);
    free(header);
    if (bad) {
        int e = errno;
        llmrt_atomic_abort(&af);
        return llmrt_error(LLMRT_ERR_IO, "%s.tmp: write failed: %s", path, strerror(e));
    }
    return llmrt_atomic_commit(&af);
}
