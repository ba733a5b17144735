#!/bin/sh
# strategies.sh [BUILDDIR] — step time of every sharding strategy on the demo
# shape with NP ranks (default 2) over the mpi collective, as a ratio to ddp
# measured in the same run, and the communication volume per step in units of
# Psi (fp32 parameter bytes) beside the ZeRO paper's 2/2/2/3. Figures only.
set -u
B=${1:-.}
top=$(cd "$(dirname "$0")/.." && pwd)
NP=${NP:-2} STEPS=${STEPS:-25}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export LLMRT_PLUGIN_PATH="$B/plugins/cpu/.libs:$B/plugins/local/.libs:$B/plugins/shard/.libs:$B/plugins/mpi/.libs"
out=$(mktemp -d "${TMPDIR:-/tmp}/llmrt-strat.XXXXXX")
trap 'rm -rf "$out"' EXIT
threads=$(( $(nproc) / NP )); [ "$threads" -ge 1 ] || threads=1
echo "demo shape, $NP ranks x $threads threads, $STEPS steps; median tokens/s of the last 20 steps"
printf "%-26s %12s %10s %s\n" strategy tokens/s vs_ddp communication/step
ddp=""
for s in "ddp" "zero zero.stage=1" "zero zero.stage=2" "zero zero.stage=3" \
         "fsdp fsdp.sharding=full" "fsdp fsdp.sharding=grad_op"; do
    set -- $s
    extra=""; [ -n "${2:-}" ] && extra="--set $2"
    rm -rf "$out/run"
    $MPIRUN -np "$NP" "$B/cli/llmrt" train "$top/configs/demo.ini" --set runtime.collective=mpi \
        --set runtime.strategy="$1" $extra --set cpu.threads=$threads --set train.steps="$STEPS" \
        --set train.warmup=1 --set train.eval_every=0 --set data.val= --set data.train="$B/runs/demo-data/train.txt" \
        --set train.out="$out/run" > "$out/log" 2>&1 || { echo "$s: failed"; tail -3 "$out/log"; continue; }
    tps=$(tail -n 20 "$out/run/metrics.jsonl" | sed 's/.*"tokens_per_s":\([0-9.]*\).*/\1/' | sort -n \
        | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    [ -n "$ddp" ] || ddp=$tps
    comm=$(sed -n 's/.*communication per step and rank: \(.*\) (ZeRO.*/\1/p' "$out/log")
    printf "%-26s %12.0f %10.2f %s\n" "$s" "$tps" "$(echo "$tps $ddp" | awk '{print $1 / $2}')" "$comm"
done
echo "ZeRO paper (arXiv 1910.02054): ddp 2 Psi, zero1 2 Psi, zero2 2 Psi, zero3 3 Psi"
