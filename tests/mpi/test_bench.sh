#!/bin/sh
# `llmrt bench collectives`: a table row per op and size, on the local
# collective and on mpi with 2 ranks (only rank 0 prints), and usage errors.
# Figures are not asserted (DESIGN.md section 7): only the table's shape.
. "$(dirname "$0")/../train/common.sh"

rows() { grep -c "^  $2 " "$1"; }
if "$LLMRT_BIN" bench collectives --sizes 4:4K --iters 2 >"$TMP/local" 2>&1 &&
   [ "$(rows "$TMP/local" allreduce)" -eq 11 ] && [ "$(rows "$TMP/local" broadcast)" -eq 11 ] &&
   grep -q "local, 1 ranks" "$TMP/local"; then pass "local: 4 B .. 4 KiB, 11 rows per op"
else fail "local table"; cat "$TMP/local"; fi
"$LLMRT_BIN" bench collectives --sizes 8:4 >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && pass "--sizes 8:4 is refused (exit 2)" || fail "--sizes 8:4: exit $rc"
"$LLMRT_BIN" bench nothing >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && pass "unknown benchmark is refused (exit 2)" || fail "bench nothing: exit $rc"

# The rest needs mpirun and the plugin; without them the local part stands.
: "${MPIRUN:=mpirun --allow-run-as-root --oversubscribe}"
if ! command -v ${MPIRUN%% *} >/dev/null 2>&1 ||
   [ ! -f "$LLMRT_TEST_BUILDDIR/../plugins/mpi/.libs/llmrt-collective-mpi.so" ]; then
    echo "mpirun or the mpi plugin missing: the mpi part is skipped"
    finish
    exit
fi
if timeout 60 $MPIRUN -np 2 "$LLMRT_BIN" bench collectives --set runtime.collective=mpi \
       --sizes 4:64K --iters 3 >"$TMP/mpi" 2>"$TMP/mpi.err" &&
   [ "$(rows "$TMP/mpi" reduce_scatter)" -eq 15 ] && [ "$(rows "$TMP/mpi" all_gather)" -eq 15 ] &&
   [ "$(grep -c '^# llmrt bench' "$TMP/mpi")" -eq 1 ] && grep -q "mpi, 2 ranks" "$TMP/mpi"; then
    pass "mpi, 2 ranks: one table (rank 0), 15 rows per op"
else fail "mpi table"; cat "$TMP/mpi" "$TMP/mpi.err"; fi
raw="$LLMRT_TEST_BUILDDIR/../bench/bench_mpi_raw"
if [ -x "$raw" ]; then
    if timeout 60 $MPIRUN -np 2 "$raw" 4 4096 2 >"$TMP/raw" 2>&1 && [ "$(rows "$TMP/raw" allreduce)" -eq 11 ]; then
        pass "bench_mpi_raw: the same table"
    else fail "bench_mpi_raw"; cat "$TMP/raw"; fi
fi
finish
