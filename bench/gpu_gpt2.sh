#!/bin/sh
# bench/gpu_gpt2.sh — GPT-2 124M (bench/gpt2-124m.ini) in bf16 on one GPU:
# llmrt's tokens/s, MFU and device memory against `llmrt plan`, then the same
# model in PyTorch (bench/pytorch_gpt2.py) in the same run, and the ratio.
# Prints figures (bench/README.md); exits non-zero only when llmrt did not run.
#
# Environment (all optional):
#   STEPS=20 WARMUP=5    timed steps, after untimed warm-up steps
#   BATCH=16             sequences of T=1024 per step
#   PEAK_TFLOPS=989      dense bf16 peak for MFU (H100 SXM; H100 PCIe: 756)
#   TORCH_COMPILE=1      torch.compile the PyTorch model (minutes of compiling)
#   SKIP_TORCH=1         llmrt only
#   PYTHON=python3       the Python with torch
#   LLMRT_BIN, LLMRT_PLUGIN_PATH   default: this build tree
#   LLMRT_TIMEOUT=200 TORCH_TIMEOUT=150   seconds for each side
#   BENCH_OUT=DIR        keep the runs there (default: a temporary directory)
#   TORCH_LD_LIBRARY_PATH  LD_LIBRARY_PATH for Python (default: unchanged)
#   BENCH_CONFIG=FILE    another shape (default bench/gpt2-124m.ini)
#   TORCH_DEVICE=cuda    cpu exercises the whole script on a small config
#                        without a GPU (the figures then mean nothing)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cfg=${BENCH_CONFIG:-$top/bench/gpt2-124m.ini}
name=$(basename "$cfg" .ini)
: "${LLMRT_BIN:=$top/cli/llmrt}"
if [ -z "${LLMRT_PLUGIN_PATH:-}" ]; then
    LLMRT_PLUGIN_PATH="$top/plugins/cuda/.libs:$top/plugins/cpu/.libs:$top/plugins/local/.libs:$top/plugins/shard/.libs:$top/plugins/quant/.libs"
    export LLMRT_PLUGIN_PATH
fi
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-5}
BATCH=${BATCH:-16}
PEAK_TFLOPS=${PEAK_TFLOPS:-989}
PYTHON=${PYTHON:-python3}
LLMRT_TIMEOUT=${LLMRT_TIMEOUT:-200}
TORCH_TIMEOUT=${TORCH_TIMEOUT:-150}
if [ -n "${BENCH_OUT:-}" ]; then
    work=$BENCH_OUT
    mkdir -p "$work"
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/llmrt-gpt2.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi

# The shape, from the config (one source of truth for both sides).
ini() { awk -F' *= *' -v s="$1" -v k="$2" '
    /^\[/ { sec = substr($0, 2, index($0, "]") - 2); next }
    sec == s && $1 == k { print $2; exit }' "$cfg"; }
L=$(ini model layers) D=$(ini model dim) H=$(ini model heads) T=$(ini model context) V=$(ini model vocab)
tokens_per_step=$((BATCH * T))
BENCH_NAME=$name
export BENCH_NAME
# FLOPs per token (PaLM appendix B, what llmrt's metrics use): 6N + 12*L*T*d,
# N the parameter count (unpadded vocabulary, tied head, position embedding).
N=$(awk -v L="$L" -v d="$D" -v T="$T" -v V="$V" 'BEGIN { printf "%.0f", V*d + T*d + L*(12*d*d + 13*d) + 2*d }')
FPT=$(awk -v N="$N" -v L="$L" -v d="$D" -v T="$T" 'BEGIN { printf "%.0f", 6*N + 12*L*T*d }')
echo "gpt2 shape: layers $L, width $D, heads $H, T $T, vocab $V (head padded to $(( (V + 63) / 64 * 64 ))), batch $BATCH, bf16; $STEPS timed steps after $WARMUP"
echo "gpt2 flops: per token 6N + 12*L*T*d = 6*$N + 12*$L*$T*$D = $FPT; MFU against $PEAK_TFLOPS TFLOP/s (dense bf16)"
if command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu: $(nvidia-smi -i "${NVIDIA_SMI_INDEX:-0}" --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1)"
fi

# Data: text for the byte tokenizer (ids 0..255; the work per token does not
# depend on them), a few batches long; the loader wraps around epochs.
awk -v n=$((4 * tokens_per_step + 1)) 'BEGIN {
    for (i = 1; t < n; i++) {
        s = sprintf("the number %d is %s and %s than %d.\n", i, (i % 2 ? "odd" : "even"),
                    (i % 3 ? "larger" : "smaller"), i * 7 % 1000)
        printf "%s", s; t += length(s)
    } }' >"$work/train.txt"

# --- memory: the plan for this config ------------------------------------
plan=$("$LLMRT_BIN" plan "$cfg" --strategy ddp --format bf16 --batch "$BATCH" --unit B 2>&1)
predicted=$(echo "$plan" | awk '$1 == "ddp" { print $7 }')
echo "$plan" | sed 's/^/plan: /'

# --- llmrt ----------------------------------------------------------------
# Device memory as the driver sees it: nvidia-smi's memory.used sampled
# every 100 ms during the run, minus its value before. The runtime accounts
# only its own allocations; this adds the CUDA context, cuBLAS workspaces and
# whatever the backend allocates for itself.
smi_pid=""
base_mib=""
if command -v nvidia-smi >/dev/null 2>&1; then
    base_mib=$(nvidia-smi -i "${NVIDIA_SMI_INDEX:-0}" --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1)
    nvidia-smi -i "${NVIDIA_SMI_INDEX:-0}" --query-gpu=memory.used --format=csv,noheader,nounits \
        -lms 100 >"$work/smi.log" 2>/dev/null &
    smi_pid=$!
fi
# The run, then its figures; returns non-zero when there are none.
llmrt_run() {
    timeout "$LLMRT_TIMEOUT" "$LLMRT_BIN" train "$cfg" --set data.train="$work/train.txt" \
        --set train.out="$work/llmrt" --set train.steps=$((WARMUP + STEPS)) \
        --set train.batch="$BATCH" --set train.warmup=0 --set train.log_every=5 >"$work/llmrt.log" 2>&1
    rc=$?
    [ -n "$smi_pid" ] && kill "$smi_pid" 2>/dev/null && wait "$smi_pid" 2>/dev/null
    if [ $rc -ne 0 ] || [ ! -s "$work/llmrt/metrics.jsonl" ]; then
        [ $rc -eq 124 ] && echo "llmrt: timed out after $LLMRT_TIMEOUT s"
        echo "llmrt: the run failed (exit $rc); the end of its log:"
        tail -15 "$work/llmrt.log" | sed 's/^/  /'
        return 1
    fi
    grep -E '^llmrt: (training|memory|done)' "$work/llmrt.log"
    # tokens/s over the timed steps: elapsed_s is the sum of step times.
    llmrt_tps=$(sed 's/.*"step":\([0-9]*\),.*"elapsed_s":\([^,}]*\).*/\1 \2/' "$work/llmrt/metrics.jsonl" |
        awk -v w="$WARMUP" -v s="$STEPS" -v tok="$tokens_per_step" '
            $1 == w { e0 = $2 } $1 == w + s { e1 = $2 }
            END { if (w == 0) e0 = 0; if (e1 > e0) printf "%.1f", s * tok / (e1 - e0) }')
    if [ -z "$llmrt_tps" ]; then
        echo "llmrt: no timed steps in metrics.jsonl (steps $WARMUP..$((WARMUP + STEPS)))"
        return 1
    fi
    last_loss=$(tail -1 "$work/llmrt/metrics.jsonl" | sed 's/.*"loss":\([^,]*\),.*/\1/')
    run_fpt=$(sed -n 's/.*"flops_per_token": *\([0-9.e+]*\).*/\1/p' "$work/llmrt/run.json" | head -1)
    awk -v tps="$llmrt_tps" -v f="$FPT" -v p="$PEAK_TFLOPS" -v tok="$tokens_per_step" \
        -v loss="$last_loss" -v rf="$run_fpt" 'BEGIN {
        m = tps * f / (p * 1e12)
        printf "llmrt %s tokens_per_s=%.1f step_ms=%.2f mfu=%.4f (%.1f%%, target >= 45%%) loss=%s\n",
            ENVIRON["BENCH_NAME"], tps, 1000 * tok / tps, m, 100 * m, loss
        if (rf != "" && rf + 0 != f + 0) printf "note: run.json flops_per_token = %s, the formula here %s\n", rf, f }'

    # Memory against the plan.
    measured=$(sed -n 's/^llmrt: memory rank 0\/1 bytes measured \(.*\) predicted .*/\1/p' "$work/llmrt.log" |
        tr ' ' '\n' | awk -F= 'NF == 2 { s += $2 } END { if (NR) printf "%.0f", s }')
    awk -v p="$predicted" -v m="$measured" -v batch="$BATCH" 'BEGIN {
        if (p == "" || p <= 0) { print "memory: no prediction (llmrt plan failed, above)"; exit }
        printf "memory predicted by llmrt plan (ddp, bf16, batch %s): %.0f bytes = %.1f MiB\n", batch, p, p / 1048576
        if (m != "") printf "memory accounted by the runtime (its own allocations, sum of per-category peaks): %.1f MiB = %.3f x plan\n", m / 1048576, m / p }'
    if [ -n "$smi_pid" ] && [ -s "$work/smi.log" ]; then
        awk -v p="$predicted" -v b="$base_mib" '
            $1 + 0 > mx { mx = $1 + 0 }
            END { d = (mx - b) * 1048576
                  printf "memory on the device (nvidia-smi memory.used peak %d MiB - %d MiB before, 100 ms samples; includes the CUDA context and cuBLAS workspaces): %.1f MiB", mx, b, d / 1048576
                  if (p > 0) printf " = %.3f x plan (target within 10%%: %s)", d / p, (d <= 1.1 * p && d >= 0.9 * p) ? "met" : "not met"
                  printf "\n" }' "$work/smi.log"
    else
        echo "memory on the device: not measured (no nvidia-smi)"
    fi
}
llmrt_tps=""
llmrt_run
llmrt_rc=$?

# --- PyTorch --------------------------------------------------------------
# TORCH_LD_LIBRARY_PATH: the library path for Python, when the caller
# changed LD_LIBRARY_PATH for llmrt (tests/gpu/run puts our deps first).
torch_env() {
    if [ "${TORCH_LD_LIBRARY_PATH+set}" != set ]; then
        "$@"
    elif [ -n "$TORCH_LD_LIBRARY_PATH" ]; then
        LD_LIBRARY_PATH=$TORCH_LD_LIBRARY_PATH "$@"
    else
        env -u LD_LIBRARY_PATH "$@"
    fi
}
torch_run() {
    [ "${SKIP_TORCH:-0}" = 1 ] && return 0
    if ! torch_env "$PYTHON" -c 'import torch' 2>/dev/null; then
        echo "torch: NOT RUN: $PYTHON cannot import torch on this machine"
        return 0
    fi
    compile=""
    [ "${TORCH_COMPILE:-0}" = 1 ] && compile=--compile
    torch_env timeout "$TORCH_TIMEOUT" "$PYTHON" "$top/bench/pytorch_gpt2.py" --name "$name" \
        --device "${TORCH_DEVICE:-cuda}" --layers "$L" --heads "$H" --dim "$D" --context "$T" \
        --vocab "$V" --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" \
        --peak-tflops "$PEAK_TFLOPS" $compile >"$work/torch.log" 2>&1
    trc=$?
    torch_line=$(grep "^torch $name " "$work/torch.log")
    if [ $trc -ne 0 ] || [ -z "$torch_line" ]; then
        [ $trc -eq 124 ] && echo "torch: timed out after $TORCH_TIMEOUT s"
        echo "torch: NOT MEASURED (exit $trc); the end of its output:"
        tail -8 "$work/torch.log" | sed 's/^/  /'
        return 0
    fi
    echo "$torch_line"
    torch_tps=$(echo "$torch_line" | sed -n 's/.*tokens_per_s=\([0-9.]*\).*/\1/p')
    [ -n "$llmrt_tps" ] && awk -v a="$llmrt_tps" -v b="$torch_tps" 'BEGIN {
        printf "ratio %s llmrt/torch tokens_per_s = %.3f (target >= 1)\n", ENVIRON["BENCH_NAME"], a / b }'
    return 0
}
torch_run
exit $llmrt_rc
