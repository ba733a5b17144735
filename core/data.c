/* data.c — datasets (llm.c token files and raw text) and the batcher (see
 * data.h). */
#define _GNU_SOURCE
#include "data.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

#define HEADER_BYTES (LLMRT_TOKFILE_HEADER_INTS * 4)

struct llmrt_dataset {
    char *path;
    llmrt_data_kind kind;
    void *map;             /* the whole file (NULL for an empty file) */
    size_t map_size;
    const unsigned char *tokens; /* first token */
    unsigned width;        /* bytes per token: 1 (text), 2 or 4 (.bin) */
    uint64_t ntokens;
};

static uint32_t rd_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint32_t token_at(const llmrt_dataset *d, uint64_t i)
{
    const unsigned char *p = d->tokens + i * d->width;
    switch (d->width) {
    case 1: return p[0];
    case 2: return (uint32_t)p[0] | (uint32_t)p[1] << 8;
    default: return rd_le32(p);
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int check_header(llmrt_dataset *d)
{
    const char *path = d->path;
    if (d->map_size < HEADER_BYTES)
        return llmrt_error(LLMRT_ERR_FORMAT,
                           "%s: %zu bytes is shorter than the %d-byte header of an llm.c "
                           "token file (a .bin file must be one; rename text files)",
                           path, d->map_size, HEADER_BYTES);
    const unsigned char *h = d->map;
    uint32_t magic = rd_le32(h), version = rd_le32(h + 4), count = rd_le32(h + 8);
    if (magic != LLMRT_TOKFILE_MAGIC)
        return llmrt_error(LLMRT_ERR_FORMAT,
                           "%s: bad magic %u in the header (expected %d: an llm.c token file)",
                           path, magic, LLMRT_TOKFILE_MAGIC);
    if (version == 1) d->width = 2;
    else if (version == 2) d->width = 4;
    else
        return llmrt_error(LLMRT_ERR_FORMAT,
                           "%s: unsupported version %u (expected 1: uint16 tokens, or 2: "
                           "uint32 tokens)",
                           path, version);
    uint64_t want = HEADER_BYTES + (uint64_t)count * d->width;
    if (want != d->map_size)
        return llmrt_error(LLMRT_ERR_FORMAT,
                           "%s: the header says %u tokens, so the file should be %llu bytes, "
                           "but it is %zu bytes%s",
                           path, count, (unsigned long long)want, d->map_size,
                           want > d->map_size ? " (truncated?)" : "");
    d->tokens = h + HEADER_BYTES;
    d->ntokens = count;
    return LLMRT_OK;
}

static int check_vocab(const llmrt_dataset *d, uint32_t vocab)
{
    uint32_t max = 0;
    for (uint64_t i = 0; i < d->ntokens; i++) {
        uint32_t t = token_at(d, i);
        if (t > max) max = t;
    }
    if (max < vocab) return LLMRT_OK;
    for (uint64_t i = 0; i < d->ntokens; i++) {
        uint32_t t = token_at(d, i);
        if (t < vocab) continue;
        if (d->kind == LLMRT_DATA_TEXT)
            return llmrt_error(LLMRT_ERR_FORMAT,
                               "%s: byte 0x%02x (token %u) at position %llu is outside the "
                               "vocabulary (expected tokens < vocab size %u)",
                               d->path, t, t, (unsigned long long)i, vocab);
        return llmrt_error(LLMRT_ERR_FORMAT,
                           "%s: token %u at position %llu is outside the vocabulary (expected "
                           "tokens < vocab size %u)",
                           d->path, t, (unsigned long long)i, vocab);
    }
    return LLMRT_OK;
}

int llmrt_dataset_open(llmrt_dataset **out, const char *path, uint32_t vocab_size)
{
    *out = NULL;
    if (vocab_size == 0)
        return llmrt_error(LLMRT_ERR_INVALID, "%s: vocab size 0 (expected > 0)", path);
    llmrt_dataset *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(path))) {
        free(d);
        return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", path);
    }
    d->kind = ends_with(path, ".bin") ? LLMRT_DATA_TOKENS : LLMRT_DATA_TEXT;
    int st = LLMRT_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = llmrt_error(LLMRT_ERR_IO, "%s: cannot open the data file: %s", path,
                         strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb)) {
        st = llmrt_error(LLMRT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = llmrt_error(LLMRT_ERR_IO, "%s: not a regular file", path);
        close(fd);
        goto fail;
    }
    d->map_size = (size_t)sb.st_size;
    if (d->map_size > 0) {
        d->map = mmap(NULL, d->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (d->map == MAP_FAILED) {
            d->map = NULL;
            st = llmrt_error(LLMRT_ERR_IO, "%s: cannot map %zu bytes: %s", path, d->map_size,
                             strerror(errno));
            close(fd);
            goto fail;
        }
        madvise(d->map, d->map_size, MADV_WILLNEED);
    }
    close(fd);
    if (d->kind == LLMRT_DATA_TOKENS) {
        if ((st = check_header(d))) goto fail;
    } else {
        d->width = 1;
        d->tokens = d->map;
        d->ntokens = d->map_size;
    }
    if ((st = check_vocab(d, vocab_size))) goto fail;
    *out = d;
    return LLMRT_OK;
fail:
    llmrt_dataset_close(d);
    return st;
}

void llmrt_dataset_close(llmrt_dataset *d)
{
    if (!d) return;
    if (d->map) munmap(d->map, d->map_size);
    free(d->path);
    free(d);
}

const char *llmrt_dataset_path(const llmrt_dataset *d) { return d->path; }
llmrt_data_kind llmrt_dataset_kind(const llmrt_dataset *d) { return d->kind; }
uint64_t llmrt_dataset_ntokens(const llmrt_dataset *d) { return d->ntokens; }
uint32_t llmrt_dataset_token(const llmrt_dataset *d, uint64_t i) { return token_at(d, i); }

void llmrt_dataset_copy(const llmrt_dataset *d, uint64_t start, size_t n, int32_t *dst)
{
    if (d->width == 1) {
        const unsigned char *p = d->tokens + start;
        for (size_t i = 0; i < n; i++) dst[i] = p[i];
    } else {
        for (size_t i = 0; i < n; i++) dst[i] = (int32_t)token_at(d, start + i);
    }
}

/* ------------------------------------------------------------------ batcher */

/* splitmix64: a private generator, so the batch order never changes when
 * some other module's random stream does. */
static uint64_t sm64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), unbiased (Lemire's rejection). */
static uint64_t sm64_below(uint64_t *x, uint64_t n)
{
    uint64_t limit = -n % n;
    for (;;) {
        uint64_t v = sm64(x);
        if (v >= limit) return v % n;
    }
}

struct llmrt_batcher {
    const llmrt_dataset *d;
    llmrt_batcher_opts o;
    uint64_t bt;         /* B*T */
    uint64_t n;          /* batches in the stream */
    uint64_t per_epoch;  /* batches per rank per epoch: n / W */
    uint64_t position;
    uint64_t *perm;      /* the order of epoch perm_epoch (shuffle only) */
    uint64_t perm_epoch;
    int perm_valid;
};

int llmrt_batcher_new(llmrt_batcher **out, const llmrt_dataset *d,
                      const llmrt_batcher_opts *opts)
{
    *out = NULL;
    const llmrt_batcher_opts *o = opts;
    if (o->batch == 0 || o->context == 0)
        return llmrt_error(LLMRT_ERR_INVALID, "%s: batch %zu x context %zu (both must be > 0)",
                           d->path, o->batch, o->context);
    if (o->world <= 0 || o->rank < 0 || o->rank >= o->world)
        return llmrt_error(LLMRT_ERR_INVALID, "%s: rank %d of world size %d is not valid",
                           d->path, o->rank, o->world);
    if (o->batch > UINT64_MAX / o->context)
        return llmrt_error(LLMRT_ERR_INVALID, "%s: batch %zu x context %zu overflows", d->path,
                           o->batch, o->context);
    uint64_t bt = (uint64_t)o->batch * o->context;
    uint64_t n = d->ntokens ? (d->ntokens - 1) / bt : 0;
    if (n == 0)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "%s: %llu tokens is too few for batch %zu x context %zu (needs at "
                           "least %llu)",
                           d->path, (unsigned long long)d->ntokens, o->batch, o->context,
                           (unsigned long long)bt + 1);
    if (n < (uint64_t)o->world)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "%s: %llu tokens make %llu batches of %zu x %zu, too few for %d "
                           "ranks (needs at least %llu tokens: one batch per rank)",
                           d->path, (unsigned long long)d->ntokens, (unsigned long long)n,
                           o->batch, o->context, o->world,
                           (unsigned long long)(bt * (uint64_t)o->world + 1));
    llmrt_batcher *b = calloc(1, sizeof *b);
    if (!b) return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of memory", d->path);
    b->d = d;
    b->o = *o;
    b->bt = bt;
    b->n = n;
    b->per_epoch = n / (uint64_t)o->world;
    if (o->shuffle) {
        if (n > SIZE_MAX / sizeof *b->perm || !(b->perm = malloc(n * sizeof *b->perm))) {
            free(b);
            return llmrt_error(LLMRT_ERR_NOMEM,
                               "%s: out of memory for the shuffle order of %llu batches",
                               d->path, (unsigned long long)n);
        }
    }
    *out = b;
    return LLMRT_OK;
}

void llmrt_batcher_free(llmrt_batcher *b)
{
    if (!b) return;
    free(b->perm);
    free(b);
}

uint64_t llmrt_batcher_nbatches(const llmrt_batcher *b) { return b->n; }
uint64_t llmrt_batcher_per_epoch(const llmrt_batcher *b) { return b->per_epoch; }
uint64_t llmrt_batcher_position(const llmrt_batcher *b) { return b->position; }
uint64_t llmrt_batcher_epoch(const llmrt_batcher *b) { return b->position / b->per_epoch; }
void llmrt_batcher_seek(llmrt_batcher *b, uint64_t position) { b->position = position; }

/* Fisher–Yates over 0..n-1, seeded by (seed, epoch) alone. */
static void make_perm(llmrt_batcher *b, uint64_t epoch)
{
    uint64_t x = b->o.seed;
    x ^= sm64(&x) ^ (epoch * 0xd1342543de82ef95ull);
    uint64_t state = sm64(&x);
    for (uint64_t i = 0; i < b->n; i++) b->perm[i] = i;
    for (uint64_t i = b->n - 1; i > 0; i--) {
        uint64_t j = sm64_below(&state, i + 1);
        uint64_t t = b->perm[i];
        b->perm[i] = b->perm[j];
        b->perm[j] = t;
    }
    b->perm_epoch = epoch;
    b->perm_valid = 1;
}

uint64_t llmrt_batcher_index_at(llmrt_batcher *b, uint64_t position)
{
    uint64_t epoch = position / b->per_epoch, j = position % b->per_epoch;
    uint64_t slot = j * (uint64_t)b->o.world + (uint64_t)b->o.rank;
    if (!b->o.shuffle) return slot;
    if (!b->perm_valid || b->perm_epoch != epoch) make_perm(b, epoch);
    return b->perm[slot];
}

void llmrt_batcher_next(llmrt_batcher *b, int32_t *inputs, int32_t *targets)
{
    uint64_t start = llmrt_batcher_index_at(b, b->position) * b->bt;
    llmrt_dataset_copy(b->d, start, (size_t)b->bt, inputs);
    llmrt_dataset_copy(b->d, start + 1, (size_t)b->bt, targets);
    b->position++;
}
