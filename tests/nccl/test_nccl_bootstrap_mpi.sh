#!/bin/sh
# The nccl bootstrap's mpi method under mpirun -np 3: every rank gets rank
# 0's blob, MPI's rank and size, and (one host) local rank = rank. Skips (77)
# without mpirun or where the test was built without MPI.
set -u
: "${MPIRUN:=mpirun --allow-run-as-root --oversubscribe}"
: "${LLMRT_TEST_BUILDDIR:?run through make check}"
prog="$LLMRT_TEST_BUILDDIR/nccl/test_nccl_bootstrap"
command -v ${MPIRUN%% *} >/dev/null 2>&1 || { echo "SKIP: ${MPIRUN%% *} not found"; exit 77; }
[ -x "$prog" ] || { echo "SKIP: $prog is not built"; exit 77; }
out=$(mktemp "${TMPDIR:-/tmp}/llmrt-boot-mpi.XXXXXX")
trap 'rm -f "$out"' EXIT
# shellcheck disable=SC2086
timeout 120 $MPIRUN -np 3 "$prog" --mpi >"$out" 2>&1
rc=$?
cat "$out"
grep -q "SKIP: built without MPI" "$out" && exit 77
if [ $rc -eq 0 ] && grep -q "mpi bootstrap: 3 ranks agree on the blob" "$out"; then
    echo "PASS: mpi bootstrap under mpirun -np 3"
    exit 0
fi
echo "FAIL: mpi bootstrap under mpirun -np 3 (exit $rc)"
exit 1
