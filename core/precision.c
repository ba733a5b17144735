/* precision.c — the mixed-precision policy (see precision.h). */
#include "precision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

const char *llmrt_precision_dtype_name(llmrt_dtype t)
{
    static const char *const names[] = {"f32", "f16", "bf16", "i8", "i32", "u16", "u8", "f64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* The storage dtype of a format known by name (no descriptor at hand). */
static int storage_by_name(const char *format, llmrt_dtype *t)
{
    static const struct {
        const char *name;
        llmrt_dtype storage;
    } known[] = {{"fp32", LLMRT_DTYPE_F32}, {"bf16", LLMRT_DTYPE_BF16},
                 {"fp16", LLMRT_DTYPE_F16}, {"int8", LLMRT_DTYPE_I8}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(format, known[i].name)) {
            *t = known[i].storage;
            return LLMRT_OK;
        }
    return llmrt_error(LLMRT_ERR_INVALID,
                       "[runtime] format = %s: unknown (accepted: fp32, bf16, fp16, int8)",
                       format);
}

static int read_loss_scale(llmrt_config *cfg, int fp16, llmrt_precision *p)
{
    const char *mode;
    int rc;
    if ((rc = llmrt_config_string(cfg, "precision", "loss_scale", "auto",
                                  "auto (dynamic for fp16, off otherwise), dynamic, off, or a "
                                  "fixed positive scale",
                                  &mode)) ||
        (rc = llmrt_config_double(cfg, "precision", "loss_scale_initial", 65536.0, 1e-30,
                                  1e30, "first scale of dynamic loss scaling (DeepSpeed: 2^16)",
                                  &p->loss_scale_initial)) ||
        (rc = llmrt_config_int(cfg, "precision", "loss_scale_window", 1000, 1, 1000000000,
                               "overflow-free steps before the scale grows",
                               &p->loss_scale_window)) ||
        (rc = llmrt_config_int(cfg, "precision", "loss_scale_hysteresis", 2, 1, 1000000,
                               "overflows tolerated before the scale shrinks",
                               &p->loss_scale_hysteresis)) ||
        (rc = llmrt_config_double(cfg, "precision", "loss_scale_min", 1.0, 1e-30, 1e30,
                                  "floor of the scale; overflowing there stops training",
                                  &p->loss_scale_min)) ||
        (rc = llmrt_config_double(cfg, "precision", "loss_scale_factor", 2.0, 1.0000001, 1e6,
                                  "growth and shrink factor of the scale",
                                  &p->loss_scale_factor)))
        return rc;
    if (!strcmp(mode, "auto")) {
        p->loss_scale_dynamic = fp16;
        if (!fp16) p->loss_scale_initial = 1.0;
    } else if (!strcmp(mode, "dynamic")) {
        p->loss_scale_dynamic = 1;
    } else if (!strcmp(mode, "off")) {
        p->loss_scale_dynamic = 0;
        p->loss_scale_initial = 1.0;
    } else {
        char *end;
        double v = strtod(mode, &end);
        if (end == mode || *end || !isfinite(v) || v <= 0.0)
            return llmrt_error(LLMRT_ERR_INVALID,
                               "[precision] loss_scale = %s: expected auto, dynamic, off or a "
                               "positive number",
                               mode);
        p->loss_scale_dynamic = 0;
        p->loss_scale_initial = v;
    }
    if (p->loss_scale_dynamic && p->loss_scale_min > p->loss_scale_initial)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "[precision] loss_scale_min = %g is above loss_scale_initial = %g",
                           p->loss_scale_min, p->loss_scale_initial);
    return LLMRT_OK;
}

int llmrt_precision_read(llmrt_config *cfg, const char *format,
                         const llmrt_format *descriptor, llmrt_precision *p)
{
    static const char *const reduce_formats[] = {"auto", "fp32", "bf16", "fp16", NULL};
    memset(p, 0, sizeof *p);
    p->format = format;
    p->descriptor = descriptor;
    llmrt_dtype storage;
    int rc;
    if (descriptor) storage = descriptor->storage;
    else if ((rc = storage_by_name(format, &storage))) return rc;

    switch (storage) {
    case LLMRT_DTYPE_F32:
        p->compute_type = LLMRT_DTYPE_F32;
        break;
    case LLMRT_DTYPE_BF16:
    case LLMRT_DTYPE_F16:
        p->compute_type = storage;
        p->master_weights = 1;
        break;
    case LLMRT_DTYPE_I8:
        /* Quantization-aware training: fp32 compute on fake-quantized
         * weights; int8 is what the export stores. */
        p->compute_type = LLMRT_DTYPE_F32;
        p->qat = 1;
        break;
    default:
        return llmrt_error(LLMRT_ERR_UNSUPPORTED,
                           "[runtime] format = %s: its storage type %s is not one the "
                           "training loop can use (f32, bf16, f16, i8)",
                           format, llmrt_precision_dtype_name(storage));
    }
    p->grad_type = p->compute_type;

    const char *reduce;
    int stochastic;
    long seed;
    if ((rc = llmrt_config_choice(cfg, "precision", "reduce_format", "auto", reduce_formats,
                                  "format of gradients on the wire (auto: the gradients' own)",
                                  &reduce)) ||
        (rc = llmrt_config_bool(cfg, "precision", "stochastic_rounding", 0,
                                "bf16: round fp32 masters into bf16 parameters stochastically",
                                &stochastic)) ||
        (rc = llmrt_config_int(cfg, "precision", "rounding_seed", 0, 0, 2147483647L,
                               "seed of stochastic rounding", &seed)) ||
        (rc = read_loss_scale(cfg, storage == LLMRT_DTYPE_F16, p)))
        return rc;
    if (!strcmp(reduce, "auto")) p->reduce_type = p->grad_type;
    else if ((rc = storage_by_name(reduce, &p->reduce_type))) return rc;
    if (stochastic && p->compute_type != LLMRT_DTYPE_BF16)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "[precision] stochastic_rounding = 1 needs [runtime] format = bf16 "
                           "(it is %s)",
                           format);
    p->param_rounding = stochastic ? LLMRT_ROUND_STOCHASTIC : LLMRT_ROUND_NEAREST_EVEN;
    p->rounding_seed = (uint64_t)seed;
    return LLMRT_OK;
}

void llmrt_precision_apply(const llmrt_precision *p, llmrt_model_layout *layout)
{
    layout->param_type = p->compute_type;
    layout->grad_type = p->grad_type;
    layout->reduce_type = p->reduce_type;
    layout->param_rounding = p->param_rounding;
    layout->rounding_seed = p->rounding_seed;
}
