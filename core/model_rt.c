/* model_rt.c — the state, checks, uploads and activation memory shared by
 * the architectures (model_rt.h). */
#include "model_rt.h"

#include <stdlib.h>
#include <string.h>

#include <llmrt/convert.h>

#include "error.h"
#include "model_layout.h"
#include "runtime.h"

#define CHECK(call)                                                                        \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_) return rc_;                                                               \
    } while (0)

void llmrt_model_base_init(llmrt_model_base *base, const char *name, llmrt_rt *rt, int B_max,
                           int T_max)
{
    base->name = name;
    base->rt = rt;
    base->B_max = B_max;
    base->T_max = T_max;
}

int llmrt_model_check_limits(const char *model, int B_max, int T_max, int context)
{
    if (B_max < 1 || T_max < 1 || T_max > context)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "%s: batch %d x %d: expected B >= 1 and T in 1 .. model.context "
                           "(%d)",
                           model, B_max, T_max, context);
    return LLMRT_OK;
}

int llmrt_model_check_act_bytes(const char *model, size_t act_bytes, int B, int T)
{
    if (!act_bytes)
        return llmrt_error(LLMRT_ERR_INVALID, "%s: activations for B = %d, T = %d overflow",
                           model, B, T);
    return LLMRT_OK;
}

int llmrt_model_base_alloc(llmrt_model_base *base, size_t rows, size_t act_bytes)
{
    base->host_ids = calloc(rows, sizeof *base->host_ids);
    base->host_losses = calloc(rows, sizeof *base->host_losses);
    if (!base->host_ids || !base->host_losses)
        return llmrt_error(LLMRT_ERR_NOMEM, "%s: out of host memory", base->name);
    int rc = llmrt_rt_alloc(base->rt, LLMRT_MEM_ACTIVATIONS, act_bytes, &base->act_memory);
    if (rc)
        return llmrt_error_prefix(rc, "%s: activations (%zu bytes for B = %d, T = %d)",
                                  base->name, act_bytes, base->B_max, base->T_max);
    base->act_bytes = act_bytes;
    return base->ly.vt->memset(base->ly.cc, base->act_memory, 0, act_bytes, NULL);
}

void llmrt_model_base_free(llmrt_model_base *base)
{
    if (base->act_memory) llmrt_rt_free(base->rt, base->act_memory);
    llmrt_layout_free(&base->layout);
    free(base->host_ids);
    free(base->host_losses);
}

int llmrt_model_forward_done(llmrt_model_base *base, int rc)
{
    if (!rc) return LLMRT_OK;
    base->backward_ready = 0;
    base->logits_valid = 0;
    return llmrt_error_prefix(rc, "%s forward", base->name);
}

int llmrt_model_take_backward(llmrt_model_base *base)
{
    if (!base->backward_ready)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "%s backward: needs a forward with targets first (and one "
                           "backward per forward)",
                           base->name);
    base->backward_ready = 0;
    return LLMRT_OK;
}

int llmrt_model_backward_done(const llmrt_model_base *base, int rc)
{
    return rc ? llmrt_error_prefix(rc, "%s backward", base->name) : LLMRT_OK;
}

/* The cross-entropy of rows logits against targets; per-row losses fp32. */
static llmrt_xent_desc xent_desc(const llmrt_model_base *base, const void *logits,
                                 const int32_t *targets, float *losses, int64_t rows, int vocab)
{
    return (llmrt_xent_desc){
        .struct_size = sizeof(llmrt_xent_desc),
        .rows = rows, .vocab = vocab, .padded_vocab = (int64_t)llmrt_padded_vocab(vocab),
        .dtype = base->ly.dt,
        .logits = logits, .targets = targets, .losses = losses,
    };
}

int llmrt_model_mean_loss(const llmrt_model_base *base, const void *logits,
                          const int32_t *targets, float *losses, int64_t rows, int vocab,
                          float *mean_loss)
{
    llmrt_xent_desc xd = xent_desc(base, logits, targets, losses, rows, vocab);
    CHECK(base->ly.vt->softmax_xent(base->ly.cc, &xd));
    CHECK(llmrt_rt_download(base->rt, base->host_losses, losses, (size_t)rows * sizeof(float)));
    double sum = 0.0;
    for (int64_t i = 0; i < rows; i++) sum += base->host_losses[i];
    *mean_loss = base->n_targets ? (float)(sum / base->n_targets) : 0.0f;
    return LLMRT_OK;
}

int llmrt_model_dlogits(const llmrt_model_base *base, void *logits, const int32_t *targets,
                        float *losses, int64_t rows, int vocab, float loss_scale)
{
    llmrt_xent_desc xd = xent_desc(base, logits, targets, losses, rows, vocab);
    xd.dlogits = logits;
    xd.dloss = base->n_targets ? loss_scale / (float)base->n_targets : 0.0f;
    return base->ly.vt->softmax_xent(base->ly.cc, &xd);
}

int llmrt_model_logits_row(const llmrt_model_base *base, const void *logits, int vocab, int b,
                           int t, int B, int T, const char *position, float *host_row)
{
    const llmrt_layers *ly = &base->ly;
    if (!base->logits_valid)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "%s logits: no forward since the last backward (which overwrites "
                           "the logits with their gradient)",
                           base->name);
    if (b < 0 || b >= B || t < 0 || t >= T)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "%s logits: row %d, %s %d outside the last forward's %d x %d",
                           base->name, b, position, t, B, T);
    size_t row = (size_t)b * (size_t)T + (size_t)t, V = (size_t)vocab;
    const void *src = llmrt_at(ly, logits, row * llmrt_padded_vocab(vocab));
    CHECK(llmrt_rt_download(base->rt, host_row, src, V * ly->es));
    if (ly->dt == LLMRT_DTYPE_F32) return LLMRT_OK;
    /* Widen the 16-bit values in place (exactly, convert.h), last first: the
     * float written at i covers halves 2i and 2i + 1, both already read. */
    for (size_t i = V; i-- > 0;) {
        uint16_t h;
        memcpy(&h, (const char *)host_row + 2 * i, sizeof h);
        host_row[i] = ly->dt == LLMRT_DTYPE_BF16 ? llmrt_bf16_to_f32(h) : llmrt_f16_to_f32(h);
    }
    return LLMRT_OK;
}

int llmrt_model_check_backend(const llmrt_model_base *base, int qat,
                              const llmrt_kernel_need *extra, size_t n_extra)
{
    const llmrt_compute_vtable *vt = base->ly.vt;
    const llmrt_kernel_need common[] = {
        LLMRT_KERNEL_NEED(vt, gemm),
        LLMRT_KERNEL_NEED(vt, norm_forward),
        LLMRT_KERNEL_NEED(vt, norm_backward),
        LLMRT_KERNEL_NEED(vt, attention_forward),
        LLMRT_KERNEL_NEED(vt, attention_backward),
        LLMRT_KERNEL_NEED(vt, softmax_xent),
        LLMRT_KERNEL_NEED(vt, embedding_forward),
        LLMRT_KERNEL_NEED(vt, embedding_backward),
        LLMRT_KERNEL_NEED(vt, copy),
        LLMRT_KERNEL_NEED(vt, memset),
        {"fake_quant_forward (int8 QAT)",
         !qat || LLMRT_HAS(vt, vt->struct_size, fake_quant_forward)},
        {"fake_quant_backward (int8 QAT)",
         !qat || LLMRT_HAS(vt, vt->struct_size, fake_quant_backward)},
    };
    const size_t n_common = sizeof common / sizeof common[0];
    const char *missing = NULL;
    for (size_t i = 0; !missing && i < n_common + n_extra; i++) {
        const llmrt_kernel_need *k = i < n_common ? &common[i] : &extra[i - n_common];
        if (!k->present) missing = k->name;
    }
    if (!missing) return LLMRT_OK;
    const char *backend = llmrt_rt_component_name(base->rt, LLMRT_KIND_COMPUTE);
    return llmrt_error(LLMRT_ERR_UNSUPPORTED,
                       "backend %s does not support %s, which the %s model needs",
                       backend ? backend : "?", missing, base->name);
}

int llmrt_model_check_attached(const llmrt_model_base *base)
{
    void *sctx = NULL;
    llmrt_rt_strategy(base->rt, &sctx);
    if (!sctx)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "%s: no strategy yet: attach the model's layout with "
                           "llmrt_rt_attach_model() before the first forward",
                           base->name);
    return LLMRT_OK;
}

int llmrt_model_check_batch(const llmrt_model_base *base, int B, int T)
{
    if (B < 1 || B > base->B_max || T < 1 || T > base->T_max)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "%s forward: batch %d x %d tokens: the model was created for at "
                           "most %d x %d",
                           base->name, B, T, base->B_max, base->T_max);
    return LLMRT_OK;
}

int llmrt_model_check_ids(const char *model, const char *what, const int32_t *ids, size_t n,
                          int T, int vocab, int allow_negative)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= vocab || (ids[i] < 0 && !allow_negative))
            return llmrt_error(LLMRT_ERR_INVALID,
                               "%s: %s token %d at row %zu, position %zu is outside "
                               "[0, model.vocab = %d)",
                               model, what, ids[i], i / (size_t)T, i % (size_t)T, vocab);
    return LLMRT_OK;
}

int llmrt_model_upload_tokens(llmrt_model_base *base, const llmrt_lm_io *io, int vocab,
                              const int32_t *inputs, const int32_t *targets, int B, int T)
{
    size_t BT = (size_t)B * (size_t)T;
    CHECK(llmrt_model_check_ids(base->name, "input", inputs, BT, T, vocab, 0));
    CHECK(llmrt_rt_upload(base->rt, io->inputs, inputs, BT * sizeof *inputs));
    base->n_targets = 0;
    if (!targets) return LLMRT_OK;
    CHECK(llmrt_model_check_ids(base->name, "target", targets, BT, T, vocab, 1));
    for (size_t i = 0; i < BT; i++) base->n_targets += targets[i] >= 0;
    return llmrt_rt_upload(base->rt, io->targets, targets, BT * sizeof *targets);
}

int llmrt_model_upload_positions(llmrt_model_base *base, const llmrt_lm_io *io, int B, int T,
                                 int *pos_B, int *pos_T)
{
    if (*pos_B == B && *pos_T == T) return LLMRT_OK;
    size_t BT = (size_t)B * (size_t)T;
    for (size_t i = 0; i < BT; i++) base->host_ids[i] = (int32_t)(i % (size_t)T);
    CHECK(llmrt_rt_upload(base->rt, io->positions, base->host_ids, BT * sizeof(int32_t)));
    *pos_B = B;
    *pos_T = T;
    return LLMRT_OK;
}

enum { ACT_ALIGN = 64 };

void *llmrt_carve(llmrt_carver *cv, size_t count, size_t elem)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, elem, &bytes) || bytes > SIZE_MAX - ACT_ALIGN ||
        cv->off > SIZE_MAX - bytes - ACT_ALIGN) {
        cv->overflow = 1;
        return NULL;
    }
    bytes = (bytes + ACT_ALIGN - 1) / ACT_ALIGN * ACT_ALIGN;
    void *p = cv->base ? cv->base + cv->off : NULL;
    cv->off += bytes;
    return p;
}

void llmrt_carve_lm_io(llmrt_carver *cv, llmrt_lm_io *io, size_t rows, size_t Vp, size_t es)
{
    io->logits = llmrt_carve(cv, rows * Vp, es);
    io->losses = llmrt_carve(cv, rows, sizeof(float));
    io->inputs = llmrt_carve(cv, rows, sizeof(int32_t));
    io->targets = llmrt_carve(cv, rows, sizeof(int32_t));
    io->positions = llmrt_carve(cv, rows, sizeof(int32_t));
}

void llmrt_carve_qat(llmrt_carver *cv, int qat, size_t C, float **qat_w, float **qat_dw)
{
    *qat_w = *qat_dw = NULL;
    if (!qat) return;
    *qat_w = llmrt_carve(cv, 4 * C * C, sizeof(float));
    *qat_dw = llmrt_carve(cv, 4 * C * C, sizeof(float));
}
