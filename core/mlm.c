/* mlm.c — RoBERTa-style dynamic masking (mlm.h). */
#include "mlm.h"

#include "error.h"

llmrt_mlm_config llmrt_mlm_default(void)
{
    return (llmrt_mlm_config){.mask_prob = 0.15, .mask_token_frac = 0.8,
                              .random_token_frac = 0.1};
}

int llmrt_mlm_config_check(const llmrt_mlm_config *c)
{
    if (!(c->mask_prob >= 0.0 && c->mask_prob <= 1.0))
        return llmrt_error(LLMRT_ERR_INVALID, "mlm mask_prob = %g: expected 0 .. 1",
                           c->mask_prob);
    if (!(c->mask_token_frac >= 0.0 && c->mask_token_frac <= 1.0))
        return llmrt_error(LLMRT_ERR_INVALID, "mlm mask_token_frac = %g: expected 0 .. 1",
                           c->mask_token_frac);
    if (!(c->random_token_frac >= 0.0 && c->random_token_frac <= 1.0 - c->mask_token_frac))
        return llmrt_error(LLMRT_ERR_INVALID,
                           "mlm random_token_frac = %g: expected 0 .. 1 - mask_token_frac (%g)",
                           c->random_token_frac, 1.0 - c->mask_token_frac);
    return LLMRT_OK;
}

void llmrt_mlm_batch_rng(llmrt_rng *rng, uint64_t seed, uint64_t batch)
{
    /* A salt keeps these streams apart from the initialisation's
     * seed + golden * (unit + 1) ones (core/gpt.c, core/bert.c). */
    llmrt_rng_seed(rng, (seed ^ 0x6d6c6d5f6d61736bull) + 0x9e3779b97f4a7c15ull * (batch + 1));
}

size_t llmrt_mlm_mask(const llmrt_mlm_config *c, llmrt_rng *rng, const int32_t *tokens,
                      int32_t *inputs, int32_t *targets, size_t n)
{
    size_t chosen = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t t = tokens[i];
        targets[i] = -1;
        inputs[i] = t;
        if (t < 0 || t > 255 || llmrt_rng_uniform(rng) >= c->mask_prob) continue;
        targets[i] = t;
        chosen++;
        double u = llmrt_rng_uniform(rng);
        if (u < c->mask_token_frac) inputs[i] = LLMRT_MLM_MASK;
        else if (u < c->mask_token_frac + c->random_token_frac)
            inputs[i] = (int32_t)llmrt_rng_below(rng, 256);
    }
    return chosen;
}
