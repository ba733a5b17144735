/* e5m2_intree.c — the SDK example (sdk/examples/format-e5m2/e5m2.c), built
 * unchanged inside the tree so that its bits are tested by `make check` even
 * where the out-of-tree build (test_sdk_install.sh) is skipped. Compiling it
 * from here keeps build products out of the example's directory. */
#include "e5m2.c"
