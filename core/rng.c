/* rng.c — xoshiro256** (Blackman & Vigna) seeded with splitmix64. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void llmrt_rng_seed(llmrt_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t llmrt_rng_u64(llmrt_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double llmrt_rng_uniform(llmrt_rng *r) { return (double)(llmrt_rng_u64(r) >> 11) * 0x1.0p-53; }

double llmrt_rng_normal(llmrt_rng *r)
{
    double u1 = llmrt_rng_uniform(r), u2 = llmrt_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300; /* log(0) */
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t llmrt_rng_below(llmrt_rng *r, uint64_t n)
{
    /* Lemire's rejection keeps it unbiased. */
    uint64_t limit = -n % n;
    for (;;) {
        uint64_t x = llmrt_rng_u64(r);
        if (x >= limit) return x % n;
    }
}
