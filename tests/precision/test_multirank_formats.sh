#!/bin/sh
# bf16 and fp16 keep the multi-rank equivalence of tests/shard/test_multirank.sh:
# at 2 and 3 ranks over the mpi collective, every strategy against ddp at the
# same world size, and against one process with accum = W over the same data.
#
#  - vs ddp at W ranks: bit-identical, as in fp32 (the same reductions of the
#    same 16-bit gradients, the same fp32 masters and AdamW ranges, the same
#    rounding of the masters back into 16-bit parameters).
#  - vs one process, accum W: here the gradients differ by more than fp32's
#    last bits: one process sums the W micro-batches into a 16-bit gradient
#    buffer (a rounding after each micro-batch), W ranks each round their own
#    gradient and the reduction (fp32 inside, core/../plugins/mpi) rounds the
#    average once. That is one rounding of relative size eps/2 per element and
#    step (bf16 2^-9, fp16 2^-12), which AdamW carries into the masters. The
#    bound is the format's epsilon norm-wise over all parameters after 8
#    steps (bf16 2^-8 = 3.9e-3, fp16 2^-11 = 4.9e-4); measured 8.2e-4 (bf16)
#    and 1.7e-4 (fp16) at 2 ranks.
# fp16 runs with a static loss scale of 1024: at W ranks each rank scales its
# own gradient (the average is formed after the reduction), so with the
# default 2^16 one rank's gradient can overflow where one process's sum of
# half-scaled micro-batches does not, and the runs would skip different
# steps (docs/formats.md).
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
common="--set train.steps=8 --set train.eval_every=0 --set train.batch=2"

final() { echo "$1/$(cat "$1/latest" 2>/dev/null)/model.safetensors"; }
same() { # NAME A B RTOL ATOL [NORM_RTOL]
    if out=$("$CMP" "$2" "$3" "$4" "$5" ${6:-}); then pass "$1: $out"; else fail "$1: $out"; fi
}

for f in bf16 fp16; do
    fmt="--set runtime.format=$f"
    [ $f = fp16 ] && fmt="$fmt --set precision.loss_scale=1024"
    bound=0.00390625
    [ $f = fp16 ] && bound=0.00048828125
    for W in 2 3; do
        ref="$TMP/one-$f-$W"
        # shellcheck disable=SC2086
        if ! timeout 300 "$LLMRT_BIN" train "$TMP/tiny.ini" $common $fmt --set train.accum=$W \
            --set train.out="$ref" >"$ref.log" 2>&1; then
            fail "$f: 1 rank, accum $W"; tail -5 "$ref.log"; continue
        fi
        ddp=""
        for s in ddp zero.stage=1 zero.stage=2 zero.stage=3 fsdp.sharding=full \
            fsdp.sharding=grad_op fsdp.sharding=hybrid; do
            name=${s%%.*}
            extra=""
            [ "$s" = "$name" ] || extra="--set $s"
            [ "$s" = fsdp.sharding=hybrid ] && extra="$extra --set fsdp.shard_size=$((W % 2 ? 1 : 2))"
            dir="$TMP/$f-$W-$(echo "$s" | tr '.=' '__')"
            # shellcheck disable=SC2086
            if ! timeout 300 $MPIRUN -np $W "$LLMRT_BIN" train "$TMP/tiny.ini" $common $fmt \
                --set runtime.collective=mpi --set runtime.strategy=$name $extra \
                --set train.out="$dir" >"$dir.log" 2>&1; then
                fail "$f $s at $W ranks: the run failed"; tail -20 "$dir.log"; continue
            fi
            [ "$s" = ddp ] && ddp=$dir
            if [ "$s" != ddp ] && [ -n "$ddp" ]; then
                same "$f $s at $W ranks vs ddp at $W ranks" "$(final "$ddp")" "$(final "$dir")" 0 0
                [ "$(losses "$ddp/metrics.jsonl")" = "$(losses "$dir/metrics.jsonl")" ] \
                    && pass "$f $s at $W ranks: losses and norms identical to ddp's" \
                    || fail "$f $s at $W ranks: losses differ from ddp's"
            fi
            same "$f $s at $W ranks vs 1 rank x accum $W (norm-wise $bound)" "$(final "$ref")" \
                "$(final "$dir")" 1 1 $bound
        done
    done
done
finish
