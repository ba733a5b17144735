#!/bin/sh
# The cuda backend's kernel files run on the host without a GPU
# (tests/cuda/emu/run, docs/cuda.md): flash attention against a double
# reference, every other kernel file against the cpu backend, each under
# AddressSanitizer and in two thread orders. Needs g++ and python3 (SKIP
# without them), the generated plugins/cuda/convert_dev.h and the built cpu
# plugin (make check builds both first). Paths come from the test
# environment of tests/local.mk, so it works in a VPATH build.
: "${LLMRT_TEST_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${LLMRT_TEST_BUILDDIR:=$(pwd)/tests}"
for tool in "${CXX_EMU:-g++}" python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is missing"; exit 77; }
done
# AddressSanitizer's runtime (libasan) may be missing where g++ is not.
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
echo 'int main() { return 0; }' > "$tmp/a.cc"
"${CXX_EMU:-g++}" -fsanitize=address,alignment "$tmp/a.cc" -o "$tmp/a" 2>/dev/null ||
    { echo "SKIP: ${CXX_EMU:-g++} cannot link -fsanitize=address,alignment"; exit 77; }
CXX=${CXX_EMU:-g++} sh "$LLMRT_TEST_SRCDIR/cuda/emu/run" "$LLMRT_TEST_BUILDDIR/.."
