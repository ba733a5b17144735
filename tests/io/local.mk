# tests/io: the core's input/output modules (config, data, safetensors,
# checkpoint, metrics). Each suite compiles the core sources it tests, so it
# builds and runs on its own, whatever state the rest of libllmrt is in.
IO_TEST_CFLAGS = $(TEST_CFLAGS) $(JANSSON_CFLAGS)
IO_TEST_LIBS = $(TEST_LIBS) $(JANSSON_LIBS)

IO_TESTS = tests/io/test_config tests/io/test_data tests/io/test_safetensors \
	tests/io/test_checkpoint tests/io/test_metrics
check_PROGRAMS += $(IO_TESTS)
TESTS += $(IO_TESTS)

tests_io_test_config_SOURCES = tests/io/test_config.c tests/io/iotest.h
tests_io_test_config_CFLAGS = $(IO_TEST_CFLAGS)
tests_io_test_config_LDADD = $(IO_TEST_LIBS)

tests_io_test_data_SOURCES = tests/io/test_data.c tests/io/iotest.h
tests_io_test_data_CFLAGS = $(IO_TEST_CFLAGS)
tests_io_test_data_LDADD = $(IO_TEST_LIBS)

tests_io_test_safetensors_SOURCES = tests/io/test_safetensors.c tests/io/iotest.h
tests_io_test_safetensors_CFLAGS = $(IO_TEST_CFLAGS)
tests_io_test_safetensors_LDADD = $(IO_TEST_LIBS)

tests_io_test_checkpoint_SOURCES = tests/io/test_checkpoint.c tests/io/iotest.h
tests_io_test_checkpoint_CFLAGS = $(IO_TEST_CFLAGS)
tests_io_test_checkpoint_LDADD = $(IO_TEST_LIBS)

tests_io_test_metrics_SOURCES = tests/io/test_metrics.c tests/io/iotest.h
tests_io_test_metrics_CFLAGS = $(IO_TEST_CFLAGS)
tests_io_test_metrics_LDADD = $(IO_TEST_LIBS)
