# tests/model: the GPT model (core/gpt.c) against a PyTorch reference fixture
# (made by make_gpt_fixture.py, kept beside it) and on its own.
check_PROGRAMS += tests/model/test_gpt_reference tests/model/test_gpt_model
TESTS += tests/model/test_gpt_reference tests/model/test_gpt_model

GPT_TEST_UTIL = tests/model/gpt_test_util.c tests/model/gpt_test_util.h

tests_model_test_gpt_reference_SOURCES = tests/model/test_gpt_reference.c $(GPT_TEST_UTIL)
tests_model_test_gpt_reference_CFLAGS = $(TEST_CFLAGS)
tests_model_test_gpt_reference_LDADD = $(TEST_LIBS)

tests_model_test_gpt_model_SOURCES = tests/model/test_gpt_model.c $(GPT_TEST_UTIL)
tests_model_test_gpt_model_CFLAGS = $(TEST_CFLAGS)
tests_model_test_gpt_model_LDADD = $(TEST_LIBS)

EXTRA_DIST += tests/model/make_gpt_fixture.py tests/model/gpt_tiny_fixture.safetensors
