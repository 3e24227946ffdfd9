// The vectorized array kernels (src/kernels.hpp) against the std:: functions evaluated in
// double: dense sweeps measured in float ulps, special values, and every tail length.
//
// Worst errors measured on AVX-512 (xsimd 8.1, GCC 12, 1e6-point sweeps): exp 1.51 ulp,
// expm1 2.00, tanh 1.31, sigmoid 2.45, elu 2.00. The bounds below leave a margin.
#include "../src/core/kernels.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Kernel = std::function<void(const float*, float*, std::size_t)>;
using Reference = std::function<double(double)>;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kTiny = std::numeric_limits<float>::denorm_min();

// |got - ref| in units of the float ulp at ref (denormals: the smallest denormal). Infinities
// and NaNs must match exactly (0 ulp) or the error is infinite.
double ulp_error(float got, double ref) {
  if (std::isnan(ref)) return std::isnan(got) ? 0.0 : kInf;
  const float rounded = static_cast<float>(ref);
  if (std::isinf(rounded) || std::isinf(got)) return got == rounded ? 0.0 : kInf;
  if (std::isnan(got)) return kInf;
  int e = 0;
  std::frexp(ref, &e);
  const double ulp = std::max(std::ldexp(1.0, e - 24), static_cast<double>(kTiny));
  return std::fabs(static_cast<double>(got) - ref) / ulp;
}

struct Worst {
  double ulps = 0.0;
  float at = 0.0f;
};

// Runs the kernel on `count` evenly spaced points of [lo, hi] (one call, so the tail is
// exercised too) and returns the largest error against the reference.
Worst sweep(const Kernel& kernel, const Reference& ref, float lo, float hi,
            std::size_t count = 1000000) {
  std::vector<float> x(count), y(count);
  for (std::size_t i = 0; i < count; ++i)
    x[i] = static_cast<float>(lo + (static_cast<double>(hi) - lo) * i / (count - 1));
  kernel(x.data(), y.data(), count);
  Worst w;
  for (std::size_t i = 0; i < count; ++i) {
    const double e = ulp_error(y[i], ref(x[i]));
    if (!(e <= w.ulps)) w = {e, x[i]};
  }
  return w;
}

std::string describe(const Worst& w) {
  std::ostringstream s;
  s << w.ulps << " ulp at x = " << w.at;
  return s.str();
}

const std::vector<float> kSpecials = {0.0f,   -0.0f,   kTiny,  -kTiny, 1e-30f, -1e-30f, 1e-8f,
                                      -1e-8f, 1e4f,    -1e4f,  kInf,   -kInf,  kNaN,    88.5f,
                                      -88.5f, -100.0f, 100.0f, 1.0f,   -1.0f};

// Special values: same class (NaN, inf, zero with its sign) as the reference, within `ulps`.
void expect_specials(const Kernel& kernel, const Reference& ref, double ulps) {
  std::vector<float> y(kSpecials.size());
  kernel(kSpecials.data(), y.data(), kSpecials.size());
  for (std::size_t i = 0; i < kSpecials.size(); ++i) {
    const double r = ref(kSpecials[i]);
    EXPECT_LE(ulp_error(y[i], r), ulps)
        << "x = " << kSpecials[i] << ": got " << y[i] << ", expected " << r;
    if (r == 0.0) {
      EXPECT_EQ(std::signbit(y[i]), std::signbit(r)) << "sign of the zero at x = " << kSpecials[i];
    }
  }
}

double ref_sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

const Kernel kExp = [](const float* x, float* y, std::size_t n) { tg::detail::exp(x, y, n); };
const Kernel kExpm1 = [](const float* x, float* y, std::size_t n) { tg::detail::expm1(x, y, n); };
const Kernel kTanh = [](const float* x, float* y, std::size_t n) { tg::detail::tanh(x, y, n); };
const Kernel kSigmoid = [](const float* x, float* y, std::size_t n) {
  tg::detail::sigmoid(x, y, n);
};
Kernel elu_kernel(float alpha) {
  return [alpha](const float* x, float* y, std::size_t n) { tg::detail::elu(x, y, n, alpha); };
}
Reference elu_reference(float alpha) {
  return [alpha](double x) { return x > 0.0 ? x : alpha * std::expm1(x); };
}

}  // namespace

TEST(Kernels, VectorizedExpIsWithinTwoUlpOfStdExpFromUnderflowToOverflow) {
  const Reference ref = [](double x) { return std::exp(x); };
  for (auto [lo, hi] : {std::pair{-20.0f, 20.0f},
                        {-104.0f, 89.0f},
                        {88.0f, 88.8f},
                        {-104.0f, -86.0f},
                        {-1e-3f, 1e-3f}}) {
    const Worst w = sweep(kExp, ref, lo, hi);
    EXPECT_LE(w.ulps, 2.0) << "[" << lo << ", " << hi << "]: " << describe(w);
  }
  expect_specials(kExp, ref, 2.0);
}

TEST(Kernels, VectorizedExpm1IsWithinTwoAndAHalfUlpOfStdExpm1IncludingNearZero) {
  const Reference ref = [](double x) { return std::expm1(x); };
  for (auto [lo, hi] : {std::pair{-20.0f, 20.0f},
                        {-1.0f, 1.0f},
                        {-1e-3f, 1e-3f},
                        {-104.0f, 89.0f},
                        {88.0f, 88.8f}}) {
    const Worst w = sweep(kExpm1, ref, lo, hi);
    EXPECT_LE(w.ulps, 2.5) << "[" << lo << ", " << hi << "]: " << describe(w);
  }
  expect_specials(kExpm1, ref, 2.5);
}

TEST(Kernels, VectorizedTanhIsWithinTwoUlpOfStdTanhEverywhere) {
  const Reference ref = [](double x) { return std::tanh(x); };
  for (auto [lo, hi] : {std::pair{-20.0f, 20.0f}, {-1.0f, 1.0f}, {-1e-3f, 1e-3f}, {-1e4f, 1e4f}}) {
    const Worst w = sweep(kTanh, ref, lo, hi);
    EXPECT_LE(w.ulps, 2.0) << "[" << lo << ", " << hi << "]: " << describe(w);
  }
  expect_specials(kTanh, ref, 2.0);
}

TEST(Kernels, VectorizedSigmoidIsWithinThreeUlpAndExactlyZeroAndOneInTheLimits) {
  for (auto [lo, hi] :
       {std::pair{-20.0f, 20.0f}, {-1.0f, 1.0f}, {-110.0f, 110.0f}, {-1e4f, 1e4f}}) {
    const Worst w = sweep(kSigmoid, ref_sigmoid, lo, hi);
    EXPECT_LE(w.ulps, 3.0) << "[" << lo << ", " << hi << "]: " << describe(w);
  }
  expect_specials(kSigmoid, ref_sigmoid, 3.0);
  const float x[] = {-1e4f, -kInf, -110.0f, 1e4f, kInf, 20.0f};
  float y[6];
  tg::detail::sigmoid(x, y, 6);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(y[i], 0.0f) << "x = " << x[i];
  for (int i = 3; i < 6; ++i) EXPECT_EQ(y[i], 1.0f) << "x = " << x[i];
}

TEST(Kernels, VectorizedEluIsTheIdentityAboveZeroAndWithinThreeUlpOfAlphaExpm1Below) {
  for (float alpha : {1.0f, 0.5f, 1.6732632f}) {
    for (auto [lo, hi] : {std::pair{-20.0f, 20.0f}, {-1e-3f, 1e-3f}, {-1e4f, 1e4f}}) {
      const Worst w = sweep(elu_kernel(alpha), elu_reference(alpha), lo, hi);
      EXPECT_LE(w.ulps, 3.0) << "alpha " << alpha << " [" << lo << ", " << hi
                             << "]: " << describe(w);
    }
    expect_specials(elu_kernel(alpha), elu_reference(alpha), 3.0);
  }
}

TEST(Kernels, EveryTailLengthGivesTheSameBitsAsTheFullBatchesAndWritesNothingPastTheEnd) {
  const std::vector<Kernel> kernels = {kExp, kExpm1, kTanh, kSigmoid, elu_kernel(1.0f)};
  constexpr std::size_t kLong = 256;
  std::vector<float> x(kLong);
  for (std::size_t i = 0; i < kLong; ++i) x[i] = -9.0f + 0.07f * static_cast<float>(i);
  for (const Kernel& kernel : kernels) {
    std::vector<float> full(kLong);
    kernel(x.data(), full.data(), kLong);
    for (std::size_t n : {0, 1, 15, 16, 17, 31, 33, 63, 65}) {
      for (std::size_t offset : {0, 3, 100}) {  // misaligned starts, tail from mid-array
        std::vector<float> y(n + 8, 12345.0f);
        kernel(x.data() + offset, y.data(), n);
        for (std::size_t i = 0; i < n; ++i)
          EXPECT_EQ(y[i], full[offset + i]) << "n = " << n << ", offset " << offset << ", i " << i;
        for (std::size_t i = n; i < n + 8; ++i)
          EXPECT_EQ(y[i], 12345.0f) << "wrote past the end: n = " << n << ", i " << i;
      }
    }
  }
}

TEST(Kernels, KernelsMayWriteInPlace) {
  std::vector<float> x = {-3.0f, -0.5f, 0.0f, 0.25f, 2.0f, 7.0f, -1e4f, 1e4f, 0.1f};
  std::vector<float> expected(x.size()), y = x;
  tg::detail::tanh(x.data(), expected.data(), x.size());
  tg::detail::tanh(y.data(), y.data(), y.size());
  EXPECT_EQ(y, expected);
}

TEST(Kernels, RowMaxFindsTheLargestElementForEveryLengthAndIsMinusInfinityWhenEmpty) {
  EXPECT_EQ(tg::detail::row_max(nullptr, 0), -kInf);
  for (std::size_t n : {1, 15, 16, 17, 33, 100}) {
    for (std::size_t at = 0; at < n; at += 7) {
      std::vector<float> x(n);
      for (std::size_t i = 0; i < n; ++i) x[i] = -static_cast<float>((i * 37) % 11) - 1.0f;
      x[at] = 5.0f;
      EXPECT_EQ(tg::detail::row_max(x.data(), n), 5.0f) << "n = " << n << ", at " << at;
    }
  }
  const float x[] = {-kInf, -kInf};
  EXPECT_EQ(tg::detail::row_max(x, 2), -kInf);
}

TEST(Kernels, ExpShiftedSumWritesEveryExpAndReturnsTheirSumForEveryTailLength) {
  for (std::size_t n : {0, 1, 15, 17, 33, 256, 1000}) {
    std::vector<float> x(n), y(n + 4, 7.0f);
    for (std::size_t i = 0; i < n; ++i) x[i] = std::sin(static_cast<float>(i)) * 30.0f;
    const float m = tg::detail::row_max(x.data(), n);
    const float s = tg::detail::exp_shifted_sum(x.data(), m, y.data(), n);
    double expected = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const double r = std::exp(static_cast<double>(x[i] - m));
      EXPECT_LE(ulp_error(y[i], r), 2.0) << "n = " << n << ", i " << i;
      expected += r;
    }
    EXPECT_NEAR(s, expected, 1e-6 * expected) << "n = " << n;
    for (std::size_t i = n; i < n + 4; ++i) EXPECT_EQ(y[i], 7.0f) << "wrote past the end";
  }
}

TEST(Kernels, DotAndSumMatchALongDoubleLoopForEveryTailLength) {
  for (std::size_t n : {0, 1, 7, 8, 9, 17, 33, 1000}) {
    std::vector<float> a(n), b(n);
    long double dot = 0.0L, total = 0.0L;
    for (std::size_t i = 0; i < n; ++i) {
      a[i] = std::sin(static_cast<float>(i) * 0.7f) * 3.0f;
      b[i] = std::cos(static_cast<float>(i) * 1.3f);
      dot += static_cast<long double>(a[i]) * b[i];
      total += a[i];
    }
    EXPECT_NEAR(tg::detail::dot(a.data(), b.data(), n), static_cast<double>(dot), 1e-12)
        << "n = " << n;
    EXPECT_NEAR(tg::detail::sum(a.data(), n), static_cast<double>(total), 1e-12) << "n = " << n;
  }
}
