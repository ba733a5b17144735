# Tests: Check suites and shell scripts. Plugins are found in the build tree
# through LLMRT_PLUGIN_PATH; reference fixtures through LLMRT_TEST_SRCDIR.
BUILD_PLUGIN_PATH = $(abs_top_builddir)/plugins/cpu/.libs:$(abs_top_builddir)/plugins/local/.libs:$(abs_top_builddir)/plugins/shard/.libs:$(abs_top_builddir)/plugins/mpi/.libs:$(abs_top_builddir)/plugins/quant/.libs:$(abs_top_builddir)/plugins/cuda/.libs:$(abs_top_builddir)/plugins/nccl/.libs
# Multi-rank tests start their ranks with this (as root in CI containers, more
# ranks than cores).
MPIRUN = mpirun --allow-run-as-root --oversubscribe
AM_TESTS_ENVIRONMENT = \
	LLMRT_PLUGIN_PATH='$(BUILD_PLUGIN_PATH)'; export LLMRT_PLUGIN_PATH; \
	LLMRT_TEST_SRCDIR='$(abs_top_srcdir)/tests'; export LLMRT_TEST_SRCDIR; \
	LLMRT_TEST_BUILDDIR='$(abs_top_builddir)/tests'; export LLMRT_TEST_BUILDDIR; \
	LLMRT_BIN='$(abs_top_builddir)/cli/llmrt'; export LLMRT_BIN; \
	PYTHON3='$(PYTHON3)'; export PYTHON3; \
	OMP_NUM_THREADS=2; export OMP_NUM_THREADS; \
	MPIRUN='$(MPIRUN)'; export MPIRUN; \
	CK_DEFAULT_TIMEOUT=600; export CK_DEFAULT_TIMEOUT;
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
TEST_LIBS = core/libllmrt.la $(CHECK_LIBS) -lm

include tests/loader/local.mk
include tests/cpu/local.mk
include tests/model/local.mk
include tests/io/local.mk
include tests/train/local.mk
include tests/mpi/local.mk
include tests/shard/local.mk
include tests/plan/local.mk
include tests/ckpt/local.mk
include tests/quant/local.mk
include tests/precision/local.mk
include tests/staging/local.mk
include tests/bench/local.mk
include tests/cuda/local.mk
include tests/nccl/local.mk
include tests/scaling/local.mk
