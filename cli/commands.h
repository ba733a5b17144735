/* commands.h — the subcommands of `llmrt`. Each returns the process exit
 * status and prints its own one-line error ("llmrt: ...") on failure. */
#ifndef LLMRT_CLI_COMMANDS_H
#define LLMRT_CLI_COMMANDS_H

int llmrt_cmd_train(int argc, char **argv);
int llmrt_cmd_eval(int argc, char **argv);
int llmrt_cmd_generate(int argc, char **argv);
int llmrt_cmd_plugins(int argc, char **argv);

#endif
