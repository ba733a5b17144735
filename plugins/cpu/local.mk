# compute/cpu: CBLAS (OpenBLAS) matrix products, OpenMP for everything else.
# -fno-math-errno lets sqrtf vectorise (the kernels never read errno);
# -fvect-cost-model=dynamic vectorises loops with remainders at -O2 too.
if BUILD_CPU
plugin_LTLIBRARIES += plugins/cpu/llmrt-compute-cpu.la
plugins_cpu_llmrt_compute_cpu_la_SOURCES = \
	plugins/cpu/cpu_internal.h \
	plugins/cpu/cpu_plugin.c \
	plugins/cpu/cpu_peak.c \
	plugins/cpu/cpu_blas.c \
	plugins/cpu/cpu_gemm.c \
	plugins/cpu/cpu_reduce.c \
	plugins/cpu/cpu_norm.c \
	plugins/cpu/cpu_gelu.c \
	plugins/cpu/cpu_relu.c \
	plugins/cpu/cpu_attention.c \
	plugins/cpu/cpu_xent.c \
	plugins/cpu/cpu_embedding.c \
	plugins/cpu/cpu_elementwise.c \
	plugins/cpu/cpu_convert.c \
	plugins/cpu/cpu_fake_quant.c \
	plugins/cpu/cpu_adamw.c
plugins_cpu_llmrt_compute_cpu_la_CPPFLAGS = $(AM_CPPFLAGS) -DLLMRT_CPU_VERSION='"$(PACKAGE_VERSION)"'
plugins_cpu_llmrt_compute_cpu_la_CFLAGS = $(PLUGIN_CFLAGS) $(OPENMP_CFLAGS) $(OPENBLAS_CFLAGS) -fno-math-errno -fvect-cost-model=dynamic
plugins_cpu_llmrt_compute_cpu_la_LDFLAGS = $(PLUGIN_LDFLAGS) $(OPENMP_CFLAGS)
plugins_cpu_llmrt_compute_cpu_la_LIBADD = $(OPENBLAS_LIBS) -lm
endif
