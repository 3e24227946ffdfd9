#include "blas.hpp"

#include "parallel.hpp"

#include <cblas.h>

#include <algorithm>

namespace tg::detail {

namespace {
void sgemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
           const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
           std::size_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

// Row blocks are multiples of this, so every block but the last is a whole number of the
// micro-kernel's row tiles.
constexpr std::size_t kRowAlign = 16;
// Below this many multiply-adds a GEMM runs on one thread: splitting costs more than it saves.
constexpr std::size_t kParallelWork = 1u << 18;
}  // namespace

// Splits the rows of C across the pool, each block a single-threaded sgemm. An element of C is
// computed by the same kernel over the same k-loop however the rows are split, so the result
// does not depend on the thread count (splitting columns did not have that property).
void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) {
  if (m == 0 || n == 0) return;
  const std::size_t threads = pool_threads();
  if (threads == 1 || m * n * k < kParallelWork || m < 2 * kRowAlign) {
    sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const std::size_t blocks = std::min(threads, m / kRowAlign);
  const std::size_t rows_per_block = (m / blocks + kRowAlign - 1) / kRowAlign * kRowAlign;
  const std::size_t count = (m + rows_per_block - 1) / rows_per_block;
  auto block_gemm = [&](std::size_t block) {
    const std::size_t r0 = block * rows_per_block;
    const std::size_t rs = std::min(rows_per_block, m - r0);
    // Row r of op(A) starts at a + r*lda untransposed, at column r (a + r) when transposed.
    const float* a_block = ta ? a + r0 : a + r0 * lda;
    sgemm(ta, tb, rs, n, k, alpha, a_block, lda, b, ldb, beta, c + r0 * ldc, ldc);
  };
  parallel_for(count, block_gemm);
}

}  // namespace tg::detail
