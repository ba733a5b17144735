/* tokenizer.h — the built-in byte-level tokenizer: a token is a byte
 * (0..255) of the UTF-8 text. Token files made by other tokenizers (llm.c's
 * GPT-2 .bin files) carry ids >= 256; decoding shows those as "<N>", since
 * the core has no vocabulary for them. */
#ifndef LLMRT_CORE_TOKENIZER_H
#define LLMRT_CORE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* Tokens in the byte vocabulary. */
#define LLMRT_TOK_BYTE_VOCAB 256

/* Encode the bytes of `text` into `out` (room for strlen(text) tokens);
 * returns the number of tokens. */
size_t llmrt_tok_encode(const char *text, int32_t *out);
/* Encode `n` bytes (may contain NUL). */
void llmrt_tok_encode_bytes(const void *bytes, size_t n, int32_t *out);

/* Longest text one token decodes to ("<4294967295>" and a NUL). */
#define LLMRT_TOK_PIECE_MAX 16
/* Write the bytes of token `t` to `buf` (LLMRT_TOK_PIECE_MAX bytes, not
 * NUL-terminated for a NUL byte token); returns their number. */
size_t llmrt_tok_decode_one(int32_t t, char *buf);
/* Decode `n` tokens into `buf` (capacity `cap`, always NUL-terminated when
 * cap > 0). Returns the length the whole text needs, like snprintf: the
 * output was cut if the result is >= cap. */
size_t llmrt_tok_decode(const int32_t *tokens, size_t n, char *buf, size_t cap);

#endif
