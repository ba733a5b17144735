/* registry.h — finding "a <kind> called X" among the plugin files and the
 * components built into libllmrt.
 *
 * Search path, in order (DESIGN.md section 2):
 *   1. the colon list given to llmrt_registry_init() ([runtime] plugin_path),
 *   2. the colon list in the environment variable LLMRT_PLUGIN_PATH,
 *   3. the installed directory LLMRT_PLUGINDIR ($(pkglibdir)/plugins).
 * Empty list elements are skipped (they do NOT mean "." as in $PATH); the
 * current directory is never searched unless a list names it. A directory
 * listed twice is searched once, where it first appears.
 *
 * Resolution of (kind K, name X):
 *   1. A built-in component of kind K named X wins (fp32 lives in the core).
 *   2. Otherwise each directory is tried in order; the first one in which some
 *      file provides X decides. Inside a directory the file llmrt-K-X.so is
 *      opened first; if it exists but cannot be loaded, that is a hard error
 *      (it is the plugin the user asked for by name). Every other
 *      llmrt-K-*.so of the directory is opened too (they may provide X, as
 *      llmrt-format-quant.so provides bf16); those that fail are ignored
 *      here and reported by `llmrt plugins`.
 *   3. Two files of one directory providing X is a "duplicate" error naming
 *      both. A later directory providing X again is not an error: the
 *      earlier one shadows it (that is how a user overrides an installed
 *      plugin).
 *   4. The chosen component's probe() runs once per process; 0 makes it
 *      "unsupported here" (hard error, no fall-back to later directories).
 *
 * Ownership and lifetime:
 *  - Components returned are owned by their plugin (or by the core for
 *    built-ins) and live until the process exits: plugins are never
 *    dlclose()d.
 *  - File names returned (llmrt_registry_find's *file, entries' file/other)
 *    are owned by the registry and also live until the process exits (they
 *    survive llmrt_registry_init() and llmrt_registry_reset()).
 *  - Other strings of an llmrt_registry_entry (reason, origin) live until
 *    the next llmrt_registry_init()/reset(). The entry array itself is the
 *    caller's to free().
 *
 * Threads: every function takes one process-wide (recursive) lock, so a
 * probe or create() may call host->format_lookup(). Do not call
 * llmrt_registry_init() or reset() from inside a plugin callback.
 */
#ifndef LLMRT_CORE_REGISTRY_H
#define LLMRT_CORE_REGISTRY_H

#include <stddef.h>
#include <llmrt/plugin.h>
#include "loader.h"

/* Set the search path (forgetting every file found before; plugins already
 * loaded stay loaded). `config_plugin_path` is the [runtime] plugin_path
 * colon list, or NULL. LLMRT_PLUGIN_PATH is read now. Built-in components
 * are kept. May be called again (tests do). Returns LLMRT_OK or
 * LLMRT_ERR_NOMEM. Without a call, the first lookup initialises with NULL. */
int llmrt_registry_init(const char *config_plugin_path);
/* The same with the origin named in messages for the first list (e.g.
 * "--plugin-path" for `llmrt plugins`); llmrt_registry_init() uses
 * "[runtime] plugin_path". */
int llmrt_registry_init_with_origin(const char *first_path, const char *origin);
/* Forget everything, built-ins included (tests). */
void llmrt_registry_reset(void);

/* Register a component linked into the program (fp32). Adding the same
 * pointer again is a no-op. Returns LLMRT_ERR_FORMAT (message recorded) when
 * the component breaks the ABI rules (llmrt_loader_check_component), or
 * LLMRT_ERR_INVALID when another built-in of that kind has that name. */
int llmrt_registry_add_builtin(const llmrt_component *comp);
/* Register every component the core itself provides (fp32). Idempotent. */
int llmrt_registry_add_core_builtins(void);

/* Find component `name` of `kind` (see "Resolution" above). On success
 * *comp is the component and, when `file` is not NULL, *file the path of
 * its plugin file (NULL for a built-in). Returns the class of the failure,
 * with its message recorded:
 *   NOT_FOUND: "no <kind> called 'X' in the plugin search path: searched
 *              DIR (ORIGIN), ...; add a directory with [runtime] plugin_path
 *              or LLMRT_PLUGIN_PATH ..." (every directory, the names that
 *              are available, how many files of the kind failed to load);
 *   the file's own class when llmrt-K-X.so cannot be loaded;
 *   DUPLICATE, naming both files; UNSUPPORTED with the probe's reason. */
llmrt_load_status llmrt_registry_resolve(llmrt_plugin_kind kind, const char *name,
                                         const llmrt_component **comp, const char **file);
/* llmrt_registry_resolve() returning an llmrt_status (llmrt_load_status_code)
 * for the rest of the core. */
int llmrt_registry_find(llmrt_plugin_kind kind, const char *name,
                        const llmrt_component **comp, const char **file);

/* The search path: number of directories, and directory i with its origin
 * ("[runtime] plugin_path", "LLMRT_PLUGIN_PATH", "installed", ...) and
 * whether it exists. Strings live until the next init/reset. */
size_t llmrt_registry_n_dirs(void);
/* The installed plugin directory, LLMRT_PLUGINDIR (always searched last). */
const char *llmrt_registry_installed_dir(void);
const char *llmrt_registry_dir(size_t i, const char **origin, int *exists);

/* One row of `llmrt plugins`: one component of a file that loaded, one row
 * for a file that did not, or one built-in component. */
typedef struct llmrt_registry_entry {
    llmrt_plugin_kind kind;    /* from the file name; 0 if it has no known kind */
    const char *name;          /* the component; NULL for a file that failed    */
    const char *description;   /* the component's, or NULL                      */
    const char *plugin;        /* the plugin's name (file name's when it failed) */
    const char *version;       /* the plugin's version, NULL when unknown       */
    int abi_known;             /* 1 when abi_major was read; abi_minor may still
                                  be LLMRT_LOADER_ABI_UNKNOWN                    */
    unsigned abi_major, abi_minor;
    const char *file;          /* the plugin file; NULL for a built-in          */
    const char *origin;        /* where its directory came from, or "built in"  */
    llmrt_load_status status;  /* OK, SHADOWED or the class of the failure      */
    const char *reason;        /* NULL when OK; else the one-line reason without
                                  the leading "<file>: " */
    const char *other;         /* SHADOWED: the file that wins ("(built in)");
                                  DUPLICATE between files: the other file; NULL */
} llmrt_registry_entry;

/* Open every plugin file in every search directory, probe every usable
 * component, and describe them all: built-ins first, then files in search
 * order (directories in order, files sorted by name), components in
 * descriptor order. *entries is malloc()ed (free() it); returns LLMRT_OK or
 * LLMRT_ERR_NOMEM. */
int llmrt_registry_list(llmrt_registry_entry **entries, size_t *n);

#endif
