/* fileio.c — durable file operations (see fileio.h). */
#define _GNU_SOURCE
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include <llmrt/types.h>

char *llmrt_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    int slash = a > 0 && dir[a - 1] != '/';
    char *p = malloc(a + (size_t)slash + b + 1);
    if (!p) return NULL;
    memcpy(p, dir, a);
    if (slash) p[a] = '/';
    memcpy(p + a + slash, name, b + 1);
    return p;
}

void llmrt_dirname(const char *path, char *buf, size_t cap)
{
    if (!cap) return;
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(buf, cap, ".");
        return;
    }
    size_t n = (size_t)(slash - path);
    while (n > 0 && path[n - 1] == '/') n--; /* "a//b" */
    if (n == 0) {
        snprintf(buf, cap, "/");
        return;
    }
    if (n >= cap) n = cap - 1;
    memcpy(buf, path, n);
    buf[n] = '\0';
}

int llmrt_write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int llmrt_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return llmrt_error(LLMRT_ERR_IO, "%s: cannot open to fsync: %s", path, strerror(errno));
    int r = fsync(fd);
    int e = errno;
    close(fd);
    /* Some file systems do not fsync directories; that is no error. */
    if (r && e != EINVAL && e != EROFS)
        return llmrt_error(LLMRT_ERR_IO, "%s: fsync failed: %s", path, strerror(e));
    return LLMRT_OK;
}

int llmrt_fsync_parent(const char *path)
{
    char dir[4096];
    llmrt_dirname(path, dir, sizeof dir);
    return llmrt_fsync_path(dir);
}

int llmrt_mkdir_p(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return llmrt_error(LLMRT_ERR_INVALID, "%s: bad directory name", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char save = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) && errno != EEXIST)
            return llmrt_error(LLMRT_ERR_IO, "%s: cannot create directory %s: %s", dir, buf,
                               strerror(errno));
        buf[i] = save;
    }
    struct stat sb;
    if (stat(dir, &sb) || !S_ISDIR(sb.st_mode))
        return llmrt_error(LLMRT_ERR_IO, "%s: exists and is not a directory", dir);
    return LLMRT_OK;
}

static int rm_at(int at, const char *name, const char *shown)
{
    struct stat sb;
    if (fstatat(at, name, &sb, AT_SYMLINK_NOFOLLOW)) {
        if (errno == ENOENT) return LLMRT_OK;
        return llmrt_error(LLMRT_ERR_IO, "%s: cannot stat: %s", shown, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode)) {
        int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return llmrt_error(LLMRT_ERR_IO, "%s: cannot open: %s", shown, strerror(errno));
        DIR *d = fdopendir(fd);
        if (!d) {
            close(fd);
            return llmrt_error(LLMRT_ERR_IO, "%s: cannot read: %s", shown, strerror(errno));
        }
        int st = LLMRT_OK;
        struct dirent *de;
        while (!st && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            st = rm_at(dirfd(d), de->d_name, shown);
        }
        closedir(d);
        if (st) return st;
        if (unlinkat(at, name, AT_REMOVEDIR) && errno != ENOENT)
            return llmrt_error(LLMRT_ERR_IO, "%s: cannot remove: %s", shown, strerror(errno));
        return LLMRT_OK;
    }
    if (unlinkat(at, name, 0) && errno != ENOENT)
        return llmrt_error(LLMRT_ERR_IO, "%s: cannot remove: %s", shown, strerror(errno));
    return LLMRT_OK;
}

int llmrt_rm_rf(const char *path) { return rm_at(AT_FDCWD, path, path); }

int llmrt_atomic_open(llmrt_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    af->path = strdup(path);
    af->tmp = malloc(strlen(path) + 5);
    if (!af->path || !af->tmp) {
        free(af->path);
        free(af->tmp);
        return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", path);
    }
    sprintf(af->tmp, "%s.tmp", path);
    af->f = fopen(af->tmp, "wbe");
    if (!af->f) {
        int e = errno;
        free(af->path);
        free(af->tmp);
        memset(af, 0, sizeof *af);
        return llmrt_error(LLMRT_ERR_IO, "%s.tmp: cannot create: %s", path, strerror(e));
    }
    return LLMRT_OK;
}

static void af_release(llmrt_atomic_file *af)
{
    free(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
}

void llmrt_atomic_abort(llmrt_atomic_file *af)
{
    if (af->f) fclose(af->f);
    if (af->tmp) unlink(af->tmp);
    af_release(af);
}

int llmrt_atomic_commit(llmrt_atomic_file *af)
{
    int bad = ferror(af->f) != 0;
    int e = bad ? EIO : 0;
    if (!bad && fflush(af->f)) bad = 1, e = errno;
    if (!bad && fsync(fileno(af->f))) bad = 1, e = errno;
    if (fclose(af->f) && !bad) bad = 1, e = errno;
    af->f = NULL;
    if (bad) {
        int st = llmrt_error(LLMRT_ERR_IO, "%s: write failed: %s", af->tmp, strerror(e));
        unlink(af->tmp);
        af_release(af);
        return st;
    }
    if (rename(af->tmp, af->path)) {
        e = errno;
        int st = llmrt_error(LLMRT_ERR_IO, "%s: cannot rename %s into place: %s", af->path,
                             af->tmp, strerror(e));
        unlink(af->tmp);
        af_release(af);
        return st;
    }
    int st = llmrt_fsync_parent(af->path);
    af_release(af);
    return st;
}

int llmrt_write_file_atomic(const char *path, const void *data, size_t n)
{
    llmrt_atomic_file af;
    int st = llmrt_atomic_open(&af, path);
    if (st) return st;
    if (n && fwrite(data, 1, n, af.f) != n) {
        int e = errno;
        llmrt_atomic_abort(&af);
        return llmrt_error(LLMRT_ERR_IO, "%s.tmp: write failed: %s", path, strerror(e));
    }
    return llmrt_atomic_commit(&af);
}
