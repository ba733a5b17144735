/* cmd_train.c — `llmrt train CONFIG [--set section.key=value]...` */
#include <stdio.h>

#include "commands.h"
#include "train.h"

static const char usage[] =
    "usage: llmrt train CONFIG [--set section.key=value]...\n"
    "\n"
    "Train the model that CONFIG (an INI file) describes. Every key can also be\n"
    "set with --set or with the environment variable LLMRT_<SECTION>_<KEY>.\n"
    "Writes OUT/metrics.jsonl, OUT/run.json and checkpoints OUT/step-NNNNNN/\n"
    "([train] out). [train] resume = auto continues from the latest checkpoint.\n"
    "Keys: see docs/config.md.\n";

int llmrt_cmd_train(int argc, char **argv)
{
    llmrt_config *cfg;
    int rc = llmrt_cli_parse(argc, argv, usage, NULL, 0, 1, &cfg);
    if (rc) return rc < 0 ? 0 : rc;
    rc = llmrt_train_run(cfg) ? llmrt_cli_fail() : 0;
    llmrt_config_free(cfg);
    return rc;
}
