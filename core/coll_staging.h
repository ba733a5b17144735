/* coll_staging.h — collectives on device buffers through pinned host memory.
 *
 * When the job's collective cannot take the compute backend's device
 * addresses (collective.h rule 1: caps.device_memory == 0 on a backend that
 * is not host-addressable, e.g. cuda + mpi), the runtime runs every
 * collective through this module:
 *   1. device -> pinned host: copy_to_host() on the compute stream, which
 *      returns once the data (and everything enqueued before it) is there;
 *   2. the collective on the host buffers, blocking or asynchronous;
 *   3. host -> device: copy_to_device() on the compute stream, when the call
 *      completes (blocking) or when its handle is waited (asynchronous).
 * The host buffers mirror the caller's in-place use (collective.h rule 3), so
 * the collective sees the same in-place or out-of-place call it would have
 * seen on device memory.
 *
 * Pinned buffers come from the backend's host_alloc_pinned(), are kept in a
 * pool and reused (a free buffer large enough, else the largest free one is
 * replaced by a bigger one, else a new one), so that steady-state training
 * allocates nothing. Each asynchronous call holds its own buffers until it is
 * waited: any number of handles may be outstanding (zero3/fsdp prefetch).
 * The pool's bytes are reported through the account callback (the runtime
 * counts them as LLMRT_MEM_COMM) and freed by llmrt_staging_destroy().
 *
 * A staging context is used by one host thread at a time (the runtime's). */
#ifndef LLMRT_CORE_COLL_STAGING_H
#define LLMRT_CORE_COLL_STAGING_H

#include <llmrt/llmrt.h>

typedef struct llmrt_staging llmrt_staging;

/* Told +bytes when a pinned buffer is allocated and -bytes when it is freed. */
typedef void (*llmrt_staging_account_fn)(void *arg, long long delta_bytes);

/* The collective a staged call runs on host buffers. The runtime passes the
 * job's or a split group's context; one pool serves them all. */
typedef struct llmrt_staging_coll {
    const llmrt_collective_vtable *vt;
    void *ctx;
    int rank, world_size;
    double timeout_s;            /* for work_wait; <= 0: no limit */
} llmrt_staging_coll;

/* `backend`/`backend_ctx` must provide copy_to_host, copy_to_device,
 * host_alloc_pinned, host_free_pinned and stream_synchronize
 * (LLMRT_ERR_UNSUPPORTED naming the missing one otherwise). `backend_name`
 * is used in messages. */
int llmrt_staging_create(llmrt_staging **out, const llmrt_compute_vtable *backend,
                         void *backend_ctx, const char *backend_name,
                         llmrt_staging_account_fn account, void *account_arg);
/* Frees every pinned buffer. Every handle must have been waited before. */
void llmrt_staging_destroy(llmrt_staging *st);

/* Semantics as in collective.h, on device buffers. With work != NULL the call
 * returns a handle that only llmrt_staging_wait() understands. */
int llmrt_staging_allreduce(llmrt_staging *st, const llmrt_staging_coll *c, const void *send,
                            void *recv, size_t count, llmrt_dtype dtype, llmrt_reduce_op op,
                            llmrt_work **work);
int llmrt_staging_reduce_scatter(llmrt_staging *st, const llmrt_staging_coll *c,
                                 const void *send, void *recv, size_t recv_count,
                                 llmrt_dtype dtype, llmrt_reduce_op op, llmrt_work **work);
int llmrt_staging_all_gather(llmrt_staging *st, const llmrt_staging_coll *c, const void *send,
                             void *recv, size_t send_count, llmrt_dtype dtype,
                             llmrt_work **work);
int llmrt_staging_broadcast(llmrt_staging *st, const llmrt_staging_coll *c, void *buf,
                            size_t count, llmrt_dtype dtype, int root, llmrt_work **work);

/* Waits for a staged handle (with its collective's timeout), copies the
 * result to the device buffer, and releases the handle and its buffers in
 * every case. A failure or timeout of the collective is returned as is
 * (its message recorded by the collective); nothing is copied back then. */
int llmrt_staging_wait(llmrt_staging *st, llmrt_work *work);

/* Handles not waited yet, and the pinned bytes the pool holds. */
size_t llmrt_staging_outstanding(const llmrt_staging *st);
size_t llmrt_staging_pinned_bytes(const llmrt_staging *st);

#endif
