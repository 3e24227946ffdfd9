// The vectorized kernels against the scalar std:: loops the ops used before them (same
// arithmetic, no tape, 64x256, one thread), so the speed-up is measured within one run:
//   build/tapegrad_bench --benchmark_filter=Reference
#include "tapegrad/tapegrad.hpp"

#include "core/kernels.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr std::size_t kRows = 64, kCols = 256;

tg::Tensor input(float lo = -4.0f, float hi = 4.0f) {
  tg::Tensor t = tg::zeros(kRows, kCols);
  std::uint32_t s = 12345;
  for (float& v : t) {
    s = s * 1664525u + 1013904223u;
    v = lo + (hi - lo) * static_cast<float>(s >> 8) / 16777216.0f;
  }
  return t;
}

// ---- the same arithmetic on raw arrays: the old scalar loops vs the kernels ----

struct Arrays {
  tg::Tensor x = input(), dy = input(-1.0f, 1.0f), y = tg::zeros(kRows, kCols),
             dx = tg::zeros(kRows, kCols);
  std::size_t n = kRows * kCols;
};

template <class F>
void run_arrays(benchmark::State& state, F body) {
  Arrays a;
  for (auto _ : state) {
    body(a.x.data(), a.y.data(), a.dy.data(), a.dx.data(), a.n);
    benchmark::DoNotOptimize(a.dx.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(a.n));
}

void scalar_tanh(const float* x, float* y, const float* dy, float* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
  for (std::size_t i = 0; i < n; ++i) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}
void kernel_tanh(const float* x, float* y, const float* dy, float* dx, std::size_t n) {
  tg::detail::tanh(x, y, n);
  for (std::size_t i = 0; i < n; ++i) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}
float scalar_sigmoid_1(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}
void scalar_sigmoid(const float* x, float* y, const float* dy, float* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = scalar_sigmoid_1(x[i]);
  for (std::size_t i = 0; i < n; ++i) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}
void kernel_sigmoid(const float* x, float* y, const float* dy, float* dx, std::size_t n) {
  tg::detail::sigmoid(x, y, n);
  for (std::size_t i = 0; i < n; ++i) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}
void scalar_elu(const float* x, float* y, const float* dy, float* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : std::expm1(x[i]);
  for (std::size_t i = 0; i < n; ++i) dx[i] += x[i] > 0.0f ? dy[i] : dy[i] * (y[i] + 1.0f);
}
void kernel_elu(const float* x, float* y, const float* dy, float* dx, std::size_t n) {
  tg::detail::elu(x, y, n, 1.0f);
  for (std::size_t i = 0; i < n; ++i) dx[i] += x[i] > 0.0f ? dy[i] : dy[i] * (y[i] + 1.0f);
}
// The old softmax forward: log-sum-exp with exp in double, then exp(x - lse) per element.
void scalar_softmax(const float* x, float* y, const float*, float*, std::size_t) {
  for (std::size_t i = 0; i < kRows; ++i) {
    const float* xr = x + i * kCols;
    float* yr = y + i * kCols;
    float m = xr[0];
    for (std::size_t j = 1; j < kCols; ++j) m = std::max(m, xr[j]);
    double s = 0.0;
    for (std::size_t j = 0; j < kCols; ++j) s += std::exp(static_cast<double>(xr[j] - m));
    const float lse = m + static_cast<float>(std::log(s));
    for (std::size_t j = 0; j < kCols; ++j) yr[j] = std::exp(xr[j] - lse);
  }
}
void kernel_softmax(const float* x, float* y, const float*, float*, std::size_t) {
  for (std::size_t i = 0; i < kRows; ++i)
    tg::detail::softmax_row(x + i * kCols, y + i * kCols, kCols);
}

void BM_ScalarTanh(benchmark::State& s) {
  run_arrays(s, scalar_tanh);
}
void BM_KernelTanh(benchmark::State& s) {
  run_arrays(s, kernel_tanh);
}
void BM_ScalarSigmoid(benchmark::State& s) {
  run_arrays(s, scalar_sigmoid);
}
void BM_KernelSigmoid(benchmark::State& s) {
  run_arrays(s, kernel_sigmoid);
}
void BM_ScalarElu(benchmark::State& s) {
  run_arrays(s, scalar_elu);
}
void BM_KernelElu(benchmark::State& s) {
  run_arrays(s, kernel_elu);
}
void BM_ScalarSoftmax(benchmark::State& s) {
  run_arrays(s, scalar_softmax);
}
void BM_KernelSoftmax(benchmark::State& s) {
  run_arrays(s, kernel_softmax);
}
BENCHMARK(BM_ScalarTanh)->Name("BM_ScalarReference/tanh");
BENCHMARK(BM_KernelTanh)->Name("BM_KernelReference/tanh");
BENCHMARK(BM_ScalarSigmoid)->Name("BM_ScalarReference/sigmoid");
BENCHMARK(BM_KernelSigmoid)->Name("BM_KernelReference/sigmoid");
BENCHMARK(BM_ScalarElu)->Name("BM_ScalarReference/elu");
BENCHMARK(BM_KernelElu)->Name("BM_KernelReference/elu");
BENCHMARK(BM_ScalarSoftmax)->Name("BM_ScalarReference/softmax_forward");
BENCHMARK(BM_KernelSoftmax)->Name("BM_KernelReference/softmax_forward");

}  // namespace
