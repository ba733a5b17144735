# tests/quant: the number formats of the quant plugin (and fp32), bit for
# bit: exhaustive over all 2^32 fp32 inputs against independent references
# (OpenMP, 2 threads), PyTorch vectors (format_vectors.bin, made by
# make_format_vectors.py), stochastic rounding, int8, descriptors and
# `llmrt formats`.
QUANT_TEST_UTIL = tests/quant/quant_test_util.c tests/quant/quant_test_util.h
QUANT_TEST_PLUGIN = plugins/quant/llmrt-format-quant.la

check_PROGRAMS += tests/quant/test_format_exhaustive tests/quant/test_format_quant \
	tests/quant/test_format_vectors
tests_quant_test_format_exhaustive_SOURCES = tests/quant/test_format_exhaustive.c $(QUANT_TEST_UTIL)
tests_quant_test_format_exhaustive_CFLAGS = $(TEST_CFLAGS) $(OPENMP_CFLAGS)
tests_quant_test_format_exhaustive_LDFLAGS = $(OPENMP_CFLAGS)
tests_quant_test_format_exhaustive_LDADD = $(TEST_LIBS)
EXTRA_tests_quant_test_format_exhaustive_DEPENDENCIES = $(QUANT_TEST_PLUGIN)

tests_quant_test_format_quant_SOURCES = tests/quant/test_format_quant.c $(QUANT_TEST_UTIL)
tests_quant_test_format_quant_CFLAGS = $(TEST_CFLAGS) $(OPENMP_CFLAGS)
tests_quant_test_format_quant_LDFLAGS = $(OPENMP_CFLAGS)
tests_quant_test_format_quant_LDADD = $(TEST_LIBS)
EXTRA_tests_quant_test_format_quant_DEPENDENCIES = $(QUANT_TEST_PLUGIN)

tests_quant_test_format_vectors_SOURCES = tests/quant/test_format_vectors.c $(QUANT_TEST_UTIL)
tests_quant_test_format_vectors_CFLAGS = $(TEST_CFLAGS)
tests_quant_test_format_vectors_LDADD = $(TEST_LIBS)
EXTRA_tests_quant_test_format_vectors_DEPENDENCIES = $(QUANT_TEST_PLUGIN)

TESTS += tests/quant/test_format_exhaustive tests/quant/test_format_quant \
	tests/quant/test_format_vectors tests/quant/test_formats_cmd.sh
EXTRA_DIST += tests/quant/test_formats_cmd.sh tests/quant/make_format_vectors.py \
	tests/quant/format_vectors.bin
