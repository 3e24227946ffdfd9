#!/usr/bin/env bash
# usage: report.sh BUILD_DIR MNIST_DIR (see report.cmake). Exit 77 (skipped) without the
# uncompressed MNIST files or python3.
set -uo pipefail
build=$1 data=$2
if [ ! -s "$data/train-images-idx3-ubyte" ] || [ ! -s "$data/t10k-images-idx3-ubyte" ]; then
  echo "no uncompressed MNIST in $data (scripts/setup fetches it): skipped"
  exit 77
fi
command -v python3 >/dev/null || { echo "no python3: skipped"; exit 77; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# A cosine schedule, so that the learning rate changes from epoch to epoch.
"$build/tapegrad-mnist" --data "$data" --model lenet --train-limit 2000 --epochs 2 \
  --schedule cosine --threads 1 --out "$scratch/out" --graph "$scratch/tape.dot" \
  >"$scratch/stdout" 2>"$scratch/stderr" || { cat "$scratch/stderr"; exit 1; }

python3 - "$scratch" <<'PY'
import json, math, re, struct, sys
d = sys.argv[1]
failures = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)

metrics = json.load(open(d + "/out/metrics.json"))
confusion = metrics["confusion"]
svg = open(d + "/out/confusion_matrix.svg").read()
titles = re.findall(r"<text class='axis-title'[^>]*>([^<]*)</text>", svg)
check(titles == ["predicted class", "true class"], "confusion matrix axis titles: %s" % titles)
shown = re.findall(r"<text class='row-accuracy'[^>]*>([^<]*)</text>", svg)
expected = ["%.1f%%" % (100.0 * row[i] / sum(row)) if sum(row) else "n/a"
            for i, row in enumerate(confusion)]
check(shown == expected, "per-class accuracy %s matches the counts %s" % (shown, expected))
fills = re.findall(r"fill='#([0-9a-fA-F]{6})'", svg)
reddish = [f for f in fills if int(f[4:6], 16) < max(int(f[0:2], 16), int(f[2:4], 16))]
check(fills and not reddish, "confusion colours are all blue or grey (%d fills)" % len(fills))

curves = open(d + "/out/training_curves.svg").read()
check(">learning rate" in curves, "training curves have a learning-rate panel")
lr = [e["lr"] for e in metrics["epochs"]]
check(len(set(lr)) > 1, "the cosine schedule changed the learning rate: %s" % lr)
for panel in range(3):
    labels = re.findall(r"<text class='ytick' data-panel='%d'[^>]*>([^<]*)</text>" % panel, curves)
    values = [float(v) for v in labels]
    steps = {round(b - a, 12) for a, b in zip(values, values[1:])}
    log = len(steps) > 1  # a log axis: every tick 1, 2 or 5 x 10^k
    def round_value(v):
        m = v / 10 ** math.floor(math.log10(v) + 1e-12)
        return any(abs(m - r) < 1e-9 for r in (1, 2, 5, 10))
    ok = len(values) >= 3 and (all(round_value(v) for v in values) if log else
                               round_value(steps.pop()) and all(len(s) <= 6 for s in labels))
    check(ok, "panel %d ticks are round: %s" % (panel, labels))

png = open(d + "/out/misclassified.png", "rb").read()
width, height = struct.unpack(">II", png[16:24])
check(png[:8] == b"\x89PNG\r\n\x1a\n" and width > 300 and height > 20,
      "misclassified.png is a %dx%d PNG" % (width, height))

# Every layer of the summary the program printed is a cluster of the DOT graph.
dot = open(d + "/tape.dot").read()
clusters = re.findall(r'^    label="(.*)";$', dot, re.M)
layers = re.findall(r"^(\d+) +(\S.*?\S) {2,}batch", open(d + "/stderr").read(), re.M)
check(len(layers) >= 10, "the summary lists the layers: %d" % len(layers))
for index, description in layers:
    check("%s: %s" % (index, description) in clusters, "DOT cluster for layer %s: %s"
          % (index, description))
sys.exit(1 if failures else 0)
PY
