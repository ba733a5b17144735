# Benchmarks: built by `make bench` (not by make check), print figures.
EXTRA_PROGRAMS = bench/bench_train
bench_bench_train_SOURCES = bench/bench_train.c
bench_bench_train_CFLAGS = $(AM_CFLAGS) $(OPENBLAS_CFLAGS)
bench_bench_train_LDADD = core/libllmrt.la $(OPENBLAS_LIBS) -lm
EXTRA_DIST += bench/run.sh bench/torch_train.py bench/README.md bench/strategies.sh
CLEANFILES += bench/bench_train
bench: all bench/bench_train
	sh $(srcdir)/bench/run.sh $(abs_top_builddir)
.PHONY: bench
bench-strategies: all runs/demo-data/train.txt
	sh $(srcdir)/bench/strategies.sh $(abs_top_builddir)
.PHONY: bench-strategies
