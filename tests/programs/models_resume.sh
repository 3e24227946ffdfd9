#!/usr/bin/env bash
# usage: models_resume.sh BUILD_DIR MNIST_DIR
# For each --model of tapegrad-mnist: 1 epoch on 1 thread, saved, then resumed to 2 epochs on
# 2 threads, must equal 2 uninterrupted epochs on 1 thread bit for bit (tapegrad-inspect --diff
# at tolerance 0), and --eval must read the checkpoint back. 648 images: a last batch of 8.
# Exit 77 (skipped) without the MNIST files.
set -euo pipefail
build=$1 data=$2
source "$(dirname "$0")/mnist_test_env.sh"
for model in mlp lenet cnn lstm; do
  args=(--data "$data" --model "$model" --train-limit 648 --quiet)
  "$build/tapegrad-mnist" "${args[@]}" --epochs 1 --threads 1 --save "$scratch/$model-1.tg" >/dev/null
  "$build/tapegrad-mnist" "${args[@]}" --epochs 2 --threads 2 --resume "$scratch/$model-1.tg" \
    --save "$scratch/$model-resumed.tg" >/dev/null
  "$build/tapegrad-mnist" "${args[@]}" --epochs 2 --threads 1 --save "$scratch/$model-2.tg" >/dev/null
  "$build/tapegrad-inspect" "$scratch/$model-resumed.tg" --diff "$scratch/$model-2.tg" \
    --tolerance 0 >/dev/null
  "$build/tapegrad-mnist" --data "$data" --eval "$scratch/$model-2.tg" | grep -q '^test_accuracy='
  echo "$model: resumed on 2 threads = uninterrupted on 1, bit for bit; --eval reads it"
done
