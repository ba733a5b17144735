# tests/cpu: the cpu compute backend, loaded straight from its .so through
# LLMRT_PLUGIN_PATH with a minimal host table (no core library needed).
if BUILD_CPU
check_PROGRAMS += tests/cpu/test_cpu_ops
TESTS += tests/cpu/test_cpu_ops
tests_cpu_test_cpu_ops_SOURCES = tests/cpu/test_cpu_ops.c tests/cpu/host_stub.c \
	tests/cpu/host_stub.h
tests_cpu_test_cpu_ops_CFLAGS = $(TEST_CFLAGS)
tests_cpu_test_cpu_ops_LDADD = $(CHECK_LIBS) -ldl -lm
# The test dlopens the plugin: build it first.
EXTRA_tests_cpu_test_cpu_ops_DEPENDENCIES = plugins/cpu/llmrt-compute-cpu.la
endif
# Number formats (ABI 1.1): conversions against llmrt/convert.h (all 2^32
# fp32 inputs; LLMRT_TEST_QUICK=1 samples), every kernel in f16 and bf16,
# and the LSQ fake-quantization kernels.
if BUILD_CPU
check_PROGRAMS += tests/cpu/test_cpu_formats
TESTS += tests/cpu/test_cpu_formats
tests_cpu_test_cpu_formats_SOURCES = tests/cpu/test_cpu_formats.c tests/cpu/host_stub.c \
	tests/cpu/host_stub.h
tests_cpu_test_cpu_formats_CFLAGS = $(TEST_CFLAGS)
tests_cpu_test_cpu_formats_LDADD = $(CHECK_LIBS) -ldl -lm
EXTRA_tests_cpu_test_cpu_formats_DEPENDENCIES = plugins/cpu/llmrt-compute-cpu.la
endif
