/* generate.c — sampling with temperature and top-k. */
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/types.h>
#include "error.h"
#include "model.h"
#include "span.h"

int32_t llmrt_sample(const llmrt_sampler *s, const float *logits, int vocab, float *scratch,
                     llmrt_rng *rng)
{
    int best = 0;
    for (int i = 1; i < vocab; i++)
        if (logits[i] > logits[best]) best = i;
    if (s->temperature <= 0.0f || s->top_k == 1) return best;

    /* The k-th largest logit is the cut-off (ties at the cut-off all stay). */
    float cutoff = -INFINITY;
    if (s->top_k > 0 && s->top_k < vocab) {
        memcpy(scratch, logits, (size_t)vocab * sizeof *scratch);
        /* Partial selection: k passes of max-extraction are fine for small k;
         * fall back to a full sort otherwise. */
        for (int k = 0; k < s->top_k; k++) {
            int m = k;
            for (int i = k + 1; i < vocab; i++)
                if (scratch[i] > scratch[m]) m = i;
            float t = scratch[k];
            scratch[k] = scratch[m];
            scratch[m] = t;
        }
        cutoff = scratch[s->top_k - 1];
    }
    double total = 0.0;
    for (int i = 0; i < vocab; i++) {
        double p = logits[i] >= cutoff ? exp((double)(logits[i] - logits[best]) / s->temperature)
                                       : 0.0;
        scratch[i] = (float)p;
        total += p;
    }
    double u = llmrt_rng_uniform(rng) * total, acc = 0.0;
    for (int i = 0; i < vocab; i++) {
        acc += scratch[i];
        if (u < acc) return i;
    }
    return best; /* rounding left u at the very top */
}

int llmrt_generate(struct llmrt_model *model, int context, int vocab, int32_t *tokens,
                   int n_prompt, int n_total, const llmrt_sampler *s, llmrt_rng *rng,
                   void (*on_token)(int32_t token, void *user), void *user)
{
    if (n_prompt < 1)
        return llmrt_error(LLMRT_ERR_INVALID, "generate: the prompt needs at least one token");
    float *logits = malloc(2 * (size_t)vocab * sizeof *logits);
    if (!logits) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    int rc = LLMRT_OK;
    for (int n = n_prompt; n < n_total; n++) {
        int start = n > context ? n - context : 0, len = n - start;
        if ((rc = llmrt_model_forward(model, tokens + start, NULL, 1, len, NULL)) ||
            (rc = llmrt_model_logits(model, 0, len - 1, logits)))
            break;
        tokens[n] = llmrt_sample(s, logits, vocab, logits + vocab, rng);
        if (on_token) on_token(tokens[n], user);
    }
    free(logits);
    return rc;
}

int llmrt_generate_t5(struct llmrt_model *model, const int32_t *enc, int n_enc, int max_new,
                      const llmrt_sampler *s, llmrt_rng *rng, int32_t *out, int *n_out,
                      void (*on_token)(int32_t token, void *user), void *user)
{
    llmrt_t5 *t5 = llmrt_model_t5(model);
    *n_out = 0;
    if (!t5) return llmrt_error(LLMRT_ERR_INVALID, "generate: the model is not a t5");
    const llmrt_t5_config *c = llmrt_t5_get_config(t5);
    if (n_enc < 1 || n_enc > c->context)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "generate: an encoder input of %d tokens: the model takes 1 .. %d",
                           n_enc, c->context);
    if (max_new > c->decoder_context - 1) max_new = c->decoder_context - 1;
    int32_t *dec = malloc((size_t)c->decoder_context * sizeof *dec);
    float *logits = malloc(2 * (size_t)c->vocab * sizeof *logits);
    int rc = LLMRT_OK;
    if (!dec || !logits) {
        rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
        goto out;
    }
    int32_t last_sentinel = -1; /* the input's highest sentinel id */
    for (int i = 0; i < n_enc; i++)
        if (llmrt_span_is_sentinel(enc[i], c->vocab) && enc[i] > last_sentinel)
            last_sentinel = enc[i];
    dec[0] = LLMRT_SPAN_PAD;
    for (int n = 1; n <= max_new; n++) {
        if ((rc = llmrt_t5_forward(t5, enc, n_enc, dec, NULL, n, 1, NULL)) ||
            (rc = llmrt_t5_logits(t5, 0, n - 1, logits)))
            break;
        int32_t tok = llmrt_sample(s, logits, c->vocab, logits + c->vocab, rng);
        dec[n] = out[n - 1] = tok;
        *n_out = n;
        if (on_token) on_token(tok, user);
        if (tok == LLMRT_SPAN_EOS) break;
        if (last_sentinel >= 0 && llmrt_span_is_sentinel(tok, c->vocab) && tok > last_sentinel)
            break;
    }
out:
    free(dec);
    free(logits);
    return rc;
}
