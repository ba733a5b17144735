/* main.c — `llmrt`: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include <llmrt/plugin.h>
#include "build_config.h"
#include "commands.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"train", llmrt_cmd_train, "train a model from a config file"},
    {"eval", llmrt_cmd_eval, "validation loss of a checkpoint"},
    {"generate", llmrt_cmd_generate, "sample text from a checkpoint"},
    {"fill-mask", llmrt_cmd_fill_mask, "fill the [MASK]s of a prompt with a bert checkpoint"},
    {"plugins", llmrt_cmd_plugins, "list every plugin found and whether it loads"},
    {"bench", llmrt_cmd_bench, "benchmarks: bench collectives times the collective plugin"},
    {"plan", llmrt_cmd_plan, "memory per rank, or N, D, loss and time from a compute budget"},
    {"sweep", llmrt_cmd_sweep, "train a grid of model sizes at several compute budgets"},
    {"fit", llmrt_cmd_fit, "fit a scaling law to a sweep's table, plot it"},
    {"ckpt", llmrt_cmd_ckpt, "inspect or consolidate a (sharded) checkpoint"},
    {"formats", llmrt_cmd_formats, "the number formats found, from their descriptors"},
    {"export", llmrt_cmd_export, "write an int8 export of a QAT checkpoint"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: llmrt COMMAND [ARGS]   (llmrt COMMAND --help for its options)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n  --version  print the version and plugin ABI\n"
                 "  --help     this text\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("llmrt %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, LLMRT_ABI_MAJOR,
               LLMRT_ABI_MINOR);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "llmrt: unknown command '%s' (accepted: train, eval, generate, fill-mask, plugins, plan, sweep, fit, "
                    "ckpt, bench, formats, export, --version, --help)\n", argv[1]);
    return 2;
}
