// Internal: tapegrad's one thread pool. OpenBLAS is kept at one thread and the pool splits
// work itself, so N threads means N threads (never N for us plus N for BLAS), and every
// result is computed in the same order whatever N is.
#pragma once

#include <cstddef>

namespace tg::detail {

// Runs task(context, 0) ... task(context, count - 1) on the pool and returns when all are
// done. Any pool thread, the calling one included, may run any block, so tasks must write
// disjoint outputs and compute each block the same way whoever runs it. Runs inline (in
// order, on the calling thread) with one thread or one block, inside a block, or while
// another thread's parallel_for holds the pool. The first exception a block throws is
// rethrown here after every block has run.
void parallel_for(std::size_t count, void (*task)(void* context, std::size_t index), void* context);

// The same for any callable, without the heap allocation a std::function may need.
template <class F>
void parallel_for(std::size_t count, F& task) {
  parallel_for(
      count, [](void* f, std::size_t i) { (*static_cast<F*>(f))(i); }, &task);
}
std::size_t pool_threads();
// Which pool thread is running: 0 outside the pool (the caller of parallel_for runs blocks
// too), 1 ... pool_threads() - 1 for the workers. For tests of the hand-off.
std::size_t pool_worker_index();

// Flush-to-zero and denormals-are-zero for SSE/AVX in the calling thread; returns the old
// MXCSR so it can be restored.
unsigned enable_flush_denormals();
void restore_float_mode(unsigned mxcsr);

}  // namespace tg::detail
