/* cmd_ckpt.c — `llmrt ckpt inspect|consolidate`: what a checkpoint holds, and
 * one safetensors file from a sharded one. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "ckpt_shards.h"
#include "commands.h"
#include "error.h"
#include "fileio.h"
#include "safetensors.h"

static const char usage[] =
    "usage: llmrt ckpt inspect DIR\n"
    "       llmrt ckpt consolidate DIR [-o FILE]\n"
    "       llmrt ckpt reshard DIR --world N -o OUTDIR\n"
    "\n"
    "DIR is a step-NNNNNN checkpoint directory or an output directory (its latest\n"
    "checkpoint).\n"
    "  inspect      step, world size, strategy, units and tensors with shapes and\n"
    "               the range each rank holds, files and sizes\n"
    "  consolidate  one safetensors file with the weights (Hugging Face names) and\n"
    "               the AdamW state (exp_avg.<name>, exp_avg_sq.<name>), assembled\n"
    "               from the shards; FILE defaults to DIR/consolidated.safetensors\n"
    "  reshard      the sharded checkpoint again for N ranks (even ranges), as a\n"
    "               new checkpoint directory OUTDIR; training also re-shards on load\n";

static int file_exists(const char *dir, const char *name)
{
    char *p = llmrt_path_join(dir, name);
    struct stat st;
    int ok = p && stat(p, &st) == 0;
    free(p);
    return ok;
}

static void print_shape(int ndim, const uint64_t *shape)
{
    printf("[");
    for (int d = 0; d < ndim; d++) printf("%s%llu", d ? ", " : "", (unsigned long long)shape[d]);
    printf("]");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 256)
        if (de->d_name[0] != '.') names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    printf("files:\n");
    for (size_t i = 0; i < n; i++) {
        if (!names[i]) continue;
        char *p = llmrt_path_join(dir, names[i]);
        struct stat st;
        if (p && stat(p, &st) == 0) printf("  %-40s %12lld bytes\n", names[i], (long long)st.st_size);
        free(p);
        free(names[i]);
    }
}

static int inspect_sharded(const char *dir)
{
    char *path = llmrt_path_join(dir, LLMRT_CKPT_INDEX_FILE);
    llmrt_ckpt_index idx;
    int rc = path ? llmrt_ckpt_index_read(path, &idx) : llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    free(path);
    if (rc) return rc;
    printf("sharded: world size %d, strategy %s, %zu units\n", idx.world_size, idx.strategy,
           idx.n_units);
    for (size_t u = 0; u < idx.n_units; u++) {
        const llmrt_ckpt_unit_info *ui = &idx.units[u];
        printf("unit %s: %zu values; ranges:", ui->name, ui->numel);
        for (int r = 0; r < idx.world_size; r++) {
            const size_t *rg = LLMRT_CKPT_RANGE(&idx, r, u);
            printf(" rank %d [%zu, %zu)", r, rg[0], rg[1]);
        }
        printf("\n");
        for (size_t t = 0; t < ui->n_tensors; t++) {
            printf("  %-44s ", ui->tensors[t].name);
            print_shape(ui->tensors[t].ndim, ui->tensors[t].shape);
            printf(" at %zu\n", ui->tensors[t].offset);
        }
    }
    for (int r = 0; r < idx.world_size; r++) printf("rank %d: %s\n", r, idx.files[r]);
    llmrt_ckpt_index_free(&idx);
    return LLMRT_OK;
}

static int inspect_plain(const char *dir)
{
    char *path = llmrt_path_join(dir, LLMRT_CKPT_MODEL_FILE);
    llmrt_st_file *f;
    int rc = path ? llmrt_st_open(&f, path) : llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    free(path);
    if (rc) return rc;
    int has_opt = file_exists(dir, LLMRT_CKPT_OPTIMIZER_FILE);
    printf("unsharded: every rank held whole units; %s%s\n", LLMRT_CKPT_MODEL_FILE,
           has_opt ? " and " LLMRT_CKPT_OPTIMIZER_FILE : " (no optimizer state)");
    for (size_t i = 0; i < llmrt_st_count(f); i++) {
        const llmrt_st_tensor *t = llmrt_st_tensor_at(f, i);
        printf("  %-44s %s ", t->name, llmrt_st_dtype_name(t->dtype));
        print_shape(t->ndim, t->shape);
        printf("\n");
    }
    llmrt_st_close(f);
    return LLMRT_OK;
}

static int inspect(const char *dir)
{
    llmrt_ckpt_state st;
    int rc = llmrt_ckpt_load_state(dir, &st);
    if (rc) return rc;
    printf("checkpoint %s\nstep %llu (adam_t %llu), written by %u rank%s, %llu tokens seen\n",
           dir, (unsigned long long)st.step, (unsigned long long)st.adam_t, st.world_size,
           st.world_size == 1 ? "" : "s", (unsigned long long)st.tokens_seen);
    llmrt_ckpt_state_free(&st);
    rc = file_exists(dir, LLMRT_CKPT_INDEX_FILE) ? inspect_sharded(dir) : inspect_plain(dir);
    if (!rc) print_files(dir);
    return rc;
}

int llmrt_cmd_ckpt(int argc, char **argv)
{
    const char *sub = NULL, *path = NULL, *out = NULL, *world_s = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (++i == argc) {
                fprintf(stderr, "llmrt ckpt: option '-o' needs a value\n");
                return 2;
            }
            out = argv[i];
        } else if (!strcmp(argv[i], "--world")) {
            if (++i == argc) {
                fprintf(stderr, "llmrt ckpt: option '--world' needs a value\n");
                return 2;
            }
            world_s = argv[i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "llmrt ckpt: unknown option '%s' (see llmrt ckpt --help)\n", argv[i]);
            return 2;
        } else if (!sub) sub = argv[i];
        else if (!path) path = argv[i];
        else {
            fprintf(stderr, "llmrt ckpt: unexpected argument '%s' (see llmrt ckpt --help)\n",
                    argv[i]);
            return 2;
        }
    }
    if (!sub || (strcmp(sub, "inspect") && strcmp(sub, "consolidate") && strcmp(sub, "reshard"))) {
        fprintf(stderr, "llmrt ckpt: expected a subcommand: inspect, consolidate or reshard "
                        "(see llmrt ckpt --help)\n");
        return 2;
    }
    if (!path) {
        fprintf(stderr, "llmrt ckpt %s: no checkpoint directory given\n", sub);
        return 2;
    }
    if (out && !strcmp(sub, "inspect")) {
        fprintf(stderr, "llmrt ckpt inspect: -o applies to consolidate and reshard only\n");
        return 2;
    }
    long world = 0;
    if (!strcmp(sub, "reshard")) {
        char *end = NULL;
        if (world_s) world = strtol(world_s, &end, 10);
        if (!world_s || *end || world < 1 || world > (1L << 24) || !out) {
            fprintf(stderr, "llmrt ckpt reshard: needs --world N (1 or more) and -o OUTDIR\n");
            return 2;
        }
    } else if (world_s) {
        fprintf(stderr, "llmrt ckpt %s: --world applies to reshard only\n", sub);
        return 2;
    }
    char *dir = NULL;
    if (llmrt_find_checkpoint(NULL, path, &dir)) return llmrt_cli_fail();
    int rc;
    if (!strcmp(sub, "inspect")) {
        rc = inspect(dir);
    } else if (!strcmp(sub, "reshard")) {
        rc = llmrt_ckpt_reshard(dir, (int)world, out);
        if (!rc) printf("%s\n", out);
    } else {
        char *def = out ? NULL : llmrt_path_join(dir, "consolidated.safetensors");
        rc = llmrt_ckpt_consolidate(dir, out ? out : def);
        if (!rc) printf("%s\n", out ? out : def);
        free(def);
    }
    free(dir);
    return rc ? llmrt_cli_fail() : 0;
}
