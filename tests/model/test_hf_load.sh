#!/bin/sh
# Every checkpoint loads as Hugging Face transformers loads it: short gpt,
# bert and t5 runs (t5 twice: relu with a tied head, gated-gelu untied), then
# hf_load.py rebuilds each model in plain PyTorch from config.json and
# model.safetensors alone and compares it with llmrt's generate, fill-mask
# and eval (and, where transformers is installed, also loads it with
# AutoModel*.from_pretrained). A reshard of a sharded checkpoint carries
# config.json too. Skips (77) when no python3 has torch (.ci/deps installs
# Debian's python3-torch).
. "$(dirname "$0")/../train/common.sh"
# The configured python3 first; Debian's python3-torch is in /usr/bin's
# python3, which another python3 earlier in PATH (pyenv) may hide.
PY=""
for p in "${PYTHON3:-}" python3 /usr/bin/python3; do
    if [ -n "$p" ] && "$p" -c 'import torch, numpy' >/dev/null 2>&1; then PY=$p; break; fi
done
if [ -z "$PY" ]; then
    echo "SKIP: no python3 here imports torch and numpy (${PYTHON3:-python3}, /usr/bin/python3)"
    exit 77
fi
HF="$LLMRT_TEST_SRCDIR/model/hf_load.py"
STEPS="--set train.steps=30 --set train.eval_every=0 --set train.checkpoint_every=30 --set train.lr=3e-3"

# name, then the run's settings
train_and_load() {
    name=$1
    shift
    # shellcheck disable=SC2086
    "$LLMRT_BIN" train "$TMP/tiny.ini" $STEPS --set train.out="$TMP/$name" "$@" \
        >"$TMP/$name.log" 2>&1 || { fail "$name run"; cat "$TMP/$name.log"; return; }
    [ -f "$TMP/$name/step-000030/config.json" ] && pass "$name: the checkpoint has config.json" \
        || fail "$name: no config.json"
    "$PY" "$HF" "$LLMRT_BIN" "$TMP/$name/step-000030" "$TMP/val.txt" >"$TMP/$name.hf" 2>&1 \
        && pass "$name: loads as Hugging Face does ($(grep -c '^PASS' "$TMP/$name.hf") checks)" \
        || fail "$name: hf_load.py"
    cat "$TMP/$name.hf"
}

train_and_load gpt --set model.context=32
train_and_load bert --set model.arch=bert --set model.vocab=260 --set model.context=64
train_and_load t5 --set model.arch=t5 --set model.vocab=264 --set model.context=32
train_and_load t5g --set model.arch=t5 --set model.vocab=264 --set model.context=32 \
    --set model.ff=gated-gelu --set model.tie_embeddings=false --set model.decoder_layers=1 \
    --set model.d_ff=48 --set model.relative_attention_num_buckets=8 \
    --set model.relative_attention_max_distance=20

# A sharded checkpoint, and its reshard: config.json in both, the same one.
"$LLMRT_BIN" train "$TMP/tiny.ini" --set train.steps=4 --set train.eval_every=0 \
    --set train.checkpoint_every=4 --set train.checkpoint_format=sharded \
    --set train.out="$TMP/sh" >"$TMP/sh.log" 2>&1 || { fail "sharded run"; cat "$TMP/sh.log"; }
"$LLMRT_BIN" ckpt reshard "$TMP/sh/step-000004" --world 2 -o "$TMP/rs" >"$TMP/rs.log" 2>&1 \
    && cmp -s "$TMP/sh/step-000004/config.json" "$TMP/rs/config.json" \
    && pass "sharded checkpoint and its reshard have config.json" \
    || { fail "reshard config.json"; cat "$TMP/rs.log"; }
# A checkpoint from before config.json: the reshard makes it from config.ini.
rm "$TMP/sh/step-000004/config.json"
"$LLMRT_BIN" ckpt reshard "$TMP/sh/step-000004" --world 2 -o "$TMP/rs2" >"$TMP/rs2.log" 2>&1 \
    && cmp -s "$TMP/rs/config.json" "$TMP/rs2/config.json" \
    && pass "reshard of a checkpoint without config.json makes it from config.ini" \
    || { fail "reshard without config.json"; cat "$TMP/rs2.log"; }
finish
