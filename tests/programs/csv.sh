#!/usr/bin/env bash
# usage: csv.sh BUILD_DIR SKLEARN_DATA_DIR
# tapegrad-csv trains on scikit-learn's diabetes (regression: test R² >= 0.45, reported beside
# ordinary least squares on the same split) and breast cancer (classification: test accuracy
# >= 0.96), and refuses bad flags with a one-line error. Fixed seeds and flags: nothing is tuned
# per run. Exit 77 (skipped) without the data sets.
set -uo pipefail
build=$1 data=$2
for f in diabetes_data_raw.csv.gz diabetes_target.csv.gz breast_cancer.csv; do
  if [ ! -s "$data/$f" ]; then
    echo "no $data/$f (Debian's python3-sklearn ships it): skipped"
    exit 77
  fi
done
status=0
# value KEY TEXT: the number after "KEY=" in TEXT.
value() { sed -n "s/^$1=//p" <<<"$2" | tail -n 1; }
# at_least NAME VALUE MIN
at_least() {
  if awk -v v="$2" -v m="$3" 'BEGIN { exit !(v != "" && v + 0 >= m + 0) }'; then
    echo "ok: $1 = $2 >= $3"
  else
    echo "FAIL: $1 = '$2', expected >= $3"
    status=1
  fi
}

out=$("$build/tapegrad-csv" --csv "$data/diabetes_data_raw.csv.gz" \
  --targets "$data/diabetes_target.csv.gz" --task regression --hidden 8 --epochs 500 \
  --lr 1e-3 --batch 32 --seed 1 --test-fraction 0.2 --validation-fraction 0.1 --patience 30 \
  --baseline ols --quiet)
code=$?
echo "$out"
last=$(tail -n 1 <<<"$out")
[ $code -eq 0 ] && [[ "$last" == test_r2=* ]] || { echo "FAIL: diabetes exit $code, last line '$last'"; status=1; }
at_least "diabetes test_r2" "$(value test_r2 "$out")" 0.45
at_least "diabetes ols_test_r2 (sanity of the baseline)" "$(value ols_test_r2 "$out")" 0.3

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
out=$("$build/tapegrad-csv" --csv "$data/breast_cancer.csv" --skip-rows 1 --header no \
  --task classification --hidden 64,32 --epochs 200 --lr 1e-3 --batch 32 --seed 1 \
  --test-fraction 0.2 --validation-fraction 0.1 --patience 20 --quiet \
  --save-model "$scratch/bc.tgm" --export-onnx "$scratch/bc.onnx")
code=$?
echo "$out"
last=$(tail -n 1 <<<"$out")
[ $code -eq 0 ] && [[ "$last" == test_accuracy=* ]] || { echo "FAIL: breast cancer exit $code, last line '$last'"; status=1; }
at_least "breast cancer test_accuracy" "$(value test_accuracy "$out")" 0.96
[ -s "$scratch/bc.onnx" ] || { echo "FAIL: --export-onnx wrote nothing"; status=1; }

# The saved model, used without the program that trained it: tapegrad-predict on the raw rows
# (the features alone; the file's standardisation travels in the model) agrees with the labels
# as well as the training run's accuracy suggests.
tail -n +2 "$data/breast_cancer.csv" | cut -d, -f1-30 >"$scratch/features.csv"
tail -n +2 "$data/breast_cancer.csv" | cut -d, -f31 >"$scratch/labels.txt"
if "$build/tapegrad-predict" "$scratch/bc.tgm" "$scratch/features.csv" >"$scratch/predicted.txt"; then
  # "<input>[row R]: class K (p) ...": keep K, in row order.
  sed -n 's/.*: class \([^ ]*\) .*/\1/p' "$scratch/predicted.txt" >"$scratch/classes.txt"
  right=$(paste -d' ' "$scratch/classes.txt" "$scratch/labels.txt" | awk '$1 == $2' | wc -l)
  rows=$(wc -l <"$scratch/labels.txt")
  [ "$(wc -l <"$scratch/classes.txt")" -eq "$rows" ] || { echo "FAIL: $(wc -l <"$scratch/classes.txt") predictions for $rows rows"; status=1; }
  at_least "tapegrad-predict on every breast cancer row, accuracy" \
    "$(awk -v r="$right" -v n="$rows" 'BEGIN { print r / n }')" 0.96
else
  echo "FAIL: tapegrad-predict on the saved model"
  status=1
fi

# Bad input: a one-line error naming the flag or file, no training.
refuse() {  # expected start of the message, then the arguments
  local expected=$1
  shift
  err=$("$build/tapegrad-csv" "$@" --quiet 2>&1 >/dev/null)
  code=$?
  if [ $code -eq 0 ] || [[ "$err" != "tapegrad-csv: $expected"* ]] || [ "$(wc -l <<<"$err")" -ne 1 ]; then
    echo "FAIL: $* gave exit $code and: $err"
    status=1
  else
    echo "ok: refused: $err"
  fi
}
refuse "--save-model /nonexistent-folder/m.tgm: folder" --csv "$data/breast_cancer.csv" \
  --skip-rows 1 --save-model /nonexistent-folder/m.tgm
refuse "--target: not with --targets" --csv "$data/diabetes_data_raw.csv.gz" \
  --targets "$data/diabetes_target.csv.gz" --target 0
refuse "$data/missing.csv" --csv "$data/missing.csv"
exit $status
