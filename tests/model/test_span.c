/* test_span.c — T5 span corruption (core/span.c) over a large sample.
 *
 *  - counts: T5's formulas at known points (512 -> 77 noise tokens in 26
 *    spans; random_spans_helper(512, 0.15, 3) = 568 raw tokens, 114-token
 *    targets), and the clamps at tiny lengths;
 *  - statistics over about two million tokens of random lengths: the noise
 *    density and the mean noise-span length measured from the masks within
 *    5% of 0.15 and 3; at n = 512 the variance of the noise-span lengths
 *    within 5% of a uniform random segmentation's (a Bose-Einstein count:
 *    N (N + k) (k - 1) / (k^2 (k + 1)) for N = noise - spans extra tokens in
 *    k spans), so the cut points really are uniform, not evenly spaced;
 *  - the layout: the sequence starts with kept tokens and ends with noise,
 *    sentinels appear in order 0, 1, 2, ... in both input and target, both
 *    end with EOS, the lengths are llmrt_span_lengths';
 *  - the inverse: filling the input's sentinels from the target gives back
 *    the original tokens exactly, for every sequence of the sample;
 *  - the same seed gives the same corruption; a vocab without room for the
 *    sentinels, a target missing a sentinel and a short output are errors
 *    that say so.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"
#include "span.h"

#define VOCAB 384 /* 126 sentinels, as ByT5 */

START_TEST(counts)
{
    llmrt_span_config c = llmrt_span_default();
    size_t noise, spans, in, tg;
    llmrt_span_counts(&c, 512, &noise, &spans);
    ck_assert_uint_eq(noise, 77);
    ck_assert_uint_eq(spans, 26);
    ck_assert_uint_eq(llmrt_span_raw_length(&c, 512), 568);
    llmrt_span_lengths(&c, 568, &in, &tg);
    ck_assert_uint_eq(in, 512);
    ck_assert_uint_eq(tg, 114);
    /* round(10 * 0.15) = round(1.5) = 2 (half to even, as Python) */
    llmrt_span_counts(&c, 10, &noise, &spans);
    ck_assert_uint_eq(noise, 2);
    ck_assert_uint_eq(spans, 1);
    /* round(30 * 0.15) = round(4.5) = 4, round(4 / 3) = 1 */
    llmrt_span_counts(&c, 30, &noise, &spans);
    ck_assert_uint_eq(noise, 4);
    ck_assert_uint_eq(spans, 1);
    /* n = 2: one noise token, one span (clamped up from 0) */
    llmrt_span_counts(&c, 2, &noise, &spans);
    ck_assert_uint_eq(noise, 1);
    ck_assert_uint_eq(spans, 1);
    ck_assert_uint_eq(llmrt_span_raw_length(&c, 2), 0);
    ck_assert_uint_eq(llmrt_span_raw_length(&c, 3), 2);
    /* every length the helper gives fits, and one more token would not */
    for (size_t L = 3; L < 700; L++) {
        size_t n = llmrt_span_raw_length(&c, L);
        llmrt_span_lengths(&c, n, &in, &tg);
        ck_assert_uint_le(in, L);
        llmrt_span_lengths(&c, n + 1, &in, &tg);
        ck_assert_uint_gt(in, L);
    }
}
END_TEST

/* Corrupt tokens[0:n], check the layout and the inverse, and add the noise
 * tokens and noise spans of the mask to the totals. */
static void corrupt_and_check(llmrt_rng *rng, const int32_t *tokens, size_t n, size_t *noise_sum,
                              size_t *spans_sum)
{
    llmrt_span_config c = llmrt_span_default();
    size_t in_len, tg_len, noise, spans;
    llmrt_span_lengths(&c, n, &in_len, &tg_len);
    llmrt_span_counts(&c, n, &noise, &spans);
    int32_t *in = malloc(in_len * sizeof *in), *tg = malloc(tg_len * sizeof *tg);
    int32_t *back = malloc(n * sizeof *back);
    ck_assert(in && tg && back);
    ck_assert_int_eq(llmrt_span_corrupt(&c, rng, tokens, n, VOCAB, in, tg), LLMRT_OK);
    ck_assert_int_eq(in[in_len - 1], LLMRT_SPAN_EOS);
    ck_assert_int_eq(tg[tg_len - 1], LLMRT_SPAN_EOS);
    /* Sentinels in order, once each, in both; the input starts with kept
     * tokens and its last token before EOS is the last sentinel (the
     * sequence ends with a noise span); the target starts with sentinel 0. */
    ck_assert(!llmrt_span_is_sentinel(in[0], VOCAB));
    ck_assert_int_eq(in[in_len - 2], llmrt_span_sentinel(spans - 1));
    ck_assert_int_eq(tg[0], llmrt_span_sentinel(0));
    size_t next = 0, target_noise = 0, runs = 0;
    for (size_t i = 0; i + 1 < in_len; i++)
        if (llmrt_span_is_sentinel(in[i], VOCAB)) {
            ck_assert_int_eq(in[i], llmrt_span_sentinel(next));
            next++;
        }
    ck_assert_uint_eq(next, spans);
    next = 0;
    for (size_t i = 0; i + 1 < tg_len; i++) {
        if (llmrt_span_is_sentinel(tg[i], VOCAB)) {
            ck_assert_int_eq(tg[i], llmrt_span_sentinel(next));
            /* every span is non-empty */
            ck_assert(!llmrt_span_is_sentinel(tg[i + 1], VOCAB) && tg[i + 1] != LLMRT_SPAN_EOS);
            next++;
            runs++;
        } else {
            target_noise++;
        }
    }
    ck_assert_uint_eq(next, spans);
    ck_assert_uint_eq(target_noise, noise);
    *noise_sum += target_noise;
    *spans_sum += runs;
    /* The inverse gives back the original exactly. */
    size_t n_back = 0;
    ck_assert_int_eq(llmrt_span_fill(in, in_len, tg, tg_len, VOCAB, back, n, &n_back), LLMRT_OK);
    ck_assert_uint_eq(n_back, n);
    ck_assert(memcmp(back, tokens, n * sizeof *back) == 0);
    free(in);
    free(tg);
    free(back);
}

START_TEST(statistics)
{
    llmrt_rng rng;
    llmrt_rng_seed(&rng, 20261126);
    const size_t max_n = 1024;
    int32_t *tok = malloc(max_n * sizeof *tok);
    ck_assert(tok != NULL);
    size_t total = 0, noise = 0, spans = 0, seqs = 0;
    while (total < (2u << 20)) {
        size_t n = 64 + (size_t)llmrt_rng_below(&rng, max_n - 64 + 1);
        for (size_t i = 0; i < n; i++) tok[i] = (int32_t)llmrt_rng_below(&rng, 256);
        corrupt_and_check(&rng, tok, n, &noise, &spans);
        total += n;
        seqs++;
    }
    double density = (double)noise / (double)total, mean_len = (double)noise / (double)spans;
    printf("%zu sequences, %zu tokens: noise density %.4f (want 0.15), mean span %.3f (want 3)\n",
           seqs, total, density, mean_len);
    ck_assert(fabs(density / 0.15 - 1.0) < 0.05);
    ck_assert(fabs(mean_len / 3.0 - 1.0) < 0.05);
    free(tok);
}
END_TEST

START_TEST(segmentation_uniform)
{
    /* n = 512: 77 noise tokens in 26 spans. Over many masks, the lengths of
     * the noise spans have the mean 77/26 and the variance of a uniform
     * random composition. */
    llmrt_span_config c = llmrt_span_default();
    const size_t n = 512, reps = 20000;
    size_t noise, spans;
    llmrt_span_counts(&c, n, &noise, &spans);
    uint8_t mask[512];
    llmrt_rng rng;
    llmrt_rng_seed(&rng, 7);
    double sum = 0, sum2 = 0, count = 0, first_noise_pos = 0, first_noise_pos2 = 0;
    for (size_t r = 0; r < reps; r++) {
        llmrt_span_noise_mask(&c, &rng, n, mask);
        ck_assert_int_eq(mask[0], 0);
        ck_assert_int_eq(mask[n - 1], 1);
        size_t run = 0, total_noise = 0;
        int seen_first = 0;
        for (size_t i = 0; i <= n; i++) {
            if (i < n && mask[i]) {
                if (!seen_first) {
                    first_noise_pos += (double)i;
                    first_noise_pos2 += (double)i * (double)i;
                    seen_first = 1;
                }
                run++;
                total_noise++;
            } else if (run) {
                sum += (double)run;
                sum2 += (double)run * (double)run;
                count++;
                run = 0;
            }
        }
        ck_assert_uint_eq(total_noise, noise);
    }
    ck_assert(count == (double)(reps * spans));
    double mean = sum / count, var = sum2 / count - mean * mean;
    double N = (double)(noise - spans), k = (double)spans;
    double want_var = N * (N + k) * (k - 1) / (k * k * (k + 1));
    /* the first noise token follows the first kept segment: uniform
     * composition of n - noise into k parts, mean (n - noise) / k */
    double fmean = first_noise_pos / (double)reps;
    double want_fmean = (double)(n - noise) / k;
    printf("noise span length: mean %.4f (want %.4f), variance %.4f (want %.4f); first noise "
           "at %.3f (want %.3f)\n",
           mean, (double)noise / k, var, want_var, fmean, want_fmean);
    ck_assert(fabs(mean - (double)noise / k) < 1e-9);
    ck_assert(fabs(var / want_var - 1.0) < 0.05);
    ck_assert(fabs(fmean / want_fmean - 1.0) < 0.05);
}
END_TEST

START_TEST(deterministic)
{
    llmrt_span_config c = llmrt_span_default();
    int32_t tok[300], in1[300], tg1[300], in2[300], tg2[300];
    for (int i = 0; i < 300; i++) tok[i] = i % 256;
    llmrt_rng a, b;
    llmrt_rng_seed(&a, 99);
    llmrt_rng_seed(&b, 99);
    size_t in_len, tg_len;
    llmrt_span_lengths(&c, 300, &in_len, &tg_len);
    ck_assert_int_eq(llmrt_span_corrupt(&c, &a, tok, 300, VOCAB, in1, tg1), LLMRT_OK);
    ck_assert_int_eq(llmrt_span_corrupt(&c, &b, tok, 300, VOCAB, in2, tg2), LLMRT_OK);
    ck_assert(memcmp(in1, in2, in_len * sizeof *in1) == 0);
    ck_assert(memcmp(tg1, tg2, tg_len * sizeof *tg1) == 0);
    /* a different seed moves the spans */
    llmrt_rng_seed(&b, 100);
    ck_assert_int_eq(llmrt_span_corrupt(&c, &b, tok, 300, VOCAB, in2, tg2), LLMRT_OK);
    ck_assert(memcmp(in1, in2, in_len * sizeof *in1) != 0);
}
END_TEST

START_TEST(decoder_inputs)
{
    int32_t tg[4] = {258, 'a', 'b', LLMRT_SPAN_EOS}, dec[4];
    llmrt_span_decoder_inputs(tg, 4, dec);
    ck_assert_int_eq(dec[0], LLMRT_SPAN_PAD);
    ck_assert_int_eq(dec[1], 258);
    ck_assert_int_eq(dec[2], 'a');
    ck_assert_int_eq(dec[3], 'b');
    llmrt_span_decoder_inputs(tg, 4, tg); /* in place */
    ck_assert(memcmp(tg, dec, sizeof dec) == 0);
}
END_TEST

START_TEST(errors)
{
    llmrt_span_config c = llmrt_span_default();
    int32_t tok[512] = {0}, in[512], tg[512], out[512];
    llmrt_rng rng;
    llmrt_rng_seed(&rng, 1);
    /* 512 tokens make 26 spans: vocab 270 holds only 12 sentinels */
    ck_assert_int_eq(llmrt_span_corrupt(&c, &rng, tok, 512, 270, in, tg), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(llmrt_last_error(), "vocab = 270"));
    ck_assert_ptr_nonnull(strstr(llmrt_last_error(), "at least 284"));
    ck_assert_int_eq(llmrt_span_corrupt(&c, &rng, tok, 1, VOCAB, in, tg), LLMRT_ERR_INVALID);
    /* a target without sentinel 1 */
    int32_t input[] = {'x', 258, 'y', 259, LLMRT_SPAN_EOS};
    int32_t target[] = {258, 'a', LLMRT_SPAN_EOS};
    size_t n = 0;
    ck_assert_int_eq(llmrt_span_fill(input, 5, target, 3, VOCAB, out, 512, &n),
                     LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(llmrt_last_error(), "sentinel 259 (span 1)"));
    int32_t target2[] = {258, 'a', 'b', 259, 'c', LLMRT_SPAN_EOS};
    ck_assert_int_eq(llmrt_span_fill(input, 5, target2, 6, VOCAB, out, 512, &n), LLMRT_OK);
    int32_t want[] = {'x', 'a', 'b', 'y', 'c'};
    ck_assert_uint_eq(n, 5);
    ck_assert(memcmp(out, want, sizeof want) == 0);
    ck_assert_int_eq(llmrt_span_fill(input, 5, target2, 6, VOCAB, out, 4, &n),
                     LLMRT_ERR_INVALID);
    /* settings */
    llmrt_span_config bad = {.noise_density = 1.0, .mean_span_length = 3.0};
    ck_assert_int_eq(llmrt_span_config_check(&bad), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(llmrt_last_error(), "noise_density = 1"));
    bad = (llmrt_span_config){.noise_density = 0.15, .mean_span_length = 0.5};
    ck_assert_int_eq(llmrt_span_config_check(&bad), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(llmrt_last_error(), "mean_span_length = 0.5"));
    ck_assert_int_eq(llmrt_span_config_check(&c), LLMRT_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("span");
    TCase *tc = tcase_create("span");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, counts);
    tcase_add_test(tc, statistics);
    tcase_add_test(tc, segmentation_uniform);
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, decoder_inputs);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
