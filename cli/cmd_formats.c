/* cmd_formats.c — `llmrt formats`: every number format the registry knows
 * (fp32 built in, the others from format plugins), one row each, read from
 * the descriptors themselves. A format plugin file that fails to load is
 * listed with its error, as `llmrt plugins` does. A diagnostic: it exits 0
 * whatever it finds, 2 on bad usage. */
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/format.h>
#include <llmrt/plugin.h>
#include "commands.h"
#include "error.h"
#include "registry.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: llmrt formats [--plugin-path DIRS] [--help]\n"
            "\n"
            "Print every number format llmrt can use (fp32 is built in; the others come\n"
            "from format plugins such as llmrt-format-quant.so), from its descriptor:\n"
            "  BITS             bits per value\n"
            "  EXP/FRAC         exponent/stored fraction bits, or \"integer\"\n"
            "  BYTES            storage bytes per value\n"
            "  BLOCK/SCALE      the scale a value needs (int8: fp32 per channel or tensor)\n"
            "  LOSS SCALING     whether fp16-style dynamic loss scaling is needed\n"
            "  LARGEST FINITE, SMALLEST NORMAL, EPSILON (distance from 1 to the next value)\n"
            "  DIGITS           decimal digits of precision, log10(2^(fraction bits + 1))\n"
            "                   (integers: log10 of the number of levels)\n"
            "  MASTERS          whether the optimizer keeps fp32 master weights\n"
            "  STOCHASTIC       whether encode accepts stochastic rounding\n"
            "Rounding rules: docs/formats.md and sdk/llmrt/convert.h.\n"
            "\n"
            "  --plugin-path DIRS  search DIRS first (then LLMRT_PLUGIN_PATH, then %s)\n"
            "  --help              this text\n",
            llmrt_registry_installed_dir());
}

enum { COL_NAME, COL_BITS, COL_EXPFRAC, COL_BYTES, COL_BLOCK, COL_LOSS, COL_MAX, COL_MIN,
       COL_EPS, COL_DIGITS, COL_MASTERS, COL_SR, COL_SOURCE, N_COLS };

static const char *const headers[N_COLS] = {
    "FORMAT", "BITS", "EXP/FRAC", "BYTES", "BLOCK/SCALE", "LOSS SCALING", "LARGEST FINITE",
    "SMALLEST NORMAL", "EPSILON", "DIGITS", "MASTERS", "STOCHASTIC", "SOURCE"};

typedef struct row {
    char cell[N_COLS][160];
    const char *error; /* a file that failed: printed after the name */
} row;

/* True when the descriptor, as its author compiled it, has `member`. */
#define FORMAT_HAS(f, member)                                                              \
    ((f)->struct_size >= offsetof(llmrt_format, member) + sizeof((f)->member))

static void describe(row *r, const llmrt_format *f, const char *file)
{
    snprintf(r->cell[COL_NAME], sizeof r->cell[0], "%s", f->name);
    for (char *c = r->cell[COL_NAME]; *c; c++) *c = (char)toupper((unsigned char)*c);
    snprintf(r->cell[COL_BITS], sizeof r->cell[0], "%d", f->bits);
    if (f->is_integer)
        snprintf(r->cell[COL_EXPFRAC], sizeof r->cell[0], "integer");
    else
        snprintf(r->cell[COL_EXPFRAC], sizeof r->cell[0], "%d/%d", f->exponent_bits,
                 f->fraction_bits);
    int has_matrix = FORMAT_HAS(f, encode_matrix) && f->encode_matrix;
    if (f->block_size > 0) {
        /* The value's bits plus its share of one fp32 scale per block. */
        double bytes = f->bits / 8.0 + 4.0 / (double)f->block_size;
        snprintf(r->cell[COL_BYTES], sizeof r->cell[0], "%.4g bytes", bytes);
        snprintf(r->cell[COL_BLOCK], sizeof r->cell[0], "fp32 scale per %zu values",
                 f->block_size);
    } else {
        size_t bytes = llmrt_dtype_size(f->storage);
        snprintf(r->cell[COL_BYTES], sizeof r->cell[0], "%zu byte%s", bytes,
                 bytes == 1 ? "" : "s");
        snprintf(r->cell[COL_BLOCK], sizeof r->cell[0], "%s",
                 !f->is_integer ? "none"
                 : has_matrix   ? "fp32 scale per channel or tensor"
                                : "fp32 scale per tensor");
    }
    snprintf(r->cell[COL_LOSS], sizeof r->cell[0], "%s", f->needs_loss_scaling ? "yes" : "no");
    snprintf(r->cell[COL_MAX], sizeof r->cell[0], "%g", f->max_finite);
    snprintf(r->cell[COL_MIN], sizeof r->cell[0], "%g", f->min_normal);
    snprintf(r->cell[COL_EPS], sizeof r->cell[0], "%g", f->epsilon);
    int qmin = FORMAT_HAS(f, qmin) ? f->qmin : 0, qmax = FORMAT_HAS(f, qmax) ? f->qmax : 0;
    double digits = f->is_integer && qmax > qmin ? log10((double)qmax - qmin + 1.0)
                                                 : (f->fraction_bits + 1) * log10(2.0);
    snprintf(r->cell[COL_DIGITS], sizeof r->cell[0], "%.2f", digits);
    snprintf(r->cell[COL_MASTERS], sizeof r->cell[0], "%s", f->needs_master_weights ? "yes" : "no");
    int sr = FORMAT_HAS(f, stochastic_rounding) && f->stochastic_rounding;
    snprintf(r->cell[COL_SR], sizeof r->cell[0], "%s", sr ? "yes" : "no");
    snprintf(r->cell[COL_SOURCE], sizeof r->cell[0], "%s", file ? file : "(built in)");
}

int llmrt_cmd_formats(int argc, char **argv)
{
    const char *plugin_path = NULL;
    int rc = llmrt_cli_plugin_path_args("formats", argc, argv, usage, &plugin_path);
    if (rc) return rc < 0 ? 0 : rc;

    if (llmrt_registry_init_with_origin(plugin_path, "--plugin-path") ||
        llmrt_registry_add_core_builtins()) {
        fprintf(stderr, "llmrt: formats: %s\n", llmrt_last_error());
        return 1;
    }
    llmrt_registry_entry *e = NULL;
    size_t n = 0;
    if (llmrt_registry_list(&e, &n)) {
        fprintf(stderr, "llmrt: formats: %s\n", llmrt_last_error());
        return 1;
    }
    row *rows = calloc(n + 1, sizeof *rows);
    if (!rows) {
        free(e);
        fprintf(stderr, "llmrt: formats: out of memory\n");
        return 1;
    }
    for (int c = 0; c < N_COLS; c++) snprintf(rows[0].cell[c], sizeof rows[0].cell[c], "%s", headers[c]);
    size_t n_rows = 1, n_bad = 0;
    for (size_t i = 0; i < n; i++) {
        const llmrt_registry_entry *x = &e[i];
        if (x->kind != LLMRT_KIND_FORMAT || x->status == LLMRT_LOAD_SHADOWED) continue;
        row *r = &rows[n_rows];
        const llmrt_component *comp = NULL;
        const char *file = NULL;
        if (x->status == LLMRT_LOAD_OK && x->name &&
            llmrt_registry_find(LLMRT_KIND_FORMAT, x->name, &comp, &file) == LLMRT_OK) {
            describe(r, comp->vtable, file);
        } else {
            /* The file (or the component) cannot be used: say why. */
            snprintf(r->cell[COL_NAME], sizeof r->cell[0], "%s",
                     x->name ? x->name : x->plugin ? x->plugin : "?");
            for (char *c = r->cell[COL_NAME]; *c; c++) *c = (char)toupper((unsigned char)*c);
            snprintf(r->cell[COL_SOURCE], sizeof r->cell[0], "%s", x->file ? x->file : "(built in)");
            r->error = x->status == LLMRT_LOAD_OK ? llmrt_last_error() : x->reason;
            if (!r->error) r->error = "cannot be used";
            n_bad++;
        }
        n_rows++;
    }

    size_t width[N_COLS] = {0};
    for (size_t i = 0; i < n_rows; i++)
        for (int c = 0; c < N_COLS; c++)
            if (!rows[i].error || c == COL_NAME) {
                size_t w = strlen(rows[i].cell[c]);
                if (w > width[c]) width[c] = w;
            }
    for (size_t i = 0; i < n_rows; i++) {
        const row *r = &rows[i];
        if (r->error) {
            printf("%-*s  error: %s (%s)\n", (int)width[COL_NAME], r->cell[COL_NAME], r->error,
                   r->cell[COL_SOURCE]);
            continue;
        }
        for (int c = 0; c < N_COLS; c++) {
            if (c == N_COLS - 1) printf("%s\n", r->cell[c]);
            else printf("%-*s  ", (int)width[c], r->cell[c]);
        }
    }
    printf("\n%zu format%s", n_rows - 1 - n_bad, n_rows - 1 - n_bad == 1 ? "" : "s");
    if (n_bad) printf(", %zu plugin file%s that cannot be used", n_bad, n_bad == 1 ? "" : "s");
    printf(" (rounding rules: docs/formats.md, sdk/llmrt/convert.h)\n");
    free(rows);
    free(e);
    return 0;
}
