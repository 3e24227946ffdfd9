// Internal: the one place tapegrad calls BLAS.
#pragma once

#include "tapegrad/core/threads.hpp"

#include <cstddef>

namespace tg::detail {

// C = alpha * op(A) . op(B) + beta * C, row-major; op transposes when the flag is set.
// op(A) is m x k, op(B) is k x n.
void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
          float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
          float* c, std::size_t ldc);

// Rows of a batch go in blocks of kBatchBlock rows (tapegrad/core/threads.hpp), one gemm
// call per block. OpenBLAS rounds a row differently depending on how many rows the call has
// (measured: 1-30 % of the elements of a 64-row product differ from the same rows computed as
// two 32-row calls), so fixed blocks make each row's bits independent of the batch's split.
using tg::kBatchBlock;

// C (rows x n) = A (rows x k) . op(B) + beta * C, one gemm per block of kBatchBlock rows.
void gemm_batch_rows(bool transpose_b, std::size_t rows, std::size_t n, std::size_t k,
                     const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
                     float* c, std::size_t ldc);

// C (m x n) += A^T . B, summed over the batch rows of A (rows x m) and B (rows x n) one block
// of kBatchBlock rows at a time, in order: block by block onto what C holds, so a rank that
// starts from the sum the previous ranks reached gets the bits of one process.
void gemm_sum_batch_rows(std::size_t rows, std::size_t m, std::size_t n, const float* a,
                         std::size_t lda, const float* b, std::size_t ldb, float* c,
                         std::size_t ldc);

// Column-major C (m x n) = A (m x k) . B (k x n), onto C when `accumulate`: m is cut into
// chunks of 256 rows (a function of m alone), each a libxsmm kernel or, where libxsmm has none
// for the chunk's shape (or the build has no libxsmm), an OpenBLAS call; on the pool.
void gemm_column_chunks(std::size_t m, std::size_t n, std::size_t k, const float* a,
                        std::size_t lda, const float* b, std::size_t ldb, bool accumulate, float* c,
                        std::size_t ldc);

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
