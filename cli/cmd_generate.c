/* cmd_generate.c — `llmrt generate`: sample text from a checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#include "generate.h"
#include "tokenizer.h"
#include "train.h"

static const char usage[] =
    "usage: llmrt generate [CONFIG] [--checkpoint DIR] [--prompt TEXT] [--tokens N]\n"
    "                      [--temperature T] [--top-k K] [--seed S]\n"
    "                      [--set section.key=value]...\n"
    "\n"
    "Continue TEXT (default: a newline) with N tokens (default 256) sampled from\n"
    "the model at temperature T (default 1.0; 0 = greedy) among the K most\n"
    "likely tokens (default 0 = all), seeded with S (default 1). DIR is a\n"
    "step-NNNNNN directory or an output directory (its latest checkpoint);\n"
    "without it, the latest checkpoint in CONFIG's [train] out. --checkpoint may\n"
    "also name a weights file (an int8 export, a GPT-2 safetensors file): the\n"
    "model is then CONFIG's.\n";

static void print_token(int32_t token, void *user)
{
    (void)user;
    char piece[LLMRT_TOK_PIECE_MAX];
    fwrite(piece, 1, llmrt_tok_decode_one(token, piece), stdout);
    fflush(stdout);
}

/* strtod/strtol with the whole string consumed and a range check. */
static int parse_number(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (!*text || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "llmrt generate: %s %s is not a number in [%g, %g]\n", opt, text, lo,
                hi);
        return 2;
    }
    *out = v;
    return 0;
}

int llmrt_cmd_generate(int argc, char **argv)
{
    const char *ckpt = NULL, *prompt = "\n", *tokens_s = "256", *temp_s = "1.0",
               *topk_s = "0", *seed_s = "1";
    const llmrt_cli_option opts[] = {{"--checkpoint", &ckpt}, {"--prompt", &prompt},
                                     {"--tokens", &tokens_s}, {"--temperature", &temp_s},
                                     {"--top-k", &topk_s},    {"--seed", &seed_s}};
    llmrt_config *cfg;
    int rc = llmrt_cli_parse(argc, argv, usage, opts, 6, 0, &cfg);
    if (rc) return rc < 0 ? 0 : rc;
    double n_tokens, temperature, top_k, seed;
    int32_t *tokens = NULL;
    llmrt_cli_checkpoint ck = {0};
    llmrt_session *s = &ck.session;
    if ((rc = parse_number("--tokens", tokens_s, 0, 1e7, &n_tokens)) ||
        (rc = parse_number("--temperature", temp_s, 0, 100, &temperature)) ||
        (rc = parse_number("--top-k", topk_s, 0, 1 << 24, &top_k)) ||
        (rc = parse_number("--seed", seed_s, 0, 9007199254740992.0, &seed)))
        goto out;
    if (!prompt[0]) {
        fprintf(stderr, "llmrt generate: --prompt is empty (give at least one character)\n");
        rc = 2;
        goto out;
    }
    if ((rc = llmrt_cli_checkpoint_open(argc, argv, cfg, ckpt, 1, &ck))) goto out;
    size_t n_prompt = strlen(prompt), total = n_prompt + (size_t)n_tokens;
    if (s->model_cfg.arch != LLMRT_ARCH_GPT) {
        fprintf(stderr, "llmrt generate: %s is a %s model, not a causal LM: use `llmrt "
                        "fill-mask`\n", ckpt ? ckpt : "the checkpoint",
                llmrt_arch_name(s->model_cfg.arch));
        rc = 1;
        goto out;
    }
    if (s->model_cfg.vocab < LLMRT_TOK_BYTE_VOCAB) {
        fprintf(stderr, "llmrt generate: the model's vocabulary (%d) is smaller than the byte "
                        "tokenizer's (256)\n", s->model_cfg.vocab);
        rc = 1;
        goto out;
    }
    if (!(tokens = malloc(total * sizeof *tokens))) {
        fprintf(stderr, "llmrt generate: out of memory\n");
        rc = 1;
        goto out;
    }
    llmrt_tok_encode(prompt, tokens);
    llmrt_sampler sampler = {.temperature = (float)temperature, .top_k = (int)top_k};
    llmrt_rng rng;
    llmrt_rng_seed(&rng, (uint64_t)seed);
    fputs(prompt, stdout);
    if (llmrt_generate(s->model, s->context, s->model_cfg.vocab, tokens, (int)n_prompt, (int)total,
                       &sampler, &rng, print_token, NULL)) {
        putchar('\n');
        rc = llmrt_cli_fail();
        goto out;
    }
    putchar('\n');
out:
    free(tokens);
    llmrt_cli_checkpoint_close(&ck);
    llmrt_config_free(cfg);
    return rc;
}
