#!/bin/sh
# The distributed strategies over the nccl collective on 2 GPUs train the
# model that one process trains on one GPU, over the same global data: the
# comparisons of tests/shard/test_multirank.sh (which runs them over mpi on
# the cpu backend) with runtime.backend = cuda and runtime.collective =
# nccl under mpirun -np 2 (the nccl bootstrap takes the mpi path; [cuda]
# device = auto gives each rank its own GPU from its local rank).
#
# Each strategy at 2 ranks against ddp at 2 ranks (1e-6 relative: NCCL's
# reduce-scatter and allreduce need not add in the same order) and against
# one process with accum 2 (1e-4 elementwise + 3e-5 absolute and 1e-6
# norm-wise, test_multirank.sh explains why).
#
# Skips (77) unless nvidia-smi lists at least 2 GPUs and the nccl and cuda
# plugins, st_compare and mpirun are here.
. "$(dirname "$0")/../train/common.sh"
: "${MPIRUN:=mpirun --allow-run-as-root --oversubscribe}"
NCCL_PLUGIN="$LLMRT_TEST_BUILDDIR/../plugins/nccl/.libs/llmrt-collective-nccl.so"
CUDA_PLUGIN="$LLMRT_TEST_BUILDDIR/../plugins/cuda/.libs/llmrt-compute-cuda.so"
CMP="$LLMRT_TEST_BUILDDIR/shard/st_compare"
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
[ "${gpus:-0}" -ge 2 ] || { echo "SKIP: fewer than 2 GPUs (nvidia-smi -L lists ${gpus:-0})"; exit 77; }
[ -f "$NCCL_PLUGIN" ] || { echo "SKIP: the nccl plugin is not built ($NCCL_PLUGIN)"; exit 77; }
[ -f "$CUDA_PLUGIN" ] || { echo "SKIP: the cuda plugin is not built ($CUDA_PLUGIN)"; exit 77; }
[ -x "$CMP" ] || { echo "SKIP: $CMP is not built"; exit 77; }
command -v ${MPIRUN%% *} >/dev/null 2>&1 || { echo "SKIP: ${MPIRUN%% *} not found"; exit 77; }
LLMRT_PLUGIN_PATH="$(dirname "$NCCL_PLUGIN"):$(dirname "$CUDA_PLUGIN"):${LLMRT_PLUGIN_PATH:-}"
export LLMRT_PLUGIN_PATH
W=2
STEPS=${STEPS:-8}
common="--set train.steps=$STEPS --set train.eval_every=0 --set train.batch=2 --set runtime.backend=cuda"

final() { echo "$1/$(cat "$1/latest" 2>/dev/null)/model.safetensors"; }
same() { # NAME A B RTOL ATOL [NORM_RTOL]
    if out=$("$CMP" "$2" "$3" "$4" "$5" ${6:-}); then pass "$1: $out"; else fail "$1: $out"; fi
}

ref="$TMP/one"
# shellcheck disable=SC2086
if ! timeout 300 "$LLMRT_BIN" train "$TMP/tiny.ini" $common --set train.accum=$W \
    --set train.out="$ref" >"$ref.log" 2>&1; then
    fail "1 GPU, accum $W"; cat "$ref.log"; finish; exit 1
fi
ddp=""
for s in ddp ddp.bucket_bytes=4096 zero.stage=1 zero.stage=2 zero.stage=3 fsdp.sharding=full \
    fsdp.sharding=grad_op fsdp.sharding=hybrid; do
    name=${s%%.*}
    extra=""
    [ "$s" = "$name" ] || extra="--set $s"
    [ "$s" = fsdp.sharding=hybrid ] && extra="$extra --set fsdp.shard_size=2"
    dir="$TMP/$W-$(echo "$s" | tr '.=' '__')"
    # shellcheck disable=SC2086
    if ! timeout 300 $MPIRUN -np $W "$LLMRT_BIN" train "$TMP/tiny.ini" $common \
        --set runtime.collective=nccl --set runtime.strategy=$name $extra \
        --set train.out="$dir" >"$dir.log" 2>&1; then
        fail "$s at $W ranks over nccl: the run failed"; tail -20 "$dir.log"; continue
    fi
    [ "$s" = ddp ] && ddp=$dir
    if [ "$s" != ddp ] && [ -n "$ddp" ]; then
        same "$s vs ddp, both at $W ranks over nccl" "$(final "$ddp")" "$(final "$dir")" 1e-6 1e-9
    fi
    same "$s at $W ranks over nccl vs 1 GPU x accum $W" "$(final "$ref")" "$(final "$dir")" \
        1e-4 3e-5 1e-6
done
finish
