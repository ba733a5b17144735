# tests/cpu: the cpu compute backend, loaded straight from its .so through
# LLMRT_PLUGIN_PATH with a minimal host table (no core library needed).
#  - test_cpu_ops: every fp32 kernel, memory, streams, caps;
#  - test_cpu_formats: number formats (ABI 1.1): conversions against
#    llmrt/convert.h (all 2^32 fp32 inputs; LLMRT_TEST_QUICK=1 samples), every
#    kernel in f16 and bf16, and the LSQ fake-quantization kernels;
#  - test_cpu_fused: the ABI 1.2 fused kernels (gemm GELU epilogue, adamw
#    params_out) bit for bit against the unfused calls they replace;
#  - test_cpu_blas_binding: gemm runs on the OpenBLAS the plugin links even
#    where libgslcblas (linked into this test) serves cblas_sgemm first;
#  - test_cpu_t5_ops: the ABI 1.2 relu_forward, relu_backward and mul in
#    f32/f16/bf16, bit for bit against naive loops.
# Both link the host stub and cpu_test_util (buffers, rng, fixture, plugin
# loading), and dlopen the plugin: build it first.
cpu_test_common = tests/cpu/host_stub.c tests/cpu/host_stub.h \
	tests/cpu/cpu_test_util.c tests/cpu/cpu_test_util.h
cpu_test_ldadd = $(CHECK_LIBS) -ldl -lm
cpu_test_deps = plugins/cpu/llmrt-compute-cpu.la
if BUILD_CPU
check_PROGRAMS += tests/cpu/test_cpu_ops tests/cpu/test_cpu_formats tests/cpu/test_cpu_fused \
	tests/cpu/test_cpu_t5_ops tests/cpu/test_cpu_blas_binding
TESTS += tests/cpu/test_cpu_ops tests/cpu/test_cpu_formats tests/cpu/test_cpu_fused \
	tests/cpu/test_cpu_t5_ops tests/cpu/test_cpu_blas_binding
tests_cpu_test_cpu_blas_binding_SOURCES = tests/cpu/test_cpu_blas_binding.c $(cpu_test_common)
tests_cpu_test_cpu_blas_binding_CFLAGS = $(TEST_CFLAGS) $(GSL_CFLAGS)
# libgslcblas on purpose, ahead of OpenBLAS and of what the plugin brings.
tests_cpu_test_cpu_blas_binding_LDADD = -lgslcblas $(OPENBLAS_LIBS) $(cpu_test_ldadd)
EXTRA_tests_cpu_test_cpu_blas_binding_DEPENDENCIES = $(cpu_test_deps)
tests_cpu_test_cpu_t5_ops_SOURCES = tests/cpu/test_cpu_t5_ops.c $(cpu_test_common)
tests_cpu_test_cpu_t5_ops_CFLAGS = $(TEST_CFLAGS)
tests_cpu_test_cpu_t5_ops_LDADD = $(cpu_test_ldadd)
EXTRA_tests_cpu_test_cpu_t5_ops_DEPENDENCIES = $(cpu_test_deps)
tests_cpu_test_cpu_fused_SOURCES = tests/cpu/test_cpu_fused.c $(cpu_test_common)
tests_cpu_test_cpu_fused_CFLAGS = $(TEST_CFLAGS)
tests_cpu_test_cpu_fused_LDADD = $(cpu_test_ldadd)
EXTRA_tests_cpu_test_cpu_fused_DEPENDENCIES = $(cpu_test_deps)
tests_cpu_test_cpu_ops_SOURCES = tests/cpu/test_cpu_ops.c $(cpu_test_common)
tests_cpu_test_cpu_formats_SOURCES = tests/cpu/test_cpu_formats.c $(cpu_test_common)
tests_cpu_test_cpu_ops_CFLAGS = $(TEST_CFLAGS)
tests_cpu_test_cpu_formats_CFLAGS = $(TEST_CFLAGS)
tests_cpu_test_cpu_ops_LDADD = $(cpu_test_ldadd)
tests_cpu_test_cpu_formats_LDADD = $(cpu_test_ldadd)
EXTRA_tests_cpu_test_cpu_ops_DEPENDENCIES = $(cpu_test_deps)
EXTRA_tests_cpu_test_cpu_formats_DEPENDENCIES = $(cpu_test_deps)
endif
