#!/bin/sh
# collectives.sh [BUILDDIR] — `llmrt bench collectives` through the mpi plugin
# and the same calls made on raw MPI (bench_mpi_raw), in one run each on the
# same ranks, then the plugin/raw ratio of bus bandwidth at RATIO_BYTES.
# A figure, never an assertion (DESIGN.md section 7).
#
# Environment: NP (ranks, default 2), MIN and MAX (bytes, default 4 and
# 268435456), ITERS (default 20), RATIO_BYTES (default 67108864 = 64 MiB),
# REPS (extra alternating runs of RATIO_BYTES alone for the ratio, default 3),
# MPIRUN (default "mpirun --allow-run-as-root --oversubscribe").
set -eu
B=${1:-.}
NP=${NP:-2} MIN=${MIN:-4} MAX=${MAX:-268435456} ITERS=${ITERS:-20}
RATIO_BYTES=${RATIO_BYTES:-67108864} REPS=${REPS:-3}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
: "${LLMRT_PLUGIN_PATH:=$B/plugins/cpu/.libs:$B/plugins/local/.libs:$B/plugins/shard/.libs:$B/plugins/mpi/.libs}"
export LLMRT_PLUGIN_PATH
out=$(mktemp -d "${TMPDIR:-/tmp}/llmrt-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT

$MPIRUN -np "$NP" "$B/cli/llmrt" bench collectives --set runtime.collective=mpi \
    --sizes "$MIN:$MAX" --iters "$ITERS" | tee "$out/plugin"
echo
$MPIRUN -np "$NP" "$B/bench/bench_mpi_raw" "$MIN" "$MAX" "$ITERS" | tee "$out/raw"
echo
# The ratio: REPS more alternating runs of that one size each, best of all
# runs on each side (a loaded machine makes single runs noisy).
i=0
while [ $i -lt "$REPS" ]; do
    $MPIRUN -np "$NP" "$B/cli/llmrt" bench collectives --set runtime.collective=mpi \
        --sizes "$RATIO_BYTES:$RATIO_BYTES" --iters "$ITERS" >>"$out/plugin"
    $MPIRUN -np "$NP" "$B/bench/bench_mpi_raw" "$RATIO_BYTES" "$RATIO_BYTES" "$ITERS" >>"$out/raw"
    i=$((i + 1))
done
best() { awk -v op=$1 -v s="$RATIO_BYTES" '$1 == op && $2 == s && $6 > m { m = $6 } END { if (m != "") print m }' "$2"; }
echo "# plugin / raw MPI bus bandwidth at $RATIO_BYTES bytes, $NP ranks (best of $((REPS + 1)) runs each)"
for op in allreduce reduce_scatter all_gather broadcast; do
    p=$(best $op "$out/plugin")
    r=$(best $op "$out/raw")
    if [ -n "$p" ] && [ -n "$r" ]; then
        awk -v op=$op -v p="$p" -v r="$r" 'BEGIN { printf "  %-14s plugin %8.3f GB/s  raw %8.3f GB/s  ratio %.3f\n", op, p, r, (r > 0 ? p / r : 0) }'
    else
        echo "  $op: no row of $RATIO_BYTES bytes (MAX too small?)"
    fi
done
