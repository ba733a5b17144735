/* span.h — T5's span-corruption objective for the byte tokenizer.
 *
 * Token ids (vocab >= LLMRT_SPAN_VOCAB_MIN):
 *   0..255     the bytes (core/tokenizer.h)
 *   256        PAD, also the decoder's start token (as T5's decoder_start_token_id)
 *   257        EOS, ends the encoder input and the target
 *   258 + k    the sentinel of span k (T5's <extra_id_k>), up to vocab - 1
 *
 * Sentinels count UP from 258, whereas T5 and ByT5 give <extra_id_0> the
 * highest id and count down. Our ids are not ByT5's anyway (bytes sit at
 * 0..255, not 3..258), so matching the order would buy nothing, and counting
 * up keeps every sentinel's id independent of the vocab size: a vocab padded
 * for speed gains sentinels without renumbering those a checkpoint learned,
 * and a corrupted text means the same ids under any vocab.
 *
 * Corruption of n tokens, as T5's random_spans_noise_mask (t5.data.
 * preprocessors) with noise_density d and mean_span_length L:
 *   noise = round(n d) clamped to [1, n - 1]    (round half to even, as Python)
 *   spans = round(noise / L) clamped to [1, min(noise, n - noise)]
 * the noise tokens and the other tokens are each cut into `spans` non-empty
 * segments at uniformly random cut points, and the sequence alternates
 * non-noise, noise, non-noise, noise, ... (it starts with kept tokens and
 * ends with a noise span). Then
 *   input  = the kept tokens with noise span k replaced by sentinel k, EOS
 *   target = sentinel 0, span 0, sentinel 1, span 1, ..., EOS
 * so for a given n both lengths are fixed (llmrt_span_lengths): a batch has
 * one shape. The draws come from the caller's RNG, so a run's seed fixes
 * every batch's corruption. */
#ifndef LLMRT_CORE_SPAN_H
#define LLMRT_CORE_SPAN_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

enum {
    LLMRT_SPAN_PAD = 256,
    LLMRT_SPAN_EOS = 257,
    LLMRT_SPAN_SENTINEL0 = 258,
    LLMRT_SPAN_VOCAB_MIN = 259 /* PAD, EOS and one sentinel after the bytes */
};

typedef struct llmrt_span_config {
    double noise_density;    /* fraction of tokens corrupted: 0.15        */
    double mean_span_length; /* mean length of a corrupted span: 3         */
} llmrt_span_config;

/* The T5 paper's settings above. */
llmrt_span_config llmrt_span_default(void);

/* LLMRT_ERR_INVALID naming the setting when noise_density is outside
 * (0, 1) or mean_span_length < 1. */
int llmrt_span_config_check(const llmrt_span_config *c);

/* The number of noise tokens and of spans for n >= 2 tokens (above). */
void llmrt_span_counts(const llmrt_span_config *c, size_t n, size_t *noise, size_t *spans);

/* The encoder-input and target lengths the corruption of n tokens gives
 * (EOS included): n - noise + spans + 1 and noise + spans + 1. */
void llmrt_span_lengths(const llmrt_span_config *c, size_t n, size_t *input_len,
                        size_t *target_len);

/* The largest n >= 2 whose corrupted input fits in input_len tokens (T5's
 * random_spans_helper), or 0 when none does (input_len < 3). */
size_t llmrt_span_raw_length(const llmrt_span_config *c, size_t input_len);

/* Sentinel id of span k. */
static inline int32_t llmrt_span_sentinel(size_t k) { return LLMRT_SPAN_SENTINEL0 + (int32_t)k; }
/* 1 when id is a sentinel of a vocab of `vocab` ids. */
static inline int llmrt_span_is_sentinel(int32_t id, int vocab)
{
    return id >= LLMRT_SPAN_SENTINEL0 && id < vocab;
}

/* is_noise[i] for i < n (n >= 2), as above. */
void llmrt_span_noise_mask(const llmrt_span_config *c, llmrt_rng *rng, size_t n,
                           uint8_t *is_noise);

/* Corrupt tokens[0:n]: inputs and targets get llmrt_span_lengths(n) tokens.
 * LLMRT_ERR_INVALID when n < 2 or the spans need more sentinels than the
 * vocab holds (naming both). */
int llmrt_span_corrupt(const llmrt_span_config *c, llmrt_rng *rng, const int32_t *tokens,
                       size_t n, int vocab, int32_t *inputs, int32_t *targets);

/* The inverse: the text of `inputs` with each sentinel replaced by the
 * tokens that follow the same sentinel in `targets` (up to the next
 * sentinel or EOS). Reads inputs up to EOS or n_inputs, targets up to EOS or
 * n_targets; writes at most cap tokens to out and their number to *n_out.
 * LLMRT_ERR_INVALID when a sentinel of the input is not in the target, or
 * out is too small. */
int llmrt_span_fill(const int32_t *inputs, size_t n_inputs, const int32_t *targets,
                    size_t n_targets, int vocab, int32_t *out, size_t cap, size_t *n_out);

/* Text with sentinels written as <extra_id_N> (T5's spelling) to tokens:
 * bytes, each <extra_id_N> as sentinel N. Writes at most cap tokens and
 * their number to *n; LLMRT_ERR_INVALID when N has no sentinel id below
 * vocab or the text needs more than cap tokens. */
int llmrt_span_encode_text(const char *text, int vocab, int32_t *out, size_t cap, size_t *n);

/* Longest piece one token prints as ("<extra_id_4294967295>" and a NUL). */
#define LLMRT_SPAN_PIECE_MAX 24
/* The text of one token: a byte as itself, a sentinel as <extra_id_N>, EOS
 * as </s>, PAD as <pad> (buf holds LLMRT_SPAN_PIECE_MAX bytes; not
 * NUL-terminated); returns its length. */
size_t llmrt_span_piece(int32_t id, int vocab, char *buf);

/* The decoder's input for a target: PAD (the start token), then the target
 * shifted right by one (teacher forcing). */
void llmrt_span_decoder_inputs(const int32_t *targets, size_t n, int32_t *decoder_inputs);

#endif
