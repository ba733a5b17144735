#!/bin/sh
# `llmrt sweep`, `llmrt fit` and `llmrt plan` from a budget, end to end: a
# tiny IsoFLOP grid (3 shapes x 2 budgets) stopped after 2 runs and resumed
# (finished runs skipped), the table's arithmetic (D = steps x tokens per
# step, flops = 6 N D), the fit of that table saved and plotted, planning
# from the saved law, the reference points of the published laws, and
# one-line errors for bad input.
. "$(dirname "$0")/../train/common.sh"
B=$LLMRT_BIN

# The sweep's config: the shared tiny text, [train] batch 8 x context 32.
sed -e 's/^context = 16/context = 32/' -e 's/^batch = 4/batch = 8/' \
    -e 's/^eval_every = 10/eval_every = 0/' "$TMP/tiny.ini" > "$TMP/sweep.ini"
cat >> "$TMP/sweep.ini" <<EOT
[sweep]
out = $TMP/sweep
budgets = 1e9, 3e9
shapes = 1x16, 1x32, 2x32
head_dim = 16
min_steps = 10
EOT

"$B" sweep "$TMP/sweep.ini" --max-runs 2 >"$TMP/s1.out" 2>&1 \
    && grep -q "sweep: 2 trained, 0 finished earlier, 0 left out, 4 not run" "$TMP/s1.out" \
    && pass "sweep --max-runs 2 stops after two runs" || { fail "sweep --max-runs 2"; cat "$TMP/s1.out"; }
[ "$(wc -l < "$TMP/sweep/results.csv")" -eq 3 ] && pass "table: 2 rows after the stop" \
    || { fail "table after the stop"; cat "$TMP/sweep/results.csv"; }
"$B" sweep "$TMP/sweep.ini" >"$TMP/s2.out" 2>&1 \
    && grep -q "sweep: 4 trained, 2 finished earlier, 0 left out, 0 not run; 6 rows" "$TMP/s2.out" \
    && pass "sweep resumed: the 2 finished runs skipped, 4 trained" || { fail "sweep resume"; cat "$TMP/s2.out"; }
[ "$(grep -c 'finished earlier: val' "$TMP/s2.out")" -eq 2 ] && pass "skipped runs report their loss" \
    || fail "skipped runs: $(cat "$TMP/s2.out")"
for d in "$TMP"/sweep/C*; do
    [ -s "$d/metrics.jsonl" ] && [ -s "$d/run.json" ] && [ -s "$d/train.log" ] || fail "run dir $d incomplete"
done
[ "$(ls -d "$TMP"/sweep/C* | wc -l)" -eq 6 ] && pass "one run directory per grid point" || fail "run dirs: $(ls "$TMP/sweep")"

# The table: header, D = steps * 256 tokens, flops = 6 N D, a loss below
# the uniform byte distribution's log(256) = 5.545.
head -1 "$TMP/sweep/results.csv" | grep -qx 'run,layers,dim,heads,params,budget,steps,tokens,flops,val_loss' \
    && pass "table header" || fail "table header: $(head -1 "$TMP/sweep/results.csv")"
if awk -F, 'NR > 1 { if ($8 != $7 * 256) exit 1; f = 6 * $5 * $8; if ((f - $9) / f > 1e-5 || (f - $9) / f < -1e-5) exit 1;
                     if (!($10 > 1 && $10 < 5.545)) exit 1; n++ } END { exit n != 6 }' "$TMP/sweep/results.csv"; then
    pass "table: D = steps x 256, flops = 6 N D, losses in (1, log 256)"
else fail "table arithmetic"; cat "$TMP/sweep/results.csv"; fi
# The final loss in the table is the run's own last validation loss.
run=$(awk -F, 'NR == 2 { print $1 }' "$TMP/sweep/results.csv")
want=$(awk -F, 'NR == 2 { printf "%.4f", $10 }' "$TMP/sweep/results.csv")
got=$(tail -1 "$TMP/sweep/$run/metrics.jsonl" | sed 's/.*"val_loss":\([^,]*\),.*/\1/' | awk '{ printf "%.4f", $1 }')
[ "$want" = "$got" ] && pass "table loss = the run's last val_loss ($got)" || fail "table loss $want, metrics $got"

# JSON lines: the same sweep written as .jsonl reads back in llmrt fit.
"$B" sweep "$TMP/sweep.ini" --set sweep.table="$TMP/sweep/results.jsonl" >"$TMP/s3.out" 2>&1 \
    && [ "$(wc -l < "$TMP/sweep/results.jsonl")" -eq 6 ] && pass "sweep.table = .jsonl" \
    || { fail "jsonl table"; cat "$TMP/s3.out"; }

# The fit: 6 points, a small bootstrap; the law file and the plot.
"$B" fit "$TMP/sweep/results.csv" --grid coarse --bootstrap 10 --out "$TMP/law.json" \
    --plot "$TMP/sweep.svg" >"$TMP/fit.out" 2>&1
status=$?
if command -v gnuplot >/dev/null 2>&1; then
    [ $status -eq 0 ] && grep -q '<svg' "$TMP/sweep.svg" && pass "fit --plot wrote an SVG" \
        || { fail "fit --plot"; cat "$TMP/fit.out"; }
else
    grep -q "gnuplot not found.*gnuplot-nox" "$TMP/fit.out" && pass "fit --plot without gnuplot: $(tail -1 "$TMP/fit.out")" \
        || { fail "fit --plot without gnuplot"; cat "$TMP/fit.out"; }
fi
grep -q '"alpha"' "$TMP/law.json" && grep -q '"ci95"' "$TMP/law.json" && pass "law file with intervals" \
    || { fail "law file"; cat "$TMP/fit.out" "$TMP/law.json"; }
grep -q "^fit: 6 points" "$TMP/fit.out" && grep -q "95% percentile bootstrap, 10 resamples" "$TMP/fit.out" \
    && pass "fit report" || { fail "fit report"; cat "$TMP/fit.out"; }
# Both encodings carry the values to 10 digits: the same points, the same fit.
"$B" fit "$TMP/sweep/results.jsonl" --grid coarse --bootstrap 0 --out "$TMP/law2.json" >"$TMP/fit2.out" 2>&1 \
    && [ "$(grep -A5 '^L(N, D)' "$TMP/fit.out" | awk '{ print $1, $2 }')" = "$(grep -A5 '^L(N, D)' "$TMP/fit2.out" | awk '{ print $1, $2 }')" ] \
    && pass "the .jsonl table fits to the same law" || { fail "jsonl fit"; cat "$TMP/fit.out" "$TMP/fit2.out"; }

# Planning from the fitted law, with the sweep's own shape family.
"$B" plan "$TMP/tiny.ini" --law "$TMP/law.json" --budget 1e10 >"$TMP/plan.out" 2>&1 \
    && grep -q "^law fitted" "$TMP/plan.out" && grep -q "^shape .*vocab 256" "$TMP/plan.out" \
    && pass "plan --law FILE" || { fail "plan --law FILE"; cat "$TMP/plan.out"; }

# The published laws at the Chinchilla budget.
check_ratio() { # LAW RATIO
    "$B" plan --budget 5.76e23 --law "$1" >"$TMP/p.out" 2>&1
    got=$(awk '$1 == "ratio" { print $2 }' "$TMP/p.out")
    [ "$got" = "$2" ] && pass "plan --law $1 at 5.76e23 FLOPs: $got tokens/param" \
        || { fail "plan --law $1: ratio '$got', expected $2"; cat "$TMP/p.out"; }
}
check_ratio chinchilla 92.6
check_ratio besiroglu 18.4
check_ratio tpp20 20.0
"$B" plan --budget 5.76e23 --law chinchilla --world 1024 --peak 312e12 --mfu 0.4 \
    --device-memory 80GB --format bf16 >"$TMP/p.out" 2>&1
grep -q "^params     3.22e+10" "$TMP/p.out" && grep -q "^tokens     2.98e+12" "$TMP/p.out" \
    && grep -q "^time .* days on 1024 devices" "$TMP/p.out" && grep -q "^zero3 .* yes  *10$" "$TMP/p.out" \
    && grep -q "^ddp .* no  *none$" "$TMP/p.out" && pass "plan: N, D, time, what fits, on how many devices" \
    || { fail "plan from a budget"; cat "$TMP/p.out"; }
# Device-hours: 1000 h at 1e15 FLOP/s and MFU 0.5 is 1.8e21 FLOPs.
"$B" plan --hours 1000 --peak 1e15 --mfu 0.5 >"$TMP/p.out" 2>&1 && grep -q "^compute    1.8e+21" "$TMP/p.out" \
    && pass "plan --hours" || { fail "plan --hours"; cat "$TMP/p.out"; }

# Killed in the middle of a run: the run dies with the sweep, and the next
# sweep continues it from its last checkpoint (steps after it only).
sed -e "s|^out = .*|out = $TMP/sweep-kill|" -e 's/^budgets = .*/budgets = 5e9/' \
    -e 's/^shapes = .*/shapes = 1x16/' "$TMP/sweep.ini" > "$TMP/kill.ini"
run="$TMP/sweep-kill/C5e09-L1-d16"
"$B" sweep "$TMP/kill.ini" >"$TMP/k1.out" 2>&1 &
pid=$!
i=0
while [ ! -f "$run/latest" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
kill -KILL $pid
wait $pid 2>/dev/null
sleep 1
before=$(wc -l < "$run/metrics.jsonl")
sleep 2
if [ ! -f "$run/latest" ]; then fail "kill: no checkpoint appeared"; cat "$TMP/k1.out"
elif [ "$(wc -l < "$run/metrics.jsonl")" -ne "$before" ]; then fail "kill: the run outlived the sweep"
else pass "kill: the run stopped with the sweep (at $before steps)"; fi
"$B" sweep "$TMP/kill.ini" >"$TMP/k2.out" 2>&1 && grep -q "1 trained" "$TMP/k2.out" \
    || { fail "sweep after the kill"; cat "$TMP/k2.out"; }
first=$(awk '/^llmrt: training/ { n++ } n == 2 && /^step [0-9]+\// { sub(/^step /, ""); sub(/\/.*/, ""); print; exit }' "$run/train.log")
[ "$(grep -c '^llmrt: training' "$run/train.log")" -eq 2 ] && [ -n "$first" ] && [ "$first" -gt 100 ] \
    && pass "resumed from the checkpoint: first step logged after the kill is $first" \
    || { fail "resume after the kill: first step '$first'"; tr '\r' '\n' < "$run/train.log" | head -40; }

# Bad input: one line on stderr, exit status 1 or 2.
expect_error() {
    name=$1 pattern=$2
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    status=$?
    if [ "$status" -eq 0 ] || [ "$status" -gt 2 ]; then fail "$name: exit status $status"
    elif [ "$(wc -l < "$TMP/err")" -ne 1 ]; then fail "$name: not one line: $(cat "$TMP/err")"
    elif ! grep -Eq -- "$pattern" "$TMP/err"; then fail "$name: /$pattern/ not in $(cat "$TMP/err")"
    else pass "$name: $(cat "$TMP/err")"; fi
}
expect_error "unknown law" "chinchila.*accepted: chinchilla" "$B" plan --budget 1e20 --law chinchila
expect_error "budget and params" "budget" "$B" plan --budget 1e20 --params 7B
expect_error "bad budget" "--budget -5" "$B" plan --budget -5
expect_error "hours without peak" "--peak" "$B" plan --hours 100
expect_error "bad device memory" "--device-memory 80XB" "$B" plan --budget 1e20 --device-memory 80XB
expect_error "bad shape" "shapes: '2y32'" "$B" sweep "$TMP/sweep.ini" --set sweep.shapes=2y32
expect_error "shape vs head_dim" "dim 24 is not a multiple" "$B" sweep "$TMP/sweep.ini" --set sweep.shapes=1x24
expect_error "bad budgets" "budgets: 'lots'" "$B" sweep "$TMP/sweep.ini" --set sweep.budgets=lots
expect_error "sweep typo" "sweep.budget" "$B" sweep "$TMP/sweep.ini" --set sweep.budget=1e9
expect_error "fit: missing table" "nope.csv" "$B" fit "$TMP/nope.csv"
head -4 "$TMP/sweep/results.csv" > "$TMP/short.csv"
expect_error "fit: too few points" "at least 5" "$B" fit "$TMP/short.csv"
printf 'params,tokens,val_loss\n1e6,1e8,abc\n' > "$TMP/bad.csv"
expect_error "fit: bad cell" "bad.csv:2: column val_loss: 'abc'" "$B" fit "$TMP/bad.csv"
expect_error "fit: plot format" "must end in .svg or .png" "$B" fit "$TMP/sweep/results.csv" --grid coarse --bootstrap 0 --out "$TMP/l3.json" --plot "$TMP/x.pdf"
finish
