#!/usr/bin/env bash
# usage: models_under_mpirun.sh BUILD_DIR MNIST_DIR MPIEXEC
# Every --model of the demo trains under mpirun on 2 ranks (a global batch split in two), saves
# a checkpoint that --eval reads back with the accuracy the run printed. lenet and the cnn
# (dropout masks keyed by the sample) end with the bits of one process; the lstm within 1e-4
# (its weights serve every time step, so its gradient sums are not in the batch's block
# order, see include/tapegrad/dist/distributed.hpp). Exit 77 (skipped) without MNIST.
set -euo pipefail
build=$1 data=$2 mpiexec=$3
source "$(dirname "$0")/../programs/mnist_test_env.sh"
for model in lenet cnn lstm; do
  args=(--data "$data" --model "$model" --train-limit 1000 --validation 200 --batch 32 --epochs 1
    --threads 1 --quiet --seed 4)
  two=$("$mpiexec" --allow-run-as-root --oversubscribe -np 2 \
    "$build/tapegrad-mnist" "${args[@]}" --save "$scratch/$model-two.tg")
  accuracy=$(sed -n 's/^test_accuracy=//p' <<<"$two")
  again=$("$build/tapegrad-mnist" --data "$data" --eval "$scratch/$model-two.tg" --quiet --threads 1)
  if [ -z "$accuracy" ] || [ "$(sed -n 's/^test_accuracy=//p' <<<"$again")" != "$accuracy" ]; then
    echo "FAIL: $model on 2 ranks printed '$accuracy', --eval of its checkpoint: $again"
    exit 1
  fi
  echo "ok: $model trains on 2 ranks (test accuracy $accuracy, read back by --eval)"
  "$build/tapegrad-mnist" "${args[@]}" --save "$scratch/$model-one.tg" >/dev/null
  if [ "$model" = lstm ]; then
    "$build/tapegrad-inspect" "$scratch/$model-one.tg" --diff "$scratch/$model-two.tg" \
      --tolerance 1e-4 --tensors-only >/dev/null
    echo "ok: $model on 2 ranks within 1e-4 of one process"
  else
    "$build/tapegrad-inspect" "$scratch/$model-one.tg" --diff "$scratch/$model-two.tg" >/dev/null
    echo "ok: $model on 2 ranks gives the bits of one process"
  fi
done
