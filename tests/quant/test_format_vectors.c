/* test_format_vectors.c — the quant plugin and convert.h against PyTorch,
 * bit for bit: format_vectors.bin (made by make_format_vectors.py with
 * python3-torch 1.13) holds ~50k fp32 inputs with torch's bf16 and fp16
 * bits, and int8 fake-quantized matrices (per row, per column, per tensor)
 * with their q values. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "quant_test_util.h"

typedef struct matrix_case {
    int32_t rows, cols, axis;
    float *scales, *x, *fake_quant;
    int8_t *q;
} matrix_case;

typedef struct vectors {
    uint32_t n;
    float *x;
    uint16_t *bf16, *fp16;
    uint32_t n_matrices;
    matrix_case *m;
} vectors;

static vectors vec;

static void read_exact(FILE *f, void *dst, size_t bytes, const char *what)
{
    ck_assert_msg(fread(dst, 1, bytes, f) == bytes, "format_vectors.bin: truncated in %s", what);
}

static void *alloc_read(FILE *f, size_t bytes, const char *what)
{
    void *p = malloc(bytes ? bytes : 1);
    ck_assert_ptr_nonnull(p);
    read_exact(f, p, bytes, what);
    return p;
}

/* The fixture is little-endian; so are the machines this runs on (checked). */
static void load_vectors(void)
{
    uint32_t one = 1;
    ck_assert_msg(*(uint8_t *)&one == 1, "the fixture reader assumes a little-endian host");
    const char *dir = getenv("LLMRT_TEST_SRCDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/quant/format_vectors.bin", dir ? dir : "tests");
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (regenerate with tests/quant/make_format_vectors.py)",
                  path);
    char magic[8];
    uint32_t version;
    read_exact(f, magic, 8, "magic");
    ck_assert_msg(memcmp(magic, "LLMRTFV1", 8) == 0, "%s: bad magic", path);
    read_exact(f, &version, 4, "version");
    ck_assert_uint_eq(version, 1);
    read_exact(f, &vec.n, 4, "count");
    ck_assert_msg(vec.n > 1000 && vec.n < 1000000, "%s: %u scalars", path, vec.n);
    vec.x = alloc_read(f, vec.n * sizeof(float), "inputs");
    vec.bf16 = alloc_read(f, vec.n * sizeof(uint16_t), "bf16");
    vec.fp16 = alloc_read(f, vec.n * sizeof(uint16_t), "fp16");
    read_exact(f, &vec.n_matrices, 4, "matrix count");
    ck_assert_msg(vec.n_matrices > 0 && vec.n_matrices < 100, "%u matrices", vec.n_matrices);
    vec.m = calloc(vec.n_matrices, sizeof *vec.m);
    ck_assert_ptr_nonnull(vec.m);
    for (uint32_t i = 0; i < vec.n_matrices; i++) {
        matrix_case *m = &vec.m[i];
        int32_t shape[3];
        read_exact(f, shape, sizeof shape, "matrix shape");
        m->rows = shape[0], m->cols = shape[1], m->axis = shape[2];
        ck_assert(m->rows > 0 && m->cols > 0 && m->rows * m->cols < 1000000);
        ck_assert(m->axis == 0 || m->axis == 1 || m->axis == -1);
        size_t n_scales = m->axis == 0 ? (size_t)m->rows : m->axis == 1 ? (size_t)m->cols : 1;
        size_t n = (size_t)m->rows * (size_t)m->cols;
        m->scales = alloc_read(f, n_scales * sizeof(float), "scales");
        m->x = alloc_read(f, n * sizeof(float), "matrix");
        m->fake_quant = alloc_read(f, n * sizeof(float), "fake quant");
        m->q = alloc_read(f, n, "q");
    }
    char extra;
    ck_assert_msg(fread(&extra, 1, 1, f) == 0, "%s: trailing bytes", path);
    fclose(f);
}

static void free_vectors(void)
{
    free(vec.x), free(vec.bf16), free(vec.fp16);
    for (uint32_t i = 0; i < vec.n_matrices; i++)
        free(vec.m[i].scales), free(vec.m[i].x), free(vec.m[i].fake_quant), free(vec.m[i].q);
    free(vec.m);
    memset(&vec, 0, sizeof vec);
}

/* The fixture covers what it claims to: NaNs, infinities, the fp16
 * overflow boundary and subnormals (so a regenerated file cannot quietly
 * lose them). */
START_TEST(fixture_covers_the_edges)
{
    int nan = 0, inf = 0, f16_inf_boundary = 0, f16_sub = 0;
    for (uint32_t i = 0; i < vec.n; i++) {
        uint32_t a = llmrt_f32_bits(vec.x[i]) & 0x7FFFFFFFu;
        nan += a > 0x7F800000u;
        inf += a == 0x7F800000u;
        f16_inf_boundary += a == 0x477FF000u || a == 0x477FEFFFu;
        f16_sub += a > 0 && a < 0x38800000u && a >= 0x33000000u;
    }
    ck_assert_int_ge(nan, 8);
    ck_assert_int_ge(inf, 2);
    ck_assert_int_ge(f16_inf_boundary, 4);
    ck_assert_int_ge(f16_sub, 1000);
    printf("format_vectors.bin: %u scalars (%d NaN), %u matrices\n", vec.n, nan, vec.n_matrices);
}
END_TEST

static void compare_16(const char *name, const uint16_t *torch_bits, uint16_t (*inline_fn)(float),
                       float (*inline_decode)(uint16_t))
{
    const llmrt_format *f = qt_format(name, NULL);
    uint16_t *out = malloc(vec.n * sizeof *out);
    float *back = malloc(vec.n * sizeof *back);
    ck_assert(out && back);
    ck_assert_int_eq(f->encode(f, out, vec.x, vec.n, NULL, LLMRT_ROUND_NEAREST_EVEN, 0), LLMRT_OK);
    ck_assert_int_eq(f->decode(f, back, out, vec.n, NULL), LLMRT_OK);
    for (uint32_t i = 0; i < vec.n; i++) {
        ck_assert_msg(out[i] == torch_bits[i], "%s: 0x%08x (%.9g) encodes to 0x%04x, torch 0x%04x",
                      name, llmrt_f32_bits(vec.x[i]), vec.x[i], out[i], torch_bits[i]);
        ck_assert_msg(inline_fn(vec.x[i]) == torch_bits[i], "%s: convert.h differs on 0x%08x",
                      name, llmrt_f32_bits(vec.x[i]));
        ck_assert_msg(llmrt_f32_bits(back[i]) == llmrt_f32_bits(inline_decode(out[i])),
                      "%s: 0x%04x decodes to 0x%08x", name, out[i], llmrt_f32_bits(back[i]));
    }
    free(out);
    free(back);
}

static uint16_t inline_bf16(float x) { return llmrt_f32_to_bf16(x); }
static uint16_t inline_f16(float x) { return llmrt_f32_to_f16(x); }

START_TEST(bf16_matches_torch) { compare_16("bf16", vec.bf16, inline_bf16, llmrt_bf16_to_f32); }
END_TEST

START_TEST(fp16_matches_torch) { compare_16("fp16", vec.fp16, inline_f16, llmrt_f16_to_f32); }
END_TEST

/* int8: encode_matrix gives torch's q, decode_matrix torch's fake-quant
 * output, and the scalar functions of convert.h agree. */
START_TEST(int8_matches_torch)
{
    const llmrt_format *f = qt_format("int8", NULL);
    ck_assert_ptr_nonnull(f->encode_matrix);
    ck_assert_ptr_nonnull(f->decode_matrix);
    int ties = 0, clamped = 0;
    for (uint32_t k = 0; k < vec.n_matrices; k++) {
        const matrix_case *m = &vec.m[k];
        size_t n = (size_t)m->rows * (size_t)m->cols;
        int8_t *q = malloc(n);
        float *y = malloc(n * sizeof *y);
        ck_assert(q && y);
        ck_assert_int_eq(f->encode_matrix(f, q, m->x, m->rows, m->cols, m->axis, m->scales),
                         LLMRT_OK);
        ck_assert_int_eq(f->decode_matrix(f, y, q, m->rows, m->cols, m->axis, m->scales),
                         LLMRT_OK);
        for (int32_t r = 0; r < m->rows; r++)
            for (int32_t c = 0; c < m->cols; c++) {
                size_t i = (size_t)r * m->cols + c;
                float s = m->scales[m->axis == 0 ? r : m->axis == 1 ? c : 0];
                ck_assert_msg(q[i] == m->q[i],
                              "matrix %u (axis %d) [%d,%d]: x %.9g scale %.9g: q %d, torch %d", k,
                              m->axis, r, c, m->x[i], s, q[i], m->q[i]);
                ck_assert_msg(llmrt_f32_bits(y[i]) == llmrt_f32_bits(m->fake_quant[i]),
                              "matrix %u [%d,%d]: %.9g, torch's fake quant %.9g", k, r, c, y[i],
                              m->fake_quant[i]);
                ck_assert_int_eq(llmrt_f32_to_i8(m->x[i], s), m->q[i]);
                ck_assert_uint_eq(llmrt_f32_bits(llmrt_i8_to_f32(m->q[i], s)),
                                  llmrt_f32_bits(m->fake_quant[i]));
                float v = m->x[i] / s;
                ties += v - floorf(v) == 0.5f;
                clamped += fabsf(v) > 127.5f;
            }
        free(q);
        free(y);
    }
    /* The fixture has exact ties (round half to even) and clamped values. */
    ck_assert_int_ge(ties, 500);
    ck_assert_int_ge(clamped, 16);
}
END_TEST

static Suite *vectors_suite(void)
{
    Suite *s = suite_create("format_vectors");
    const TTest *torch[] = {fixture_covers_the_edges, bf16_matches_torch, fp16_matches_torch,
                            int8_matches_torch};
    tcase_add_checked_fixture(QT_ADD_TCASE(s, "torch", 0, torch), load_vectors, free_vectors);
    return s;
}

int main(void) { return qt_run_suite(vectors_suite()); }
