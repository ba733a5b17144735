# arch_strategies.sh — sourced by test_bert_strategies.sh and
# test_t5_strategies.sh (after train/common.sh), with
#   ARCH           the name in messages (bert, t5)
#   ARCH_SETS      the --set arguments that make the tiny model that arch
#   TRAIN_FORMATS  the runtime.format values of the bit-identity runs
# Every strategy at world size 1 with the local collective (zero stages 1-3,
# fsdp full/grad_op/hybrid) trains 6 steps bit-identically to ddp (losses,
# gradient norms, final weights), accum 1 and 2, in each of TRAIN_FORMATS;
# and for ddp, zero 1-3 and fsdp in fp32, bf16 and int8 (QAT) `llmrt plan`
# predicts exactly the bytes per category the run measures, and the run's
# own prediction equals its measurement.

# The --set arguments of a strategy spec name[:stage-or-sharding]
sets() {
    name=${1%%:*}
    out="--set runtime.strategy=$name"
    case ${1#"$name"} in
    :[123]) out="$out --set zero.stage=${1#"$name":}" ;;
    :*) out="$out --set fsdp.sharding=${1#"$name":}" ;;
    esac
    echo "$out"
}

for fmt in $TRAIN_FORMATS; do
for accum in 1 2; do
    ref=""
    for s in ddp zero:1 zero:2 zero:3 fsdp:full fsdp:grad_op fsdp:hybrid; do
        dir="$TMP/$fmt-$(echo "$s" | tr ':' '_')-a$accum"
        # shellcheck disable=SC2046,SC2086
        if "$LLMRT_BIN" train "$TMP/tiny.ini" $ARCH_SETS --set runtime.format=$fmt --set train.out="$dir" \
            --set train.steps=6 --set train.accum=$accum --set train.eval_every=0 $(sets "$s") \
            >"$dir.log" 2>&1; then
            pass "$ARCH $fmt $s (accum $accum) trains"
        else
            fail "$ARCH $fmt $s (accum $accum) trains"
            cat "$dir.log"
            continue
        fi
        if [ -z "$ref" ]; then ref=$dir; continue; fi
        [ "$(losses "$ref/metrics.jsonl")" = "$(losses "$dir/metrics.jsonl")" ] \
            && pass "$ARCH $fmt $s (accum $accum): losses and norms identical to ddp" \
            || fail "$ARCH $fmt $s (accum $accum): losses differ from ddp"
        cmp -s "$ref/step-000006/model.safetensors" "$dir/step-000006/model.safetensors" \
            && pass "$ARCH $fmt $s (accum $accum): final weights bit-identical to ddp" \
            || fail "$ARCH $fmt $s (accum $accum): final weights differ from ddp"
    done
done
done

# `llmrt plan` against the run: every category byte for byte.
plan_vs_run() { # FORMAT PLAN-NAME STRATEGY-SPEC
    fmt=$1 row=$2 spec=$3
    name="$ARCH $fmt $row"
    dir="$TMP/plan-$fmt-$row"
    # shellcheck disable=SC2046,SC2086
    "$LLMRT_BIN" plan "$TMP/tiny.ini" $ARCH_SETS --set runtime.format=$fmt $(sets "$spec") \
        --strategy "$row" --unit B >"$dir.plan" 2>&1 || { fail "$name: plan"; cat "$dir.plan"; return; }
    # shellcheck disable=SC2046,SC2086
    "$LLMRT_BIN" train "$TMP/tiny.ini" $ARCH_SETS --set runtime.format=$fmt $(sets "$spec") \
        --set train.out="$dir" --set train.steps=3 --set train.eval_every=0 >"$dir.log" 2>&1 \
        || { fail "$name: train"; cat "$dir.log"; return; }
    line=$(grep '^llmrt: memory rank 0/1 bytes measured' "$dir.log")
    [ -n "$line" ] || { fail "$name: no memory line"; cat "$dir.log"; return; }
    measured=${line#*measured }
    measured=${measured%% predicted*}
    predicted=${line#*predicted }
    [ "$measured" = "$predicted" ] && pass "$name: the run measured what it predicted ($measured)" \
        || fail "$name: measured $measured, predicted $predicted"
    col=2
    for cat in params grads optimizer activations comm; do
        planned=$(awk -v s="$row" -v c=$col '$1 == s { print $c }' "$dir.plan")
        got=$(echo "$measured" | sed "s/.*$cat=\([0-9]*\).*/\1/")
        col=$((col + 1))
        [ -n "$planned" ] && [ "$planned" = "$got" ] \
            && pass "$name: $cat planned = measured ($planned)" \
            || fail "$name: $cat planned '$planned', measured '$got'"
    done
}
for fmt in fp32 bf16 int8; do
    plan_vs_run $fmt ddp ddp
    plan_vs_run $fmt zero1 zero:1
    plan_vs_run $fmt zero2 zero:2
    plan_vs_run $fmt zero3 zero:3
    plan_vs_run $fmt fsdp fsdp:full
done
