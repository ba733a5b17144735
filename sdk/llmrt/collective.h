/* llmrt/collective.h — the collective transport interface.
 *
 * A collective owns the ranks of a job and moves buffers between them:
 * allreduce, reduce-scatter, all-gather, broadcast and barrier, each either
 * blocking (work == NULL) or asynchronous (returning a work handle).
 *
 * Rules:
 *  1. Buffers are device addresses of the job's compute backend when
 *     caps.device_memory is 1, host memory otherwise; in the latter case the
 *     core stages device buffers through pinned host memory, so the collective
 *     itself never sees a device address it cannot use.
 *  2. Every rank calls the same collectives in the same order with the same
 *     counts and dtypes (MPI's rule). Counts are in elements.
 *  3. In-place use is allowed as NCCL defines it: allreduce with send == recv;
 *     reduce_scatter with recv == send + rank * recv_count; all_gather with
 *     send == recv + rank * send_count.
 *  4. An asynchronous call returns LLMRT_OK and a work handle in *work. The
 *     buffers must stay untouched until work_test() reports done or
 *     work_wait() returns. The caller releases every handle it got, exactly
 *     once, with work_release(), after completion or failure.
 *  5. A failure in any rank (a peer that died, a timeout, a transport error)
 *     must surface on every rank as a non-zero status with a message that
 *     names the rank at fault where it is known, never as a hang. abort()
 *     ends the whole job from any rank.
 *  6. stream (optional) is a compute backend's native stream handle
 *     (stream_native() in compute.h) for transports that enqueue on device
 *     streams (NCCL); host transports ignore it.
 *  7. A context is used by one host thread at a time.
 */
#ifndef LLMRT_COLLECTIVE_H
#define LLMRT_COLLECTIVE_H

#include <llmrt/types.h>
#include <llmrt/host.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llmrt_work llmrt_work; /* opaque, collective-defined */

typedef struct llmrt_collective_caps {
    size_t struct_size;
    int rank, world_size;
    int local_rank, local_size;  /* among the ranks on this host */
    int device_memory;           /* rule 1 */
    uint32_t reduce_dtypes;      /* bit (1u << dtype) set for each dtype it reduces natively */
} llmrt_collective_caps;

/* What the core tells a collective about the job when creating it. */
typedef struct llmrt_collective_init {
    size_t struct_size;
    const char *compute_backend; /* name of the job's compute backend ("cpu", "cuda") */
    double timeout_s;            /* default deadline for blocking calls; 0 = none */
    int host_addressable;        /* the backend's addresses are host pointers */
} llmrt_collective_init;

typedef struct llmrt_collective_vtable {
    size_t struct_size;

    int (*create)(const llmrt_host_api *host, llmrt_params *params,
                  const llmrt_collective_init *init, void **ctx);
    void (*destroy)(void *ctx); /* collective shutdown; every rank calls it */
    int (*get_caps)(void *ctx, llmrt_collective_caps *caps);

    int (*allreduce)(void *ctx, const void *send, void *recv, size_t count, llmrt_dtype dtype,
                     llmrt_reduce_op op, void *stream, llmrt_work **work);
    /* recv gets this rank's recv_count elements of the reduction of
     * world_size * recv_count elements of send. */
    int (*reduce_scatter)(void *ctx, const void *send, void *recv, size_t recv_count,
                          llmrt_dtype dtype, llmrt_reduce_op op, void *stream,
                          llmrt_work **work);
    /* recv gets world_size * send_count elements, rank r's at r * send_count. */
    int (*all_gather)(void *ctx, const void *send, void *recv, size_t send_count,
                      llmrt_dtype dtype, void *stream, llmrt_work **work);
    int (*broadcast)(void *ctx, void *buf, size_t count, llmrt_dtype dtype, int root,
                     void *stream, llmrt_work **work);
    int (*barrier)(void *ctx);

    /* *done = 1 when the work has completed. Returns non-zero (with the
     * message recorded) when it failed. */
    int (*work_test)(void *ctx, llmrt_work *work, int *done);
    /* Block until done, failure, or timeout_s seconds (<= 0: no limit);
     * LLMRT_ERR_TIMEOUT on timeout, after which the job should be aborted. */
    int (*work_wait)(void *ctx, llmrt_work *work, double timeout_s);
    /* The status of a completed or failed work, re-recording its message. */
    int (*work_error)(void *ctx, llmrt_work *work);
    void (*work_release)(void *ctx, llmrt_work *work);

    /* End every rank of the job with `reason` (rule 5). May not return. */
    void (*abort)(void *ctx, const char *reason);

    /* Optional. A new context over the ranks that passed the same `color`,
     * ranked by `key` then by rank (MPI_Comm_split). Collective over every
     * rank of ctx. The new context is destroyed with destroy(), before ctx. */
    int (*split)(void *ctx, int color, int key, void **new_ctx);
} llmrt_collective_vtable;

#ifdef __cplusplus
}
#endif
#endif /* LLMRT_COLLECTIVE_H */
