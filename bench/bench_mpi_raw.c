/* bench_mpi_raw.c — the raw-MPI side of bench/collectives.sh: the same
 * table as `llmrt bench collectives`, timing MPI_Allreduce,
 * MPI_Reduce_scatter_block, MPI_Allgather and MPI_Bcast directly, with the
 * same sizes, iterations, warm-up and buffers (allocated and zeroed up front), so that the
 * plugin's overhead is the ratio of the two.
 *
 * usage: mpirun -np N bench_mpi_raw [MIN_BYTES MAX_BYTES ITERS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

enum { OP_ALLREDUCE, OP_REDUCE_SCATTER, OP_ALL_GATHER, OP_BROADCAST, N_OPS };
static const char *const op_names[N_OPS] = {"allreduce", "reduce_scatter", "all_gather",
                                            "broadcast"};

static void run_op(int op, float *send, float *recv, size_t count, int world)
{
    int per = (int)(count / (size_t)world);
    switch (op) {
    case OP_ALLREDUCE:
        MPI_Allreduce(send, recv, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        break;
    case OP_REDUCE_SCATTER:
        MPI_Reduce_scatter_block(send, recv, per, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        break;
    case OP_ALL_GATHER:
        MPI_Allgather(send, per, MPI_FLOAT, recv, per, MPI_FLOAT, MPI_COMM_WORLD);
        break;
    default:
        MPI_Bcast(send, (int)count, MPI_FLOAT, 0, MPI_COMM_WORLD);
        break;
    }
}

static double bus_factor(int op, int n)
{
    if (op == OP_ALLREDUCE) return 2.0 * (n - 1) / n;
    if (op == OP_BROADCAST) return 1.0;
    return (double)(n - 1) / n;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    size_t min_b = argc > 1 ? strtoull(argv[1], NULL, 10) : 4;
    size_t max_b = argc > 2 ? strtoull(argv[2], NULL, 10) : (size_t)256 << 20;
    long iters = argc > 3 ? strtol(argv[3], NULL, 10) : 20;
    if (min_b < 1 || max_b < min_b || iters < 1) {
        if (rank == 0) fprintf(stderr, "usage: bench_mpi_raw [MIN_BYTES MAX_BYTES ITERS]\n");
        MPI_Finalize();
        return 2;
    }
    size_t max_count = (max_b + 3) / 4;
    max_count = (max_count + (size_t)world - 1) / (size_t)world * (size_t)world;
    float *send = calloc(max_count, 4), *recv = calloc(max_count, 4);
    if (!send || !recv) MPI_Abort(MPI_COMM_WORLD, 1);
    /* Touch every page, as the plugin side's backend memset does. */
    memset(send, 0, max_count * 4);
    memset(recv, 0, max_count * 4);
    if (rank == 0) {
        printf("# raw MPI: %d ranks, f32, %ld iterations\n", world, iters);
        printf("# %-14s %12s %12s %12s %12s %12s\n", "op", "size(B)", "count", "time(us)",
               "algbw(GB/s)", "busbw(GB/s)");
    }
    for (int op = 0; op < N_OPS; op++) {
        for (size_t bytes = min_b; bytes <= max_b; bytes *= 2) {
            size_t count = bytes / 4 / (size_t)world * (size_t)world;
            if (op == OP_BROADCAST || op == OP_ALLREDUCE) count = bytes / 4;
            if (count == 0) count = op == OP_BROADCAST || op == OP_ALLREDUCE ? 1 : (size_t)world;
            for (int w = 0; w < 2; w++) run_op(op, send, recv, count, world);
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            for (long i = 0; i < iters; i++) run_op(op, send, recv, count, world);
            double us = (MPI_Wtime() - t0) / (double)iters * 1e6;
            double size = (double)count * 4.0, algbw = size / us / 1e3;
            if (rank == 0)
                printf("  %-14s %12.0f %12zu %12.2f %12.3f %12.3f\n", op_names[op], size, count,
                       us, algbw, algbw * bus_factor(op, world));
            fflush(stdout);
            if (bytes > max_b / 2) break;
        }
    }
    free(send);
    free(recv);
    MPI_Finalize();
    return 0;
}
