// max_pool2d's 2x2 stride-2 fast path against its generic path (and a plain reference written
// here from torch's rule), bit for bit: values, the argmax on ties, NaN and -inf, odd sizes and
// the gradient added onto an existing one.
#include "tapegrad/tapegrad.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

// Defined in src/ops/conv.cpp: max_pool2d with its fast paths off.
namespace tg::detail {
Var max_pool2d_generic(Var input, Size2 kernel_size, Size2 stride, Size2 padding);
}

using namespace tg;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

float nan_with_payload(std::uint32_t payload) {
  const std::uint32_t bits = 0x7fc00000u | (payload & 0x3fffffu);
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

std::uint32_t bits_of(float v) {
  std::uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// Small integers (many ties), signed zeros, -inf, +inf and NaNs of distinct payloads (so that
// which NaN wins shows in the bits).
Tensor awkward_values(const Shape& shape, std::uint64_t seed) {
  Rng rng(seed);
  Tensor t = zeros(shape);
  std::uint32_t payload = 1;
  for (float& v : t) {
    const std::uint64_t kind = rng.below(20);
    if (kind == 0)
      v = nan_with_payload(payload++);
    else if (kind == 1 || kind == 2)
      v = -kInf;
    else if (kind == 3)
      v = kInf;
    else if (kind == 4)
      v = -0.0f;
    else
      v = static_cast<float>(static_cast<int>(rng.below(5)) - 2);
  }
  return t;
}

// Random values with signed zeros among them (a select must keep -0, an add of 0 would not).
Tensor gradient_values(const Shape& shape, std::uint64_t seed) {
  Rng rng(seed);
  Tensor t = zeros(shape);
  for (float& v : t) v = rng.below(4) == 0 ? -0.0f : rng.uniform(-1.0f, 1.0f);
  return t;
}

// torch's rule, one window at a time: -inf at the window's first cell, then a larger value or
// a NaN is taken, in row-major order. Returns the values; adds dy onto dx at each argmax.
std::vector<float> reference(const Tensor& x, const Tensor& dy, std::vector<float>& dx) {
  const std::size_t planes = x.shape(0) * x.shape(1), h = x.shape(2), w = x.shape(3);
  const std::size_t oh = h / 2, ow = w / 2;
  std::vector<float> y(planes * oh * ow);
  for (std::size_t p = 0; p < planes; ++p)
    for (std::size_t i = 0; i < oh; ++i)
      for (std::size_t j = 0; j < ow; ++j) {
        float best = -kInf;
        std::size_t at = p * h * w + 2 * i * w + 2 * j;
        for (std::size_t di = 0; di < 2; ++di)
          for (std::size_t dj = 0; dj < 2; ++dj) {
            const std::size_t k = p * h * w + (2 * i + di) * w + 2 * j + dj;
            const float v = x.data()[k];
            if (v > best || std::isnan(v)) {
              best = v;
              at = k;
            }
          }
        const std::size_t o = (p * oh + i) * ow + j;
        y[o] = best;
        dx[at] += 0.0f + dy.data()[o];  // the tape adds the seed onto a +0 gradient
      }
  return y;
}

void expect_same_bits(const float* a, const float* b, std::size_t n, const std::string& what) {
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < n && mismatches < 5; ++i)
    if (bits_of(a[i]) != bits_of(b[i])) {
      ++mismatches;
      ADD_FAILURE() << what << ": element " << i << " is " << a[i] << " (0x" << std::hex
                    << bits_of(a[i]) << ") but should be " << b[i] << " (0x" << bits_of(b[i])
                    << std::dec << ")";
    }
}

struct PoolRun {
  Tensor y, dx;
};

// One forward + backward through `pool`, the input's gradient starting from `grad0`.
template <typename Pool>
PoolRun run(Pool pool, const Tensor& x, const Tensor& grad0, const Tensor& dy) {
  Parameter p(x);
  p.grad = grad0;
  Tape tape;
  Var y = pool(tape.param(p));
  PoolRun r{y.value(), Tensor()};
  tape.backward(y, dy);
  r.dx = p.grad;
  return r;
}

TEST(MaxPoolFastPath, MatchesTheGenericPathBitForBitOnTiesNanInfAndOddSizes) {
  // Widths give 1 to 13 outputs per row (blocks of 8 and 4, overlapping tails, the scalar
  // remainder), odd H and W leave a row and a column unread.
  const std::size_t sizes[][2] = {{2, 2},   {3, 3},   {2, 7},   {5, 8},   {4, 9},    {7, 15},
                                  {24, 24}, {25, 25}, {6, 16},  {9, 17},  {8, 23},   {11, 26},
                                  {2, 13},  {3, 12},  {16, 11}, {10, 10}, {1 + 2, 2}};
  std::uint64_t seed = 1;
  for (const auto& hw : sizes) {
    const Shape shape{2, 3, hw[0], hw[1]}, out_shape{2, 3, hw[0] / 2, hw[1] / 2};
    const Tensor x = awkward_values(shape, seed++);
    const Tensor grad0 = gradient_values(shape, seed++);
    const Tensor dy = gradient_values(out_shape, seed++);
    const std::string at = "H x W = " + std::to_string(hw[0]) + " x " + std::to_string(hw[1]);
    const PoolRun fast = run([](Var v) { return max_pool2d(v, 2); }, x, grad0, dy);
    const PoolRun generic =
        run([](Var v) { return detail::max_pool2d_generic(v, 2, 2, 0); }, x, grad0, dy);
    ASSERT_EQ(shape_of(fast.y), shape_of(generic.y)) << at;
    ASSERT_EQ(shape_of(fast.y), out_shape) << at;
    expect_same_bits(fast.y.data(), generic.y.data(), fast.y.size(), "values, " + at);
    expect_same_bits(fast.dx.data(), generic.dx.data(), fast.dx.size(), "gradient, " + at);

    std::vector<float> dx(grad0.begin(), grad0.end());
    const std::vector<float> y = reference(x, dy, dx);
    expect_same_bits(fast.y.data(), y.data(), y.size(), "values against the reference, " + at);
    expect_same_bits(fast.dx.data(), dx.data(), dx.size(), "gradient against the reference, " + at);
  }
}

TEST(MaxPoolFastPath, TakesTheFirstMaximumTheLastNanAndTheFirstCellOfAnAllMinusInfWindow) {
  const float nan1 = nan_with_payload(1), nan2 = nan_with_payload(2);
  // Four windows of a 1 x 1 x 2 x 8 input: a tie (1 at its cells 1 and 2), two NaNs, all
  // -inf, and -0 before +0 (equal: -0 stays).
  const Tensor x = tensor({1, 1, 2, 8}, {0, 1, nan1, -kInf, -kInf, -kInf, -0.0f, -1,  //
                                         1, 0, 2, nan2, -kInf, -kInf, 0.0f, -2});
  const Tensor dy = tensor({1, 1, 1, 4}, {10, 20, 30, 40});
  const PoolRun r = run([](Var v) { return max_pool2d(v, 2); }, x, zeros(Shape{1, 1, 2, 8}), dy);
  const std::vector<float> want_y = {1, nan2, -kInf, -0.0f};
  expect_same_bits(r.y.data(), want_y.data(), want_y.size(), "values");
  const std::vector<float> want_dx = {0, 10, 0, 0,  30, 0, 40, 0,  //
                                      0, 0,  0, 20, 0,  0, 0,  0};
  expect_same_bits(r.dx.data(), want_dx.data(), want_dx.size(), "gradient");
}

}  // namespace
