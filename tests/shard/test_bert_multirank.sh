#!/bin/sh
# bert under every strategy at 2 ranks over the mpi collective against the
# single-process run over the same global data, as test_multirank.sh does
# for gpt (see there for the data layout and why the bounds are what they
# are): rank r's batch of step j is micro-batch r of step j of one process
# with accum 2, and it is masked alike because the masking stream is a
# function of the batch's number (core/mlm.h llmrt_mlm_batch_rng).
#  - vs ddp at 2 ranks: within 1e-6 relative (bit-identical is what we see);
#  - vs one process with accum 2: losses and global norms within 1e-4 step
#    by step, weights within 1e-4 relative + 3e-5 absolute elementwise and
#    1e-6 norm-wise over the whole model.
# fp32 for every strategy; int8 QAT (step sizes sharded like any parameter)
# for ddp, zero stage 3 and fsdp full: against ddp at 2 ranks as in fp32,
# against the one process the first step (the same weights) within 1e-6, and
# after that looser: a weight that sits within rounding noise of a rounding
# boundary of w / s flips by a whole step s between the two runs, which moves
# the forward discretely, so the runs drift apart faster than in fp32
# (measured after 8 steps: losses 2e-5, norms 4.5e-4, weights 4.7e-4
# norm-wise). Bounds: 1e-3 step by step and norm-wise, 1e-2 absolute
# elementwise.
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
W=2
common="--set model.arch=bert --set model.vocab=260 --set train.lr=3e-3 --set train.steps=8
--set train.eval_every=0 --set train.batch=2"

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

for fmt in fp32 int8; do
    strategies="ddp zero.stage=1 zero.stage=2 zero.stage=3 fsdp.sharding=full
        fsdp.sharding=grad_op fsdp.sharding=hybrid"
    [ $fmt = int8 ] && strategies="ddp zero.stage=3 fsdp.sharding=full"
    ref="$TMP/one-$fmt"
    # shellcheck disable=SC2086
    if ! timeout 300 "$LLMRT_BIN" train "$TMP/tiny.ini" $common --set runtime.format=$fmt \
        --set train.accum=$W --set train.out="$ref" >"$ref.log" 2>&1; then
        fail "bert $fmt: 1 rank, accum $W"; cat "$ref.log"; continue
    fi
    ddp=""
    for s in $strategies; do
        name=${s%%.*}
        extra=""
        [ "$s" = "$name" ] || extra="--set $s"
        # hybrid with groups of 1: replication through the zero-3 machinery
        [ "$s" = fsdp.sharding=hybrid ] && extra="$extra --set fsdp.shard_size=1"
        dir="$TMP/$fmt-$(echo "$s" | tr '.=' '__')"
        # shellcheck disable=SC2086
        if ! timeout 300 $MPIRUN -np $W "$LLMRT_BIN" train "$TMP/tiny.ini" $common \
            --set runtime.format=$fmt --set runtime.collective=mpi --set runtime.strategy=$name \
            $extra --set train.out="$dir" >"$dir.log" 2>&1; then
            fail "bert $fmt $s at $W ranks: the run failed"; tail -20 "$dir.log"; continue
        fi
        [ "$s" = ddp ] && ddp=$dir
        if [ "$s" != ddp ] && [ -n "$ddp" ]; then
            same "bert $fmt $s at $W ranks vs ddp at $W ranks" "$(final "$ddp")" "$(final "$dir")" \
                1e-6 1e-9
            same_curves "bert $fmt $s at $W ranks: losses and norms of ddp at $W ranks" \
                "$ddp/metrics.jsonl" "$dir/metrics.jsonl" 1e-6
        fi
        if [ $fmt = int8 ]; then
            head -1 "$ref/metrics.jsonl" >"$TMP/first.a"
            head -1 "$dir/metrics.jsonl" >"$TMP/first.b"
            same_curves "bert int8 $s at $W ranks: first step of 1 rank x accum $W (1e-6)" \
                "$TMP/first.a" "$TMP/first.b" 1e-6
            same_curves "bert int8 $s at $W ranks: losses and norms of 1 rank x accum $W (1e-3)" \
                "$ref/metrics.jsonl" "$dir/metrics.jsonl" 1e-3
            same "bert int8 $s at $W ranks vs 1 rank x accum $W" "$(final "$ref")" \
                "$(final "$dir")" 1 1e-2 1e-3
            continue
        fi
        same_curves "bert $fmt $s at $W ranks: losses and norms of 1 rank x accum $W (1e-4)" \
            "$ref/metrics.jsonl" "$dir/metrics.jsonl" 1e-4
        same "bert $fmt $s at $W ranks vs 1 rank x accum $W" "$(final "$ref")" "$(final "$dir")" \
            1e-4 3e-5 1e-6
    done
done
finish
