// Internal: tapegrad's one thread pool. OpenBLAS is kept at one thread and the pool splits
// work itself, so N threads means N threads (never N for us plus N for BLAS), and every
// result is computed in the same order whatever N is.
#pragma once

#include <cstddef>
#include <functional>

namespace tg::detail {

// Runs task(0) ... task(count - 1) on the pool (the calling thread takes part) and returns
// when all are done. Tasks must write disjoint outputs.
void parallel_for(std::size_t count, const std::function<void(std::size_t)>& task);
std::size_t pool_threads();

// Flush-to-zero and denormals-are-zero for SSE/AVX in the calling thread; returns the old
// MXCSR so it can be restored.
unsigned enable_flush_denormals();
void restore_float_mode(unsigned mxcsr);

}  // namespace tg::detail
