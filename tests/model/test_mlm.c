/* test_mlm.c — the masking statistics of core/mlm.c over a large sample:
 * the chosen fraction within 0.5% of mask_prob (absolute: 15% +- 0.5%), the
 * [MASK] / random / kept split within 1%, and each rate within 5 standard
 * errors; specials never chosen; targets -1 off the chosen positions; the
 * per-batch streams of the training loop. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mlm.h"
#include "rng.h"

START_TEST(statistics)
{
    const size_t N = 1u << 21;
    int32_t *tok = malloc(N * sizeof *tok), *in = malloc(N * sizeof *in),
            *tg = malloc(N * sizeof *tg);
    ck_assert(tok && in && tg);
    llmrt_rng rng;
    llmrt_rng_seed(&rng, 42);
    size_t bytes = 0;
    for (size_t i = 0; i < N; i++) {
        /* Every 64th token a special: never chosen. */
        tok[i] = i % 64 == 0 ? LLMRT_MLM_SEP : (int32_t)llmrt_rng_below(&rng, 256);
        bytes += tok[i] < 256;
    }
    llmrt_mlm_config c = llmrt_mlm_default();
    size_t chosen = llmrt_mlm_mask(&c, &rng, tok, in, tg, N);
    size_t masked = 0, kept = 0, other = 0, counted = 0;
    for (size_t i = 0; i < N; i++) {
        if (tg[i] < 0) {
            ck_assert_int_eq(in[i], tok[i]);
            continue;
        }
        counted++;
        ck_assert_int_eq(tg[i], tok[i]);
        ck_assert_int_lt(tok[i], 256);
        if (in[i] == LLMRT_MLM_MASK) masked++;
        else if (in[i] == tok[i]) kept++;
        else {
            ck_assert_int_lt(in[i], 256);
            other++;
        }
    }
    ck_assert_uint_eq(counted, chosen);
    /* A random replacement equal to the token (1/256) counts as kept. */
    double p = (double)chosen / (double)bytes;
    double fm = (double)masked / chosen, fr = (double)other / chosen, fk = (double)kept / chosen;
    double se_p = sqrt(0.15 * 0.85 / bytes), se = sqrt(0.1 * 0.9 / chosen);
    double want_r = 0.1 * 255.0 / 256.0, want_k = 0.1 + 0.1 / 256.0;
    printf("chosen %.4f (want 0.15, se %.4f); of those [MASK] %.4f, random %.4f, kept %.4f\n",
           p, se_p, fm, fr, fk);
    ck_assert(fabs(p - 0.15) < 0.005 && fabs(p - 0.15) < 5 * se_p);
    ck_assert(fabs(fm - 0.8) < 0.01 && fabs(fr - want_r) < 0.01 && fabs(fk - want_k) < 0.01);
    ck_assert(fabs(fr - want_r) < 5 * se && fabs(fk - want_k) < 5 * se);
    free(tok);
    free(in);
    free(tg);
}
END_TEST

/* The training loop's streams, one per batch number (llmrt_mlm_batch_rng):
 * a batch's masks depend on (seed, batch) only, differ between batches and
 * seeds, and over 1024 batches of 2048 bytes the chosen fraction and the
 * split keep the bounds above. */
START_TEST(batch_streams)
{
    enum { N = 2048, BATCHES = 1024 };
    static int32_t tok[N], in[N], tg[N], in2[N], tg2[N];
    for (int i = 0; i < N; i++) tok[i] = (i * 37 + 11) % 256;
    llmrt_mlm_config c = llmrt_mlm_default();
    llmrt_rng a, b;
    llmrt_mlm_batch_rng(&a, 7, 5);
    (void)llmrt_rng_u64(&a); /* draws before do not matter: a fresh stream */
    llmrt_mlm_batch_rng(&a, 7, 5);
    llmrt_mlm_batch_rng(&b, 7, 5);
    llmrt_mlm_mask(&c, &a, tok, in, tg, N);
    llmrt_mlm_mask(&c, &b, tok, in2, tg2, N);
    ck_assert(memcmp(in, in2, sizeof in) == 0 && memcmp(tg, tg2, sizeof tg) == 0);
    llmrt_mlm_batch_rng(&b, 7, 6);
    llmrt_mlm_mask(&c, &b, tok, in2, tg2, N);
    ck_assert(memcmp(tg, tg2, sizeof tg) != 0);
    llmrt_mlm_batch_rng(&b, 8, 5);
    llmrt_mlm_mask(&c, &b, tok, in2, tg2, N);
    ck_assert(memcmp(tg, tg2, sizeof tg) != 0);
    size_t chosen = 0, masked = 0;
    for (uint64_t k = 0; k < BATCHES; k++) {
        llmrt_mlm_batch_rng(&a, 1337, k);
        chosen += llmrt_mlm_mask(&c, &a, tok, in, tg, N);
        for (int i = 0; i < N; i++) masked += in[i] == LLMRT_MLM_MASK;
    }
    double p = (double)chosen / ((double)N * BATCHES), fm = (double)masked / (double)chosen;
    printf("per-batch streams: chosen %.4f, [MASK] %.4f of those\n", p, fm);
    ck_assert(fabs(p - 0.15) < 0.005 && fabs(fm - 0.8) < 0.01);
}
END_TEST

START_TEST(rates_configurable_and_checked)
{
    llmrt_mlm_config c = {.mask_prob = 0.5, .mask_token_frac = 1.0, .random_token_frac = 0.0};
    ck_assert_int_eq(llmrt_mlm_config_check(&c), 0);
    int32_t tok[4096], in[4096], tg[4096];
    for (int i = 0; i < 4096; i++) tok[i] = i % 256;
    llmrt_rng rng;
    llmrt_rng_seed(&rng, 1);
    size_t n = llmrt_mlm_mask(&c, &rng, tok, in, tg, 4096);
    ck_assert(n > 1800 && n < 2300);
    for (int i = 0; i < 4096; i++) ck_assert(tg[i] < 0 || in[i] == LLMRT_MLM_MASK);
    c.random_token_frac = 0.1; /* 1.0 + 0.1 > 1 */
    ck_assert_int_eq(llmrt_mlm_config_check(&c), LLMRT_ERR_INVALID);
    c = (llmrt_mlm_config){.mask_prob = 1.5};
    ck_assert_int_eq(llmrt_mlm_config_check(&c), LLMRT_ERR_INVALID);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mlm");
    TCase *tc = tcase_create("masking");
    tcase_add_test(tc, statistics);
    tcase_add_test(tc, batch_streams);
    tcase_add_test(tc, rates_configurable_and_checked);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
