#!/bin/sh
# t5 ([model] arch = t5) under every strategy at world size 1, in fp32 and
# int8 QAT, and its memory plan = measured (arch_strategies.sh says what).
. "$(dirname "$0")/../train/common.sh"
ARCH=t5
ARCH_SETS="--set model.arch=t5 --set model.vocab=264 --set model.context=32 --set train.lr=3e-3"
TRAIN_FORMATS="fp32 int8"
. "$(dirname "$0")/arch_strategies.sh"
finish
