#!/usr/bin/env bash
# usage: predict.sh BUILD_DIR MNIST_DIR (see predict.cmake). Exit 77 (skipped) without the
# uncompressed MNIST files, python3 (which writes the PNGs) or tapegrad-mnist --save-model.
set -uo pipefail
build=$1 data=$2
if [ ! -s "$data/t10k-images-idx3-ubyte" ] || [ ! -s "$data/t10k-labels-idx1-ubyte" ]; then
  echo "no uncompressed MNIST in $data (scripts/setup fetches it): skipped"
  exit 77
fi
command -v python3 >/dev/null || { echo "no python3: skipped"; exit 77; }
"$build/tapegrad-mnist" --help | grep -q -- --save-model || {
  echo "tapegrad-mnist has no --save-model yet: skipped"
  exit 77
}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$build/tapegrad-mnist" --data "$data" --epochs 1 --train-limit 3000 --threads 1 --quiet \
  --save-model "$scratch/mnist.tgm" --save "$scratch/run.tg" >/dev/null || exit 1

# The first 20 test images as 8-bit grayscale PNGs, named after their labels.
python3 - "$data" "$scratch" <<'PY' || exit 1
import struct, sys, zlib
data, out = sys.argv[1], sys.argv[2]
images = open(data + "/t10k-images-idx3-ubyte", "rb").read()[16:]
labels = open(data + "/t10k-labels-idx1-ubyte", "rb").read()[8:]
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
for i in range(20):
    rows = b"".join(b"\0" + images[i * 784 + r * 28:i * 784 + r * 28 + 28] for r in range(28))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    open("%s/%02d-label%d.png" % (out, i, labels[i]), "wb").write(png)
PY

out=$("$build/tapegrad-predict" "$scratch/mnist.tgm" "$scratch"/*.png) || { echo "FAIL: $out"; exit 1; }
status=0
lines=$(printf '%s\n' "$out" | wc -l)
correct=$(printf '%s\n' "$out" | grep -cE 'label([0-9])\.png: class \1 \(')
echo "$out"
echo "$correct of $lines test images classified as labelled"
[ "$lines" -eq 20 ] || { echo "FAIL: $lines lines for 20 images"; status=1; }
[ "$correct" -ge 16 ] || { echo "FAIL: only $correct of 20 correct"; status=1; }

err=$("$build/tapegrad-predict" "$scratch/run.tg" "$scratch/00-label7.png" 2>&1)
if [ $? -eq 0 ] || [[ "$err" != *"a training checkpoint"* ]]; then
  echo "FAIL: a --save checkpoint was not refused as one: $err"
  status=1
fi
exit $status
