# tests/train: end-to-end runs of the llmrt command (shell).
TESTS += tests/train/test_resume.sh tests/train/test_kill.sh tests/train/test_cli_errors.sh
EXTRA_DIST += tests/train/common.sh tests/train/test_resume.sh tests/train/test_kill.sh \
	tests/train/test_cli_errors.sh
