#include "core/blas.hpp"

#include "core/parallel.hpp"
#include "core/xsmm.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>

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
  if (!tb && (beta == 0.0f || beta == 1.0f)) {
    // Column-major, C^T (n x rows) = B^T (n x k) . A^T (k x rows): libxsmm kernels of
    // kBatchBlock columns, one per block of rows and block of features.
    const GemmBlocks f = feature_blocks(n, k);
    const std::size_t row_blocks = (rows + kBatchBlock - 1) / kBatchBlock;
    const std::size_t last_rows = rows - (row_blocks - 1) * kBatchBlock;
    const std::size_t last_features = n - (f.count - 1) * f.size;
    const bool accumulate = beta == 1.0f;
    xsmm::Kernel kernels[2][2];  // [last row block][last feature block]
    bool all = true;
    for (int lr = 0; lr < 2; ++lr)
      for (int lf = 0; lf < 2; ++lf) {
        kernels[lr][lf] = xsmm::kernel(lf ? last_features : f.size, lr ? last_rows : kBatchBlock, k,
                                       ldb, lda, ldc, accumulate);
        all = all && kernels[lr][lf];
      }
    if (all) {
      GemmTimer timer;
      auto task = [&](std::size_t t) {
        const std::size_t rb = t / f.count, fb = t % f.count;
        const float* ab = a + rb * kBatchBlock * lda;
        kernels[rb + 1 == row_blocks][fb + 1 == f.count](b + fb * f.size, ab,
                                                         c + rb * kBatchBlock * ldc + fb * f.size);
      };
      parallel_for(row_blocks * f.count, task);
      return;
    }
  }
  for (std::size_t r = 0; r < rows; r += kBatchBlock)
    gemm(false, tb, std::min(kBatchBlock, rows - r), n, k, 1.0f, a + r * lda, lda, b, ldb, beta,
         c + r * ldc, ldc);
}

bool xsmm_gemm_chunks(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda,
                      const float* b, std::size_t ldb, bool accumulate, float* c, std::size_t ldc) {
  if (m == 0 || n == 0) return true;
  constexpr std::size_t chunk = 256;
  const std::size_t chunks = (m + chunk - 1) / chunk, last = m - (chunks - 1) * chunk;
  const xsmm::Kernel whole = xsmm::kernel(chunk, n, k, lda, ldb, ldc, accumulate);
  const xsmm::Kernel tail = xsmm::kernel(last, n, k, lda, ldb, ldc, accumulate);
  if (!tail || (chunks > 1 && !whole)) return false;
  GemmTimer timer;
  auto task = [&](std::size_t i) {
    (i + 1 == chunks ? tail : whole)(a + i * chunk, b, c + i * chunk);
  };
  parallel_for(chunks, task);
  return true;
}

void gemm_sum_batch_rows(std::size_t rows, std::size_t m, std::size_t n, const float* a,
                         std::size_t lda, const float* b, std::size_t ldb, float* c,
                         std::size_t ldc) {
  // OpenBLAS, block after block onto C. (libxsmm kernels for this product, on a transposed
  // copy of A, ran 1.6x faster, but 2 MPI ranks ended a step apart from one process in a
  // case not understood yet: see the note in docs/distributed.md.)
  for (std::size_t r = 0; r < rows; r += kBatchBlock)
    gemm(true, false, m, n, std::min(kBatchBlock, rows - r), 1.0f, a + r * lda, lda, b + r * ldb,
         ldb, 1.0f, c, ldc);
}

}  // namespace tg::detail
