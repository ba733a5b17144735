/* commands.h — the subcommands of `llmrt`. Each returns the process exit
 * status and prints its own one-line error ("llmrt: ...") on failure. */
#ifndef LLMRT_CLI_COMMANDS_H
#define LLMRT_CLI_COMMANDS_H

#include <stddef.h>
#include "config.h"
#include "train.h"

int llmrt_cmd_train(int argc, char **argv);
int llmrt_cmd_eval(int argc, char **argv);
int llmrt_cmd_generate(int argc, char **argv);
int llmrt_cmd_fill_mask(int argc, char **argv);
int llmrt_cmd_plugins(int argc, char **argv);
int llmrt_cmd_bench(int argc, char **argv);
int llmrt_cmd_plan(int argc, char **argv);
int llmrt_cmd_ckpt(int argc, char **argv);
int llmrt_cmd_formats(int argc, char **argv);
int llmrt_cmd_export(int argc, char **argv);
int llmrt_cmd_sweep(int argc, char **argv);
int llmrt_cmd_fit(int argc, char **argv);

/* `llmrt plan` with a budget, a token count or a law (cli/cmd_plan_budget.c):
 * the option values as given (NULL: absent), and what plan already parsed. */
typedef struct llmrt_plan_scaling_args {
    const char *budget, *hours, *peak, *mfu, *params, *tokens, *law, *memory;
    const char *format;
    long world, batch;
    llmrt_dtype activation_dtype;
} llmrt_plan_scaling_args;
int llmrt_cmd_plan_scaling(llmrt_config *cfg, int has_config, const llmrt_plan_scaling_args *a);


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
/* A checkpoint opened for eval or generate: its directory, the configuration
 * it was trained with (DIR/config.ini) with the command line's --set
 * overrides on top, and a session holding its weights. */
typedef struct llmrt_cli_checkpoint {
    char *dir;             /* the checkpoint directory, or the weights file */
    llmrt_config *cfg;
    int cfg_borrowed;      /* cfg is the caller's (a weights file was given) */
    llmrt_session session;
} llmrt_cli_checkpoint;

/* Find the checkpoint (`path`, or the latest in cfg's [train] out) and open
 * it with activations for `batch` sequences (0: the run's [train] batch).
 * Returns 0, or prints the error and returns the exit status. Close with
 * llmrt_cli_checkpoint_close() in both cases. */
int llmrt_cli_checkpoint_open(int argc, char **argv, llmrt_config *cfg, const char *path,
                              int batch, llmrt_cli_checkpoint *ck);
void llmrt_cli_checkpoint_close(llmrt_cli_checkpoint *ck);
/* The arguments of a command that takes only --plugin-path DIRS (or
 * --plugin-path=DIRS) and --help: 0 with *plugin_path set (or left NULL),
 * -1 after printing the usage, 2 after a one-line error naming `command`. */
int llmrt_cli_plugin_path_args(const char *command, int argc, char **argv,
                               void (*usage)(FILE *out), const char **plugin_path);
/* Print "llmrt: <last error>" and return 1. */
int llmrt_cli_fail(void);

#endif
