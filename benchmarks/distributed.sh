#!/usr/bin/env bash
# usage: benchmarks/distributed.sh [BUILD_DIR] [RANKS...]
# One epoch of tapegrad-mnist on full MNIST (784-256-128-10 MLP, 235k parameters, Adam,
# global batch 64, --threads 1 per rank) on 1 rank and under mpirun on each of RANKS (default
# 2); prints the epoch's training time, samples/s, the all-reduce time per step, and the
# largest weight difference from the 1-rank run (tapegrad-inspect --diff, tolerance 1e-5).
set -euo pipefail
build=${1:-build}
shift || true
ranks=("${@:-2}")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export OPENBLAS_NUM_THREADS=1
args=(--epochs 1 --batch 64 --threads 1 --quiet)
report() {  # name, metrics.json
  python3 - "$1" "$2" <<'PY'
import json, sys
m = json.load(open(sys.argv[2]))
e, d = m["epochs"][0], m.get("distributed", {})
print(f"{sys.argv[1]:>8}: epoch {e['train_seconds']:.2f} s, {e['samples_per_second']:.0f} samples/s, "
      f"test acc {m['test_accuracy']:.4f}, all-reduce {d.get('allreduce_ms_per_step', 0):.3f} ms/step "
      f"(MPI_Allreduce {d.get('mpi_allreduce_ms_per_step', 0):.3f} ms) of {d.get('gradient_floats', 0)} floats")
PY
}
"$build/tapegrad-mnist" "${args[@]}" --out "$out/1" --save "$out/1.tg" >/dev/null
report "1 rank" "$out/1/metrics.json"
for n in "${ranks[@]}"; do
  mpirun --allow-run-as-root --oversubscribe -np "$n" \
    "$build/tapegrad-mnist" "${args[@]}" --out "$out/$n" --save "$out/$n.tg" >/dev/null
  report "$n ranks" "$out/$n/metrics.json"
  "$build/tapegrad-inspect" "$out/1.tg" --diff "$out/$n.tg" --tolerance 1e-5 |
    awk -v n="$n" '/^model/ { if ($2 > w) w = $2 } END { printf "          max |w(%s ranks) - w(1 rank)| = %g\n", n, w }'
  "$build/tapegrad-inspect" "$out/1.tg" --diff "$out/$n.tg" --tolerance 1e-5 >/dev/null &&
    echo "          tapegrad-inspect --diff --tolerance 1e-5: exit 0"
done
