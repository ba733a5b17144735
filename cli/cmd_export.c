/* cmd_export.c — `llmrt export`: the int8 export of a QAT checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "commands.h"
#include "error.h"
#include "qat.h"
#include "train.h"

static const char usage[] =
    "usage: llmrt export [CONFIG] [--checkpoint DIR] --out FILE.safetensors\n"
    "                    [--set section.key=value]...\n"
    "\n"
    "Write the int8 export of a checkpoint trained with [runtime] format = int8\n"
    "(quantization-aware training): every quantized linear weight as I8 [in, out]\n"
    "beside NAME_scale (F32 [out], weight = q * scale per column), every other\n"
    "tensor F32 (docs/model.md). DIR is a step-NNNNNN directory or an output\n"
    "directory (its latest checkpoint); without it, the latest checkpoint in\n"
    "CONFIG's [train] out. The model is rebuilt from the checkpoint's config.ini;\n"
    "--set overrides apply on top.\n";

int llmrt_cmd_export(int argc, char **argv)
{
    const char *ckpt = NULL, *out = NULL;
    const llmrt_cli_option opts[] = {{"--checkpoint", &ckpt}, {"--out", &out}};
    llmrt_config *cfg;
    int rc = llmrt_cli_parse(argc, argv, usage, opts, 2, 0, &cfg);
    if (rc) return rc < 0 ? 0 : rc;
    llmrt_cli_checkpoint ck = {0};
    if (!out) {
        fprintf(stderr, "llmrt export: no output file: pass --out FILE.safetensors\n");
        rc = 2;
        goto done;
    }
    /* One sequence of activations: the export runs no forward. */
    if ((rc = llmrt_cli_checkpoint_open(argc, argv, cfg, ckpt, 1, &ck))) goto done;
    if (!ck.session.model_cfg.qat) {
        fprintf(stderr, "llmrt export: %s was not trained with quantization-aware training "
                        "([runtime] format = int8): it has no learned int8 step sizes\n",
                ck.dir);
        rc = 1;
        goto done;
    }
    /* The export's layout ([in, out] weights, one step per column) is the
     * decoder's; bert's and t5's [out, in] weights with per-row steps have
     * none yet. */
    if (!llmrt_model_gpt(ck.session.model)) {
        fprintf(stderr, "llmrt export: %s is a %s checkpoint: the int8 export is implemented "
                        "for model.arch = gpt only (a %s QAT checkpoint loads and evaluates "
                        "as it is)\n",
                ck.dir, llmrt_arch_name(ck.session.model_cfg.arch),
                llmrt_arch_name(ck.session.model_cfg.arch));
        rc = 1;
        goto done;
    }
    if (llmrt_qat_export(ck.session.rt, llmrt_model_gpt(ck.session.model), out)) {
        rc = llmrt_cli_fail();
        goto done;
    }
    const llmrt_model_layout *layout = llmrt_model_get_layout(ck.session.model);
    llmrt_gpt_config gc = llmrt_model_gpt_config(&ck.session.model_cfg);
    size_t quantized = 0, quantized_values = 0, total = 0;
    for (size_t u = 0; u < layout->n_units; u++)
        for (size_t t = 0; t < layout->units[u].n_tensors; t++) {
            total += layout->units[u].tensors[t].numel;
            if (llmrt_gpt_tensor_scale(&gc, u, t) >= 0) {
                quantized++;
                quantized_values += layout->units[u].tensors[t].numel;
            }
        }
    struct stat sb;
    long long bytes = stat(out, &sb) == 0 ? (long long)sb.st_size : -1;
    printf("checkpoint %s\nexport %s\nint8 weights %zu tensors, %zu values\nfp32 values %zu\n"
           "bytes %lld (fp32 parameters: %zu)\n",
           ck.dir, out, quantized, quantized_values, total - quantized_values, bytes,
           total * sizeof(float));
done:
    llmrt_cli_checkpoint_close(&ck);
    llmrt_config_free(cfg);
    return rc;
}
