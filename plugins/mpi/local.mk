# collective/mpi: ranks and transport from MPI (Open MPI). Built when
# configure finds ompi-c (pkg-config); see docs/mpi.md.
if BUILD_MPI
plugin_LTLIBRARIES += plugins/mpi/llmrt-collective-mpi.la
plugins_mpi_llmrt_collective_mpi_la_SOURCES = plugins/mpi/mpi.c
plugins_mpi_llmrt_collective_mpi_la_CFLAGS = $(PLUGIN_CFLAGS) $(MPI_CFLAGS)
plugins_mpi_llmrt_collective_mpi_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_mpi_llmrt_collective_mpi_la_LIBADD = $(MPI_LIBS) -lm

# The raw-MPI side of bench/collectives.sh (`make bench-collectives`); a
# check program so that tests/mpi/test_bench.sh can run it small.
check_PROGRAMS += bench/bench_mpi_raw
bench_bench_mpi_raw_SOURCES = bench/bench_mpi_raw.c
bench_bench_mpi_raw_CFLAGS = $(AM_CFLAGS) $(MPI_CFLAGS)
bench_bench_mpi_raw_LDADD = $(MPI_LIBS)
bench-collectives: all bench/bench_mpi_raw
	sh $(srcdir)/bench/collectives.sh $(abs_top_builddir)
endif
.PHONY: bench-collectives
EXTRA_DIST += bench/collectives.sh
