# tests/mpi: the mpi collective against MPI's own results under mpirun with
# 1-4 ranks and under srun (a one-node Slurm of the test's own), deadlines (blocking calls whose peers never join, works released
# early), ddp over mpi against the single-process run, and a rank killed
# mid-run. Each script exits 77 (SKIP) when mpirun or the plugin is missing.
if BUILD_MPI
check_PROGRAMS += tests/mpi/test_mpi_coll
tests_mpi_test_mpi_coll_SOURCES = tests/mpi/test_mpi_coll.c tests/mpi/mpi_test.h
tests_mpi_test_mpi_coll_CFLAGS = $(AM_CFLAGS) $(MPI_CFLAGS)
tests_mpi_test_mpi_coll_LDADD = core/libllmrt.la $(MPI_LIBS)
check_PROGRAMS += tests/mpi/test_mpi_deadline
tests_mpi_test_mpi_deadline_SOURCES = tests/mpi/test_mpi_deadline.c tests/mpi/mpi_test.h
tests_mpi_test_mpi_deadline_CFLAGS = $(AM_CFLAGS) $(MPI_CFLAGS)
tests_mpi_test_mpi_deadline_LDADD = core/libllmrt.la $(MPI_LIBS)
endif
TESTS += tests/mpi/test_mpi_coll.sh tests/mpi/test_mpi_deadline.sh tests/mpi/test_mpi_srun.sh \
	tests/mpi/test_mpi_ddp.sh tests/mpi/test_mpi_kill.sh tests/mpi/test_bench.sh
EXTRA_DIST += tests/mpi/common.sh tests/mpi/test_mpi_coll.sh tests/mpi/test_mpi_deadline.sh \
	tests/mpi/test_mpi_srun.sh tests/mpi/test_mpi_ddp.sh tests/mpi/test_mpi_kill.sh \
	tests/mpi/test_bench.sh tests/mpi/compare_weights.py
