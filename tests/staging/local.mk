# tests/staging: collectives staged through pinned host memory
# (core/coll_staging; [runtime] stage_collectives). The Check suite runs the
# staging module on a fake backend and collective; the script trains with
# stage_collectives = always under mpirun and must equal the unstaged runs
# bit for bit (skips 77 without mpirun or the mpi plugin).
check_PROGRAMS += tests/staging/test_coll_staging
tests_staging_test_coll_staging_SOURCES = tests/staging/test_coll_staging.c
tests_staging_test_coll_staging_CFLAGS = $(TEST_CFLAGS)
tests_staging_test_coll_staging_LDADD = $(TEST_LIBS)
TESTS += tests/staging/test_coll_staging tests/staging/test_staged_train.sh
EXTRA_DIST += tests/staging/test_staged_train.sh
