#!/bin/sh
# ddp over the mpi collective trains the model a single process trains.
#
# With W ranks of batch B, rank r reads batch slot j*W + r of the stream
# (core/data.h): at step j the 2 ranks of batch 2 read batches 2j and 2j+1,
# which are exactly the two micro-batches of step j of one process with
# batch 2 and accum 2 (and, row for row, one process's batch 4). The sums
# are the same but grouped differently (accumulation inside the gradient
# kernels against an allreduce of whole gradients), so the weights agree
# within rounding, not bit for bit: the test allows 1e-5 relative.
. "$(dirname "$0")/../train/common.sh"
. "$(dirname "$0")/common.sh"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
cmp_py="$LLMRT_TEST_SRCDIR/mpi/compare_weights.py"
cfg="$TMP/tiny.ini"
common="--set train.steps=12 --set train.eval_every=0 --set train.batch=2"

timeout 120 "$LLMRT_BIN" train "$cfg" $common --set train.accum=2 --set train.out="$TMP/one" \
    >"$TMP/one.log" 2>&1 || { cat "$TMP/one.log"; fail "1 rank, accum 2"; finish; exit 1; }
timeout 120 $MPIRUN -np 2 "$LLMRT_BIN" train "$cfg" $common --set runtime.collective=mpi \
    --set train.out="$TMP/two" >"$TMP/two.log" 2>&1 || { cat "$TMP/two.log"; fail "2 ranks"; finish; exit 1; }
grep -q "x 2, mpi, ddp" "$TMP/two.log" && pass "2 ranks report world 2 over mpi" \
    || { fail "2 ranks: no 'cpu x 2, mpi, ddp' banner"; cat "$TMP/two.log"; }
a="$TMP/one/$(cat "$TMP/one/latest" 2>/dev/null)/model.safetensors"
b="$TMP/two/$(cat "$TMP/two/latest" 2>/dev/null)/model.safetensors"
[ -f "$a" ] && [ -f "$b" ] || { fail "missing checkpoints: $(ls "$TMP/one" "$TMP/two")"; finish; exit 1; }
if out=$(python3 "$cmp_py" "$a" "$b" 1e-5); then pass "2 ranks x batch 2 = 1 rank x batch 2 x accum 2: $out"
else fail "2 ranks x batch 2 vs 1 rank x accum 2: $out"; fi
# One process of batch 4 reads the same rows (2 ranks' rows stacked).
timeout 120 "$LLMRT_BIN" train "$cfg" $common --set train.batch=4 --set train.out="$TMP/four" \
    >"$TMP/four.log" 2>&1 || { cat "$TMP/four.log"; fail "1 rank, batch 4"; }
c="$TMP/four/$(cat "$TMP/four/latest" 2>/dev/null)/model.safetensors"
if out=$(python3 "$cmp_py" "$c" "$b" 1e-5); then pass "2 ranks x batch 2 = 1 rank x batch 4: $out"
else fail "2 ranks x batch 2 vs 1 rank x batch 4: $out"; fi
# The step losses agree too (rank 0 logs the mean over ranks).
l1=$(losses "$TMP/one/metrics.jsonl" | awk 'END { print $1 }')
l2=$(losses "$TMP/two/metrics.jsonl" | awk 'END { print $1 }')
if awk -v a="$l1" -v b="$l2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-5 * (a < 0 ? -a : a)) }'; then
    pass "final loss $l1 (1 rank) = $l2 (2 ranks)"
else fail "final loss $l1 (1 rank) != $l2 (2 ranks)"; fi
# A single process with the mpi plugin (singleton MPI_Init, no mpirun).
if timeout 60 "$LLMRT_BIN" train "$cfg" --set train.steps=3 --set train.eval_every=0 \
    --set runtime.collective=mpi --set train.out="$TMP/single" >"$TMP/single.log" 2>&1; then
    pass "singleton start (no mpirun) with runtime.collective=mpi"
else fail "singleton start"; cat "$TMP/single.log"; fi
finish
