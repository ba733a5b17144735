/* generate.h — sampling tokens from a model's logits. */
#ifndef LLMRT_CORE_GENERATE_H
#define LLMRT_CORE_GENERATE_H

#include <stddef.h>
#include <stdint.h>
#include "rng.h"

typedef struct llmrt_sampler {
    float temperature; /* 0: greedy (argmax) */
    int top_k;         /* 0: the whole vocabulary */
} llmrt_sampler;

/* Draw one token from softmax(logits / temperature), restricted to the top_k
 * largest logits. `scratch` holds vocab floats. Deterministic given rng. */
int32_t llmrt_sample(const llmrt_sampler *s, const float *logits, int vocab, float *scratch,
                     llmrt_rng *rng);

struct llmrt_model;
/* Extend tokens[0..n_prompt) to n_total tokens with the model, feeding at
 * most the model's context (a sliding window past it). */
int llmrt_generate(struct llmrt_model *model, int context, int vocab, int32_t *tokens,
                   int n_prompt, int n_total, const llmrt_sampler *s, llmrt_rng *rng,
                   void (*on_token)(int32_t token, void *user), void *user);

/* Encoder-decoder (t5): decode up to max_new tokens (at most the model's
 * decoder_context - 1) after the start token PAD from the encoder input
 * enc[0..n_enc), stopping after EOS, or after a sentinel that enc does not
 * hold when enc holds sentinels (every span of the input is filled then;
 * what would follow is a span of no input); writes them to out and their
 * number to *n_out. Each step runs the whole model on the prefix decoded so far (no
 * key/value cache: simple, and quadratic in the output length, which is
 * short for span filling). */
int llmrt_generate_t5(struct llmrt_model *model, const int32_t *enc, int n_enc, int max_new,
                      const llmrt_sampler *s, llmrt_rng *rng, int32_t *out, int *n_out,
                      void (*on_token)(int32_t token, void *user), void *user);

#endif
