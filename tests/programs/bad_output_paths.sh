#!/usr/bin/env bash
# usage: bad_output_paths.sh BUILD_DIR MNIST_DIR
# tapegrad-mnist refuses an output path it cannot write before it trains: a non-zero exit, a
# one-line error naming the option, and no training output. A missing --out folder is created.
# Exit 77 (skipped) without the MNIST files.
set -uo pipefail
build=$1 data=$2
source "$(dirname "$0")/mnist_test_env.sh"
status=0
refuse() {  # option, value, the start of the expected message after "tapegrad-mnist: "
  out=$("$build/tapegrad-mnist" --data "$data" --epochs 1 --train-limit 64 --quiet "$1" "$2" 2>&1)
  code=$?
  if [ $code -eq 0 ] || [[ "$out" != "tapegrad-mnist: $3"* ]] || [[ "$out" == *test_accuracy* ]]; then
    echo "FAIL: $1 $2 gave exit $code and: $out"
    status=1
  else
    echo "ok: $1 $2 -> $out"
  fi
}
refuse --save "$scratch/missing/run.tg" "--save: folder '$scratch/missing' of"
refuse --save "$scratch" "--save: '$scratch' names a folder"
refuse --graph "$scratch" "--graph: '$scratch' names a folder"
touch "$scratch/a-file"
refuse --out "$scratch/a-file/pictures" "--out: cannot create folder"
# A folder that does not exist yet is made, parents included.
"$build/tapegrad-mnist" --data "$data" --epochs 1 --train-limit 64 --quiet \
  --out "$scratch/new/nested" >/dev/null || status=1
[ -s "$scratch/new/nested/metrics.json" ] || { echo "FAIL: --out did not create the folder"; status=1; }
exit $status
