#!/usr/bin/env bash
# usage: deploy_predict_inputs.sh BUILD_DIR MNIST_DIR (see deploy.cmake).
# tapegrad-predict on IDX image files with --labels, on a model that tapegrad-mnist saved: IDX
# and text labels, plain and gzip files give the same accuracy; every line is marked right or
# wrong as its class and label say, and the marks add up to the accuracy; --probabilities
# writes N x 10 float32. Bad labels, images, FIFOs and output paths are refused with one line
# naming the file (and line or byte) before anything is predicted. Exit 77 (skipped) without
# MNIST or python3 (which writes the broken files).
set -uo pipefail
build=$1 data=$2
images=$data/t10k-images-idx3-ubyte labels=$data/t10k-labels-idx1-ubyte
for f in "$images" "$labels" "$data/train-images-idx3-ubyte" "$data/train-labels-idx1-ubyte"; do
  [ -s "$f" ] || { echo "no uncompressed MNIST in $data (scripts/setup fetches it): skipped"; exit 77; }
done
command -v python3 >/dev/null || { echo "no python3: skipped"; exit 77; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }
predict() { timeout 60 "$build/tapegrad-predict" "$@"; }
model=$scratch/mlp.tgm
"$build/tapegrad-mnist" --data "$data" --epochs 1 --train-limit 3000 --validation 500 --seed 1 \
  --threads 1 --quiet --save-model "$model" >/dev/null || { echo "FAIL: tapegrad-mnist"; exit 1; }

# The same labels as text (one index a line, CRLF and a trailing blank line), gzip copies, and
# broken files: a label 10 at image 6, a truncated image file, 27 x 27 images, bad text labels.
python3 - "$images" "$labels" "$scratch" <<'PY' || { echo "FAIL: python3"; exit 1; }
import gzip, struct, sys
images, labels, out = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read(), sys.argv[3]
def write(name, data): open(out + "/" + name, "wb").write(data)
write("labels.txt", b"".join(b"%d\r\n" % v for v in labels[8:]) + b"\n")
write("twice.txt", b"".join(b"%d\n" % v for v in labels[8:] * 2))
write("first100.txt", b"".join(b"%d\n" % v for v in labels[8:108]))
write("images.gz", gzip.compress(images))
write("labels.gz", gzip.compress(labels))
write("label10.idx", labels[:13] + b"\x0a" + labels[14:])
write("short.idx", images[:16 + 784 * 100 + 5])
write("small.idx", struct.pack(">IIII", 0x803, 2, 27, 27) + bytes(2 * 27 * 27))
write("notaclass.txt", b"7\n2\nseven\n")
write("gap.txt", b"7\n\n2\n")
PY

want=$(predict "$model" "$images" --labels "$labels" --quiet)
echo "IDX labels: $want"
[[ "$want" =~ ^accuracy=0\.[0-9]{4}\ \(10000\ images\)$ ]] || fail "accuracy line: $want"
got=$(predict "$model" "$images" --labels "$scratch/labels.txt" --quiet)
[ "$got" = "$want" ] || fail "text labels give $got"
got=$(predict "$model" "$scratch/images.gz" --labels "$scratch/labels.gz" --quiet)
[ "$got" = "$want" ] || fail "gzip IDX files give $got"
got=$(predict "$model" "$images" "$scratch/images.gz" --labels "$scratch/twice.txt" --quiet)
[ "$got" = "${want/10000/20000}" ] || fail "the images twice give $got"

# Every line: the class, then the label marked right exactly when they agree.
predict "$model" "$images" --labels "$labels" --probabilities "$scratch/p.f32" >"$scratch/all" ||
  fail "tapegrad-predict without --quiet"
summary=$(awk -v want="$want" '
  /^accuracy=/ { last = $0; next }
  match($0, /\[image [0-9]+\]: class [0-9] \(/) {
    lines++
    split(substr($0, RSTART), a, /[] :]+/); cls = a[4]
    if (!match($0, /  label [0-9] (right|wrong)$/)) { bad++; next }
    split(substr($0, RSTART + 2), b, " ")
    if ((b[2] == cls) != (b[3] == "right")) bad++
    right += b[3] == "right"
    next
  }
  { bad++ }
  END { printf "%d %d %s %s", lines, bad, sprintf("accuracy=%.4f (10000 images)", right / 10000), last }
' "$scratch/all")
echo "lines, badly marked, accuracy from the marks, last line: $summary"
[ "$summary" = "10000 0 $want $want" ] || fail "the marked lines do not add up to $want"
[ "$(stat -c %s "$scratch/p.f32" 2>/dev/null)" = 400000 ] || fail "--probabilities: not 10000 x 10 floats"
ls "$scratch" | grep -q '\.tmp\.' && fail "a temp file was left"

# refused FILE_IN_MESSAGE ARGS...: exit 1, nothing on stdout, one line on stderr that names it.
refused() {
  local what=$1 out err rc
  shift
  out=$(predict "$model" "$@" 2>"$scratch/err")
  rc=$? err=$(cat "$scratch/err")
  echo "refused: $err"
  [ $rc -eq 1 ] || fail "exit $rc for $*"
  [ -z "$out" ] || fail "printed predictions before refusing $*"
  [ "$(wc -l <"$scratch/err")" -eq 1 ] || fail "not one line for $*"
  [[ "$err" == *"$what"* ]] || fail "'$what' is not in: $err"
}
refused "first100.txt: 100 labels for 10000 samples" "$images" --labels "$scratch/first100.txt"
refused "label10.idx: byte 13: label 6 is 10" "$images" --labels "$scratch/label10.idx"
refused "notaclass.txt: line 3: 'seven' is not a class" "$images" --labels "$scratch/notaclass.txt"
refused "gap.txt: line 2: an empty line between labels" "$images" --labels "$scratch/gap.txt"
refused "short.idx: byte 16" "$scratch/short.idx"
refused "small.idx: the images are 27 x 27 pixels" "$scratch/small.idx"
mkdir "$scratch/p.f32-folder"
refused "p.f32-folder: is a folder" "$images" --labels "$labels" --probabilities "$scratch/p.f32-folder"
refused "/nonexistent-folder/p.f32" "$images" --probabilities /nonexistent-folder/p.f32
mkfifo "$scratch/fifo"
refused "fifo: not a regular file" "$scratch/fifo"
refused "fifo" "$images" --labels "$scratch/fifo"
out=$(predict "$model" "$images" --quiet 2>&1) && fail "--quiet without --labels ran: $out"
exit $status
