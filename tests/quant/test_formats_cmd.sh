#!/bin/sh
# test_formats_cmd.sh — `llmrt formats`: one row per number format, read from
# the descriptors (fp32 built in, fp16/bf16/int8 from the quant plugin), a
# broken format plugin listed with its error, and usage errors.
set -u
: "${LLMRT_BIN:?LLMRT_BIN is set by make check}"
: "${LLMRT_TEST_BUILDDIR:?LLMRT_TEST_BUILDDIR is set by make check}"

fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$LLMRT_BIN" formats --help) || fail "formats --help exited $?"
printf '%s\n' "$out" | grep -q 'usage: llmrt formats' || fail "--help prints no usage: $out"
"$LLMRT_BIN" formats --bogus >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "a bad option exits $rc, expected 2"

out=$("$LLMRT_BIN" formats 2>&1) || fail "formats exited $?: $out"
printf '%s\n' "$out"
# row NAME REGEX: the format's row matches the extended regex.
row() {
    printf '%s\n' "$out" | grep -E -q "^$1 +$2" || fail "no row '$1 $2' in:
$out"
}
printf '%s\n' "$out" | grep -E -q '^FORMAT +BITS +EXP/FRAC +BYTES' || fail "no header: $out"
row FP32 '32 +8/23 +4 bytes +none +no +3\.40282e\+38 +1\.17549e-38 +1\.19209e-07 +7\.2'
row FP16 '16 +5/10 +2 bytes +none +yes +65504 +6\.10352e-05 +0\.000976562 +3\.3'
row BF16 '16 +8/7 +2 bytes +none +no +3\.38953e\+38 +1\.17549e-38 +0\.0078125 +2\.4'
row INT8 '8 +integer +1 byte +fp32 scale per channel or tensor +no +127 +1 +1 +2\.4'
printf '%s\n' "$out" | grep -E '^BF16' | grep -q 'llmrt-format-quant.so' ||
    fail "the bf16 row does not name its plugin file"

# A format plugin that fails to load is listed with its error, and the
# others still are (the loader test builds one whose name does not match).
cases=$LLMRT_TEST_BUILDDIR/loader/cases
if [ -e "$cases/kindmix/.libs/llmrt-format-kindmix.so" ]; then
    out=$(LLMRT_PLUGIN_PATH="$cases/kindmix/.libs:$LLMRT_PLUGIN_PATH" "$LLMRT_BIN" formats 2>&1) ||
        fail "formats exited $? with a broken plugin around: $out"
    printf '%s\n' "$out" | grep -F 'llmrt-format-kindmix.so' | grep -q -i 'error' ||
        fail "the broken plugin is not listed with its error: $out"
    printf '%s\n' "$out" | grep -E -q '^BF16 ' || fail "bf16 is missing next to a broken plugin"
fi

# The plugin exports nothing but its descriptor.
so=$(printf '%s\n' "$LLMRT_PLUGIN_PATH" | tr ':' '\n' | while read -r d; do
    [ -e "$d/llmrt-format-quant.so" ] && echo "$d/llmrt-format-quant.so" && break; done)
if [ -n "$so" ] && command -v nm >/dev/null 2>&1; then
    syms=$(nm -D --defined-only "$so" | awk '$2 ~ /[A-Z]/ { print $3 }')
    [ "$syms" = llmrt_plugin_v1 ] || fail "$so exports: $syms"
fi
exit 0
