#!/bin/sh
# Resuming from a checkpoint gives bit-identical parameters and optimizer
# state to a run that was never interrupted; the same config and seed give
# bit-identical losses.
. "$(dirname "$0")/common.sh"

"$LLMRT_BIN" train "$TMP/tiny.ini" --set train.out="$TMP/a" --set train.checkpoint_every=10 >"$TMP/a.log" 2>&1 \
    && pass "uninterrupted run" || { fail "uninterrupted run"; cat "$TMP/a.log"; }
"$LLMRT_BIN" train "$TMP/tiny.ini" --set train.out="$TMP/b" --set train.checkpoint_every=10 >"$TMP/b.log" 2>&1 \
    && pass "second run" || fail "second run"
if [ "$(losses "$TMP/a/metrics.jsonl")" = "$(losses "$TMP/b/metrics.jsonl")" ]; then
    pass "same config and seed: identical losses"
else
    fail "same config and seed: losses differ"
fi
cmp -s "$TMP/a/step-000020/model.safetensors" "$TMP/b/step-000020/model.safetensors" \
    && pass "same config and seed: identical weights" || fail "weights differ between identical runs"

# Interrupt b after its step-10 checkpoint: drop what came later, resume.
rm -rf "$TMP/b/step-000020"
echo "step-000010" > "$TMP/b/latest"
"$LLMRT_BIN" train "$TMP/tiny.ini" --set train.out="$TMP/b" --set train.checkpoint_every=10 \
    --set train.resume=auto >"$TMP/b2.log" 2>&1 && pass "resume" || { fail "resume"; cat "$TMP/b2.log"; }
for f in model.safetensors optimizer.safetensors; do
    cmp -s "$TMP/a/step-000020/$f" "$TMP/b/step-000020/$f" \
        && pass "resumed $f is bit-identical" || fail "resumed $f differs"
done
[ "$(losses "$TMP/a/metrics.jsonl")" = "$(losses "$TMP/b/metrics.jsonl")" ] \
    && pass "resumed metrics.jsonl continues the run exactly" || fail "resumed losses differ"
[ "$(wc -l < "$TMP/b/metrics.jsonl")" -eq 20 ] && pass "metrics.jsonl has 20 records" \
    || fail "metrics.jsonl has $(wc -l < "$TMP/b/metrics.jsonl") records, not 20"

# eval and generate read the checkpoint directory alone.
"$LLMRT_BIN" eval --checkpoint "$TMP/a" >"$TMP/eval.out" 2>&1 && grep -q '^loss ' "$TMP/eval.out" \
    && pass "eval" || { fail "eval"; cat "$TMP/eval.out"; }
"$LLMRT_BIN" generate --checkpoint "$TMP/a/step-000020" --prompt "the number" --tokens 20 --seed 3 >"$TMP/g1" 2>&1 \
    && "$LLMRT_BIN" generate --checkpoint "$TMP/a/step-000020" --prompt "the number" --tokens 20 --seed 3 >"$TMP/g2" 2>&1 \
    && cmp -s "$TMP/g1" "$TMP/g2" && [ "$(head -c 10 "$TMP/g1")" = "the number" ] \
    && pass "generate is reproducible with a seed" || { fail "generate"; cat "$TMP/g1"; }

# A Hugging Face style weights file starts a new run (init_from).
"$LLMRT_BIN" train "$TMP/tiny.ini" --set train.out="$TMP/c" --set train.steps=3 \
    --set train.init_from="$TMP/a/step-000020/model.safetensors" >"$TMP/c.log" 2>&1 \
    && pass "init_from" || { fail "init_from"; cat "$TMP/c.log"; }
finish
