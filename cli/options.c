/* options.c — the command line shared by train, eval and generate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "error.h"

int llmrt_cli_fail(void)
{
    fprintf(stderr, "llmrt: %s\n", llmrt_last_error());
    return 1;
}

int llmrt_cli_apply_sets(int argc, char **argv, llmrt_config *cfg)
{
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "--set")) rc = llmrt_config_set(cfg, argv[++i]);
        else if (!strncmp(argv[i], "--set=", 6)) rc = llmrt_config_set(cfg, argv[i] + 6);
        else if (!strncmp(argv[i], "--", 2) && strcmp(argv[i], "--help") != 0) i++;
    }
    return rc;
}

static int missing_value(const char *cmd, const char *option)
{
    fprintf(stderr, "llmrt %s: option '%s' needs a value\n", cmd, option);
    return 2;
}

int llmrt_cli_parse(int argc, char **argv, const char *usage, const llmrt_cli_option *opts,
                    size_t n_opts, int config_required, llmrt_config **cfg)
{
    const char *config_path = NULL;
    *cfg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return -1; /* the caller exits 0 */
        }
        if (!strcmp(argv[i], "--set")) {
            if (++i == argc) return missing_value(argv[0], "--set");
            continue; /* applied after the file is loaded */
        }
        if (!strncmp(argv[i], "--set=", 6)) continue;
        if (!strncmp(argv[i], "--", 2)) {
            size_t k;
            for (k = 0; k < n_opts && strcmp(argv[i], opts[k].name) != 0; k++) {}
            if (k == n_opts) {
                fprintf(stderr, "llmrt %s: unknown option '%s' (see llmrt %s --help)\n", argv[0],
                        argv[i], argv[0]);
                return 2;
            }
            if (++i == argc) return missing_value(argv[0], opts[k].name);
            *opts[k].value = argv[i];
            continue;
        }
        if (config_path) {
            fprintf(stderr, "llmrt %s: one config file only (got '%s' and '%s')\n", argv[0],
                    config_path, argv[i]);
            return 2;
        }
        config_path = argv[i];
    }
    if (!config_path && config_required) {
        fprintf(stderr, "llmrt %s: no config file given (usage: llmrt %s CONFIG ...; see "
                        "--help)\n", argv[0], argv[0]);
        return 2;
    }
    int rc = llmrt_config_new(cfg);
    if (!rc && config_path) rc = llmrt_config_load_file(*cfg, config_path);
    if (!rc) rc = llmrt_cli_apply_sets(argc, argv, *cfg);
    if (rc) {
        llmrt_cli_fail();
        llmrt_config_free(*cfg);
        *cfg = NULL;
        return 1;
    }
    return 0;
}

int llmrt_cli_checkpoint_open(int argc, char **argv, llmrt_config *cfg, const char *path,
                              int batch, llmrt_cli_checkpoint *ck)
{
    char file[4096];
    long run_batch;
    struct stat sb;
    memset(ck, 0, sizeof *ck);
    if (path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        /* A weights file (an int8 export, a Hugging Face GPT-2 file): the
         * model comes from CONFIG and --set, the weights from the file. */
        ck->cfg = cfg;
        ck->cfg_borrowed = 1;
        if (llmrt_config_int(cfg, "train", "batch", 8, 1, 1 << 20,
                             "sequences per micro-batch per rank", &run_batch) ||
            !(ck->dir = strdup(path)) ||
            llmrt_session_open(&ck->session, cfg, batch > 0 ? batch : (int)run_batch, 0) ||
            llmrt_session_load_weights(&ck->session, path))
            return llmrt_cli_fail();
        return 0;
    }
    if (llmrt_find_checkpoint(cfg, path, &ck->dir) || llmrt_config_new(&ck->cfg))
        return llmrt_cli_fail();
    snprintf(file, sizeof file, "%s/config.ini", ck->dir);
    if (llmrt_config_load_file(ck->cfg, file) || llmrt_cli_apply_sets(argc, argv, ck->cfg) ||
        llmrt_config_int(ck->cfg, "train", "batch", 8, 1, 1 << 20,
                         "sequences per micro-batch per rank", &run_batch))
        return llmrt_cli_fail();
    snprintf(file, sizeof file, "%s/model.safetensors", ck->dir);
    if (llmrt_session_open(&ck->session, ck->cfg, batch > 0 ? batch : (int)run_batch, 0) ||
        llmrt_session_load_weights(&ck->session, file))
        return llmrt_cli_fail();
    return 0;
}

void llmrt_cli_checkpoint_close(llmrt_cli_checkpoint *ck)
{
    llmrt_session_close(&ck->session);
    if (ck->cfg && !ck->cfg_borrowed) llmrt_config_free(ck->cfg);
    free(ck->dir);
    memset(ck, 0, sizeof *ck);
}

int llmrt_cli_plugin_path_args(const char *command, int argc, char **argv,
                               void (*usage)(FILE *out), const char **plugin_path)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(argv[i], "--plugin-path")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "llmrt: %s: --plugin-path needs a value (a colon list of "
                                "directories)\n", command);
                return 2;
            }
            *plugin_path = argv[++i];
        } else if (!strncmp(argv[i], "--plugin-path=", 14)) {
            *plugin_path = argv[i] + 14;
        } else {
            fprintf(stderr, "llmrt: %s: unknown argument '%s' (accepted: --plugin-path DIRS, "
                            "--help)\n", command, argv[i]);
            return 2;
        }
    }
    return 0;
}
