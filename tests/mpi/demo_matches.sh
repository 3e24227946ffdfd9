#!/usr/bin/env bash
# usage: demo_matches.sh BUILD_DIR MNIST_DIR MPIEXEC
# One epoch of tapegrad-mnist on 8000 MNIST images (250 steps of a global batch of 32) on
# 2 ranks and on 1; the two checkpoints must agree within 1e-5 (tapegrad-inspect --diff).
# Exit 77 (skipped) without the MNIST files.
set -euo pipefail
build=$1 data=$2 mpiexec=$3
if [ ! -s "$data/train-images-idx3-ubyte" ] && [ ! -s "$data/train-images-idx3-ubyte.gz" ]; then
  echo "no MNIST in $data (scripts/setup fetches it): skipped"
  exit 77
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export OPENBLAS_NUM_THREADS=1
args=(--data "$data" --train-limit 8000 --batch 32 --epochs 1 --threads 1 --quiet)
"$build/tapegrad-mnist" "${args[@]}" --save "$scratch/one.tg"
"$mpiexec" --allow-run-as-root --oversubscribe -np 2 \
  "$build/tapegrad-mnist" "${args[@]}" --save "$scratch/two.tg"
"$build/tapegrad-inspect" "$scratch/one.tg" --diff "$scratch/two.tg" --tolerance 1e-5 --tensors-only
