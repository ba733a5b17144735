/* data.h — training data: a token stream read from a file, and the batcher
 * that cuts it into (inputs, targets) batches.
 *
 * Formats (docs/formats.md):
 *  - `*.bin`: an llm.c token file. A header of 256 little-endian int32
 *    (magic 20240520, version, token count, the rest unused), then the
 *    tokens: uint16 for version 1 (GPT-2), uint32 for version 2 (llm.c's
 *    LLaMA-3 files). Memory-mapped, never copied.
 *  - anything else: raw text read as bytes by the byte-level tokenizer
 *    (token = byte value 0..255, see tokenizer.h).
 * Every token is checked against the vocabulary when the file is opened.
 *
 * Batches follow llm.c: batch i of the stream is the B*T+1 tokens starting at
 * token i*B*T; its inputs are the first B*T of them and its targets the same
 * shifted by one, both as B rows of T. The stream holds n = (ntokens-1)/(B*T)
 * batches. In every epoch each of W ranks takes m = n/W of them (the n % W
 * left over are not used): rank r's j-th batch of an epoch is slot j*W + r of
 * the epoch's order, which is 0..n-1 or, with shuffle, a permutation drawn
 * from (seed, epoch) that every rank computes alike. Ranks never share a
 * batch within an epoch.
 *
 * The batcher's whole state is its position: the number of batches this rank
 * has consumed. A checkpoint stores it; llmrt_batcher_seek() restores it
 * exactly.
 *
 * Ownership: a batcher borrows its dataset, which must outlive it. Neither
 * is thread-safe; use one per thread. */
#ifndef LLMRT_CORE_DATA_H
#define LLMRT_CORE_DATA_H

#include <stddef.h>
#include <stdint.h>

/* llm.c token file header. */
#define LLMRT_TOKFILE_MAGIC 20240520
#define LLMRT_TOKFILE_HEADER_INTS 256

typedef enum llmrt_data_kind {
    LLMRT_DATA_TEXT = 0,   /* raw bytes, byte-level tokens */
    LLMRT_DATA_TOKENS = 1, /* an llm.c .bin file */
} llmrt_data_kind;

typedef struct llmrt_dataset llmrt_dataset;

/* Open `path` and check every token against `vocab_size` (> 0). Errors name
 * the file and what was expected against what was found. */
int llmrt_dataset_open(llmrt_dataset **out, const char *path, uint32_t vocab_size);
void llmrt_dataset_close(llmrt_dataset *d);

const char *llmrt_dataset_path(const llmrt_dataset *d);
llmrt_data_kind llmrt_dataset_kind(const llmrt_dataset *d);
uint64_t llmrt_dataset_ntokens(const llmrt_dataset *d);
/* Token `i` (< ntokens). */
uint32_t llmrt_dataset_token(const llmrt_dataset *d, uint64_t i);
/* Copy tokens [start, start+n) into `dst`; the range must lie in the file. */
void llmrt_dataset_copy(const llmrt_dataset *d, uint64_t start, size_t n, int32_t *dst);

typedef struct llmrt_batcher llmrt_batcher;

typedef struct llmrt_batcher_opts {
    size_t batch;     /* B: rows per batch (> 0) */
    size_t context;   /* T: tokens per row (> 0) */
    int rank, world;  /* this rank and the number of ranks (world > 0) */
    int shuffle;      /* permute the batch order every epoch */
    uint64_t seed;    /* the permutation's seed (same on every rank) */
} llmrt_batcher_opts;

/* Errors when the stream is too short for one batch ("FILE: N tokens is too
 * few for batch B x context T (needs at least B*T+1)") or for one batch per
 * rank. */
int llmrt_batcher_new(llmrt_batcher **out, const llmrt_dataset *d,
                      const llmrt_batcher_opts *opts);
void llmrt_batcher_free(llmrt_batcher *b);

/* Batches in the whole stream (n) and those this rank takes per epoch (n/W). */
uint64_t llmrt_batcher_nbatches(const llmrt_batcher *b);
uint64_t llmrt_batcher_per_epoch(const llmrt_batcher *b);

/* Fill `inputs` and `targets` (B*T int32 each, row-major [B][T]) with the
 * batch at the current position and advance by one. Never fails once the
 * batcher exists: past the last batch of an epoch it starts the next. */
void llmrt_batcher_next(llmrt_batcher *b, int32_t *inputs, int32_t *targets);

/* Batches consumed by this rank; the epoch is position / per_epoch. */
uint64_t llmrt_batcher_position(const llmrt_batcher *b);
uint64_t llmrt_batcher_epoch(const llmrt_batcher *b);
/* Continue from `position` exactly as if that many batches had been read. */
void llmrt_batcher_seek(llmrt_batcher *b, uint64_t position);
/* Which batch of the stream (0..n-1) this rank reads at `position`; batch i
 * starts at token i*B*T. */
uint64_t llmrt_batcher_index_at(llmrt_batcher *b, uint64_t position);

#endif
