/* cuda_adamw.c — the adamw vtable entry: descriptor checks, the bias
 * corrections (in double on the host, exactly as cpu_adamw.c computes them),
 * then the fused kernel of cuda_adamw.cu on the compute stream.
 *
 * Gradients f32, f16 or bf16; params, m and v fp32. ABI 1.2 params_out:
 * bf16 (nearest-even or stochastic) or f16 (nearest-even), the pairs and
 * roundings convert_ex takes for f32 sources. */
#include "cuda_internal.h"

#include <math.h>
#include <stddef.h>

#include "cuda_adamw.h"

static int grad_kind(llmrt_dtype t)
{
    switch (t) {
    case LLMRT_DTYPE_F32: return CUK_ADAMW_GRAD_F32;
    case LLMRT_DTYPE_F16: return CUK_ADAMW_GRAD_F16;
    case LLMRT_DTYPE_BF16: return CUK_ADAMW_GRAD_BF16;
    default: return -1;
    }
}

/* The params_out kind of d, or an error (members past struct_size absent). */
static int out_kind(const cuda_ctx *c, const llmrt_adamw_desc *d, int *kind)
{
    *kind = CUK_ADAMW_OUT_NONE;
    if (d->struct_size < offsetof(llmrt_adamw_desc, offset) + sizeof d->offset || !d->params_out)
        return LLMRT_OK;
    if (d->rounding != LLMRT_ROUND_NEAREST_EVEN && d->rounding != LLMRT_ROUND_STOCHASTIC)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: adamw: unknown rounding %d",
                              (int)d->rounding);
    int sr = d->rounding == LLMRT_ROUND_STOCHASTIC;
    if (d->params_out_type == LLMRT_DTYPE_BF16)
        *kind = sr ? CUK_ADAMW_OUT_BF16_SR : CUK_ADAMW_OUT_BF16;
    else if (d->params_out_type == LLMRT_DTYPE_F16 && !sr)
        *kind = CUK_ADAMW_OUT_F16;
    else
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cuda: adamw: params_out of type %s with %s rounding is not "
                              "supported (bf16 nearest-even or stochastic, f16 nearest-even)",
                              cuda_dtype_name(d->params_out_type),
                              sr ? "stochastic" : "nearest-even");
    return LLMRT_OK;
}

int cuda_adamw(void *ctx, const llmrt_adamw_desc *d)
{
    cuda_ctx *c = ctx;
    int rc = cuda_require_desc(c, "adamw", d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    int grad = grad_kind(d->grad_type);
    if (grad < 0)
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cuda: adamw (grads): dtype %s is not supported (f32, f16, bf16)",
                              cuda_dtype_name(d->grad_type));
    if (d->t < 1)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: adamw: step t = %lld, must be >= 1",
                              (long long)d->t);
    int out;
    if ((rc = out_kind(c, d, &out))) return rc;
    if (d->n == 0) return LLMRT_OK;
    if (!d->params || !d->grads || !d->m || !d->v)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: adamw: params, grads, m or v is NULL");
    cuk_adamw_args a = {
        .n = d->n,
        .p = d->params, .m = d->m, .v = d->v,
        .g = d->grads, .grad = grad,
        .lr = d->lr, .beta1 = d->beta1, .beta2 = d->beta2, .eps = d->eps,
        .wd = d->weight_decay, .grad_scale = d->grad_scale,
        .inv_bc1 = (float)(1.0 / (1.0 - pow((double)d->beta1, (double)d->t))),
        .inv_bc2 = (float)(1.0 / (1.0 - pow((double)d->beta2, (double)d->t))),
        .out = out == CUK_ADAMW_OUT_NONE ? NULL : d->params_out,
        .out_kind = out,
        .seed = out == CUK_ADAMW_OUT_NONE ? 0 : d->seed,
        .offset = out == CUK_ADAMW_OUT_NONE ? 0 : d->offset,
    };
    return cuda_check(c, cuk_adamw(c->stream, &a), "adamw");
}
