#!/bin/sh
# bench/gpu_gpt2.sh and bench/pytorch_gpt2.py exercised without a GPU: the
# whole script on a small shape with llmrt on the cpu backend and PyTorch on
# the CPU (TORCH_DEVICE=cpu). Figures are not checked (this machine says
# nothing about a GPU); what is checked is that every line the GPU session
# reads comes out, that both sides count the same parameters and FLOPs per
# token as llmrt's run.json, and that the memory line compares against the
# plan. PyTorch's part skips (the rest still runs) without python3-torch.
. "$(dirname "$0")/../train/common.sh"
BENCH="$LLMRT_TEST_SRCDIR/../bench/gpu_gpt2.sh"
PY=${PYTHON:-/usr/bin/python3}
cat >"$TMP/small.ini" <<EOT
[model]
arch = gpt
layers = 2
heads = 4
dim = 64
context = 32
vocab = 50257
[data]
train = unused.txt
[train]
lr = 6e-4
eval_every = 0
[runtime]
backend = cpu
format = bf16
[cpu]
threads = 2
EOT
if ! BENCH_CONFIG="$TMP/small.ini" BENCH_OUT="$TMP/out" TORCH_DEVICE=cpu PYTHON="$PY" STEPS=2 \
    WARMUP=1 BATCH=2 sh "$BENCH" >"$TMP/bench.txt" 2>&1; then
    fail "bench/gpu_gpt2.sh exited non-zero"; cat "$TMP/bench.txt"; finish; exit
fi
cat "$TMP/bench.txt"
# N = V d + T d + L (12 d^2 + 13 d) + 2 d = 50257*64 + 32*64 + 2*(12*4096 + 13*64) + 128
n=3318592
fpt=$((6 * n + 12 * 2 * 32 * 64))
grep -q "^gpt2 flops: per token 6N + 12\*L\*T\*d = 6\*$n + 12\*2\*32\*64 = $fpt;" "$TMP/bench.txt" &&
    pass "FLOPs per token: 6N + 12LTd = $fpt" || fail "the FLOPs line"
grep -q "\"parameters\": *$n[,}]" "$TMP/out/llmrt/run.json" && grep -q "\"flops_per_token\": *$fpt[,}.]" "$TMP/out/llmrt/run.json" &&
    pass "llmrt's run.json counts the same N and FLOPs per token" ||
    { fail "run.json's parameters/flops_per_token differ from the script's"; cat "$TMP/out/llmrt/run.json"; }
grep -q '^llmrt small tokens_per_s=[0-9.]* step_ms=[0-9.]* mfu=[0-9.]* ' "$TMP/bench.txt" &&
    pass "the llmrt line" || fail "no llmrt tokens/s line"
grep -q '^memory accounted by the runtime (.*): [0-9.]* MiB = 1.000 x plan$' "$TMP/bench.txt" &&
    pass "memory accounted = llmrt plan's prediction" || fail "the memory line against the plan"
if "$PY" -c 'import torch' 2>/dev/null; then
    grep -q "^torch small device=cpu tokens_per_s=[0-9.]* mfu=[0-9.]* .* params=$n flops_per_token=$fpt " "$TMP/bench.txt" &&
        pass "the torch line, same N and FLOPs" || fail "no torch line with N=$n"
    grep -q '^ratio small llmrt/torch tokens_per_s = [0-9.]* ' "$TMP/bench.txt" &&
        pass "the ratio line" || fail "no ratio line"
else
    echo "SKIP (part): $PY has no torch"
fi
finish
