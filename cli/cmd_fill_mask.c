/* cmd_fill_mask.c — `llmrt fill-mask`: fill the [MASK] tokens of a prompt
 * with a bert checkpoint's most likely bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#include "mlm.h"
#include "tokenizer.h"
#include "train.h"

static const char usage[] =
    "usage: llmrt fill-mask [CONFIG] [--checkpoint DIR] --prompt TEXT\n"
    "                       [--set section.key=value]...\n"
    "\n"
    "TEXT is UTF-8 in which each \"[MASK]\" stands for one unknown byte (write\n"
    "several for several bytes). The model ([model] arch = bert) reads the whole\n"
    "prompt at once and each mask is replaced by its most likely byte; prints\n"
    "the filled text, then one line per mask with its position and the byte.\n"
    "DIR is as for `llmrt generate`.\n";

static const char MASK_TEXT[] = "[MASK]";

int llmrt_cmd_fill_mask(int argc, char **argv)
{
    const char *ckpt = NULL, *prompt = NULL;
    const llmrt_cli_option opts[] = {{"--checkpoint", &ckpt}, {"--prompt", &prompt}};
    llmrt_config *cfg;
    int rc = llmrt_cli_parse(argc, argv, usage, opts, 2, 0, &cfg);
    if (rc) return rc < 0 ? 0 : rc;
    int32_t *tokens = NULL;
    float *row = NULL;
    llmrt_cli_checkpoint ck = {0};
    llmrt_session *s = &ck.session;
    if (!prompt || !strstr(prompt, MASK_TEXT)) {
        fprintf(stderr, "llmrt fill-mask: --prompt needs at least one %s\n", MASK_TEXT);
        rc = 2;
        goto out;
    }
    /* Bytes, with each "[MASK]" one [MASK] token. */
    size_t len = strlen(prompt), n = 0;
    if (!(tokens = malloc((len + 1) * sizeof *tokens))) {
        fprintf(stderr, "llmrt fill-mask: out of memory\n");
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < len;) {
        if (!strncmp(prompt + i, MASK_TEXT, sizeof MASK_TEXT - 1)) {
            tokens[n++] = LLMRT_MLM_MASK;
            i += sizeof MASK_TEXT - 1;
        } else {
            tokens[n++] = (unsigned char)prompt[i++];
        }
    }
    if ((rc = llmrt_cli_checkpoint_open(argc, argv, cfg, ckpt, 1, &ck))) goto out;
    if (s->model_cfg.arch != LLMRT_ARCH_BERT) {
        fprintf(stderr, "llmrt fill-mask: %s is a %s model; fill-mask needs [model] arch = "
                        "bert (use `llmrt generate` for gpt)\n",
                ck.dir, llmrt_arch_name(s->model_cfg.arch));
        rc = 1;
        goto out;
    }
    if (n > (size_t)s->context) {
        fprintf(stderr, "llmrt fill-mask: the prompt is %zu tokens, more than the model's "
                        "context (%d)\n", n, s->context);
        rc = 2;
        goto out;
    }
    if (!(row = malloc((size_t)s->model_cfg.vocab * sizeof *row))) {
        fprintf(stderr, "llmrt fill-mask: out of memory\n");
        rc = 1;
        goto out;
    }
    if (llmrt_rt_begin_microbatch(s->rt, 0, 1) ||
        llmrt_model_forward(s->model, tokens, NULL, 1, (int)n, NULL)) {
        rc = llmrt_cli_fail();
        goto out;
    }
    int32_t *filled = malloc(n * sizeof *filled);
    if (!filled) {
        fprintf(stderr, "llmrt fill-mask: out of memory\n");
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        filled[i] = tokens[i];
        if (tokens[i] != LLMRT_MLM_MASK) continue;
        if (llmrt_model_logits(s->model, 0, (int)i, row)) {
            free(filled);
            rc = llmrt_cli_fail();
            goto out;
        }
        int best = 0; /* the most likely byte: specials are not text */
        for (int v = 1; v < 256; v++)
            if (row[v] > row[best]) best = v;
        filled[i] = best;
    }
    char piece[LLMRT_TOK_PIECE_MAX];
    for (size_t i = 0; i < n; i++) fwrite(piece, 1, llmrt_tok_decode_one(filled[i], piece), stdout);
    putchar('\n');
    for (size_t i = 0; i < n; i++)
        if (tokens[i] == LLMRT_MLM_MASK)
            printf("mask at %zu: byte %d '%.*s'\n", i, filled[i],
                   (int)llmrt_tok_decode_one(filled[i], piece), piece);
    free(filled);
out:
    free(row);
    free(tokens);
    llmrt_cli_checkpoint_close(&ck);
    llmrt_config_free(cfg);
    return rc;
}
