/* nccl_internal.h — what the files of the nccl collective share: the
 * context, the work handle and the helpers that wait on a non-blocking
 * communicator. */
#ifndef LLMRT_NCCL_INTERNAL_H
#define LLMRT_NCCL_INTERNAL_H

#include <cuda_runtime.h>
/* nccl.h declares ncclGroupStart() and a few others without (void). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <nccl.h>
#pragma GCC diagnostic pop

#include <llmrt/llmrt.h>

#include "nccl_bootstrap.h"

#define NCCL_COMPONENT "nccl"

typedef struct nccl_ctx {
    const llmrt_host_api *host;
    ncclComm_t comm;         /* NULL once aborted or destroyed */
    int rank, size, local_rank, local_size;
    int device;              /* the cuda backend's device (cudaGetDevice at create) */
    double timeout_s;        /* [runtime] timeout_s: bounds every wait; 0 = none */
    cudaStream_t own_stream; /* barrier, and calls given no stream */
    float *barrier_buf;      /* one device float for the barrier's allreduce */
    int is_root;             /* made by create(), not split() */
    nccl_boot_info boot;     /* root contexts: how the ranks met */
    char failed[400];        /* why the communicator was aborted, or "" */
} nccl_ctx;

struct llmrt_work {
    const char *op;
    size_t count;
    llmrt_dtype dtype;
    cudaEvent_t event; /* recorded on the call's stream after the NCCL call */
    int done, status;
    double waited_s;   /* time spent waiting on it so far */
    char msg[512];
};

/* nccl_plugin.c */
extern const llmrt_collective_vtable nccl_vtable;
const char *nccl_dtype_name(llmrt_dtype t);

/* Settle call `call` that returned `r` on the non-blocking communicator
 * `comm` (c->comm, or one being made for c): while NCCL says
 * ncclInProgress, poll ncclCommGetAsyncError until it stops or timeout_s
 * (<= 0: none) passes. A failure or the timeout aborts the communicator
 * and records an error naming `call`, the collective and the rank. */
int nccl_settle(nccl_ctx *c, ncclComm_t comm, ncclResult_t r, const char *call, const char *op,
                size_t count, llmrt_dtype dtype, double timeout_s);

/* Abort the communicator (once) and remember `why`, so that every later
 * call is refused with it. */
void nccl_fail_comm(nccl_ctx *c, const char *why);

/* The refusal of a call on an aborted communicator (0 when it is usable). */
int nccl_refuse(nccl_ctx *c, const char *op);

/* "f32 allreduce of N" style description of a work, for messages. */
void nccl_describe(const char *op, size_t count, llmrt_dtype dtype, char *buf, size_t size);

/* Sleep between polls: spins first, then doubling sleeps up to 1 ms. */
void nccl_backoff(double elapsed, long *sleep_ns);

/* nccl_collectives.c: the vtable's calls. */
int nccl_allreduce(void *ctx, const void *send, void *recv, size_t count, llmrt_dtype dtype,
                   llmrt_reduce_op op, void *stream, llmrt_work **work);
int nccl_reduce_scatter(void *ctx, const void *send, void *recv, size_t recv_count,
                        llmrt_dtype dtype, llmrt_reduce_op op, void *stream, llmrt_work **work);
int nccl_all_gather(void *ctx, const void *send, void *recv, size_t send_count,
                    llmrt_dtype dtype, void *stream, llmrt_work **work);
int nccl_broadcast(void *ctx, void *buf, size_t count, llmrt_dtype dtype, int root, void *stream,
                   llmrt_work **work);
int nccl_barrier(void *ctx);
int nccl_work_test(void *ctx, llmrt_work *work, int *done);
int nccl_work_wait(void *ctx, llmrt_work *work, double timeout_s);
int nccl_work_error(void *ctx, llmrt_work *work);
void nccl_work_release(void *ctx, llmrt_work *work);

/* The dtypes NCCL reduces (caps.reduce_dtypes). */
#define NCCL_REDUCE_DTYPES                                                                   \
    ((1u << LLMRT_DTYPE_F32) | (1u << LLMRT_DTYPE_F16) | (1u << LLMRT_DTYPE_BF16) |           \
     (1u << LLMRT_DTYPE_F64) | (1u << LLMRT_DTYPE_I32) | (1u << LLMRT_DTYPE_I8) |             \
     (1u << LLMRT_DTYPE_U8))

#endif
