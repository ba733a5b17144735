/* commands.h — the subcommands of `llmrt`. Each returns the process exit
 * status and prints its own one-line error ("llmrt: ...") on failure. */
#ifndef LLMRT_CLI_COMMANDS_H
#define LLMRT_CLI_COMMANDS_H

#include <stddef.h>
#include "config.h"

int llmrt_cmd_train(int argc, char **argv);
int llmrt_cmd_eval(int argc, char **argv);
int llmrt_cmd_generate(int argc, char **argv);
int llmrt_cmd_plugins(int argc, char **argv);


/* --- shared by the subcommands (cli/options.c) --- */

/* Options of one subcommand besides CONFIG and --set: each takes a value. */
typedef struct llmrt_cli_option {
    const char *name;   /* "--prompt" */
    const char **value; /* where the value goes (NULL if not given) */
} llmrt_cli_option;

/* Parse `llmrt CMD [CONFIG] [--set section.key=value]... [OPTIONS]`: load
 * CONFIG (if given) and apply the overrides in order. Returns 0, or prints
 * "llmrt: <message>" and returns the exit status (2 for bad usage, 1 for a
 * bad config). *cfg is NULL on failure. */
int llmrt_cli_parse(int argc, char **argv, const char *usage, const llmrt_cli_option *opts,
                    size_t n_opts, int config_required, llmrt_config **cfg);
/* Apply the --set overrides of an already parsed command line to `cfg`. */
int llmrt_cli_apply_sets(int argc, char **argv, llmrt_config *cfg);
/* The configuration a checkpoint was trained with (CKPT/config.ini) with the
 * command line's --set overrides on top; NULL after printing the error. */
llmrt_config *llmrt_cli_checkpoint_config(int argc, char **argv, const char *ckpt_dir);
/* Print "llmrt: <last error>" and return 1. */
int llmrt_cli_fail(void);

#endif
