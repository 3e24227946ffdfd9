#!/usr/bin/env bash
# usage: run.sh BUILD_DIR CONSUMER_SOURCE_DIR
# $TAPEGRAD_CONSUMER_FLAGS: extra compile and link flags (the sanitizers of a sanitized build).
set -euo pipefail
build=$1 src=$2
flags=${TAPEGRAD_CONSUMER_FLAGS:-}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null

echo "== find_package(tapegrad CONFIG)"
cmake -S "$src" -B "$scratch/cmake-build" -DCMAKE_PREFIX_PATH="$scratch/prefix" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$scratch/cmake-build" -j 2 >/dev/null
LD_LIBRARY_PATH="$scratch/prefix/lib" "$scratch/cmake-build/consumer_shared"
"$scratch/cmake-build/consumer_static"
# grep reads everything (no -q): an early exit would SIGPIPE ldd and fail under pipefail.
ldd "$scratch/cmake-build/consumer_shared" | grep "$scratch/prefix/lib/libtapegrad.so" >/dev/null
# The main library does not pull in MPI: that is tapegrad_dist's.
if ldd "$scratch/cmake-build/consumer_shared" | grep -i mpi; then
  echo "consumer: a program linked to libtapegrad.so loads MPI" >&2
  exit 1
fi

echo "== pkg-config"
export PKG_CONFIG_PATH="$scratch/prefix/lib/pkgconfig"
g++ -std=c++17 -O1 $flags "$src/main.cpp" -o "$scratch/pc_shared" $(pkg-config --cflags --libs tapegrad) \
  -Wl,-rpath,"$scratch/prefix/lib"
"$scratch/pc_shared"
# The archive by path (-ltapegrad would pick the .so), then everything Libs.private lists.
static_libs=$(pkg-config --libs --static tapegrad | sed 's/-ltapegrad\b//')
g++ -std=c++17 -O1 $flags "$src/main.cpp" -o "$scratch/pc_static" $(pkg-config --cflags tapegrad) \
  "$scratch/prefix/lib/libtapegrad.a" $static_libs
"$scratch/pc_static"
echo "consumer: all four builds ran"
