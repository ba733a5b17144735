#!/bin/sh
# Sharded checkpoints end to end: a shard per rank plus index.json; resuming
# from them is bit-exact; `llmrt ckpt consolidate` gives the same file as an
# unsharded checkpoint of the same run; a sharded zero checkpoint resumes
# under ddp (another strategy); `llmrt ckpt inspect` says what is there.
# With the mpi plugin: zero stage 3 on 2 ranks, resumed on 2 ranks
# (bit-exact) and on 1 rank (re-sharded on load).
. "$(dirname "$0")/../train/common.sh"
B=$LLMRT_BIN
C=$TMP/tiny.ini
common="--set train.checkpoint_every=10 --set data.val="

# The unsharded reference (ddp, optimizer.safetensors).
"$B" train $C --set train.out="$TMP/plain" $common >"$TMP/plain.log" 2>&1 \
    && pass "unsharded run" || { fail "unsharded run"; cat "$TMP/plain.log"; }
# The same run with shards.
"$B" train $C --set train.out="$TMP/sh" $common --set train.checkpoint_format=sharded \
    >"$TMP/sh.log" 2>&1 && pass "sharded run" || { fail "sharded run"; cat "$TMP/sh.log"; }
S=$TMP/sh/step-000020
for f in index.json shard-00001-of-00001.safetensors model.safetensors state.json config.ini; do
    [ -f "$S/$f" ] && pass "sharded checkpoint has $f" || fail "sharded checkpoint lacks $f"
done
[ ! -f "$S/optimizer.safetensors" ] && pass "no optimizer.safetensors beside the shards" \
    || fail "optimizer.safetensors written beside the shards"
cmp -s "$S/model.safetensors" "$TMP/plain/step-000020/model.safetensors" \
    && pass "sharded and unsharded runs: identical model.safetensors" || fail "model.safetensors differ"

# consolidate: the same bytes from shards as from model + optimizer files.
"$B" ckpt consolidate "$TMP/plain" -o "$TMP/plain.safetensors" >/dev/null 2>"$TMP/err" \
    && "$B" ckpt consolidate "$TMP/sh" -o "$TMP/sh.safetensors" >/dev/null 2>>"$TMP/err" \
    && cmp -s "$TMP/plain.safetensors" "$TMP/sh.safetensors" \
    && pass "consolidated shards = consolidated unsharded checkpoint" \
    || { fail "consolidate"; cat "$TMP/err"; }

# reshard 1 -> 2 offline; the result consolidates to the same bytes.
"$B" ckpt reshard "$TMP/sh" --world 2 -o "$TMP/sh-2" >/dev/null 2>"$TMP/err" \
    && "$B" ckpt consolidate "$TMP/sh-2" -o "$TMP/sh-2.safetensors" >/dev/null 2>>"$TMP/err" \
    && cmp -s "$TMP/sh.safetensors" "$TMP/sh-2.safetensors" \
    && pass "ckpt reshard 1 -> 2: same consolidated state" || { fail "ckpt reshard 1 -> 2"; cat "$TMP/err"; }
"$B" ckpt reshard "$TMP/plain" --world 2 -o "$TMP/x" >/dev/null 2>"$TMP/err"
[ $? -eq 1 ] && [ "$(wc -l < "$TMP/err")" -eq 1 ] && grep -q "not sharded" "$TMP/err" \
    && pass "ckpt reshard of an unsharded checkpoint: $(cat "$TMP/err")" || fail "reshard unsharded: $(cat "$TMP/err")"

# inspect
"$B" ckpt inspect "$TMP/sh" >"$TMP/inspect.out" 2>&1 || fail "inspect: $(cat "$TMP/inspect.out")"
for pat in "^step 20 " "world size 1, strategy ddp" "unit block.1: 12704 values; ranges: rank 0 \[0, 12704\)" \
    "transformer.h.0.attn.c_attn.weight +\[32, 96\]" "shard-00001-of-00001.safetensors +[0-9]+ bytes"; do
    grep -Eq -- "$pat" "$TMP/inspect.out" && pass "inspect: /$pat/" || { fail "inspect lacks /$pat/"; cat "$TMP/inspect.out"; }
done
"$B" ckpt inspect "$TMP/plain" | grep -q "unsharded" && pass "inspect: unsharded checkpoint" \
    || fail "inspect of an unsharded checkpoint"

# Resume from the step-10 shards: bit-identical to the uninterrupted run.
cp -r "$TMP/sh" "$TMP/sh2"
rm -rf "$TMP/sh2/step-000020"
echo step-000010 > "$TMP/sh2/latest"
"$B" train $C --set train.out="$TMP/sh2" $common --set train.checkpoint_format=sharded \
    --set train.resume=auto >"$TMP/sh2.log" 2>&1 && pass "resume from shards" || { fail "resume from shards"; cat "$TMP/sh2.log"; }
for f in model.safetensors shard-00001-of-00001.safetensors; do
    cmp -s "$S/$f" "$TMP/sh2/step-000020/$f" && pass "resumed from shards: $f bit-identical" \
        || fail "resumed from shards: $f differs"
done

# zero (stage 2) writes shards; ddp resumes from them and ends where the
# ddp run ends (at one rank the strategies compute the same step).
if "$B" plugins 2>/dev/null | grep -q zero; then
    "$B" train $C --set train.out="$TMP/z" $common --set runtime.strategy=zero --set zero.stage=2 \
        --set train.checkpoint_format=sharded >"$TMP/z.log" 2>&1 \
        && pass "zero stage 2 with shards" || { fail "zero stage 2 with shards"; cat "$TMP/z.log"; }
    grep -q '"strategy": "zero"' "$TMP/z/step-000010/index.json" && pass "index names strategy zero" \
        || fail "index does not name zero"
    rm -rf "$TMP/z/step-000020"
    echo step-000010 > "$TMP/z/latest"
    "$B" train $C --set train.out="$TMP/z" $common --set train.resume=auto >"$TMP/z2.log" 2>&1 \
        && pass "ddp resumes zero's shards" || { fail "ddp resumes zero's shards"; cat "$TMP/z2.log"; }
    cmp -s "$TMP/z/step-000020/model.safetensors" "$TMP/plain/step-000020/model.safetensors" \
        && pass "zero shards -> ddp: same weights as the ddp run" || fail "zero shards -> ddp: weights differ"
else
    echo "SKIP: no zero strategy built"
fi

# Several ranks: zero stage 3 on 2 ranks (when mpirun and the mpi plugin are here).
: "${MPIRUN:=mpirun --allow-run-as-root --oversubscribe}"
if command -v mpirun >/dev/null 2>&1 && "$B" plugins 2>/dev/null | grep -q 'mpi' \
    && "$B" plugins 2>/dev/null | grep -q zero; then
    mpi="--set runtime.collective=mpi --set runtime.strategy=zero --set zero.stage=3 --set cpu.threads=1"
    timeout 300 $MPIRUN -np 2 -x LLMRT_PLUGIN_PATH -x OMP_NUM_THREADS "$B" train $C \
        --set train.out="$TMP/m" $common $mpi >"$TMP/m.log" 2>&1 \
        && pass "zero3 on 2 ranks" || { fail "zero3 on 2 ranks"; cat "$TMP/m.log"; }
    M=$TMP/m/step-000020
    [ -f "$M/shard-00001-of-00002.safetensors" ] && [ -f "$M/shard-00002-of-00002.safetensors" ] \
        && pass "2 ranks: one shard each" || fail "2 ranks: shards missing: $(ls "$M")"
    [ "$(grep -c '^llmrt: memory rank [01]/2 bytes' "$TMP/m.log")" -eq 2 ] \
        && pass "2 ranks: a memory line per rank" || fail "2 ranks: memory lines missing"
    "$B" ckpt inspect "$TMP/m" | grep -q "world size 2, strategy zero" && pass "inspect: 2 ranks" \
        || fail "inspect: 2 ranks"
    cp -r "$TMP/m" "$TMP/m2"
    rm -rf "$TMP/m2/step-000020"
    echo step-000010 > "$TMP/m2/latest"
    timeout 300 $MPIRUN -np 2 -x LLMRT_PLUGIN_PATH -x OMP_NUM_THREADS "$B" train $C \
        --set train.out="$TMP/m2" $common $mpi --set train.resume=auto >"$TMP/m2.log" 2>&1 \
        && pass "2 ranks: resume" || { fail "2 ranks: resume"; cat "$TMP/m2.log"; }
    for f in model.safetensors shard-00001-of-00002.safetensors shard-00002-of-00002.safetensors; do
        cmp -s "$M/$f" "$TMP/m2/step-000020/$f" && pass "2 ranks resumed: $f bit-identical" \
            || fail "2 ranks resumed: $f differs"
    done
    # Offline: the 2-rank checkpoint for 3 ranks holds the same state.
    "$B" ckpt reshard "$TMP/m" --world 3 -o "$TMP/m-3" >/dev/null 2>"$TMP/err" \
        && [ -f "$TMP/m-3/shard-00003-of-00003.safetensors" ] \
        && "$B" ckpt consolidate "$TMP/m" -o "$TMP/m.safetensors" >/dev/null \
        && "$B" ckpt consolidate "$TMP/m-3" -o "$TMP/m-3.safetensors" >/dev/null \
        && cmp -s "$TMP/m.safetensors" "$TMP/m-3.safetensors" \
        && pass "ckpt reshard 2 -> 3 ranks: same consolidated state" || { fail "ckpt reshard"; cat "$TMP/err"; }
    "$B" ckpt inspect "$TMP/m-3" | grep -q "world size 3, strategy zero" \
        && pass "inspect: resharded to 3" || fail "inspect: resharded to 3"
    # Re-shard on load: the 2-rank step-10 checkpoint into one ddp process.
    cp -r "$TMP/m" "$TMP/m1"
    rm -rf "$TMP/m1/step-000020"
    echo step-000010 > "$TMP/m1/latest"
    "$B" ckpt consolidate "$TMP/m1" -o "$TMP/m1-10.safetensors" >/dev/null \
        && pass "consolidate 2 shards" || fail "consolidate 2 shards"
    # With lr = 0 a step leaves the parameters alone: the step-11 weights are
    # exactly what was loaded from the shards of the other world size.
    zero_lr="--set train.lr=0 --set train.min_lr=0 --set train.steps=11 --set train.checkpoint_every=1"
    "$B" train $C --set train.out="$TMP/m1" $common $zero_lr --set train.resume=auto \
        >"$TMP/m1.log" 2>&1 \
        && pass "2-rank shards resumed on 1 rank" || { fail "2-rank shards resumed on 1 rank"; cat "$TMP/m1.log"; }
    cmp -s "$TMP/m1/step-000011/model.safetensors" "$TMP/m/step-000010/model.safetensors" \
        && pass "re-shard 2 -> 1 rank: parameters loaded exactly" || fail "re-shard 2 -> 1: parameters differ"
    # And the other way: the 1-rank shards of ddp onto 2 ranks of zero3.
    cp -r "$TMP/sh" "$TMP/s2"
    rm -rf "$TMP/s2/step-000020"
    echo step-000010 > "$TMP/s2/latest"
    timeout 300 $MPIRUN -np 2 -x LLMRT_PLUGIN_PATH -x OMP_NUM_THREADS "$B" train $C \
        --set train.out="$TMP/s2" $common $mpi $zero_lr --set train.resume=auto >"$TMP/s2.log" 2>&1 \
        && pass "1-rank shards resumed on 2 ranks" || { fail "1-rank shards resumed on 2 ranks"; cat "$TMP/s2.log"; }
    cmp -s "$TMP/s2/step-000011/model.safetensors" "$TMP/sh/step-000010/model.safetensors" \
        && pass "re-shard 1 -> 2 ranks: parameters loaded exactly" || fail "re-shard 1 -> 2: parameters differ"
else
    echo "SKIP: several ranks (no mpirun, mpi plugin or zero strategy)"
fi
finish
