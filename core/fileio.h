/* fileio.h — durable file operations: atomic replacement of a file, fsync of
 * files and directories, mkdir -p, rm -r.
 *
 * An atomic write goes to "PATH.tmp", is flushed and fsynced, renamed over
 * PATH, and the directory holding PATH is fsynced, so that after a crash PATH
 * holds either its old content or the new one, never a mixture. Errors are
 * recorded with llmrt_error() and name the path. */
#ifndef LLMRT_CORE_FILEIO_H
#define LLMRT_CORE_FILEIO_H

#include <stddef.h>
#include <stdio.h>

typedef struct llmrt_atomic_file {
    FILE *f;        /* write here */
    char *path;     /* the final name */
    char *tmp;      /* PATH.tmp */
} llmrt_atomic_file;

/* Open PATH.tmp for writing (truncating a stale one). */
int llmrt_atomic_open(llmrt_atomic_file *af, const char *path);
/* Flush, fsync, close, rename to PATH and fsync its directory. On failure
 * the temporary file is removed and PATH is unchanged. Frees `af` either way. */
int llmrt_atomic_commit(llmrt_atomic_file *af);
/* Close and remove the temporary file; PATH is unchanged. */
void llmrt_atomic_abort(llmrt_atomic_file *af);
/* Write `n` bytes as the whole new content of `path`, atomically. */
int llmrt_write_file_atomic(const char *path, const void *data, size_t n);

/* Write all `n` bytes to `fd` (retrying short writes); 0 or -1 with errno. */
int llmrt_write_all(int fd, const void *data, size_t n);
/* fsync an existing file or directory. */
int llmrt_fsync_path(const char *path);
/* fsync the directory that holds `path` ("." for a bare name). */
int llmrt_fsync_parent(const char *path);
/* Create `dir` and its missing parents (mode 0777 & ~umask). */
int llmrt_mkdir_p(const char *dir);
/* Remove `path` and, for a directory, everything below it (no symlinks
 * followed). A missing path is not an error. */
int llmrt_rm_rf(const char *path);

/* The directory part of `path` ("." when it has none), in `buf`. */
void llmrt_dirname(const char *path, char *buf, size_t cap);
/* "dir/name" in a fresh malloc'd string (NULL on out of memory). */
char *llmrt_path_join(const char *dir, const char *name);

#endif
