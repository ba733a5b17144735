#!/bin/sh
# bench/run.sh — training throughput of llmrt against PyTorch on the same
# shapes, in the same run, and the memory check. Prints figures and ratios.
# usage: bench/run.sh [BUILDDIR]   (make bench runs it)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top}
bin=$build/bench/bench_train
export LLMRT_PLUGIN_PATH="$build/plugins/cpu/.libs:$build/plugins/local/.libs:$build/plugins/shard/.libs"
threads=${THREADS:-2}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) ($(nproc) cores), threads $threads"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"

run_shape() { # name layers heads dim vocab context batch T steps
    name=$1
    out=$("$bin" "$@" --set cpu.threads=$threads 2>/dev/null) || { echo "bench_train $name failed"; return 1; }
    echo "$out"
    ours=$(echo "$out" | sed -n 's/.*tokens_per_s=\([0-9.]*\).*/\1/p' | head -1)
    theirs_line=$(OMP_NUM_THREADS=$threads /usr/bin/python3 "$top/bench/torch_train.py" --name "$name" \
        --layers "$2" --heads "$3" --dim "$4" --vocab "$5" --context "$8" --batch "$7" \
        --steps "${BENCH_TORCH_STEPS:-$9}" --threads "$threads" 2>/dev/null) || { echo "torch $name: not run (python3-torch missing?)"; return 0; }
    echo "$theirs_line"
    theirs=$(echo "$theirs_line" | sed -n 's/.*tokens_per_s=\([0-9.]*\).*/\1/p')
    awk -v a="$ours" -v b="$theirs" -v n="$name" 'BEGIN { printf "ratio %s llmrt/torch tokens_per_s = %.2f (target >= 2)\n", n, a / b }'
}

run_shape demo 4 4 256 256 128 16 128 10
run_shape gpt2-124M 12 12 768 50257 1024 4 64 ${BENCH_STEPS:-5}
