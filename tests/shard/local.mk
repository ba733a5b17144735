# tests/shard: the strategies of plugins/shard. At world size 1 every strategy
# against ddp (bit-identical), plan() against the runtime's accounting, and,
# when the mpi plugin is built and mpirun works, 2, 3 and 4 ranks against the
# single-process run; test_t5_multirank.sh: the same for [model] arch = t5 at 2
# ranks; the same for bert (test_bert_*.sh, 2 ranks).
check_PROGRAMS += tests/shard/test_plan tests/shard/st_compare
tests_shard_test_plan_SOURCES = tests/shard/test_plan.c
tests_shard_test_plan_CFLAGS = $(TEST_CFLAGS)
tests_shard_test_plan_LDADD = $(TEST_LIBS)
tests_shard_st_compare_SOURCES = tests/shard/st_compare.c
tests_shard_st_compare_CFLAGS = $(TEST_CFLAGS)
tests_shard_st_compare_LDADD = $(TEST_LIBS)
TESTS += tests/shard/test_plan tests/shard/test_strategies.sh tests/shard/test_multirank.sh \
	tests/shard/test_t5_multirank.sh tests/shard/test_t5_strategies.sh \
	tests/shard/test_bert_strategies.sh tests/shard/test_bert_multirank.sh
EXTRA_DIST += tests/shard/test_strategies.sh tests/shard/test_multirank.sh \
	tests/shard/test_t5_multirank.sh tests/shard/test_t5_strategies.sh \
	tests/shard/test_bert_strategies.sh tests/shard/test_bert_multirank.sh \
	tests/shard/arch_strategies.sh
