/* cmd_bench.c — `llmrt bench collectives`: time, algorithm bandwidth and bus
 * bandwidth of allreduce, reduce_scatter, all_gather and broadcast through
 * the configured collective plugin, over a range of message sizes, as
 * nccl-tests reports them. Only rank 0 prints.
 *
 * The runtime is created from the configuration as `llmrt train` creates it
 * (the backend allocates the buffers, [runtime] collective picks the
 * transport); the timed calls go through a second context of the same
 * collective component, made with the same init, because the runtime lends
 * its own only to the strategy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/llmrt.h>
#include "commands.h"
#include "error.h"
#include "host_api.h"
#include "registry.h"
#include "runtime.h"

static const char usage[] =
    "usage: llmrt bench collectives [CONFIG] [--sizes MIN:MAX] [--iters N]\n"
    "                               [--set section.key=value]...\n"
    "\n"
    "Time allreduce (sum), reduce_scatter (sum), all_gather and broadcast of f32\n"
    "messages through the collective of [runtime] collective (default: local),\n"
    "for sizes MIN, 2*MIN, ... up to MAX bytes (default 4:256M; K, M, G suffixes\n"
    "are powers of 1024). Run it under mpirun for several ranks:\n"
    "  mpirun -np 2 llmrt bench collectives --set runtime.collective=mpi\n"
    "\n"
    "Columns (nccl-tests definitions): size is the whole buffer in bytes (the\n"
    "input of allreduce, reduce_scatter and broadcast, the output of all_gather),\n"
    "time the mean of N calls after 2 warm-up calls, algbw = size / time, and\n"
    "busbw = algbw x 2(n-1)/n for allreduce, x (n-1)/n for reduce_scatter and\n"
    "all_gather, x 1 for broadcast. Only rank 0 prints. bench/collectives.sh\n"
    "compares the mpi plugin with raw MPI calls.\n"
    "\n"
    "  --sizes MIN:MAX  message sizes in bytes (default 4:256M)\n"
    "  --iters N        timed calls per size (default 20)\n";

static int parse_bytes(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return -1;
    if (*end == 'K' || *end == 'k') v <<= 10, end++;
    else if (*end == 'M' || *end == 'm') v <<= 20, end++;
    else if (*end == 'G' || *end == 'g') v <<= 30, end++;
    if (*end == 'B') end++;
    if (*end && *end != ':') return -1;
    *out = (size_t)v;
    return (int)(end - s);
}

enum { OP_ALLREDUCE, OP_REDUCE_SCATTER, OP_ALL_GATHER, OP_BROADCAST, N_OPS };
static const char *const op_names[N_OPS] = {"allreduce", "reduce_scatter", "all_gather",
                                            "broadcast"};

typedef struct bench {
    const llmrt_collective_vtable *vt;
    void *ctx;
    int world;
    float *send, *recv;
} bench;

/* One call of `op` over a buffer of `count` f32 (count divisible by world). */
static int run_op(bench *b, int op, size_t count)
{
    size_t per = count / (size_t)b->world;
    switch (op) {
    case OP_ALLREDUCE:
        return b->vt->allreduce(b->ctx, b->send, b->recv, count, LLMRT_DTYPE_F32,
                                LLMRT_REDUCE_SUM, NULL, NULL);
    case OP_REDUCE_SCATTER:
        return b->vt->reduce_scatter(b->ctx, b->send, b->recv, per, LLMRT_DTYPE_F32,
                                     LLMRT_REDUCE_SUM, NULL, NULL);
    case OP_ALL_GATHER:
        return b->vt->all_gather(b->ctx, b->send, b->recv, per, LLMRT_DTYPE_F32, NULL, NULL);
    default:
        return b->vt->broadcast(b->ctx, b->send, count, LLMRT_DTYPE_F32, 0, NULL, NULL);
    }
}

static double bus_factor(int op, int n)
{
    if (op == OP_ALLREDUCE) return 2.0 * (n - 1) / n;
    if (op == OP_BROADCAST) return 1.0;
    return (double)(n - 1) / n;
}

static int bench_collectives(llmrt_config *cfg, size_t min_b, size_t max_b, long iters)
{
    llmrt_rt *rt = NULL;
    bench b = {0};
    const llmrt_host_api *host = llmrt_host_api_get();
    int rc;
    if ((rc = llmrt_rt_create(&rt, cfg)) || (rc = llmrt_config_check_unknown(cfg, "runtime")))
        goto out;
    const char *name = llmrt_rt_component_name(rt, LLMRT_KIND_COLLECTIVE);
    const llmrt_component *comp;
    if ((rc = llmrt_registry_find(LLMRT_KIND_COLLECTIVE, name, &comp, NULL))) goto out;
    double timeout_s;
    if ((rc = llmrt_config_double(cfg, "runtime", "timeout_s", 600.0, 0.0, 1e9,
                                  "seconds a collective may wait before the job is aborted "
                                  "(0: no limit)", &timeout_s)))
        goto out;
    llmrt_collective_init init = {
        .struct_size = sizeof init,
        .compute_backend = llmrt_rt_component_name(rt, LLMRT_KIND_COMPUTE),
        .timeout_s = timeout_s,
        .host_addressable = llmrt_rt_compute_caps(rt)->host_addressable,
    };
    b.vt = comp->vtable;
    if ((rc = b.vt->create(host, llmrt_config_params(cfg, name), &init, &b.ctx))) {
        b.ctx = NULL;
        goto out;
    }
    llmrt_collective_caps caps = {.struct_size = sizeof caps};
    if ((rc = b.vt->get_caps(b.ctx, &caps))) goto out;
    b.world = caps.world_size;
    /* Buffers of the largest size, rounded up to whole elements per rank. */
    size_t max_count = (max_b + 3) / 4;
    max_count = (max_count + (size_t)b.world - 1) / (size_t)b.world * (size_t)b.world;
    if ((rc = llmrt_rt_alloc(rt, LLMRT_MEM_COMM, max_count * 4, (void **)&b.send)) ||
        (rc = llmrt_rt_alloc(rt, LLMRT_MEM_COMM, max_count * 4, (void **)&b.recv)))
        goto out;
    llmrt_backend be = llmrt_rt_backend(rt);
    if ((rc = be.vt->memset(be.ctx, b.send, 0, max_count * 4, NULL)) ||
        (rc = be.vt->memset(be.ctx, b.recv, 0, max_count * 4, NULL)))
        goto out;
    int rank0 = caps.rank == 0;
    if (rank0) {
        printf("# llmrt bench collectives: %s, %d ranks, f32, %ld iterations, backend %s\n",
               name, b.world, iters, init.compute_backend);
        printf("# %-14s %12s %12s %12s %12s %12s\n", "op", "size(B)", "count", "time(us)",
               "algbw(GB/s)", "busbw(GB/s)");
    }
    for (int op = 0; op < N_OPS; op++) {
        for (size_t bytes = min_b; bytes <= max_b; bytes *= 2) {
            size_t count = bytes / 4 / (size_t)b.world * (size_t)b.world;
            if (op == OP_BROADCAST || op == OP_ALLREDUCE) count = bytes / 4;
            if (count == 0) count = op == OP_BROADCAST || op == OP_ALLREDUCE ? 1 : (size_t)b.world;
            for (int w = 0; w < 2; w++)
                if ((rc = run_op(&b, op, count))) goto out;
            if ((rc = b.vt->barrier(b.ctx))) goto out;
            double t0 = host->now();
            for (long i = 0; i < iters; i++)
                if ((rc = run_op(&b, op, count))) goto out;
            double us = (host->now() - t0) / (double)iters * 1e6;
            double size = (double)count * 4.0, algbw = size / us / 1e3;
            if (rank0)
                printf("  %-14s %12.0f %12zu %12.2f %12.3f %12.3f\n", op_names[op], size, count,
                       us, algbw, algbw * bus_factor(op, b.world));
            fflush(stdout);
            if (bytes > max_b / 2) break; /* no overflow past max */
        }
    }
out:
    if (rt) {
        if (b.send) llmrt_rt_free(rt, b.send);
        if (b.recv) llmrt_rt_free(rt, b.recv);
    }
    if (b.ctx) b.vt->destroy(b.ctx);
    llmrt_rt_destroy(rt);
    return rc;
}

int llmrt_cmd_bench(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "collectives") != 0) {
        fprintf(stderr, "llmrt bench: unknown benchmark '%s' (accepted: collectives)\n",
                argv[1]);
        return 2;
    }
    const char *sizes = NULL, *iters_s = NULL;
    const llmrt_cli_option opts[] = {{"--sizes", &sizes}, {"--iters", &iters_s}};
    llmrt_config *cfg;
    argv[1] = argv[0]; /* "bench" names the command in messages */
    int rc = llmrt_cli_parse(argc - 1, argv + 1, usage, opts, 2, 0, &cfg);
    if (rc) return rc < 0 ? 0 : rc;
    size_t min_b = 4, max_b = (size_t)256 << 20;
    long iters = 20;
    if (sizes) {
        int n = parse_bytes(sizes, &min_b);
        if (n < 0 || sizes[n] != ':' || parse_bytes(sizes + n + 1, &max_b) < 0 || min_b < 1 ||
            max_b < min_b) {
            fprintf(stderr, "llmrt bench: --sizes %s is not MIN:MAX in bytes with 1 <= MIN <= "
                            "MAX (e.g. 4:64M)\n", sizes);
            llmrt_config_free(cfg);
            return 2;
        }
    }
    if (iters_s) {
        char *end;
        iters = strtol(iters_s, &end, 10);
        if (*end || iters < 1) {
            fprintf(stderr, "llmrt bench: --iters %s is not a count of 1 or more\n", iters_s);
            llmrt_config_free(cfg);
            return 2;
        }
    }
    rc = bench_collectives(cfg, min_b, max_b, iters) ? llmrt_cli_fail() : 0;
    llmrt_config_free(cfg);
    return rc;
}
