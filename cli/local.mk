# The `llmrt` command.
bin_PROGRAMS += cli/llmrt
cli_llmrt_SOURCES = cli/main.c cli/commands.h \
	cli/options.c cli/cmd_train.c cli/cmd_eval.c cli/cmd_generate.c cli/cmd_plugins.c
cli_llmrt_LDADD = core/libllmrt.la
