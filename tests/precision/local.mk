# tests/precision: the mixed-precision policy, dynamic loss scaling, and
# training in bf16, fp16 and int8 QAT end to end (one process and under mpirun).
check_PROGRAMS += tests/precision/test_loss_scale
tests_precision_test_loss_scale_SOURCES = tests/precision/test_loss_scale.c
tests_precision_test_loss_scale_CFLAGS = $(TEST_CFLAGS)
tests_precision_test_loss_scale_LDADD = $(TEST_LIBS)
TESTS += tests/precision/test_loss_scale
TESTS += tests/precision/test_formats_train.sh
EXTRA_DIST += tests/precision/test_formats_train.sh
TESTS += tests/precision/test_multirank_formats.sh
EXTRA_DIST += tests/precision/test_multirank_formats.sh
