#!/usr/bin/env bash
# usage: refusals.sh BUILD_DIR MNIST_DIR
# Inputs that once hung or crashed tapegrad-mnist (issue 15) are refused up front: a non-zero
# exit within seconds, a one-line "tapegrad-mnist: ..." error naming what and where, and no
# training (no test_accuracy). Each program run is under `timeout`, so a hang fails the test.
# Exit 77 (skipped) without the MNIST files.
set -uo pipefail
build=$1 data=$2
source "$(dirname "$0")/mnist_test_env.sh"
mnist=$build/tapegrad-mnist
base=(--data "$data" --train-limit 64 --quiet)
status=0

# refuse DESCRIPTION EXPECTED_TEXT COMMAND...: the command fails quickly with one line that
# starts with "tapegrad-mnist: " and holds EXPECTED_TEXT, and prints no test accuracy.
refuse() {
  local what=$1 expected=$2
  shift 2
  local out code
  out=$(timeout 30 "$@" 2>&1)
  code=$?
  if [ $code -eq 0 ] || [ $code -ge 124 ] || [[ "$out" != "tapegrad-mnist: "* ]] ||
    [[ "$out" != *"$expected"* ]] || [[ "$out" == *test_accuracy* ]] ||
    [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ]; then
    echo "FAIL: $what: exit $code, output: ${out:0:600}"
    status=1
  else
    echo "ok: $what -> $out"
  fi
}

# Rewrites checkpoint entries (tests/programs/edit_checkpoint.sh).
edit() { bash "$(dirname "$0")/edit_checkpoint.sh" "$@"; }

# IDX files of COUNT images ROWS x COLS (all zero) and COUNT labels (0).
# usage: idx DIR SPLIT COUNT ROWS COLS (SPLIT: train or t10k)
idx() {
  python3 - "$@" <<'EOF'
import struct, sys
d, split, n, r, c = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
open("%s/%s-images-idx3-ubyte" % (d, split), "wb").write(
    struct.pack(">IIII", 0x803, n, r, c) + bytes(n * r * c))
open("%s/%s-labels-idx1-ubyte" % (d, split), "wb").write(struct.pack(">II", 0x801, n) + bytes(n))
EOF
}

"$mnist" "${base[@]}" --epochs 1 --save "$scratch/good.tg" >/dev/null || { echo "FAIL: the first run"; exit 1; }

# Checkpoint fields are range-checked: 2^31 epochs done wrapped to INT_MIN and trained forever.
edit "$scratch/good.tg" "$scratch/epochs.tg" progress.epochs_done=integer:2147483648
refuse "progress.epochs_done = 2^31" "integer 'progress.epochs_done' is 2147483648, expected 1 to" \
  "$mnist" "${base[@]}" --resume "$scratch/epochs.tg"
edit "$scratch/good.tg" "$scratch/batch.tg" config.batch=integer:-1
refuse "config.batch = -1" "integer 'config.batch' is -1" \
  "$mnist" "${base[@]}" --resume "$scratch/batch.tg"
edit "$scratch/good.tg" "$scratch/optimizer.tg" config.optimizer=text:lbfgs
refuse "config.optimizer = lbfgs" "text 'config.optimizer' is 'lbfgs', expected one of" \
  "$mnist" "${base[@]}" --eval "$scratch/optimizer.tg"

# A history nested 100,000 deep overflowed the stack when the next save serialised it.
python3 -c 'print("[" * 100000 + "]" * 100000, end="")' >"$scratch/deep.json"
edit "$scratch/good.tg" "$scratch/deep.tg" progress.history=text:@"$scratch/deep.json"
refuse "progress.history nested 100,000 deep" "JSON nested more than" \
  "$mnist" "${base[@]}" --epochs 2 --resume "$scratch/deep.tg" --save "$scratch/deep-out.tg"

# config.hidden "1000000" allocated 3.1 GB before std::bad_alloc: refused from the settings and
# the file's tensors before the model is built, under a 1.5 GB address-space limit.
edit "$scratch/good.tg" "$scratch/wide.tg" config.hidden=text:1000000
refuse "config.hidden = 1000000 in a checkpoint" "parameters, above the limit of" \
  bash -c 'ulimit -v 1500000; exec "$@"' - "$mnist" "${base[@]}" --eval "$scratch/wide.tg"
edit "$scratch/good.tg" "$scratch/narrow.tg" config.hidden=text:256,64
refuse "config.hidden that does not fit the file's tensors" "tensor 'model.2.bias' is 1x128, but config.hidden '256,64'" \
  "$mnist" "${base[@]}" --eval "$scratch/narrow.tg"
refuse "--hidden 1000000" "parameters, above the limit of" \
  bash -c 'ulimit -v 1500000; exec "$@"' - "$mnist" "${base[@]}" --hidden 1000000

# A FIFO blocked open() forever, as a checkpoint and as a data file.
mkfifo "$scratch/fifo.tg"
refuse "a FIFO as --resume" "not a regular file (a FIFO)" \
  "$mnist" "${base[@]}" --resume "$scratch/fifo.tg"
mkdir "$scratch/fifo-data"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-labels-idx1-ubyte; do
  ln -s "$(readlink -f "$data/$f")" "$scratch/fifo-data/$f"
done
mkfifo "$scratch/fifo-data/t10k-images-idx3-ubyte"
refuse "a FIFO as the test images" "not a regular file (a FIFO)" \
  "$mnist" --data "$scratch/fifo-data" --train-limit 64 --epochs 1 --quiet

# Test images of another size failed only after training (27x27) or were taken (14x56).
for size in "27 27" "14 56"; do
  dir="$scratch/size-${size/ /x}"
  mkdir "$dir"
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte; do
    ln -s "$(readlink -f "$data/$f")" "$dir/$f"
  done
  idx "$dir" t10k 10 $size
  refuse "${size/ /x} test images" "test images are ${size/ /x} pixels, but the training images" \
    "$mnist" --data "$dir" --train-limit 64 --epochs 1 --quiet
done
# ... and a checkpoint's model is checked against the images it is given.
mkdir "$scratch/small"
idx "$scratch/small" train 20 14 56
idx "$scratch/small" t10k 10 14 56
refuse "--eval of a 28x28 model on 14x56 images" "the model was trained on 28x28 images" \
  "$mnist" --data "$scratch/small" --eval "$scratch/good.tg"

# Empty sets finished with exit 0 and test_accuracy=0.0000.
mkdir "$scratch/empty-test" "$scratch/empty-train"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte; do
  ln -s "$(readlink -f "$data/$f")" "$scratch/empty-test/$f"
done
idx "$scratch/empty-test" t10k 0 28 28
refuse "an empty test set" "the test set is empty" \
  "$mnist" --data "$scratch/empty-test" --train-limit 64 --epochs 1 --quiet --validation 0
idx "$scratch/empty-train" train 0 28 28
idx "$scratch/empty-train" t10k 10 28 28
refuse "an empty training set" "the training set is empty" \
  "$mnist" --data "$scratch/empty-train" --epochs 1 --quiet
refuse "--validation taking every training image" "--validation 60000 leaves no training images" \
  "$mnist" "${base[@]}" --validation 60000

# --resume and --eval take the architecture from the checkpoint; a flag that says otherwise
# is an error, not silently ignored. The same value is fine.
refuse "--resume with another --hidden" "--hidden 512 conflicts with" \
  "$mnist" "${base[@]}" --epochs 2 --resume "$scratch/good.tg" --hidden 512
refuse "--eval with another --model" "--model cnn conflicts with" \
  "$mnist" --data "$data" --eval "$scratch/good.tg" --model cnn
refuse "--resume with another --validation" "--validation 100 conflicts with" \
  "$mnist" "${base[@]}" --epochs 2 --resume "$scratch/good.tg" --validation 100
timeout 60 "$mnist" "${base[@]}" --epochs 2 --resume "$scratch/good.tg" --hidden 256,128 \
  --model mlp >/dev/null || { echo "FAIL: --resume with the checkpoint's own --hidden"; status=1; }

# A save killed half-way left "<file>.tmp.<pid>" behind for good; the next save removes the
# temp files of processes that are gone, and only those of its own target.
bash -c 'exit 0' &
dead=$!
wait $dead
touch "$scratch/run.tg.tmp.$dead" "$scratch/other.tg.tmp.$dead" "$scratch/run.tg.tmp.$$"
timeout 60 "$mnist" "${base[@]}" --epochs 1 --save "$scratch/run.tg" >/dev/null || status=1
if [ -e "$scratch/run.tg.tmp.$dead" ] || [ ! -e "$scratch/other.tg.tmp.$dead" ] ||
  [ ! -e "$scratch/run.tg.tmp.$$" ]; then
  echo "FAIL: stale temp files: $(ls "$scratch" | grep tmp | tr '\n' ' ')"
  status=1
else
  echo "ok: the dead save's temp file is gone; another target's and a live process's stay"
fi
exit $status
