/* cmd_generate.c — `llmrt generate`: sample text from a checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#include "generate.h"
#include "span.h"
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
    "model is then CONFIG's.\n"
    "\n"
    "A t5 model ([model] arch = t5) reads TEXT as its encoder input, with spans\n"
    "to fill written <extra_id_0>, <extra_id_1>, ... (T5's sentinels), and\n"
    "decodes at most N tokens (and at most what its decoder length allows),\n"
    "stopping at the end token. It prints the decoded target (each sentinel\n"
    "followed by the text it stands for) and then TEXT with the sentinels\n"
    "filled in.\n";

static void print_t5_token(int32_t token, void *user)
{
    char piece[LLMRT_SPAN_PIECE_MAX];
    fwrite(piece, 1, llmrt_span_piece(token, *(const int *)user, piece), stdout);
    fflush(stdout);
}

/* t5: fill the sentinels of `prompt`. */
static int generate_t5(llmrt_session *s, const char *prompt, int max_new,
                       const llmrt_sampler *sampler, llmrt_rng *rng)
{
    const llmrt_model_config *mc = &s->model_cfg;
    size_t cap = strlen(prompt) + 1, n_enc = 0, n_filled = 0;
    int32_t *enc = malloc(cap * sizeof *enc);
    int32_t *dec = malloc((size_t)mc->decoder_context * sizeof *dec);
    int32_t *filled = malloc((cap + (size_t)mc->decoder_context) * sizeof *filled);
    int n_dec = 0, rc = 1, vocab = mc->vocab;
    if (!enc || !dec || !filled) {
        fprintf(stderr, "llmrt generate: out of memory\n");
        goto out;
    }
    if (llmrt_span_encode_text(prompt, vocab, enc, cap - 1, &n_enc)) {
        rc = llmrt_cli_fail();
        goto out;
    }
    enc[n_enc++] = LLMRT_SPAN_EOS;
    if (n_enc > (size_t)mc->context) {
        fprintf(stderr, "llmrt generate: the prompt is %zu tokens with its end token; the t5 "
                        "encoder takes at most [model] context = %d\n", n_enc, mc->context);
        goto out;
    }
    printf("input:  %s\ntarget: ", prompt);
    if (llmrt_generate_t5(s->model, enc, (int)n_enc, max_new, sampler, rng, dec, &n_dec,
                          print_t5_token, &vocab)) {
        putchar('\n');
        rc = llmrt_cli_fail();
        goto out;
    }
    putchar('\n');
    /* A sentinel the model did not produce is left as it is. */
    size_t w = 0;
    for (size_t i = 0; i + 1 < n_enc; i++) {
        if (!llmrt_span_is_sentinel(enc[i], vocab) ||
            llmrt_span_fill(enc + i, 1, dec, (size_t)n_dec, vocab, filled + w,
                            cap + (size_t)mc->decoder_context - w, &n_filled))
            filled[w++] = enc[i], n_filled = 0;
        else
            w += n_filled;
    }
    printf("filled: ");
    for (size_t i = 0; i < w; i++) print_t5_token(filled[i], &vocab);
    putchar('\n');
    rc = 0;
out:
    free(enc);
    free(dec);
    free(filled);
    return rc;
}

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
    if (s->model_cfg.arch == LLMRT_ARCH_T5) {
        llmrt_sampler t5_sampler = {.temperature = (float)temperature, .top_k = (int)top_k};
        llmrt_rng t5_rng;
        llmrt_rng_seed(&t5_rng, (uint64_t)seed);
        rc = generate_t5(s, prompt, (int)n_tokens, &t5_sampler, &t5_rng);
        goto out;
    }
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
