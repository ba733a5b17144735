/* mpi_test.h — the check macro of the multi-rank test programs: counts into
 * the including file's `checks` and `fails` and names `rank` and the last
 * recorded error, so that every rank reports its own failures. */
#ifndef LLMRT_TESTS_MPI_TEST_H
#define LLMRT_TESTS_MPI_TEST_H

#include <stdio.h>

#include "error.h"

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        checks++;                                                                            \
        if (!(cond)) {                                                                       \
            fails++;                                                                         \
            fprintf(stderr, "rank %d: FAIL %s:%d: ", rank, __FILE__, __LINE__);              \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fprintf(stderr, " (last error: %s)\n", llmrt_last_error());                      \
        }                                                                                    \
    } while (0)

#endif
