#!/bin/sh
# The mpi collective against MPI's own results: 1, 2, 3 and 4 ranks, a
# singleton start (no mpirun), chunked calls ([mpi] max_count = 64), abort()
# and an MPI error turned into an llmrt one.
. "$(dirname "$0")/../train/common.sh"
. "$(dirname "$0")/common.sh"
prog="$LLMRT_TEST_BUILDDIR/mpi/test_mpi_coll"
[ -x "$prog" ] || { echo "SKIP: $prog is not built"; exit 77; }

run() { # label, command...
    label=$1; shift
    if timeout 300 "$@" >"$TMP/out" 2>&1; then pass "$label: $(tail -1 "$TMP/out")"
    else fail "$label (exit $?)"; cat "$TMP/out"; fi
}
run "singleton" "$prog"
for n in 1 2 3 4; do
    run "mpirun -np $n" $MPIRUN -np $n "$prog"
done
# Chunks of 64 elements: sizes 1000 and 4099 split into 16 and 65 calls with
# remainders of 40 and 3. (Chunks of 3 made 1366 calls of 4099 and, with three
# oversubscribed ranks polling beside other tests on 2 cores, ran past the
# 300 s guard.)
run "mpirun -np 3, chunks of 64 elements" $MPIRUN -np 3 "$prog" max_count=64
# abort() from one rank ends every rank, after logging the reason.
timeout 30 $MPIRUN -np 3 "$prog" --abort >"$TMP/out" 2>&1; rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "rank 2 of 3: aborting the job: test abort" "$TMP/out"; then
    pass "abort from rank 2 ends the job (exit $rc) with the reason logged"
else fail "abort: exit $rc"; cat "$TMP/out"; fi
# An MPI error (counts that break rule 2) is an llmrt error naming rank and call.
timeout 30 $MPIRUN -np 2 "$prog" --mismatch >"$TMP/out" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q "rank 1 of 2: broadcast of 4 i32 failed: MPI_ERR" "$TMP/out"; then
    pass "MPI error: $(grep "broadcast of 4 i32 failed" "$TMP/out" | head -1)"
else fail "MPI error: exit $rc"; cat "$TMP/out"; fi
finish
