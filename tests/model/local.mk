# tests/model: the GPT model (core/gpt.c) against PyTorch reference fixtures
# (made by make_gpt_fixture.py and make_qat_fixture.py, kept beside them), in
# every compute dtype, with int8 QAT, and the int8 export (core/qat.c);
# test_t5_reference: core/t5.c against make_t5_fixture.py's two fixtures and
# make_t5_qat_fixture.py's (int8 QAT), bf16 and f16 against fp32;
# test_span: T5 span corruption (core/span.c) statistics and its inverse;
# test_hf_load.sh: checkpoints (config.json + model.safetensors) rebuilt as
# Hugging Face would by hf_load.py, against llmrt's own outputs.
check_PROGRAMS += tests/model/test_gpt_reference tests/model/test_gpt_model \
	tests/model/test_gpt_dtype tests/model/test_gpt_qat tests/model/test_qat_export \
	tests/model/test_bert_reference tests/model/test_mlm tests/model/test_span \
	tests/model/test_t5_reference
TESTS += tests/model/test_gpt_reference tests/model/test_gpt_model \
	tests/model/test_gpt_dtype tests/model/test_gpt_qat tests/model/test_qat_export \
	tests/model/test_export_cli.sh tests/model/test_bert_reference tests/model/test_mlm \
	tests/model/test_span tests/model/test_t5_reference tests/model/test_hf_load.sh

GPT_TEST_UTIL = tests/model/gpt_test_util.c tests/model/gpt_test_util.h

tests_model_test_gpt_reference_SOURCES = tests/model/test_gpt_reference.c $(GPT_TEST_UTIL)
tests_model_test_gpt_reference_CFLAGS = $(TEST_CFLAGS)
tests_model_test_gpt_reference_LDADD = $(TEST_LIBS)

tests_model_test_gpt_model_SOURCES = tests/model/test_gpt_model.c $(GPT_TEST_UTIL)
tests_model_test_gpt_model_CFLAGS = $(TEST_CFLAGS)
tests_model_test_gpt_model_LDADD = $(TEST_LIBS)

tests_model_test_gpt_dtype_SOURCES = tests/model/test_gpt_dtype.c $(GPT_TEST_UTIL)
tests_model_test_gpt_dtype_CFLAGS = $(TEST_CFLAGS)
tests_model_test_gpt_dtype_LDADD = $(TEST_LIBS)

tests_model_test_gpt_qat_SOURCES = tests/model/test_gpt_qat.c $(GPT_TEST_UTIL)
tests_model_test_gpt_qat_CFLAGS = $(TEST_CFLAGS)
tests_model_test_gpt_qat_LDADD = $(TEST_LIBS)

tests_model_test_qat_export_SOURCES = tests/model/test_qat_export.c $(GPT_TEST_UTIL)
tests_model_test_qat_export_CFLAGS = $(TEST_CFLAGS)
tests_model_test_qat_export_LDADD = $(TEST_LIBS)

tests_model_test_bert_reference_SOURCES = tests/model/test_bert_reference.c $(GPT_TEST_UTIL)
tests_model_test_bert_reference_CFLAGS = $(TEST_CFLAGS)
tests_model_test_bert_reference_LDADD = $(TEST_LIBS)

tests_model_test_mlm_SOURCES = tests/model/test_mlm.c
tests_model_test_mlm_CFLAGS = $(TEST_CFLAGS)
tests_model_test_mlm_LDADD = $(TEST_LIBS)

tests_model_test_t5_reference_SOURCES = tests/model/test_t5_reference.c $(GPT_TEST_UTIL)
tests_model_test_t5_reference_CFLAGS = $(TEST_CFLAGS)
tests_model_test_t5_reference_LDADD = $(TEST_LIBS)

tests_model_test_span_SOURCES = tests/model/test_span.c
tests_model_test_span_CFLAGS = $(TEST_CFLAGS)
tests_model_test_span_LDADD = $(TEST_LIBS)

EXTRA_DIST += tests/model/make_t5_fixture.py tests/model/t5_relu_fixture.safetensors \
	tests/model/t5_gated_fixture.safetensors tests/model/make_t5_qat_fixture.py \
	tests/model/t5_qat_fixture.safetensors
EXTRA_DIST += tests/model/make_bert_fixture.py tests/model/bert_tiny_fixture.safetensors \
	tests/model/make_bert_qat_fixture.py tests/model/bert_qat_fixture.safetensors
EXTRA_DIST += tests/model/make_gpt_fixture.py tests/model/gpt_tiny_fixture.safetensors \
	tests/model/make_qat_fixture.py tests/model/gpt_qat_fixture.safetensors \
	tests/model/gpt_fixture_util.py tests/model/test_export_cli.sh
EXTRA_DIST += tests/model/test_hf_load.sh tests/model/hf_load.py
