# tests/plan: `llmrt plan` (Check for the arithmetic; shell against real runs).
check_PROGRAMS += tests/plan/test_plan
tests_plan_test_plan_SOURCES = tests/plan/test_plan.c
tests_plan_test_plan_CFLAGS = $(TEST_CFLAGS)
tests_plan_test_plan_LDADD = $(TEST_LIBS)
TESTS += tests/plan/test_plan tests/plan/test_plan_cmd.sh
EXTRA_DIST += tests/plan/test_plan_cmd.sh
