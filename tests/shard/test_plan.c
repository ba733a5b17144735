/* test_plan.c — every strategy's plan() predicts, byte for byte, the peak
 * memory per category that the runtime accounts while it trains (world size
 * 1, local collective), and the sharded layouts at larger world sizes follow
 * the padding rule: unit u of n elements gives each of W ranks
 * S = ceil(n / W) elements (rounded up to 16 for alignment). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "host_api.h"
#include "precision.h"
#include "runtime.h"
#include "train.h"

typedef struct strat {
    const char *name;   /* component */
    const char *extra;  /* its config section's lines */
} strat;

static const strat strategies[] = {
    {"ddp", ""},
    {"ddp", "[ddp]\nbucket_bytes = 1\n"},
    {"zero", "[zero]\nstage = 1\n"},
    {"zero", "[zero]\nstage = 2\n"},
    {"zero", "[zero]\nstage = 3\n"},
    {"zero", "[zero]\nstage = 3\nprefetch = 0\n"},
    {"zero", "[zero]\nstage = 3\nprefetch = 4\n"},
    {"fsdp", "[fsdp]\nsharding = full\n"},
    {"fsdp", "[fsdp]\nsharding = full\nmax_inflight = 1\n"},
    {"fsdp", "[fsdp]\nsharding = grad_op\n"},
    {"fsdp", "[fsdp]\nsharding = hybrid\nshard_size = 1\n"},
};
#define N_STRATS (sizeof strategies / sizeof strategies[0])

static llmrt_config *config_for(const strat *s)
{
    char text[1024];
    snprintf(text, sizeof text,
             "[model]\nlayers = 3\nheads = 2\ndim = 16\ncontext = 8\nvocab = 37\n"
             "[cpu]\nthreads = 1\n[runtime]\nstrategy = %s\n%s",
             s->name, s->extra);
    llmrt_config *cfg;
    ck_assert_int_eq(llmrt_config_new(&cfg), 0);
    ck_assert_int_eq(llmrt_config_load_string(cfg, text, "test_plan"), 0);
    return cfg;
}

/* Two optimizer steps of `accum` micro-batches, as core/train.c runs them. */
static void train(llmrt_session *s, int accum)
{
    int B = 2, T = 8;
    int32_t in[16], tg[16];
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(s->rt, &sctx);
    for (int step = 0; step < 2; step++) {
        for (int m = 0; m < accum; m++) {
            for (int i = 0; i < B * T; i++) {
                in[i] = (i * 7 + m + step) % 37;
                tg[i] = (i * 5 + 3 * m) % 37;
            }
            float loss;
            ck_assert_int_eq(llmrt_rt_begin_microbatch(s->rt, m, accum), 0);
            ck_assert_int_eq(llmrt_model_forward(s->model, in, tg, B, T, &loss), 0);
            ck_assert_int_eq(llmrt_model_backward(s->model, 1.0f / (float)accum), 0);
        }
        double norm_sq;
        ck_assert_int_eq(st->grad_norm_sq(sctx, &norm_sq), 0);
        ck_assert(norm_sq > 0.0);
        llmrt_optim_step os = {.struct_size = sizeof os, .lr = 1e-3f, .beta1 = 0.9f,
                               .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                               .grad_scale = 1.0f, .t = step + 1};
        ck_assert_int_eq(st->optimizer_step(sctx, &os), 0);
    }
}

/* The COMM bytes the core itself holds (its host-reduction scratch), taken
 * from a ddp run, which allocates no communication buffers. */
static size_t core_comm = (size_t)-1;

/* Train two steps of `accum` micro-batches in `format` and compare plan()
 * (with the layout the strategy got: the policy's types, accum) with the
 * runtime's peaks. */
static void check_plan(const strat *sp, int accum, const char *format)
{
    llmrt_config *cfg = config_for(sp);
    char set[64];
    snprintf(set, sizeof set, "runtime.format=%s", format);
    ck_assert_int_eq(llmrt_config_set(cfg, set), 0);
    llmrt_session s;
    int rc = llmrt_session_open(&s, cfg, 2, 8);
    if (rc) fprintf(stderr, "%s\n", llmrt_last_error());
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(llmrt_session_init_params(&s, 5), 0);
    train(&s, accum);

    size_t plan[LLMRT_MEM_CATEGORY_COUNT] = {0};
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(s.rt, &sctx);
    llmrt_model_layout layout = *llmrt_model_get_layout(s.model);
    layout.struct_size = sizeof layout;
    llmrt_precision_apply(llmrt_rt_precision(s.rt), &layout);
    layout.micro_batches = accum;
    ck_assert_int_eq(st->plan(llmrt_host_api_get(), llmrt_config_params(cfg, sp->name),
                              &layout, 1, 0, plan),
                     0);
    static const llmrt_mem_category cats[] = {LLMRT_MEM_PARAMS, LLMRT_MEM_GRADS,
                                              LLMRT_MEM_OPTIMIZER};
    for (size_t k = 0; k < 3; k++) {
        size_t peak = llmrt_rt_mem_peak(s.rt, cats[k]);
        if (peak != plan[cats[k]])
            fprintf(stderr, "%s %s (%s, accum %d): category %d: plan %zu, measured peak %zu\n",
                    sp->name, sp->extra, format, accum, (int)cats[k], plan[cats[k]], peak);
        ck_assert_uint_eq(peak, plan[cats[k]]);
    }
    /* Between steps a stage-3 strategy holds only its slices: every gathered
     * unit and every full gradient buffer has been freed. */
    size_t esz = llmrt_dtype_size(layout.param_type);
    if (strstr(sp->extra, "stage = 3") || strstr(sp->extra, "sharding = full") ||
        strstr(sp->extra, "hybrid")) {
        size_t own = 0;
        for (size_t u = 0; u < layout.n_units; u++)
            own += ((layout.units[u].numel + 15) & ~(size_t)15) * esz;
        ck_assert_uint_eq(llmrt_rt_mem_current(s.rt, LLMRT_MEM_PARAMS), own);
        ck_assert_uint_eq(llmrt_rt_mem_current(s.rt, LLMRT_MEM_GRADS), own);
        ck_assert(llmrt_rt_mem_peak(s.rt, LLMRT_MEM_PARAMS) > own);
    }
    size_t comm = llmrt_rt_mem_peak(s.rt, LLMRT_MEM_COMM);
    if (!strcmp(sp->name, "ddp")) {
        ck_assert_uint_eq(plan[LLMRT_MEM_COMM], 0);
        core_comm = comm;
    } else {
        ck_assert(core_comm != (size_t)-1); /* ddp ran first (same process, no fork) */
        ck_assert_uint_eq(comm - core_comm, plan[LLMRT_MEM_COMM]);
    }
    llmrt_session_close(&s);
    llmrt_config_free(cfg);
}

START_TEST(plan_matches_accounting) { check_plan(&strategies[_i], 1, "fp32"); }
END_TEST

/* Stages 2 and 3 keep full gradient buffers across micro-batches. */
START_TEST(plan_matches_accounting_accum) { check_plan(&strategies[_i], 3, "fp32"); }
END_TEST

/* 16-bit parameters and gradients, fp32 masters under optimizer state. */
START_TEST(plan_matches_accounting_bf16) { check_plan(&strategies[_i], 2, "bf16"); }
END_TEST

/* Padding and slices at world sizes that do or do not divide the units. */
START_TEST(plan_shards_by_world_size)
{
    const llmrt_host_api *host = llmrt_host_api_get();
    llmrt_config *cfg = config_for(&strategies[4]); /* zero 3 */
    llmrt_session s;
    ck_assert_int_eq(llmrt_session_open(&s, cfg, 2, 8), 0);
    const llmrt_model_layout *layout = llmrt_model_get_layout(s.model);
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(s.rt, &sctx);
    size_t n_tensors = 0;
    for (size_t u = 0; u < layout->n_units; u++) n_tensors += layout->units[u].n_tensors;
    for (int W = 1; W <= 7; W++) {
        size_t own = 0, full = 0, biggest = 0, numel = 0;
        for (size_t u = 0; u < layout->n_units; u++) {
            size_t n = layout->units[u].numel, S = (n + (size_t)W - 1) / (size_t)W;
            own += (S + 15) & ~(size_t)15;
            full += (S * (size_t)W + 15) & ~(size_t)15;
            if (S * (size_t)W > biggest) biggest = S * (size_t)W;
            numel += n;
        }
        for (int r = 0; r < W; r++) {
            size_t b[LLMRT_MEM_CATEGORY_COUNT];
            /* zero 1: full params and grads, own optimizer state */
            static const char *const stages[] = {"1", "2", "3"};
            for (int k = 0; k < 3; k++) {
                llmrt_config *c2;
                char text[256];
                snprintf(text, sizeof text, "[zero]\nstage = %s\n", stages[k]);
                ck_assert_int_eq(llmrt_config_new(&c2), 0);
                ck_assert_int_eq(llmrt_config_load_string(c2, text, "t"), 0);
                ck_assert_int_eq(st->plan(host, llmrt_config_params(c2, "zero"), layout, W, r,
                                          b),
                                 0);
                ck_assert_uint_eq(b[LLMRT_MEM_OPTIMIZER], 2 * own * sizeof(float));
                /* the norm's allreduce, one double per tensor (rule 10) */
                ck_assert_uint_eq(b[LLMRT_MEM_COMM], n_tensors * sizeof(double));
                if (k == 0) {
                    ck_assert_uint_eq(b[LLMRT_MEM_PARAMS], full * sizeof(float));
                    ck_assert_uint_eq(b[LLMRT_MEM_GRADS], full * sizeof(float));
                } else if (k == 1) {
                    ck_assert_uint_eq(b[LLMRT_MEM_PARAMS], full * sizeof(float));
                    ck_assert(b[LLMRT_MEM_GRADS] > own * sizeof(float));
                    ck_assert(b[LLMRT_MEM_GRADS] < (own + full) * sizeof(float));
                } else {
                    /* own slices, plus at least the biggest unit gathered */
                    ck_assert(b[LLMRT_MEM_PARAMS] >= (own + biggest) * sizeof(float));
                    ck_assert(b[LLMRT_MEM_GRADS] > own * sizeof(float));
                }
                llmrt_config_free(c2);
            }
        }
        (void)numel;
    }
    llmrt_session_close(&s);
    llmrt_config_free(cfg);
}
END_TEST

/* Hybrid: the slices are those of a shard_size group; shard_size must
 * divide the world size. */
START_TEST(plan_hybrid_groups)
{
    const llmrt_host_api *host = llmrt_host_api_get();
    llmrt_config *cfg = config_for(&strategies[10]); /* fsdp hybrid */
    llmrt_session s;
    ck_assert_int_eq(llmrt_session_open(&s, cfg, 2, 8), 0);
    const llmrt_model_layout *layout = llmrt_model_get_layout(s.model);
    void *sctx;
    const llmrt_strategy_vtable *st = llmrt_rt_strategy(s.rt, &sctx);
    llmrt_config *c2;
    ck_assert_int_eq(llmrt_config_new(&c2), 0);
    ck_assert_int_eq(llmrt_config_load_string(c2, "[fsdp]\nsharding = hybrid\nshard_size = 2\n",
                                              "t"), 0);
    size_t own = 0, b[LLMRT_MEM_CATEGORY_COUNT];
    for (size_t u = 0; u < layout->n_units; u++)
        own += (((layout->units[u].numel + 1) / 2) + 15) & ~(size_t)15;
    for (int r = 0; r < 6; r++) {
        ck_assert_int_eq(st->plan(host, llmrt_config_params(c2, "fsdp"), layout, 6, r, b), 0);
        ck_assert_uint_eq(b[LLMRT_MEM_OPTIMIZER], 2 * own * sizeof(float));
    }
    ck_assert_int_ne(st->plan(host, llmrt_config_params(c2, "fsdp"), layout, 3, 0, b), 0);
    ck_assert_ptr_nonnull(strstr(llmrt_last_error(), "shard_size"));
    llmrt_config_free(c2);
    llmrt_session_close(&s);
    llmrt_config_free(cfg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("shard plan");
    TCase *tc = tcase_create("plan");
    tcase_add_loop_test(tc, plan_matches_accounting, 0, (int)N_STRATS);
    tcase_add_loop_test(tc, plan_matches_accounting_accum, 0, (int)N_STRATS);
    tcase_add_loop_test(tc, plan_matches_accounting_bf16, 0, (int)N_STRATS);
    tcase_add_test(tc, plan_shards_by_world_size);
    tcase_add_test(tc, plan_hybrid_groups);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
