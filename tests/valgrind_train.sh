#!/bin/sh
# 3-step training runs (gpt, t5 with lr_scale = rms, t5 int8 QAT, bert), checkpoints
# (config.json too), eval and
# generate under the command in $1
# (valgrind from make check-valgrind).
. "$(dirname "$0")/train/common.sh"
run="$1"
$run "$LLMRT_BIN" train "$TMP/tiny.ini" --set train.steps=3 --set train.warmup=1 \
    --set train.eval_every=2 --set train.eval_batches=1 >"$TMP/v.log" 2>&1 \
    && pass "train" || { fail "train"; cat "$TMP/v.log"; }
$run "$LLMRT_BIN" generate --checkpoint "$TMP/run" --tokens 5 >"$TMP/g.log" 2>&1 \
    && pass "generate" || { fail "generate"; cat "$TMP/g.log"; }
$run "$LLMRT_BIN" train "$TMP/tiny.ini" --set model.arch=t5 --set model.vocab=264 \
    --set model.context=16 --set train.lr_scale=rms --set train.steps=3 --set train.warmup=1 \
    --set train.eval_every=2 --set train.eval_batches=1 --set train.out="$TMP/t5" \
    >"$TMP/t5.log" 2>&1 && pass "train t5, lr_scale = rms" || { fail "train t5"; cat "$TMP/t5.log"; }
$run "$LLMRT_BIN" generate --checkpoint "$TMP/t5" --tokens 5 --prompt 'ab<extra_id_0>d' \
    >"$TMP/t5g.log" 2>&1 && pass "generate t5" || { fail "generate t5"; cat "$TMP/t5g.log"; }
$run "$LLMRT_BIN" train "$TMP/tiny.ini" --set model.arch=t5 --set model.vocab=264 \
    --set model.context=16 --set runtime.format=int8 --set train.steps=2 --set train.warmup=1 \
    --set train.eval_every=0 --set train.out="$TMP/t5q" >"$TMP/t5q.log" 2>&1 \
    && pass "train t5, int8 QAT" || { fail "train t5 int8"; cat "$TMP/t5q.log"; }
$run "$LLMRT_BIN" train "$TMP/tiny.ini" --set model.arch=bert --set model.vocab=260 \
    --set train.steps=3 --set train.warmup=1 --set train.eval_every=2 \
    --set train.eval_batches=1 --set train.out="$TMP/bert" >"$TMP/bert.log" 2>&1 \
    && pass "train bert" || { fail "train bert"; cat "$TMP/bert.log"; }
finish
