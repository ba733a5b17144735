#!/bin/sh
# test_sdk_install.sh — a third party's view of the SDK.
#
#  1. `make install DESTDIR=$tmp/stage` from the build tree;
#  2. build sdk/examples/format-e5m2 in a copy outside both trees, with only
#     `pkg-config --cflags llmrt` pointed at the staged install (no -I into
#     this repository);
#  3. `llmrt plugins` with LLMRT_PLUGIN_PATH at the example lists e5m2 as ok;
#  4. test_e5m2 checks the bits of that out-of-tree build;
#  5. the example's `make install` puts it in `pkg-config --variable=plugindir`
#     and llmrt finds it there.
#
# Works from a read-only source tree (make distcheck): only the build tree
# and a temporary directory are written. Skips (77) only without make or
# pkg-config.
# The plugin ABI this llmrt speaks ("1.1"), as its tables print it.
ABI=$("$LLMRT_BIN" --version | sed -n 's/.*plugin ABI \([0-9.]*\)).*/\1/p')
set -u
: "${LLMRT_BIN:?LLMRT_BIN is set by make check}"
: "${LLMRT_TEST_BUILDDIR:?LLMRT_TEST_BUILDDIR is set by make check}"
: "${LLMRT_TEST_SRCDIR:?LLMRT_TEST_SRCDIR is set by make check}"

MAKE_PROG=${MAKE:-make}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
command -v "$MAKE_PROG" >/dev/null 2>&1 || { echo "SKIP: no make"; exit 77; }
command -v "$PKG_CONFIG" >/dev/null 2>&1 || { echo "SKIP: no pkg-config"; exit 77; }

fail() { echo "FAIL: $*" >&2; exit 1; }
show_log() { echo "--- $1"; cat "$1"; echo "---"; }

top_builddir=$(cd "$LLMRT_TEST_BUILDDIR/.." && pwd) || fail "no build tree"
top_srcdir=$(cd "$LLMRT_TEST_SRCDIR/.." && pwd) || fail "no source tree"
example=$top_srcdir/sdk/examples/format-e5m2
[ -f "$example/e5m2.c" ] || fail "$example/e5m2.c is missing"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmrt-sdk.XXXXXX") || fail "mktemp failed"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
stage=$tmp/stage

# The sub-makes are not part of the outer make's job: do not inherit its
# jobserver or flags.
unset MAKEFLAGS MFLAGS MAKELEVEL GNUMAKEFLAGS

# 1. Staged install.
(cd "$top_builddir" && "$MAKE_PROG" install DESTDIR="$stage") >"$tmp/install.log" 2>&1 ||
    { show_log "$tmp/install.log"; fail "make install DESTDIR=$stage failed"; }
pcfile=$(find "$stage" -name llmrt.pc -type f | head -n 1)
[ -n "$pcfile" ] || fail "llmrt.pc was not installed under $stage"
pcdir=$(dirname "$pcfile")

# pkg-config sees only the staged llmrt.pc; the sysroot maps its paths into
# the stage.
pc() {
    PKG_CONFIG_PATH=$pcdir PKG_CONFIG_LIBDIR=$pcdir PKG_CONFIG_SYSROOT_DIR=$stage \
        "$PKG_CONFIG" "$@"
}
cflags=$(pc --cflags llmrt) || fail "pkg-config --cflags llmrt failed on $pcfile"
incdir=${cflags#-I}
incdir=${incdir%% *}
[ -f "$incdir/llmrt/llmrt.h" ] ||
    fail "pkg-config --cflags llmrt gives '$cflags' but $incdir/llmrt/llmrt.h is not there"
for h in llmrt types host plugin compute collective strategy format; do
    [ -f "$incdir/llmrt/$h.h" ] || fail "llmrt/$h.h was not installed"
done
plugindir=$(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_LIBDIR=$pcdir "$PKG_CONFIG" --variable=plugindir llmrt)
[ -n "$plugindir" ] || fail "llmrt.pc has no plugindir"

# 2. Build the example from a copy, as a third party would.
cp -R "$example" "$tmp/e5m2" && chmod -R u+w "$tmp/e5m2" || fail "cannot copy $example"
rm -f "$tmp/e5m2/llmrt-format-e5m2.so"
(
    export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_SYSROOT_DIR="$stage"
    unset CPATH C_INCLUDE_PATH
    "$MAKE_PROG" -C "$tmp/e5m2" PKG_CONFIG="$PKG_CONFIG" CFLAGS="-O2 -Wall -Wextra -Werror"
) >"$tmp/build.log" 2>&1 || { show_log "$tmp/build.log"; fail "the example does not build"; }
so=$tmp/e5m2/llmrt-format-e5m2.so
[ -f "$so" ] || fail "the example built no $so"
case $tmp in
"$top_srcdir"/*) reached=no ;; # a TMPDIR inside the tree: cannot tell
*) grep -F -q -- "-I$top_srcdir" "$tmp/build.log" && reached=yes || reached=no ;;
esac
if [ "$reached" = yes ]; then
    show_log "$tmp/build.log"
    fail "the example's build reached into the source tree"
fi
if command -v nm >/dev/null 2>&1; then
    exports=$(nm -D --defined-only "$so" 2>/dev/null | awk '$2 ~ /^[A-Z]$/ && $2 != "U" { print $3 }')
    [ "$exports" = "llmrt_plugin_v1" ] ||
        fail "the example should export only llmrt_plugin_v1, it exports: $exports"
fi

# 3. llmrt lists it as usable.
out=$(LLMRT_PLUGIN_PATH=$tmp/e5m2 "$LLMRT_BIN" plugins 2>&1) ||
    fail "llmrt plugins exited $?: $out"
printf '%s\n' "$out" | awk -v so="$so" -v abi="$ABI" '
    $1 == "format" && $2 == "e5m2" && $3 == "1.0.0" && $4 == abi && $5 == so && $6 == "ok" { found = 1 }
    END { exit !found }' ||
    fail "llmrt plugins does not list format e5m2 from $so as ok:
$out"

# 4. Its bits, through the registry.
E5M2_PLUGIN_DIR=$tmp/e5m2 "$LLMRT_TEST_BUILDDIR/loader/test_e5m2" >"$tmp/e5m2.log" 2>&1 ||
    { show_log "$tmp/e5m2.log"; fail "test_e5m2 failed on the out-of-tree build"; }

# 5. The example's install target, into the staged plugin directory.
(
    export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_LIBDIR="$pcdir"
    unset PKG_CONFIG_SYSROOT_DIR
    "$MAKE_PROG" -C "$tmp/e5m2" PKG_CONFIG="$PKG_CONFIG" install DESTDIR="$stage"
) >"$tmp/example-install.log" 2>&1 ||
    { show_log "$tmp/example-install.log"; fail "the example's make install failed"; }
[ -f "$stage$plugindir/llmrt-format-e5m2.so" ] ||
    fail "the example was not installed in $stage$plugindir"
out=$(LLMRT_PLUGIN_PATH= "$LLMRT_BIN" plugins --plugin-path "$stage$plugindir" 2>&1) ||
    fail "llmrt plugins exited $?: $out"
printf '%s\n' "$out" | awk -v so="$stage$plugindir/llmrt-format-e5m2.so" '
    $1 == "format" && $2 == "e5m2" && $5 == so && $6 == "ok" { found = 1 }
    END { exit !found }' ||
    fail "the installed example is not listed as ok:
$out"

echo "ok: the SDK builds format-e5m2 out of tree and llmrt loads it"
