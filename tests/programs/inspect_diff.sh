#!/usr/bin/env bash
# usage: inspect_diff.sh BUILD_DIR MNIST_DIR
# tapegrad-inspect --diff compares the integer, real and text entries as well as the tensors:
# two runs with the same settings agree (their wall-clock timings aside), a changed
# optimizer.lr, config.optimizer or optimizer.step is a difference, and --tensors-only compares
# the tensors alone. Exit 77 (skipped) without the MNIST files.
set -uo pipefail
build=$1 data=$2
source "$(dirname "$0")/mnist_test_env.sh"
inspect=$build/tapegrad-inspect
edit() { bash "$(dirname "$0")/edit_checkpoint.sh" "$@"; }
status=0
args=(--data "$data" --train-limit 640 --validation 500 --epochs 2 --quiet)
"$build/tapegrad-mnist" "${args[@]}" --save "$scratch/a.tg" >/dev/null || exit 1
"$build/tapegrad-mnist" "${args[@]}" --save "$scratch/b.tg" >/dev/null || exit 1
# expect EXIT_CODE TEXT_IN_OUTPUT DESCRIPTION INSPECT_ARGS...
expect() {
  local code=$1 text=$2 what=$3 out got
  shift 3
  out=$("$inspect" "$@" 2>&1)
  got=$?
  if [ $got -ne "$code" ] || [[ "$out" != *"$text"* ]]; then
    echo "FAIL: $what: exit $got (expected $code), output: ${out: -600}"
    status=1
  else
    echo "ok: $what"
  fi
}
expect 0 "identical within tolerance" "two runs with the same settings, timings aside" \
  "$scratch/a.tg" --diff "$scratch/b.tg"
edit "$scratch/b.tg" "$scratch/lr.tg" optimizer.lr=real:0.5
expect 1 "optimizer.lr" "a changed optimizer.lr" "$scratch/a.tg" --diff "$scratch/lr.tg"
expect 0 "identical within tolerance" "--tensors-only ignores optimizer.lr" \
  "$scratch/a.tg" --diff "$scratch/lr.tg" --tensors-only
edit "$scratch/b.tg" "$scratch/opt.tg" config.optimizer=text:sgd
expect 1 "config.optimizer" "a changed config.optimizer" "$scratch/a.tg" --diff "$scratch/opt.tg"
edit "$scratch/b.tg" "$scratch/step.tg" optimizer.step=integer:7
expect 1 "optimizer.step" "a changed optimizer.step" "$scratch/a.tg" --diff "$scratch/step.tg"
edit "$scratch/b.tg" "$scratch/extra.tg" notes.extra=text:hello
expect 1 "only in the second file" "an entry only in one file" \
  "$scratch/a.tg" --diff "$scratch/extra.tg"
exit $status
