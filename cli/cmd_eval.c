/* cmd_eval.c — `llmrt eval`: the loss of a checkpoint on a data file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "error.h"
#include "train.h"

static const char usage[] =
    "usage: llmrt eval [CONFIG] [--checkpoint DIR] [--data FILE] [--batches N]\n"
    "                  [--set section.key=value]...\n"
    "\n"
    "Mean cross-entropy of a checkpoint on FILE (default: [data] val of the run).\n"
    "DIR is a step-NNNNNN directory or an output directory (its latest checkpoint);\n"
    "without it, the latest checkpoint in CONFIG's [train] out. The model is\n"
    "rebuilt from the checkpoint's config.ini; --set overrides apply on top.\n"
    "--checkpoint may also name a weights file (an int8 export of `llmrt export`,\n"
    "a GPT-2 safetensors file): the model is then CONFIG's.\n"
    "N batches of [train] batch x [model] context tokens (default: all).\n";

int llmrt_cmd_eval(int argc, char **argv)
{
    const char *ckpt = NULL, *data = NULL, *batches = NULL;
    const llmrt_cli_option opts[] = {
        {"--checkpoint", &ckpt}, {"--data", &data}, {"--batches", &batches}};
    llmrt_config *cfg;
    int rc = llmrt_cli_parse(argc, argv, usage, opts, 3, 0, &cfg);
    if (rc) return rc < 0 ? 0 : rc;
    char *end;
    llmrt_cli_checkpoint ck = {0};
    long n_batches = batches ? strtol(batches, &end, 10) : 0;
    if (batches && (*end || n_batches < 0)) {
        fprintf(stderr, "llmrt eval: --batches %s is not a count (0 or more)\n", batches);
        rc = 2;
        goto out;
    }
    const char *val;
    double loss;
    uint64_t tokens;
    if ((rc = llmrt_cli_checkpoint_open(argc, argv, cfg, ckpt, 0, &ck))) goto out;
    if (llmrt_config_string(ck.cfg, "data", "val", "", "validation data", &val)) {
        rc = llmrt_cli_fail();
        goto out;
    }
    if (!data) data = val;
    if (!data || !data[0]) {
        fprintf(stderr, "llmrt eval: no data: the run had no [data] val; pass --data FILE\n");
        rc = 2;
        goto out;
    }
    double accuracy;
    if (llmrt_session_eval(&ck.session, data, (uint64_t)n_batches, &loss, &tokens, &accuracy)) {
        rc = llmrt_cli_fail();
        goto out;
    }
    if (ck.session.model_cfg.arch == LLMRT_ARCH_BERT) {
        printf("checkpoint %s\ndata %s\nmasked_positions %llu\nmlm_loss %.6f\nmlm_accuracy "
               "%.4f\n", ck.dir, data, (unsigned long long)tokens, loss, accuracy);
        goto out;
    }
    /* t5: the loss is over the target tokens of the corrupted windows. */
    printf("checkpoint %s\ndata %s\n%s %llu\nloss %.6f\nperplexity %.4f\nbits_per_token "
           "%.4f\n", ck.dir, data,
           ck.session.model_cfg.arch == LLMRT_ARCH_T5 ? "target_tokens" : "tokens",
           (unsigned long long)tokens, loss, exp(loss), loss / log(2.0));
out:
    llmrt_cli_checkpoint_close(&ck);
    llmrt_config_free(cfg);
    return rc;
}
