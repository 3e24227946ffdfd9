// Compute settings: the thread budget, denormal flushing and the batch block.
#pragma once

#include <cstddef>

namespace tg {

// The one thread budget: tapegrad's pool and BLAS together use `threads` threads (0 = one per
// core). Default 1. Work is split so that results are bit-identical for any thread count.
// More than kMaxThreadsPerCore threads per core is refused with a tg::Error.
constexpr std::size_t kMaxThreadsPerCore = 4;
void set_num_threads(std::size_t threads);
std::size_t num_threads();
// OpenBLAS starts threads of its own when a program loads, unless OPENBLAS_NUM_THREADS=1.
// tapegrad splits the work itself and sets OpenBLAS to one thread at run time when its pool
// starts (set_num_threads), so nothing is needed; this sets it right away. It no longer
// re-executes the program (the name stays for programs that call it).
void restart_with_single_threaded_blas(char** argv);
// Batch rows are computed in blocks of kBatchBlock rows counted from the first row of the
// global batch (dense and convolution products, their batch sums). A data-parallel shard is a
// whole number of blocks (BatchIterator::set_shard), so every row is computed by the same
// calls whatever the split over ranks, and sums over the batch add block after block in the
// same order: the bits of one process.
constexpr std::size_t kBatchBlock = 16;

// Within this scope the calling thread flushes denormal floats to zero (FTZ/DAZ). Denormals
// appear in late training and can make every float operation ~100x slower; tg::fit and
// tg::evaluate use this scope. Pool threads run each block of a parallel region in the float
// mode of the thread that started the region, so a block's result never depends on which
// thread ran it.
class FlushDenormalsScope {
 public:
  FlushDenormalsScope();
  ~FlushDenormalsScope();
  FlushDenormalsScope(const FlushDenormalsScope&) = delete;
  FlushDenormalsScope& operator=(const FlushDenormalsScope&) = delete;

 private:
  unsigned previous_;
};

}  // namespace tg
