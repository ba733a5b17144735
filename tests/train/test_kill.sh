#!/bin/sh
# A run killed at any moment (SIGKILL) leaves the previous checkpoint intact:
# `latest` names a complete checkpoint, which eval loads and resume continues.
. "$(dirname "$0")/common.sh"

cfg="$TMP/tiny.ini"
for delay in 0.3 0.7 1.1 1.6 2.2; do
    "$LLMRT_BIN" train "$cfg" --set train.out="$TMP/k" --set train.steps=100000 \
        --set train.checkpoint_every=1 --set train.keep=3 --set train.resume=auto >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    latest=$(cat "$TMP/k/latest" 2>/dev/null)
    if [ -n "$latest" ] && [ -f "$TMP/k/$latest/state.json" ] && [ -f "$TMP/k/$latest/model.safetensors" ]; then
        if "$LLMRT_BIN" eval --checkpoint "$TMP/k" --batches 1 >"$TMP/e.log" 2>&1; then
            pass "killed after ${delay}s: $latest loads"
        else
            fail "killed after ${delay}s: $latest does not load: $(cat "$TMP/e.log")"
        fi
    elif [ -z "$latest" ]; then
        pass "killed after ${delay}s before the first checkpoint"
    else
        fail "killed after ${delay}s: latest names incomplete $latest"
    fi
done
finish
