// Internal: small numerically careful helpers shared by ops and losses.
#pragma once

#include <cmath>
#include <cstddef>

namespace tg::detail {

// 1 / (1 + e^-x) without overflow for large |x|.
inline float stable_sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

}  // namespace tg::detail
