# collective/local: a job of one process.
plugin_LTLIBRARIES += plugins/local/llmrt-collective-local.la
plugins_local_llmrt_collective_local_la_SOURCES = plugins/local/local.c
plugins_local_llmrt_collective_local_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_local_llmrt_collective_local_la_LDFLAGS = $(PLUGIN_LDFLAGS)
