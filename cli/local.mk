# The `llmrt` command.
bin_PROGRAMS += cli/llmrt
cli_llmrt_SOURCES = cli/main.c cli/commands.h \
	cli/options.c cli/cmd_train.c cli/cmd_eval.c cli/cmd_generate.c cli/cmd_fill_mask.c cli/cmd_plugins.c \
	cli/cmd_plan.c cli/cmd_plan_budget.c cli/cmd_ckpt.c cli/cmd_bench.c cli/cmd_formats.c cli/cmd_export.c \
	cli/cmd_sweep.c cli/cmd_fit.c cli/fit_plot.c cli/fit_plot.h
cli_llmrt_LDADD = core/libllmrt.la
