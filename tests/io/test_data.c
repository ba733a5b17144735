/* test_data.c — core/data.c and core/tokenizer.c: both file formats, every
 * malformed .bin, vocabulary checks, exact batch contents, shuffling,
 * multi-rank disjointness and seeking. */
#include "iotest.h"

#include <stdint.h>

#include "data.h"
#include "tokenizer.h"

static void setup(void)
{
    iot_mkdtemp();
    llmrt_error_clear();
}

static void teardown(void) { iot_cleanup(); }

/* An llm.c token file: header (magic, version, count) then `n` tokens of
 * `width` bytes with value tok(i); `extra` bytes appended (negative: cut). */
static const char *write_bin(const char *name, uint32_t magic, uint32_t version, uint32_t count,
                             size_t n, unsigned width, uint32_t (*tok)(size_t), long extra)
{
    size_t size = 1024 + n * width;
    unsigned char *b = calloc(1, size + (extra > 0 ? (size_t)extra : 0));
    ck_assert_ptr_nonnull(b);
    uint32_t h[3] = {magic, version, count};
    memcpy(b, h, sizeof h); /* the tests run on little-endian hosts, as llm.c does */
    for (size_t i = 0; i < n; i++) {
        uint32_t t = tok(i);
        memcpy(b + 1024 + i * width, &t, width);
    }
    size_t total = extra >= 0 ? size + (size_t)extra : size - (size_t)(-extra);
    const char *p = iot_path(name);
    iot_write(p, b, total);
    free(b);
    return p;
}

static uint32_t tok_index(size_t i) { return (uint32_t)i; }
static uint32_t tok_big(size_t i) { return i == 5 ? 50257u : 7u; }
static uint32_t tok_llama(size_t i) { return 100000u + (uint32_t)i; }

static const char *good_bin(size_t n)
{
    return write_bin("tokens.bin", LLMRT_TOKFILE_MAGIC, 1, (uint32_t)n, n, 2, tok_index, 0);
}

/* ------------------------------------------------------------------ files */

START_TEST(bin_file)
{
    const char *p = good_bin(100);
    llmrt_dataset *d;
    IOT_OK(llmrt_dataset_open(&d, p, 50257));
    ck_assert_int_eq(llmrt_dataset_kind(d), LLMRT_DATA_TOKENS);
    ck_assert_uint_eq(llmrt_dataset_ntokens(d), 100);
    ck_assert_str_eq(llmrt_dataset_path(d), p);
    for (uint64_t i = 0; i < 100; i++) ck_assert_uint_eq(llmrt_dataset_token(d, i), i);
    int32_t buf[5];
    llmrt_dataset_copy(d, 40, 5, buf);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(buf[i], 40 + i);
    llmrt_dataset_close(d);
}
END_TEST

START_TEST(bin_version2)
{
    const char *p = write_bin("llama.bin", LLMRT_TOKFILE_MAGIC, 2, 10, 10, 4, tok_llama, 0);
    llmrt_dataset *d;
    IOT_OK(llmrt_dataset_open(&d, p, 128256));
    ck_assert_uint_eq(llmrt_dataset_token(d, 3), 100003u);
    llmrt_dataset_close(d);
}
END_TEST

START_TEST(text_file)
{
    const char *p = iot_path("tiny.txt");
    iot_write_str(p, "héllo\n");
    llmrt_dataset *d;
    IOT_OK(llmrt_dataset_open(&d, p, 256));
    ck_assert_int_eq(llmrt_dataset_kind(d), LLMRT_DATA_TEXT);
    ck_assert_uint_eq(llmrt_dataset_ntokens(d), 7); /* é is two bytes */
    ck_assert_uint_eq(llmrt_dataset_token(d, 0), 'h');
    ck_assert_uint_eq(llmrt_dataset_token(d, 1), 0xc3);
    ck_assert_uint_eq(llmrt_dataset_token(d, 2), 0xa9);
    llmrt_dataset_close(d);
}
END_TEST

START_TEST(bad_bin_files)
{
    llmrt_dataset *d = NULL;
    const char *p = write_bin("magic.bin", 12345, 1, 10, 10, 2, tok_index, 0);
    IOT_EXPECT_ERROR(llmrt_dataset_open(&d, p, 256), LLMRT_ERR_FORMAT, p,
                     "bad magic 12345 in the header (expected 20240520");
    ck_assert_ptr_null(d);

    p = write_bin("version.bin", LLMRT_TOKFILE_MAGIC, 7, 10, 10, 2, tok_index, 0);
    IOT_EXPECT_ERROR(llmrt_dataset_open(&d, p, 256), LLMRT_ERR_FORMAT, p,
                     "unsupported version 7 (expected 1: uint16 tokens, or 2: uint32 tokens)");

    p = write_bin("short.bin", LLMRT_TOKFILE_MAGIC, 1, 100, 50, 2, tok_index, 0);
    IOT_EXPECT_ERROR(llmrt_dataset_open(&d, p, 256), LLMRT_ERR_FORMAT, p,
                     "the header says 100 tokens, so the file should be 1224 bytes, but it "
                     "is 1124 bytes (truncated?)");

    p = write_bin("long.bin", LLMRT_TOKFILE_MAGIC, 1, 10, 10, 2, tok_index, 3);
    IOT_EXPECT_ERROR(llmrt_dataset_open(&d, p, 256), LLMRT_ERR_FORMAT, p,
                     "should be 1044 bytes, but it is 1047 bytes");

    p = write_bin("header.bin", LLMRT_TOKFILE_MAGIC, 1, 0, 0, 2, tok_index, -24);
    IOT_EXPECT_ERROR(llmrt_dataset_open(&d, p, 256), LLMRT_ERR_FORMAT, p,
                     "1000 bytes is shorter than the 1024-byte header");

    p = iot_path("empty.bin");
    iot_write(p, "", 0);
    IOT_EXPECT_ERROR(llmrt_dataset_open(&d, p, 256), LLMRT_ERR_FORMAT, p,
                     "0 bytes is shorter than the 1024-byte header");

    p = iot_path("missing.bin");
    IOT_EXPECT_ERROR(llmrt_dataset_open(&d, p, 256), LLMRT_ERR_IO, p, "cannot open",
                     "No such file");

    IOT_EXPECT_ERROR(llmrt_dataset_open(&d, iot_dir, 256), LLMRT_ERR_IO, iot_dir,
                     "not a regular file");
    ck_assert_ptr_null(d);
}
END_TEST

START_TEST(token_outside_vocab)
{
    llmrt_dataset *d = NULL;
    const char *p = write_bin("big.bin", LLMRT_TOKFILE_MAGIC, 1, 10, 10, 2, tok_big, 0);
    IOT_EXPECT_ERROR(llmrt_dataset_open(&d, p, 50257), LLMRT_ERR_FORMAT, p,
                     "token 50257 at position 5 is outside the vocabulary (expected tokens < "
                     "vocab size 50257)");
    IOT_OK(llmrt_dataset_open(&d, p, 50304)); /* a padded vocabulary takes it */
    llmrt_dataset_close(d);

    p = iot_path("utf8.txt");
    iot_write_str(p, "ab\xc3\xa9");
    IOT_EXPECT_ERROR(llmrt_dataset_open(&d, p, 128), LLMRT_ERR_FORMAT, p,
                     "byte 0xc3 (token 195) at position 2 is outside the vocabulary",
                     "vocab size 128");
}
END_TEST

/* ------------------------------------------------------------------ batches */

static llmrt_batcher_opts opts(size_t B, size_t T, int rank, int world, int shuffle,
                               uint64_t seed)
{
    llmrt_batcher_opts o = {.batch = B, .context = T, .rank = rank, .world = world,
                            .shuffle = shuffle, .seed = seed};
    return o;
}

START_TEST(too_few_tokens)
{
    const char *p = good_bin(12); /* B*T = 12 needs 13 */
    llmrt_dataset *d;
    IOT_OK(llmrt_dataset_open(&d, p, 256));
    llmrt_batcher *b = NULL;
    llmrt_batcher_opts o = opts(3, 4, 0, 1, 0, 0);
    IOT_EXPECT_ERROR(llmrt_batcher_new(&b, d, &o), LLMRT_ERR_INVALID, p,
                     ": 12 tokens is too few for batch 3 x context 4 (needs at least 13)");
    ck_assert_ptr_null(b);
    llmrt_dataset_close(d);

    p = good_bin(13 + 12 * 2); /* 3 batches of 12 (37 tokens) for 4 ranks */
    IOT_OK(llmrt_dataset_open(&d, p, 256));
    o = opts(3, 4, 1, 4, 0, 0);
    IOT_EXPECT_ERROR(llmrt_batcher_new(&b, d, &o), LLMRT_ERR_INVALID, p,
                     "37 tokens make 3 batches of 3 x 4, too few for 4 ranks",
                     "needs at least 49 tokens");
    o = opts(3, 4, 4, 4, 0, 0);
    IOT_EXPECT_ERROR(llmrt_batcher_new(&b, d, &o), LLMRT_ERR_INVALID, "rank 4 of world size 4");
    o = opts(0, 4, 0, 1, 0, 0);
    IOT_EXPECT_ERROR(llmrt_batcher_new(&b, d, &o), LLMRT_ERR_INVALID, "batch 0 x context 4");
    llmrt_dataset_close(d);

    p = iot_path("empty.txt");
    iot_write(p, "", 0);
    IOT_OK(llmrt_dataset_open(&d, p, 256));
    o = opts(1, 1, 0, 1, 0, 0);
    IOT_EXPECT_ERROR(llmrt_batcher_new(&b, d, &o), LLMRT_ERR_INVALID,
                     "0 tokens is too few for batch 1 x context 1 (needs at least 2)");
    llmrt_dataset_close(d);
}
END_TEST

START_TEST(batch_contents)
{
    /* 30 tokens 0..29, B=2, T=3: n = 29/6 = 4 batches at tokens 0, 6, 12, 18. */
    llmrt_dataset *d;
    IOT_OK(llmrt_dataset_open(&d, good_bin(30), 256));
    llmrt_batcher *b;
    llmrt_batcher_opts o = opts(2, 3, 0, 1, 0, 0);
    IOT_OK(llmrt_batcher_new(&b, d, &o));
    ck_assert_uint_eq(llmrt_batcher_nbatches(b), 4);
    ck_assert_uint_eq(llmrt_batcher_per_epoch(b), 4);
    int32_t in[6], tg[6];
    for (int k = 0; k < 6; k++) { /* past the end it wraps to the next epoch */
        llmrt_batcher_next(b, in, tg);
        int start = (k % 4) * 6;
        for (int i = 0; i < 6; i++) {
            ck_assert_int_eq(in[i], start + i);
            ck_assert_int_eq(tg[i], start + i + 1);
        }
    }
    ck_assert_uint_eq(llmrt_batcher_position(b), 6);
    ck_assert_uint_eq(llmrt_batcher_epoch(b), 1);
    llmrt_batcher_free(b);
    llmrt_dataset_close(d);
}
END_TEST

START_TEST(text_batches)
{
    const char *p = iot_path("t.txt");
    iot_write_str(p, "abcdefghij");
    llmrt_dataset *d;
    IOT_OK(llmrt_dataset_open(&d, p, 256));
    llmrt_batcher *b;
    llmrt_batcher_opts o = opts(1, 4, 0, 1, 0, 0);
    IOT_OK(llmrt_batcher_new(&b, d, &o));
    int32_t in[4], tg[4];
    llmrt_batcher_next(b, in, tg);
    llmrt_batcher_next(b, in, tg);
    char s[8];
    llmrt_tok_decode(in, 4, s, sizeof s);
    ck_assert_str_eq(s, "efgh");
    llmrt_tok_decode(tg, 4, s, sizeof s);
    ck_assert_str_eq(s, "fghi");
    llmrt_batcher_free(b);
    llmrt_dataset_close(d);
}
END_TEST

/* Batch index sequence of one epoch of one rank. */
static void epoch_order(llmrt_batcher *b, uint64_t epoch, uint64_t *out)
{
    uint64_t m = llmrt_batcher_per_epoch(b);
    for (uint64_t j = 0; j < m; j++) out[j] = llmrt_batcher_index_at(b, epoch * m + j);
}

START_TEST(shuffle_order)
{
    enum { N = 50 };
    llmrt_dataset *d;
    IOT_OK(llmrt_dataset_open(&d, good_bin(N * 4 + 1), 65536));
    llmrt_batcher *a, *b, *c;
    llmrt_batcher_opts o = opts(2, 2, 0, 1, 1, 42);
    IOT_OK(llmrt_batcher_new(&a, d, &o));
    IOT_OK(llmrt_batcher_new(&b, d, &o));
    o.seed = 43;
    IOT_OK(llmrt_batcher_new(&c, d, &o));
    ck_assert_uint_eq(llmrt_batcher_nbatches(a), N);
    uint64_t ea0[N], ea1[N], eb0[N], ec0[N];
    epoch_order(a, 0, ea0);
    epoch_order(a, 1, ea1);
    epoch_order(b, 0, eb0);
    epoch_order(c, 0, ec0);
    int seen[N] = {0}, moved = 0, same_epochs = 1, same_seeds = 1;
    for (int i = 0; i < N; i++) {
        ck_assert_uint_lt(ea0[i], N);
        seen[ea0[i]]++;
        moved += ea0[i] != (uint64_t)i;
        ck_assert_uint_eq(ea0[i], eb0[i]); /* deterministic */
        same_epochs &= ea0[i] == ea1[i];
        same_seeds &= ea0[i] == ec0[i];
    }
    for (int i = 0; i < N; i++) ck_assert_int_eq(seen[i], 1); /* a permutation */
    ck_assert_int_gt(moved, N / 2);
    ck_assert(!same_epochs);
    ck_assert(!same_seeds);
    /* The batch read is the one the order names. */
    int32_t in[4], tg[4];
    llmrt_batcher_next(a, in, tg);
    ck_assert_int_eq(in[0], (int32_t)(ea0[0] * 4));
    ck_assert_int_eq(tg[3], (int32_t)(ea0[0] * 4 + 4));
    llmrt_batcher_free(a);
    llmrt_batcher_free(b);
    llmrt_batcher_free(c);
    llmrt_dataset_close(d);
}
END_TEST

START_TEST(ranks_disjoint)
{
    /* 10 batches, 3 ranks: 3 each per epoch, batch 9 unused. */
    enum { W = 3 };
    llmrt_dataset *d;
    IOT_OK(llmrt_dataset_open(&d, good_bin(10 * 4 + 1), 256));
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
        llmrt_batcher *b[W];
        for (int r = 0; r < W; r++) {
            llmrt_batcher_opts o = opts(1, 4, r, W, shuffle, 7);
            IOT_OK(llmrt_batcher_new(&b[r], d, &o));
            ck_assert_uint_eq(llmrt_batcher_per_epoch(b[r]), 3);
        }
        for (uint64_t epoch = 0; epoch < 3; epoch++) {
            int seen[10] = {0};
            for (int r = 0; r < W; r++)
                for (uint64_t j = 0; j < 3; j++) {
                    uint64_t g = epoch * 3 + j;
                    uint64_t idx = llmrt_batcher_index_at(b[r], g);
                    if (!shuffle) ck_assert_uint_eq(idx, j * W + (uint64_t)r); /* g*W + r */
                    ck_assert_uint_lt(idx, 10);
                    seen[idx]++;
                }
            int distinct = 0;
            for (int i = 0; i < 10; i++) {
                ck_assert_int_le(seen[i], 1); /* no two ranks share a batch */
                distinct += seen[i];
            }
            ck_assert_int_eq(distinct, 9);
        }
        for (int r = 0; r < W; r++) llmrt_batcher_free(b[r]);
    }
    llmrt_dataset_close(d);
}
END_TEST

START_TEST(seek_restores)
{
    llmrt_dataset *d;
    IOT_OK(llmrt_dataset_open(&d, good_bin(7 * 6 + 1), 256));
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
        llmrt_batcher_opts o = opts(2, 3, 1, 2, shuffle, 99);
        llmrt_batcher *a, *b;
        IOT_OK(llmrt_batcher_new(&a, d, &o));
        int32_t in[6], tg[6], in2[6], tg2[6];
        /* per epoch 3: position 5 is in the second epoch */
        for (int k = 0; k < 5; k++) llmrt_batcher_next(a, in, tg);
        int32_t want_in[4][6], want_tg[4][6];
        for (int k = 0; k < 4; k++) llmrt_batcher_next(a, want_in[k], want_tg[k]);
        IOT_OK(llmrt_batcher_new(&b, d, &o));
        llmrt_batcher_next(b, in2, tg2); /* some other state first */
        llmrt_batcher_seek(b, 5);
        ck_assert_uint_eq(llmrt_batcher_position(b), 5);
        for (int k = 0; k < 4; k++) {
            llmrt_batcher_next(b, in2, tg2);
            ck_assert_mem_eq(in2, want_in[k], sizeof in2);
            ck_assert_mem_eq(tg2, want_tg[k], sizeof tg2);
        }
        ck_assert_uint_eq(llmrt_batcher_position(b), 9);
        llmrt_batcher_free(a);
        llmrt_batcher_free(b);
    }
    llmrt_dataset_close(d);
}
END_TEST

/* ------------------------------------------------------------------ tokenizer */

START_TEST(tokenizer)
{
    int32_t t[16];
    ck_assert_uint_eq(llmrt_tok_encode("hé!", t), 4);
    ck_assert_int_eq(t[0], 'h');
    ck_assert_int_eq(t[1], 0xc3);
    ck_assert_int_eq(t[2], 0xa9);
    ck_assert_int_eq(t[3], '!');
    char s[64];
    ck_assert_uint_eq(llmrt_tok_decode(t, 4, s, sizeof s), 4);
    ck_assert_str_eq(s, "hé!");
    int32_t mixed[] = {'a', 50256, 'b', -1};
    ck_assert_uint_eq(llmrt_tok_decode(mixed, 4, s, sizeof s), 13);
    ck_assert_str_eq(s, "a<50256>b<-1>");
    /* Cut output: the length the whole text needs, like snprintf. */
    ck_assert_uint_eq(llmrt_tok_decode(mixed, 4, s, 4), 13);
    ck_assert_str_eq(s, "a<5");
    char piece[LLMRT_TOK_PIECE_MAX];
    ck_assert_uint_eq(llmrt_tok_decode_one(0, piece), 1);
    ck_assert_int_eq(piece[0], '\0');
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("data");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bin_file);
    tcase_add_test(tc, bin_version2);
    tcase_add_test(tc, text_file);
    tcase_add_test(tc, bad_bin_files);
    tcase_add_test(tc, token_outside_vocab);
    tcase_add_test(tc, too_few_tokens);
    tcase_add_test(tc, batch_contents);
    tcase_add_test(tc, text_batches);
    tcase_add_test(tc, shuffle_order);
    tcase_add_test(tc, ranks_disjoint);
    tcase_add_test(tc, seek_restores);
    tcase_add_test(tc, tokenizer);
    suite_add_tcase(s, tc);
    return iot_run(s);
}
