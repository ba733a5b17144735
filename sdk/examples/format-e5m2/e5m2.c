/* e5m2.c — an llmrt number format plugin: FP8 E5M2.
 *
 * A complete third-party plugin in one file, built out of tree with nothing
 * but `pkg-config --cflags llmrt` (see GNUmakefile and README.md).
 *
 * E5M2 is the 8-bit float of the OCP FP8 specification (and the top byte of
 * an IEEE binary16): 1 sign bit, 5 exponent bits (bias 15), 2 fraction bits,
 * with subnormals, infinities and NaNs.
 *
 *   largest finite   57344   (0x7b)     smallest normal     2^-14 (0x04)
 *   epsilon          0.25               smallest subnormal  2^-16 (0x01)
 *
 * encode (fp32 -> e5m2):
 *   - LLMRT_ROUND_NEAREST_EVEN: round to nearest, ties to even, like IEEE 754.
 *   - LLMRT_ROUND_STOCHASTIC: round up with a probability equal to the
 *     distance to the value below, in units of the spacing there; the random
 *     bits for element i depend only on (seed, i), so results are
 *     reproducible and independent of how the array is split.
 *   - Overflow is not saturated: a finite value whose rounded magnitude
 *     exceeds 57344 (with nearest-even: |x| >= 61440) becomes +-inf, as
 *     IEEE 754 and the OCP "non-saturating" mode do. Clip before encoding if
 *     you want saturation. Infinities stay infinite, signed zeros keep their
 *     sign.
 *   - NaN stays NaN: the sign and the top fraction bit are kept and the
 *     result is made quiet (0x7e/0x7f, or with the sign bit 0xfe/0xff).
 * decode (e5m2 -> fp32) is exact: every E5M2 value is an fp32 value.
 */
#include <stdint.h>
#include <string.h>

#include <llmrt/llmrt.h>

#define E5M2_MAX_FINITE 57344.0
#define E5M2_MIN_NORMAL 6.103515625e-05 /* 2^-14 */

/* The host table, kept from probe() to report errors (host.h allows it). */
static const llmrt_host_api *host_api;

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* splitmix64: 64 good random bits from (seed, index). */
static uint64_t mix(uint64_t seed, uint64_t i)
{
    uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* `value` >> `shift` rounded: to nearest even when stochastic is 0, else up
 * with probability (dropped bits) / 2^shift using `random`. shift < 64. */
static uint32_t shift_round(uint64_t value, unsigned shift, int stochastic, uint64_t random)
{
    uint64_t mask = (UINT64_C(1) << shift) - 1, dropped = value & mask;
    uint64_t q = value >> shift;
    if (stochastic) return (uint32_t)(q + ((dropped + (random & mask)) >> shift));
    uint64_t half = UINT64_C(1) << (shift - 1);
    if (dropped > half || (dropped == half && (q & 1))) q++;
    return (uint32_t)q;
}

static uint8_t encode_one(float x, int stochastic, uint64_t random)
{
    uint32_t u = f32_bits(x);
    uint8_t sign = (uint8_t)((u >> 24) & 0x80);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint8_t)(sign | 0x7e | ((a >> 21) & 1)); /* NaN, quiet */
    if (a == 0x7f800000u) return (uint8_t)(sign | 0x7c);                  /* inf */
    uint32_t exp = a >> 23; /* biased by 127 */
    uint32_t q;
    if (exp >= 113) {
        /* Normal in E5M2 (|x| >= 2^-14): rebias the exponent to 15 and keep
         * the top 2 fraction bits. A carry out of the fraction increments the
         * exponent, and exponent 31 with fraction 0 is inf: the arithmetic
         * handles rounding up to the next binade and to overflow alike. */
        q = shift_round(a - (112u << 23), 21, stochastic, random);
        if (q > 0x7c) q = 0x7c;
    } else {
        /* Subnormal in E5M2: q = |x| / 2^-16, in [0, 4]; q = 4 is 2^-14,
         * whose encoding (exponent 1, fraction 0) is 0x04 too. */
        if (exp == 0) return sign; /* fp32 subnormals are far below 2^-17 */
        uint64_t m = (a & 0x7fffffu) | 0x800000u; /* |x| = m * 2^(exp - 150) */
        unsigned shift = 134 - exp;               /* |x| / 2^-16 = m >> shift, >= 22 */
        /* Past 62 bits the chance of rounding up is below 2^-38: call it 0. */
        q = shift > 62 ? 0 : shift_round(m, shift, stochastic, random);
    }
    return (uint8_t)(sign | q);
}

static float decode_one(uint8_t b)
{
    uint32_t sign = (uint32_t)(b & 0x80) << 24;
    uint32_t exp = (b >> 2) & 0x1f, frac = b & 3;
    if (exp == 0x1f) /* inf, or NaN made quiet with its payload kept */
        return f32_from_bits(sign | 0x7f800000u | (frac ? 0x400000u | (frac << 21) : 0));
    if (exp == 0) { /* subnormal: frac * 2^-16, exact in fp32 */
        float v = (float)frac * (1.0f / 65536.0f);
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((exp + 112) << 23) | (frac << 21));
}

static int e5m2_encode(const llmrt_format *f, void *dst, const float *src, size_t n,
                       const float *scales, llmrt_rounding rounding, uint64_t seed)
{
    (void)f, (void)scales; /* block_size is 0: no scales */
    uint8_t *out = dst;
    if (rounding != LLMRT_ROUND_NEAREST_EVEN && rounding != LLMRT_ROUND_STOCHASTIC) {
        if (host_api)
            return host_api->error(LLMRT_ERR_INVALID,
                                   "e5m2: unknown rounding mode %d (accepted: nearest-even 0, "
                                   "stochastic 1)", (int)rounding);
        return LLMRT_ERR_INVALID;
    }
    int stochastic = rounding == LLMRT_ROUND_STOCHASTIC;
    for (size_t i = 0; i < n; i++)
        out[i] = encode_one(src[i], stochastic, stochastic ? mix(seed, i) : 0);
    return LLMRT_OK;
}

static int e5m2_decode(const llmrt_format *f, float *dst, const void *src, size_t n,
                       const float *scales)
{
    (void)f, (void)scales;
    const uint8_t *in = src;
    for (size_t i = 0; i < n; i++) dst[i] = decode_one(in[i]);
    return LLMRT_OK;
}

/* Cheap and always true: no hardware is needed. Keeps the host table. */
static int e5m2_probe(const llmrt_host_api *host)
{
    host_api = host;
    return 1;
}

static const llmrt_format e5m2_format = {
    .struct_size = sizeof(llmrt_format),
    .name = "e5m2",
    .storage = LLMRT_DTYPE_U8,
    .bits = 8,
    .exponent_bits = 5,
    .fraction_bits = 2,
    .is_integer = 0,
    .block_size = 0,
    .needs_loss_scaling = 1,   /* fp16's exponent range: small gradients flush to 0 */
    .needs_master_weights = 1, /* 2 fraction bits cannot accumulate small updates */
    .max_finite = E5M2_MAX_FINITE,
    .min_normal = E5M2_MIN_NORMAL,
    .epsilon = 0.25,
    .encode = e5m2_encode,
    .decode = e5m2_decode,
};

static const llmrt_component e5m2_components[] = {{
    .struct_size = sizeof(llmrt_component),
    .kind = LLMRT_KIND_FORMAT,
    .name = "e5m2",
    .description = "FP8 E5M2 (OCP FP8): 1+5+2 bits, inf/NaN, round to nearest even",
    .probe = e5m2_probe,
    .vtable = &e5m2_format,
}};

/* The one exported symbol. The file is llmrt-format-e5m2.so, so the plugin
 * is named "e5m2" (it could provide more formats under other names). */
LLMRT_PLUGIN_EXPORT const llmrt_plugin llmrt_plugin_v1 = {
    LLMRT_PLUGIN_HEADER(LLMRT_KIND_FORMAT, "e5m2", "1.0.0"),
    .n_components = sizeof e5m2_components / sizeof e5m2_components[0],
    .components = e5m2_components,
};
