/* cmd_plugins.c — `llmrt plugins`: every plugin file in the search path,
 * loaded and checked, one row per component with its status. A diagnostic:
 * it exits 0 whatever it finds, non-zero only on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/plugin.h>
#include "build_config.h"
#include "commands.h"
#include "error.h"
#include "registry.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: llmrt plugins [--plugin-path DIRS] [--help]\n"
            "\n"
            "Load every plugin file (llmrt-<kind>-<name>.so) in the search path and print\n"
            "one row per component: kind, name, plugin version, ABI, file and status\n"
            "(\"ok\", or why it cannot be used). Built-in components are listed too.\n"
            "\n"
            "Search path, first match wins:\n"
            "  1. --plugin-path DIRS (a colon list; in a config: [runtime] plugin_path)\n"
            "  2. the LLMRT_PLUGIN_PATH environment variable (a colon list)\n"
            "  3. the installed directory %s\n"
            "Empty list elements are skipped; the current directory is never searched\n"
            "unless a list names it.\n"
            "\n"
            "  --plugin-path DIRS  search DIRS first\n"
            "  --help              this text\n",
            llmrt_registry_installed_dir());
}

typedef struct row {
    char kind[16], abi[32];
    const char *name, *version, *file, *status, *description;
} row;

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

int llmrt_cmd_plugins(int argc, char **argv)
{
    const char *plugin_path = NULL;
    int rc = llmrt_cli_plugin_path_args("plugins", argc, argv, usage, &plugin_path);
    if (rc) return rc < 0 ? 0 : rc;
    if ((rc = llmrt_registry_init_with_origin(plugin_path, "--plugin-path")) ||
        (rc = llmrt_registry_add_core_builtins())) {
        fprintf(stderr, "llmrt: plugins: %s\n", llmrt_last_error());
        return 1;
    }

    printf("search path (first match wins):\n");
    size_t n_dirs = llmrt_registry_n_dirs();
    for (size_t i = 0; i < n_dirs; i++) {
        const char *origin = NULL;
        int exists = 0;
        const char *dir = llmrt_registry_dir(i, &origin, &exists);
        printf("  %zu. %s (%s%s)\n", i + 1, dir, origin, exists ? "" : ", missing");
    }
    printf("\n");

    llmrt_registry_entry *e = NULL;
    size_t n = 0;
    if ((rc = llmrt_registry_list(&e, &n))) {
        fprintf(stderr, "llmrt: plugins: %s\n", llmrt_last_error());
        return 1;
    }
    row *rows = calloc(n + 1, sizeof *rows);
    if (!rows) {
        free(e);
        fprintf(stderr, "llmrt: plugins: out of memory\n");
        return 1;
    }
    /* The header is row 0. */
    rows[0] = (row){"KIND", "ABI", "NAME", "VERSION", "FILE", "STATUS", "DESCRIPTION"};
    size_t w_kind = 0, w_name = 0, w_version = 0, w_abi = 0, w_file = 0, w_status = 0;
    size_t n_ok = 0, n_bad = 0;
    for (size_t i = 0; i <= n; i++) {
        row *r = &rows[i];
        if (i > 0) {
            const llmrt_registry_entry *x = &e[i - 1];
            snprintf(r->kind, sizeof r->kind, "%s",
                     x->kind ? llmrt_plugin_kind_name(x->kind) : "?");
            if (x->abi_known && x->abi_minor == LLMRT_LOADER_ABI_UNKNOWN)
                snprintf(r->abi, sizeof r->abi, "%u.x", x->abi_major);
            else if (x->abi_known)
                snprintf(r->abi, sizeof r->abi, "%u.%u", x->abi_major, x->abi_minor);
            else
                snprintf(r->abi, sizeof r->abi, "-");
            r->name = x->name ? x->name : "-";
            r->version = x->file ? (x->version ? x->version : "-") : PACKAGE_VERSION;
            r->file = x->file ? x->file : "(built in)";
            r->status = x->status == LLMRT_LOAD_OK ? "ok" : x->reason;
            /* A description only where the component could be read. */
            r->description = x->name && x->description ? x->description : "";
            if (x->status == LLMRT_LOAD_OK) n_ok++;
            else if (x->status != LLMRT_LOAD_SHADOWED) n_bad++;
        }
        w_kind = max_sz(w_kind, strlen(r->kind));
        w_name = max_sz(w_name, strlen(r->name));
        w_version = max_sz(w_version, strlen(r->version));
        w_abi = max_sz(w_abi, strlen(r->abi));
        w_file = max_sz(w_file, strlen(r->file));
        /* Long reasons end their line or push the description out; they do
         * not widen the column for every row. */
        if (r->description[0]) w_status = max_sz(w_status, strlen(r->status));
        if (w_status > 32) w_status = 32;
    }
    for (size_t i = 0; i <= n; i++) {
        const row *r = &rows[i];
        printf("%-*s  %-*s  %-*s  %-*s  %-*s  ", (int)w_kind, r->kind, (int)w_name, r->name,
               (int)w_version, r->version, (int)w_abi, r->abi, (int)w_file, r->file);
        if (r->description[0])
            printf("%-*s  %s\n", (int)w_status, r->status, r->description);
        else
            printf("%s\n", r->status);
    }
    printf("\n%zu component%s ok, %zu problem%s%s\n", n_ok, n_ok == 1 ? "" : "s", n_bad,
           n_bad == 1 ? "" : "s",
           n_bad ? " (a plugin asked for by name that fails stops the run)" : "");
    free(rows);
    free(e);
    return 0;
}
