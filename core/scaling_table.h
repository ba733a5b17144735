/* scaling_table.h — the sweep's results table: one row per finished run,
 * written by `llmrt sweep` and read by `llmrt fit`.
 *
 * Two encodings, chosen by the file name: `.jsonl` is one JSON object per
 * line; anything else is CSV with a header line. Columns / keys:
 *   run, layers, dim, heads, params, budget, steps, tokens, flops, val_loss
 * params N counts every parameter (embeddings included); tokens D =
 * steps x batch x context; flops = 6 N D; budget the grid's nominal C.
 * Reading needs only params, tokens and val_loss (budget, when present,
 * groups the IsoFLOP profiles of the plot); other columns are ignored, so a
 * table from elsewhere can be fitted too. */
#ifndef LLMRT_CORE_SCALING_TABLE_H
#define LLMRT_CORE_SCALING_TABLE_H

#include <stddef.h>

typedef struct llmrt_scaling_row {
    char run[64];
    int layers, dim, heads;
    double params, budget;
    long steps;
    double tokens, flops, val_loss;
} llmrt_scaling_row;

int llmrt_scaling_table_write(const char *path, const llmrt_scaling_row *rows, size_t n);

/* Read every row; *rows is malloc'd (free it). Errors name the file, the
 * line and the column. budget is NAN when the table has none. */
int llmrt_scaling_table_read(const char *path, llmrt_scaling_row **rows, size_t *n);

#endif
