/* safetensors.h — reading and writing the safetensors format.
 *
 * A file is: an unsigned 64-bit little-endian header length N; N bytes of
 * JSON, {"NAME": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin,
 * end]}, ..., "__metadata__": {"key": "value", ...}}, padded with spaces;
 * then the data, each tensor's bytes at [begin, end) counted from the end of
 * the header, little-endian, row-major (docs/formats.md).
 *
 * The reader maps the file and validates all of it before it returns: the
 * header length (within the file, at most 100 MB), the JSON, every entry's
 * fields, the dtype, that each tensor's byte range matches shape x dtype
 * size, lies inside the data and overlaps no other. Every error is one line
 * that starts with the file name.
 *
 * The writer collects (name, dtype, shape, host pointer) and writes the whole
 * file atomically: PATH.tmp, fsync, rename to PATH, fsync the directory.
 * Tensors are laid out in the order they were added; the header lists them
 * in that order after "__metadata__", padded with spaces so that the data
 * starts at a multiple of 8 bytes. */
#ifndef LLMRT_CORE_SAFETENSORS_H
#define LLMRT_CORE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <llmrt/convert.h>
#include <llmrt/types.h>

typedef enum llmrt_st_dtype {
    LLMRT_ST_F64 = 0,
    LLMRT_ST_F32,
    LLMRT_ST_F16,
    LLMRT_ST_BF16,
    LLMRT_ST_I64,
    LLMRT_ST_I32,
    LLMRT_ST_I16,
    LLMRT_ST_I8,
    LLMRT_ST_U64,
    LLMRT_ST_U32,
    LLMRT_ST_U16,
    LLMRT_ST_U8,
    LLMRT_ST_BOOL,
    LLMRT_ST_F8_E4M3,
    LLMRT_ST_F8_E5M2,
    LLMRT_ST_DTYPE_COUNT
} llmrt_st_dtype;

/* "F32", ...; NULL for a value out of range. */
const char *llmrt_st_dtype_name(llmrt_st_dtype t);
size_t llmrt_st_dtype_size(llmrt_st_dtype t);
/* The dtype named `name`; -1 if none. */
int llmrt_st_dtype_parse(const char *name);
/* The llmrt_dtype with the same storage, or -1 (e.g. I64). */
int llmrt_st_to_llmrt_dtype(llmrt_st_dtype t);
/* The safetensors dtype of an llmrt_dtype, or -1. */
int llmrt_st_from_llmrt_dtype(llmrt_dtype t);

#define LLMRT_ST_MAX_DIMS 8
#define LLMRT_ST_HEADER_MAX ((uint64_t)100 << 20)

typedef struct llmrt_st_tensor {
    const char *name;
    llmrt_st_dtype dtype;
    int ndim;
    uint64_t shape[LLMRT_ST_MAX_DIMS];
    uint64_t numel;      /* product of shape (1 for a scalar) */
    uint64_t begin, end; /* data_offsets, from the start of the data */
} llmrt_st_tensor;

/* ------------------------------------------------------------------ reader */

typedef struct llmrt_st_file llmrt_st_file;

int llmrt_st_open(llmrt_st_file **out, const char *path);
void llmrt_st_close(llmrt_st_file *f);
const char *llmrt_st_path(const llmrt_st_file *f);

/* Tensors in the order the header lists them. */
size_t llmrt_st_count(const llmrt_st_file *f);
const llmrt_st_tensor *llmrt_st_tensor_at(const llmrt_st_file *f, size_t i);
/* NULL if there is no tensor of that name. */
const llmrt_st_tensor *llmrt_st_find(const llmrt_st_file *f, const char *name);
/* The tensor's bytes in the mapped file (valid until close; may be
 * unaligned: copy with memcpy). */
const void *llmrt_st_data(const llmrt_st_file *f, const llmrt_st_tensor *t);

/* __metadata__: the value of `key`, or NULL. */
const char *llmrt_st_metadata(const llmrt_st_file *f, const char *key);
size_t llmrt_st_metadata_count(const llmrt_st_file *f);
void llmrt_st_metadata_at(const llmrt_st_file *f, size_t i, const char **key,
                          const char **value);

/* Error unless tensor `name` exists with exactly this shape ("FILE: tensor
 * X has shape [2, 3], expected [3, 2]"). */
int llmrt_st_expect(const llmrt_st_file *f, const char *name, int ndim, const uint64_t *shape);
/* Copy tensor `name` into `dst` as float: F32 as is, F16 and BF16 converted
 * exactly. Error if it is missing, has another dtype, or does not hold
 * exactly `numel` elements. */
int llmrt_st_read_f32(const llmrt_st_file *f, const char *name, float *dst, uint64_t numel);
/* Copy the bytes of tensor `name`, which must have dtype `dtype` and hold
 * exactly `nbytes` bytes. */
int llmrt_st_read_raw(const llmrt_st_file *f, const char *name, llmrt_st_dtype dtype,
                      void *dst, size_t nbytes);

/* Exact widening conversions: llmrt_f16_to_f32(), llmrt_bf16_to_f32() in
 * <llmrt/convert.h>. */

/* ------------------------------------------------------------------ writer */

typedef struct llmrt_st_writer llmrt_st_writer;

int llmrt_st_writer_new(llmrt_st_writer **out);
void llmrt_st_writer_free(llmrt_st_writer *w);
/* Add a tensor. The name and shape are copied; `data` (numel x dtype size
 * bytes) is borrowed until llmrt_st_writer_write() returns. Errors: a name
 * given twice, "__metadata__", more than LLMRT_ST_MAX_DIMS dimensions. */
int llmrt_st_writer_add(llmrt_st_writer *w, const char *name, llmrt_st_dtype dtype, int ndim,
                        const uint64_t *shape, const void *data);
/* Set __metadata__[key] = value (both copied; a second call replaces). */
int llmrt_st_writer_metadata(llmrt_st_writer *w, const char *key, const char *value);
/* Write everything to `path` atomically. The writer can be written again
 * or freed afterwards. */
int llmrt_st_writer_write(llmrt_st_writer *w, const char *path);

#endif
