/* ddp.c — distributed data parallel: every rank holds the full parameters,
 * gradients and AdamW state; gradients are averaged with one allreduce per
 * bucket, launched asynchronously as soon as the backward of the last
 * micro-batch has finished every unit of the bucket, so communication
 * overlaps the rest of the backward; the allreduces are waited in
 * grad_norm_sq/optimizer_step.
 *
 * Buckets ([ddp] bucket_bytes, default 25 MiB): units finish their backward
 * last to first, so a bucket is a run of consecutive units, taken from the
 * last unit down, whose gradients (contiguous in the flat buffer) total at
 * least bucket_bytes, or a single unit that is bigger; the remainder at unit
 * 0 forms the last bucket.
 *
 * At world size 1 the allreduce is the local identity and ddp is a plain
 * single-process optimizer over the same hooks.
 *
 * Mixed precision (strategy.h rule 8): parameters and gradients are held in
 * the layout's types; with 16-bit parameters every rank also keeps fp32
 * masters (optimizer category), steps them and writes them back rounded.
 * When the wire format differs from the gradients', each bucket is
 * converted into a communication buffer, reduced there and converted back. */
#include <limits.h>
#include <string.h>

#include "shard.h"

typedef struct ddp_ctx {
    const llmrt_host_api *host;
    const llmrt_strategy_services *svc;
    const llmrt_model_layout *layout;
    size_t *offsets;           /* unit u starts at offsets[u] in each flat buffer */
    llmrt_shard_types ty;
    char *params, *grads;      /* in ty.param, ty.grad */
    float *master;             /* fp32 masters (ty.masters), else NULL */
    float *m, *v;
    char *wire;                /* ty.wire_convert: gradients in ty.reduce */
    size_t n_buckets;
    size_t *bucket_of;         /* unit -> bucket */
    size_t *bucket_lo;         /* bucket b holds units [bucket_lo[b], bucket_hi[b]] */
    size_t *bucket_hi;
    size_t *remaining;         /* units of the bucket whose backward is not final yet */
    llmrt_work **pending;      /* one in-flight allreduce per bucket, or NULL */
    int last_micro;            /* the current micro-batch is the step's last */
} ddp_ctx;

static int ddp_plan(const llmrt_host_api *host, llmrt_params *params,
                    const llmrt_model_layout *layout, int world_size, int rank,
                    size_t bytes[LLMRT_MEM_CATEGORY_COUNT])
{
    (void)params, (void)world_size, (void)rank;
    llmrt_shard_types ty;
    int rc = llmrt_shard_types_get(host, "ddp", layout, NULL, &ty);
    if (rc) return rc;
    size_t *off = llmrt_shard_unit_offsets(host, layout);
    if (!off) return LLMRT_ERR_NOMEM;
    size_t total = off[layout->n_units];
    host->host_free(off);
    memset(bytes, 0, LLMRT_MEM_CATEGORY_COUNT * sizeof *bytes);
    bytes[LLMRT_MEM_PARAMS] = total * ty.psz;
    bytes[LLMRT_MEM_GRADS] = total * ty.gsz;
    bytes[LLMRT_MEM_OPTIMIZER] = (ty.masters ? 3 : 2) * total * sizeof(float);
    bytes[LLMRT_MEM_COMM] = ty.wire_convert ? total * ty.rsz : 0;
    return LLMRT_OK;
}

static void ddp_destroy(void *vctx)
{
    ddp_ctx *c = vctx;
    if (!c) return;
    const llmrt_strategy_services *s = c->svc;
    if (c->pending)
        for (size_t b = 0; b < c->n_buckets; b++)
            if (c->pending[b]) s->work_wait(s->rt, c->pending[b]);
    s->free(s->rt, c->params);
    s->free(s->rt, c->grads);
    s->free(s->rt, c->master);
    s->free(s->rt, c->wire);
    s->free(s->rt, c->m);
    s->free(s->rt, c->v);
    c->host->host_free(c->pending);
    c->host->host_free(c->bucket_of);
    c->host->host_free(c->bucket_lo);
    c->host->host_free(c->bucket_hi);
    c->host->host_free(c->remaining);
    c->host->host_free(c->offsets);
    c->host->host_free(c);
}

static int ddp_create(const llmrt_host_api *host, llmrt_params *params,
                      const llmrt_strategy_services *svc, const llmrt_model_layout *layout,
                      void **out)
{
    long bucket_bytes;
    int rc = llmrt_shard_param_int(host, params, "bucket_bytes", 25L << 20, 1, LONG_MAX,
                                   "gradient bytes per allreduce (a bucket of consecutive "
                                   "units, launched when all of them are final)",
                                   &bucket_bytes);
    if (rc) return rc;
    llmrt_shard_types ty;
    if ((rc = llmrt_shard_types_get(host, "ddp", layout, svc, &ty))) return rc;
    ddp_ctx *c = host->host_alloc(sizeof *c, LLMRT_MEM_OTHER);
    if (!c) return LLMRT_ERR_NOMEM;
    memset(c, 0, sizeof *c);
    c->host = host;
    c->svc = svc;
    c->layout = layout;
    c->ty = ty;
    rc = LLMRT_ERR_NOMEM;
    size_t n = layout->n_units, na = n ? n : 1;
    c->offsets = llmrt_shard_unit_offsets(host, layout);
    c->pending = host->host_alloc(na * sizeof *c->pending, LLMRT_MEM_OTHER);
    c->bucket_of = host->host_alloc(na * sizeof *c->bucket_of, LLMRT_MEM_OTHER);
    c->bucket_lo = host->host_alloc(na * sizeof *c->bucket_lo, LLMRT_MEM_OTHER);
    c->bucket_hi = host->host_alloc(na * sizeof *c->bucket_hi, LLMRT_MEM_OTHER);
    c->remaining = host->host_alloc(na * sizeof *c->remaining, LLMRT_MEM_OTHER);
    if (!c->offsets || !c->pending || !c->bucket_of || !c->bucket_lo || !c->bucket_hi ||
        !c->remaining)
        goto fail;
    memset(c->pending, 0, na * sizeof *c->pending);
    /* Buckets from the last unit down (the order the backward finishes). */
    size_t acc = 0;
    for (size_t u = n; u-- > 0;) {
        if (acc == 0) c->bucket_hi[c->n_buckets] = u;
        c->bucket_of[u] = c->n_buckets;
        acc += (c->offsets[u + 1] - c->offsets[u]) * ty.gsz;
        if (acc >= (size_t)bucket_bytes || u == 0) {
            c->bucket_lo[c->n_buckets++] = u;
            acc = 0;
        }
    }
    for (size_t b = 0; b < c->n_buckets; b++)
        c->remaining[b] = c->bucket_hi[b] - c->bucket_lo[b] + 1;
    size_t total = c->offsets[layout->n_units], bytes = total * sizeof(float);
    void *cc = svc->compute_ctx;
    if ((rc = svc->alloc(svc->rt, LLMRT_MEM_PARAMS, total * ty.psz, (void **)&c->params)) ||
        (rc = svc->alloc(svc->rt, LLMRT_MEM_GRADS, total * ty.gsz, (void **)&c->grads)) ||
        (rc = svc->alloc(svc->rt, LLMRT_MEM_OPTIMIZER, bytes, (void **)&c->m)) ||
        (rc = svc->alloc(svc->rt, LLMRT_MEM_OPTIMIZER, bytes, (void **)&c->v)) ||
        (ty.masters &&
         (rc = svc->alloc(svc->rt, LLMRT_MEM_OPTIMIZER, bytes, (void **)&c->master))) ||
        (ty.wire_convert &&
         (rc = svc->alloc(svc->rt, LLMRT_MEM_COMM, total * ty.rsz, (void **)&c->wire))))
        goto fail;
    if ((rc = svc->compute->memset(cc, c->params, 0, total * ty.psz, NULL)) ||
        (rc = svc->compute->memset(cc, c->grads, 0, total * ty.gsz, NULL)) ||
        (rc = svc->compute->memset(cc, c->m, 0, bytes, NULL)) ||
        (rc = svc->compute->memset(cc, c->v, 0, bytes, NULL)) ||
        (c->master && (rc = svc->compute->memset(cc, c->master, 0, bytes, NULL))))
        goto fail;
    *out = c;
    return LLMRT_OK;
fail:
    ddp_destroy(c);
    return rc;
}

static int ddp_shard_range(void *vctx, size_t unit, size_t *begin, size_t *end)
{
    ddp_ctx *c = vctx;
    *begin = 0;
    *end = c->layout->units[unit].numel;
    return LLMRT_OK;
}

/* fp32 state of a unit: the masters stand for the parameters when kept. */
static float *state_ptr(ddp_ctx *c, llmrt_state_kind kind, size_t unit)
{
    float *base = kind == LLMRT_STATE_ADAM_M ? c->m
                  : kind == LLMRT_STATE_ADAM_V ? c->v
                  : c->master ? c->master : (float *)(void *)c->params;
    return base + c->offsets[unit];
}

static void *param_ptr(ddp_ctx *c, size_t unit) { return c->params + c->offsets[unit] * c->ty.psz; }
static void *grad_ptr(ddp_ctx *c, size_t unit) { return c->grads + c->offsets[unit] * c->ty.gsz; }

static int check_state(ddp_ctx *c, size_t unit, llmrt_state_kind kind)
{
    if (unit >= c->layout->n_units)
        return c->host->error(LLMRT_ERR_INVALID, "ddp: unit %zu out of range (model has %zu)",
                              unit, c->layout->n_units);
    if (kind != LLMRT_STATE_PARAMS && kind != LLMRT_STATE_ADAM_M && kind != LLMRT_STATE_ADAM_V)
        return c->host->error(LLMRT_ERR_INVALID, "ddp: unknown state kind %d", (int)kind);
    return LLMRT_OK;
}

static int ddp_get_state(void *vctx, size_t unit, llmrt_state_kind kind, float *host)
{
    ddp_ctx *c = vctx;
    int rc = check_state(c, unit, kind);
    if (rc) return rc;
    return c->svc->compute->copy_to_host(c->svc->compute_ctx, host, state_ptr(c, kind, unit),
                                         c->layout->units[unit].numel * sizeof(float), NULL);
}

static int ddp_set_state(void *vctx, size_t unit, llmrt_state_kind kind, const float *host)
{
    ddp_ctx *c = vctx;
    int rc = check_state(c, unit, kind);
    if (rc) return rc;
    size_t n = c->layout->units[unit].numel;
    if ((rc = c->svc->compute->copy_to_device(c->svc->compute_ctx, state_ptr(c, kind, unit),
                                              host, n * sizeof(float), NULL)))
        return rc;
    if (kind != LLMRT_STATE_PARAMS || !c->master) return LLMRT_OK;
    return llmrt_shard_write_params(c->svc, &c->ty, unit, 0, param_ptr(c, unit),
                                    state_ptr(c, kind, unit), 0, n);
}

static int ddp_begin_microbatch(void *vctx, int micro, int n_micro)
{
    ddp_ctx *c = vctx;
    c->last_micro = micro == n_micro - 1;
    return LLMRT_OK;
}

static int ddp_pre_forward(void *vctx, size_t unit, void **params)
{
    ddp_ctx *c = vctx;
    *params = param_ptr(c, unit);
    return LLMRT_OK;
}

static int ddp_post_forward(void *vctx, size_t unit)
{
    (void)vctx, (void)unit;
    return LLMRT_OK;
}

static int ddp_pre_backward(void *vctx, size_t unit, void **params, void **grads)
{
    ddp_ctx *c = vctx;
    *params = param_ptr(c, unit);
    *grads = grad_ptr(c, unit);
    return LLMRT_OK;
}

/* Start bucket b's allreduce (in the wire format). */
static int bucket_start(ddp_ctx *c, size_t b)
{
    const llmrt_strategy_services *s = c->svc;
    size_t lo = c->offsets[c->bucket_lo[b]];
    size_t count = c->offsets[c->bucket_hi[b] + 1] - lo;
    void *g = c->grads + lo * c->ty.gsz;
    if (c->ty.wire_convert) {
        void *w = c->wire + lo * c->ty.rsz;
        int rc = llmrt_shard_convert(s, w, c->ty.reduce, g, c->ty.grad, count);
        if (rc) return rc;
        g = w;
    }
    return s->allreduce(s->rt, g, g, count, c->ty.reduce, LLMRT_REDUCE_AVG, &c->pending[b]);
}

/* Wait for bucket b and bring the wire format back into the gradients. */
static int bucket_finish(ddp_ctx *c, size_t b)
{
    int rc = c->svc->work_wait(c->svc->rt, c->pending[b]);
    c->pending[b] = NULL;
    if (rc || !c->ty.wire_convert) return rc;
    size_t lo = c->offsets[c->bucket_lo[b]];
    size_t count = c->offsets[c->bucket_hi[b] + 1] - lo;
    return llmrt_shard_convert(c->svc, c->grads + lo * c->ty.gsz, c->ty.grad,
                               c->wire + lo * c->ty.rsz, c->ty.reduce, count);
}

/* Gradient accumulation communicates only after the last micro-batch; a
 * bucket's allreduce starts when the last of its units is final. */
static int ddp_post_backward(void *vctx, size_t unit)
{
    ddp_ctx *c = vctx;
    if (!c->last_micro) return LLMRT_OK;
    if (unit >= c->layout->n_units)
        return c->host->error(LLMRT_ERR_INVALID, "ddp: unit %zu out of range", unit);
    size_t b = c->bucket_of[unit];
    if (c->remaining[b] == 0)
        return c->host->error(LLMRT_ERR_INTERNAL, "ddp: unit %zu finished its backward twice "
                              "in one step", unit);
    if (--c->remaining[b] > 0) return LLMRT_OK;
    return bucket_start(c, b);
}

/* Wait for every bucket's allreduce; a bucket some unit of which never ran
 * its backward this step (not the case in core/gpt.c) is reduced now. */
static int wait_pending(ddp_ctx *c)
{
    int first = LLMRT_OK;
    for (size_t b = 0; b < c->n_buckets; b++) {
        size_t units = c->bucket_hi[b] - c->bucket_lo[b] + 1;
        if (c->remaining[b] > 0 && c->remaining[b] < units) {
            int rc = bucket_start(c, b);
            if (rc && !first) first = rc;
        }
        c->remaining[b] = units;
        if (!c->pending[b]) continue;
        int rc = bucket_finish(c, b);
        if (rc && !first) first = rc;
    }
    return first;
}

static int ddp_grad_norm_sq(void *vctx, double *norm_sq)
{
    ddp_ctx *c = vctx;
    int rc = wait_pending(c);
    if (rc) return rc;
    /* Replicas hold identical averaged gradients: the local sum is global. */
    double total = 0.0;
    for (size_t u = 0; u < c->layout->n_units; u++) {
        double part = 0.0;
        rc = c->svc->compute->sum_squares(c->svc->compute_ctx, grad_ptr(c, u),
                                          c->layout->units[u].numel, c->ty.grad, &part);
        if (rc) return rc;
        total += part;
    }
    *norm_sq = total;
    return LLMRT_OK;
}

static int ddp_optimizer_step(void *vctx, const llmrt_optim_step *step)
{
    ddp_ctx *c = vctx;
    int rc = wait_pending(c);
    if (rc) return rc;
    const llmrt_compute_vtable *vt = c->svc->compute;
    void *cc = c->svc->compute_ctx;
    size_t k = 0; /* tensor number (rule 10) */
    for (size_t u = 0; u < c->layout->n_units; u++) {
        const llmrt_unit_desc *unit = &c->layout->units[u];
        size_t base = c->offsets[u];
        float *p = state_ptr(c, LLMRT_STATE_PARAMS, u);
        char *pu = param_ptr(c, u);
        for (size_t t = 0; t < unit->n_tensors; t++, k++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            size_t o = base + td->offset;
            llmrt_optim_step ts = llmrt_shard_tensor_step(step, k);
            if (c->ty.fused_adamw)
                rc = llmrt_shard_adamw_write(c->svc, &ts, td->weight_decay, td->numel,
                                             p + td->offset, c->grads + o * c->ty.gsz,
                                             c->ty.grad, c->m + o, c->v + o, &c->ty, u,
                                             pu + td->offset * c->ty.psz, td->offset);
            else
                rc = llmrt_shard_adamw(c->svc, &ts, td->weight_decay, td->numel,
                                       p + td->offset, c->grads + o * c->ty.gsz, c->ty.grad,
                                       c->m + o, c->v + o);
            if (rc) return rc;
        }
        /* The tensors tile the unit, so the fused calls wrote all of it. */
        if (c->master && !c->ty.fused_adamw &&
            (rc = llmrt_shard_write_params(c->svc, &c->ty, u, step->t, pu, p, 0, unit->numel)))
            return rc;
    }
    return vt->memset(cc, c->grads, 0, c->offsets[c->layout->n_units] * c->ty.gsz, NULL);
}

/* strategy.h rule 9: drop this step's gradients. */
static int ddp_zero_grad(void *vctx)
{
    ddp_ctx *c = vctx;
    int rc = wait_pending(c);
    if (rc) return rc;
    return c->svc->compute->memset(c->svc->compute_ctx, c->grads, 0,
                                   c->offsets[c->layout->n_units] * c->ty.gsz, NULL);
}

/* strategy.h rule 10: every replica holds every tensor whole. */
static int ddp_param_sq_sums(void *vctx, double *sums)
{
    ddp_ctx *c = vctx;
    size_t k = 0;
    for (size_t u = 0; u < c->layout->n_units; u++) {
        const llmrt_unit_desc *unit = &c->layout->units[u];
        const float *p = state_ptr(c, LLMRT_STATE_PARAMS, u);
        for (size_t t = 0; t < unit->n_tensors; t++, k++) {
            int rc = c->svc->compute->sum_squares(c->svc->compute_ctx,
                                                  p + unit->tensors[t].offset,
                                                  unit->tensors[t].numel, LLMRT_DTYPE_F32,
                                                  &sums[k]);
            if (rc) return rc;
        }
    }
    return LLMRT_OK;
}

const llmrt_strategy_vtable llmrt_shard_ddp_vtable = {
    .struct_size = sizeof(llmrt_strategy_vtable),
    .create = ddp_create,
    .destroy = ddp_destroy,
    .plan = ddp_plan,
    .shard_range = ddp_shard_range,
    .get_state = ddp_get_state,
    .set_state = ddp_set_state,
    .begin_microbatch = ddp_begin_microbatch,
    .pre_forward = ddp_pre_forward,
    .post_forward = ddp_post_forward,
    .pre_backward = ddp_pre_backward,
    .post_backward = ddp_post_backward,
    .grad_norm_sq = ddp_grad_norm_sq,
    .optimizer_step = ddp_optimizer_step,
    .zero_grad = ddp_zero_grad,
    .param_sq_sums = ddp_param_sq_sums,
};
