# tests/ckpt: sharded checkpoints (Check, with a fake sharding) and `llmrt
# ckpt` / resume end to end (shell; ranks under mpirun when the mpi plugin is built).
check_PROGRAMS += tests/ckpt/test_shards
tests_ckpt_test_shards_SOURCES = tests/ckpt/test_shards.c
tests_ckpt_test_shards_CFLAGS = $(TEST_CFLAGS)
tests_ckpt_test_shards_LDADD = $(TEST_LIBS)
TESTS += tests/ckpt/test_shards tests/ckpt/test_ckpt_cmd.sh
EXTRA_DIST += tests/ckpt/test_ckpt_cmd.sh
