# Benchmarks: built by `make bench` (not by make check), print figures.
EXTRA_PROGRAMS = bench/bench_train
bench_bench_train_SOURCES = bench/bench_train.c
bench_bench_train_CFLAGS = $(AM_CFLAGS) $(OPENBLAS_CFLAGS)
bench_bench_train_LDADD = core/libllmrt.la $(OPENBLAS_LIBS) -lm
EXTRA_DIST += bench/run.sh bench/torch_train.py bench/README.md bench/strategies.sh bench/formats.sh
CLEANFILES += bench/bench_train
bench: all bench/bench_train
	sh $(srcdir)/bench/run.sh $(abs_top_builddir)
.PHONY: bench
bench-strategies: all runs/demo-data/train.txt
	sh $(srcdir)/bench/strategies.sh $(abs_top_builddir)
.PHONY: bench-strategies
bench-formats: all runs/demo-data/train.txt
	sh $(srcdir)/bench/formats.sh $(abs_top_builddir)
.PHONY: bench-formats
# Conversion kernels of the cpu backend (convert_ex) against memcpy.
EXTRA_PROGRAMS += bench/bench_convert
bench_bench_convert_SOURCES = bench/bench_convert.c
bench_bench_convert_LDADD = core/libllmrt.la -lm
CLEANFILES += bench/bench_convert
bench-convert: all bench/bench_convert
	LLMRT_PLUGIN_PATH=$(abs_top_builddir)/plugins/cpu/.libs $(LIBTOOL) --mode=execute \
	  ./bench/bench_convert $(BENCH_CONVERT_MIB) --set cpu.threads=$${THREADS:-2}
.PHONY: bench-convert
# GPT-2 124M in bf16 on one GPU against PyTorch (bench/gpu_gpt2.sh; needs a
# GPU: bench/README.md). STEPS, WARMUP, BATCH, PEAK_TFLOPS, TORCH_COMPILE pass through.
EXTRA_DIST += bench/gpu_gpt2.sh bench/pytorch_gpt2.py bench/gpt2-124m.ini
bench-gpu: all
	LLMRT_BIN=$(abs_top_builddir)/cli/llmrt \
	LLMRT_PLUGIN_PATH=$(abs_top_builddir)/plugins/cuda/.libs:$(abs_top_builddir)/plugins/cpu/.libs:$(abs_top_builddir)/plugins/local/.libs:$(abs_top_builddir)/plugins/shard/.libs:$(abs_top_builddir)/plugins/quant/.libs \
	  sh $(srcdir)/bench/gpu_gpt2.sh
.PHONY: bench-gpu
