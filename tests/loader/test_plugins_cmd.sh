#!/bin/sh
# test_plugins_cmd.sh — `llmrt plugins` over the broken plugins of
# test_loader: every file is listed with its own status, the command still
# exits 0 (it is a diagnostic), and only bad usage exits non-zero.
# The plugin ABI this llmrt speaks ("1.1"), as its tables print it.
ABI=$("$LLMRT_BIN" --version | sed -n 's/.*plugin ABI \([0-9.]*\)).*/\1/p')
set -u
: "${LLMRT_BIN:?LLMRT_BIN is set by make check}"
: "${LLMRT_TEST_BUILDDIR:?LLMRT_TEST_BUILDDIR is set by make check}"

fail() { echo "FAIL: $*" >&2; exit 1; }

# The row of `file` (a path suffix), or fail.
row() {
    printf '%s\n' "$out" | grep -F -- "$1" | head -n 1 | grep . || fail "no row for $1 in:
$out"
}
expect() { # expect SUFFIX TEXT...
    r=$(row "$1") || exit 1
    shift
    for t in "$@"; do
        printf '%s\n' "$r" | grep -F -q -- "$t" || fail "row lacks '$t': $r"
    done
}

# Usage.
out=$("$LLMRT_BIN" plugins --help) || fail "plugins --help exited $?"
printf '%s\n' "$out" | grep -q 'usage: llmrt plugins' || fail "--help prints no usage: $out"
printf '%s\n' "$out" | grep -q 'LLMRT_PLUGIN_PATH' || fail "--help does not explain the path"
"$LLMRT_BIN" plugins --no-such-option >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "a bad option exits $rc, expected 2"
"$LLMRT_BIN" plugins --plugin-path >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "--plugin-path without a value exits $rc, expected 2"

# Every case directory at once.
cases=$LLMRT_TEST_BUILDDIR/loader/cases
path=
for c in good nodesc abi shortvt probe0 needsdep mismatch dup shadow1 shadow2 multi; do
    path=$path:$cases/$c/.libs
done
out=$(LLMRT_PLUGIN_PATH= "$LLMRT_BIN" plugins --plugin-path "$path" 2>&1)
rc=$?
[ "$rc" -eq 0 ] || fail "plugins exited $rc with broken plugins around:
$out"

printf '%s\n' "$out" | grep -q -- "$cases/good/.libs (--plugin-path)" ||
    fail "the search path is not shown: $out"
printf '%s\n' "$out" | grep -E -q '^KIND +NAME +VERSION +ABI +FILE +STATUS' ||
    fail "no table header: $out"
expect "(built in)" "format" "fp32" " ok"
expect "good/.libs/llmrt-compute-good.so" "compute" "good" "0.0.1" "$ABI" " ok" "a test double"
expect "nodesc/.libs/llmrt-compute-nodesc.so" "no descriptor" "llmrt_plugin_v1"
expect "abi/.libs/llmrt-compute-abi.so" " 2.3 " "ABI mismatch: plugin built for ABI 2.3, this llmrt speaks $ABI"
expect "shortvt/.libs/llmrt-compute-shortvt.so" "bad descriptor" "'gemm'"
expect "probe0/.libs/llmrt-compute-probe0.so" "unsupported here: probe0: no frobnicator"
expect "needsdep/.libs/llmrt-compute-needsdep.so" "dlopen failed" "libllmrtdep.so"
expect "mismatch/.libs/llmrt-compute-mismatch.so" "name mismatch" "'other'"
expect "dup/.libs/llmrt-format-dupa.so" "duplicate" "dup/.libs/llmrt-format-dupb.so"
expect "shadow2/.libs/llmrt-format-shadow.so" "shadowed by $cases/shadow1/.libs/llmrt-format-shadow.so"
expect "multi/.libs/llmrt-format-multi.so" "alpha"
printf '%s\n' "$out" | grep -F -- "llmrt-format-multi.so" | grep -q "beta" ||
    fail "one row per component: beta is missing"
printf '%s\n' "$out" | grep -E -q '^[0-9]+ components? ok, [0-9]+ problems?' ||
    fail "no summary line: $out"
echo "ok: llmrt plugins lists every class"
