#!/bin/sh
# Every strategy at 2, 3 and 4 ranks over the mpi collective trains the model
# the single-process run trains, over the same global data.
#
# Data: with W ranks of batch B (no shuffle) rank r reads batch slot j*W + r
# at step j (core/data.h), which are exactly the W micro-batches of step j of
# one process with batch B and accum W.
#
# Two comparisons per strategy and W:
#  - against ddp at W ranks: bit-identical is what we see (the same data,
#    the same per-element reductions and the same AdamW ranges); the bound is
#    1e-6 relative (+1e-9 absolute), because MPI does not promise that
#    reduce-scatter and allreduce add in the same order, the norm is summed
#    from per-shard partial sums, and hybrid averages in two levels.
#  - against one process with accum W: the gradient is the same sum grouped
#    differently (accumulated inside the backward kernels against averaged
#    over ranks), so it differs in the last bits, and AdamW's m/sqrt(v)
#    amplifies that for elements whose gradient is near zero. After 8 steps
#    the largest difference is ~1e-5 absolute on weights of order 0.1-1:
#    the elementwise bound is 1e-4 relative + 3e-5 absolute, and the whole
#    model must agree within 1e-6 relative norm-wise (||a-b|| / ||b|| over
#    all parameters; measured ~1.5e-7), the issue's 1e-6 in the one sense
#    that near-zero elements and zero-initialised biases allow.
# 3 ranks do not divide the units' sizes: the padding path runs.
#
# Skips (77) unless the mpi plugin is built and mpirun is here.
. "$(dirname "$0")/../train/common.sh"
: "${MPIRUN:=mpirun --allow-run-as-root --oversubscribe}"
MPI_PLUGIN="$LLMRT_TEST_BUILDDIR/../plugins/mpi/.libs/llmrt-collective-mpi.so"
CMP="$LLMRT_TEST_BUILDDIR/shard/st_compare"
command -v ${MPIRUN%% *} >/dev/null 2>&1 || { echo "SKIP: ${MPIRUN%% *} not found"; exit 77; }
[ -f "$MPI_PLUGIN" ] || { echo "SKIP: the mpi plugin is not built ($MPI_PLUGIN)"; exit 77; }
[ -x "$CMP" ] || { echo "SKIP: $CMP is not built"; exit 77; }
LLMRT_PLUGIN_PATH="$(dirname "$MPI_PLUGIN"):${LLMRT_PLUGIN_PATH:-}"
export LLMRT_PLUGIN_PATH
RTOL=${RTOL:-1e-5}
STEPS=${STEPS:-8}
common="--set train.steps=$STEPS --set train.eval_every=0 --set train.batch=2"

final() { echo "$1/$(cat "$1/latest" 2>/dev/null)/model.safetensors"; }

# Losses and global gradient norms of two runs, step by step, within RTOL.
same_curves() { # NAME A.jsonl B.jsonl RTOL
    if losses "$2" >"$TMP/curve.a" && losses "$3" >"$TMP/curve.b" &&
        [ -s "$TMP/curve.a" ] && [ "$(wc -l <"$TMP/curve.a")" = "$(wc -l <"$TMP/curve.b")" ] &&
        paste -d' ' "$TMP/curve.a" "$TMP/curve.b" | awk -v r="$4" '
            function bad(a, b) { d = a - b; if (d < 0) d = -d; m = a < 0 ? -a : a; return d > r * m }
            { if (bad($1, $4) || bad($3, $6)) exit 1 }'; then
        pass "$1"
    else
        fail "$1"; paste "$TMP/curve.a" "$TMP/curve.b" | head -5
    fi
}

same() { # NAME A B RTOL ATOL [NORM_RTOL]
    if out=$("$CMP" "$2" "$3" "$4" "$5" ${6:-}); then pass "$1: $out"; else fail "$1: $out"; fi
}

for W in 2 3 4; do
    ref="$TMP/one-$W"
    if ! timeout 300 "$LLMRT_BIN" train "$TMP/tiny.ini" $common --set train.accum=$W \
        --set train.out="$ref" >"$ref.log" 2>&1; then
        fail "1 rank, accum $W"; cat "$ref.log"; continue
    fi
    ddp=""
    for s in ddp ddp.bucket_bytes=4096 zero.stage=1 zero.stage=2 zero.stage=3 fsdp.sharding=full \
        fsdp.sharding=grad_op fsdp.sharding=hybrid; do
        name=${s%%.*}
        extra=""
        [ "$s" = "$name" ] || extra="--set $s"
        # hybrid: groups of 2 where 2 divides W, else of 1 (pure replication)
        [ "$s" = fsdp.sharding=hybrid ] && extra="$extra --set fsdp.shard_size=$((W % 2 ? 1 : 2))"
        dir="$TMP/$W-$(echo "$s" | tr '.=' '__')"
        # shellcheck disable=SC2086
        if ! timeout 300 $MPIRUN -np $W "$LLMRT_BIN" train "$TMP/tiny.ini" $common \
            --set runtime.collective=mpi --set runtime.strategy=$name $extra \
            --set train.out="$dir" >"$dir.log" 2>&1; then
            fail "$s at $W ranks: the run failed"; tail -20 "$dir.log"; continue
        fi
        [ "$s" = ddp ] && ddp=$dir
        if [ "$s" != ddp ] && [ -n "$ddp" ]; then
            same "$s at $W ranks vs ddp at $W ranks" "$(final "$ddp")" "$(final "$dir")" 1e-6 1e-9
            same_curves "$s at $W ranks: losses and clipped global norms of ddp at $W ranks" \
                "$ddp/metrics.jsonl" "$dir/metrics.jsonl" 1e-6
        fi
        same_curves "$s at $W ranks: losses and global norms of 1 rank x accum $W (1e-4)" \
            "$ref/metrics.jsonl" "$dir/metrics.jsonl" 1e-4
        same "$s at $W ranks vs 1 rank x accum $W" "$(final "$ref")" "$(final "$dir")" 1e-4 3e-5 1e-6
    done
done

# Resuming a sharded run at 3 ranks from its step-4 checkpoint (each rank's
# slices of parameters and m, v through get_state/set_state) ends
# bit-identical to the uninterrupted run.
for s in zero.stage=1 zero.stage=3 fsdp.sharding=hybrid; do
    name=${s%%.*}
    a="$TMP/resume-a-$name"
    b="$TMP/resume-b-$name"
    extra=""
    [ "$name" = fsdp ] && extra="--set fsdp.shard_size=1"
    run() { # OUT [more --set]
        out=$1; shift
        # shellcheck disable=SC2086
        timeout 300 $MPIRUN -np 3 "$LLMRT_BIN" train "$TMP/tiny.ini" $common \
            --set runtime.collective=mpi --set runtime.strategy=$name --set "$s" $extra \
            --set train.checkpoint_every=4 --set train.out="$out" "$@"
    }
    if ! run "$a" >"$a.log" 2>&1; then fail "$s: 3 ranks with checkpoints"; tail "$a.log"; continue; fi
    cp -r "$a" "$b"
    rm -rf "$b/step-000008"
    echo step-000004 >"$b/latest"
    head -4 "$a/metrics.jsonl" >"$b/metrics.jsonl"
    if ! run "$b" --set train.resume=auto >"$b.log" 2>&1; then fail "$s: resume"; tail "$b.log"; continue; fi
    same "$s at 3 ranks: resumed from step 4 vs uninterrupted" "$a/step-000008/model.safetensors" \
        "$b/step-000008/model.safetensors" 0 0
done
finish
