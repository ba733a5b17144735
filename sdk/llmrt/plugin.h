/* llmrt/plugin.h — the one symbol a plugin file exports.
 *
 * A plugin is a shared object named llmrt-<kind>-<name>.so that exports exactly
 * one symbol, the const descriptor `llmrt_plugin_v1` (the ABI major is in the
 * name, as NCCL's net plugins do). The core finds it with dlsym() after
 * dlopen(RTLD_NOW | RTLD_LOCAL). Build plugins with -fvisibility=hidden and
 * mark only the descriptor with LLMRT_PLUGIN_EXPORT.
 *
 * Requirements, one at a time:
 *  1. magic is LLMRT_PLUGIN_MAGIC; struct_size is sizeof(llmrt_plugin) as the
 *     plugin was compiled; abi_major is LLMRT_ABI_MAJOR (the core refuses any
 *     other major); abi_minor is the minor the plugin was built against (the
 *     core accepts any minor and uses struct_size to see which members exist).
 *  2. name equals <name> in the file name, and kind equals <kind>.
 *  3. Every component has the plugin's kind; component names are unique within
 *     the plugin. One file may provide several components of its kind (the
 *     `quant` format plugin provides fp16, bf16 and int8).
 *  4. The descriptor and everything it points to are immutable and live as
 *     long as the file is loaded. The core never dlclose()s a plugin.
 *  5. Nothing runs at load time: no constructors that touch hardware or use
 *     ISA extensions. Work starts in probe() or create().
 *  6. probe() (optional) returns a positive score when the component can run on
 *     this machine, 0 when it cannot (after recording why with host->error()),
 *     and must be cheap: no context creation, no large allocation.
 */
#ifndef LLMRT_PLUGIN_H
#define LLMRT_PLUGIN_H

#include <llmrt/types.h>
#include <llmrt/host.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LLMRT_PLUGIN_MAGIC 0x4c4c4d52u /* "LLMR" */
#define LLMRT_ABI_MAJOR 1
#define LLMRT_ABI_MINOR 3

/* The exported symbol's name for this ABI major. */
#define LLMRT_PLUGIN_SYMBOL "llmrt_plugin_v1"

#if defined(__GNUC__)
#define LLMRT_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define LLMRT_PLUGIN_EXPORT
#endif

typedef enum llmrt_plugin_kind {
    LLMRT_KIND_COMPUTE = 1,    /* compute.h: llmrt_compute_vtable    */
    LLMRT_KIND_COLLECTIVE = 2, /* collective.h: llmrt_collective_vtable */
    LLMRT_KIND_STRATEGY = 3,   /* strategy.h: llmrt_strategy_vtable  */
    LLMRT_KIND_FORMAT = 4      /* format.h: llmrt_format             */
} llmrt_plugin_kind;

/* One component: a compute backend, a collective transport, a sharding
 * strategy or a number format. */
typedef struct llmrt_component {
    size_t struct_size;
    llmrt_plugin_kind kind;
    const char *name;        /* e.g. "cpu", "local", "ddp", "bf16"; [a-z0-9_]+ */
    const char *description; /* one line for `llmrt plugins` */
    /* Optional (requirement 6). NULL means "always usable". */
    int (*probe)(const llmrt_host_api *host);
    /* The kind's vtable; its first member is its own size_t struct_size. */
    const void *vtable;
} llmrt_component;

typedef struct llmrt_plugin {
    uint32_t magic;
    uint32_t struct_size;
    uint32_t abi_major;
    uint32_t abi_minor;
    llmrt_plugin_kind kind;
    const char *name;    /* must match the file name */
    const char *version; /* the plugin's own version, free form */
    size_t n_components;
    const llmrt_component *components;
} llmrt_plugin;

/* Convenience for a plugin's one definition:
 *   LLMRT_PLUGIN_EXPORT const llmrt_plugin llmrt_plugin_v1 = { ... }; */
#define LLMRT_PLUGIN_HEADER(kind_, name_, version_)                                  \
    .magic = LLMRT_PLUGIN_MAGIC, .struct_size = sizeof(llmrt_plugin),                 \
    .abi_major = LLMRT_ABI_MAJOR, .abi_minor = LLMRT_ABI_MINOR, .kind = (kind_),      \
    .name = (name_), .version = (version_)

#ifdef __cplusplus
}
#endif
#endif /* LLMRT_PLUGIN_H */
