/* nccl_bootstrap.h — how the ranks of an nccl job find each other: rank 0's
 * opaque blob (the ncclUniqueId) reaches every rank, and each rank learns
 * its rank, the world size and its place among the ranks of its host.
 *
 * Independent of NCCL and CUDA (tests/nccl/test_nccl_bootstrap runs it on
 * machines without either). Methods, in auto's order of preference:
 *   mpi   a launcher that set up MPI (mpirun, srun with PMI): MPI_Bcast, and
 *         MPI_Comm_split_type(SHARED) for the local rank. Only when built with
 *         MPI (LLMRT_NCCL_WITH_MPI).
 *   env   torchrun's variables RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT:
 *         rank 0 listens, the others connect (TCP, IPv4 or IPv6).
 *   file  a path on a filesystem every rank sees ([nccl] bootstrap_file or
 *         LLMRT_NCCL_BOOTSTRAP_FILE), rank and world from SLURM_PROCID /
 *         SLURM_NTASKS or RANK / WORLD_SIZE.
 *   single  none of the above: one rank, world 1.
 * docs/nccl.md describes each in full.
 *
 * Errors: a non-zero llmrt_status with a one-line message in `err` naming
 * the variable, host, port or path at fault. Nothing is printed. */
#ifndef LLMRT_NCCL_BOOTSTRAP_H
#define LLMRT_NCCL_BOOTSTRAP_H

#include <stddef.h>

/* Largest blob the exchange carries (an ncclUniqueId is 128 bytes). */
#define NCCL_BOOT_MAX_BLOB 4096
/* Host names, with their NUL. */
#define NCCL_BOOT_HOST_MAX 256

typedef struct nccl_boot_opts {
    const char *method;  /* "auto", "mpi", "env", "file" (NULL: auto) */
    const char *file;    /* the file method's path; NULL or "": LLMRT_NCCL_BOOTSTRAP_FILE */
    double timeout_s;    /* how long to wait for the other ranks; <= 0: no limit */
    /* Called on rank 0 only, once its rank is known, to make the blob. */
    int (*make_blob)(void *arg, void *blob, size_t size, char *err, size_t err_size);
    void *make_arg;
} nccl_boot_opts;

typedef struct nccl_boot_info {
    int rank, world, local_rank, local_size;
    const char *method;  /* the method that ran: "mpi", "env", "file" or "single" */
    int mpi_initialised; /* this bootstrap called MPI_Init_thread */
    int mpi_user;        /* holds MPI open until nccl_bootstrap_finish() */
} nccl_boot_info;

/* Exchange `size` bytes of `blob` (made by opts->make_blob on rank 0) so
 * that every rank returns with the same blob and *info filled in. */
int nccl_bootstrap(const nccl_boot_opts *opts, void *blob, size_t size, nccl_boot_info *info,
                   char *err, size_t err_size);

/* End what the bootstrap started, once per successful nccl_bootstrap()
 * or failed one: MPI_Finalize when this is the last context that met
 * through MPI, a bootstrap of this process initialised MPI, and `clean` is
 * set (every rank is known to be shutting down; MPI_Finalize waits for all
 * of them). Without `clean` MPI is left for the job's end: the launcher
 * then ends the other ranks. */
void nccl_bootstrap_finish(const nccl_boot_info *info, int clean);

/* End the whole job now where the method can (mpi: MPI_Abort, which the
 * launcher turns into the end of every rank); returns otherwise. */
void nccl_bootstrap_abort(const nccl_boot_info *info);

/* Rank `rank`'s place among the ranks whose host name equals its own:
 * local_rank = how many lower ranks share it, local_size = how many do. */
void nccl_boot_local_rank(const char *const *hosts, int world, int rank, int *local_rank,
                          int *local_size);

/* This host's name as ranks compare it: LLMRT_NCCL_HOSTNAME when set (for
 * containers that share one host name across nodes), else gethostname(). */
void nccl_boot_host_name(char out[NCCL_BOOT_HOST_MAX]);

#endif
