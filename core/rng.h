/* rng.h — the core's deterministic random numbers (initialisation, shuffling,
 * sampling). xoshiro256** seeded through splitmix64, so a seed gives the same
 * stream on every machine, and the whole state fits in a checkpoint. */
#ifndef LLMRT_CORE_RNG_H
#define LLMRT_CORE_RNG_H

#include <stdint.h>

typedef struct llmrt_rng {
    uint64_t s[4];
} llmrt_rng;

void llmrt_rng_seed(llmrt_rng *r, uint64_t seed);
uint64_t llmrt_rng_u64(llmrt_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double llmrt_rng_uniform(llmrt_rng *r);
/* Standard normal (Box-Muller, one value per call, no cached spare so the
 * state alone determines the stream). */
double llmrt_rng_normal(llmrt_rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t llmrt_rng_below(llmrt_rng *r, uint64_t n);

#endif
