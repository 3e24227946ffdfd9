// Internal: the one place tapegrad calls BLAS.
#pragma once

#include <cstddef>

namespace tg::detail {

// C = alpha * op(A) . op(B) + beta * C, row-major; op transposes when the flag is set.
// op(A) is m x k, op(B) is k x n.
void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
          float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
          float* c, std::size_t ldc);

// Wall time spent inside gemm() by the calling thread since the last reset: lets a benchmark
// report how much of a training step is matrix products (two clock reads per call).
double gemm_seconds();
void reset_gemm_seconds();

}  // namespace tg::detail
