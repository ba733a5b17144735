#!/bin/sh
# Deadlines of the mpi collective ([runtime] timeout_s): a blocking call on
# rank 0 whose peer never joins fails within the timeout plus a margin with a
# message naming the collective, count, rank and seconds, and the job ends;
# works released before completion are waited for and freed (valgrind: no
# block the plugin allocated is lost, no invalid access).
. "$(dirname "$0")/../train/common.sh"
. "$(dirname "$0")/common.sh"
prog="$LLMRT_TEST_BUILDDIR/mpi/test_mpi_deadline"
[ -x "$prog" ] || { echo "SKIP: $prog is not built"; exit 77; }
T=1

# 1. Stall: 5 blocking collectives and an asynchronous wait time out on rank 0.
start=$(date +%s)
timeout 90 $MPIRUN -np 2 "$prog" --stall $T >"$TMP/stall" 2>&1
rc=$?
took=$(($(date +%s) - start))
if grep -q "^stall: [0-9]* checks on rank 0, 0 failed" "$TMP/stall"; then
    pass "rank 0: $(grep "^stall:" "$TMP/stall")"
else fail "stall checks on rank 0"; cat "$TMP/stall"; fi
n=$(grep -c "^rank 0: blocking .* timed out after" "$TMP/stall")
[ "$n" -eq 5 ] && pass "5 blocking collectives timed out: $(grep "blocking allreduce timed out" "$TMP/stall")" \
    || fail "$n of 5 blocking collectives reported a timeout"
# 6 timeouts of T s, start-up and shutdown: the job must end, not hang.
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -le $((6 * T + 30)) ]; then
    pass "the job ended in $took s (exit $rc)"
else fail "the job: exit $rc after $took s"; cat "$TMP/stall"; fi
grep -q "rank 0 of 2: 6 collective(s) never completed; leaving without MPI_Finalize" "$TMP/stall" \
    && pass "rank 0 left without MPI_Finalize, with its reason logged" \
    || { fail "no message about the requests that never completed"; cat "$TMP/stall"; }

# 1b. The same with calls cut into chunks of 300 elements: a blocking call
# waits chunk by chunk, and the first chunk's wait times out.
timeout 90 $MPIRUN -np 2 "$prog" --stall $T max_count=300 >"$TMP/stall2" 2>&1
if grep -q "^stall: [0-9]* checks on rank 0, 0 failed" "$TMP/stall2" &&
   [ "$(grep -c "^rank 0: blocking .* timed out after" "$TMP/stall2")" -eq 5 ]; then
    pass "chunked: $(grep "blocking reduce_scatter timed out" "$TMP/stall2")"
else fail "stall with max_count=300"; cat "$TMP/stall2"; fi

# 2. Early release: rank 0 releases unfinished works; each release waits.
if timeout 60 $MPIRUN -np 2 "$prog" --early-release >"$TMP/early" 2>&1 &&
   [ "$(grep -c -- "--early-release: [0-9]* checks, 0 failed" "$TMP/early")" -eq 2 ]; then
    pass "early release: $(grep "release of an unfinished allreduce" "$TMP/early")"
else fail "early release"; cat "$TMP/early"; fi

# 3. The same under valgrind: what the plugin allocates is freed. (Open MPI
# itself loses blocks in MPI_Init; only blocks allocated directly by mpi.c count.)
real="$LLMRT_TEST_BUILDDIR/mpi/.libs/test_mpi_deadline"
[ -f "$real" ] || real=$prog
if ! command -v valgrind >/dev/null 2>&1 || grep -q __asan_init "$real"; then
    echo "SKIP (part): no valgrind, or a sanitizer build (valgrind cannot run it)"
    finish
    exit $?
fi
mkdir "$TMP/vg"
timeout 300 $MPIRUN -np 2 "$LLMRT_TEST_BUILDDIR/../libtool" --mode=execute valgrind \
    --leak-check=full --show-leak-kinds=definite --log-file="$TMP/vg/vg.%p" \
    "$prog" --early-release >"$TMP/vg.out" 2>&1
rc=$?
logs=$(grep -l "LEAK SUMMARY" "$TMP"/vg/vg.* 2>/dev/null | wc -l)
if [ $rc -eq 0 ] && [ "$logs" -eq 2 ]; then pass "early release under valgrind (2 ranks ran to the end)"
else fail "early release under valgrind: exit $rc, $logs complete logs"; cat "$TMP/vg.out"; fi
awk '
    /are definitely lost in loss record/ { rec = $0; first = ""; inrec = 1; next }
    inrec && /^==[0-9]+== *$/ { if (first ~ /\(mpi\.c:/) print rec "\n"; inrec = 0; next }
    inrec && first == "" && / by 0x/ { first = $0 }
    inrec { rec = rec "\n" $0 }' "$TMP"/vg/vg.* >"$TMP/lost"
if [ ! -s "$TMP/lost" ]; then pass "valgrind: no block allocated by the plugin is lost"
else fail "valgrind: blocks allocated by the plugin are lost"; cat "$TMP/lost"; fi
if grep -q "Invalid read\|Invalid write\|Invalid free" "$TMP"/vg/vg.*; then
    fail "valgrind: invalid accesses"; grep -A8 "Invalid" "$TMP"/vg/vg.* | head -40
else pass "valgrind: no invalid read, write or free"; fi
finish
