/* test_safetensors.c — core/safetensors.c: round trip of every dtype and the
 * metadata, exact F16/BF16 conversion, and every class of corrupt file with
 * its one-line message. */
#include "iotest.h"

#include <math.h>
#include <stdint.h>

#include "safetensors.h"

static void setup(void)
{
    iot_mkdtemp();
    llmrt_error_clear();
}

static void teardown(void) { iot_cleanup(); }

/* A file with the 8-byte length `len`, then `json`, then `data_len` bytes. */
static const char *write_raw_len(const char *name, uint64_t len, const char *json,
                                 size_t data_len)
{
    size_t jl = strlen(json);
    unsigned char *b = calloc(1, 8 + jl + data_len);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(len >> (8 * i));
    memcpy(b + 8, json, jl);
    for (size_t i = 0; i < data_len; i++) b[8 + jl + i] = (unsigned char)i;
    const char *p = iot_path(name);
    iot_write(p, b, 8 + jl + data_len);
    free(b);
    return p;
}

static const char *write_raw(const char *name, const char *json, size_t data_len)
{
    return write_raw_len(name, strlen(json), json, data_len);
}

/* ------------------------------------------------------------------ round trip */

START_TEST(round_trip)
{
    float f32[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
    int32_t i32[4] = {1, -2, 2147483647, -2147483647 - 1};
    uint16_t f16[3] = {0x3c00, 0xc000, 0x7bff};
    uint16_t bf16[2] = {0x3f80, 0xc2f7};
    uint8_t u8[1] = {200};
    int64_t i64[2] = {-5, INT64_MAX};
    double f64[1] = {0.1};
    uint64_t s23[2] = {2, 3}, s4[1] = {4}, s3[1] = {3}, s2[1] = {2}, s0[1] = {0};

    llmrt_st_writer *w;
    IOT_OK(llmrt_st_writer_new(&w));
    IOT_OK(llmrt_st_writer_add(w, "transformer.wte.weight", LLMRT_ST_F32, 2, s23, f32));
    IOT_OK(llmrt_st_writer_add(w, "ints", LLMRT_ST_I32, 1, s4, i32));
    IOT_OK(llmrt_st_writer_add(w, "half", LLMRT_ST_F16, 1, s3, f16));
    IOT_OK(llmrt_st_writer_add(w, "brain", LLMRT_ST_BF16, 1, s2, bf16));
    IOT_OK(llmrt_st_writer_add(w, "scalar", LLMRT_ST_U8, 0, NULL, u8));
    IOT_OK(llmrt_st_writer_add(w, "longs", LLMRT_ST_I64, 1, s2, i64));
    IOT_OK(llmrt_st_writer_add(w, "dbl", LLMRT_ST_F64, 0, NULL, f64));
    IOT_OK(llmrt_st_writer_add(w, "empty", LLMRT_ST_F32, 1, s0, NULL));
    IOT_OK(llmrt_st_writer_metadata(w, "format", "pt"));
    IOT_OK(llmrt_st_writer_metadata(w, "note", "x \"quoted\"\nnewline"));
    IOT_OK(llmrt_st_writer_metadata(w, "format", "pt2")); /* replaces */
    const char *p = iot_path("m.safetensors");
    IOT_OK(llmrt_st_writer_write(w, p));
    llmrt_st_writer_free(w);
    ck_assert(!iot_exists(iot_path("m.safetensors.tmp")));

    /* The data starts at a multiple of 8; the padding is spaces. */
    size_t len = 0;
    unsigned char *raw = (unsigned char *)iot_read(p, &len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | raw[i];
    ck_assert_uint_eq((8 + n) % 8, 0);
    ck_assert_int_eq(raw[8], '{');
    ck_assert_int_eq(raw[8 + n - 1] == ' ' || raw[8 + n - 1] == '}', 1);
    free(raw);

    llmrt_st_file *f;
    IOT_OK(llmrt_st_open(&f, p));
    ck_assert_uint_eq(llmrt_st_count(f), 8);
    ck_assert_str_eq(llmrt_st_tensor_at(f, 0)->name, "transformer.wte.weight"); /* order kept */
    const llmrt_st_tensor *t = llmrt_st_find(f, "transformer.wte.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, LLMRT_ST_F32);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_uint_eq(t->shape[0], 2);
    ck_assert_uint_eq(t->shape[1], 3);
    ck_assert_uint_eq(t->numel, 6);
    float back[6];
    IOT_OK(llmrt_st_read_f32(f, "transformer.wte.weight", back, 6));
    ck_assert_mem_eq(back, f32, sizeof f32);
    int32_t ib[4];
    IOT_OK(llmrt_st_read_raw(f, "ints", LLMRT_ST_I32, ib, sizeof ib));
    ck_assert_mem_eq(ib, i32, sizeof i32);
    float h[3], bb[2];
    IOT_OK(llmrt_st_read_f32(f, "half", h, 3));
    ck_assert(h[0] == 1.0f && h[1] == -2.0f && h[2] == 65504.0f);
    IOT_OK(llmrt_st_read_f32(f, "brain", bb, 2));
    ck_assert(bb[0] == 1.0f && bb[1] == -123.5f);
    t = llmrt_st_find(f, "scalar");
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_uint_eq(t->numel, 1);
    ck_assert_uint_eq(*(const uint8_t *)llmrt_st_data(f, t), 200);
    int64_t lb[2];
    IOT_OK(llmrt_st_read_raw(f, "longs", LLMRT_ST_I64, lb, sizeof lb));
    ck_assert_mem_eq(lb, i64, sizeof i64);
    double db;
    IOT_OK(llmrt_st_read_raw(f, "dbl", LLMRT_ST_F64, &db, sizeof db));
    ck_assert(db == 0.1);
    ck_assert_uint_eq(llmrt_st_find(f, "empty")->numel, 0);
    ck_assert_str_eq(llmrt_st_metadata(f, "format"), "pt2");
    ck_assert_str_eq(llmrt_st_metadata(f, "note"), "x \"quoted\"\nnewline");
    ck_assert_ptr_null(llmrt_st_metadata(f, "nope"));
    ck_assert_uint_eq(llmrt_st_metadata_count(f), 2);
    uint64_t want[2] = {2, 3}, wrong[2] = {3, 2};
    IOT_OK(llmrt_st_expect(f, "transformer.wte.weight", 2, want));
    IOT_EXPECT_ERROR(llmrt_st_expect(f, "transformer.wte.weight", 2, wrong), LLMRT_ERR_FORMAT,
                     p, "tensor \"transformer.wte.weight\": has shape [2, 3], expected [3, 2]");
    llmrt_st_close(f);
}
END_TEST

START_TEST(overwrite_existing)
{
    const char *p = iot_path("o.safetensors");
    iot_write_str(p, "old junk that is not safetensors");
    float a = 7;
    uint64_t s1[1] = {1};
    llmrt_st_writer *w;
    IOT_OK(llmrt_st_writer_new(&w));
    IOT_OK(llmrt_st_writer_add(w, "a", LLMRT_ST_F32, 1, s1, &a));
    IOT_OK(llmrt_st_writer_write(w, p));
    llmrt_st_writer_free(w);
    llmrt_st_file *f;
    IOT_OK(llmrt_st_open(&f, p));
    ck_assert_uint_eq(llmrt_st_count(f), 1);
    ck_assert_uint_eq(llmrt_st_metadata_count(f), 0);
    llmrt_st_close(f);
}
END_TEST

START_TEST(writer_errors)
{
    llmrt_st_writer *w;
    float a = 1;
    uint64_t s1[1] = {1}, s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    IOT_OK(llmrt_st_writer_new(&w));
    IOT_OK(llmrt_st_writer_add(w, "a", LLMRT_ST_F32, 1, s1, &a));
    IOT_EXPECT_ERROR(llmrt_st_writer_add(w, "a", LLMRT_ST_F32, 1, s1, &a), LLMRT_ERR_INVALID,
                     "tensor \"a\" added twice");
    IOT_EXPECT_ERROR(llmrt_st_writer_add(w, "__metadata__", LLMRT_ST_F32, 1, s1, &a),
                     LLMRT_ERR_INVALID, "\"__metadata__\" is not a valid tensor name");
    IOT_EXPECT_ERROR(llmrt_st_writer_add(w, "b", LLMRT_ST_F32, 9, s9, &a), LLMRT_ERR_INVALID,
                     "9 dimensions (0 to 8 accepted)");
    IOT_EXPECT_ERROR(llmrt_st_writer_add(w, "c", LLMRT_ST_F32, 1, s1, NULL), LLMRT_ERR_INVALID,
                     "tensor \"c\" has no data");
    const char *bad = iot_path("no/such/dir/x.safetensors");
    IOT_EXPECT_ERROR(llmrt_st_writer_write(w, bad), LLMRT_ERR_IO, bad, "cannot create");
    llmrt_st_writer_free(w);
}
END_TEST

START_TEST(half_conversions)
{
    static const struct {
        uint16_t h;
        float f;
    } v[] = {
        {0x0000, 0.0f},         {0x3c00, 1.0f},      {0xbc00, -1.0f},
        {0x3555, 0x1.554p-2f},  {0x7bff, 65504.0f},  {0x0001, 0x1p-24f},
        {0x03ff, 0x1.ff8p-15f}, {0x0400, 0x1p-14f},  {0x8001, -0x1p-24f},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        ck_assert_msg(llmrt_f16_to_f32(v[i].h) == v[i].f, "f16 %04x", v[i].h);
    ck_assert(isinf(llmrt_f16_to_f32(0x7c00)) && llmrt_f16_to_f32(0x7c00) > 0);
    ck_assert(isinf(llmrt_f16_to_f32(0xfc00)) && llmrt_f16_to_f32(0xfc00) < 0);
    ck_assert(isnan(llmrt_f16_to_f32(0x7e00)));
    ck_assert(signbit(llmrt_f16_to_f32(0x8000)));
    ck_assert(llmrt_bf16_to_f32(0x3f80) == 1.0f);
    ck_assert(llmrt_bf16_to_f32(0x0001) == 0x1p-133f); /* bf16 subnormal */
    ck_assert(isnan(llmrt_bf16_to_f32(0x7fc0)));
    /* The positive finite halves, in order, are strictly increasing and
     * spaced by the half ulp: 2^-24 below 2^-14, then 2^(e-10). */
    for (uint32_t h = 1; h < 0x7c00; h++) {
        float lo = llmrt_f16_to_f32((uint16_t)(h - 1)), hi = llmrt_f16_to_f32((uint16_t)h);
        int e = (int)((h - 1) >> 10);
        float ulp = ldexpf(1.0f, (e ? e : 1) - 25);
        ck_assert_msg(hi - lo == ulp, "f16 %04x", h);
    }
}
END_TEST

START_TEST(dtypes)
{
    ck_assert_int_eq(llmrt_st_dtype_parse("BF16"), LLMRT_ST_BF16);
    ck_assert_int_eq(llmrt_st_dtype_parse("bf16"), -1);
    ck_assert_str_eq(llmrt_st_dtype_name(LLMRT_ST_I64), "I64");
    ck_assert_uint_eq(llmrt_st_dtype_size(LLMRT_ST_F64), 8);
    ck_assert_int_eq(llmrt_st_to_llmrt_dtype(LLMRT_ST_F16), LLMRT_DTYPE_F16);
    ck_assert_int_eq(llmrt_st_to_llmrt_dtype(LLMRT_ST_I64), -1);
    ck_assert_int_eq(llmrt_st_from_llmrt_dtype(LLMRT_DTYPE_U16), LLMRT_ST_U16);
}
END_TEST

/* ------------------------------------------------------------------ corrupt files */

#define OK_ENTRY "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

START_TEST(reads_foreign_layout)
{
    /* Hand-written: metadata last, unknown extra field, trailing spaces. */
    const char *p = write_raw("ok.safetensors",
                              "{" OK_ENTRY ",\"b\":{\"dtype\":\"U8\",\"shape\":[],"
                              "\"data_offsets\":[8,9],\"extra\":1},"
                              "\"__metadata__\":{\"k\":\"v\"}}   ",
                              9);
    llmrt_st_file *f;
    IOT_OK(llmrt_st_open(&f, p));
    ck_assert_uint_eq(llmrt_st_count(f), 2);
    ck_assert_str_eq(llmrt_st_metadata(f, "k"), "v");
    llmrt_st_close(f);
}
END_TEST

static void expect_bad(const char *p, int code, const char *needle)
{
    llmrt_st_file *f = (llmrt_st_file *)1;
    int st = llmrt_st_open(&f, p);
    ck_assert_ptr_null(f);
    IOT_EXPECT_ERROR(st, code, p, needle);
    /* The message starts with the file name. */
    ck_assert_int_eq(strncmp(llmrt_last_error(), p, strlen(p)), 0);
}

START_TEST(corrupt_files)
{
    const char *p = iot_path("tiny.safetensors");
    iot_write(p, "\x05\0\0", 3);
    expect_bad(p, LLMRT_ERR_FORMAT, "3 bytes is too short for a safetensors file");

    p = write_raw_len("huge.safetensors", (uint64_t)1 << 40, "{}", 0);
    expect_bad(p, LLMRT_ERR_FORMAT, "header length 1099511627776 is over the limit of "
                                    "104857600 bytes (100 MB)");

    p = write_raw_len("long.safetensors", 1000, "{}", 10);
    expect_bad(p, LLMRT_ERR_FORMAT,
               "header length 1000 is larger than the rest of the file (12 bytes)");

    p = write_raw("json.safetensors", "{\"a\": {\"dtype\": }", 0);
    expect_bad(p, LLMRT_ERR_FORMAT, "header is not valid JSON: ");

    p = write_raw("array.safetensors", "[1, 2]", 0);
    expect_bad(p, LLMRT_ERR_FORMAT, "header is not a JSON object");

    p = write_raw("dup.safetensors", "{" OK_ENTRY "," OK_ENTRY "}", 8);
    expect_bad(p, LLMRT_ERR_FORMAT, "header is not valid JSON: duplicate object key");

    p = write_raw("entry.safetensors", "{\"a\": 5}", 0);
    expect_bad(p, LLMRT_ERR_FORMAT, "tensor \"a\": entry is not a JSON object");

    p = write_raw("nodtype.safetensors", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    expect_bad(p, LLMRT_ERR_FORMAT, "tensor \"a\": missing \"dtype\"");

    p = write_raw("noshape.safetensors", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}",
                  8);
    expect_bad(p, LLMRT_ERR_FORMAT, "tensor \"a\": missing \"shape\"");

    p = write_raw("nooffs.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8);
    expect_bad(p, LLMRT_ERR_FORMAT, "tensor \"a\": missing \"data_offsets\"");

    p = write_raw("dtype.safetensors",
                  "{\"a\":{\"dtype\":\"F17\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    expect_bad(p, LLMRT_ERR_FORMAT,
               "tensor \"a\": unknown dtype \"F17\" (accepted: F64, F32, F16, BF16, I64");

    p = write_raw("dtype2.safetensors",
                  "{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    expect_bad(p, LLMRT_ERR_FORMAT, "tensor \"a\": \"dtype\" is not a string");

    p = write_raw("shape.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", 8);
    expect_bad(p, LLMRT_ERR_FORMAT, "tensor \"a\": shape[1] is not a non-negative integer");

    p = write_raw("offs.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8);
    expect_bad(p, LLMRT_ERR_FORMAT,
               "tensor \"a\": \"data_offsets\" is not [begin, end] (two non-negative integers)");

    p = write_raw("order.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8);
    expect_bad(p, LLMRT_ERR_FORMAT, "data_offsets [8, 0] end before they begin");

    p = write_raw("mismatch.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 16);
    expect_bad(p, LLMRT_ERR_FORMAT,
               "tensor \"a\": data_offsets [0, 16] hold 16 bytes, but shape [2, 3] of F32 "
               "needs 24 bytes");

    p = write_raw("bounds.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12);
    expect_bad(p, LLMRT_ERR_FORMAT,
               "tensor \"a\": data_offsets [0, 16] go past the end of the data (12 bytes)");

    p = write_raw("overlap.safetensors",
                  "{" OK_ENTRY ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                  12);
    expect_bad(p, LLMRT_ERR_FORMAT,
               "tensors \"a\" [0, 8] and \"b\" [4, 12] overlap");

    p = write_raw("meta.safetensors", "{" OK_ENTRY ",\"__metadata__\":{\"k\":1}}", 8);
    expect_bad(p, LLMRT_ERR_FORMAT, "__metadata__ value of \"k\" is not a string");

    p = write_raw("dims.safetensors",
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                  "\"data_offsets\":[0,1]}}",
                  1);
    expect_bad(p, LLMRT_ERR_FORMAT, "shape has 9 dimensions (at most 8)");

    p = write_raw("ctrl.safetensors",
                  "{\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9]}}", 9);
    expect_bad(p, LLMRT_ERR_FORMAT, "tensor \"a?b\": data_offsets [0, 9] hold 9 bytes");

    p = iot_path("absent.safetensors");
    expect_bad(p, LLMRT_ERR_IO, "cannot open: No such file or directory");
}
END_TEST

START_TEST(truncated_file)
{
    float w[256];
    for (int i = 0; i < 256; i++) w[i] = (float)i;
    uint64_t s[1] = {256};
    llmrt_st_writer *wr;
    IOT_OK(llmrt_st_writer_new(&wr));
    IOT_OK(llmrt_st_writer_add(wr, "w", LLMRT_ST_F32, 1, s, w));
    const char *p = iot_path("cut.safetensors");
    IOT_OK(llmrt_st_writer_write(wr, p));
    llmrt_st_writer_free(wr);
    size_t len = 0;
    char *b = iot_read(p, &len);
    iot_write(p, b, len - 100); /* lose the end of the data */
    expect_bad(p, LLMRT_ERR_FORMAT, "tensor \"w\": data_offsets [0, 1024] go past the end of "
                                    "the data (924 bytes): the file is truncated");
    iot_write(p, b, 20); /* lose most of the header */
    expect_bad(p, LLMRT_ERR_FORMAT, "is larger than the rest of the file (12 bytes)");
    free(b);
}
END_TEST

START_TEST(read_errors)
{
    float a[2] = {1, 2};
    int32_t i[2] = {1, 2};
    uint64_t s2[1] = {2};
    llmrt_st_writer *w;
    IOT_OK(llmrt_st_writer_new(&w));
    IOT_OK(llmrt_st_writer_add(w, "a", LLMRT_ST_F32, 1, s2, a));
    IOT_OK(llmrt_st_writer_add(w, "i", LLMRT_ST_I32, 1, s2, i));
    const char *p = iot_path("r.safetensors");
    IOT_OK(llmrt_st_writer_write(w, p));
    llmrt_st_writer_free(w);
    llmrt_st_file *f;
    IOT_OK(llmrt_st_open(&f, p));
    float out[4];
    IOT_EXPECT_ERROR(llmrt_st_read_f32(f, "nope", out, 2), LLMRT_ERR_FORMAT, p,
                     "no tensor \"nope\" (the file has 2 tensors)");
    IOT_EXPECT_ERROR(llmrt_st_read_f32(f, "a", out, 4), LLMRT_ERR_FORMAT, p,
                     "tensor \"a\": has 2 elements, expected 4");
    IOT_EXPECT_ERROR(llmrt_st_read_f32(f, "i", out, 2), LLMRT_ERR_FORMAT, p,
                     "tensor \"i\": has dtype I32, expected F32, F16 or BF16");
    IOT_EXPECT_ERROR(llmrt_st_read_raw(f, "a", LLMRT_ST_F32, out, 12), LLMRT_ERR_FORMAT, p,
                     "tensor \"a\": holds 8 bytes, expected 12");
    IOT_EXPECT_ERROR(llmrt_st_read_raw(f, "a", LLMRT_ST_BF16, out, 8), LLMRT_ERR_FORMAT, p,
                     "tensor \"a\": has dtype F32, expected BF16");
    llmrt_st_close(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("safetensors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, overwrite_existing);
    tcase_add_test(tc, writer_errors);
    tcase_add_test(tc, half_conversions);
    tcase_add_test(tc, dtypes);
    tcase_add_test(tc, reads_foreign_layout);
    tcase_add_test(tc, corrupt_files);
    tcase_add_test(tc, truncated_file);
    tcase_add_test(tc, read_errors);
    suite_add_tcase(s, tc);
    return iot_run(s);
}
