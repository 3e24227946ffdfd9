// Elementwise arithmetic: forward values on hand-computed cases, the gradient of every input
// against central differences (equal shapes and every kind of broadcast: a trailing row, a
// column, both operands stretched, a rank-0 scalar, a per-channel operand of an NCHW batch),
// the tie and kink rules, and errors that name the op and both shapes while leaving the tape
// as it was.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

using namespace tg;
using test::error_of;
using test::expect_error;
using test::random_tensor;

using test::random_nd;

namespace {

using BinaryOp = std::function<Var(Var, Var)>;
using UnaryOp = std::function<Var(Var)>;

std::vector<float> grads(Var v) {
  return std::vector<float>(v.grad().begin(), v.grad().end());
}

// Random values in [lo, hi] of any shape (rank 0 too), reproducible; with min_magnitude > 0
// kept at least that far from 0.
// Values on a grid of step 0.2 shifted by `offset`, scrambled (element i takes grid point
// i * stride mod n), centred on 0: two tensors with offsets 0 and 0.1 are never closer than
// 0.1 anywhere, far more than gradcheck's step, so maximum/minimum never see a tie while
// differencing. (stride must share no factor with the element count.)
Tensor grid_nd(const Shape& shape, float offset, std::size_t stride = 7) {
  const std::size_t n = element_count(shape);
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = offset + 0.2f * static_cast<float>((i * stride) % n) - 0.2f * static_cast<float>(n / 2);
  if (shape.empty()) return scalar(v[0]);
  return tensor(shape, v);
}

void expect_values_near(const Tensor& y, const std::vector<float>& expected) {
  const std::vector<float> got(y.begin(), y.end());
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], expected[i], 1e-5f * std::max(1.0f, std::fabs(expected[i])))
        << "element " << i;
}
void expect_values_near(Var y, const std::vector<float>& expected) {
  expect_values_near(y.value(), expected);
}

void expect_gradients_correct(const std::function<Var(const std::vector<Var>&)>& f,
                              std::vector<Tensor> inputs) {
  auto r = gradcheck([&f](Tape&, const std::vector<Var>& in) { return f(in); }, std::move(inputs));
  EXPECT_TRUE(r) << r.message;
}

// The broadcast cases every binary op is checked on, each also with its operands swapped.
struct ShapePair {
  Shape a, b;
};
const ShapePair kBroadcastPairs[] = {
    {{2, 3, 4}, {2, 3, 4}},        // equal shapes
    {{2, 3, 4}, {4}},              // a trailing row, shared by every (i, j)
    {{2, 3, 4}, {3, 1}},           // a column stretched along the last dim and the first
    {{2, 1, 4}, {1, 3, 1}},        // both operands stretched
    {{}, {2, 3}},                  // a rank-0 scalar
    {{2, 3, 2, 2}, {1, 3, 1, 1}},  // per-channel operand of an N x C x H x W batch
};

// Checks both inputs' gradients of `op` for every pair in both orders; make(shape, seed, which)
// gives the operands (which = 0 for the first operand, 1 for the second).
void expect_broadcast_gradients_correct(
    const BinaryOp& op, const std::function<Tensor(const Shape&, std::uint64_t, int)>& make) {
  std::uint64_t seed = 1;
  for (const ShapePair& p : kBroadcastPairs)
    for (const auto& [first, second] : {std::pair(p.a, p.b), std::pair(p.b, p.a)}) {
      SCOPED_TRACE(shape_str(first) + " with " + shape_str(second));
      expect_gradients_correct([&op](const std::vector<Var>& in) { return op(in[0], in[1]); },
                               {make(first, seed, 0), make(second, seed + 1, 1)});
      seed += 2;
    }
}

Tensor anywhere(const Shape& s, std::uint64_t seed, int) {
  return random_nd(s, seed);
}
// |x| in [0.5, 2]: safe as a divisor.
Tensor away_from_zero(const Shape& s, std::uint64_t seed, int) {
  return random_nd(s, seed, -2.0f, 2.0f, 0.5f);
}

}  // namespace

// ---- forward values ----

TEST(ArithForward, AddSubMulDivOfEqualShapesAreElementwise) {
  Tape tape;
  Var a = tape.constant(tensor({{1, 2, 3}, {4, 5, 6}}));
  Var b = tape.constant(tensor({{2, 4, 8}, {-1, 0.5f, 3}}));
  expect_values_near(add(a, b), {3, 6, 11, 3, 5.5f, 9});
  expect_values_near(sub(a, b), {-1, -2, -5, 5, 4.5f, 3});
  expect_values_near(mul(a, b), {2, 8, 24, -4, 2.5f, 18});
  expect_values_near(div(a, b), {0.5f, 0.5f, 0.375f, -4, 10, 2});
  EXPECT_EQ(add(a, b).sizes(), (Shape{2, 3}));
}

TEST(ArithForward, ATrailingRowIsAddedToEveryRowOfARank3Input) {
  Tape tape;
  std::vector<float> x(24);
  for (std::size_t i = 0; i < 24; ++i) x[i] = static_cast<float>(i);
  Var y = add(tape.constant(tensor({2, 3, 4}, x)), tape.constant(tensor({4}, {0, 100, 200, 300})));
  EXPECT_EQ(y.sizes(), (Shape{2, 3, 4}));
  for (std::size_t i = 0; i < 24; ++i)
    EXPECT_FLOAT_EQ(y.value().data()[i], x[i] + 100.0f * static_cast<float>(i % 4));
}

TEST(ArithForward, AColumnIsStretchedAlongTheLastDimAndTheMissingFirstOne) {
  Tape tape;
  Var y = mul(tape.constant(ones({2, 3, 4})), tape.constant(tensor({3, 1}, {1, 2, 3})));
  EXPECT_EQ(y.sizes(), (Shape{2, 3, 4}));
  for (std::size_t i = 0; i < 24; ++i)  // y[i][j][k] = j + 1
    EXPECT_FLOAT_EQ(y.value().data()[i], static_cast<float>((i / 4) % 3 + 1));
}

TEST(ArithForward, BothOperandsStretchedGiveTheOuterShape) {
  // a[i][0][k] = 10 i + k, b[0][j][0] = 100 j: (a - b)[i][j][k] = 10 i + k - 100 j.
  Tape tape;
  Var a = tape.constant(tensor({2, 1, 4}, {0, 1, 2, 3, 10, 11, 12, 13}));
  Var b = tape.constant(tensor({1, 3, 1}, {0, 100, 200}));
  Var y = sub(a, b);
  ASSERT_EQ(y.sizes(), (Shape{2, 3, 4}));
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t k = 0; k < 4; ++k)
        EXPECT_FLOAT_EQ(y.value()(i, j, k), 10.0f * i + k - 100.0f * j) << i << j << k;
}

TEST(ArithForward, ARank0ScalarBroadcastsAgainstAMatrixOnEitherSide) {
  Tape tape;
  Var s = tape.constant(scalar(2.0f));
  Var m = tape.constant(tensor({{1, 2, 4}, {8, -2, 0.5f}}));
  expect_values_near(div(s, m), {2, 1, 0.5f, 0.25f, -1, 4});
  expect_values_near(div(m, s), {0.5f, 1, 2, 4, -1, 0.25f});
  EXPECT_EQ(div(s, m).sizes(), (Shape{2, 3}));
  EXPECT_EQ(add(s, s).dim(), 0u);  // two scalars stay rank 0
}

TEST(ArithForward, APerChannelOperandScalesEachChannelOfAnNchwBatch) {
  Tape tape;
  Var y = mul(tape.constant(ones({2, 3, 2, 2})), tape.constant(tensor({1, 3, 1, 1}, {1, 2, 3})));
  ASSERT_EQ(y.sizes(), (Shape{2, 3, 2, 2}));
  for (std::size_t i = 0; i < 24; ++i)
    EXPECT_FLOAT_EQ(y.value().data()[i], static_cast<float>((i / 4) % 3 + 1));
}

TEST(ArithForward, PowMaximumAndMinimumOfTwoVars) {
  Tape tape;
  Var a = tape.constant(tensor({{2, 9, 4, -3}}));
  Var b = tape.constant(tensor({{3, 0.5f, -1, 2}}));
  expect_values_near(pow(a, b), {8, 3, 0.25f, 9});
  expect_values_near(maximum(a, b), {3, 9, 4, 2});
  expect_values_near(minimum(a, b), {2, 0.5f, -1, -3});
  expect_values_near(pow(2.0f, b), {8, std::sqrt(2.0f), 0.5f, 4});
}

TEST(ArithForward, OneInputOpsGiveHandComputedValues) {
  Tape tape;
  Var x = tape.constant(tensor({{4, 0.25f, 1, 9}}));
  Var s = tape.constant(tensor({{-2, 0, 0.5f, 3}}));
  expect_values_near(neg(s), {2, 0, -0.5f, -3});
  expect_values_near(scale(s, 3), {-6, 0, 1.5f, 9});
  expect_values_near(add_scalar(s, 1.5f), {-0.5f, 1.5f, 2, 4.5f});
  expect_values_near(pow(s, 2.0f), {4, 0, 0.25f, 9});
  expect_values_near(pow(s, 3.0f), {-8, 0, 0.125f, 27});
  expect_values_near(pow(x, 0.5f), {2, 0.5f, 1, 3});
  expect_values_near(pow(x, -1.0f), {0.25f, 4, 1, 1.0f / 9});
  expect_values_near(sqrt(x), {2, 0.5f, 1, 3});
  expect_values_near(abs(s), {2, 0, 0.5f, 3});
  expect_values_near(square(s), {4, 0, 0.25f, 9});
  expect_values_near(exp(s), {0.13533528f, 1, 1.6487213f, 20.085537f});
  expect_values_near(log(x), {1.3862944f, -1.3862944f, 0, 2.1972246f});
  expect_values_near(log1p(x), {1.6094379f, 0.22314355f, 0.6931472f, 2.3025851f});
  expect_values_near(clamp(s, -1, 1), {-1, 0, 0.5f, 1});
  expect_values_near(clamp_min(s, 0.25f), {0.25f, 0.25f, 0.5f, 3});
  expect_values_near(clamp_max(s, 0.25f), {-2, 0, 0.25f, 0.25f});
}

TEST(ArithForward, WhereTakesAWhereTheMaskIsNonzeroAndBElsewhereAllThreeBroadcast) {
  // mask (3) picks columns 0 and 2 from a (2x1, one value per row), column 1 from b (2x3).
  Tape tape;
  const Tensor mask = tensor({3}, {1, 0, -2});
  Var a = tape.constant(tensor({{10}, {20}}));
  Var b = tape.constant(tensor({{1, 2, 3}, {4, 5, 6}}));
  Var y = tg::where(mask, a, b);
  EXPECT_EQ(y.sizes(), (Shape{2, 3}));
  expect_values_near(y, {10, 2, 10, 20, 5, 20});
}

TEST(ArithForward, EveryOperatorFormGivesHandComputedValues) {
  Tape tape;
  Var a = tape.constant(tensor({{-2, 0.5f, 4}}));
  Var b = tape.constant(tensor({{1, 2, -8}}));
  expect_values_near(a + b, {-1, 2.5f, -4});
  expect_values_near(a - b, {-3, -1.5f, 12});
  expect_values_near(a * b, {-2, 1, -32});
  expect_values_near(a / b, {-2, 0.25f, -0.5f});
  expect_values_near(-a, {2, -0.5f, -4});
  expect_values_near(a + 1.5f, {-0.5f, 2, 5.5f});
  expect_values_near(1.5f + a, {-0.5f, 2, 5.5f});
  expect_values_near(a - 1.5f, {-3.5f, -1, 2.5f});
  expect_values_near(1.5f - a, {3.5f, 1, -2.5f});
  expect_values_near(a * 3.0f, {-6, 1.5f, 12});
  expect_values_near(3.0f * a, {-6, 1.5f, 12});
  expect_values_near(a / 4.0f, {-0.5f, 0.125f, 1});
  expect_values_near(4.0f / a, {-2, 8, 1});
}

TEST(ArithForward, BroadcastShapesGivesTheResultShapeOrNamesTheCaller) {
  EXPECT_EQ(broadcast_shapes({2, 1, 4}, {3, 1}, "test"), (Shape{2, 3, 4}));
  EXPECT_EQ(broadcast_shapes({}, {2, 3}, "test"), (Shape{2, 3}));
  expect_error([] { broadcast_shapes({2, 3}, {4}, "my_op"); }, {"my_op", "2x3", "4"});
}

// ---- gradients of every input, every broadcast case ----

TEST(ArithGradient, AddOfEveryBroadcastPairMatchesCentralDifferences) {
  expect_broadcast_gradients_correct([](Var a, Var b) { return add(a, b); }, anywhere);
}

TEST(ArithGradient, SubOfEveryBroadcastPairMatchesCentralDifferences) {
  expect_broadcast_gradients_correct([](Var a, Var b) { return sub(a, b); }, anywhere);
}

TEST(ArithGradient, MulOfEveryBroadcastPairMatchesCentralDifferences) {
  expect_broadcast_gradients_correct([](Var a, Var b) { return mul(a, b); }, anywhere);
}

TEST(ArithGradient, DivOfEveryBroadcastPairMatchesCentralDifferences) {
  expect_broadcast_gradients_correct([](Var a, Var b) { return div(a, b); }, away_from_zero);
}

TEST(ArithGradient, PowOfTwoVarsOfEveryBroadcastPairMatchesCentralDifferences) {
  // A positive base: x^y log x is the exponent's gradient.
  expect_broadcast_gradients_correct([](Var a, Var b) { return pow(a, b); },
                                     [](const Shape& s, std::uint64_t seed, int which) {
                                       return which == 0 ? random_nd(s, seed, 0.5f, 2.0f)
                                                         : random_nd(s, seed, -2.0f, 2.0f);
                                     });
}

TEST(ArithGradient, MaximumAndMinimumOfEveryBroadcastPairMatchCentralDifferencesAwayFromTies) {
  // Two scramblings, so that with equal shapes each operand wins somewhere.
  auto grids = [](const Shape& s, std::uint64_t, int which) {
    return which == 0 ? grid_nd(s, 0.0f, 7) : grid_nd(s, 0.1f, 11);
  };
  expect_broadcast_gradients_correct([](Var a, Var b) { return maximum(a, b); }, grids);
  expect_broadcast_gradients_correct([](Var a, Var b) { return minimum(a, b); }, grids);
}

TEST(ArithGradient, OperatorsBetweenTwoVarsOfEveryBroadcastPairMatchCentralDifferences) {
  expect_broadcast_gradients_correct([](Var a, Var b) { return a + b; }, anywhere);
  expect_broadcast_gradients_correct([](Var a, Var b) { return a - b; }, anywhere);
  expect_broadcast_gradients_correct([](Var a, Var b) { return a * b; }, anywhere);
  expect_broadcast_gradients_correct([](Var a, Var b) { return a / b; }, away_from_zero);
}

TEST(ArithGradient, WhereSendsEachBroadcastOperandTheGradientOfThePositionsItWasChosenFor) {
  // mask 2x1x4 against a 1x3x1 and b 2x3x4: all three stretched differently.
  const Tensor mask = tensor({2, 1, 4}, {1, 0, 0, 1, 0, 1, 1, 0});
  expect_gradients_correct(
      [&mask](const std::vector<Var>& in) { return tg::where(mask, in[0], in[1]); },
      {random_nd({1, 3, 1}, 1), random_nd({2, 3, 4}, 2)});
  // a scalar against a per-channel b of an NCHW batch mask
  const Tensor nchw_mask = grid_nd({2, 3, 2, 2}, 0.1f);  // about half the elements positive
  Tensor positive_mask = nchw_mask;
  for (float& m : positive_mask) m = m > 0.0f ? 1.0f : 0.0f;
  expect_gradients_correct(
      [&positive_mask](const std::vector<Var>& in) {
        return tg::where(positive_mask, in[0], in[1]);
      },
      {scalar(0.7f), random_nd({1, 3, 1, 1}, 3)});
  // Exactly: a's gradient is the number of positions the mask chose it for.
  Tape tape;
  Var a = tape.variable(tensor({1, 3, 1}, {1, 2, 3}));
  Var b = tape.variable(random_nd({2, 3, 4}, 2));
  tape.backward(sum(tg::where(mask, a, b)));
  EXPECT_EQ(grads(a), (std::vector<float>{4, 4, 4}));  // 4 true mask entries per j
  for (std::size_t i = 0; i < 24; ++i)
    EXPECT_EQ(b.grad().data()[i], mask.data()[(i / 12) * 4 + i % 4] != 0.0f ? 0.0f : 1.0f);
}

TEST(ArithGradient, OneInputOpsMatchCentralDifferencesOnARank3Input) {
  struct Case {
    const char* name;
    UnaryOp op;
    Tensor x;
  };
  const Shape s{2, 3, 4};
  const Tensor any = random_nd(s, 21);
  const Tensor positive = random_nd(s, 22, 0.3f, 3.0f);
  const Tensor no_zero_no_0_6 = grid_nd(s, 0.1f);  // odd tenths: never 0, never +-0.6
  const Case cases[] = {
      {"neg", [](Var x) { return neg(x); }, any},
      {"scale", [](Var x) { return scale(x, -1.5f); }, any},
      {"add_scalar", [](Var x) { return add_scalar(x, 0.7f); }, any},
      {"pow 2", [](Var x) { return pow(x, 2.0f); }, any},
      {"pow 3", [](Var x) { return pow(x, 3.0f); }, any},
      {"pow 0.5", [](Var x) { return pow(x, 0.5f); }, positive},
      {"pow -1.5", [](Var x) { return pow(x, -1.5f); }, positive},
      {"pow(2.5, x)", [](Var x) { return pow(2.5f, x); }, any},
      {"pow(0.4, x)", [](Var x) { return pow(0.4f, x); }, any},
      {"sqrt", [](Var x) { return sqrt(x); }, positive},
      {"abs", [](Var x) { return abs(x); }, no_zero_no_0_6},
      {"square", [](Var x) { return square(x); }, any},
      {"exp", [](Var x) { return exp(x); }, any},
      {"log", [](Var x) { return log(x); }, positive},
      {"log1p", [](Var x) { return log1p(x); }, random_nd(s, 23, -0.7f, 2.0f)},
      {"clamp", [](Var x) { return clamp(x, -0.6f, 0.6f); }, no_zero_no_0_6},
      {"clamp_min", [](Var x) { return clamp_min(x, -0.6f); }, no_zero_no_0_6},
      {"clamp_max", [](Var x) { return clamp_max(x, 0.6f); }, no_zero_no_0_6},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    expect_gradients_correct([&c](const std::vector<Var>& in) { return c.op(in[0]); }, {c.x});
  }
}

TEST(ArithGradient, OneInputOpsOnARank0ScalarAndARank4InputMatchCentralDifferences) {
  for (const Tensor& x : {scalar(0.8f), random_nd({2, 3, 2, 2}, 24, 0.3f, 2.0f)}) {
    SCOPED_TRACE(shape_str(x));
    expect_gradients_correct(
        [](const std::vector<Var>& in) {
          return add(add(sqrt(in[0]), log(in[0])), mul(exp(in[0]), pow(in[0], 1.5f)));
        },
        {x});
  }
}

TEST(ArithGradient, OperatorsWithAFloatAndUnaryMinusMatchCentralDifferencesAndExactValues) {
  struct Case {
    const char* name;
    UnaryOp op;
    float (*derivative)(float);
  };
  const Case cases[] = {
      {"x + 1.5", [](Var x) { return x + 1.5f; }, [](float) { return 1.0f; }},
      {"1.5 + x", [](Var x) { return 1.5f + x; }, [](float) { return 1.0f; }},
      {"x - 1.5", [](Var x) { return x - 1.5f; }, [](float) { return 1.0f; }},
      {"1.5 - x", [](Var x) { return 1.5f - x; }, [](float) { return -1.0f; }},
      {"x * -2.5", [](Var x) { return x * -2.5f; }, [](float) { return -2.5f; }},
      {"-2.5 * x", [](Var x) { return -2.5f * x; }, [](float) { return -2.5f; }},
      {"x / 4", [](Var x) { return x / 4.0f; }, [](float) { return 0.25f; }},
      {"4 / x", [](Var x) { return 4.0f / x; }, [](float v) { return -4.0f / (v * v); }},
      {"-x", [](Var x) { return -x; }, [](float) { return -1.0f; }},
  };
  const Tensor x = random_nd({2, 3, 4}, 25, -2.0f, 2.0f, 0.5f);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    expect_gradients_correct([&c](const std::vector<Var>& in) { return c.op(in[0]); }, {x});
    Tape tape;
    Var v = tape.variable(x);
    tape.backward(sum(c.op(v)));
    for (std::size_t i = 0; i < x.size(); ++i)
      EXPECT_NEAR(v.grad().data()[i], c.derivative(x.data()[i]),
                  1e-6f * std::max(1.0f, std::fabs(c.derivative(x.data()[i]))));
  }
}

TEST(ArithGradient, OfBinaryOpsAreTheHandDerivedOnesForEqualShapes) {
  Tape tape;
  Var a = tape.variable(tensor({{2, -1, 4}}));
  Var b = tape.variable(tensor({{4, 2, -0.5f}}));
  tape.backward(sum(add(add(mul(a, b), div(a, b)), sub(a, b))));
  // d/da = b + 1/b + 1; d/db = a - a/b^2 - 1
  expect_values_near(a.grad(), {5.25f, 3.5f, -1.5f});
  expect_values_near(b.grad(), {0.875f, -1.75f, -13});
}

TEST(ArithGradient, APerChannelOperandReceivesTheGradientSummedOverNHAndW) {
  Tape tape;
  Var x = tape.variable(random_nd({2, 3, 2, 2}, 26));
  Var c = tape.variable(tensor({1, 3, 1, 1}, {1, 2, 3}));
  tape.backward(sum(add(x, c)));
  EXPECT_EQ(grads(c), (std::vector<float>{8, 8, 8}));  // N * H * W = 2 * 2 * 2
  for (float g : x.grad()) EXPECT_EQ(g, 1.0f);
}

TEST(ArithGradient, XTimesTheSameXGetsTwoX) {
  Tape tape;
  const Tensor values = tensor({{-1.5f, 0, 2, 3}});
  Var x = tape.variable(values);
  tape.backward(sum(x * x));
  EXPECT_EQ(grads(x), (std::vector<float>{-3, 0, 4, 6}));
  expect_gradients_correct([](const std::vector<Var>& in) { return mul(in[0], in[0]); },
                           {random_nd({2, 3, 4}, 27)});
}

// ---- ties, kinks and edges: the rules PyTorch uses ----

TEST(ArithTies, MaximumAndMinimumSplitTheGradientHalfAndHalfOnATie) {
  Tape tape;
  Var a = tape.variable(tensor({{1, 2, 3, -1}}));
  Var b = tape.variable(tensor({{1, 0, 3, 5}}));
  tape.backward(sum(add(maximum(a, b), scale(minimum(a, b), 10))));
  // max: a wins at 1, b at 3, ties at 0 and 2; min: the other way round, times 10.
  EXPECT_EQ(grads(a), (std::vector<float>{5.5f, 1, 5.5f, 10}));
  EXPECT_EQ(grads(b), (std::vector<float>{5.5f, 10, 5.5f, 1}));
}

TEST(ArithTies, AScalarTyingWithSomeElementsGetsHalfOfEachTieAndAllOfEachWin) {
  Tape tape;
  Var m = tape.variable(tensor({{1, 2, 3}, {2, 0, 2}}));
  Var s = tape.variable(scalar(2.0f));
  tape.backward(sum(maximum(m, s)));
  EXPECT_EQ(grads(m), (std::vector<float>{0, 0.5f, 1, 0.5f, 0, 0.5f}));
  EXPECT_FLOAT_EQ(s.grad().data()[0], 1 + 0.5f + 0.5f + 1 + 0.5f);
}

TEST(ArithTies, MaximumOfAVarWithItselfPassesTheWholeGradient) {
  Tape tape;
  Var x = tape.variable(tensor({{-1, 0, 2}}));
  tape.backward(sum(minimum(maximum(x, x), x)));
  EXPECT_EQ(grads(x), (std::vector<float>{1, 1, 1}));
}

TEST(ArithTies, AbsHasGradientZeroAtZero) {
  Tape tape;
  Var x = tape.variable(tensor({{-1.5f, 0, 2}}));
  tape.backward(sum(abs(x)));
  EXPECT_EQ(grads(x), (std::vector<float>{-1, 0, 1}));
}

TEST(ArithTies, ClampPassesTheGradientOnItsBoundsToo) {
  Tape tape;
  Var x = tape.variable(tensor({{-1, -0.5f, 0, 0.5f, 1}}));
  tape.backward(sum(clamp(x, -0.5f, 0.5f)));
  EXPECT_EQ(grads(x), (std::vector<float>{0, 1, 1, 1, 0}));
}

TEST(ArithTies, PowWithExponentZeroHasGradientZeroEvenAtZero) {
  // x^0 = 1 is constant: PyTorch gives 0 there, not 0 * 0^-1 = NaN.
  Tape tape;
  Var x = tape.variable(tensor({{0, 2}}));
  Var e = tape.variable(tensor({{0, 0}}));
  tape.backward(sum(add(pow(x, 0.0f), pow(x, e))));
  EXPECT_EQ(grads(x), (std::vector<float>{0, 0}));
}

TEST(ArithTies, PowOfAZeroBaseGivesAPositiveExponentGradientZero) {
  // d(x^y)/dy = x^y log x, which is 0 * -inf at x = 0: taken as 0, as PyTorch.
  Tape tape;
  Var x = tape.variable(tensor({{0, 2}}));
  Var e = tape.variable(tensor({{2, 3}}));
  tape.backward(sum(pow(x, e)));
  EXPECT_EQ(grads(x), (std::vector<float>{0, 12}));
  EXPECT_FLOAT_EQ(e.grad().data()[0], 0.0f);
  EXPECT_FLOAT_EQ(e.grad().data()[1], 8.0f * std::log(2.0f));
}

// ---- errors ----

TEST(ArithErrors, ShapesThatDoNotBroadcastNameTheOpAndBothShapesOnOneLineAndLeaveTheTape) {
  const std::pair<const char*, BinaryOp> ops[] = {
      {"add", [](Var a, Var b) { return add(a, b); }},
      {"sub", [](Var a, Var b) { return sub(a, b); }},
      {"mul", [](Var a, Var b) { return mul(a, b); }},
      {"div", [](Var a, Var b) { return div(a, b); }},
      {"pow", [](Var a, Var b) { return pow(a, b); }},
      {"maximum", [](Var a, Var b) { return maximum(a, b); }},
      {"minimum", [](Var a, Var b) { return minimum(a, b); }},
      {"add", [](Var a, Var b) { return a + b; }},
      {"sub", [](Var a, Var b) { return a - b; }},
      {"mul", [](Var a, Var b) { return a * b; }},
      {"div", [](Var a, Var b) { return a / b; }},
  };
  for (const auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    Tape tape;
    Var a = tape.variable(ones({2, 3, 4}));
    Var b = tape.variable(ones({3, 2}));
    const std::size_t before = tape.size();
    const std::string msg = error_of([&] { op(a, b); });
    EXPECT_EQ(msg.rfind(std::string(name) + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find("2x3x4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("3x2"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(tape.size(), before);
    // The tape is still usable.
    tape.backward(sum(add(a, a)));
    for (float g : a.grad()) EXPECT_EQ(g, 2.0f);
  }
}

TEST(ArithErrors, WhereNamesTheMaskShapeWhenItDoesNotBroadcast) {
  Tape tape;
  Var a = tape.variable(ones({2, 3}));
  Var b = tape.variable(ones({3}));
  const std::size_t before = tape.size();
  const std::string msg = error_of([&] { tg::where(ones({2, 4}), a, b); });
  EXPECT_EQ(msg.rfind("where: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("2x4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2x3"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(tape.size(), before);
  expect_error(
      [&] {
        tg::where(ones({3}), a, tape.variable(ones({2, 2})));
      },
      {"where", "2x3", "2x2"});
}

TEST(ArithErrors, ClampWithLoAboveHiThrowsAndRecordsNothing) {
  Tape tape;
  Var x = tape.variable(ones({2, 3}));
  const std::size_t before = tape.size();
  expect_error([&] { clamp(x, 1.0f, -1.0f); }, {"clamp", "lo", "hi"});
  expect_error([&] { clamp(x, std::numeric_limits<float>::quiet_NaN(), 1.0f); }, {"clamp"});
  EXPECT_EQ(tape.size(), before);
  // lo == hi is allowed: every value becomes lo.
  expect_values_near(clamp(x, 0.5f, 0.5f), {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f});
}

TEST(ArithTies, MaximumMinimumAndClampPropagateANanFromEitherSideAsTorch) {
  // torch.maximum/minimum return the NaN whichever operand holds it; so does torch.clamp.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tape tape;
  Var a = tape.constant(tensor({{nan, 1}}));
  Var b = tape.constant(tensor({{1, nan}}));
  const std::pair<const char*, Var> outputs[] = {{"maximum(a, b)", maximum(a, b)},
                                                 {"minimum(a, b)", minimum(a, b)},
                                                 {"maximum(b, a)", maximum(b, a)},
                                                 {"minimum(b, a)", minimum(b, a)}};
  for (const auto& [name, y] : outputs)
    for (std::size_t i = 0; i < 2; ++i)
      EXPECT_TRUE(std::isnan(y.value().data()[i]))
          << name << " element " << i << " is " << y.value().data()[i];
  EXPECT_TRUE(std::isnan(clamp(a, -1.0f, 1.0f).value().data()[0]));
}
