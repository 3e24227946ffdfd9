#!/usr/bin/env bash
# usage: ranks_match.sh BUILD_DIR MNIST_DIR MPIEXEC
# The MLP and the CNN on real MNIST give the same checkpoint, bit for bit (tapegrad-inspect
# --diff at tolerance 0: weights, optimizer state, history), on 1, 2 and 3 threads and under
# mpirun on 1, 2 and 3 ranks. The MLP runs end on a partial last batch of 1, 8 and 63 rows;
# the CNN's (with dropout) on one of 24 rows over 2 epochs. Exit 77 (skipped) without MNIST.
set -euo pipefail
build=$1 data=$2 mpiexec=$3
source "$(dirname "$0")/../programs/mnist_test_env.sh"
mnist=("$build/tapegrad-mnist")
mpirun=("$mpiexec" --allow-run-as-root --oversubscribe -np)

# same NAME ARGS...: runs every layout and compares each checkpoint with the first.
same() {
  local name=$1
  shift
  "${mnist[@]}" "$@" --threads 1 --save "$scratch/$name-t1.tg" >/dev/null
  for t in 2 3; do "${mnist[@]}" "$@" --threads $t --save "$scratch/$name-t$t.tg" >/dev/null; done
  for r in 1 2 3; do
    "${mpirun[@]}" $r "${mnist[@]}" "$@" --threads 1 --save "$scratch/$name-r$r.tg" >/dev/null
  done
  for other in t2 t3 r1 r2 r3; do
    if ! out=$("$build/tapegrad-inspect" "$scratch/$name-t1.tg" --diff "$scratch/$name-$other.tg"); then
      echo "FAIL: $name: 1 thread and $other differ"
      echo "$out" | tail -20
      exit 1
    fi
  done
  echo "ok: $name: threads 1, 2, 3 and ranks 1, 2, 3 give the same bits"
}

for rows in 1 8 63; do
  same "mlp-last-batch-$rows" --data "$data" --train-limit $((78 * 64 + rows)) --validation 0 \
    --epochs 1 --quiet --seed 9
done
same cnn --data "$data" --model cnn --train-limit 600 --validation 100 --epochs 2 --quiet --seed 4
