#!/usr/bin/env bash
# libtapegrad.so exports the public API and nothing internal: no op's backward function and
# nothing of tg::detail. Usage: exports.sh path/to/libtapegrad.so
set -euo pipefail
syms=$(nm -DC --defined-only "$1")
grep -q 'tg::Tape::backward' <<<"$syms" || { echo "public API missing from $1"; exit 1; }
if internal=$(grep -E '_backward\(|tg::detail::' <<<"$syms"); then
  echo "$1 exports internals:"
  echo "$internal"
  exit 1
fi
echo "$(wc -l <<<"$syms") exported symbols, none internal"
