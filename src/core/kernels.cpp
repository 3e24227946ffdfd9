// Vectorized array math: xsimd batches for the native architecture (-march=native), with the
// tail padded into one more batch. Only array math lives here; the ops use it in ops.cpp.
#include "core/kernels.hpp"

// GCC 12's AVX-512 intrinsics (_mm512_undefined_ps and friends, used by xsimd) self-initialise
// a variable, which -Wuninitialized reports wherever they are inlined (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace tg::detail {

namespace {

using B = xsimd::batch<float>;
constexpr std::size_t kLanes = B::size;

// Applies f (batch -> batch) to x[0, n), writing y; the tail goes through a padded batch.
template <class F>
void apply(const float* x, float* y, std::size_t n, F f) {
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) f(B::load_unaligned(x + i)).store_unaligned(y + i);
  if (i == n) return;
  alignas(64) float buf[kLanes] = {};
  std::copy(x + i, x + n, buf);
  f(B::load_unaligned(buf)).store_unaligned(buf);
  std::copy(buf, buf + (n - i), y + i);
}

// e^x over the whole float range. xsimd's exp returns inf above x = 88.376 (e^x is finite up
// to 88.72) and flushes to 0 below -87.9 (e^x is a denormal down to -103.97). Lanes in those
// two narrow windows are redone with std::exp; elsewhere the batch result stands.
bool exp_edge(float v) {
  return v > 88.0f ? v < 89.0f : (v < -87.0f && v > -104.0f);
}

B exp_b(B x) {
  B r = xsimd::exp(x);
  const auto edge = (x > B(88.0f) && x < B(89.0f)) || (x < B(-87.0f) && x > B(-104.0f));
  if (xsimd::any(edge)) {
    alignas(64) float xs[kLanes], rs[kLanes];
    x.store_aligned(xs);
    r.store_aligned(rs);
    for (std::size_t i = 0; i < kLanes; ++i)
      if (exp_edge(xs[i])) rs[i] = std::exp(xs[i]);
    r = B::load_aligned(rs);
  }
  return r;
}

// e^x - 1; xsimd's expm1 overflows early like its exp (there e^x - 1 rounds to e^x) and
// turns -0 into +0.
B expm1_b(B x) {
  B r = xsimd::expm1(x);
  const auto hi = x > B(88.0f);
  if (xsimd::any(hi)) r = xsimd::select(hi, exp_b(x), r);
  return xsimd::select(x == B(0.0f), x, r);
}

// 1 / (1 + e^-|x|) for x >= 0, e^-|x| / (1 + e^-|x|) for x < 0: e^-|x| is in [0, 1].
B sigmoid_b(B x) {
  const B e = exp_b(-xsimd::abs(x));
  return xsimd::select(x >= B(0.0f), B(1.0f), e) / (B(1.0f) + e);
}

}  // namespace

void exp(const float* x, float* y, std::size_t n) {
  apply(x, y, n, exp_b);
}

void expm1(const float* x, float* y, std::size_t n) {
  apply(x, y, n, expm1_b);
}

void tanh(const float* x, float* y, std::size_t n) {
  apply(x, y, n, [](B v) { return xsimd::tanh(v); });
}

void sigmoid(const float* x, float* y, std::size_t n) {
  apply(x, y, n, sigmoid_b);
}

void elu(const float* x, float* y, std::size_t n, float alpha) {
  const B a(alpha);
  apply(x, y, n, [a](B v) { return xsimd::select(v > B(0.0f), v, a * expm1_b(v)); });
}

float row_max(const float* x, std::size_t n) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  std::size_t i = 0;
  float m = kNegInf;
  if (n >= kLanes) {
    B acc = B::load_unaligned(x);
    for (i = kLanes; i + kLanes <= n; i += kLanes) acc = xsimd::max(acc, B::load_unaligned(x + i));
    alignas(64) float lanes[kLanes];
    acc.store_aligned(lanes);
    m = *std::max_element(lanes, lanes + kLanes);
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

float exp_shifted_sum(const float* x, float shift, float* y, std::size_t n) {
  const B s(shift);
  B acc(0.0f);
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const B e = exp_b(B::load_unaligned(x + i) - s);
    e.store_unaligned(y + i);
    acc += e;
  }
  if (i < n) {
    alignas(64) float buf[kLanes];
    std::fill(buf, buf + kLanes, -std::numeric_limits<float>::infinity());  // e^-inf = 0
    std::copy(x + i, x + n, buf);
    const B e = exp_b(B::load_aligned(buf) - s);
    e.store_aligned(buf);
    std::copy(buf, buf + (n - i), y + i);
    acc += e;
  }
  return xsimd::hadd(acc);
}

double softmax_row(const float* x, float* y, std::size_t n) {
  const float m = row_max(x, n);
  if (std::isinf(m)) {
    for (std::size_t j = 0; j < n; ++j) y[j] = std::exp(x[j] - m);
    return m;
  }
  const float s = exp_shifted_sum(x, m, y, n);
  for (std::size_t j = 0; j < n; ++j) y[j] /= s;
  return m + std::log(static_cast<double>(s));
}

void log_softmax_row(const float* x, float* y, std::size_t n) {
  const float m = row_max(x, n);
  float log_sum = 0.0f;
  if (!std::isinf(m)) log_sum = static_cast<float>(std::log(exp_shifted_sum(x, m, y, n)));
  for (std::size_t j = 0; j < n; ++j) y[j] = (x[j] - m) - log_sum;
}

double dot(const float* a, const float* b, std::size_t n) {
  double acc[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (std::size_t k = 0; k < 8; ++k) acc[k] += static_cast<double>(a[i + k]) * b[i + k];
  for (; i < n; ++i) acc[0] += static_cast<double>(a[i]) * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

double sum(const float* a, std::size_t n) {
  double acc[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (std::size_t k = 0; k < 8; ++k) acc[k] += a[i + k];
  for (; i < n; ++i) acc[0] += a[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace tg::detail

#pragma GCC diagnostic pop
