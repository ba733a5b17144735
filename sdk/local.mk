# The SDK: installed headers and the pkg-config file for third-party plugins.
llmrtincludedir = $(includedir)/llmrt
llmrtinclude_HEADERS = sdk/llmrt/llmrt.h sdk/llmrt/types.h sdk/llmrt/host.h \
	sdk/llmrt/plugin.h sdk/llmrt/compute.h sdk/llmrt/collective.h \
	sdk/llmrt/strategy.h sdk/llmrt/format.h sdk/llmrt/convert.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = sdk/llmrt.pc
EXTRA_DIST += sdk/llmrt.pc.in sdk/examples
