#!/bin/sh
# `llmrt plan` on the command line: the ZeRO paper's table, one-line errors,
# and, for the tiny model, the same bytes per category as a real training run
# measures (the run's "memory rank R/N bytes measured ..." line) for every
# strategy the shard plugin provides.
. "$(dirname "$0")/../train/common.sh"
B=$LLMRT_BIN

# ZeRO paper table 1: Psi = 7.5B, N = 64, mixed precision: 120, 31.4, 16.6, 1.9 GB.
"$B" plan --params 7.5B --world 64 --format bf16 >"$TMP/zero.out" 2>&1 || { fail "plan --params"; cat "$TMP/zero.out"; }
for row in "ddp 120.0" "zero1 31.4" "zero2 16.6" "zero3 1.9" "fsdp 1.9"; do
    set -- $row
    got=$(awk -v s="$1" '$1 == s { print $7 }' "$TMP/zero.out")
    [ "$got" = "$2" ] && pass "ZeRO table: $1 = $2 GB" || fail "ZeRO table: $1 = '$got' GB, expected $2"
done
# fp32 Adam: 16 bytes/param of model state.
"$B" plan --params 124M --format fp32 --strategy ddp --unit B >"$TMP/fp32.out" 2>&1
got=$(awk '$1 == "ddp" { print $7 }' "$TMP/fp32.out")
[ "$got" = "1984000000" ] && pass "fp32: 16 bytes/param (124M -> 1984000000 B)" \
    || { fail "fp32 16 bytes/param: got '$got'"; cat "$TMP/fp32.out"; }

# Bad values: one line on stderr, exit status 1 or 2.
expect_error() {
    name=$1 pattern=$2
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    status=$?
    if [ "$status" -eq 0 ] || [ "$status" -gt 2 ]; then fail "$name: exit status $status"
    elif [ "$(wc -l < "$TMP/err")" -ne 1 ]; then fail "$name: not one line: $(cat "$TMP/err")"
    elif ! grep -Eq -- "$pattern" "$TMP/err"; then fail "$name: /$pattern/ not in $(cat "$TMP/err")"
    else pass "$name: $(cat "$TMP/err")"; fi
}
expect_error "bad suffix" "7Q.*suffix" "$B" plan --params 7Q
expect_error "negative count" "parameter count '-1'" "$B" plan --params -1
expect_error "bad strategy" "zero9.*accepted" "$B" plan --params 7B --strategy zero9
expect_error "bad format" "fp8.*accepted" "$B" plan --params 7B --format fp8
expect_error "bad world" "--world 0" "$B" plan --params 7B --world 0
expect_error "nothing to plan" "CONFIG.*--params" "$B" plan

# Plan against a real run, per strategy: params, grads and optimizer within 2%
# (they agree exactly: the run predicts through the same code and reports both).
check_run() { # NAME PLAN-STRATEGY TRAIN-OVERRIDES...
    name=$1 strategy=$2
    shift 2
    "$B" plan "$TMP/tiny.ini" --strategy "$strategy" --unit B "$@" >"$TMP/plan.out" 2>&1 \
        || { fail "$name: plan"; cat "$TMP/plan.out"; return; }
    "$B" train "$TMP/tiny.ini" --set train.out="$TMP/run-$name" --set train.steps=3 \
        --set data.val= "$@" >"$TMP/train.out" 2>&1 || { fail "$name: train"; cat "$TMP/train.out"; return; }
    line=$(grep '^llmrt: memory rank 0/1 bytes measured' "$TMP/train.out")
    [ -n "$line" ] || { fail "$name: no memory line"; cat "$TMP/train.out"; return; }
    col=2
    for cat in params grads optimizer activations comm; do
        planned=$(awk -v s="$strategy" -v c=$col '$1 == s { print $c }' "$TMP/plan.out")
        measured=$(echo "$line" | sed "s/.*measured.* $cat=\([0-9]*\).*predicted.*/\1/")
        col=$((col + 1))
        case $cat in
        params|grads|optimizer)
            if awk -v p="$planned" -v m="$measured" 'BEGIN { d = p - m; if (d < 0) d = -d; exit !(m > 0 && d <= 0.02 * m) }'; then
                pass "$name: $cat planned $planned, measured $measured"
            else
                fail "$name: $cat planned '$planned', measured '$measured'"
            fi ;;
        *)
            [ "$planned" = "$measured" ] && pass "$name: $cat planned = measured ($planned)" \
                || fail "$name: $cat planned '$planned', measured '$measured'" ;;
        esac
    done
    grep -q '"memory_measured_params"' "$TMP/run-$name/run.json" && pass "$name: run.json has the measured bytes" \
        || fail "$name: run.json lacks memory_measured_params"
}
check_run ddp ddp
if "$B" plugins 2>/dev/null | grep -q 'zero'; then
    check_run zero1 zero1 --set runtime.strategy=zero --set zero.stage=1
    check_run zero2 zero2 --set runtime.strategy=zero --set zero.stage=2
    check_run zero3 zero3 --set runtime.strategy=zero --set zero.stage=3
else
    echo "SKIP: no zero strategy built"
fi
if "$B" plugins 2>/dev/null | grep -q 'fsdp'; then
    check_run fsdp fsdp --set runtime.strategy=fsdp
fi
finish
