/* test_loader.c — the plugin loader and registry against deliberately broken
 * plugins (tests/loader/local.mk builds one directory of them per case).
 * Every case asserts the class of the failure AND the facts its message must
 * carry (the file, the member, both versions, the missing library, ...). */
#define _GNU_SOURCE /* asprintf */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llmrt/llmrt.h>
#include "error.h"
#include "host_api.h"
#include "loader.h"
#include "registry.h"

/* "1.1": the ABI this llmrt speaks, as messages print it. */
#define ABI_STR2(a, b) #a "." #b
#define ABI_STR1(a, b) ABI_STR2(a, b)
#define ABI_STRING ABI_STR1(LLMRT_ABI_MAJOR, LLMRT_ABI_MINOR)

/* tests/loader in the build tree. */
static const char *loader_builddir(void)
{
    static char *dir;
    if (!dir) {
        const char *b = getenv("LLMRT_TEST_BUILDDIR");
        if (asprintf(&dir, "%s/loader", b ? b : "tests") < 0) abort();
    }
    return dir;
}

/* The directory holding the plugins of one case (libtool's .libs). */
static char *case_dir(const char *name)
{
    char *d;
    ck_assert_int_ge(asprintf(&d, "%s/cases/%s/.libs", loader_builddir(), name), 0);
    if (access(d, R_OK) != 0)
        ck_abort_msg("%s is missing: build the check libraries (make check) first", d);
    return d;
}

static char *case_file(const char *name, const char *kind, const char *plugin)
{
    char *d = case_dir(name), *f;
    ck_assert_int_ge(asprintf(&f, "%s/llmrt-%s-%s.so", d, kind, plugin), 0);
    free(d);
    return f;
}

/* Start from nothing: no environment path, no built-ins, `path` first. */
static void use_path(const char *path)
{
    unsetenv("LLMRT_PLUGIN_PATH");
    llmrt_registry_reset();
    ck_assert_int_eq(llmrt_registry_init(path), LLMRT_OK);
}

static void use_case(const char *name)
{
    char *d = case_dir(name);
    use_path(d);
    free(d);
}

#define assert_msg_has(needle)                                                             \
    do {                                                                                   \
        const char *msg_ = llmrt_last_error();                                             \
        ck_assert_msg(strstr(msg_, (needle)) != NULL, "message lacks \"%s\": %s", (needle), \
                      msg_);                                                               \
        ck_assert_msg(strchr(msg_, '\n') == NULL, "message is not one line: %s", msg_);    \
    } while (0)

static llmrt_load_status resolve(llmrt_plugin_kind kind, const char *name)
{
    const llmrt_component *comp = NULL;
    const char *file = NULL;
    llmrt_error_clear();
    llmrt_load_status st = llmrt_registry_resolve(kind, name, &comp, &file);
    if (st == LLMRT_LOAD_OK) ck_assert_ptr_nonnull(comp);
    else ck_assert_msg(llmrt_last_error()[0] != '\0', "class %s without a message",
                       llmrt_load_status_name(st));
    return st;
}

/* --- a good plugin -------------------------------------------------------- */

START_TEST(good_plugin_loads)
{
    use_case("good");
    const llmrt_component *comp = NULL;
    const char *file = NULL;
    ck_assert_int_eq(llmrt_registry_resolve(LLMRT_KIND_COMPUTE, "good", &comp, &file),
                     LLMRT_LOAD_OK);
    ck_assert_str_eq(comp->name, "good");
    ck_assert_int_eq(comp->kind, LLMRT_KIND_COMPUTE);
    char *want = case_file("good", "compute", "good");
    ck_assert_str_eq(file, want);
    free(want);

    /* The vtable is the plugin's: call into it. The probe ran first and got
     * the host table (the plugin says so in its caps). */
    const llmrt_compute_vtable *vt = comp->vtable;
    ck_assert_uint_ge(vt->struct_size, sizeof *vt);
    llmrt_compute_caps caps = {.struct_size = sizeof caps};
    ck_assert_int_eq(vt->get_caps(NULL, &caps), LLMRT_OK);
    ck_assert_str_eq(caps.device_name, "fake good (probed)");

    /* Asking again gives the same component; find() speaks llmrt_status. */
    const llmrt_component *again = NULL;
    ck_assert_int_eq(llmrt_registry_find(LLMRT_KIND_COMPUTE, "good", &again, NULL), LLMRT_OK);
    ck_assert_ptr_eq(again, comp);
}
END_TEST

START_TEST(found_by_scanning_other_files)
{
    /* Formats alpha and beta live in llmrt-format-multi.so (as bf16 lives in
     * llmrt-format-quant.so). The plugin's own name is not a component. */
    use_case("multi");
    const llmrt_component *a = NULL, *b = NULL;
    const char *file = NULL;
    ck_assert_int_eq(llmrt_registry_resolve(LLMRT_KIND_FORMAT, "beta", &b, &file), LLMRT_LOAD_OK);
    ck_assert_ptr_nonnull(strstr(file, "/llmrt-format-multi.so"));
    ck_assert_str_eq(((const llmrt_format *)b->vtable)->name, "beta");
    ck_assert_int_eq(llmrt_registry_resolve(LLMRT_KIND_FORMAT, "alpha", &a, NULL), LLMRT_LOAD_OK);
    ck_assert_ptr_ne(a, b);
    ck_assert_int_eq(resolve(LLMRT_KIND_FORMAT, "multi"), LLMRT_LOAD_NOT_FOUND);
    /* Kinds are separate name spaces. */
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "alpha"), LLMRT_LOAD_NOT_FOUND);

    /* The host API's format lookup goes through the registry. */
    const llmrt_host_api *host = llmrt_host_api_get();
    ck_assert_ptr_eq(host->format_lookup("beta"), b->vtable);
    ck_assert_ptr_null(host->format_lookup("gamma"));
}
END_TEST

/* --- every error class ---------------------------------------------------- */

START_TEST(missing_descriptor)
{
    use_case("nodesc");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "nodesc"), LLMRT_LOAD_NO_DESCRIPTOR);
    char *f = case_file("nodesc", "compute", "nodesc");
    assert_msg_has(f);
    assert_msg_has("no descriptor");
    assert_msg_has("llmrt_plugin_v1");
    free(f);
    ck_assert_int_eq(llmrt_registry_find(LLMRT_KIND_COMPUTE, "nodesc", NULL, NULL),
                     LLMRT_ERR_FORMAT);
}
END_TEST

START_TEST(wrong_abi_major)
{
    use_case("abi");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "abi"), LLMRT_LOAD_ABI_MISMATCH);
    char *f = case_file("abi", "compute", "abi");
    assert_msg_has(f);
    assert_msg_has("plugin built for ABI 2.3");
    assert_msg_has("this llmrt speaks " ABI_STRING);
    free(f);
}
END_TEST

START_TEST(abi_major_in_symbol_name)
{
    /* Exports llmrt_plugin_v2 only: an ABI 2 plugin, not "no descriptor". */
    use_case("abisym");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "abisym"), LLMRT_LOAD_ABI_MISMATCH);
    assert_msg_has("ABI 2.x");
    assert_msg_has("llmrt_plugin_v2");
    assert_msg_has(ABI_STRING);
}
END_TEST

START_TEST(short_descriptor)
{
    use_case("shortdesc");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "shortdesc"), LLMRT_LOAD_BAD_DESCRIPTOR);
    char *f = case_file("shortdesc", "compute", "shortdesc");
    assert_msg_has(f);
    assert_msg_has("struct_size 24");
    assert_msg_has("llmrt_plugin");
    free(f);
}
END_TEST

START_TEST(short_vtable)
{
    use_case("shortvt");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "shortvt"), LLMRT_LOAD_BAD_DESCRIPTOR);
    char *f = case_file("shortvt", "compute", "shortvt");
    assert_msg_has(f);
    assert_msg_has("'gemm'");
    assert_msg_has("too small");
    free(f);
}
END_TEST

START_TEST(null_mandatory_member)
{
    use_case("nullmember");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "nullmember"), LLMRT_LOAD_BAD_DESCRIPTOR);
    assert_msg_has("llmrt-compute-nullmember.so");
    assert_msg_has("'adamw' is NULL");
}
END_TEST

START_TEST(bad_magic)
{
    use_case("badmagic");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "badmagic"), LLMRT_LOAD_BAD_DESCRIPTOR);
    assert_msg_has("llmrt-compute-badmagic.so");
    assert_msg_has("magic is 0x12345678");
    assert_msg_has("0x4c4c4d52");
}
END_TEST

START_TEST(kind_differs_from_file_name)
{
    use_case("kindmix");
    ck_assert_int_eq(resolve(LLMRT_KIND_FORMAT, "kindmix"), LLMRT_LOAD_BAD_DESCRIPTOR);
    assert_msg_has("llmrt-format-kindmix.so");
    assert_msg_has("kind is compute");
    assert_msg_has("file name says format");
}
END_TEST

START_TEST(component_of_another_kind)
{
    use_case("compkind");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "compkind"), LLMRT_LOAD_BAD_DESCRIPTOR);
    assert_msg_has("llmrt-compute-compkind.so");
    assert_msg_has("component 'compkind' is of kind strategy");
}
END_TEST

START_TEST(null_plugin_name)
{
    use_case("nullname");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "nullname"), LLMRT_LOAD_BAD_DESCRIPTOR);
    assert_msg_has("llmrt-compute-nullname.so");
    assert_msg_has("name is NULL");
}
END_TEST

START_TEST(null_vtable)
{
    use_case("nullvt");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "nullvt"), LLMRT_LOAD_BAD_DESCRIPTOR);
    assert_msg_has("'nullvt' has a NULL vtable");
}
END_TEST

START_TEST(probe_says_unsupported)
{
    use_case("probe0");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "probe0"), LLMRT_LOAD_UNSUPPORTED);
    char *f = case_file("probe0", "compute", "probe0");
    assert_msg_has(f);
    assert_msg_has("unsupported here");
    assert_msg_has("probe0: no frobnicator on this machine"); /* the probe's own reason */
    free(f);
    ck_assert_int_eq(llmrt_registry_find(LLMRT_KIND_COMPUTE, "probe0", NULL, NULL),
                     LLMRT_ERR_UNSUPPORTED);
    /* Asked again: same answer and message, the probe is not rerun. */
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "probe0"), LLMRT_LOAD_UNSUPPORTED);
    assert_msg_has("no frobnicator");
}
END_TEST

START_TEST(missing_dependent_library)
{
    use_case("needsdep");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "needsdep"), LLMRT_LOAD_DLOPEN_FAILED);
    char *f = case_file("needsdep", "compute", "needsdep");
    assert_msg_has(f);
    assert_msg_has("dlopen failed");
    assert_msg_has("libllmrtdep.so"); /* dlerror names the library */
    free(f);
    ck_assert_int_eq(llmrt_registry_find(LLMRT_KIND_COMPUTE, "needsdep", NULL, NULL),
                     LLMRT_ERR_IO);
}
END_TEST

START_TEST(name_differs_from_file_name)
{
    use_case("mismatch");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "mismatch"), LLMRT_LOAD_NAME_MISMATCH);
    assert_msg_has("llmrt-compute-mismatch.so");
    assert_msg_has("'other'");
    assert_msg_has("'mismatch'");
    assert_msg_has("llmrt-compute-other.so"); /* what to rename it to */
}
END_TEST

START_TEST(duplicate_in_one_directory)
{
    use_case("dup");
    ck_assert_int_eq(resolve(LLMRT_KIND_FORMAT, "twin"), LLMRT_LOAD_DUPLICATE);
    char *a = case_file("dup", "format", "dupa"), *b = case_file("dup", "format", "dupb");
    assert_msg_has(a);
    assert_msg_has(b);
    assert_msg_has("duplicate");
    free(a);
    free(b);
    /* Each file by its own name is fine. */
    ck_assert_int_eq(resolve(LLMRT_KIND_FORMAT, "dupa"), LLMRT_LOAD_NOT_FOUND);
}
END_TEST

START_TEST(duplicate_in_one_plugin)
{
    use_case("dupself");
    ck_assert_int_eq(resolve(LLMRT_KIND_FORMAT, "twin"), LLMRT_LOAD_DUPLICATE);
    assert_msg_has("llmrt-format-twin.so");
    assert_msg_has("'twin' is listed twice");
}
END_TEST

/* --- search order --------------------------------------------------------- */

static const llmrt_registry_entry *entry_for(const llmrt_registry_entry *e, size_t n,
                                             const char *file_part, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].file && strstr(e[i].file, file_part) &&
            (!name || (e[i].name && !strcmp(e[i].name, name))))
            return &e[i];
    return NULL;
}

START_TEST(earlier_directory_shadows_later)
{
    char *d1 = case_dir("shadow1"), *d2 = case_dir("shadow2"), *path;
    ck_assert_int_ge(asprintf(&path, "%s:%s", d1, d2), 0);
    use_path(path);
    const llmrt_component *c = NULL;
    const char *file = NULL;
    ck_assert_int_eq(llmrt_registry_resolve(LLMRT_KIND_FORMAT, "shadow", &c, &file),
                     LLMRT_LOAD_OK);
    ck_assert_ptr_nonnull(strstr(file, "/shadow1/"));
    ck_assert_str_eq(c->description, "test format shadow version 1");

    /* Not an error: `llmrt plugins` shows the later one as shadowed. */
    llmrt_registry_entry *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(llmrt_registry_list(&e, &n), LLMRT_OK);
    const llmrt_registry_entry *x1 = entry_for(e, n, "/shadow1/", "shadow");
    const llmrt_registry_entry *x2 = entry_for(e, n, "/shadow2/", "shadow");
    ck_assert_ptr_nonnull(x1);
    ck_assert_ptr_nonnull(x2);
    ck_assert_int_eq(x1->status, LLMRT_LOAD_OK);
    ck_assert_int_eq(x2->status, LLMRT_LOAD_SHADOWED);
    ck_assert_str_eq(x2->other, file);
    ck_assert_ptr_nonnull(strstr(x2->reason, "shadowed by"));
    ck_assert_str_eq(x2->version, "2");
    free(e);

    /* The other order: the other file wins. */
    free(path);
    ck_assert_int_ge(asprintf(&path, "%s:%s", d2, d1), 0);
    use_path(path);
    ck_assert_int_eq(llmrt_registry_resolve(LLMRT_KIND_FORMAT, "shadow", &c, &file),
                     LLMRT_LOAD_OK);
    ck_assert_ptr_nonnull(strstr(file, "/shadow2/"));
    ck_assert_str_eq(c->description, "test format shadow version 2");
    free(path);
    free(d1);
    free(d2);
}
END_TEST

START_TEST(config_path_before_environment)
{
    /* [runtime] plugin_path comes before LLMRT_PLUGIN_PATH. */
    char *d1 = case_dir("shadow1"), *d2 = case_dir("shadow2");
    llmrt_registry_reset();
    setenv("LLMRT_PLUGIN_PATH", d1, 1);
    ck_assert_int_eq(llmrt_registry_init(d2), LLMRT_OK);
    const char *file = NULL;
    ck_assert_int_eq(llmrt_registry_resolve(LLMRT_KIND_FORMAT, "shadow", NULL, &file),
                     LLMRT_LOAD_OK);
    ck_assert_ptr_nonnull(strstr(file, "/shadow2/"));
    ck_assert_uint_eq(llmrt_registry_n_dirs(), 3);
    const char *origin = NULL;
    int exists = 0;
    ck_assert_str_eq(llmrt_registry_dir(0, &origin, &exists), d2);
    ck_assert_str_eq(origin, "[runtime] plugin_path");
    ck_assert_int_eq(exists, 1);
    ck_assert_str_eq(llmrt_registry_dir(1, &origin, NULL), d1);
    ck_assert_str_eq(origin, "LLMRT_PLUGIN_PATH");
    ck_assert_str_eq(llmrt_registry_dir(2, &origin, NULL), llmrt_registry_installed_dir());
    ck_assert_str_eq(origin, "installed");
    free(d1);
    free(d2);
}
END_TEST

START_TEST(not_found_lists_directories)
{
    char *good = case_dir("good");
    llmrt_registry_reset();
    setenv("LLMRT_PLUGIN_PATH", "/nonexistent/llmrt-test", 1);
    ck_assert_int_eq(llmrt_registry_init(good), LLMRT_OK);
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "nope"), LLMRT_LOAD_NOT_FOUND);
    assert_msg_has("no compute called 'nope'");
    assert_msg_has(good);
    assert_msg_has("([runtime] plugin_path)");
    assert_msg_has("/nonexistent/llmrt-test (LLMRT_PLUGIN_PATH, missing)");
    assert_msg_has(llmrt_registry_installed_dir());
    assert_msg_has("available: good");
    assert_msg_has("add a directory with [runtime] plugin_path or the LLMRT_PLUGIN_PATH");
    ck_assert_int_eq(llmrt_registry_find(LLMRT_KIND_COMPUTE, "nope", NULL, NULL),
                     LLMRT_ERR_INVALID);
    free(good);
}
END_TEST

START_TEST(not_found_counts_broken_files)
{
    /* A file that may have provided the name but does not load is mentioned. */
    use_case("nodesc");
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "other"), LLMRT_LOAD_NOT_FOUND);
    assert_msg_has("1 llmrt-compute-*.so file could not be loaded");
}
END_TEST

START_TEST(empty_path_elements_are_not_cwd)
{
    /* A plugin sits in the current directory; empty elements must not find
     * it (they are skipped, not read as "." the way $PATH reads them). */
    char *cwd_dir = case_dir("cwd");
    ck_assert_int_eq(chdir(cwd_dir), 0);
    llmrt_registry_reset();
    setenv("LLMRT_PLUGIN_PATH", "::", 1);
    ck_assert_int_eq(llmrt_registry_init(":"), LLMRT_OK);
    ck_assert_uint_eq(llmrt_registry_n_dirs(), 1); /* the installed directory only */
    ck_assert_int_eq(resolve(LLMRT_KIND_FORMAT, "cwd"), LLMRT_LOAD_NOT_FOUND);
    ck_assert_ptr_null(strstr(llmrt_last_error(), cwd_dir));

    /* Empty elements around real ones are skipped too; duplicates collapse. */
    char *good = case_dir("good"), *env;
    ck_assert_int_ge(asprintf(&env, ":%s::%s/:", good, good), 0);
    llmrt_registry_reset();
    setenv("LLMRT_PLUGIN_PATH", env, 1);
    ck_assert_int_eq(llmrt_registry_init(""), LLMRT_OK);
    ck_assert_uint_eq(llmrt_registry_n_dirs(), 2);
    ck_assert_str_eq(llmrt_registry_dir(0, NULL, NULL), good);
    ck_assert_int_eq(resolve(LLMRT_KIND_FORMAT, "cwd"), LLMRT_LOAD_NOT_FOUND);
    ck_assert_int_eq(resolve(LLMRT_KIND_COMPUTE, "good"), LLMRT_LOAD_OK);

    /* Named explicitly, the current directory is searched (as any other). */
    use_path(".");
    ck_assert_int_eq(resolve(LLMRT_KIND_FORMAT, "cwd"), LLMRT_LOAD_OK);
    free(env);
    free(good);
    free(cwd_dir);
}
END_TEST

/* --- built-ins ------------------------------------------------------------ */

static int builtin_encode(const llmrt_format *f, void *dst, const float *src, size_t n,
                          const float *scales, llmrt_rounding r, uint64_t seed)
{
    (void)f, (void)dst, (void)src, (void)n, (void)scales, (void)r, (void)seed;
    return LLMRT_OK;
}

static int builtin_decode(const llmrt_format *f, float *dst, const void *src, size_t n,
                          const float *scales)
{
    (void)f, (void)dst, (void)src, (void)n, (void)scales;
    return LLMRT_OK;
}

static const llmrt_format alpha_format = {
    .struct_size = sizeof(llmrt_format), .name = "alpha",
    .encode = builtin_encode, .decode = builtin_decode,
};
static const llmrt_component alpha_builtin = {
    .struct_size = sizeof(llmrt_component), .kind = LLMRT_KIND_FORMAT, .name = "alpha",
    .description = "a built-in", .vtable = &alpha_format,
};
static const llmrt_component alpha_again = {
    .struct_size = sizeof(llmrt_component), .kind = LLMRT_KIND_FORMAT, .name = "alpha",
    .vtable = &alpha_format,
};
static const llmrt_format nameless_format = {
    .struct_size = sizeof(llmrt_format), .name = "bad", .encode = builtin_encode,
};
static const llmrt_component broken_builtin = {
    .struct_size = sizeof(llmrt_component), .kind = LLMRT_KIND_FORMAT, .name = "bad",
    .vtable = &nameless_format,
};

START_TEST(builtins_win_and_are_checked)
{
    use_case("multi");
    ck_assert_int_eq(llmrt_registry_add_builtin(&alpha_builtin), LLMRT_OK);
    ck_assert_int_eq(llmrt_registry_add_builtin(&alpha_builtin), LLMRT_OK); /* no-op */
    ck_assert_int_eq(llmrt_registry_add_builtin(&alpha_again), LLMRT_ERR_INVALID);
    ck_assert_int_eq(llmrt_registry_add_builtin(&broken_builtin), LLMRT_ERR_FORMAT);
    assert_msg_has("'decode' is NULL");

    const llmrt_component *c = NULL;
    const char *file = "not touched";
    ck_assert_int_eq(llmrt_registry_resolve(LLMRT_KIND_FORMAT, "alpha", &c, &file),
                     LLMRT_LOAD_OK);
    ck_assert_ptr_eq(c, &alpha_builtin);
    ck_assert_ptr_null(file);

    /* Built-ins survive a new search path. */
    use_path(NULL);
    ck_assert_int_eq(llmrt_registry_add_builtin(&alpha_builtin), LLMRT_OK);
    char *multi = case_dir("multi");
    ck_assert_int_eq(llmrt_registry_init(multi), LLMRT_OK);
    ck_assert_int_eq(llmrt_registry_resolve(LLMRT_KIND_FORMAT, "alpha", &c, NULL),
                     LLMRT_LOAD_OK);
    ck_assert_ptr_eq(c, &alpha_builtin);

    llmrt_registry_entry *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(llmrt_registry_list(&e, &n), LLMRT_OK);
    ck_assert_uint_ge(n, 3);
    ck_assert_ptr_null(e[0].file); /* built-ins first */
    ck_assert_str_eq(e[0].name, "alpha");
    ck_assert_str_eq(e[0].origin, "built in");
    const llmrt_registry_entry *x = entry_for(e, n, "llmrt-format-multi.so", "alpha");
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->status, LLMRT_LOAD_SHADOWED);
    ck_assert_str_eq(x->other, "(built in)");
    x = entry_for(e, n, "llmrt-format-multi.so", "beta");
    ck_assert_int_eq(x->status, LLMRT_LOAD_OK);
    free(e);
    free(multi);
}
END_TEST

/* --- listing every case at once ------------------------------------------- */

START_TEST(list_reports_every_class)
{
    static const struct {
        const char *dir, *file;
        llmrt_load_status status;
        const char *fact;
    } want[] = {
        {"good", "llmrt-compute-good.so", LLMRT_LOAD_OK, NULL},
        {"nodesc", "llmrt-compute-nodesc.so", LLMRT_LOAD_NO_DESCRIPTOR, "llmrt_plugin_v1"},
        {"abi", "llmrt-compute-abi.so", LLMRT_LOAD_ABI_MISMATCH, "ABI 2.3"},
        {"shortdesc", "llmrt-compute-shortdesc.so", LLMRT_LOAD_BAD_DESCRIPTOR, "struct_size"},
        {"shortvt", "llmrt-compute-shortvt.so", LLMRT_LOAD_BAD_DESCRIPTOR, "'gemm'"},
        {"probe0", "llmrt-compute-probe0.so", LLMRT_LOAD_UNSUPPORTED, "no frobnicator"},
        {"needsdep", "llmrt-compute-needsdep.so", LLMRT_LOAD_DLOPEN_FAILED, "libllmrtdep"},
        {"mismatch", "llmrt-compute-mismatch.so", LLMRT_LOAD_NAME_MISMATCH, "'other'"},
        {"dup", "llmrt-format-dupa.so", LLMRT_LOAD_DUPLICATE, "llmrt-format-dupb.so"},
        {"dup", "llmrt-format-dupb.so", LLMRT_LOAD_DUPLICATE, "llmrt-format-dupa.so"},
        {"dupself", "llmrt-format-twin.so", LLMRT_LOAD_DUPLICATE, "listed twice"},
        {"badmagic", "llmrt-compute-badmagic.so", LLMRT_LOAD_BAD_DESCRIPTOR, "magic"},
    };
    enum { N = sizeof want / sizeof want[0] };
    char *path = strdup("");
    for (size_t i = 0; i < N; i++) {
        char *d = case_dir(want[i].dir), *p;
        ck_assert_int_ge(asprintf(&p, "%s:%s", path, d), 0);
        free(path);
        free(d);
        path = p;
    }
    use_path(path);
    llmrt_registry_entry *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(llmrt_registry_list(&e, &n), LLMRT_OK);
    for (size_t i = 0; i < N; i++) {
        char part[256];
        snprintf(part, sizeof part, "/%s/.libs/%s", want[i].dir, want[i].file);
        const llmrt_registry_entry *x = entry_for(e, n, part, NULL);
        ck_assert_msg(x != NULL, "%s is not listed", part);
        ck_assert_msg(x->status == want[i].status, "%s: %s, expected %s", part,
                      llmrt_load_status_name(x->status), llmrt_load_status_name(want[i].status));
        if (want[i].fact)
            ck_assert_msg(x->reason && strstr(x->reason, want[i].fact), "%s: reason lacks %s: %s",
                          part, want[i].fact, x->reason ? x->reason : "(null)");
        if (x->status == LLMRT_LOAD_OK) ck_assert_ptr_null(x->reason);
    }
    /* ABI versions are shown even for a plugin that fails on them. */
    const llmrt_registry_entry *abi = entry_for(e, n, "llmrt-compute-abi.so", NULL);
    ck_assert_int_eq(abi->abi_known, 1);
    ck_assert_uint_eq(abi->abi_major, 2);
    ck_assert_uint_eq(abi->abi_minor, 3);
    const llmrt_registry_entry *good = entry_for(e, n, "llmrt-compute-good.so", "good");
    ck_assert_str_eq(good->version, "0.0.1");
    ck_assert_str_eq(good->plugin, "good");
    ck_assert_str_eq(good->description, "a test double");
    free(e);
    free(path);
}
END_TEST

/* --- the small helpers ---------------------------------------------------- */

START_TEST(init_failed_message)
{
    llmrt_error(LLMRT_ERR_DEVICE, "cuda: no device 0 (cudaSetDevice: invalid device ordinal)");
    int rc = llmrt_loader_init_failed(LLMRT_ERR_DEVICE, LLMRT_KIND_COMPUTE, "cuda",
                                      "/opt/llmrt/llmrt-compute-cuda.so");
    ck_assert_int_eq(rc, LLMRT_ERR_DEVICE);
    ck_assert_str_eq(llmrt_last_error(),
                     "compute cuda (/opt/llmrt/llmrt-compute-cuda.so): init failed: cuda: no "
                     "device 0 (cudaSetDevice: invalid device ordinal)");
    llmrt_error_clear();
    llmrt_loader_init_failed(LLMRT_ERR_INVALID, LLMRT_KIND_FORMAT, "fp32", NULL);
    assert_msg_has("format fp32 (built in): init failed: ");
    assert_msg_has("recorded no message");
}
END_TEST

START_TEST(kind_and_file_names)
{
    llmrt_plugin_kind k;
    ck_assert_int_eq(llmrt_plugin_kind_parse("collective", &k), LLMRT_OK);
    ck_assert_int_eq(k, LLMRT_KIND_COLLECTIVE);
    ck_assert_int_eq(llmrt_plugin_kind_parse("gpu", &k), LLMRT_ERR_INVALID);
    assert_msg_has("'gpu'");
    assert_msg_has("compute, collective, strategy, format");
    ck_assert_str_eq(llmrt_plugin_kind_name(LLMRT_KIND_STRATEGY), "strategy");
    ck_assert_str_eq(llmrt_plugin_kind_name((llmrt_plugin_kind)42), "unknown");

    char name[64];
    ck_assert_int_eq(llmrt_loader_parse_file_name("llmrt-format-quant.so", &k, name, sizeof name),
                     LLMRT_OK);
    ck_assert_int_eq(k, LLMRT_KIND_FORMAT);
    ck_assert_str_eq(name, "quant");
    ck_assert_int_eq(llmrt_loader_parse_file_name("llmrt-compute-my-gpu.so", &k, name,
                                                  sizeof name), LLMRT_OK);
    ck_assert_str_eq(name, "my-gpu");
    ck_assert_int_eq(llmrt_loader_parse_file_name("llmrt-gpu-x.so", &k, name, sizeof name),
                     LLMRT_ERR_INVALID);
    assert_msg_has("unknown plugin kind 'gpu'");
    ck_assert_int_eq(llmrt_loader_parse_file_name("llmrt-compute-.so", &k, name, sizeof name),
                     LLMRT_ERR_INVALID);
    ck_assert_int_eq(llmrt_loader_parse_file_name("libfoo.so", &k, name, sizeof name),
                     LLMRT_ERR_INVALID);
    ck_assert_int_eq(llmrt_loader_parse_file_name("llmrt-compute-cpu.so", &k, name, 3),
                     LLMRT_ERR_INVALID);
    ck_assert_str_eq(llmrt_load_status_name(LLMRT_LOAD_ABI_MISMATCH), "ABI mismatch");
    ck_assert_int_eq(llmrt_load_status_code(LLMRT_LOAD_UNSUPPORTED), LLMRT_ERR_UNSUPPORTED);
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *t = tcase_create("load");
    tcase_add_test(t, good_plugin_loads);
    tcase_add_test(t, found_by_scanning_other_files);
    tcase_add_test(t, missing_descriptor);
    tcase_add_test(t, wrong_abi_major);
    tcase_add_test(t, abi_major_in_symbol_name);
    tcase_add_test(t, short_descriptor);
    tcase_add_test(t, short_vtable);
    tcase_add_test(t, null_mandatory_member);
    tcase_add_test(t, bad_magic);
    tcase_add_test(t, kind_differs_from_file_name);
    tcase_add_test(t, component_of_another_kind);
    tcase_add_test(t, null_plugin_name);
    tcase_add_test(t, null_vtable);
    tcase_add_test(t, probe_says_unsupported);
    tcase_add_test(t, missing_dependent_library);
    tcase_add_test(t, name_differs_from_file_name);
    tcase_add_test(t, duplicate_in_one_directory);
    tcase_add_test(t, duplicate_in_one_plugin);
    suite_add_tcase(s, t);

    t = tcase_create("search");
    tcase_add_test(t, earlier_directory_shadows_later);
    tcase_add_test(t, config_path_before_environment);
    tcase_add_test(t, not_found_lists_directories);
    tcase_add_test(t, not_found_counts_broken_files);
    tcase_add_test(t, empty_path_elements_are_not_cwd);
    tcase_add_test(t, builtins_win_and_are_checked);
    tcase_add_test(t, list_reports_every_class);
    suite_add_tcase(s, t);

    t = tcase_create("helpers");
    tcase_add_test(t, init_failed_message);
    tcase_add_test(t, kind_and_file_names);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(loader_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
