// Internal: the one place tapegrad calls BLAS.
#pragma once

#include <cstddef>

namespace tg::detail {

// C = alpha * op(A) . op(B) + beta * C, row-major; op transposes when the flag is set.
// op(A) is m x k, op(B) is k x n.
void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
          float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
          float* c, std::size_t ldc);

// How gemm cuts C into blocks for the pool: `count` blocks of `size` columns (or rows), the
// last one shorter. A function of the shape alone, never of the thread count, so every
// element is computed by the same single-threaded call whoever runs it; one block below a
// work threshold (the hand-off would cost more than the split saves).
struct GemmBlocks {
  bool columns = false;
  std::size_t count = 1;
  std::size_t size = 0;
};
GemmBlocks gemm_blocks(std::size_t m, std::size_t n, std::size_t k);

// Wall time spent inside gemm() by the calling thread since the last reset: lets a benchmark
// report how much of a training step is matrix products (two clock reads per call).
double gemm_seconds();
void reset_gemm_seconds();

}  // namespace tg::detail
