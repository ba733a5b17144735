#!/bin/sh
# The mpi collective started by Slurm's srun (direct launch through PMIx, no
# mpirun): a one-node Slurm of its own (slurmctld + slurmd on 127.0.0.1,
# auth/none, no accounting, state in $TMP, ports picked free) runs the
# collective test program and a ddp training over mpi, then is stopped.
# SKIP (77) when slurmctld, slurmd or srun are not installed (Debian:
# slurmctld slurmd slurm-client), or Slurm offers no pmix MPI plugin.
. "$(dirname "$0")/../train/common.sh"
. "$(dirname "$0")/common.sh"
prog="$LLMRT_TEST_BUILDDIR/mpi/test_mpi_coll"
[ -x "$prog" ] || { echo "SKIP: $prog is not built"; exit 77; }
for b in slurmctld slurmd srun sinfo; do
    command -v $b >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
    command -v $b >/dev/null 2>&1 || { echo "SKIP: $b not found (Slurm is not installed)"; exit 77; }
done

# Two free TCP ports: the kernel's choice for port 0, with python3 if it is
# here, else a fixed pair away from Slurm's defaults.
ports=$(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))' 2>/dev/null || echo "26817 26818")
set -- $ports
node=$(hostname -s)
S="$TMP/slurm"
mkdir -p "$S/state" "$S/spool"
cat >"$S/slurm.conf" <<EOF
ClusterName=llmrt-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$2
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=10 State=UP
EOF
export SLURM_CONF="$S/slurm.conf"

# Start both daemons in the foreground of background jobs (-D), so that this
# script holds their process ids and stops them, whatever happens.
up0=$(date +%s)
slurmctld -D -f "$SLURM_CONF" >"$S/ctld.out" 2>&1 &
ctld=$!
slurmd -D -f "$SLURM_CONF" -N "$node" >"$S/slurmd.out" 2>&1 &
slurmd=$!
trap 'kill $ctld $slurmd 2>/dev/null; wait $ctld $slurmd 2>/dev/null; rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM HUP
i=0
while [ $i -lt 100 ] && ! sinfo -h -o %t 2>/dev/null | grep -q idle; do sleep 0.2; i=$((i + 1)); done
if ! sinfo -h -o %t 2>/dev/null | grep -q idle; then
    fail "Slurm did not come up within 20 s"
    tail -5 "$S/ctld.out" "$S/slurmd.out" "$S/slurmctld.log" "$S/slurmd.log"
    finish
    exit 1
fi
pass "a one-node Slurm is up in $(($(date +%s) - up0)) s ($(sinfo -h -o '%P %D %t %C'))"
if ! srun --mpi=list 2>&1 | grep -q pmix; then
    echo "SKIP: Slurm has no pmix MPI plugin ($(srun --mpi=list 2>&1 | tr '\n' ' '))"
    exit 77
fi

run() { # label, command...
    label=$1; shift
    t0=$(date +%s)
    if timeout 120 "$@" >"$TMP/out" 2>&1; then pass "$label ($(($(date +%s) - t0)) s): $(tail -1 "$TMP/out")"
    else fail "$label (exit $?)"; cat "$TMP/out"; fi
}
# Ranks from Slurm: caps and every collective against MPI's own results.
run "srun -n 1 --mpi=pmix" srun -n 1 --mpi=pmix "$prog"
run "srun -n 2 --mpi=pmix" srun -n 2 --mpi=pmix "$prog"
# 3 ranks on 2 CPUs: make Open MPI yield when idle, as mpirun --oversubscribe does.
run "srun -n 3 --overcommit --mpi=pmix" env OMPI_MCA_mpi_yield_when_idle=1 \
    srun -n 3 --overcommit --mpi=pmix "$prog"
# llmrt itself (it does not link MPI: the plugin initialises MPI under srun).
run "srun -n 2 llmrt train over mpi" srun -n 2 --mpi=pmix "$LLMRT_BIN" train "$TMP/tiny.ini" \
    --set runtime.collective=mpi --set train.steps=4 --set train.eval_every=0 \
    --set train.out="$TMP/run2"
grep -q "x 2, mpi, ddp" "$TMP/out" && pass "srun: llmrt reports world 2 over mpi" \
    || { fail "srun: no 'x 2, mpi, ddp' banner"; cat "$TMP/out"; }
finish
