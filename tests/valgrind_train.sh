#!/bin/sh
# A 3-step training run, checkpoint, eval and generate under the command in $1
# (valgrind from make check-valgrind).
. "$(dirname "$0")/train/common.sh"
run="$1"
$run "$LLMRT_BIN" train "$TMP/tiny.ini" --set train.steps=3 --set train.warmup=1 \
    --set train.eval_every=2 --set train.eval_batches=1 >"$TMP/v.log" 2>&1 \
    && pass "train" || { fail "train"; cat "$TMP/v.log"; }
$run "$LLMRT_BIN" generate --checkpoint "$TMP/run" --tokens 5 >"$TMP/g.log" 2>&1 \
    && pass "generate" || { fail "generate"; cat "$TMP/g.log"; }
finish
