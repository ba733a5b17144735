/* llmrt/convert.h — the scalar number conversions every component agrees on.
 *
 * These inline functions are the specification of the project's rounding:
 * the quant plugin's reference encode/decode, the cpu backend's convert
 * kernels and any device backend must give the same bits. They follow
 * PyTorch's scalar paths (c10::BFloat16, c10::Half) bit for bit, and
 * fake_quantize_per_channel_affine for finite inputs with |x/s| < 2^63
 * (torch casts to int64 before clamping, so NaN, inf and huge values give
 * -127 there; here NaN gives 0 and infinities clamp to their sign);
 * tests/quant checks them over all 2^32 fp32 inputs against independent
 * references and against vectors made with python3-torch.
 *
 * Rules:
 *  1. fp32 -> bf16 and fp32 -> fp16 round to nearest, ties to even; values
 *     past the largest finite value (after rounding) become infinity with
 *     their sign; subnormal results are rounded, never flushed to zero.
 *  2. NaN stays NaN: bf16 gives 0x7FC0 (the canonical NaN of PyTorch's
 *     scalar c10::BFloat16, sign dropped; its AVX2 path gives 0xFFFF), fp16 gives 0x7E00 with the input's sign (PyTorch's scalar
 *     fp16_ieee_from_fp32_value). Decoding is exact widening and keeps every
 *     NaN payload bit (PyTorch and F16C set the quiet bit of signalling
 *     NaNs; a backend using such instructions must restore the bits).
 *  3. Stochastic rounding to bf16 (llmrt_f32_to_bf16_sr) rounds up with
 *     probability equal to the distance to the lower neighbour, measured in
 *     the 16 bits being dropped, so it is unbiased. The random bits of element
 *     i come from llmrt_sr_bits(seed, i) with i the element's index in the
 *     tensor being written, so results depend neither on threads nor chunking.
 *  4. int8 (symmetric, zero point 0): q = clamp(round_half_even(x * (1/s)),
 *     qmin, qmax) with 1/s computed in fp32 as PyTorch does, and decode q * s.
 *     The project's int8 range is [-127, 127] (LLMRT_I8_QMIN/QMAX): symmetric,
 *     so that -q is always representable and zero is exact. NaN gives 0. The
 *     effective scale is max(|s|, LLMRT_QUANT_SCALE_EPS) (PyTorch's learnable
 *     fake quantizer takes |s| and clamps it to eps before each use; a NaN
 *     scale becomes eps here). These functions need the default
 *     floating-point environment (round to nearest, no flush to zero).
 */
#ifndef LLMRT_CUDA_CONVERT_DEV_H
#define LLMRT_CUDA_CONVERT_DEV_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LLMRT_I8_QMIN (-127)
#define LLMRT_I8_QMAX 127
#define LLMRT_QUANT_SCALE_EPS 1.1920928955078125e-07f /* 2^-23 = FLT_EPSILON, PyTorch's default eps */

static inline __host__ __device__ uint32_t llmrt_f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline __host__ __device__ float llmrt_f32_from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ---- bf16 ---- */

static inline __host__ __device__ uint16_t llmrt_f32_to_bf16(float x)
{
    uint32_t u = llmrt_f32_bits(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0u;
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

static inline __host__ __device__ float llmrt_bf16_to_f32(uint16_t h) { return llmrt_f32_from_bits((uint32_t)h << 16); }

/* The random bits of element `index` for stochastic rounding under `seed`:
 * splitmix64 of (seed, index), upper 32 bits. */
static inline __host__ __device__ uint32_t llmrt_sr_bits(uint64_t seed, uint64_t index)
{
    uint64_t z = seed + (index + 1u) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)(z >> 32);
}

/* Rule 3: rounds up when the low 16 bits of the random word are below the
 * 16 bits being dropped. Infinities and exact values are unchanged; NaN as
 * in rule 2. */
static inline __host__ __device__ uint16_t llmrt_f32_to_bf16_sr(float x, uint32_t random_bits)
{
    uint32_t u = llmrt_f32_bits(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0u;
    uint32_t dropped = u & 0xFFFFu;
    uint32_t up = (random_bits & 0xFFFFu) < dropped;
    return (uint16_t)((u >> 16) + up);
}

/* ---- fp16 (IEEE binary16) ---- */

static inline __host__ __device__ uint16_t llmrt_f32_to_f16(float x)
{
    uint32_t u = llmrt_f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return (uint16_t)(sign | 0x7E00u);  /* NaN */
    if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* >= 65520: inf */
    if (a >= 0x38800000u) {                                   /* normal: >= 2^-14 */
        uint32_t r = a + 0x0FFFu + ((a >> 13) & 1u);
        return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
    }
    /* Subnormal or zero: round a's value to a multiple of 2^-24. */
    uint32_t e = a >> 23;
    if (e < 102) return sign; /* below 2^-25: rounds to zero (2^-25 itself ties to 0) */
    uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
    uint32_t shift = 126u - e; /* 14 .. 24 */
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return (uint16_t)(sign | q);
}

static inline __host__ __device__ float llmrt_f16_to_f32(uint16_t h)
{
    uint32_t sign = ((uint32_t)h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
    if (e == 0x1Fu) return llmrt_f32_from_bits(sign | 0x7F800000u | (m << 13));
    if (e) return llmrt_f32_from_bits(sign | ((e + 112u) << 23) | (m << 13));
    if (!m) return llmrt_f32_from_bits(sign);
    /* Subnormal: m * 2^-24, exact in fp32. */
    float v = (float)m * 5.9604644775390625e-08f; /* 2^-24 */
    return sign ? -v : v;
}

/* ---- int8 (rule 4) ---- */

static inline __host__ __device__ float llmrt_quant_scale(float s)
{
    float a = fabsf(s);
    return a > LLMRT_QUANT_SCALE_EPS ? a : LLMRT_QUANT_SCALE_EPS;
}

/* d llmrt_quant_scale(s) / ds: the sign of s where |s| passes the clamp, 0
 * where it is clamped (and for NaN), so that a gradient with respect to the
 * effective step becomes one with respect to the stored scale. */
static inline __host__ __device__ float llmrt_quant_scale_grad(float s)
{
    if (s > LLMRT_QUANT_SCALE_EPS) return 1.0f;
    if (s < -LLMRT_QUANT_SCALE_EPS) return -1.0f;
    return 0.0f;
}

/* q for x at inverse scale inv (= 1.0f / llmrt_quant_scale(s)), as a float
 * holding an integer in [qmin, qmax]; +0 for zero (PyTorch rounds through
 * int64, which has no -0). */
static inline __host__ __device__ float llmrt_quant_round(float x, float inv, int qmin, int qmax)
{
    float v = nearbyintf(x * inv) + 0.0f;
    if (v != v) return 0.0f;
    if (v < (float)qmin) return (float)qmin;
    if (v > (float)qmax) return (float)qmax;
    return v;
}

static inline __host__ __device__ int8_t llmrt_f32_to_i8(float x, float s)
{
    float inv = 1.0f / llmrt_quant_scale(s);
    return (int8_t)llmrt_quant_round(x, inv, LLMRT_I8_QMIN, LLMRT_I8_QMAX);
}

static inline __host__ __device__ float llmrt_i8_to_f32(int8_t q, float s) { return (float)q * llmrt_quant_scale(s); }

#ifdef __cplusplus
}
#endif
#endif /* LLMRT_CUDA_CONVERT_DEV_H */
