# tests/bench: the GPU benchmark's scripts (bench/gpu_gpt2.sh,
# bench/pytorch_gpt2.py) run end to end on the cpu with a small shape, so
# that what a GPU session reads keeps coming out. No figure is checked.
TESTS += tests/bench/test_gpu_bench_cpu.sh
EXTRA_DIST += tests/bench/test_gpu_bench_cpu.sh
