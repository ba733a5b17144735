# collective/nccl: NCCL on the cuda backend's streams. Built when configure
# finds nccl.h and libnccl beside the cuda backend's toolkit (BUILD_NCCL);
# the MPI bootstrap only where MPI was found too. See docs/nccl.md.
if BUILD_NCCL
plugin_LTLIBRARIES += plugins/nccl/llmrt-collective-nccl.la
plugins_nccl_llmrt_collective_nccl_la_SOURCES = \
	plugins/nccl/nccl_internal.h \
	plugins/nccl/nccl_plugin.c \
	plugins/nccl/nccl_collectives.c \
	plugins/nccl/nccl_bootstrap.h \
	plugins/nccl/nccl_bootstrap.c
if BUILD_MPI
NCCL_BOOTSTRAP_MPI_CFLAGS = -DLLMRT_NCCL_WITH_MPI $(MPI_CFLAGS)
NCCL_BOOTSTRAP_MPI_LIBS = $(MPI_LIBS)
endif
plugins_nccl_llmrt_collective_nccl_la_CPPFLAGS = $(AM_CPPFLAGS) $(NCCL_CPPFLAGS) $(CUDA_CPPFLAGS)
plugins_nccl_llmrt_collective_nccl_la_CFLAGS = $(PLUGIN_CFLAGS) $(NCCL_BOOTSTRAP_MPI_CFLAGS)
plugins_nccl_llmrt_collective_nccl_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_nccl_llmrt_collective_nccl_la_LIBADD = $(NCCL_LIBS) $(CUDA_LIBS) $(NCCL_BOOTSTRAP_MPI_LIBS)
endif
