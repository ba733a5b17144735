/* ckpt_shards.h — sharded checkpoints: one safetensors file per rank plus
 * index.json, re-assembly of full unit vectors (re-sharding, consolidation).
 *
 * A sharded checkpoint directory (docs/formats.md, "Sharded checkpoints"):
 *
 *   step-000120/model.safetensors                  full weights, HF names (rank 0)
 *   step-000120/shard-00001-of-00002.safetensors   rank 0's slices
 *   step-000120/shard-00002-of-00002.safetensors   rank 1's slices
 *   step-000120/index.json                         world size, strategy, units,
 *                                                  tensors, ranges per rank
 *   step-000120/state.json, config.ini,            as for any checkpoint
 *               config.json
 *
 * A shard holds, for every unit u of the model, three 1-D F32 tensors
 * "params.<unit>", "exp_avg.<unit>", "exp_avg_sq.<unit>" (fp32 master
 * parameters, AdamW m and v) with the rank's slice [begin, end) of the
 * unit's flat vector (strategy.h), and the metadata "llmrt.rank",
 * "llmrt.world_size" and "llmrt.range.<unit>" = "begin end". A slice may
 * reach past the unit's numel (padding to the world size); the padding is
 * stored and ignored on reading. Ranges of different ranks may overlap
 * (replicas); together they must cover every unit.
 *
 * Ownership: an index read from a file owns all its strings
 * (llmrt_ckpt_index_free); a shard set borrows its index. */
#ifndef LLMRT_CORE_CKPT_SHARDS_H
#define LLMRT_CORE_CKPT_SHARDS_H

#include <stddef.h>
#include <stdint.h>

#include <llmrt/strategy.h>

#define LLMRT_CKPT_INDEX_FILE "index.json"
#define LLMRT_CKPT_INDEX_FORMAT_VERSION 1
#define LLMRT_CKPT_N_KINDS 3

/* "params", "exp_avg", "exp_avg_sq" for PARAMS, ADAM_M, ADAM_V. */
const char *llmrt_ckpt_kind_name(llmrt_state_kind kind);
/* "shard-00001-of-00004.safetensors" for rank 0 of 4 (1-based, as
 * Hugging Face names sharded files). */
void llmrt_ckpt_shard_file(int rank, int world, char *buf, size_t cap);

typedef struct llmrt_ckpt_tensor_info {
    char *name;          /* HF name, e.g. "transformer.h.0.attn.c_attn.weight" */
    int ndim;            /* 1 or 2 */
    uint64_t shape[2];
    size_t offset, numel; /* in the unit's flat vector */
} llmrt_ckpt_tensor_info;

typedef struct llmrt_ckpt_unit_info {
    char *name;          /* "embedding", "block.0", "head" */
    size_t numel;
    size_t n_tensors;
    llmrt_ckpt_tensor_info *tensors;
} llmrt_ckpt_unit_info;

typedef struct llmrt_ckpt_index {
    uint64_t step;
    int world_size;
    char *strategy;
    size_t n_units;
    llmrt_ckpt_unit_info *units;
    char **files;        /* [world_size]: shard file of each rank, relative */
    size_t *ranges;      /* [world_size][n_units][2]: begin, end */
} llmrt_ckpt_index;

/* ranges[] entry of (rank, unit). */
#define LLMRT_CKPT_RANGE(idx, rank, unit) (&(idx)->ranges[((size_t)(rank) * (idx)->n_units + (unit)) * 2])

/* An empty index for `world` ranks of `n_units` units (names, tensors and
 * ranges zeroed, to be filled by the caller). */
int llmrt_ckpt_index_alloc(llmrt_ckpt_index *idx, int world, size_t n_units);
void llmrt_ckpt_index_free(llmrt_ckpt_index *idx);
int llmrt_ckpt_index_write(const char *path, const llmrt_ckpt_index *idx);
/* Read and validate (every range inside the unit or its padding, the ranges
 * of all ranks covering every unit). Errors name the file and the field. */
int llmrt_ckpt_index_read(const char *path, llmrt_ckpt_index *idx);
/* Fill idx->files and idx->ranges from the shard files in `dir` (each rank's
 * "llmrt.range.<unit>" metadata), for the writer of the index. */
int llmrt_ckpt_index_collect_ranges(llmrt_ckpt_index *idx, const char *dir);

/* The open shard files of a checkpoint. */
typedef struct llmrt_ckpt_shards llmrt_ckpt_shards;

int llmrt_ckpt_shards_open(llmrt_ckpt_shards **out, const char *dir,
                           const llmrt_ckpt_index *idx);
void llmrt_ckpt_shards_close(llmrt_ckpt_shards *s);
/* Rank `rank`'s slice of one kind of one unit: end - begin values. */
int llmrt_ckpt_shards_read_slice(llmrt_ckpt_shards *s, int rank, size_t unit,
                                 llmrt_state_kind kind, float *dst);
/* The unit's full vector (numel values), assembled from every shard. */
int llmrt_ckpt_shards_read_full(llmrt_ckpt_shards *s, size_t unit, llmrt_state_kind kind,
                                float *full);

/* One safetensors file from a checkpoint directory: the weights under their
 * HF names and the optimizer state as "exp_avg.<name>", "exp_avg_sq.<name>",
 * from the shards and index.json, or from model.safetensors and
 * optimizer.safetensors of an unsharded checkpoint. */
int llmrt_ckpt_consolidate(const char *dir, const char *out_path);

/* Write the sharded checkpoint `dir` again for `world` ranks into the new
 * directory `out_dir` (which must not exist): shards with even ranges
 * (ceil(numel / world) values each, none past the unit), index.json, and
 * model.safetensors, state.json, config.ini copied, and config.json
 * (hf_config.h: copied, or made from config.ini when `dir` has none). A run of `world` ranks
 * whose strategy uses those ranges loads its own shard only; any other
 * re-shards on load as usual. state.json keeps the world size of the run
 * that wrote it (its data position is per rank of that run). */
int llmrt_ckpt_reshard(const char *dir, int world, const char *out_dir);

#endif
