# tests/train: the training loop's weights I/O (Check) and end-to-end runs of
# the llmrt command (shell).
check_PROGRAMS += tests/train/test_weights tests/train/test_lr_scale
tests_train_test_weights_SOURCES = tests/train/test_weights.c
tests_train_test_weights_CFLAGS = $(TEST_CFLAGS)
tests_train_test_weights_LDADD = $(TEST_LIBS)
tests_train_test_lr_scale_SOURCES = tests/train/test_lr_scale.c
tests_train_test_lr_scale_CFLAGS = $(TEST_CFLAGS)
tests_train_test_lr_scale_LDADD = $(TEST_LIBS)
TESTS += tests/train/test_weights tests/train/test_lr_scale tests/train/test_resume.sh tests/train/test_kill.sh \
	tests/train/test_bert_cli.sh tests/train/test_t5_cli.sh \
	tests/train/test_cli_errors.sh
EXTRA_DIST += tests/train/common.sh tests/train/test_resume.sh tests/train/test_kill.sh \
	tests/train/test_bert_cli.sh tests/train/test_t5_cli.sh \
	tests/train/test_cli_errors.sh
