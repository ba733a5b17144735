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
