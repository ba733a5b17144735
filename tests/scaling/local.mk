# tests/scaling: the scaling laws and their fit (Check), `llmrt plan` from a
# budget, and a tiny `llmrt sweep` + `llmrt fit` on the demo text (sh).
check_PROGRAMS += tests/scaling/test_scaling
tests_scaling_test_scaling_SOURCES = tests/scaling/test_scaling.c
tests_scaling_test_scaling_CFLAGS = $(TEST_CFLAGS)
tests_scaling_test_scaling_LDADD = $(TEST_LIBS)
TESTS += tests/scaling/test_scaling tests/scaling/test_sweep.sh
EXTRA_DIST += tests/scaling/test_sweep.sh
