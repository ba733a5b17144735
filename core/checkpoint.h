/* checkpoint.h — checkpoint directories: durable, atomic, resumable.
 *
 * Layout of an output directory (docs/formats.md):
 *
 *   OUT/step-000120/model.safetensors      the weights (written by the caller)
 *   OUT/step-000120/optimizer.safetensors  AdamW state: "exp_avg.<name>" (m)
 *                                          and "exp_avg_sq.<name>" (v)
 *   OUT/step-000120/state.json             llmrt_ckpt_state (step, Adam t, RNG,
 *                                          data position, losses, config)
 *   OUT/step-000120/shard-0000R-of-0000N.safetensors, index.json
 *                                          instead of optimizer.safetensors when
 *                                          the state is sharded (ckpt_shards.h)
 *   OUT/latest                             "step-000120\n"
 *   OUT/.step-000130.tmp-4242/             a checkpoint being written
 *
 * This layer knows nothing of the model: the caller writes whatever files it
 * wants into the transaction's directory (with the safetensors writer and
 * llmrt_ckpt_write_state()), then commits.
 *
 * Crash safety. A checkpoint is built in a hidden temporary directory; commit
 * fsyncs every file in it and the directory itself, renames it to step-N
 * (an existing step-N is swapped out atomically and removed afterwards),
 * fsyncs OUT, then replaces `latest` atomically. A crash at any point leaves
 * every previously committed checkpoint intact and loadable, and `latest`
 * naming a complete one. Leftover temporary directories are ignored by
 * llmrt_ckpt_find_latest() and removed by the next successful commit.
 *
 * A checkpoint is complete when its step-N directory exists and holds
 * state.json (commit refuses a directory without one). */
#ifndef LLMRT_CORE_CHECKPOINT_H
#define LLMRT_CORE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#define LLMRT_CKPT_FORMAT_VERSION 1
#define LLMRT_CKPT_MODEL_FILE "model.safetensors"
#define LLMRT_CKPT_OPTIMIZER_FILE "optimizer.safetensors"
#define LLMRT_CKPT_STATE_FILE "state.json"
#define LLMRT_CKPT_LATEST_FILE "latest"
/* Optimizer tensors are these prefixes + the parameter's name. */
#define LLMRT_CKPT_EXP_AVG_PREFIX "exp_avg."
#define LLMRT_CKPT_EXP_AVG_SQ_PREFIX "exp_avg_sq."
/* Mixed precision: the fp32 master parameters, beside m and v (model.safetensors
 * holds the parameters the model computes with, widened to fp32). */
#define LLMRT_CKPT_MASTER_PREFIX "master."

/* ------------------------------------------------------------------ state.json */

typedef struct llmrt_ckpt_state {
    uint32_t format_version; /* read: the file's; written: always LLMRT_CKPT_FORMAT_VERSION */
    uint64_t step;           /* optimizer steps completed */
    uint64_t adam_t;         /* AdamW's step count (bias correction) */
    uint64_t rng[4];         /* the core RNG state (llmrt_rng), exact */
    uint64_t data_position;  /* the train batcher's position (batches read per rank) */
    uint32_t world_size;     /* ranks of the run that wrote it */
    uint64_t tokens_seen;    /* training tokens consumed, all ranks */
    double elapsed_s;        /* training wall time so far */
    double loss_scale;       /* dynamic loss scale (fp16); 1 when unused */
    double best_val_loss;    /* NAN: none yet */
    double last_val_loss;    /* NAN: none yet */
    char *config;            /* effective configuration as INI text, or NULL; owned
                              * after a read (llmrt_ckpt_state_free), borrowed
                              * for a write */
} llmrt_ckpt_state;

/* A state with every field at its "nothing yet" value. */
void llmrt_ckpt_state_init(llmrt_ckpt_state *s);
void llmrt_ckpt_state_free(llmrt_ckpt_state *s);
/* Write `s` as JSON to `path`, atomically. */
int llmrt_ckpt_write_state(const char *path, const llmrt_ckpt_state *s);
/* Read and validate; errors name the file and the field. */
int llmrt_ckpt_read_state(const char *path, llmrt_ckpt_state *s);
/* Read CKPT_DIR/state.json, and check that its step matches the directory's
 * name when that is step-N. */
int llmrt_ckpt_load_state(const char *ckpt_dir, llmrt_ckpt_state *s);

/* ------------------------------------------------------------------ writing */

typedef struct llmrt_ckpt_txn llmrt_ckpt_txn;

/* Create OUT (and parents) if needed and the temporary directory
 * OUT/.step-NNNNNN.tmp-PID. */
int llmrt_ckpt_begin(llmrt_ckpt_txn **out, const char *out_dir, uint64_t step);
/* The same with `tag` in place of the PID, so that several processes (the
 * ranks of a job, agreeing on the tag) can write into one directory; all but
 * one of them then drop their handle with llmrt_ckpt_release(). */
int llmrt_ckpt_begin_tagged(llmrt_ckpt_txn **out, const char *out_dir, uint64_t step,
                            unsigned long tag);
/* The temporary directory, and a malloc'd "DIR/file" inside it. */
const char *llmrt_ckpt_txn_dir(const llmrt_ckpt_txn *t);
char *llmrt_ckpt_txn_path(const llmrt_ckpt_txn *t, const char *file);
/* Publish the checkpoint as OUT/step-NNNNNN and point `latest` at it, then
 * remove stale temporary directories. Consumes `t`, success or not. On
 * success `*final_dir` (if not NULL) receives the malloc'd directory path. */
int llmrt_ckpt_commit(llmrt_ckpt_txn *t, char **final_dir);
/* Remove the temporary directory and free `t`. */
void llmrt_ckpt_abort(llmrt_ckpt_txn *t);
/* Free `t` and leave the directory alone (a rank that does not commit). */
void llmrt_ckpt_release(llmrt_ckpt_txn *t);

/* ------------------------------------------------------------------ finding */

/* "step-000120" for step 120 (at least 6 digits). */
void llmrt_ckpt_dir_name(uint64_t step, char *buf, size_t cap);
/* The newest complete checkpoint in `out_dir`: the one `latest` names, if
 * it is complete; otherwise the complete step-N directory with the largest
 * N. Sets *dir (malloc'd path) and *step; *dir = NULL when there is none
 * (not an error: a fresh run). A missing `out_dir` has none. */
int llmrt_ckpt_find_latest(const char *out_dir, char **dir, uint64_t *step);
/* Remove all but the `keep` (>= 1) newest complete checkpoints, never the
 * one `latest` names. */
int llmrt_ckpt_prune(const char *out_dir, unsigned keep);

#endif
