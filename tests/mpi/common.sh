# common.sh — sourced by the mpi shell tests after tests/train/common.sh:
# skip (77) unless mpirun and the mpi plugin are here.
: "${MPIRUN:=mpirun --allow-run-as-root --oversubscribe}"
MPI_PLUGIN="$LLMRT_TEST_BUILDDIR/../plugins/mpi/.libs/llmrt-collective-mpi.so"
command -v ${MPIRUN%% *} >/dev/null 2>&1 || { echo "SKIP: ${MPIRUN%% *} not found"; exit 77; }
[ -f "$MPI_PLUGIN" ] || { echo "SKIP: the mpi plugin is not built ($MPI_PLUGIN)"; exit 77; }
