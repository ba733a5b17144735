#!/bin/sh
# [model] arch = bert end to end: a short MLM run whose validation loss
# falls, its checkpoint in BertForMaskedLM names and shapes, a resumed run
# that repeats the uninterrupted one exactly (the masking RNG is in the
# checkpoint), `llmrt eval` (MLM loss and accuracy), `llmrt fill-mask`,
# training in bf16, fp16 and int8 QAT (and QAT's checkpoint, eval, fill-mask,
# the export's refusal), and the errors (generate on bert, mask keys on gpt,
# a vocab without specials).
. "$(dirname "$0")/common.sh"

BERT="--set model.arch=bert --set model.vocab=260 --set model.context=32 --set train.lr=3e-3"
# shellcheck disable=SC2086
"$LLMRT_BIN" train "$TMP/tiny.ini" $BERT --set train.out="$TMP/b" --set train.steps=60 \
    --set train.eval_every=20 --set train.checkpoint_every=60 >"$TMP/b.log" 2>&1 \
    && pass "bert run" || { fail "bert run"; cat "$TMP/b.log"; }
first=$(losses "$TMP/b/metrics.jsonl" | awk '$2 != "null" { print $2; exit }')
last=$(losses "$TMP/b/metrics.jsonl" | awk '$2 != "null" { v = $2 } END { print v }')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.3) }' \
    && pass "MLM val loss falls: $first -> $last" || fail "MLM val loss $first -> $last"
grep -q '"bert.encoder.layer.0.attention.self.query.weight":{"dtype":"F32","shape":\[32,32\]' \
    "$TMP/b/step-000060/model.safetensors" && grep -q '"cls.predictions.bias":{"dtype":"F32","shape":\[260\]' \
    "$TMP/b/step-000060/model.safetensors" && grep -q '"llmrt.arch":"bert"' "$TMP/b/step-000060/model.safetensors" \
    && pass "checkpoint in BertForMaskedLM names and shapes" || fail "checkpoint names"

# Resume: 10 + 10 steps give the losses of 20 straight.
# shellcheck disable=SC2086
"$LLMRT_BIN" train "$TMP/tiny.ini" $BERT --set train.out="$TMP/r1" --set train.steps=20 \
    --set train.eval_every=0 --set train.checkpoint_every=10 >"$TMP/r1.log" 2>&1 \
    || { fail "bert 20 steps"; cat "$TMP/r1.log"; }
cp -r "$TMP/r1" "$TMP/r2" && rm -rf "$TMP/r2/step-000020" && echo "step-000010" > "$TMP/r2/latest"
# shellcheck disable=SC2086
"$LLMRT_BIN" train "$TMP/tiny.ini" $BERT --set train.out="$TMP/r2" --set train.steps=20 \
    --set train.eval_every=0 --set train.checkpoint_every=10 --set train.resume=auto \
    >"$TMP/r2.log" 2>&1 || { fail "bert resume"; cat "$TMP/r2.log"; }
cmp -s "$TMP/r1/step-000020/model.safetensors" "$TMP/r2/step-000020/model.safetensors" \
    && [ "$(losses "$TMP/r1/metrics.jsonl")" = "$(losses "$TMP/r2/metrics.jsonl")" ] \
    && pass "resumed bert run = uninterrupted (weights and losses bit-identical)" \
    || fail "resumed bert run differs"

# shellcheck disable=SC2086
"$LLMRT_BIN" eval "$TMP/tiny.ini" $BERT --checkpoint "$TMP/b" --batches 8 >"$TMP/e.out" 2>&1
grep -q '^mlm_loss ' "$TMP/e.out" && grep -q '^mlm_accuracy 0\.[0-9]*' "$TMP/e.out" \
    && pass "eval: $(grep mlm_accuracy "$TMP/e.out")" || { fail "eval"; cat "$TMP/e.out"; }
# shellcheck disable=SC2086
"$LLMRT_BIN" fill-mask "$TMP/tiny.ini" $BERT --checkpoint "$TMP/b" \
    --prompt "the number 12 is e[MASK]en and" >"$TMP/f.out" 2>&1
sed -n 1p "$TMP/f.out" | grep -q '^the number 12 is e.*en and$' \
    && grep -q '^mask at 18: byte [0-9]' "$TMP/f.out" \
    && pass "fill-mask: $(sed -n 1p "$TMP/f.out")" || { fail "fill-mask"; cat "$TMP/f.out"; }

# Every format: bf16, fp16 (dynamic loss scaling) and int8 QAT train the
# encoder: every loss finite, the validation loss falls as in fp32.
for f in bf16 fp16 int8; do
    # shellcheck disable=SC2086
    "$LLMRT_BIN" train "$TMP/tiny.ini" $BERT --set runtime.format=$f --set train.out="$TMP/f-$f" \
        --set train.steps=60 --set train.eval_every=20 --set train.checkpoint_every=60 \
        >"$TMP/f-$f.log" 2>&1 || { fail "bert $f run"; tail -5 "$TMP/f-$f.log"; continue; }
    first=$(losses "$TMP/f-$f/metrics.jsonl" | awk '$2 != "null" { print $2; exit }')
    last=$(losses "$TMP/f-$f/metrics.jsonl" | awk '$2 != "null" { v = $2 } END { print v }')
    if losses "$TMP/f-$f/metrics.jsonl" | grep -qiE 'nan|inf'; then
        fail "bert $f: a loss or norm is not finite"
    else
        awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.3) }' \
            && pass "bert $f: finite, MLM val loss falls: $first -> $last" \
            || fail "bert $f: MLM val loss $first -> $last"
    fi
done
# The QAT checkpoint carries the learned step sizes beside the weights; eval
# and fill-mask run the fake-quantized model; the int8 export is gpt-only
# and says so; an fp32 bert checkpoint starts a QAT run (LSQ's initial steps
# from its weights).
Q="$TMP/f-int8/step-000060/model.safetensors"
grep -q '"bert.encoder.layer.1.intermediate.dense.weight_scale":{"dtype":"F32","shape":\[128\]' "$Q" \
    && grep -q '"bert.encoder.layer.0.attention.self.query.weight_scale":{"dtype":"F32","shape":\[32\]' "$Q" \
    && ! grep -q 'cls.predictions.transform.dense.weight_scale' "$Q" \
    && pass "QAT checkpoint: step sizes of the blocks' linear weights only" \
    || fail "QAT checkpoint step sizes"
# shellcheck disable=SC2086
"$LLMRT_BIN" eval "$TMP/tiny.ini" $BERT --set runtime.format=int8 --checkpoint "$TMP/f-int8" \
    --batches 4 >"$TMP/qe.out" 2>&1 && grep -q '^mlm_accuracy 0\.[0-9]*' "$TMP/qe.out" \
    && pass "eval of the QAT checkpoint: $(grep mlm_loss "$TMP/qe.out")" || { fail "QAT eval"; cat "$TMP/qe.out"; }
# shellcheck disable=SC2086
"$LLMRT_BIN" fill-mask "$TMP/tiny.ini" $BERT --set runtime.format=int8 --checkpoint "$TMP/f-int8" \
    --prompt "the number [MASK]2 is" >"$TMP/qf.out" 2>&1 && grep -q '^mask at 11: byte' "$TMP/qf.out" \
    && pass "fill-mask with QAT: $(sed -n 1p "$TMP/qf.out")" || { fail "QAT fill-mask"; cat "$TMP/qf.out"; }
# shellcheck disable=SC2086
"$LLMRT_BIN" export "$TMP/tiny.ini" $BERT --set runtime.format=int8 --checkpoint "$TMP/f-int8" \
    --out "$TMP/q.safetensors" >"$TMP/qx.out" 2>&1
[ $? -eq 1 ] && grep -q 'implemented for model.arch = gpt only' "$TMP/qx.out" && [ ! -e "$TMP/q.safetensors" ] \
    && pass "export of a bert QAT checkpoint refused: gpt only" || { fail "bert export"; cat "$TMP/qx.out"; }
# shellcheck disable=SC2086
"$LLMRT_BIN" train "$TMP/tiny.ini" $BERT --set runtime.format=int8 --set train.out="$TMP/qi" \
    --set train.steps=5 --set train.eval_every=0 \
    --set train.init_from="$TMP/b/step-000060/model.safetensors" >"$TMP/qi.log" 2>&1 \
    && pass "an fp32 bert checkpoint starts a QAT run" || { fail "fp32 -> QAT"; tail -5 "$TMP/qi.log"; }

# Errors.
# shellcheck disable=SC2086
"$LLMRT_BIN" generate "$TMP/tiny.ini" $BERT --checkpoint "$TMP/b" --tokens 3 >"$TMP/g.out" 2>&1
[ $? -eq 1 ] && grep -q 'fill-mask' "$TMP/g.out" && pass "generate refuses bert" \
    || { fail "generate on bert"; cat "$TMP/g.out"; }
"$LLMRT_BIN" fill-mask "$TMP/tiny.ini" $BERT --checkpoint "$TMP/b" --prompt "no mask" \
    >"$TMP/n.out" 2>&1
[ $? -eq 2 ] && pass "fill-mask without [MASK]: usage error" || { fail "no mask"; cat "$TMP/n.out"; }
"$LLMRT_BIN" train "$TMP/tiny.ini" --set model.arch=bert --set train.out="$TMP/v" \
    >"$TMP/v.out" 2>&1
[ $? -ne 0 ] && grep -q 'model.vocab = 256: bert needs at least 260' "$TMP/v.out" \
    && pass "bert with vocab 256 refused" || { fail "vocab 256"; cat "$TMP/v.out"; }
"$LLMRT_BIN" train "$TMP/tiny.ini" --set model.mask_prob=0.2 --set train.out="$TMP/m" \
    >"$TMP/m.out" 2>&1
[ $? -ne 0 ] && grep -q 'mask_prob' "$TMP/m.out" && pass "mask_prob with gpt refused" \
    || { fail "mask_prob on gpt"; cat "$TMP/m.out"; }
finish
