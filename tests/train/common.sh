# common.sh — shared by the end-to-end shell tests: a tiny model, a small
# deterministic text, and helpers. Sourced; needs LLMRT_BIN (tests/local.mk).
set -u
: "${LLMRT_BIN:?run through make check (LLMRT_BIN is not set)}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/llmrt-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
FAILS=0
PASSES=0

# A small text: 3,000 lines of simple, regular English (~100 KB).
awk 'BEGIN { for (i = 1; i <= 3000; i++) printf "the number %d is %s and %s than %d.\n", i, (i % 2 ? "odd" : "even"), (i % 3 ? "larger" : "smaller"), i * 7 % 1000 }' > "$TMP/train.txt"
head -c 20000 "$TMP/train.txt" > "$TMP/val.txt"

cat > "$TMP/tiny.ini" <<EOT
[model]
layers = 2
heads = 2
dim = 32
context = 16
vocab = 256
[data]
train = $TMP/train.txt
val = $TMP/val.txt
[train]
out = $TMP/run
steps = 20
batch = 4
lr = 1e-3
warmup = 2
eval_every = 10
eval_batches = 4
seed = 7
[cpu]
threads = 2
EOT

pass() { PASSES=$((PASSES + 1)); echo "PASS: $*"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL: $*"; }

# The losses of a metrics.jsonl, one per line (timing fields differ between runs).
losses() { sed 's/.*"loss":\([^,]*\),"val_loss":\([^,]*\),.*"grad_norm":\([^,]*\),.*/\1 \2 \3/' "$1"; }

finish() {
    echo "$PASSES passed, $FAILS failed"
    [ "$FAILS" -eq 0 ]
}
