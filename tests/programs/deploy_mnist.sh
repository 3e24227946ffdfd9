#!/usr/bin/env bash
# usage: deploy_mnist.sh BUILD_DIR SOURCE_DIR MNIST_DIR (see deploy.cmake).
# A model that tapegrad-mnist saves (--save-model) and exports (--export-onnx) after a short
# seeded run classifies all 10,000 MNIST test images (the IDX files) with the demo's own
# test_accuracy through tapegrad-predict, and through ONNX Runtime on the raw pixel values:
# the same accuracy, the same class as tapegrad-predict for every image and max |ORT -
# tapegrad| <= 1e-4 on every probability. An MLP and LeNet; the MLP also converted from a
# checkpoint by --eval. Exit 77 (skipped) without MNIST, or, after the tapegrad-predict checks
# passed, without node or onnxruntime-node (scripts/setup installs both).
set -uo pipefail
build=$1 source=$2 data=$3
images=$data/t10k-images-idx3-ubyte labels=$data/t10k-labels-idx1-ubyte
for f in "$images" "$labels" "$data/train-images-idx3-ubyte" "$data/train-labels-idx1-ubyte"; do
  [ -s "$f" ] || { echo "no uncompressed MNIST in $data (scripts/setup fetches it): skipped"; exit 77; }
done
ort_missing=
if ! command -v node >/dev/null; then
  ort_missing="node is not installed"
elif [ ! -s "$source/data/onnxruntime/node_modules/onnxruntime-node/package.json" ]; then
  ort_missing="onnxruntime-node is not in $source/data/onnxruntime (scripts/setup installs it)"
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }

# demo_accuracy NAME FLAGS...: trains and saves NAME.tgm / NAME.onnx (and NAME.tg, the
# checkpoint); prints the demo's test_accuracy value.
demo_accuracy() {
  local name=$1 out
  shift
  out=$("$build/tapegrad-mnist" --data "$data" --threads 1 --quiet --seed 3 "$@" \
        --save "$scratch/$name.tg" --save-model "$scratch/$name.tgm" \
        --export-onnx "$scratch/$name.onnx") || { echo "tapegrad-mnist $*: $out" >&2; return 1; }
  sed -n 's/^test_accuracy=//p' <<<"$out"
}

# predict_accuracy MODEL PROBABILITIES: tapegrad-predict's line for the whole test set.
predict_accuracy() {
  "$build/tapegrad-predict" "$1" "$images" --labels "$labels" --quiet --probabilities "$2"
}

declare -A demo
for run in "mlp --model mlp --epochs 1 --train-limit 10000 --validation 1000" \
           "lenet --model lenet --epochs 1 --train-limit 4000 --validation 1000"; do
  name=${run%% *}
  demo[$name]=$(demo_accuracy $run)
  [ -n "${demo[$name]}" ] || { fail "$name: no test_accuracy= from tapegrad-mnist"; continue; }
  got=$(predict_accuracy "$scratch/$name.tgm" "$scratch/$name.tg.f32" 2>&1)
  echo "$name: tapegrad-mnist test_accuracy=${demo[$name]}, tapegrad-predict $got"
  [ "$got" = "accuracy=${demo[$name]} (10000 images)" ] ||
    fail "$name: tapegrad-predict does not print the demo's accuracy ${demo[$name]}"
done

# A checkpoint turned into a model file by --eval predicts exactly as the model saved at the end.
if "$build/tapegrad-mnist" --data "$data" --threads 1 --quiet --eval "$scratch/mlp.tg" \
     --save-model "$scratch/mlp-eval.tgm" >/dev/null; then
  got=$(predict_accuracy "$scratch/mlp-eval.tgm" "$scratch/mlp-eval.tg.f32" 2>&1)
  [ "$got" = "accuracy=${demo[mlp]} (10000 images)" ] || fail "mlp from --eval: $got"
  cmp -s "$scratch/mlp.tg.f32" "$scratch/mlp-eval.tg.f32" ||
    fail "mlp from --eval: probabilities differ from the model saved after training"
else
  fail "tapegrad-mnist --eval CHECKPOINT --save-model did not run"
fi

if [ -n "$ort_missing" ]; then
  echo "ONNX Runtime check skipped: $ort_missing"
  [ $status -eq 0 ] && exit 77
  exit $status
fi

node "$source/tests/programs/deploy_mnist.js" pixels "$images" "$scratch/pixels.f32" ||
  exit 1
for name in mlp lenet; do
  [ -s "$scratch/$name.tg.f32" ] || continue
  # Every --model of the demo takes N x 784 raw pixels (lenet unflattens them itself).
  shape=$(node "$source/tests/onnx/run_model.js" "$scratch/$name.onnx" "$scratch/pixels.f32" \
          "$scratch/$name.ort.f32" 10000 784) || { fail "$name: ONNX Runtime did not run"; continue; }
  [ "$shape" = "shape 10000 10" ] || { fail "$name: ONNX Runtime gave $shape"; continue; }
  compared=$(node "$source/tests/programs/deploy_mnist.js" compare "$labels" \
             "$scratch/$name.tg.f32" "$scratch/$name.ort.f32" 10 10000 1e-4)
  rc=$?
  echo "$name: ONNX Runtime $compared" | sed "2,\$s/^/$name: /"
  [ $rc -eq 0 ] || fail "$name: ONNX Runtime and tapegrad-predict disagree"
  grep -qx "accuracy=${demo[$name]} (10000 images)" <<<"$compared" ||
    fail "$name: ONNX Runtime's accuracy is not the demo's ${demo[$name]}"
done
exit $status
