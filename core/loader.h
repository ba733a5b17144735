/* loader.h — opening one plugin file and checking it against the ABI.
 *
 * The loader knows about single files: it parses a file name, dlopen()s the
 * file, finds the descriptor, and checks the descriptor and every component
 * vtable against the ABI 1.0 contract of the SDK headers. Which file to open
 * (search order, shadowing, duplicates) is the registry's business
 * (registry.h).
 *
 * Rules:
 *  1. Every failure is classified by an llmrt_load_status (so that callers and
 *     tests can tell the classes apart) and explained by one line recorded with
 *     llmrt_error() (error.h). Messages name the file and the fact at fault
 *     (the member, both ABI versions, the library dlopen could not find, ...).
 *     llmrt_load_status_code() maps a class to the llmrt_status that functions
 *     of the core return.
 *  2. Files are opened with dlopen(RTLD_NOW | RTLD_LOCAL). A file that loaded
 *     and passed every check is never dlclose()d; a file that failed is closed.
 *  3. Not thread-safe by itself; the registry serialises its calls.
 */
#ifndef LLMRT_CORE_LOADER_H
#define LLMRT_CORE_LOADER_H

#include <stddef.h>
#include <llmrt/plugin.h>

/* Why a plugin or component cannot be used. The numbering is internal to the
 * core (not part of the plugin ABI). */
typedef enum llmrt_load_status {
    LLMRT_LOAD_OK = 0,
    LLMRT_LOAD_NOT_FOUND,      /* no file in the search path provides it        */
    LLMRT_LOAD_DLOPEN_FAILED,  /* dlopen() failed; the message is dlerror()      */
    LLMRT_LOAD_NO_DESCRIPTOR,  /* the file does not export llmrt_plugin_v1       */
    LLMRT_LOAD_BAD_DESCRIPTOR, /* magic, sizes, kinds, NULL names or members    */
    LLMRT_LOAD_ABI_MISMATCH,   /* built for another ABI major                    */
    LLMRT_LOAD_NAME_MISMATCH,  /* descriptor name vs file name, or a bad file name */
    LLMRT_LOAD_DUPLICATE,      /* one component name twice in one directory/plugin */
    LLMRT_LOAD_UNSUPPORTED,    /* probe() returned 0 on this machine            */
    LLMRT_LOAD_INIT_FAILED,    /* create() failed (reported by the runtime)     */
    LLMRT_LOAD_SHADOWED        /* not an error: an earlier directory wins       */
} llmrt_load_status;

/* "ok", "not found", "dlopen failed", "no descriptor", "bad descriptor",
 * "ABI mismatch", "name mismatch", "duplicate", "unsupported here",
 * "init failed", "shadowed". */
const char *llmrt_load_status_name(llmrt_load_status s);
/* The llmrt_status for a class: NOT_FOUND -> LLMRT_ERR_INVALID (a config value
 * names something that is not there), DLOPEN_FAILED -> LLMRT_ERR_IO, the
 * descriptor classes -> LLMRT_ERR_FORMAT, UNSUPPORTED -> LLMRT_ERR_UNSUPPORTED,
 * INIT_FAILED -> LLMRT_ERR_INTERNAL (the runtime keeps the plugin's own code). */
int llmrt_load_status_code(llmrt_load_status s);

/* "compute", "collective", "strategy", "format"; "unknown" for other values. */
const char *llmrt_plugin_kind_name(llmrt_plugin_kind kind);
/* Parse a kind name (as above). On failure returns LLMRT_ERR_INVALID with a
 * message that lists the accepted names. */
int llmrt_plugin_kind_parse(const char *s, llmrt_plugin_kind *out);

/* Split a file's base name "llmrt-<kind>-<name>.so" into kind and name
 * (name is copied into `name`, `name_size` bytes with the NUL). Returns
 * LLMRT_OK, or LLMRT_ERR_INVALID (message recorded) when the name does not
 * have that shape, the kind is unknown or the name does not fit. */
int llmrt_loader_parse_file_name(const char *base, llmrt_plugin_kind *kind, char *name,
                                 size_t name_size);

/* A file that passed llmrt_loader_open(). Everything it points to lives in
 * the plugin, which stays loaded for the process lifetime. */
typedef struct llmrt_loaded_plugin {
    void *handle;               /* dlopen() handle (never closed) */
    const llmrt_plugin *desc;   /* the checked descriptor */
    size_t n_components;
    size_t component_stride;    /* bytes between components: their struct_size */
} llmrt_loaded_plugin;

/* Open `path` and check it: the file name, dlopen, the descriptor (magic,
 * ABI major, struct_size, name, kind) and every component (kind, name,
 * vtable size and mandatory members, duplicates). A path without a '/' is
 * taken relative to the current directory, never searched for.
 * On LLMRT_LOAD_OK *out is filled; otherwise the file is closed, *out is
 * zeroed and the message "<path>: <class>: <details>" is recorded.
 * *abi_major / *abi_minor (either may be NULL) receive the plugin's ABI
 * version, even on failure, when it is known: both from a readable
 * descriptor; the major alone (minor LLMRT_LOADER_ABI_UNKNOWN) when the file
 * exports the descriptor of another major (llmrt_plugin_v2); otherwise both
 * are 0. */
#define LLMRT_LOADER_ABI_UNKNOWN 0xffffffffu
llmrt_load_status llmrt_loader_open(const char *path, llmrt_loaded_plugin *out,
                                    unsigned *abi_major, unsigned *abi_minor);

/* Component i (< n_components) of a loaded plugin. */
const llmrt_component *llmrt_loader_component(const llmrt_loaded_plugin *p, size_t i);

/* Check one component against the ABI 1.0 contract for `kind`: struct_size,
 * kind, name ([a-z0-9_]+), vtable present, vtable struct_size large enough
 * for every mandatory member of the kind and none of them NULL (and for a
 * format, llmrt_format.name equal to the component name). `where` prefixes
 * the message (the file, or "built-in"). Used for plugins and built-ins. */
llmrt_load_status llmrt_loader_check_component(const llmrt_component *comp,
                                               llmrt_plugin_kind kind, const char *where);

/* Run the component's probe (if any) with the core's host API table.
 * Returns LLMRT_LOAD_OK when there is no probe or it returned > 0;
 * otherwise LLMRT_LOAD_UNSUPPORTED with the message
 *   "<kind> <name> (<file>): unsupported here: <reason the probe recorded>".
 * `file` NULL means a built-in component. */
llmrt_load_status llmrt_loader_probe(const llmrt_component *comp, const char *file);

/* For the runtime when a component's create() returned `code`: turns the
 * plugin's recorded message M into
 *   "<kind> <name> (<file>): init failed: M"
 * (file NULL: "(built in)") and returns `code` unchanged. */
int llmrt_loader_init_failed(int code, llmrt_plugin_kind kind, const char *name,
                             const char *file);

#endif
