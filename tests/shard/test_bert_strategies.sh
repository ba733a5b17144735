#!/bin/sh
# bert ([model] arch = bert) under every strategy at world size 1 as
# test_strategies.sh does for gpt, and its memory plan = measured
# (arch_strategies.sh says what). int8 QAT across strategies: in
# test_bert_multirank.sh.
. "$(dirname "$0")/../train/common.sh"
ARCH=bert
ARCH_SETS="--set model.arch=bert --set model.vocab=260 --set train.lr=3e-3"
TRAIN_FORMATS="fp32"
. "$(dirname "$0")/arch_strategies.sh"
finish
