/* test_format_exhaustive.c — fp32 -> bf16 and fp32 -> fp16 round to nearest
 * even over all 2^32 fp32 bit patterns: the scalar functions of convert.h
 * and the quant plugin's encode() against references written here without
 * them, plus every one of the 65536 decodes of both formats.
 *
 * References:
 *  - bf16: the two bf16 neighbours of |x| (truncation and the next value up,
 *    2^128 past the largest finite one), distances compared in double, ties
 *    to the even one. Overflow then falls out: from the midpoint between the
 *    bf16 maximum and 2^128 on, the "next value" is infinity.
 *  - fp16: the compiler's _Float16 conversion (F16C's vcvtps2ph with the
 *    MXCSR rounding, round to nearest even, when the CPU has it; otherwise
 *    libgcc's soft-fp __truncsfhf2, also round to nearest even). Without
 *    _Float16 a double formulation (multiples of the fp16 spacing) is used;
 *    it is checked against _Float16 on a sample wherever both exist.
 *  - NaN: convert.h rule 2, 0x7FC0 for bf16 and sign | 0x7E00 for fp16
 *    (hardware and soft-fp keep payloads instead, so they are not asked).
 *
 * With LLMRT_TEST_QUICK set (or under valgrind) the passes test 2^20
 * patterns spread over the whole range instead of all 2^32. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "quant_test_util.h"

#define CHUNK (1u << 16)
#define N_CHUNKS (1u << 16) /* CHUNK * N_CHUNKS = 2^32 */
#define QUICK_CHUNKS 16u
#define QUICK_STRIDE 4099u /* odd: the sample touches every exponent */

/* ---- references ---- */

static uint16_t ref_bf16(float x)
{
    uint32_t u = llmrt_f32_bits(x), a = u & 0x7FFFFFFFu;
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    if (isnan(x)) return 0x7FC0u;
    if (isinf(x)) return (uint16_t)(sign | 0x7F80u);
    uint16_t lo = (uint16_t)(a >> 16); /* truncation toward zero */
    double v = fabs((double)x);
    double v_lo = (double)llmrt_f32_from_bits((uint32_t)lo << 16);
    double v_hi =
        lo + 1u == 0x7F80u ? 0x1p128 : (double)llmrt_f32_from_bits((uint32_t)(lo + 1u) << 16);
    double d_lo = v - v_lo, d_hi = v_hi - v; /* both exact in double */
    uint16_t r = d_lo < d_hi ? lo : d_hi < d_lo ? (uint16_t)(lo + 1u) : (lo & 1u) ? (uint16_t)(lo + 1u) : lo;
    return (uint16_t)(sign | r);
}

/* fp16 by the multiples of the spacing at |x|, all in double. */
static uint16_t ref_f16_double(float x)
{
    uint32_t u = llmrt_f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    if (isnan(x)) return (uint16_t)(sign | 0x7E00u);
    if (isinf(x)) return (uint16_t)(sign | 0x7C00u);
    double v = fabs((double)x);
    int e2;
    frexp(v, &e2);
    int e = e2 - 1 < -14 ? -14 : e2 - 1; /* fp16 exponent of the spacing */
    double ulp = ldexp(1.0, e - 10);
    double q = v / ulp, fl = floor(q), d = q - fl; /* exact: ulp is a power of two */
    double r = d > 0.5 ? fl + 1 : d < 0.5 ? fl : fmod(fl, 2.0) != 0.0 ? fl + 1 : fl;
    double val = r * ulp;
    if (val > 65504.0) return (uint16_t)(sign | 0x7C00u);
    if (val < 0x1p-14) return (uint16_t)(sign | (uint16_t)(val * 0x1p24)); /* subnormal or 0 */
    frexp(val, &e2);
    int exp = e2 - 1;
    uint16_t mant = (uint16_t)((ldexp(val, -exp) - 1.0) * 1024.0);
    return (uint16_t)(sign | (uint16_t)((exp + 15) << 10) | mant);
}

/* x86 with _Float16: F16C when the CPU has it (checked at run time). */
#if defined(__FLT16_MAX__) && (defined(__x86_64__) || defined(__i386__))
#define HAVE_F16C_PATH 1
#endif

#ifdef HAVE_F16C_PATH
__attribute__((target("f16c"))) static uint16_t ref_f16_f16c(float x)
{
    if (isnan(x)) return (uint16_t)(((llmrt_f32_bits(x) >> 16) & 0x8000u) | 0x7E00u);
    _Float16 h = (_Float16)x;
    uint16_t r;
    memcpy(&r, &h, sizeof r);
    return r;
}
#endif

#ifdef __FLT16_MAX__
static uint16_t ref_f16_soft(float x)
{
    if (isnan(x)) return (uint16_t)(((llmrt_f32_bits(x) >> 16) & 0x8000u) | 0x7E00u);
    _Float16 h = (_Float16)x;
    uint16_t r;
    memcpy(&r, &h, sizeof r);
    return r;
}

#ifdef HAVE_F16C_PATH
__attribute__((target("f16c"))) static float ref_f16_decode_f16c(uint16_t b)
{
    _Float16 h;
    memcpy(&h, &b, sizeof h);
    return (float)h;
}
#endif

static float ref_f16_decode_soft(uint16_t b)
{
    _Float16 h;
    memcpy(&h, &b, sizeof h);
    return (float)h;
}
#endif

static uint16_t (*ref_f16_pick(const char **how))(float)
{
#ifdef HAVE_F16C_PATH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("f16c")) {
        *how = "_Float16 (F16C vcvtps2ph)";
        return ref_f16_f16c;
    }
#endif
#ifdef __FLT16_MAX__
    *how = "_Float16 (the compiler's conversion without F16C)";
    return ref_f16_soft;
#else
    *how = "double arithmetic (no _Float16)";
    return ref_f16_double;
#endif
}

static uint16_t inline_bf16(float x) { return llmrt_f32_to_bf16(x); }
static uint16_t inline_f16(float x) { return llmrt_f32_to_f16(x); }

/* ---- the exhaustive pass ---- */

typedef struct mismatch {
    uint64_t count;
    uint32_t input;
    uint16_t got, want;
} mismatch;

static void note(mismatch *m, uint32_t input, uint16_t got, uint16_t want)
{
#pragma omp critical(mismatch_note)
    {
        if (m->count == 0 || input < m->input) {
            m->input = input;
            m->got = got;
            m->want = want;
        }
        m->count++;
    }
}

/* Every pattern (or the quick sample): plugin encode() and the inline
 * function against `ref`. */
static void exhaustive_pass(const char *name, uint16_t (*inline_fn)(float),
                            uint16_t (*ref)(float), const char *ref_name)
{
    const llmrt_format *f = qt_format(name, NULL);
    int quick = qt_quick();
    uint32_t n_chunks = quick ? QUICK_CHUNKS : N_CHUNKS;
    uint32_t stride = quick ? QUICK_STRIDE : 1u;
    mismatch by_plugin = {0}, by_inline = {0};
    int encode_failed = 0;
    double t0 = qt_now();
#pragma omp parallel
    {
        float *src = malloc(CHUNK * sizeof *src);
        uint16_t *out = malloc(CHUNK * sizeof *out);
        if (!src || !out) {
#pragma omp atomic write
            encode_failed = 1;
        }
#pragma omp for schedule(dynamic, 8)
        for (uint32_t c = 0; c < n_chunks; c++) {
            if (!src || !out) continue;
            for (uint32_t j = 0; j < CHUNK; j++)
                src[j] = llmrt_f32_from_bits((uint32_t)(((uint64_t)c * CHUNK + j) * stride));
            if (f->encode(f, out, src, CHUNK, NULL, LLMRT_ROUND_NEAREST_EVEN, 0) != LLMRT_OK) {
#pragma omp atomic write
                encode_failed = 1;
                continue;
            }
            for (uint32_t j = 0; j < CHUNK; j++) {
                uint16_t want = ref(src[j]), mine = inline_fn(src[j]);
                if (out[j] != want) note(&by_plugin, llmrt_f32_bits(src[j]), out[j], want);
                if (mine != want) note(&by_inline, llmrt_f32_bits(src[j]), mine, want);
            }
        }
        free(src);
        free(out);
    }
    double dt = qt_now() - t0;
    uint64_t n = (uint64_t)n_chunks * CHUNK;
    printf("%s: %llu fp32 patterns%s against %s in %.1f s (%d threads), plugin and convert.h\n",
           name, (unsigned long long)n, quick ? " (quick sample)" : "", ref_name, dt,
           omp_get_max_threads());
    fflush(stdout);
    ck_assert_msg(!encode_failed, "%s: encode failed: %s", name, qt_last_error());
    ck_assert_msg(by_inline.count == 0,
                  "%s: convert.h differs from the reference on %llu inputs, first 0x%08x: "
                  "0x%04x, expected 0x%04x", name, (unsigned long long)by_inline.count,
                  by_inline.input, by_inline.got, by_inline.want);
    ck_assert_msg(by_plugin.count == 0,
                  "%s: the plugin differs from the reference on %llu inputs, first 0x%08x: "
                  "0x%04x, expected 0x%04x", name, (unsigned long long)by_plugin.count,
                  by_plugin.input, by_plugin.got, by_plugin.want);
}

START_TEST(bf16_all_fp32)
{
    exhaustive_pass("bf16", inline_bf16, ref_bf16, "truncation neighbours in double");
}
END_TEST

START_TEST(fp16_all_fp32)
{
    const char *how = NULL;
    uint16_t (*ref)(float) = ref_f16_pick(&how);
    exhaustive_pass("fp16", inline_f16, ref, how);
}
END_TEST

/* The two fp16 references agree (where both exist), and both agree with
 * hand-checked values, so that neither is trusted blindly. */
START_TEST(fp16_references_agree)
{
    static const struct { uint32_t in; uint16_t out; } known[] = {
        {0x477FE000u, 0x7BFFu}, /* 65504 */
        {0x477FEFFFu, 0x7BFFu}, /* just below 65520 */
        {0x477FF000u, 0x7C00u}, /* 65520 ties to even: inf */
        {0x33000000u, 0x0000u}, /* 2^-25 ties to 0 */
        {0x33000001u, 0x0001u}, /* just above: 2^-24 */
        {0x33C00000u, 0x0002u}, /* 1.5 * 2^-24 ties to 2 * 2^-24 */
        {0x34200000u, 0x0002u}, /* 2.5 * 2^-24 ties to 2 * 2^-24 */
        {0x387FE000u, 0x0400u}, /* between the largest subnormal and 2^-14: even is 2^-14 */
        {0x3F801000u, 0x3C00u}, /* 1 + 2^-11 ties to 1 */
        {0x3F803000u, 0x3C02u}, /* 1 + 3 * 2^-11 ties up */
        {0xC77FF000u, 0xFC00u}, /* -65520: -inf */
        {0x80000001u, 0x8000u}, /* -tiny: -0 */
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        float x = llmrt_f32_from_bits(known[i].in);
        ck_assert_msg(ref_f16_double(x) == known[i].out, "double reference: 0x%08x -> 0x%04x",
                      known[i].in, ref_f16_double(x));
        ck_assert_msg(llmrt_f32_to_f16(x) == known[i].out, "convert.h: 0x%08x -> 0x%04x",
                      known[i].in, llmrt_f32_to_f16(x));
    }
#ifdef __FLT16_MAX__
    const char *how = NULL;
    uint16_t (*ref)(float) = ref_f16_pick(&how);
    uint64_t bad = 0;
    uint32_t first = 0;
    for (uint64_t i = 0; i < (1u << 20); i++) {
        uint32_t u = (uint32_t)(i * 4099u + (i >> 7));
        float x = llmrt_f32_from_bits(u);
        if (ref(x) != ref_f16_double(x) || ref_f16_soft(x) != ref(x)) {
            if (!bad) first = u;
            bad++;
        }
    }
    ck_assert_msg(bad == 0, "fp16 references disagree on %llu of 2^20 inputs, first 0x%08x",
                  (unsigned long long)bad, first);
#endif
}
END_TEST

/* ---- all 65536 decodes ---- */

/* All 65536 patterns of the 16-bit format `name` through its decode. */
static const float *decode_all(const char *name)
{
    const llmrt_format *f = qt_format(name, NULL);
    static uint16_t in[65536];
    static float out[65536];
    for (uint32_t b = 0; b < 65536; b++) in[b] = (uint16_t)b;
    ck_assert_int_eq(f->decode(f, out, in, 65536, NULL), LLMRT_OK);
    return out;
}

START_TEST(bf16_all_decodes)
{
    const float *out = decode_all("bf16");
    for (uint32_t b = 0; b < 65536; b++) {
        uint32_t want = b << 16; /* exact widening, NaN payloads included */
        ck_assert_msg(llmrt_f32_bits(out[b]) == want, "bf16 0x%04x decodes to 0x%08x", b,
                      llmrt_f32_bits(out[b]));
        ck_assert_msg(llmrt_f32_bits(llmrt_bf16_to_f32((uint16_t)b)) == want,
                      "convert.h: bf16 0x%04x", b);
        /* Round trip: every non-NaN bf16 encodes back to itself. */
        if (!isnan(out[b]))
            ck_assert_msg(llmrt_f32_to_bf16(out[b]) == b, "bf16 0x%04x does not round-trip", b);
    }
}
END_TEST

START_TEST(fp16_all_decodes)
{
    const float *out = decode_all("fp16");
#ifdef __FLT16_MAX__
    float (*ref)(uint16_t) = ref_f16_decode_soft;
#endif
#ifdef HAVE_F16C_PATH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("f16c")) ref = ref_f16_decode_f16c;
#endif
    for (uint32_t b = 0; b < 65536; b++) {
        uint32_t sign = (b & 0x8000u) << 16, e = (b >> 10) & 0x1Fu, m = b & 0x3FFu;
        uint32_t got = llmrt_f32_bits(out[b]);
        ck_assert_msg(got == llmrt_f32_bits(llmrt_f16_to_f32((uint16_t)b)),
                      "convert.h: fp16 0x%04x", b);
        if (e == 0x1Fu) {
            /* Infinity, or NaN with its payload kept exactly (hardware would
             * quiet a signalling NaN; rule 2 keeps the bits). */
            ck_assert_msg(got == (sign | 0x7F800000u | (m << 13)), "fp16 0x%04x -> 0x%08x", b,
                          got);
            continue;
        }
        /* A finite value: (-1)^s * m * 2^(e-25) (e > 0 adds the hidden bit). */
        double want = e ? ldexp(1024.0 + m, (int)e - 25) : ldexp((double)m, -24);
        if (sign) want = -want;
        ck_assert_msg(got == llmrt_f32_bits((float)want), "fp16 0x%04x -> 0x%08x, expected %.9g", b,
                      got, want);
#ifdef __FLT16_MAX__
        ck_assert_msg(got == llmrt_f32_bits(ref((uint16_t)b)),
                      "fp16 0x%04x: _Float16 gives 0x%08x", b, llmrt_f32_bits(ref((uint16_t)b)));
#endif
        ck_assert_msg(llmrt_f32_to_f16(out[b]) == b, "fp16 0x%04x does not round-trip", b);
    }
}
END_TEST

static Suite *exhaustive_suite(void)
{
    Suite *s = suite_create("format_exhaustive");
    const TTest *all[] = {bf16_all_fp32, fp16_all_fp32};
    const TTest *small[] = {fp16_references_agree, bf16_all_decodes, fp16_all_decodes};
    QT_ADD_TCASE(s, "exhaustive", 1800, all);
    QT_ADD_TCASE(s, "references_and_decodes", 0, small);
    return s;
}

int main(void) { return qt_run_suite(exhaustive_suite()); }
