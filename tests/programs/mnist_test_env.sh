# Sourced by the tests that train on real MNIST, with $data set to its folder: skips the test
# (exit 77) without the files, makes $scratch (removed on exit) and keeps OpenBLAS at one
# thread (tapegrad's pool does the threading).
if [ ! -s "$data/train-images-idx3-ubyte" ] && [ ! -s "$data/train-images-idx3-ubyte.gz" ]; then
  echo "no MNIST in $data (scripts/setup fetches it): skipped"
  exit 77
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export OPENBLAS_NUM_THREADS=1
