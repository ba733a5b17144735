/* loader.c — open one plugin file and check it against ABI 1.0 (loader.h). */
#include "loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/llmrt.h>
#include "error.h"
#include "host_api.h"

/* End of a member: the smallest struct_size that contains it. */
#define END_OF(T, member) (offsetof(T, member) + sizeof(((T *)0)->member))

/* The sizes of the ABI 1.0 structs: their last 1.0 member's end. These stay
 * fixed when later minors append members (sizeof() would not). */
#define PLUGIN_SIZE_V1_0 END_OF(llmrt_plugin, components)
#define COMPONENT_SIZE_V1_0 END_OF(llmrt_component, vtable)

/* --- names --------------------------------------------------------------- */

const char *llmrt_load_status_name(llmrt_load_status s)
{
    switch (s) {
    case LLMRT_LOAD_OK: return "ok";
    case LLMRT_LOAD_NOT_FOUND: return "not found";
    case LLMRT_LOAD_DLOPEN_FAILED: return "dlopen failed";
    case LLMRT_LOAD_NO_DESCRIPTOR: return "no descriptor";
    case LLMRT_LOAD_BAD_DESCRIPTOR: return "bad descriptor";
    case LLMRT_LOAD_ABI_MISMATCH: return "ABI mismatch";
    case LLMRT_LOAD_NAME_MISMATCH: return "name mismatch";
    case LLMRT_LOAD_DUPLICATE: return "duplicate";
    case LLMRT_LOAD_UNSUPPORTED: return "unsupported here";
    case LLMRT_LOAD_INIT_FAILED: return "init failed";
    case LLMRT_LOAD_SHADOWED: return "shadowed";
    }
    return "unknown load status";
}

int llmrt_load_status_code(llmrt_load_status s)
{
    switch (s) {
    case LLMRT_LOAD_OK:
    case LLMRT_LOAD_SHADOWED: return LLMRT_OK;
    case LLMRT_LOAD_NOT_FOUND: return LLMRT_ERR_INVALID;
    case LLMRT_LOAD_DLOPEN_FAILED: return LLMRT_ERR_IO;
    case LLMRT_LOAD_NO_DESCRIPTOR:
    case LLMRT_LOAD_BAD_DESCRIPTOR:
    case LLMRT_LOAD_ABI_MISMATCH:
    case LLMRT_LOAD_NAME_MISMATCH:
    case LLMRT_LOAD_DUPLICATE: return LLMRT_ERR_FORMAT;
    case LLMRT_LOAD_UNSUPPORTED: return LLMRT_ERR_UNSUPPORTED;
    case LLMRT_LOAD_INIT_FAILED: return LLMRT_ERR_INTERNAL;
    }
    return LLMRT_ERR_INTERNAL;
}

static const char *const kind_names[] = {NULL, "compute", "collective", "strategy", "format"};
enum { N_KINDS = sizeof kind_names / sizeof kind_names[0] };

const char *llmrt_plugin_kind_name(llmrt_plugin_kind kind)
{
    if ((int)kind > 0 && (int)kind < N_KINDS) return kind_names[kind];
    return "unknown";
}

int llmrt_plugin_kind_parse(const char *s, llmrt_plugin_kind *out)
{
    for (int k = 1; k < N_KINDS; k++)
        if (s && !strcmp(s, kind_names[k])) {
            *out = (llmrt_plugin_kind)k;
            return LLMRT_OK;
        }
    return llmrt_error(LLMRT_ERR_INVALID,
                       "unknown plugin kind '%s' (accepted: compute, collective, strategy, "
                       "format)", s ? s : "(null)");
}

/* [a-z0-9_]+ (plugin.h). */
static int valid_component_name(const char *s)
{
    if (!s || !*s) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
    return 1;
}

int llmrt_loader_parse_file_name(const char *base, llmrt_plugin_kind *kind, char *name,
                                 size_t name_size)
{
    static const char prefix[] = "llmrt-", suffix[] = ".so";
    size_t len = strlen(base);
    if (len < sizeof prefix - 1 + sizeof suffix - 1 || strncmp(base, prefix, sizeof prefix - 1) ||
        strcmp(base + len - (sizeof suffix - 1), suffix))
        return llmrt_error(LLMRT_ERR_INVALID,
                           "'%s' is not a plugin file name (expected llmrt-<kind>-<name>.so)",
                           base);
    const char *k = base + sizeof prefix - 1;
    const char *dash = strchr(k, '-');
    const char *end = base + len - (sizeof suffix - 1);
    if (!dash || dash >= end)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "'%s' is not a plugin file name (expected llmrt-<kind>-<name>.so)",
                           base);
    int found = 0;
    for (int i = 1; i < N_KINDS; i++)
        if ((size_t)(dash - k) == strlen(kind_names[i]) && !strncmp(k, kind_names[i], dash - k)) {
            *kind = (llmrt_plugin_kind)i;
            found = 1;
        }
    if (!found)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "'%s': unknown plugin kind '%.*s' in the file name (accepted: "
                           "compute, collective, strategy, format)",
                           base, (int)(dash - k), k);
    size_t n = (size_t)(end - (dash + 1));
    if (n == 0)
        return llmrt_error(LLMRT_ERR_INVALID, "'%s': the file name has an empty plugin name",
                           base);
    if (n + 1 > name_size)
        return llmrt_error(LLMRT_ERR_INVALID, "'%s': the plugin name is too long", base);
    memcpy(name, dash + 1, n);
    name[n] = '\0';
    return LLMRT_OK;
}

/* --- mandatory members --------------------------------------------------- */

/* Checks that a vtable of `size` bytes contains member `m` of T and that it
 * is not NULL; the member is read only when it lies inside `size`. */
#define REQUIRE(T, m)                                                                      \
    do {                                                                                   \
        if (size < END_OF(T, m))                                                           \
            return member_too_small(where, kind, comp, size, #m, END_OF(T, m));            \
        if (((const T *)vt)->m == NULL) return member_null(where, kind, comp, #m);         \
    } while (0)

static llmrt_load_status member_too_small(const char *where, llmrt_plugin_kind kind,
                                          const llmrt_component *comp, size_t size,
                                          const char *member, size_t need)
{
    llmrt_error(LLMRT_ERR_FORMAT,
                "%s: bad descriptor: %s component '%s': vtable struct_size %zu is too small "
                "for the mandatory member '%s' (needs at least %zu)",
                where, llmrt_plugin_kind_name(kind), comp->name, size, member, need);
    return LLMRT_LOAD_BAD_DESCRIPTOR;
}

static llmrt_load_status member_null(const char *where, llmrt_plugin_kind kind,
                                     const llmrt_component *comp, const char *member)
{
    llmrt_error(LLMRT_ERR_FORMAT,
                "%s: bad descriptor: %s component '%s': the mandatory member '%s' is NULL",
                where, llmrt_plugin_kind_name(kind), comp->name, member);
    return LLMRT_LOAD_BAD_DESCRIPTOR;
}

static llmrt_load_status check_compute(const char *where, llmrt_plugin_kind kind,
                                       const llmrt_component *comp, const void *vt, size_t size)
{
    typedef llmrt_compute_vtable T;
    REQUIRE(T, create);
    REQUIRE(T, destroy);
    REQUIRE(T, get_caps);
    REQUIRE(T, alloc);
    REQUIRE(T, free);
    REQUIRE(T, copy_to_device);
    REQUIRE(T, copy_to_host);
    REQUIRE(T, copy);
    REQUIRE(T, memset);
    REQUIRE(T, synchronize);
    REQUIRE(T, gemm);
    REQUIRE(T, bias_grad);
    REQUIRE(T, norm_forward);
    REQUIRE(T, norm_backward);
    REQUIRE(T, gelu_forward);
    REQUIRE(T, gelu_backward);
    REQUIRE(T, attention_forward);
    REQUIRE(T, attention_backward);
    REQUIRE(T, softmax_xent);
    REQUIRE(T, embedding_forward);
    REQUIRE(T, embedding_backward);
    REQUIRE(T, add);
    REQUIRE(T, scale);
    REQUIRE(T, sum_squares);
    REQUIRE(T, adamw);
    return LLMRT_LOAD_OK;
}

static llmrt_load_status check_collective(const char *where, llmrt_plugin_kind kind,
                                          const llmrt_component *comp, const void *vt,
                                          size_t size)
{
    typedef llmrt_collective_vtable T;
    REQUIRE(T, create);
    REQUIRE(T, destroy);
    REQUIRE(T, get_caps);
    REQUIRE(T, allreduce);
    REQUIRE(T, reduce_scatter);
    REQUIRE(T, all_gather);
    REQUIRE(T, broadcast);
    REQUIRE(T, barrier);
    REQUIRE(T, work_test);
    REQUIRE(T, work_wait);
    REQUIRE(T, work_release);
    return LLMRT_LOAD_OK;
}

static llmrt_load_status check_strategy(const char *where, llmrt_plugin_kind kind,
                                        const llmrt_component *comp, const void *vt,
                                        size_t size)
{
    typedef llmrt_strategy_vtable T;
    REQUIRE(T, create);
    REQUIRE(T, destroy);
    REQUIRE(T, plan);
    REQUIRE(T, shard_range);
    REQUIRE(T, get_state);
    REQUIRE(T, set_state);
    REQUIRE(T, begin_microbatch);
    REQUIRE(T, pre_forward);
    REQUIRE(T, post_forward);
    REQUIRE(T, pre_backward);
    REQUIRE(T, post_backward);
    REQUIRE(T, grad_norm_sq);
    REQUIRE(T, optimizer_step);
    return LLMRT_LOAD_OK;
}

static llmrt_load_status check_format(const char *where, llmrt_plugin_kind kind,
                                      const llmrt_component *comp, const void *vt, size_t size)
{
    typedef llmrt_format T;
    REQUIRE(T, name);
    REQUIRE(T, encode);
    REQUIRE(T, decode);
    const llmrt_format *f = vt;
    if (strcmp(f->name, comp->name)) {
        llmrt_error(LLMRT_ERR_FORMAT,
                    "%s: bad descriptor: format component '%s': its llmrt_format is named "
                    "'%s' (the two names must be equal)",
                    where, comp->name, f->name);
        return LLMRT_LOAD_BAD_DESCRIPTOR;
    }
    return LLMRT_LOAD_OK;
}

llmrt_load_status llmrt_loader_check_component(const llmrt_component *comp,
                                               llmrt_plugin_kind kind, const char *where)
{
    if (comp->struct_size < COMPONENT_SIZE_V1_0) {
        llmrt_error(LLMRT_ERR_FORMAT,
                    "%s: bad descriptor: component struct_size %zu is smaller than the ABI "
                    "1.0 llmrt_component (%zu bytes)",
                    where, comp->struct_size, (size_t)COMPONENT_SIZE_V1_0);
        return LLMRT_LOAD_BAD_DESCRIPTOR;
    }
    if (!valid_component_name(comp->name)) {
        llmrt_error(LLMRT_ERR_FORMAT,
                    "%s: bad descriptor: component name %s%s%s is not [a-z0-9_]+", where,
                    comp->name ? "'" : "", comp->name ? comp->name : "NULL",
                    comp->name ? "'" : "");
        return LLMRT_LOAD_BAD_DESCRIPTOR;
    }
    if (comp->kind != kind) {
        llmrt_error(LLMRT_ERR_FORMAT,
                    "%s: bad descriptor: component '%s' is of kind %s (%d) in a %s plugin",
                    where, comp->name, llmrt_plugin_kind_name(comp->kind), (int)comp->kind,
                    llmrt_plugin_kind_name(kind));
        return LLMRT_LOAD_BAD_DESCRIPTOR;
    }
    if (!comp->vtable) {
        llmrt_error(LLMRT_ERR_FORMAT, "%s: bad descriptor: %s component '%s' has a NULL vtable",
                    where, llmrt_plugin_kind_name(kind), comp->name);
        return LLMRT_LOAD_BAD_DESCRIPTOR;
    }
    /* Every vtable (and llmrt_format) starts with its size_t struct_size. */
    size_t size = *(const size_t *)comp->vtable;
    switch (kind) {
    case LLMRT_KIND_COMPUTE: return check_compute(where, kind, comp, comp->vtable, size);
    case LLMRT_KIND_COLLECTIVE: return check_collective(where, kind, comp, comp->vtable, size);
    case LLMRT_KIND_STRATEGY: return check_strategy(where, kind, comp, comp->vtable, size);
    case LLMRT_KIND_FORMAT: return check_format(where, kind, comp, comp->vtable, size);
    }
    llmrt_error(LLMRT_ERR_FORMAT, "%s: bad descriptor: unknown plugin kind %d", where, (int)kind);
    return LLMRT_LOAD_BAD_DESCRIPTOR;
}

/* --- opening a file ------------------------------------------------------ */

const llmrt_component *llmrt_loader_component(const llmrt_loaded_plugin *p, size_t i)
{
    return (const llmrt_component *)((const char *)p->desc->components +
                                     i * p->component_stride);
}

/* The descriptor proper, once dlopen and dlsym succeeded. */
static llmrt_load_status check_descriptor(const char *path, llmrt_plugin_kind file_kind,
                                          const char *file_name, const llmrt_plugin *d,
                                          llmrt_loaded_plugin *out, unsigned *abi_major,
                                          unsigned *abi_minor)
{
    if (d->magic != LLMRT_PLUGIN_MAGIC) {
        llmrt_error(LLMRT_ERR_FORMAT,
                    "%s: bad descriptor: magic is 0x%08x, expected 0x%08x (LLMRT_PLUGIN_MAGIC)",
                    path, (unsigned)d->magic, (unsigned)LLMRT_PLUGIN_MAGIC);
        return LLMRT_LOAD_BAD_DESCRIPTOR;
    }
    /* magic, struct_size, abi_major and abi_minor open the descriptor of
     * every ABI major, so the version can be read before the size. */
    *abi_major = d->abi_major;
    *abi_minor = d->abi_minor;
    if (d->abi_major != LLMRT_ABI_MAJOR) {
        llmrt_error(LLMRT_ERR_FORMAT,
                    "%s: ABI mismatch: plugin built for ABI %u.%u, this llmrt speaks %d.%d; "
                    "rebuild the plugin against this llmrt's SDK",
                    path, (unsigned)d->abi_major, (unsigned)d->abi_minor, LLMRT_ABI_MAJOR,
                    LLMRT_ABI_MINOR);
        return LLMRT_LOAD_ABI_MISMATCH;
    }
    if (d->struct_size < PLUGIN_SIZE_V1_0) {
        llmrt_error(LLMRT_ERR_FORMAT,
                    "%s: bad descriptor: struct_size %u is smaller than the ABI 1.0 "
                    "llmrt_plugin (%zu bytes)",
                    path, (unsigned)d->struct_size, (size_t)PLUGIN_SIZE_V1_0);
        return LLMRT_LOAD_BAD_DESCRIPTOR;
    }
    if (!d->name) {
        llmrt_error(LLMRT_ERR_FORMAT, "%s: bad descriptor: the plugin name is NULL", path);
        return LLMRT_LOAD_BAD_DESCRIPTOR;
    }
    if (d->kind != file_kind) {
        llmrt_error(LLMRT_ERR_FORMAT,
                    "%s: bad descriptor: the descriptor's kind is %s (%d) but the file name "
                    "says %s",
                    path, llmrt_plugin_kind_name(d->kind), (int)d->kind,
                    llmrt_plugin_kind_name(file_kind));
        return LLMRT_LOAD_BAD_DESCRIPTOR;
    }
    if (strcmp(d->name, file_name)) {
        llmrt_error(LLMRT_ERR_FORMAT,
                    "%s: name mismatch: the descriptor's name is '%s' but the file name says "
                    "'%s' (a plugin named '%s' must be in llmrt-%s-%s.so)",
                    path, d->name, file_name, d->name, llmrt_plugin_kind_name(file_kind),
                    d->name);
        return LLMRT_LOAD_NAME_MISMATCH;
    }
    if (d->n_components == 0 || !d->components) {
        llmrt_error(LLMRT_ERR_FORMAT, "%s: bad descriptor: the plugin provides no components%s",
                    path, d->n_components ? " (components is NULL)" : "");
        return LLMRT_LOAD_BAD_DESCRIPTOR;
    }
    /* Components are an array whose element size is their struct_size (a
     * plugin built for a later minor has larger elements). */
    size_t stride = d->components[0].struct_size;
    if (stride < COMPONENT_SIZE_V1_0) {
        llmrt_error(LLMRT_ERR_FORMAT,
                    "%s: bad descriptor: component struct_size %zu is smaller than the ABI 1.0 "
                    "llmrt_component (%zu bytes)",
                    path, stride, (size_t)COMPONENT_SIZE_V1_0);
        return LLMRT_LOAD_BAD_DESCRIPTOR;
    }
    llmrt_loaded_plugin lp = {NULL, d, d->n_components, stride};
    for (size_t i = 0; i < lp.n_components; i++) {
        const llmrt_component *c = llmrt_loader_component(&lp, i);
        if (c->struct_size != stride) {
            llmrt_error(LLMRT_ERR_FORMAT,
                        "%s: bad descriptor: component %zu has struct_size %zu, component 0 "
                        "has %zu (they are one array)",
                        path, i, c->struct_size, stride);
            return LLMRT_LOAD_BAD_DESCRIPTOR;
        }
        llmrt_load_status st = llmrt_loader_check_component(c, file_kind, path);
        if (st != LLMRT_LOAD_OK) return st;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(llmrt_loader_component(&lp, j)->name, c->name)) {
                llmrt_error(LLMRT_ERR_FORMAT,
                            "%s: duplicate: %s component '%s' is listed twice (components %zu "
                            "and %zu) in %s",
                            path, llmrt_plugin_kind_name(file_kind), c->name, j, i, path);
                return LLMRT_LOAD_DUPLICATE;
            }
    }
    *out = lp;
    return LLMRT_LOAD_OK;
}

llmrt_load_status llmrt_loader_open(const char *path, llmrt_loaded_plugin *out,
                                    unsigned *abi_major, unsigned *abi_minor)
{
    unsigned major = 0, minor = 0;
    memset(out, 0, sizeof *out);
    if (abi_major) *abi_major = 0;
    if (abi_minor) *abi_minor = 0;

    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char file_name[256];
    llmrt_plugin_kind file_kind;
    if (llmrt_loader_parse_file_name(base, &file_kind, file_name, sizeof file_name)) {
        llmrt_error_prefix(LLMRT_ERR_FORMAT, "%s: name mismatch", path);
        return LLMRT_LOAD_NAME_MISMATCH;
    }

    /* A path without a slash would make dlopen search the library path. */
    char *dl_path = NULL;
    if (!slash) {
        size_t n = strlen(path) + 3;
        if (!(dl_path = malloc(n))) {
            llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
            return LLMRT_LOAD_DLOPEN_FAILED;
        }
        snprintf(dl_path, n, "./%s", path);
    }
    dlerror();
    void *handle = dlopen(dl_path ? dl_path : path, RTLD_NOW | RTLD_LOCAL);
    free(dl_path);
    if (!handle) {
        const char *why = dlerror();
        llmrt_error(LLMRT_ERR_IO, "%s: dlopen failed: %s", path, why ? why : "(no dlerror)");
        return LLMRT_LOAD_DLOPEN_FAILED;
    }

    dlerror();
    const llmrt_plugin *d = dlsym(handle, LLMRT_PLUGIN_SYMBOL);
    llmrt_load_status st;
    if (!d) {
        /* A descriptor of another major says more than "no descriptor". */
        int other = -1;
        for (int m = 0; m <= 9 && other < 0; m++) {
            char sym[32];
            if (m == LLMRT_ABI_MAJOR) continue;
            snprintf(sym, sizeof sym, "llmrt_plugin_v%d", m);
            if (dlsym(handle, sym)) other = m;
        }
        if (other >= 0) {
            llmrt_error(LLMRT_ERR_FORMAT,
                        "%s: ABI mismatch: plugin built for ABI %d.x (it exports "
                        "llmrt_plugin_v%d), this llmrt speaks %d.%d; rebuild the plugin "
                        "against this llmrt's SDK",
                        path, other, other, LLMRT_ABI_MAJOR, LLMRT_ABI_MINOR);
            major = (unsigned)other;
            minor = LLMRT_LOADER_ABI_UNKNOWN;
            st = LLMRT_LOAD_ABI_MISMATCH;
        } else {
            llmrt_error(LLMRT_ERR_FORMAT,
                        "%s: no descriptor: the file does not export the symbol %s (a plugin "
                        "defines LLMRT_PLUGIN_EXPORT const llmrt_plugin %s, see "
                        "llmrt/plugin.h)",
                        path, LLMRT_PLUGIN_SYMBOL, LLMRT_PLUGIN_SYMBOL);
            st = LLMRT_LOAD_NO_DESCRIPTOR;
        }
    } else {
        st = check_descriptor(path, file_kind, file_name, d, out, &major, &minor);
    }
    if (abi_major) *abi_major = major;
    if (abi_minor) *abi_minor = minor;
    if (st != LLMRT_LOAD_OK) {
        memset(out, 0, sizeof *out);
        dlclose(handle); /* it failed: nothing of it is in use */
        return st;
    }
    out->handle = handle;
    return LLMRT_LOAD_OK;
}

/* --- probe and init ------------------------------------------------------ */

llmrt_load_status llmrt_loader_probe(const llmrt_component *comp, const char *file)
{
    if (!comp->probe) return LLMRT_LOAD_OK;
    llmrt_error_clear();
    int score = comp->probe(llmrt_host_api_get());
    if (score > 0) {
        llmrt_error_clear();
        return LLMRT_LOAD_OK;
    }
    char reason[1024];
    snprintf(reason, sizeof reason, "%s", llmrt_last_error());
    if (!reason[0])
        snprintf(reason, sizeof reason, "its probe returned %d and recorded no reason", score);
    llmrt_error(LLMRT_ERR_UNSUPPORTED, "%s %s (%s): unsupported here: %s",
                llmrt_plugin_kind_name(comp->kind), comp->name, file ? file : "built in",
                reason);
    return LLMRT_LOAD_UNSUPPORTED;
}

int llmrt_loader_init_failed(int code, llmrt_plugin_kind kind, const char *name,
                             const char *file)
{
    if (!llmrt_last_error()[0])
        llmrt_error(code, "the plugin returned \"%s\" (%d) and recorded no message",
                    llmrt_status_name(code), code);
    return llmrt_error_prefix(code, "%s %s (%s): init failed", llmrt_plugin_kind_name(kind),
                              name ? name : "?", file ? file : "built in");
}
