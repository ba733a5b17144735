#!/bin/sh
# One rank of a 3-rank ddp run over mpi killed with SIGKILL mid-run: every
# rank ends within 30 s with mpirun's message, never a hang. Then a rank that
# fails with an error instead of dying.
. "$(dirname "$0")/../train/common.sh"
. "$(dirname "$0")/common.sh"
cfg="$TMP/tiny.ini"
start=$(date +%s)
timeout 60 $MPIRUN -np 3 "$LLMRT_BIN" train "$cfg" --set runtime.collective=mpi \
    --set train.steps=1000000 --set train.eval_every=0 --set train.out="$TMP/k" >"$TMP/k.log" 2>&1 &
job=$!
# Wait for the ranks to be training (rank 0's banner), then kill rank 1's process.
i=0
while [ $i -lt 200 ] && ! grep -q "training" "$TMP/k.log" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
sleep 1
# timeout -> mpirun -> the 3 ranks; the victim is one of mpirun's children.
launcher=$(pgrep -P $job | head -1)
victim=$(pgrep -P "${launcher:-0}" -f "train $cfg" | sort -n | sed -n 2p)
if [ -z "$victim" ]; then fail "no rank to kill"; cat "$TMP/k.log"; kill $job; finish; exit 1; fi
killed=$(date +%s)
kill -9 "$victim"
wait $job
rc=$?
end=$(date +%s)
if [ $rc -eq 124 ]; then fail "the job hung: still running 60 s after the start"
elif [ $((end - killed)) -le 30 ]; then pass "every rank ended $((end - killed)) s after the kill (exit $rc)"
else fail "ranks ended $((end - killed)) s after the kill"; fi
[ $rc -ne 0 ] && pass "the job failed (exit $rc)" || fail "the job exited 0"
if grep -qi "signal 9\|killed\|exited on signal" "$TMP/k.log"; then
    pass "message: $(grep -i "signal 9\|killed\|exited on signal" "$TMP/k.log" | head -1)"
else fail "no message about the killed rank"; cat "$TMP/k.log"; fi
left=$(pgrep -f "train $cfg" | wc -l)
[ "$left" -eq 0 ] && pass "no rank left running" || fail "$left ranks left running"

# A rank that fails (its data file is missing) while the others train: it
# reports its own error, and the job ends within the collective timeout.
start=$(date +%s)
set -- "$LLMRT_BIN" train "$cfg" --set runtime.collective=mpi --set runtime.timeout_s=3 \
    --set train.eval_every=0 --set train.out="$TMP/f"
timeout 60 $MPIRUN -np 1 "$@" : -np 1 "$@" --set data.train="$TMP/missing.txt" >"$TMP/f.log" 2>&1
rc=$?
took=$(($(date +%s) - start))
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -le 30 ]; then pass "a failing rank ends the job in $took s (exit $rc)"
else fail "a failing rank: exit $rc after $took s"; cat "$TMP/f.log"; fi
grep -q "missing.txt: cannot open" "$TMP/f.log" && pass "the failing rank's own error is printed" \
    || { fail "no error from the failing rank"; cat "$TMP/f.log"; }
finish
