// The gradient checker itself: it must pass correct backwards and catch wrong ones,
// including the vacuous case where both gradients are zero.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

using namespace tg;
using test::random_tensor;

namespace {
// A cube op with a deliberately chosen backward: the right one, zero, or off by a factor.
enum class CubeBackward { right, zero, doubled };

struct CubeState : OpState {
  CubeBackward kind = CubeBackward::right;
};

void cube_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  const CubeBackward kind = n.state_as<CubeState>().kind;
  if (!dx || kind == CubeBackward::zero) return;
  const Tensor& x = t.value_at(n.inputs[0]);
  const float factor = kind == CubeBackward::doubled ? 6.0f : 3.0f;
  *dx += factor * n.grad * x * x;
}

// Written as a user would write an op of their own: validate, record, compute, finish.
Var cube(Var x, CubeBackward kind) {
  const Tensor& xv = x.value();
  Tape& t = x.tape();
  Var out = t.record("cube", {x}, cube_backward);
  t.state<CubeState>(out).kind = kind;
  t.output(out, xv.shape()) = xv * xv * xv;
  return t.finish(out);
}
}  // namespace

TEST(Gradcheck, PassesACorrectBackward) {
  auto r =
      gradcheck([](Tape&, const std::vector<Var>& in) { return cube(in[0], CubeBackward::right); },
                {random_tensor(3, 4, 40)});
  EXPECT_TRUE(r) << r.message;
  EXPECT_LT(r.max_relative_error, 1e-2);
}

TEST(Gradcheck, FailsWhenTheBackwardIsReplacedByZeros) {
  auto r =
      gradcheck([](Tape&, const std::vector<Var>& in) { return cube(in[0], CubeBackward::zero); },
                {random_tensor(3, 4, 41)});
  EXPECT_FALSE(r);
  EXPECT_NE(r.message.find("input 0"), std::string::npos) << r.message;
}

TEST(Gradcheck, FailsWhenTheBackwardIsOffByAFactorOfTwo) {
  auto r = gradcheck(
      [](Tape&, const std::vector<Var>& in) { return cube(in[0], CubeBackward::doubled); },
      {random_tensor(3, 4, 42)});
  EXPECT_FALSE(r);
  EXPECT_NE(r.message.find("relative error"), std::string::npos) << r.message;
}

TEST(Gradcheck, FailsWhenBothGradientsAreZeroEverywhereBecauseThatProvesNothing) {
  // The output does not depend on the input at all: numeric and analytic are both 0.
  auto r = gradcheck([](Tape&, const std::vector<Var>& in) { return mul(in[0], in[1]); },
                     {random_tensor(2, 3, 43), zeros(2, 3)});
  EXPECT_FALSE(r);
  EXPECT_NE(r.message.find("input 0"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("zero gradient everywhere"), std::string::npos) << r.message;
}

TEST(Gradcheck, ChecksParametersAsWellAsDataInputs) {
  Parameter w(random_tensor(4, 2, 44), "w");
  auto r = gradcheck(
      [&](Tape& tape, const std::vector<Var>& in) { return tanh(matmul(in[0], tape.param(w))); },
      {random_tensor(3, 4, 45)}, {&w});
  EXPECT_TRUE(r) << r.message;
  EXPECT_NE(r.message.find("parameter 'w'"), std::string::npos) << r.message;
}

TEST(Gradcheck, CatchesAWrongParameterGradient) {
  Parameter w(random_tensor(3, 4, 46), "w");
  auto r = gradcheck(
      [&](Tape& tape, const std::vector<Var>& in) {
        return mul(in[0], cube(tape.param(w), CubeBackward::doubled));
      },
      {random_tensor(3, 4, 47)}, {&w});
  EXPECT_FALSE(r);
  EXPECT_NE(r.message.find("parameter 'w'"), std::string::npos) << r.message;
}
