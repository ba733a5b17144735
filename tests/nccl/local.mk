# tests/nccl: the nccl collective. Run everywhere: test_nccl_bootstrap (the
# bootstrap needs neither NCCL nor a GPU: 3 processes over TCP and over a
# file, and under mpirun -np 3 where MPI is built), test_device_select
# ([cuda] device = auto) and test_nccl_create (create()'s checks). Skip (77)
# without GPUs: test_nccl (one rank, one GPU, every collective) and
# test_nccl_strategies.sh (the distributed strategies over nccl on 2 GPUs).
check_PROGRAMS += tests/nccl/test_nccl_bootstrap
tests_nccl_test_nccl_bootstrap_SOURCES = tests/nccl/test_nccl_bootstrap.c \
	plugins/nccl/nccl_bootstrap.c plugins/nccl/nccl_bootstrap.h
tests_nccl_test_nccl_bootstrap_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/nccl
tests_nccl_test_nccl_bootstrap_LDADD = $(CHECK_LIBS)
if BUILD_MPI
tests_nccl_test_nccl_bootstrap_CFLAGS = $(TEST_CFLAGS) -DLLMRT_NCCL_WITH_MPI $(MPI_CFLAGS)
tests_nccl_test_nccl_bootstrap_LDADD += $(MPI_LIBS)
else
tests_nccl_test_nccl_bootstrap_CFLAGS = $(TEST_CFLAGS)
endif
TESTS += tests/nccl/test_nccl_bootstrap tests/nccl/test_nccl_bootstrap_mpi.sh
EXTRA_DIST += tests/nccl/test_nccl_bootstrap_mpi.sh
# [cuda] device = auto (the GPU per local rank): runs with or without a GPU.
if BUILD_CUDA
check_PROGRAMS += tests/nccl/test_device_select
TESTS += tests/nccl/test_device_select
tests_nccl_test_device_select_SOURCES = tests/nccl/test_device_select.c tests/cpu/host_stub.c \
	tests/cpu/host_stub.h
tests_nccl_test_device_select_CPPFLAGS = $(AM_CPPFLAGS) $(CUDA_CPPFLAGS) -I$(top_srcdir)/tests/cpu
tests_nccl_test_device_select_CFLAGS = $(TEST_CFLAGS)
tests_nccl_test_device_select_LDADD = $(CHECK_LIBS) $(CUDA_LIBS) -ldl -lm
EXTRA_tests_nccl_test_device_select_DEPENDENCIES = plugins/cuda/llmrt-compute-cuda.la
endif
if BUILD_NCCL
# create()'s checks before any GPU work: runs everywhere.
check_PROGRAMS += tests/nccl/test_nccl_create
TESTS += tests/nccl/test_nccl_create
tests_nccl_test_nccl_create_SOURCES = tests/nccl/test_nccl_create.c tests/cpu/host_stub.c \
	tests/cpu/host_stub.h
tests_nccl_test_nccl_create_CPPFLAGS = $(AM_CPPFLAGS) $(CUDA_CPPFLAGS) -I$(top_srcdir)/tests/cpu
tests_nccl_test_nccl_create_CFLAGS = $(TEST_CFLAGS)
tests_nccl_test_nccl_create_LDADD = $(CHECK_LIBS) $(CUDA_LIBS) -ldl -lm
EXTRA_tests_nccl_test_nccl_create_DEPENDENCIES = plugins/nccl/llmrt-collective-nccl.la
check_PROGRAMS += tests/nccl/test_nccl
TESTS += tests/nccl/test_nccl
tests_nccl_test_nccl_SOURCES = tests/nccl/test_nccl.c tests/cpu/host_stub.c tests/cpu/host_stub.h
tests_nccl_test_nccl_CPPFLAGS = $(AM_CPPFLAGS) $(CUDA_CPPFLAGS) -I$(top_srcdir)/tests/cpu
tests_nccl_test_nccl_CFLAGS = $(TEST_CFLAGS)
tests_nccl_test_nccl_LDADD = $(CHECK_LIBS) $(CUDA_LIBS) -ldl -lm
EXTRA_tests_nccl_test_nccl_DEPENDENCIES = plugins/cuda/llmrt-compute-cuda.la plugins/nccl/llmrt-collective-nccl.la
endif
TESTS += tests/nccl/test_nccl_strategies.sh
EXTRA_DIST += tests/nccl/test_nccl_strategies.sh
