#include "core/blas.hpp"

#include "core/parallel.hpp"
#include "core/xsmm.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace tg::detail {

namespace {
void sgemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
           const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
           std::size_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

// Blocks are multiples of these, so every block but the last is a whole number of the
// micro-kernel's tiles.
constexpr std::size_t kRowAlign = 16;
constexpr std::size_t kColumnAlign = 64;
// GEMMs with fewer rows than this split their columns instead.
constexpr std::size_t kColumnSplitRows = 128;
// Below this many multiply-adds a GEMM is one call: splitting costs more than it saves.
constexpr std::size_t kParallelWork = 1u << 18;
// Larger GEMMs are cut into at most this many blocks, whatever the thread count.
constexpr std::size_t kMaxBlocks = 8;
}  // namespace

namespace {
thread_local double g_gemm_seconds = 0.0;

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Adds the lifetime of this object to g_gemm_seconds.
struct GemmTimer {
  double start = now_seconds();
  ~GemmTimer() { g_gemm_seconds += now_seconds() - start; }
};
}  // namespace

double gemm_seconds() {
  return g_gemm_seconds;
}
void reset_gemm_seconds() {
  g_gemm_seconds = 0.0;
}

GemmBlocks gemm_blocks(std::size_t m, std::size_t n, std::size_t k) {
  const bool columns = m < kColumnSplitRows && n >= 2 * kColumnAlign;
  const std::size_t extent = columns ? n : m;
  const std::size_t align = columns ? kColumnAlign : kRowAlign;
  if (m * n * k < kParallelWork || extent < 2 * align) return {columns, 1, extent};
  const std::size_t blocks = std::min(kMaxBlocks, extent / align);
  const std::size_t size = (extent / blocks + align - 1) / align * align;
  return {columns, (extent + size - 1) / size, size};
}

// Splits C into blocks that depend on the shape alone, each a single-threaded sgemm over the
// full k-loop, and runs them on the pool: every element of C is computed by the same call
// however many threads there are, so results do not depend on the thread count. (Cutting by
// the thread count is not enough: OpenBLAS picks other kernels and blockings for other block
// sizes, e.g. with OPENBLAS_CORETYPE=Haswell, and a 2-thread half-block then rounds
// differently from the 1-thread whole.) Tall GEMMs split rows; short ones (the batch-row
// forward and input-gradient products) split columns in blocks that are multiples of the
// kernel's tiles, so each call packs only its share of B.
void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) {
  if (m == 0 || n == 0) return;
  GemmTimer timer;
  const GemmBlocks blocks = gemm_blocks(m, n, k);
  if (blocks.count == 1) {
    sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const std::size_t extent = blocks.columns ? n : m;
  auto block_gemm = [&](std::size_t block) {
    const std::size_t start = block * blocks.size;
    const std::size_t size = std::min(blocks.size, extent - start);
    if (blocks.columns) {
      // Column j of op(B) starts at b + j untransposed, at row j (b + j*ldb) when transposed.
      const float* b_block = tb ? b + start * ldb : b + start;
      sgemm(ta, tb, m, size, k, alpha, a, lda, b_block, ldb, beta, c + start, ldc);
    } else {
      // Row i of op(A) starts at a + i*lda untransposed, at column i (a + i) when transposed.
      const float* a_block = ta ? a + start : a + start * lda;
      sgemm(ta, tb, size, n, k, alpha, a_block, lda, b, ldb, beta, c + start * ldc, ldc);
    }
  };
  parallel_for(blocks.count, block_gemm);
}

namespace {
// Blocks of columns (features) a batch-row product is cut into for the pool: fixed by the
// shape, multiples of the kernels' 16-float vectors; one block when the product is small.
// Not of the rows: a rank with fewer rows cuts its products the same way.
GemmBlocks feature_blocks(std::size_t features, std::size_t k) {
  constexpr std::size_t align = 64;
  if (kBatchBlock * features * k < kParallelWork || features < 2 * align)
    return {true, 1, features};
  const std::size_t blocks = std::min(kMaxBlocks, features / align);
  const std::size_t size = (features / blocks + align - 1) / align * align;
  return {true, (features + size - 1) / size, size};
}

}  // namespace

void gemm_batch_rows(bool tb, std::size_t rows, std::size_t n, std::size_t k, const float* a,
                     std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                     std::size_t ldc) {
  if (rows == 0 || n == 0) return;
  if (tb || (beta != 0.0f && beta != 1.0f)) {
    for (std::size_t r = 0; r < rows; r += kBatchBlock)
      gemm(false, tb, std::min(kBatchBlock, rows - r), n, k, 1.0f, a + r * lda, lda, b, ldb, beta,
           c + r * ldc, ldc);
    return;
  }
  // Tiles of kBatchBlock rows x a fixed block of features, each a libxsmm kernel (column-major
  // C^T = B^T . A^T) or, where libxsmm has none for the tile's shape, an OpenBLAS call: the
  // choice depends on the tile alone, so a row is computed the same whatever the split.
  const GemmBlocks f = feature_blocks(n, k);
  const std::size_t row_blocks = (rows + kBatchBlock - 1) / kBatchBlock;
  auto task = [&](std::size_t t) {
    const std::size_t rb = t / f.count, fb = t % f.count;
    const std::size_t r0 = rb * kBatchBlock, rn = std::min(kBatchBlock, rows - r0);
    const std::size_t f0 = fb * f.size, fn = std::min(f.size, n - f0);
    if (const xsmm::Kernel kernel = xsmm::kernel(fn, rn, k, ldb, lda, ldc, beta == 1.0f))
      kernel(b + f0, a + r0 * lda, c + r0 * ldc + f0);
    else
      sgemm(false, false, rn, fn, k, 1.0f, a + r0 * lda, lda, b + f0, ldb, beta, c + r0 * ldc + f0,
            ldc);
  };
  GemmTimer timer;
  parallel_for(row_blocks * f.count, task);
}

void gemm_column_chunks(std::size_t m, std::size_t n, std::size_t k, const float* a,
                        std::size_t lda, const float* b, std::size_t ldb, bool accumulate, float* c,
                        std::size_t ldc) {
  if (m == 0 || n == 0) return;
  constexpr std::size_t chunk = 256;
  const std::size_t chunks = (m + chunk - 1) / chunk;
  auto task = [&](std::size_t i) {
    const std::size_t m0 = i * chunk, mn = std::min(chunk, m - m0);
    if (const xsmm::Kernel kernel = xsmm::kernel(mn, n, k, lda, ldb, ldc, accumulate))
      kernel(a + m0, b, c + m0);
    else  // row-major, C^T (n x mn) = B^T (n x k) . A^T (k x mn)
      sgemm(false, false, n, mn, k, 1.0f, b, ldb, a + m0, lda, accumulate ? 1.0f : 0.0f, c + m0,
            ldc);
  };
  GemmTimer timer;
  parallel_for(chunks, task);
}

void gemm_sum_batch_rows(std::size_t rows, std::size_t m, std::size_t n, const float* a,
                         std::size_t lda, const float* b, std::size_t ldb, float* c,
                         std::size_t ldc) {
  if (rows == 0 || m == 0 || n == 0) return;
  // Column-major, C^T (n x m) += B^T (n x rows) . A (rows x m), block after block of kBatchBlock
  // rows onto C. Each block of A is first transposed into a scratch tile of leading dimension
  // kBatchBlock, so that every kernel's shape and leading dimensions depend on the block alone
  // (never on how many rows this rank has); tasks are fixed blocks of C's rows (features).
  const GemmBlocks f = feature_blocks(m, n);
  const std::size_t row_blocks = (rows + kBatchBlock - 1) / kBatchBlock;
  thread_local std::vector<float> scratch;  // reused: no allocation once large enough
  if (scratch.size() < row_blocks * kBatchBlock * m) scratch.resize(row_blocks * kBatchBlock * m);
  float* at = scratch.data();
  for (std::size_t rb = 0; rb < row_blocks; ++rb) {
    const std::size_t r0 = rb * kBatchBlock, rn = std::min(kBatchBlock, rows - r0);
    float* tile = at + rb * kBatchBlock * m;  // m x kBatchBlock, row-major
    for (std::size_t i = 0; i < rn; ++i)
      for (std::size_t j = 0; j < m; ++j) tile[j * kBatchBlock + i] = a[(r0 + i) * lda + j];
  }
  auto task = [&](std::size_t fb) {
    const std::size_t f0 = fb * f.size, fn = std::min(f.size, m - f0);
    for (std::size_t rb = 0; rb < row_blocks; ++rb) {
      const std::size_t r0 = rb * kBatchBlock, rn = std::min(kBatchBlock, rows - r0);
      if (const xsmm::Kernel kernel = xsmm::kernel(n, fn, rn, ldb, kBatchBlock, ldc, true))
        kernel(b + r0 * ldb, at + rb * kBatchBlock * m + f0 * kBatchBlock, c + f0 * ldc);
      else
        sgemm(true, false, fn, n, rn, 1.0f, a + r0 * lda + f0, lda, b + r0 * ldb, ldb, 1.0f,
              c + f0 * ldc, ldc);
    }
  };
  GemmTimer timer;
  parallel_for(f.count, task);
}

}  // namespace tg::detail
