/* mlm.h — the masked-language-modelling objective (RoBERTa style: dynamic
 * masking, no next-sentence task) for the byte tokenizer.
 *
 * Special tokens follow the 256 byte values:
 *   [PAD] 256   [CLS] 257   [SEP] 258   [MASK] 259     (vocab >= 260)
 *
 * llmrt_mlm_mask() draws, independently for every position whose token is a
 * byte (specials are never chosen), "chosen" with probability mask_prob; a
 * chosen position gets target = its token and input = [MASK] with
 * probability mask_token_frac, a uniformly random byte with probability
 * random_token_frac, and its own token otherwise. Every other position gets
 * target -1 (no loss). The draws come from the caller's RNG in position
 * order; the training loop gives every batch its own stream
 * (llmrt_mlm_batch_rng), so a run's seed fixes every batch's masking. */
#ifndef LLMRT_CORE_MLM_H
#define LLMRT_CORE_MLM_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

enum {
    LLMRT_MLM_PAD = 256,
    LLMRT_MLM_CLS = 257,
    LLMRT_MLM_SEP = 258,
    LLMRT_MLM_MASK = 259,
    LLMRT_MLM_VOCAB = 260 /* the smallest vocab that holds the specials */
};

typedef struct llmrt_mlm_config {
    double mask_prob;         /* chosen positions: 0.15                     */
    double mask_token_frac;   /* of those, replaced by [MASK]: 0.8           */
    double random_token_frac; /* of those, replaced by a random byte: 0.1    */
} llmrt_mlm_config;

/* The defaults above. */
llmrt_mlm_config llmrt_mlm_default(void);

/* LLMRT_ERR_INVALID naming the setting when a rate is outside [0, 1] or the
 * two fractions add up to more than 1. */
int llmrt_mlm_config_check(const llmrt_mlm_config *c);

/* inputs[i] and targets[i] from tokens[i], i < n, as described above;
 * returns the number of chosen positions. tokens may alias inputs. */
/* The masking stream of batch number `batch` (the stream-wide count the
 * training loop derives from the data position, core/train.c) of a run
 * seeded `seed`. A function of the batch alone, so W ranks mask their
 * batches as one process with accum = W masks the same batches, and a
 * resumed run as the uninterrupted one. */
void llmrt_mlm_batch_rng(llmrt_rng *rng, uint64_t seed, uint64_t batch);

size_t llmrt_mlm_mask(const llmrt_mlm_config *c, llmrt_rng *rng, const int32_t *tokens,
                      int32_t *inputs, int32_t *targets, size_t n);

#endif
