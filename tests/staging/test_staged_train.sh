#!/bin/sh
# Staging collectives through pinned host memory changes where the bytes sit,
# not what is computed: with [runtime] stage_collectives = always every
# strategy at 2 ranks over the mpi collective trains exactly the model of the
# unstaged run (auto: the mpi collective takes the cpu backend's memory
# directly). Same losses and global norms to the last printed digit,
# bit-identical model.safetensors (st_compare with 0 tolerance).
#
# Covered: ddp (one bucket, and 4 kB buckets: several asynchronous allreduces
# in flight), zero 2 (reduce-scatter), zero 3 and fsdp full (all-gathers
# prefetched while others are outstanding), fsdp hybrid with shard groups of 1
# (collectives of a split group through the job's pool), zero 3 in bf16
# (16-bit buffers), and one process over the local collective.
# The staged run must also report its pinned buffers under comm.
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
common="--set train.steps=6 --set train.eval_every=3 --set train.eval_batches=2 --set train.batch=2"

final() { echo "$1/$(cat "$1/latest" 2>/dev/null)/model.safetensors"; }
comm_bytes() { sed -n 's/^llmrt: memory rank 0\/.* measured .* comm=\([0-9]*\) .* predicted .*/\1/p' "$1"; }

# NAME LAUNCH [--set ...]: the run unstaged and staged, then compared.
compare() {
    name=$1 launch=$2
    shift 2
    for mode in auto always; do
        dir="$TMP/$(echo "$name" | tr ' .=' '___')-$mode"
        # shellcheck disable=SC2086
        if ! timeout 300 $launch "$LLMRT_BIN" train "$TMP/tiny.ini" $common "$@" \
            --set runtime.stage_collectives=$mode --set train.out="$dir" >"$dir.log" 2>&1; then
            fail "$name, stage_collectives = $mode: the run failed"
            tail -20 "$dir.log"
            return
        fi
    done
    a="$TMP/$(echo "$name" | tr ' .=' '___')-auto"
    b="$TMP/$(echo "$name" | tr ' .=' '___')-always"
    if [ -s "$a/metrics.jsonl" ] && [ "$(losses "$a/metrics.jsonl")" = "$(losses "$b/metrics.jsonl")" ]; then
        pass "$name: staged losses, validation losses and norms identical"
    else
        fail "$name: staged losses differ"
        paste "$a/metrics.jsonl" "$b/metrics.jsonl" | head -3
    fi
    if out=$("$CMP" "$(final "$a")" "$(final "$b")" 0 0); then
        pass "$name: staged model.safetensors bit-identical ($out)"
    else
        fail "$name: staged model differs: $out"
    fi
    ca=$(comm_bytes "$a.log") cb=$(comm_bytes "$b.log")
    if [ -n "$ca" ] && [ -n "$cb" ] && [ "$cb" -gt "$ca" ]; then
        pass "$name: pinned staging buffers accounted under comm ($ca -> $cb bytes)"
    else
        fail "$name: comm bytes unstaged '$ca', staged '$cb' (expected staged > unstaged)"
    fi
}

mpi2="$MPIRUN -np 2"
mpi="--set runtime.collective=mpi"
compare "ddp at 2 ranks" "$mpi2" $mpi --set runtime.strategy=ddp
compare "ddp 4 kB buckets at 2 ranks" "$mpi2" $mpi --set runtime.strategy=ddp \
    --set ddp.bucket_bytes=4096
compare "zero2 at 2 ranks" "$mpi2" $mpi --set runtime.strategy=zero --set zero.stage=2
compare "zero3 at 2 ranks" "$mpi2" $mpi --set runtime.strategy=zero --set zero.stage=3
compare "fsdp full at 2 ranks" "$mpi2" $mpi --set runtime.strategy=fsdp --set fsdp.sharding=full
compare "fsdp hybrid (groups of 1) at 2 ranks" "$mpi2" $mpi --set runtime.strategy=fsdp \
    --set fsdp.sharding=hybrid --set fsdp.shard_size=1
compare "zero3 bf16 at 2 ranks" "$mpi2" $mpi --set runtime.strategy=zero --set zero.stage=3 \
    --set runtime.format=bf16
compare "ddp, one process, local collective" "" --set runtime.collective=local

# A bad value names the key and the accepted values.
if msg=$("$LLMRT_BIN" train "$TMP/tiny.ini" --set runtime.stage_collectives=never 2>&1); then
    fail "stage_collectives = never was accepted"
else
    case $msg in
    *'runtime.stage_collectives = "never" is not one of the choices (accepted: auto, always)'*)
        pass "stage_collectives = never refused: $msg" ;;
    *) fail "stage_collectives = never: unexpected message: $msg" ;;
    esac
fi
finish
