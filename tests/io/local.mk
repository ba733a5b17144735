# tests/io: the core's input/output modules (config, data, safetensors,
# checkpoint, metrics). Each suite compiles the core sources it tests, so it
# builds and runs on its own, whatever state the rest of libllmrt is in.
IO_TEST_CFLAGS = $(TEST_CFLAGS) $(INIH_CFLAGS) $(JANSSON_CFLAGS)
IO_TEST_LIBS = $(INIH_LIBS) $(JANSSON_LIBS) $(CHECK_LIBS) -lm
IO_TEST_COMMON = tests/io/iotest.h core/error.c core/error.h core/fileio.c core/fileio.h

IO_TESTS = tests/io/test_config tests/io/test_data tests/io/test_safetensors \
	tests/io/test_checkpoint tests/io/test_metrics
check_PROGRAMS += $(IO_TESTS)
TESTS += $(IO_TESTS)

tests_io_test_config_SOURCES = tests/io/test_config.c $(IO_TEST_COMMON) \
	core/config.c core/config.h
tests_io_test_config_CFLAGS = $(IO_TEST_CFLAGS)
tests_io_test_config_LDADD = $(IO_TEST_LIBS)

tests_io_test_data_SOURCES = tests/io/test_data.c $(IO_TEST_COMMON) \
	core/data.c core/data.h core/tokenizer.c core/tokenizer.h
tests_io_test_data_CFLAGS = $(IO_TEST_CFLAGS)
tests_io_test_data_LDADD = $(IO_TEST_LIBS)

tests_io_test_safetensors_SOURCES = tests/io/test_safetensors.c $(IO_TEST_COMMON) \
	core/safetensors.c core/safetensors.h
tests_io_test_safetensors_CFLAGS = $(IO_TEST_CFLAGS)
tests_io_test_safetensors_LDADD = $(IO_TEST_LIBS)

tests_io_test_checkpoint_SOURCES = tests/io/test_checkpoint.c $(IO_TEST_COMMON) \
	core/checkpoint.c core/checkpoint.h core/safetensors.c core/safetensors.h
tests_io_test_checkpoint_CFLAGS = $(IO_TEST_CFLAGS)
tests_io_test_checkpoint_LDADD = $(IO_TEST_LIBS)

tests_io_test_metrics_SOURCES = tests/io/test_metrics.c $(IO_TEST_COMMON) \
	core/metrics.c core/metrics.h
tests_io_test_metrics_CFLAGS = $(IO_TEST_CFLAGS)
tests_io_test_metrics_LDADD = $(IO_TEST_LIBS)
