# format/quant: fp16, bf16 and int8, the reference encode/decode of each
# (bit-level rules in sdk/llmrt/convert.h). fp32 is built into the core.
plugin_LTLIBRARIES += plugins/quant/llmrt-format-quant.la
plugins_quant_llmrt_format_quant_la_SOURCES = plugins/quant/quant.h \
	plugins/quant/quant_plugin.c plugins/quant/quant_float.c plugins/quant/quant_int8.c
plugins_quant_llmrt_format_quant_la_CPPFLAGS = $(AM_CPPFLAGS) -DLLMRT_QUANT_VERSION='"$(PACKAGE_VERSION)"'
plugins_quant_llmrt_format_quant_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_quant_llmrt_format_quant_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_quant_llmrt_format_quant_la_LIBADD = -lm
