// Internal: libxsmm's JIT-compiled small-matrix kernels, for the batch-row products of dense
// layers (core/blas.cpp). A kernel computes column-major C (m x n) = A (m x k) . B (k x n),
// onto C or over it, with no packing: on blocks of 16 batch rows it ran the MLP's forward
// products about 2x faster than OpenBLAS (115 against 217-267 us for 64 x 784 x 256, one
// thread, interleaved), and it computes each column by the same code whatever the other
// columns are (docs/distributed.md).
#pragma once

#include <cstddef>

namespace tg::detail::xsmm {

using Kernel = void (*)(const float* a, const float* b, float* c, ...);

// The kernel for this shape (column-major, leading dimensions lda/ldb/ldc), accumulating onto
// C or overwriting it; null when libxsmm has none (or this build has no libxsmm): the caller
// then uses OpenBLAS with the same blocks.
Kernel kernel(std::size_t m, std::size_t n, std::size_t k, std::size_t lda, std::size_t ldb,
              std::size_t ldc, bool accumulate);

}  // namespace tg::detail::xsmm
