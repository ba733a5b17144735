/* test_qat_export.c — the int8 export of a QAT model (core/qat.h): what the
 * file holds (I8 weights [in, out] 4x smaller than F32, effective step
 * sizes, every other tensor F32, the metadata), that reading it back
 * dequantizes every weight to exactly fake_quant(w, s) (convert.h rule 4,
 * and the backend's fake_quant_forward, which the QAT model computes with),
 * that the model loaded from it gives the QAT model's loss bit for bit, and
 * the errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llmrt/convert.h>

#include "fileio.h"
#include "gpt_test_util.h"
#include "qat.h"

static const llmrt_gpt_config tiny = {
    .layers = 2, .heads = 4, .dim = 32, .context = 16, .vocab = 100, .qat = 1,
};

/* convert.h rule 4: q is an integer (no negative zero), the value q s. */
static float fake_quant_host(float w, float s)
{
    return llmrt_i8_to_f32(llmrt_f32_to_i8(w, s), s);
}

/* fake_quant_forward of the compute backend (what the QAT model computes)
 * on a [rows, cols] weight with per-column steps, into host `out`. */
static void fake_quant_backend(gpt_env *e, const float *w, const float *s, int64_t rows,
                               int64_t cols, float *out)
{
    llmrt_backend be = llmrt_rt_backend(e->rt);
    size_t n = (size_t)(rows * cols);
    void *dw, *ds, *dout;
    OK(llmrt_rt_alloc(e->rt, LLMRT_MEM_OTHER, n * sizeof(float), &dw));
    OK(llmrt_rt_alloc(e->rt, LLMRT_MEM_OTHER, (size_t)cols * sizeof(float), &ds));
    OK(llmrt_rt_alloc(e->rt, LLMRT_MEM_OTHER, n * sizeof(float), &dout));
    OK(llmrt_rt_upload(e->rt, dw, w, n * sizeof(float)));
    OK(llmrt_rt_upload(e->rt, ds, s, (size_t)cols * sizeof(float)));
    llmrt_fake_quant_desc d = {
        .struct_size = sizeof d, .rows = rows, .cols = cols, .axis = 1,
        .qmin = LLMRT_I8_QMIN, .qmax = LLMRT_I8_QMAX, .x = dw, .scale = ds, .out = dout,
    };
    OK(be.vt->fake_quant_forward(be.ctx, &d));
    OK(llmrt_rt_download(e->rt, out, dout, n * sizeof(float)));
    llmrt_rt_free(e->rt, dw);
    llmrt_rt_free(e->rt, ds);
    llmrt_rt_free(e->rt, dout);
}

/* A file `name` in a fresh temporary directory; scratch_close removes both
 * (and closes f, if open). */
typedef struct scratch {
    char *dir, *path;
    llmrt_st_file *f;
} scratch;

static void scratch_open(scratch *x, const char *name)
{
    x->dir = strdup("/tmp/llmrt-qat-export-XXXXXX");
    ck_assert_ptr_nonnull(x->dir);
    ck_assert_ptr_nonnull(mkdtemp(x->dir));
    x->path = llmrt_path_join(x->dir, name);
    x->f = NULL;
}

static void scratch_close(scratch *x)
{
    if (x->f) llmrt_st_close(x->f);
    unlink(x->path);
    rmdir(x->dir);
    free(x->path);
    free(x->dir);
}

/* e's model exported to x->path, and the file opened as x->f. */
static void export_open(gpt_env *e, scratch *x)
{
    OK(llmrt_qat_export(e->rt, e->model, x->path));
    OK(llmrt_st_open(&x->f, x->path));
}

/* A QAT model with its GPT-2/LSQ initialisation, then made harder: clamped
 * weights (one element of every 8th column at 300 steps), a negative step
 * and a zero step (the effective step is |s|, at least LLMRT_QUANT_SCALE_EPS). */
static void open_model(gpt_env *e)
{
    gpt_env_open(e, &tiny, 2, 16);
    gpt_env_init_params(e, 7);
    for (size_t u = 1; u <= (size_t)tiny.layers; u++) {
        const llmrt_unit_desc *unit = &e->layout->units[u];
        float *h = malloc(unit->numel * sizeof *h);
        ck_assert_ptr_nonnull(h);
        gpt_env_get_params(e, u, h);
        for (size_t t = 0; t < unit->n_tensors; t++) {
            int si = llmrt_gpt_tensor_scale(&tiny, u, t);
            if (si < 0) continue;
            int64_t d[2];
            llmrt_gpt_tensor_shape(&tiny, u, t, d);
            float *w = h + unit->tensors[t].offset, *s = h + unit->tensors[si].offset;
            for (int64_t c = 0; c < d[1]; c += 8) w[(c % d[0]) * d[1] + c] = 300.0f * s[c];
            s[1] = -s[1];
            s[2] = 0.0f;
        }
        gpt_env_set_params(e, u, h);
        free(h);
    }
}

START_TEST(export_contents)
{
    gpt_env e;
    open_model(&e);
    scratch x;
    scratch_open(&x, "model-int8.safetensors");
    export_open(&e, &x);
    llmrt_st_file *f = x.f;
    ck_assert_str_eq(llmrt_st_metadata(f, LLMRT_QAT_EXPORT_KEY), LLMRT_QAT_EXPORT_VALUE);
    ck_assert_str_eq(llmrt_st_metadata(f, "model.dim"), "32");
    size_t n_tensors = 0, q_bytes = 0, q_numel = 0, all_bytes = 0, clamped = 0;
    for (size_t u = 0; u < e.layout->n_units; u++) {
        const llmrt_unit_desc *unit = &e.layout->units[u];
        float *h = malloc(unit->numel * sizeof *h), *back = malloc(unit->numel * sizeof *h);
        ck_assert(h && back);
        gpt_env_get_params(&e, u, h);
        for (size_t t = 0; t < unit->n_tensors; t++, n_tensors++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            const llmrt_st_tensor *st = llmrt_st_find(f, td->name);
            ck_assert_msg(st != NULL, "%s missing", td->name);
            all_bytes += st->end - st->begin;
            OK(llmrt_qat_read_f32(e.rt, f, td->name, back + td->offset, td->numel));
            int si = llmrt_gpt_tensor_scale(&tiny, u, t);
            int is_scale = strstr(td->name, "_scale") != NULL;
            ck_assert_int_eq(llmrt_qat_is_export_scale(f, td->name), is_scale);
            if (si >= 0) {
                int64_t d[2];
                llmrt_gpt_tensor_shape(&tiny, u, t, d);
                ck_assert_int_eq(st->dtype, LLMRT_ST_I8);
                ck_assert_int_eq(st->ndim, 2);
                ck_assert_uint_eq(st->shape[0], (uint64_t)d[0]);
                ck_assert_uint_eq(st->shape[1], (uint64_t)d[1]);
                /* 1 byte per weight: 4x smaller than F32 */
                ck_assert_uint_eq(st->end - st->begin, td->numel);
                q_bytes += st->end - st->begin;
                q_numel += td->numel;
                const float *w = h + td->offset, *s = h + unit->tensors[si].offset;
                int8_t *q = malloc(td->numel);
                float *fq = malloc(td->numel * sizeof *fq);
                ck_assert(q && fq);
                OK(llmrt_st_read_raw(f, td->name, LLMRT_ST_I8, q, td->numel));
                fake_quant_backend(&e, w, s, d[0], d[1], fq);
                for (size_t i = 0; i < td->numel; i++) {
                    float want = fake_quant_host(w[i], s[i % (size_t)d[1]]);
                    float got = back[td->offset + i];
                    ck_assert_msg(llmrt_f32_bits(got) == llmrt_f32_bits(want),
                                  "%s[%zu]: dequantized %a, fake_quant %a", td->name, i, got,
                                  want);
                    /* Bit for bit, zeros too: q is an integer (+0), as in PyTorch. */
                    ck_assert_msg(llmrt_f32_bits(got) == llmrt_f32_bits(fq[i]),
                                  "%s[%zu]: dequantized %a, backend fake_quant_forward %a",
                                  td->name, i, got, fq[i]);
                    ck_assert_int_eq(q[i], llmrt_f32_to_i8(w[i], s[i % (size_t)d[1]]));
                    clamped += q[i] == LLMRT_I8_QMAX || q[i] == LLMRT_I8_QMIN;
                }
                free(q);
                free(fq);
            } else if (is_scale) {
                ck_assert_int_eq(st->dtype, LLMRT_ST_F32);
                for (size_t i = 0; i < td->numel; i++) {
                    float want = llmrt_quant_scale(h[td->offset + i]);
                    ck_assert_uint_eq(llmrt_f32_bits(back[td->offset + i]),
                                      llmrt_f32_bits(want));
                }
            } else {
                ck_assert_int_eq(st->dtype, LLMRT_ST_F32);
                ck_assert_int_eq(memcmp(back + td->offset, h + td->offset,
                                        td->numel * sizeof(float)), 0);
            }
        }
        free(h);
        free(back);
    }
    ck_assert_uint_eq(llmrt_st_count(f), n_tensors);
    ck_assert_uint_ge(clamped, 4 * (size_t)tiny.layers);
    printf("export: %zu tensors, %zu bytes of data; quantized weights %zu values in %zu bytes "
           "(F32: %zu); %zu clamped\n",
           n_tensors, all_bytes, q_numel, q_bytes, 4 * q_numel, clamped);
    scratch_close(&x);
    gpt_env_close(&e);
}
END_TEST

/* The model loaded from the export computes what the QAT model computes:
 * fake_quant(q s_eff, s_eff) = q s_eff, so every forward is bit-identical. */
START_TEST(export_roundtrip_loss)
{
    gpt_env e;
    open_model(&e);
    int32_t in[32], tg[32];
    gpt_random_batch(in, tg, 32, 100, 99);
    float loss = gpt_env_loss(&e, in, tg, 2, 16);
    scratch x;
    scratch_open(&x, "m.safetensors");
    export_open(&e, &x);
    for (size_t u = 0; u < e.layout->n_units; u++) {
        const llmrt_unit_desc *unit = &e.layout->units[u];
        float *h = malloc(unit->numel * sizeof *h);
        ck_assert_ptr_nonnull(h);
        for (size_t t = 0; t < unit->n_tensors; t++)
            OK(llmrt_qat_read_f32(e.rt, x.f, unit->tensors[t].name, h + unit->tensors[t].offset,
                                  unit->tensors[t].numel));
        gpt_env_set_params(&e, u, h);
        free(h);
    }
    float loss_export = gpt_env_loss(&e, in, tg, 2, 16);
    printf("QAT model loss %.7f, loaded from its int8 export %.7f\n", loss, loss_export);
    ck_assert_uint_eq(llmrt_f32_bits(loss), llmrt_f32_bits(loss_export));
    scratch_close(&x);
    gpt_env_close(&e);
}
END_TEST

START_TEST(errors)
{
    /* A model without QAT has no step sizes to export. */
    llmrt_gpt_config plain = tiny;
    plain.qat = 0;
    gpt_env e;
    gpt_env_open(&e, &plain, 1, 4);
    scratch x;
    scratch_open(&x, "x.safetensors");
    ck_assert_int_eq(llmrt_qat_export(e.rt, e.model, x.path), LLMRT_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "int8"));
    ck_assert_int_eq(access(x.path, F_OK), -1);

    /* An I8 tensor without its step, and with a step of the wrong shape. */
    int8_t q[6] = {1, -2, 3, 127, -127, 0};
    float s2[2] = {0.5f, 0.25f}, out[6];
    llmrt_st_writer *w;
    OK(llmrt_st_writer_new(&w));
    OK(llmrt_st_writer_add(w, "a", LLMRT_ST_I8, 2, (uint64_t[]){2, 3}, q));
    OK(llmrt_st_writer_add(w, "b", LLMRT_ST_I8, 2, (uint64_t[]){2, 3}, q));
    OK(llmrt_st_writer_add(w, "b_scale", LLMRT_ST_F32, 1, (uint64_t[]){2}, s2));
    OK(llmrt_st_writer_write(w, x.path));
    llmrt_st_writer_free(w);
    OK(llmrt_st_open(&x.f, x.path));
    llmrt_st_file *f = x.f;
    ck_assert_int_eq(llmrt_qat_read_f32(e.rt, f, "a", out, 6), LLMRT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "a_scale"));
    ck_assert_int_eq(llmrt_qat_read_f32(e.rt, f, "b", out, 6), LLMRT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(gpt_env_error(), "b_scale"));
    ck_assert_int_eq(llmrt_qat_read_f32(e.rt, f, "b", out, 5), LLMRT_ERR_FORMAT);
    ck_assert_int_eq(llmrt_qat_is_export_scale(f, "b_scale"), 1);
    ck_assert_int_eq(llmrt_qat_is_export_scale(f, "a"), 0);
    ck_assert_int_eq(llmrt_qat_is_export_scale(f, "c_scale"), 0);
    scratch_close(&x);
    gpt_env_close(&e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("qat_export");
    const TTest *export[] = {export_contents, export_roundtrip_loss, errors};
    GPT_ADD_TCASE(s, "export", 120, export);
    return gpt_test_run(s);
}
