# tests/cuda: the cuda backend against the cpu backend, both loaded from
# LLMRT_PLUGIN_PATH (the cuda plugin's .libs is added below). Exits 77 (SKIP)
# where cuda's probe finds no usable GPU. tests/gpu/run is the script a GPU
# machine runs (docs/cuda.md).
EXTRA_DIST += tests/gpu/run tests/gpu/bundle
# tests/cuda/emu: the kernel files on a host emulation of CUDA, checked
# against a double reference (attention) and the cpu backend (the others);
# test_cuda_emu.sh runs it under make check, no GPU needed (docs/cuda.md).
EXTRA_DIST += tests/cuda/emu/run tests/cuda/emu/transform.py tests/cuda/emu/emu.h \
	tests/cuda/emu/emu.cc tests/cuda/emu/attention_check.cc tests/cuda/emu/kernels_check.cc \
	tests/cuda/emu/cuda_runtime.h tests/cuda/test_cuda_emu.sh
if BUILD_CUDA
if BUILD_CPU
check_PROGRAMS += tests/cuda/test_cuda_ops tests/cuda/test_cuda_fused tests/cuda/test_cuda_lowp
TESTS += tests/cuda/test_cuda_ops tests/cuda/test_cuda_fused tests/cuda/test_cuda_lowp
CUDA_TEST_UTIL = tests/cuda/cuda_test_util.c tests/cuda/cuda_test_util.h tests/cpu/host_stub.c tests/cpu/host_stub.h
tests_cuda_test_cuda_ops_SOURCES = tests/cuda/test_cuda_ops.c $(CUDA_TEST_UTIL)
tests_cuda_test_cuda_ops_CFLAGS = $(TEST_CFLAGS)
tests_cuda_test_cuda_ops_LDADD = $(CHECK_LIBS) -ldl -lm
EXTRA_tests_cuda_test_cuda_ops_DEPENDENCIES = plugins/cpu/llmrt-compute-cpu.la plugins/cuda/llmrt-compute-cuda.la
# cuBLASLt gemm (types, epilogues, plan cache) and fused AdamW vs cpu.
tests_cuda_test_cuda_fused_SOURCES = tests/cuda/test_cuda_fused.c $(CUDA_TEST_UTIL)
tests_cuda_test_cuda_fused_CFLAGS = $(TEST_CFLAGS)
tests_cuda_test_cuda_fused_LDADD = $(CHECK_LIBS) -ldl -lm
EXTRA_tests_cuda_test_cuda_fused_DEPENDENCIES = plugins/cpu/llmrt-compute-cpu.la plugins/cuda/llmrt-compute-cuda.la
tests_cuda_test_cuda_lowp_SOURCES = tests/cuda/test_cuda_lowp.c $(CUDA_TEST_UTIL)
tests_cuda_test_cuda_lowp_CFLAGS = $(TEST_CFLAGS)
tests_cuda_test_cuda_lowp_LDADD = $(CHECK_LIBS) -ldl -lm
EXTRA_tests_cuda_test_cuda_lowp_DEPENDENCIES = plugins/cpu/llmrt-compute-cpu.la plugins/cuda/llmrt-compute-cuda.la
check_PROGRAMS += tests/cuda/test_cuda_attention
TESTS += tests/cuda/test_cuda_attention
tests_cuda_test_cuda_attention_SOURCES = tests/cuda/test_cuda_attention.c $(CUDA_TEST_UTIL)
tests_cuda_test_cuda_attention_CFLAGS = $(TEST_CFLAGS)
tests_cuda_test_cuda_attention_LDADD = $(CHECK_LIBS) -ldl -lm
EXTRA_tests_cuda_test_cuda_attention_DEPENDENCIES = plugins/cpu/llmrt-compute-cpu.la plugins/cuda/llmrt-compute-cuda.la
# The kernels on the host (no GPU): needs convert_dev.h (BUILD_CUDA) and the
# cpu plugin, the reference; about 2.5 minutes of CPU.
TESTS += tests/cuda/test_cuda_emu.sh
endif
endif
