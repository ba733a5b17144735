/* tokenizer.c — the byte-level tokenizer (see tokenizer.h). */
#include "tokenizer.h"

#include <stdio.h>
#include <string.h>

void llmrt_tok_encode_bytes(const void *bytes, size_t n, int32_t *out)
{
    const unsigned char *p = bytes;
    for (size_t i = 0; i < n; i++) out[i] = p[i];
}

size_t llmrt_tok_encode(const char *text, int32_t *out)
{
    size_t n = strlen(text);
    llmrt_tok_encode_bytes(text, n, out);
    return n;
}

size_t llmrt_tok_decode_one(int32_t t, char *buf)
{
    if (t >= 0 && t < LLMRT_TOK_BYTE_VOCAB) {
        buf[0] = (char)(unsigned char)t;
        return 1;
    }
    int n = t < 0 ? snprintf(buf, LLMRT_TOK_PIECE_MAX, "<%ld>", (long)t)
                  : snprintf(buf, LLMRT_TOK_PIECE_MAX, "<%lu>", (unsigned long)(uint32_t)t);
    return n > 0 ? (size_t)n : 0;
}

size_t llmrt_tok_decode(const int32_t *tokens, size_t n, char *buf, size_t cap)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char piece[LLMRT_TOK_PIECE_MAX];
        size_t k = llmrt_tok_decode_one(tokens[i], piece);
        for (size_t j = 0; j < k; j++, len++)
            if (len + 1 < cap) buf[len] = piece[j];
    }
    if (cap) buf[len < cap ? len : cap - 1] = '\0';
    return len;
}
