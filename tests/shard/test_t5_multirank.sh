#!/bin/sh
# t5 under every strategy at 2 ranks over the mpi collective trains the model
# one process trains with accum 2, as test_multirank.sh checks for gpt (the
# same data mapping, the same bounds and the reasons for them written
# there). Span corruption draws from an RNG seeded by the micro-batch's
# global slot in the data order (core/train.c), so rank r at step j corrupts
# its window exactly as micro-batch r of step j of the single process does.
# The t5 units: the shared embedding, each encoder block (block 0 holding
# the relative position bias), the encoder's final norm, each decoder block
# and the head; zero3/fsdp gather and free each around its use, the
# embedding three times (both inputs and the tied head).
# int8 QAT (step sizes sharded like any parameter), every strategy: against
# ddp at 2 ranks as in fp32, and against the one process at the first step
# only (1e-6): after that a weight within rounding noise of a boundary of
# w / s flips by a whole step between the two (test_bert_multirank.sh).
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
STEPS=${STEPS:-8}
W=2
common="--set model.arch=t5 --set model.vocab=264 --set model.context=32
--set train.steps=$STEPS --set train.eval_every=0 --set train.batch=2 --set cpu.threads=1"

final() { echo "$1/$(cat "$1/latest" 2>/dev/null)/model.safetensors"; }

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

# Each lr_scale: none (AdamW) with every strategy; rms (Adafactor's relative
# step, strategy.h rule 10: the per-tensor sums of squares of the sharded
# strategies add pieces of tensors cut across ranks) with ddp, a stage that
# shards only the optimizer state and the ones that shard the parameters;
# then int8 QAT (plain AdamW) with every strategy.
for scale in none rms int8; do
if [ $scale != rms ]; then
    strategies="ddp zero.stage=1 zero.stage=2 zero.stage=3 fsdp.sharding=full \
fsdp.sharding=grad_op fsdp.sharding=hybrid"
else
    strategies="ddp zero.stage=1 zero.stage=3 fsdp.sharding=full"
fi
lrs="--set train.lr_scale=$scale"
[ $scale = rms ] && lrs="$lrs --set train.lr=1e-2"
[ $scale = int8 ] && lrs="--set runtime.format=int8"
ref="$TMP/one-$scale"
# shellcheck disable=SC2086
if ! timeout 300 "$LLMRT_BIN" train "$TMP/tiny.ini" $common $lrs --set train.accum=$W \
    --set train.out="$ref" >"$ref.log" 2>&1; then
    fail "t5 ($scale), 1 rank, accum $W"; cat "$ref.log"; continue
fi
ddp=""
for s in $strategies; do
    name=${s%%.*}
    extra=""
    [ "$s" = "$name" ] || extra="--set $s"
    [ "$s" = fsdp.sharding=hybrid ] && extra="$extra --set fsdp.shard_size=2"
    dir="$TMP/$W-$scale-$(echo "$s" | tr '.=' '__')"
    # shellcheck disable=SC2086
    if ! timeout 300 $MPIRUN -np $W "$LLMRT_BIN" train "$TMP/tiny.ini" $common $lrs \
        --set runtime.collective=mpi --set runtime.strategy=$name $extra \
        --set train.out="$dir" >"$dir.log" 2>&1; then
        fail "t5 ($scale), $s at $W ranks: the run failed"; tail -20 "$dir.log"; continue
    fi
    [ "$s" = ddp ] && ddp=$dir
    if [ "$s" != ddp ] && [ -n "$ddp" ]; then
        same "t5 ($scale), $s at $W ranks vs ddp at $W ranks" "$(final "$ddp")" \
            "$(final "$dir")" 1e-6 1e-9
        same_curves "t5 ($scale), $s at $W ranks: losses and clipped global norms of ddp at $W ranks" \
            "$ddp/metrics.jsonl" "$dir/metrics.jsonl" 1e-6
    fi
    if [ $scale = int8 ]; then
        head -1 "$ref/metrics.jsonl" >"$TMP/first.a"
        head -1 "$dir/metrics.jsonl" >"$TMP/first.b"
        same_curves "t5 int8, $s at $W ranks: first step of 1 rank x accum $W (1e-6)" \
            "$TMP/first.a" "$TMP/first.b" 1e-6
        continue
    fi
    same_curves "t5 ($scale), $s at $W ranks: losses and global norms of 1 rank x accum $W (1e-4)" \
        "$ref/metrics.jsonl" "$dir/metrics.jsonl" 1e-4
    same "t5 ($scale), $s at $W ranks vs 1 rank x accum $W" "$(final "$ref")" "$(final "$dir")" \
        1e-4 3e-5 1e-6
done
done
finish
