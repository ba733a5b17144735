# compute/cpu: CBLAS (OpenBLAS) matrix products, OpenMP for everything else.
if BUILD_CPU
plugin_LTLIBRARIES += plugins/cpu/llmrt-compute-cpu.la
plugins_cpu_llmrt_compute_cpu_la_SOURCES = plugins/cpu/cpu_plugin.c
plugins_cpu_llmrt_compute_cpu_la_CFLAGS = $(PLUGIN_CFLAGS) $(OPENMP_CFLAGS) $(OPENBLAS_CFLAGS)
plugins_cpu_llmrt_compute_cpu_la_LDFLAGS = $(PLUGIN_LDFLAGS) $(OPENMP_CFLAGS)
plugins_cpu_llmrt_compute_cpu_la_LIBADD = $(OPENBLAS_LIBS) -lm
endif
