#include "core/xsmm.hpp"

#ifdef TAPEGRAD_WITH_LIBXSMM
#include <libxsmm.h>

#include <limits>
#include <mutex>
#endif

namespace tg::detail::xsmm {

#ifdef TAPEGRAD_WITH_LIBXSMM
Kernel kernel(std::size_t m, std::size_t n, std::size_t k, std::size_t lda, std::size_t ldb,
              std::size_t ldc, bool accumulate) {
  static std::once_flag started;
  std::call_once(started, [] { libxsmm_init(); });
  constexpr std::size_t most = std::numeric_limits<int>::max();
  if (m > most || n > most || k > most || lda > most || ldb > most || ldc > most) return nullptr;
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const auto M = static_cast<libxsmm_blasint>(m), N = static_cast<libxsmm_blasint>(n),
             K = static_cast<libxsmm_blasint>(k), LDA = static_cast<libxsmm_blasint>(lda),
             LDB = static_cast<libxsmm_blasint>(ldb), LDC = static_cast<libxsmm_blasint>(ldc);
  // Dispatch is thread-safe and looks the kernel up in libxsmm's own registry after the first
  // call for a shape (JIT compilation happens once).
  return reinterpret_cast<Kernel>(
      libxsmm_smmdispatch(M, N, K, &LDA, &LDB, &LDC, &alpha, &beta, nullptr, nullptr));
}
#else
Kernel kernel(std::size_t, std::size_t, std::size_t, std::size_t, std::size_t, std::size_t, bool) {
  return nullptr;
}
#endif

}  // namespace tg::detail::xsmm
