// karpathy/micrograd's test/test_engine.py (test_sanity_check and test_more_ops), nearly line
// for line with tapegrad's operators on one-element tensors, checked against PyTorch.
//
// The expected numbers are what PyTorch (1.13, float64) gives for the same programs; this is
// the torch half of micrograd's tests, run with /usr/bin/python3 to regenerate them:
//
//   import torch
//   x = torch.tensor([-4.0], dtype=torch.float64, requires_grad=True)
//   z = 2 * x + 2 + x
//   q = z.relu() + z * x
//   h = (z * z).relu()
//   y = h + q + q * x
//   y.backward()
//   print(repr(y.item()), repr(x.grad.item()))        # -20.0 46.0
//   a = torch.tensor([-4.0], dtype=torch.float64, requires_grad=True)
//   b = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
//   c = a + b
//   d = a * b + b**3
//   c = c + c + 1
//   c = c + 1 + c + (-a)
//   d = d + d * 2 + (b + a).relu()
//   d = d + 3 * d + (b - a).relu()
//   e = c - d
//   f = e**2
//   g = f / 2.0
//   g = g + 10.0 / f
//   g.backward()
//   print(repr(g.item()), repr(a.grad.item()), repr(b.grad.item()))
//   # 24.70408163265306 138.83381924198252 645.5772594752186
//
// Tolerances. test_sanity_check only ever holds small integers, which float32 represents
// exactly, so its checks are exact (as micrograd's ==). test_more_ops divides (10 / f, and 10 / f^2
// in the gradient): each such step rounds by half an ulp (6e-8 relative) and the chain multiplies
// by exact small integers, so the float32 result is within a few ulps of the float64 one; a
// relative tolerance of 1e-5 (about 80 ulps) is what float32 justifies here, with margin.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace tg;

namespace {

// PyTorch's numbers (float64), see the snippet above.
constexpr double kSanityY = -20.0;
constexpr double kSanityXGrad = 46.0;
constexpr double kMoreOpsG = 24.70408163265306;
constexpr double kMoreOpsAGrad = 138.83381924198252;
constexpr double kMoreOpsBGrad = 645.5772594752186;
constexpr double kFloat32Relative = 1e-5;

// The one value of a one-element tensor (rank 0 or 1x1).
float only(const Tensor& t) {
  EXPECT_EQ(t.size(), 1u) << shape_str(t);
  return t.data()[0];
}

void expect_relative(double actual, double expected, double tolerance, const char* what) {
  EXPECT_LE(std::fabs(actual - expected), tolerance * std::fabs(expected))
      << what << ": tapegrad " << actual << " vs PyTorch " << expected;
}

// A leaf holding v: rank 0 (tg::scalar, as micrograd's Value) or 1x1.
using MakeLeaf = Tensor (*)(float);
Tensor rank0(float v) {
  return scalar(v);
}
Tensor one_by_one(float v) {
  return full(1, 1, v);
}

void sanity_check(MakeLeaf make) {
  Tape t;
  Var x = t.variable(make(-4.0f));
  Var z = 2.0f * x + 2.0f + x;
  Var q = relu(z) + z * x;
  Var h = relu(z * z);
  Var y = h + q + q * x;
  t.backward(y);

  // forward pass went well
  EXPECT_EQ(y.item(), static_cast<float>(kSanityY));
  // backward pass went well
  EXPECT_EQ(only(x.grad()), static_cast<float>(kSanityXGrad));
}

void more_ops(MakeLeaf make) {
  Tape t;
  Var a = t.variable(make(-4.0f));
  Var b = t.variable(make(2.0f));
  Var c = a + b;
  Var d = a * b + pow(b, 3.0f);
  c = c + (c + 1.0f);                // c += c + 1
  c = c + (1.0f + c + (-a));         // c += 1 + c + (-a)
  d = d + (d * 2.0f + relu(b + a));  // d += d * 2 + (b + a).relu()
  d = d + (3.0f * d + relu(b - a));  // d += 3 * d + (b - a).relu()
  Var e = c - d;
  Var f = pow(e, 2.0f);
  Var g = f / 2.0f;
  g = g + 10.0f / f;  // g += 10.0 / f
  t.backward(g);

  // forward pass went well
  expect_relative(g.item(), kMoreOpsG, kFloat32Relative, "g");
  // backward pass went well
  expect_relative(only(a.grad()), kMoreOpsAGrad, kFloat32Relative, "a.grad");
  expect_relative(only(b.grad()), kMoreOpsBGrad, kFloat32Relative, "b.grad");
}

}  // namespace

TEST(Micrograd, SanityCheckOnRank0ScalarsMatchesPyTorchExactly) {
  sanity_check(rank0);
}

TEST(Micrograd, SanityCheckOn1x1TensorsMatchesPyTorchExactly) {
  sanity_check(one_by_one);
}

TEST(Micrograd, MoreOpsOnRank0ScalarsMatchPyTorchWithinFloat32Rounding) {
  more_ops(rank0);
}

TEST(Micrograd, MoreOpsOn1x1TensorsMatchPyTorchWithinFloat32Rounding) {
  more_ops(one_by_one);
}

TEST(Micrograd, ResultsOfOpsOnRank0ScalarsStayRank0) {
  Tape t;
  Var x = t.variable(scalar(-4.0f));
  Var y = relu(2.0f * x + 2.0f + x) + pow(x, 2.0f) / 2.0f - 10.0f / x;
  EXPECT_EQ(y.dim(), 0u) << y.shape();
  EXPECT_FLOAT_EQ(y.item(), 0.0f + 8.0f + 2.5f);
  t.backward(y);
  EXPECT_EQ(x.grad().dimension(), 0u);
  // d/dx [relu(3x + 2) + x^2 / 2 - 10 / x] at -4: 0 + x + 10 / x^2 = -4 + 0.625
  EXPECT_FLOAT_EQ(only(x.grad()), -3.375f);
}
