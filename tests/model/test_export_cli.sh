#!/bin/sh
# `llmrt export` end to end: a short int8 QAT run, its int8 export (I8
# linear weights: the file is well under half the fp32 checkpoint), `llmrt
# eval` of the export, and the command's errors.
. "$(dirname "$0")/../train/common.sh"

"$LLMRT_BIN" train "$TMP/tiny.ini" --set train.out="$TMP/q" --set train.steps=6 \
    --set train.eval_every=0 --set train.checkpoint_every=6 --set runtime.format=int8 \
    >"$TMP/q.log" 2>&1 && pass "int8 QAT run" || { fail "int8 QAT run"; cat "$TMP/q.log"; }

"$LLMRT_BIN" export --checkpoint "$TMP/q" --out "$TMP/q-int8.safetensors" >"$TMP/x.out" 2>&1 \
    && [ -f "$TMP/q-int8.safetensors" ] && grep -q '^int8 weights 8 tensors' "$TMP/x.out" \
    && pass "export" || { fail "export"; cat "$TMP/x.out"; }
ckpt=$(wc -c < "$TMP/q/step-000006/model.safetensors")
export_bytes=$(wc -c < "$TMP/q-int8.safetensors")
# 2 layers, C 32: 24,576 linear weights of 35,264 parameters (plus 288 steps):
# fp32 ~141 KB, int8 export ~67 KB.
[ $((export_bytes * 2)) -lt "$ckpt" ] && pass "export $export_bytes bytes < half of $ckpt" \
    || fail "export $export_bytes bytes, checkpoint $ckpt"
grep -q '"llmrt.export":"int8"' "$TMP/q-int8.safetensors" && pass "export metadata" \
    || fail "no llmrt.export metadata"
grep -q '"transformer.h.0.attn.c_attn.weight":{"dtype":"I8","shape":\[32,96\]' \
    "$TMP/q-int8.safetensors" && pass "c_attn weight is I8 [32, 96]" || fail "c_attn weight not I8"

# eval from the export (in place of the checkpoint's weights): the
# dequantized weights are fake_quant(w, s) exactly, so the loss is the QAT
# model's, whether the export is loaded into a QAT model (int8) or a plain
# fp32 one.
cp -r "$TMP/q/step-000006" "$TMP/e" && cp "$TMP/q-int8.safetensors" "$TMP/e/model.safetensors"
qat_loss=$("$LLMRT_BIN" eval --checkpoint "$TMP/q/step-000006" --batches 4 2>&1 | grep '^loss ')
int8_loss=$("$LLMRT_BIN" eval --checkpoint "$TMP/e" --batches 4 2>&1 | grep '^loss ')
fp32_loss=$("$LLMRT_BIN" eval --checkpoint "$TMP/e" --batches 4 --set runtime.format=fp32 2>&1 \
    | grep '^loss ')
[ -n "$qat_loss" ] && [ "$qat_loss" = "$int8_loss" ] && [ "$qat_loss" = "$fp32_loss" ] \
    && pass "eval of the export = eval of the QAT checkpoint ($qat_loss)" \
    || fail "eval: QAT '$qat_loss', export int8 '$int8_loss', export fp32 '$fp32_loss'"

# Errors: no --out; a checkpoint trained without QAT.
"$LLMRT_BIN" export --checkpoint "$TMP/q" >"$TMP/e1" 2>&1
[ $? -eq 2 ] && grep -q -- '--out' "$TMP/e1" && pass "no --out: usage error" \
    || { fail "no --out"; cat "$TMP/e1"; }
"$LLMRT_BIN" train "$TMP/tiny.ini" --set train.out="$TMP/f" --set train.steps=3 \
    --set train.eval_every=0 --set train.checkpoint_every=3 >"$TMP/f.log" 2>&1 \
    || { fail "fp32 run"; cat "$TMP/f.log"; }
"$LLMRT_BIN" export --checkpoint "$TMP/f" --out "$TMP/f-int8.safetensors" >"$TMP/e2" 2>&1
[ $? -eq 1 ] && grep -q 'quantization-aware' "$TMP/e2" && [ ! -e "$TMP/f-int8.safetensors" ] \
    && pass "fp32 checkpoint refused" || { fail "fp32 checkpoint"; cat "$TMP/e2"; }
finish
