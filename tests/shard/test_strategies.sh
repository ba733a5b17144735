#!/bin/sh
# At world size 1 with the local collective every strategy trains the tiny
# model bit-identically to ddp: the same losses and gradient norms every step
# and the same final weights. With gradient accumulation too (stage 2/3 keep
# their full gradient buffers across micro-batches).
. "$(dirname "$0")/../train/common.sh"

STRATS="ddp zero:1 zero:2 zero:3 zero:3:prefetch=0 zero:3:prefetch=3 fsdp:full fsdp:grad_op
fsdp:hybrid fsdp:full:max_inflight=1 fsdp:full:forward_prefetch=false:backward_prefetch=false
ddp:bucket_bytes=1"

# The --set arguments of a strategy spec name[:stage-or-sharding][:key=value...]
sets() {
    name=${1%%:*}
    rest=${1#"$name"}
    out="--set runtime.strategy=$name"
    for part in $(echo "$rest" | tr ':' ' '); do
        case "$part" in
        *=*) out="$out --set $name.$part" ;;
        1|2|3) out="$out --set zero.stage=$part" ;;
        *) out="$out --set fsdp.sharding=$part" ;;
        esac
    done
    echo "$out"
}

for accum in 1 3; do
    ref=""
    for s in $STRATS; do
        dir="$TMP/$(echo "$s" | tr ':=' '__')-a$accum"
        # shellcheck disable=SC2046
        if "$LLMRT_BIN" train "$TMP/tiny.ini" --set train.out="$dir" --set train.steps=6 \
            --set train.accum=$accum --set train.eval_every=0 $(sets "$s") >"$dir.log" 2>&1; then
            pass "$s (accum $accum) trains"
        else
            fail "$s (accum $accum) trains"
            cat "$dir.log"
            continue
        fi
        if [ -z "$ref" ]; then ref=$dir; continue; fi
        [ "$(losses "$ref/metrics.jsonl")" = "$(losses "$dir/metrics.jsonl")" ] \
            && pass "$s (accum $accum): losses and norms identical to ddp" \
            || fail "$s (accum $accum): losses differ from ddp"
        cmp -s "$ref/step-000006/model.safetensors" "$dir/step-000006/model.safetensors" \
            && pass "$s (accum $accum): final weights bit-identical to ddp" \
            || fail "$s (accum $accum): final weights differ from ddp"
    done
done

# Bad values name the key.
"$LLMRT_BIN" train "$TMP/tiny.ini" --set train.out="$TMP/bad" --set runtime.strategy=fsdp \
    --set fsdp.sharding=nonsense >"$TMP/bad.log" 2>&1
grep -q "sharding" "$TMP/bad.log" && pass "bad [fsdp] sharding is named" \
    || { fail "bad [fsdp] sharding"; cat "$TMP/bad.log"; }
"$LLMRT_BIN" train "$TMP/tiny.ini" --set train.out="$TMP/bad2" --set runtime.strategy=zero \
    --set zero.stage=4 >"$TMP/bad2.log" 2>&1
grep -q "stage" "$TMP/bad2.log" && pass "bad [zero] stage is named" \
    || { fail "bad [zero] stage"; cat "$TMP/bad2.log"; }
finish
