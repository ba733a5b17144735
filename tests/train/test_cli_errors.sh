#!/bin/sh
# Bad input: each case must exit non-zero with exactly one line on stderr that
# names the file, key or value at fault, and must not harm what exists.
. "$(dirname "$0")/common.sh"

# expect_error NAME PATTERN COMMAND...: COMMAND fails, one stderr line, matching PATTERN.
expect_error() {
    name=$1 pattern=$2
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    status=$?
    lines=$(wc -l < "$TMP/err")
    if [ "$status" -eq 0 ]; then
        fail "$name: exit status 0"
    elif [ "$status" -gt 2 ]; then
        fail "$name: exit status $status (crash?): $(cat "$TMP/err")"
    elif [ "$lines" -ne 1 ]; then
        fail "$name: $lines lines on stderr: $(cat "$TMP/err")"
    elif ! grep -Eq -- "$pattern" "$TMP/err"; then
        fail "$name: message does not match /$pattern/: $(cat "$TMP/err")"
    else
        pass "$name: $(cat "$TMP/err")"
    fi
}

B=$LLMRT_BIN
C=$TMP/tiny.ini
expect_error "unknown key" "lrr.*accepted" $B train $C --set train.lrr=1
expect_error "not a number" "train.*lr.*abc" $B train $C --set train.lr=abc
expect_error "out of range" "steps.*0" $B train $C --set train.steps=0
expect_error "unknown lr_scale" "lr_scale.*adafactor.*none.*rms" $B train $C --set train.lr_scale=adafactor
expect_error "unknown section" "nosuch" $B train $C --set nosuch.key=1
expect_error "--set without =" "section.key=value|=" $B train $C --set train.lr
expect_error "missing config" "missing.ini" $B train "$TMP/missing.ini"
printf '[train]\nthis line has no equals sign\n' > "$TMP/syntax.ini"
expect_error "config syntax error" "syntax.ini:2" $B train "$TMP/syntax.ini"
printf '[train]\nlr = 1\nlr = 2\n' > "$TMP/dup.ini"
expect_error "key given twice" "dup.ini:3.*lr" $B train "$TMP/dup.ini"
expect_error "missing data file" "nonexistent.txt" $B train $C --set data.train="$TMP/nonexistent.txt"
expect_error "heads do not divide dim" "heads.*dim" $B train $C --set model.heads=3
printf 'tiny' > "$TMP/tiny.txt"
expect_error "data shorter than one batch" "tiny.txt.*too few" $B train $C --set data.train="$TMP/tiny.txt"
expect_error "bad choice" "schedule.*linear.*cosine" $B train $C --set train.schedule=linear
expect_error "unknown backend" "tpu.*searched" $B train $C --set runtime.backend=tpu
expect_error "unknown strategy" "zero9" $B train $C --set runtime.strategy=zero9
expect_error "unknown plugin key" "cpu.*thread" $B train $C --set cpu.thread=2
expect_error "plugin value out of range" "threads" $B train $C --set cpu.threads=0
expect_error "environment value" "LLMRT_TRAIN_BATCH" env LLMRT_TRAIN_BATCH=many $B train $C
expect_error "warmup not below steps" "warmup" $B train $C --set train.warmup=50
printf 'XXXXXXXX' > "$TMP/bad.bin"; head -c 2000 /dev/zero >> "$TMP/bad.bin"
expect_error "token file with bad magic" "bad.bin.*magic" $B train $C --set data.train="$TMP/bad.bin"
# An llm.c GPT-2 token file (token 1000) read with a byte vocabulary.
{
    printf '\210\330\064\001\001\000\000\000\000\004\000\000'  # magic 20240520, version 1, 1024 tokens
    head -c $((253 * 4)) /dev/zero
    i=0; while [ $i -lt 1024 ]; do printf '\350\003'; i=$((i + 1)); done  # token 1000
} > "$TMP/gpt2.bin"
expect_error "token outside the vocabulary" "gpt2.bin.*1000" $B train $C --set data.train="$TMP/gpt2.bin"
expect_error "resume from a missing checkpoint" "nowhere" $B train $C --set train.resume="$TMP/nowhere"
expect_error "init_from a missing file" "absent.safetensors" $B train $C --set train.init_from="$TMP/absent.safetensors"
expect_error "unknown command" "unknown command" $B frobnicate
expect_error "unknown option" "unknown option" $B generate --frobnicate 1
expect_error "bad temperature" "temperature" $B generate --temperature -1
expect_error "eval without a checkpoint" "no checkpoint" $B eval $C --set train.out="$TMP/empty"

# Damaged checkpoints are refused with the file named, and left as they are.
"$B" train $C --set train.out="$TMP/good" --set train.steps=4 --set train.warmup=1 >/dev/null 2>&1 \
    || fail "training the checkpoint for the damage cases"
ck=$TMP/good/step-000004
cp -r "$ck" "$TMP/ck-trunc"
head -c 1000 "$ck/model.safetensors" > "$TMP/ck-trunc/model.safetensors"
expect_error "truncated checkpoint" "model.safetensors" $B eval --checkpoint "$TMP/ck-trunc"
cp -r "$ck" "$TMP/ck-json"
printf '{"step": "four"' > "$TMP/ck-json/state.json"
expect_error "corrupt state.json" "state.json" $B train $C --set train.out="$TMP/x" --set train.resume="$TMP/ck-json"
cp "$ck/model.safetensors" "$TMP/other.safetensors"
expect_error "init_from with other shapes" "other.safetensors.*shape" $B train $C --set model.dim=64 --set train.init_from="$TMP/other.safetensors"
before=$(ls "$TMP/good")
expect_error "failed resume keeps the run intact" "lr" $B train $C --set train.out="$TMP/good" --set train.resume=auto --set train.lr=-1
[ "$before" = "$(ls "$TMP/good")" ] && cmp -s "$ck/model.safetensors" "$TMP/good/step-000004/model.safetensors" \
    && pass "checkpoints untouched after the failures" || fail "a failure changed the checkpoints"
finish
