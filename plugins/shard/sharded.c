/* sharded.c — the engine behind `zero` (stages 1, 2, 3) and `fsdp` (full,
 * grad_op, hybrid): one implementation, parametrised by llmrt_shard_opts.
 *
 * Layout. Unit u of n elements is padded to P = S * g elements, g the shard
 * group's size and S = ceil(n / g); rank r of the group owns [r*S, (r+1)*S)
 * of it (clipped to n for checkpoints and the norm). Buffers:
 *   stage 1:   full params, full grads     | own slices of m, v
 *   stage 2:   full params, own-slice grads | own slices of m, v
 *              + a full gradient buffer per unit from its pre_backward to
 *                its reduce-scatter
 *   stage 3:   own-slice params and grads  | own slices of m, v
 *              + full params per unit from its gather to its last close
 *                (reference-counted: the tied embedding opens nested), and
 *              + the full gradient buffers as in stage 2.
 * Every full buffer is the unit's P elements, so the reduce-scatter and the
 * all-gather run in place (collective.h rule 3) and work on device memory.
 *
 * Gradients are reduce-scattered (AVG) as soon as a unit's backward of the
 * step's last micro-batch is done; the previous unit's reduction is then
 * waited (freeing its buffer), so at most two are in flight. With hybrid
 * sharding the reduced slice is then allreduced (AVG) across the replicas of
 * the slice (the ranks with the same position in the other groups).
 *
 * Stage 3 prefetch: opening a unit starts the all-gathers of the units
 * predicted to come next (forward: u+1, and the head's tied embedding;
 * backward: the tied embedding after the head, then n-2 down to 1), up to
 * fwd_prefetch / bwd_prefetch units ahead and max_inflight gathers in
 * flight. Prefetched buffers never opened are dropped before parameters
 * change (optimizer_step, set_state).
 *
 * Mixed precision (strategy.h rule 8): parameter buffers (full, own, gathered)
 * hold the layout's param type and gradient buffers its grad type; with
 * 16-bit parameters each rank keeps fp32 masters of its own slice (optimizer
 * category), steps them and writes the slice back rounded before the
 * all-gather. When the wire format differs, a unit's full gradient is
 * converted into a communication buffer, reduce-scattered there (and, for
 * hybrid, allreduced across replicas) and its slice converted back. */
#include <string.h>

#include "shard.h"

typedef struct sh_unit {
    size_t numel, S;            /* slice length */
    size_t full_off, own_off;   /* in the full-layout and own-layout buffers */
    size_t begin, end;          /* own range clipped to numel */
    /* stage 3 */
    char *gathered;             /* full params, while gathered */
    int refs;                   /* opens not yet closed */
    int gathering;              /* an all-gather into `gathered` is in flight */
    llmrt_work *gather_work;
    /* stage 2/3: the full gradient buffer */
    char *grad_full;
    char *wire;                 /* the full gradient in the wire format, while reduced */
    int rs_pending;             /* reduce-scatter in flight */
    llmrt_work *rs_work;
    int ar_pending;             /* hybrid: allreduce across replicas in flight */
    llmrt_work *ar_work;
} sh_unit;

typedef struct sh_ctx {
    const llmrt_host_api *host;
    const llmrt_strategy_services *svc;   /* the job: allocation and compute */
    const llmrt_strategy_services *shard; /* the shard group */
    const llmrt_strategy_services *repl;  /* replicas of a slice (hybrid), or NULL */
    const llmrt_model_layout *layout;
    llmrt_shard_opts o;
    llmrt_shard_types ty;
    int rank, world;                      /* within the shard group */
    size_t n;
    sh_unit *u;
    size_t full_total, own_total;         /* elements */
    char *full_p, *full_g;                /* stage 1/2 params, stage 1 grads */
    char *own_p, *own_g;                  /* stage 3 params, stage 2/3 grads */
    float *master;                        /* fp32 masters of the own slices, or NULL */
    float *m, *v;
    double *norm_buf;                     /* COMM: the allreduce of the gradient norm
                                             (1 value) or of the per-tensor sums of
                                             squares (n_tensors values, rule 10) */
    size_t n_tensors;
    int last_micro;
    int inflight;                         /* all-gathers in flight */
    long last_rs;                         /* unit of the latest reduce-scatter, or -1 */
} sh_ctx;

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* --- small helpers -------------------------------------------------------- */

/* Buffers are addressed in bytes: element sizes depend on the buffer. */
static int sh_alloc(sh_ctx *c, llmrt_mem_category cat, size_t bytes, void *p)
{
    void *q = NULL;
    int rc = c->svc->alloc(c->svc->rt, cat, bytes, &q);
    if (rc) return rc;
    memcpy(p, &q, sizeof q);
    return LLMRT_OK;
}

static void sh_free(sh_ctx *c, void *p)
{
    void *q;
    memcpy(&q, p, sizeof q);
    if (q) c->svc->free(c->svc->rt, q);
    q = NULL;
    memcpy(p, &q, sizeof q);
}

static int sh_zero(sh_ctx *c, void *p, size_t bytes)
{
    return c->svc->compute->memset(c->svc->compute_ctx, p, 0, bytes, NULL);
}

static char *full_params(sh_ctx *c, size_t u) { return c->full_p + c->u[u].full_off * c->ty.psz; }

/* This rank's slice of unit u's parameters and (reduced) gradients. */
static char *param_slice(sh_ctx *c, size_t u)
{
    return c->o.stage == 3 ? c->own_p + c->u[u].own_off * c->ty.psz
                           : full_params(c, u) + (size_t)c->rank * c->u[u].S * c->ty.psz;
}

/* The fp32 values the optimizer steps: the masters, or the parameters. */
static float *master_slice(sh_ctx *c, size_t u)
{
    return c->master ? c->master + c->u[u].own_off : (float *)(void *)param_slice(c, u);
}

static char *grad_slice(sh_ctx *c, size_t u)
{
    return c->o.stage == 1
               ? c->full_g + (c->u[u].full_off + (size_t)c->rank * c->u[u].S) * c->ty.gsz
               : c->own_g + c->u[u].own_off * c->ty.gsz;
}

static int check_unit(sh_ctx *c, size_t unit)
{
    if (unit >= c->n)
        return c->host->error(LLMRT_ERR_INVALID, "%s: unit %zu out of range (model has %zu)",
                              c->o.name, unit, c->n);
    return LLMRT_OK;
}

/* --- stage 3: gathering parameters ---------------------------------------- */

static int gather_start(sh_ctx *c, size_t u)
{
    sh_unit *x = &c->u[u];
    const llmrt_strategy_services *s = c->shard;
    size_t psz = c->ty.psz;
    int rc = sh_alloc(c, LLMRT_MEM_PARAMS, x->S * (size_t)c->world * psz, &x->gathered);
    if (rc) return rc;
    char *mine = x->gathered + (size_t)c->rank * x->S * psz;
    if ((rc = c->svc->compute->copy(c->svc->compute_ctx, mine, c->own_p + x->own_off * psz,
                                    x->S * psz, NULL)) ||
        (rc = s->all_gather(s->rt, mine, x->gathered, x->S, c->ty.param,
                            &x->gather_work))) {
        sh_free(c, &x->gathered);
        return rc;
    }
    x->gathering = 1;
    c->inflight++;
    return LLMRT_OK;
}

static int gather_finish(sh_ctx *c, size_t u)
{
    sh_unit *x = &c->u[u];
    if (!x->gathering) return LLMRT_OK;
    x->gathering = 0;
    c->inflight--;
    llmrt_work *w = x->gather_work;
    x->gather_work = NULL;
    return c->shard->work_wait(c->shard->rt, w);
}

/* The unit that follows u in the forward (-1: none predicted). The head
 * (n-1) uses the tied embedding (0) next; a unit opened while a later one is
 * open is that nested reuse and predicts nothing. */
static long fwd_next(sh_ctx *c, size_t u)
{
    for (size_t k = u + 1; k < c->n; k++)
        if (c->u[k].refs > 0) return -1;
    if (u + 1 < c->n) return (long)u + 1;
    return c->n > 1 ? 0 : -1;
}

/* Backward: the head, the tied embedding, then n-2 down to 1. */
static long bwd_next(sh_ctx *c, size_t u)
{
    if (c->n < 2) return -1;
    if (u == c->n - 1) return 0;
    if (u == 0) return c->n >= 3 ? (long)c->n - 2 : -1;
    return u >= 2 ? (long)u - 1 : -1;
}

static int prefetch(sh_ctx *c, size_t u, int forward)
{
    int depth = forward ? c->o.fwd_prefetch : c->o.bwd_prefetch;
    long cur = (long)u;
    for (int k = 0; k < depth; k++) {
        cur = forward ? fwd_next(c, (size_t)cur) : bwd_next(c, (size_t)cur);
        if (cur < 0) break;
        if (c->u[cur].gathered) continue; /* open, in flight or prefetched */
        if (c->o.max_inflight > 0 && c->inflight >= c->o.max_inflight) break;
        int rc = gather_start(c, (size_t)cur);
        if (rc) return rc;
    }
    return LLMRT_OK;
}

static int open_unit(sh_ctx *c, size_t u, int forward, void **params)
{
    sh_unit *x = &c->u[u];
    int rc;
    if (!x->gathered && (rc = gather_start(c, u))) return rc;
    if ((rc = gather_finish(c, u))) return rc;
    x->refs++;
    *params = x->gathered;
    return prefetch(c, u, forward);
}

static void close_unit(sh_ctx *c, size_t u)
{
    sh_unit *x = &c->u[u];
    if (x->refs > 0 && --x->refs == 0) sh_free(c, &x->gathered);
}

/* Prefetched buffers nobody opened hold parameters about to change. */
static int drop_prefetched(sh_ctx *c)
{
    int first = LLMRT_OK;
    if (c->o.stage != 3) return LLMRT_OK;
    for (size_t u = 0; u < c->n; u++) {
        sh_unit *x = &c->u[u];
        if (!x->gathered || x->refs > 0) continue;
        int rc = gather_finish(c, u);
        if (rc && !first) first = rc;
        sh_free(c, &x->gathered);
    }
    return first;
}

/* --- gradient reduction --------------------------------------------------- */

static int rs_start(sh_ctx *c, size_t u)
{
    sh_unit *x = &c->u[u];
    const llmrt_strategy_services *s = c->shard;
    char *full = c->o.stage == 1 ? c->full_g + x->full_off * c->ty.gsz : x->grad_full;
    if (!full)
        return c->host->error(LLMRT_ERR_INVALID, "%s: post_backward(%zu) without its "
                              "pre_backward", c->o.name, u);
    size_t esz = c->ty.gsz, P = x->S * (size_t)c->world;
    int rc;
    if (c->ty.wire_convert) {
        if ((rc = sh_alloc(c, LLMRT_MEM_COMM, P * c->ty.rsz, &x->wire)) ||
            (rc = llmrt_shard_convert(c->svc, x->wire, c->ty.reduce, full, c->ty.grad, P)))
            return rc;
        full = x->wire;
        esz = c->ty.rsz;
    }
    rc = s->reduce_scatter(s->rt, full, full + (size_t)c->rank * x->S * esz, x->S, c->ty.reduce,
                           LLMRT_REDUCE_AVG, &x->rs_work);
    if (rc) return rc;
    x->rs_pending = 1;
    return LLMRT_OK;
}

/* Wait for unit u's reduce-scatter; keep the slice (stage 2/3), free the
 * full buffer, start the allreduce across replicas (hybrid). */
static int rs_finish(sh_ctx *c, size_t u)
{
    sh_unit *x = &c->u[u];
    if (!x->rs_pending) return LLMRT_OK;
    x->rs_pending = 0;
    llmrt_work *w = x->rs_work;
    x->rs_work = NULL;
    int rc = c->shard->work_wait(c->shard->rt, w);
    if (rc) return rc;
    if (c->ty.wire_convert) {
        /* The replicas reduce in the wire format too, before converting back. */
        char *red = x->wire + (size_t)c->rank * x->S * c->ty.rsz;
        if (c->repl)
            rc = c->repl->allreduce(c->repl->rt, red, red, x->S, c->ty.reduce,
                                    LLMRT_REDUCE_AVG, NULL);
        if (!rc)
            rc = llmrt_shard_convert(c->svc, grad_slice(c, u), c->ty.grad, red, c->ty.reduce,
                                     x->S);
        sh_free(c, &x->wire);
        if (c->o.stage >= 2) sh_free(c, &x->grad_full);
        return rc;
    }
    if (c->o.stage >= 2) {
        rc = c->svc->compute->copy(c->svc->compute_ctx, grad_slice(c, u),
                                   x->grad_full + (size_t)c->rank * x->S * c->ty.gsz,
                                   x->S * c->ty.gsz, NULL);
        sh_free(c, &x->grad_full);
        if (rc) return rc;
    }
    if (c->repl) {
        char *g = grad_slice(c, u);
        if ((rc = c->repl->allreduce(c->repl->rt, g, g, x->S, c->ty.grad, LLMRT_REDUCE_AVG,
                                     &x->ar_work)))
            return rc;
        x->ar_pending = 1;
    }
    return LLMRT_OK;
}

static int wait_all(sh_ctx *c)
{
    int first = LLMRT_OK, rc;
    for (size_t u = 0; u < c->n; u++)
        if ((rc = rs_finish(c, u)) && !first) first = rc;
    for (size_t u = 0; u < c->n; u++) {
        sh_unit *x = &c->u[u];
        if (!x->ar_pending) continue;
        x->ar_pending = 0;
        llmrt_work *w = x->ar_work;
        x->ar_work = NULL;
        if ((rc = c->repl->work_wait(c->repl->rt, w)) && !first) first = rc;
    }
    c->last_rs = -1;
    return first;
}

/* --- creation ------------------------------------------------------------- */

void llmrt_sharded_destroy(void *vctx)
{
    sh_ctx *c = vctx;
    if (!c) return;
    if (c->u) {
        wait_all(c);
        for (size_t u = 0; u < c->n; u++) {
            gather_finish(c, u);
            sh_free(c, &c->u[u].gathered);
            sh_free(c, &c->u[u].grad_full);
            sh_free(c, &c->u[u].wire);
        }
    }
    sh_free(c, &c->full_p);
    sh_free(c, &c->full_g);
    sh_free(c, &c->own_p);
    sh_free(c, &c->own_g);
    sh_free(c, &c->master);
    sh_free(c, &c->m);
    sh_free(c, &c->v);
    if (c->norm_buf) c->svc->free(c->svc->rt, c->norm_buf);
    c->host->host_free(c->u);
    c->host->host_free(c);
}

/* The shard group and, for hybrid sharding, the replica group. */
static int make_groups(sh_ctx *c)
{
    const llmrt_strategy_services *svc = c->svc;
    int W = svc->world_size, R = svc->rank, g = c->o.shard_size;
    c->shard = svc;
    c->repl = NULL;
    c->rank = R;
    c->world = W;
    if (g <= 0 || g >= W) return LLMRT_OK;
    if (W % g)
        return c->host->error(LLMRT_ERR_INVALID,
                              "%s: shard_size = %d does not divide the world size %d",
                              c->o.name, g, W);
    c->rank = R % g;
    c->world = g;
    if (llmrt_shard_sim_is(svc)) {
        c->shard = llmrt_shard_sim_group(svc, R % g, g);
        c->repl = llmrt_shard_sim_group(svc, R / g, W / g);
        return c->shard && c->repl ? LLMRT_OK
                                   : c->host->error(LLMRT_ERR_INTERNAL, "plan: groups");
    }
    if (!LLMRT_HAS(svc, svc->struct_size, split))
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "%s: hybrid sharding needs a collective that can split into "
                              "groups", c->o.name);
    int rc;
    if ((rc = svc->split(svc->rt, R / g, R, &c->shard)) ||
        (rc = svc->split(svc->rt, R % g, R, &c->repl)))
        return rc;
    if (c->shard->world_size != g || c->shard->rank != R % g ||
        c->repl->world_size != W / g || c->repl->rank != R / g)
        return c->host->error(LLMRT_ERR_INTERNAL,
                              "%s: split gave groups of %d and %d ranks (expected %d and %d)",
                              c->o.name, c->shard->world_size, c->repl->world_size, g, W / g);
    return LLMRT_OK;
}

int llmrt_sharded_create(const llmrt_host_api *host, const llmrt_shard_opts *opts,
                         const llmrt_strategy_services *svc, const llmrt_model_layout *layout,
                         void **out)
{
    llmrt_shard_types ty;
    int rc = llmrt_shard_types_get(host, opts->name, layout, svc, &ty);
    if (rc) return rc;
    if (opts->stage < 1 || opts->stage > 3)
        return host->error(LLMRT_ERR_INVALID, "%s: stage %d (accepted: 1, 2, 3)", opts->name,
                           opts->stage);
    sh_ctx *c = host->host_alloc(sizeof *c, LLMRT_MEM_OTHER);
    if (!c) return LLMRT_ERR_NOMEM;
    memset(c, 0, sizeof *c);
    c->host = host;
    c->svc = svc;
    c->layout = layout;
    c->o = *opts;
    c->ty = ty;
    c->n = layout->n_units;
    c->last_micro = 1;
    c->last_rs = -1;
    rc = LLMRT_ERR_NOMEM;
    c->u = host->host_alloc((c->n ? c->n : 1) * sizeof *c->u, LLMRT_MEM_OTHER);
    if (!c->u) goto fail;
    memset(c->u, 0, (c->n ? c->n : 1) * sizeof *c->u);
    if ((rc = make_groups(c))) goto fail;
    for (size_t u = 0; u < c->n; u++) {
        sh_unit *x = &c->u[u];
        x->numel = layout->units[u].numel;
        x->S = (x->numel + (size_t)c->world - 1) / (size_t)c->world;
        x->full_off = c->full_total;
        x->own_off = c->own_total;
        c->full_total += round16(x->S * (size_t)c->world);
        c->own_total += round16(x->S);
        size_t b = (size_t)c->rank * x->S;
        x->begin = b < x->numel ? b : x->numel;
        x->end = b + x->S < x->numel ? b + x->S : x->numel;
    }
    size_t full_p = c->full_total * ty.psz, own_p = c->own_total * ty.psz;
    size_t full_g = c->full_total * ty.gsz, own_g = c->own_total * ty.gsz;
    size_t own_f = c->own_total * sizeof(float);
    if (c->o.stage < 3 && ((rc = sh_alloc(c, LLMRT_MEM_PARAMS, full_p, &c->full_p)) ||
                           (rc = sh_zero(c, c->full_p, full_p))))
        goto fail;
    if (c->o.stage == 3 && ((rc = sh_alloc(c, LLMRT_MEM_PARAMS, own_p, &c->own_p)) ||
                            (rc = sh_zero(c, c->own_p, own_p))))
        goto fail;
    if (c->o.stage == 1 && ((rc = sh_alloc(c, LLMRT_MEM_GRADS, full_g, &c->full_g)) ||
                            (rc = sh_zero(c, c->full_g, full_g))))
        goto fail;
    if (c->o.stage >= 2 && ((rc = sh_alloc(c, LLMRT_MEM_GRADS, own_g, &c->own_g)) ||
                            (rc = sh_zero(c, c->own_g, own_g))))
        goto fail;
    if ((rc = sh_alloc(c, LLMRT_MEM_OPTIMIZER, own_f, &c->m)) ||
        (rc = sh_zero(c, c->m, own_f)) ||
        (rc = sh_alloc(c, LLMRT_MEM_OPTIMIZER, own_f, &c->v)) ||
        (rc = sh_zero(c, c->v, own_f)))
        goto fail;
    if (ty.masters && ((rc = sh_alloc(c, LLMRT_MEM_OPTIMIZER, own_f, &c->master)) ||
                       (rc = sh_zero(c, c->master, own_f))))
        goto fail;
    void *nb = NULL;
    c->n_tensors = llmrt_shard_n_tensors(layout);
    if ((rc = svc->alloc(svc->rt, LLMRT_MEM_COMM,
                         (c->n_tensors > 1 ? c->n_tensors : 1) * sizeof(double), &nb)))
        goto fail;
    c->norm_buf = nb;
    *out = c;
    return LLMRT_OK;
fail:
    llmrt_sharded_destroy(c);
    return rc;
}

int llmrt_sharded_plan(const llmrt_host_api *host, const llmrt_shard_opts *opts,
                       const llmrt_model_layout *layout, int world_size, int rank,
                       size_t bytes[LLMRT_MEM_CATEGORY_COUNT])
{
    llmrt_shard_sim *sim;
    const llmrt_strategy_services *svc;
    void *ctx = NULL;
    int rc = llmrt_shard_sim_new(host, rank, world_size, &sim, &svc);
    if (rc) return rc;
    if (!(rc = llmrt_sharded_create(host, opts, svc, layout, &ctx)) && layout->n_units) {
        static const llmrt_strategy_vtable hooks = {.struct_size = sizeof hooks,
                                                    LLMRT_SHARDED_HOOKS};
        rc = llmrt_shard_sim_step(&hooks, ctx, layout->n_units,
                                  llmrt_shard_micro_batches(layout));
    }
    if (ctx) llmrt_sharded_destroy(ctx);
    if (!rc) llmrt_shard_sim_peaks(sim, bytes);
    llmrt_shard_sim_free(sim);
    return rc;
}

/* --- state ---------------------------------------------------------------- */

int llmrt_sharded_shard_range(void *vctx, size_t unit, size_t *begin, size_t *end)
{
    sh_ctx *c = vctx;
    int rc = check_unit(c, unit);
    if (rc) return rc;
    *begin = c->u[unit].begin;
    *end = c->u[unit].end;
    return LLMRT_OK;
}

static float *state_slice(sh_ctx *c, size_t u, llmrt_state_kind kind)
{
    switch (kind) {
    case LLMRT_STATE_PARAMS: return master_slice(c, u);
    case LLMRT_STATE_ADAM_M: return c->m + c->u[u].own_off;
    case LLMRT_STATE_ADAM_V: return c->v + c->u[u].own_off;
    default: return NULL;
    }
}

int llmrt_sharded_get_state(void *vctx, size_t unit, llmrt_state_kind kind, float *host)
{
    sh_ctx *c = vctx;
    int rc = check_unit(c, unit);
    if (rc) return rc;
    float *src = state_slice(c, unit, kind);
    if (!src) return c->host->error(LLMRT_ERR_INVALID, "%s: unknown state kind %d", c->o.name,
                                    (int)kind);
    sh_unit *x = &c->u[unit];
    return c->svc->compute->copy_to_host(c->svc->compute_ctx, host, src,
                                         (x->end - x->begin) * sizeof(float), NULL);
}

/* Setting PARAMS is collective over the shard group in stages 1 and 2: each
 * rank sets its slice and the full copies are all-gathered (the core's load
 * path gives every rank its own slice of the same full vector). */
int llmrt_sharded_set_state(void *vctx, size_t unit, llmrt_state_kind kind, const float *host)
{
    sh_ctx *c = vctx;
    int rc = check_unit(c, unit);
    if (rc) return rc;
    float *dst = state_slice(c, unit, kind);
    if (!dst) return c->host->error(LLMRT_ERR_INVALID, "%s: unknown state kind %d", c->o.name,
                                    (int)kind);
    sh_unit *x = &c->u[unit];
    if (kind == LLMRT_STATE_PARAMS && (rc = drop_prefetched(c))) return rc;
    if ((rc = c->svc->compute->copy_to_device(c->svc->compute_ctx, dst, host,
                                              (x->end - x->begin) * sizeof(float), NULL)))
        return rc;
    if (kind != LLMRT_STATE_PARAMS) return LLMRT_OK;
    if (c->master && (rc = llmrt_shard_write_params(c->svc, &c->ty, unit, 0,
                                                    param_slice(c, unit), dst, x->begin,
                                                    x->end - x->begin)))
        return rc;
    if (c->o.stage == 3) return LLMRT_OK;
    const llmrt_strategy_services *s = c->shard;
    return s->all_gather(s->rt, param_slice(c, unit), full_params(c, unit), x->S, c->ty.param,
                         NULL);
}

/* --- hooks ---------------------------------------------------------------- */

int llmrt_sharded_begin_microbatch(void *vctx, int micro, int n_micro)
{
    sh_ctx *c = vctx;
    c->last_micro = micro == n_micro - 1;
    return LLMRT_OK;
}

int llmrt_sharded_pre_forward(void *vctx, size_t unit, void **params)
{
    sh_ctx *c = vctx;
    int rc = check_unit(c, unit);
    if (rc) return rc;
    if (c->o.stage < 3) {
        *params = full_params(c, unit);
        return LLMRT_OK;
    }
    return open_unit(c, unit, 1, params);
}

int llmrt_sharded_post_forward(void *vctx, size_t unit)
{
    sh_ctx *c = vctx;
    int rc = check_unit(c, unit);
    if (rc) return rc;
    if (c->o.stage == 3) close_unit(c, unit);
    return LLMRT_OK;
}

int llmrt_sharded_pre_backward(void *vctx, size_t unit, void **params, void **grads)
{
    sh_ctx *c = vctx;
    int rc = check_unit(c, unit);
    if (rc) return rc;
    sh_unit *x = &c->u[unit];
    if (c->o.stage == 1) {
        *grads = c->full_g + x->full_off * c->ty.gsz;
    } else {
        /* Kept across micro-batches until the last one's reduce-scatter. */
        size_t bytes = x->S * (size_t)c->world * c->ty.gsz;
        if (!x->grad_full && ((rc = sh_alloc(c, LLMRT_MEM_GRADS, bytes, &x->grad_full)) ||
                              (rc = sh_zero(c, x->grad_full, bytes))))
            return rc;
        *grads = x->grad_full;
    }
    if (c->o.stage < 3) {
        *params = full_params(c, unit);
        return LLMRT_OK;
    }
    return open_unit(c, unit, 0, params);
}

/* Gradient accumulation communicates only after the last micro-batch. */
int llmrt_sharded_post_backward(void *vctx, size_t unit)
{
    sh_ctx *c = vctx;
    int rc = check_unit(c, unit);
    if (rc) return rc;
    if (c->o.stage == 3) close_unit(c, unit);
    if (!c->last_micro) return LLMRT_OK;
    if ((rc = rs_start(c, unit))) return rc;
    long prev = c->last_rs;
    c->last_rs = (long)unit;
    return prev >= 0 ? rs_finish(c, (size_t)prev) : LLMRT_OK;
}

int llmrt_sharded_grad_norm_sq(void *vctx, double *norm_sq)
{
    sh_ctx *c = vctx;
    int rc = wait_all(c);
    if (rc) return rc;
    const llmrt_compute_vtable *vt = c->svc->compute;
    void *cc = c->svc->compute_ctx;
    double total = 0.0;
    for (size_t u = 0; u < c->n; u++) {
        sh_unit *x = &c->u[u];
        double part = 0.0;
        if (x->end > x->begin &&
            (rc = vt->sum_squares(cc, grad_slice(c, u), x->end - x->begin, c->ty.grad,
                                  &part)))
            return rc;
        total += part;
    }
    /* Replicas (hybrid) hold the same slices: the shard group has it all. */
    const llmrt_strategy_services *s = c->shard;
    if ((rc = vt->copy_to_device(cc, c->norm_buf, &total, sizeof total, NULL)) ||
        (rc = s->allreduce(s->rt, c->norm_buf, c->norm_buf, 1, LLMRT_DTYPE_F64,
                           LLMRT_REDUCE_SUM, NULL)) ||
        (rc = vt->copy_to_host(cc, &total, c->norm_buf, sizeof total, NULL)))
        return rc;
    *norm_sq = total;
    return LLMRT_OK;
}

/* strategy.h rule 10: each rank sums the squares of its pieces of each
 * tensor; the shard group's allreduce adds the pieces (replicas of a hybrid
 * job hold the same slices, so the shard group has every piece once). */
int llmrt_sharded_param_sq_sums(void *vctx, double *sums)
{
    sh_ctx *c = vctx;
    int rc = wait_all(c);
    if (rc) return rc;
    const llmrt_compute_vtable *vt = c->svc->compute;
    void *cc = c->svc->compute_ctx;
    size_t k = 0;
    for (size_t u = 0; u < c->n; u++) {
        const llmrt_unit_desc *unit = &c->layout->units[u];
        const sh_unit *x = &c->u[u];
        const float *p = master_slice(c, u);
        for (size_t t = 0; t < unit->n_tensors; t++, k++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            size_t lo = td->offset > x->begin ? td->offset : x->begin;
            size_t hi = td->offset + td->numel < x->end ? td->offset + td->numel : x->end;
            sums[k] = 0.0;
            rc = lo < hi ? vt->sum_squares(cc, p + (lo - x->begin), hi - lo,
                                               LLMRT_DTYPE_F32, &sums[k])
                             : LLMRT_OK;
            if (rc) return rc;
        }
    }
    if (!c->n_tensors) return LLMRT_OK;
    const llmrt_strategy_services *s = c->shard;
    size_t bytes = c->n_tensors * sizeof *sums;
    if ((rc = vt->copy_to_device(cc, c->norm_buf, sums, bytes, NULL)) ||
        (rc = s->allreduce(s->rt, c->norm_buf, c->norm_buf, c->n_tensors, LLMRT_DTYPE_F64,
                           LLMRT_REDUCE_SUM, NULL)) ||
        (rc = vt->copy_to_host(cc, sums, c->norm_buf, bytes, NULL)))
        return rc;
    return LLMRT_OK;
}

static int zero_grads(sh_ctx *c)
{
    return c->o.stage == 1 ? sh_zero(c, c->full_g, c->full_total * c->ty.gsz)
                           : sh_zero(c, c->own_g, c->own_total * c->ty.gsz);
}

int llmrt_sharded_optimizer_step(void *vctx, const llmrt_optim_step *step)
{
    sh_ctx *c = vctx;
    int rc = wait_all(c);
    if (!rc) rc = drop_prefetched(c);
    if (rc) return rc;
    size_t k = 0; /* tensor number (rule 10) */
    for (size_t u = 0; u < c->n; u++) {
        const llmrt_unit_desc *unit = &c->layout->units[u];
        sh_unit *x = &c->u[u];
        float *p = master_slice(c, u), *m = c->m + x->own_off, *v = c->v + x->own_off;
        char *g = grad_slice(c, u);
        for (size_t t = 0; t < unit->n_tensors; t++, k++) {
            const llmrt_tensor_desc *td = &unit->tensors[t];
            size_t lo = td->offset > x->begin ? td->offset : x->begin;
            size_t hi = td->offset + td->numel < x->end ? td->offset + td->numel : x->end;
            if (lo >= hi) continue;
            size_t o = lo - x->begin;
            llmrt_optim_step ts = llmrt_shard_tensor_step(step, k);
            if (c->ty.fused_adamw)
                rc = llmrt_shard_adamw_write(c->svc, &ts, td->weight_decay, hi - lo, p + o,
                                             g + o * c->ty.gsz, c->ty.grad, m + o, v + o,
                                             &c->ty, u, param_slice(c, u) + o * c->ty.psz, lo);
            else
                rc = llmrt_shard_adamw(c->svc, &ts, td->weight_decay, hi - lo, p + o,
                                       g + o * c->ty.gsz, c->ty.grad, m + o, v + o);
            if (rc) return rc;
        }
        /* The tensors tile [begin, end), so the fused calls wrote all of it. */
        if (c->master && !c->ty.fused_adamw &&
            (rc = llmrt_shard_write_params(c->svc, &c->ty, u, step->t, param_slice(c, u), p,
                                           x->begin, x->end - x->begin)))
            return rc;
    }
    /* Stage 1/2: every rank gets the updated full parameters (the second
     * half of the 2 Psi volume); stage 3 gathers them at the next open. */
    if (c->o.stage < 3) {
        const llmrt_strategy_services *s = c->shard;
        for (size_t u = 0; u < c->n; u++)
            if ((rc = s->all_gather(s->rt, param_slice(c, u), full_params(c, u), c->u[u].S,
                                    c->ty.param, NULL)))
                return rc;
    }
    return zero_grads(c);
}

/* strategy.h rule 9: drop this step's gradients, parameters untouched. */
int llmrt_sharded_zero_grad(void *vctx)
{
    sh_ctx *c = vctx;
    int rc = wait_all(c);
    return rc ? rc : zero_grads(c);
}
