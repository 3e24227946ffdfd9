// Internal: tapegrad's one thread pool. OpenBLAS is kept at one thread and the pool splits
// work itself, so N threads means N threads (never N for us plus N for BLAS), and every
// result is computed in the same order whatever N is.
#pragma once

#include <cstddef>

namespace tg::detail {

// Runs task(context, 0) ... task(context, count - 1) on the pool (the calling thread takes
// part) and returns when all are done. Tasks must write disjoint outputs.
void parallel_for(std::size_t count, void (*task)(void* context, std::size_t index), void* context);

// The same for any callable, without the heap allocation a std::function may need.
template <class F>
void parallel_for(std::size_t count, F& task) {
  parallel_for(
      count, [](void* f, std::size_t i) { (*static_cast<F*>(f))(i); }, &task);
}
std::size_t pool_threads();

// Flush-to-zero and denormals-are-zero for SSE/AVX in the calling thread; returns the old
// MXCSR so it can be restored.
unsigned enable_flush_denormals();
void restore_float_mode(unsigned mxcsr);

}  // namespace tg::detail
