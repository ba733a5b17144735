/* config.h — the run's configuration: an INI file, the environment and
 * command-line overrides, with typed, declared keys.
 *
 * Priority, lowest first: the default given when a key is declared, the INI
 * file, the environment variable LLMRT_<SECTION>_<KEY> (upper case), then
 * `--set section.key=value`. Every key is declared by whoever reads it, with
 * its type, range and help text (Open MPI's MCA parameters work this way);
 * after everyone has declared, llmrt_config_check_unknown() turns any key that
 * was set but never declared into an error naming it and the accepted keys.
 *
 * Errors name the origin ("demo.ini:12", "--set", "environment
 * LLMRT_TRAIN_LR"), the key, the value and what would be accepted. */
#ifndef LLMRT_CORE_CONFIG_H
#define LLMRT_CORE_CONFIG_H

#include <stddef.h>
#include <llmrt/host.h>

typedef struct llmrt_config llmrt_config;

/* An empty configuration (every key at its default). */
int llmrt_config_new(llmrt_config **out);
/* Parse an INI file into `c`. Errors: unreadable file, syntax error (with the
 * line), a key outside any section, a key given twice. */
int llmrt_config_load_file(llmrt_config *c, const char *path);
/* Parse INI text (embedded configs, tests); `origin` names it in errors. */
int llmrt_config_load_string(llmrt_config *c, const char *text, const char *origin);
/* Apply one "section.key=value" override from the command line. */
int llmrt_config_set(llmrt_config *c, const char *assignment);
void llmrt_config_free(llmrt_config *c);

/* Typed reads; each also declares the key. */
int llmrt_config_int(llmrt_config *c, const char *section, const char *key, long def,
                     long min, long max, const char *help, long *out);
int llmrt_config_double(llmrt_config *c, const char *section, const char *key, double def,
                        double min, double max, const char *help, double *out);
int llmrt_config_bool(llmrt_config *c, const char *section, const char *key, int def,
                      const char *help, int *out);
/* The returned string lives as long as `c`. */
int llmrt_config_string(llmrt_config *c, const char *section, const char *key,
                        const char *def, const char *help, const char **out);
/* One of `choices` (NULL-terminated); the error lists them. */
int llmrt_config_choice(llmrt_config *c, const char *section, const char *key,
                        const char *def, const char *const *choices, const char *help,
                        const char **out);

/* Error for the first key that was set (file, environment or --set) in
 * `section` (or any section when NULL) but never declared. */
int llmrt_config_check_unknown(const llmrt_config *c, const char *section);
/* True if a section of that name appears in the file or overrides. */
int llmrt_config_has_section(const llmrt_config *c, const char *section);

/* The parameter scope handed to a plugin's create(): reads `section`. */
llmrt_params *llmrt_config_params(llmrt_config *c, const char *section);
/* The config behind a scope (for the host API implementation). */
llmrt_config *llmrt_params_config(llmrt_params *p);
const char *llmrt_params_section(llmrt_params *p);

/* Write every declared key with its effective value as INI text (the run
 * directory keeps one, so a run can be reproduced). */
int llmrt_config_write(const llmrt_config *c, const char *path);
/* Print every declared key, its default and help, grouped by section. */
void llmrt_config_print_help(const llmrt_config *c, const char *section, void *FILE_stream);

#endif
