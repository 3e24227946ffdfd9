// Reductions: forward values on hand-computed cases (rank 2 to 4, negative dims, keepdim),
// gradients against central differences, and errors that name the op, the dim and the shape
// while leaving the tape as it was.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

using namespace tg;
using test::expect_error;
using test::random_tensor;

using test::expect_rejected;
using test::iota;
using test::random_nd;

namespace {

// Distinct values at least 0.3 apart in a scrambled order, so a max or min is never within a
// central-difference step of a tie. (7 must not divide the element count.)
Tensor distinct_nd(const Shape& shape) {
  const std::size_t n = element_count(shape);
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = 0.3f * static_cast<float>((i * 7) % n) - 0.15f * static_cast<float>(n);
  return tensor(shape, v);
}

std::vector<float> values(Var v) {
  return std::vector<float>(v.value().begin(), v.value().end());
}

// sum(w * y) for a fixed random w of y's shape: one number that every element of y feeds,
// so the check covers outputs of any rank.
Var project(Var y) {
  return sum(mul(y, y.tape().constant(random_nd(y.sizes(), 77, -1.0f, 1.0f))));
}

void expect_gradient_correct(const std::function<Var(Var)>& f, const Tensor& x) {
  auto r = gradcheck([&f](Tape&, const std::vector<Var>& in) { return project(f(in[0])); }, {x});
  EXPECT_TRUE(r) << r.message;
}

const Shape k234{2, 3, 4};

}  // namespace

// ---- sum / mean ----

TEST(ReduceSum, OfEverythingIsOneByOne) {
  Tape tape;
  Var y = sum(tape.constant(iota(k234)));
  EXPECT_EQ(y.sizes(), (Shape{1, 1}));
  EXPECT_FLOAT_EQ(y.item(), 276.0f);
}

TEST(ReduceSum, AccumulatesInDoubleSoSmallTermsNextToALargeOneAreKept) {
  // In a float running sum each +1 after 2^24 rounds away.
  Tape tape;
  Var y = sum(tape.constant(tensor({{16777216.0f, 1, 1, 1, 1}})));
  EXPECT_FLOAT_EQ(y.item(), 16777220.0f);
}

TEST(ReduceSum, OverOneMiddleDimOfARank3Input) {
  Tape tape;
  Var y = sum(tape.constant(iota(k234)), {1});
  EXPECT_EQ(y.sizes(), (Shape{2, 4}));
  // sum_j (12i + 4j + k) = 36i + 12 + 3k
  EXPECT_EQ(values(y), (std::vector<float>{12, 15, 18, 21, 48, 51, 54, 57}));
}

TEST(ReduceSum, OverTheLastDimCountedFromTheEndWithKeepdim) {
  Tape tape;
  Var y = sum(tape.constant(iota(k234)), {-1}, true);
  EXPECT_EQ(y.sizes(), (Shape{2, 3, 1}));
  EXPECT_EQ(values(y), (std::vector<float>{6, 22, 38, 54, 70, 86}));
}

TEST(ReduceSum, OverTwoDimsThatAreNotNeighbours) {
  Tape tape;
  Var y = sum(tape.constant(iota(k234)), {0, 2});
  EXPECT_EQ(y.sizes(), (Shape{3}));
  EXPECT_EQ(values(y), (std::vector<float>{60, 92, 124}));
}

TEST(ReduceSum, AnEmptyDimsListReducesEveryDimAsTorchDoes) {
  Tape tape;
  Var x = tape.constant(iota(k234));
  Var all = sum(x, {});
  EXPECT_EQ(all.dim(), 0u);
  EXPECT_FLOAT_EQ(all.item(), 276.0f);
  Var kept = sum(x, {}, true);
  EXPECT_EQ(kept.sizes(), (Shape{1, 1, 1}));
  EXPECT_FLOAT_EQ(kept.item(), 276.0f);
}

TEST(ReduceSum, OfARank4InputOverTheLeadingDims) {
  Tape tape;
  Var y = sum(tape.constant(iota({2, 2, 2, 3})), {0, 1});
  EXPECT_EQ(y.sizes(), (Shape{2, 3}));
  // element (k, l) = sum_{i,j} (12i + 6j + 3k + l) = 36 + 12k + 4l
  EXPECT_EQ(values(y), (std::vector<float>{36, 40, 44, 48, 52, 56}));
}

TEST(ReduceSum, OfAnEmptyTensorIsZero) {
  Tape tape;
  EXPECT_FLOAT_EQ(sum(tape.constant(zeros({0, 3}))).item(), 0.0f);
  Var cols = sum(tape.constant(zeros({0, 3})), {0});
  EXPECT_EQ(values(cols), (std::vector<float>{0, 0, 0}));
}

TEST(ReduceSum, GradientsMatchCentralDifferences) {
  auto full =
      gradcheck([](Tape&, const std::vector<Var>& in) { return sum(in[0]); }, {random_nd(k234, 1)});
  EXPECT_TRUE(full) << full.message;
  const Tensor x = random_nd(k234, 2);
  expect_gradient_correct([](Var v) { return sum(v, {1}); }, x);
  expect_gradient_correct([](Var v) { return sum(v, {-1}, true); }, x);
  expect_gradient_correct([](Var v) { return sum(v, {0, 2}); }, x);
  expect_gradient_correct([](Var v) { return sum(v, {2, 0}, true); }, x);
  expect_gradient_correct([](Var v) { return sum(v, {}); }, x);
  expect_gradient_correct([](Var v) { return sum(v, {1, 3}); }, random_nd({2, 3, 2, 2}, 3));
}

TEST(ReduceSum, BackwardSendsTheOutputGradientToEveryFoldedElement) {
  Tape tape;
  Var x = tape.variable(iota({2, 3}));
  Var y = sum(x, {0});
  tape.backward(y, tensor({3}, {10, 20, 30}));
  EXPECT_EQ(std::vector<float>(x.grad().begin(), x.grad().end()),
            (std::vector<float>{10, 20, 30, 10, 20, 30}));
}

TEST(ReduceMean, OfEverythingAndOverDims) {
  Tape tape;
  Var x = tape.constant(iota(k234));
  EXPECT_FLOAT_EQ(mean(x).item(), 11.5f);
  EXPECT_EQ(mean(x).sizes(), (Shape{1, 1}));
  Var y = mean(x, {0, -1}, true);
  EXPECT_EQ(y.sizes(), (Shape{1, 3, 1}));
  EXPECT_EQ(values(y), (std::vector<float>{7.5f, 11.5f, 15.5f}));
  Var z = mean(x, {}, false);
  EXPECT_FLOAT_EQ(z.item(), 11.5f);
}

TEST(ReduceMean, GradientIsOneOverTheCountOfEachOutput) {
  Tape tape;
  Var x = tape.variable(iota(k234));
  tape.backward(sum(mean(x, {1})));
  for (float g : x.grad()) EXPECT_FLOAT_EQ(g, 1.0f / 3.0f);
  const Tensor r = random_nd(k234, 4);
  auto full = gradcheck([](Tape&, const std::vector<Var>& in) { return mean(in[0]); }, {r});
  EXPECT_TRUE(full) << full.message;
  expect_gradient_correct([](Var v) { return mean(v, {1}); }, r);
  expect_gradient_correct([](Var v) { return mean(v, {0, -1}, true); }, r);
}

TEST(ReduceMean, OfAnEmptyTensorIsRefusedNamingTheShape) {
  expect_rejected([](Var v) { return mean(v); }, zeros({0, 3}), {"mean", "0x3", "no elements"});
  expect_rejected([](Var v) { return mean(v, {0}); }, zeros({0, 3}), {"mean", "0x3"});
}

TEST(ReduceSum, OutOfRangeOrRepeatedDimsAreRefusedNamingOpDimAndShape) {
  const Tensor x = iota(k234);
  expect_rejected([](Var v) { return sum(v, {3}); }, x, {"sum", "dim 3", "2x3x4"});
  expect_rejected([](Var v) { return sum(v, {-4}); }, x, {"sum", "dim -4", "2x3x4"});
  expect_rejected([](Var v) { return sum(v, {1, -2}); }, x, {"sum", "dim -2", "twice", "2x3x4"});
  expect_rejected([](Var v) { return mean(v, {0, 5}, true); }, x, {"mean", "dim 5", "2x3x4"});
}

// ---- max / min ----

TEST(ReduceMax, AlongADimTakesTheLargestAndSendsTheGradientToItsFirstPosition) {
  Tape tape;
  Var x = tape.variable(tensor({{1, 5, 3}, {7, 2, 7}}));
  Var y = max(x, 1);
  EXPECT_EQ(y.sizes(), (Shape{2}));
  EXPECT_EQ(values(y), (std::vector<float>{5, 7}));
  tape.backward(y, tensor({2}, {2, 3}));
  EXPECT_EQ(std::vector<float>(x.grad().begin(), x.grad().end()),
            (std::vector<float>{0, 2, 0, 3, 0, 0}));
}

TEST(ReduceMin, AlongTheFirstDimWithKeepdim) {
  Tape tape;
  Var y = min(tape.constant(tensor({{1, 5, 3}, {7, 2, 7}})), 0, true);
  EXPECT_EQ(y.sizes(), (Shape{1, 3}));
  EXPECT_EQ(values(y), (std::vector<float>{1, 2, 3}));
}

TEST(ReduceMax, AlongANegativeMiddleDimOfARank3Input) {
  Tape tape;
  Var x = tape.constant(iota(k234));
  Var y = max(x, -2, true);
  EXPECT_EQ(y.sizes(), (Shape{2, 1, 4}));
  EXPECT_EQ(values(y), (std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23}));
  Var z = min(x, -2);
  EXPECT_EQ(z.sizes(), (Shape{2, 4}));
  EXPECT_EQ(values(z), (std::vector<float>{0, 1, 2, 3, 12, 13, 14, 15}));
}

TEST(ReduceMax, OfEverythingIsOneByOneAndItsGradientGoesToOnePlace) {
  Tape tape;
  Var x = tape.variable(tensor({{1, 9, 3}, {9, -4, 2}}));
  Var hi = max(x);
  EXPECT_EQ(hi.sizes(), (Shape{1, 1}));
  EXPECT_FLOAT_EQ(hi.item(), 9.0f);
  EXPECT_FLOAT_EQ(min(x).item(), -4.0f);
  tape.backward(hi);
  EXPECT_EQ(std::vector<float>(x.grad().begin(), x.grad().end()),
            (std::vector<float>{0, 1, 0, 0, 0, 0}));
}

TEST(ReduceMax, ANaNPropagatesAsInTorch) {
  Tape tape;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Var y = max(tape.constant(tensor({{1, nan, 3}, {4, 5, 6}})), 1);
  EXPECT_TRUE(std::isnan(values(y)[0]));
  EXPECT_FLOAT_EQ(values(y)[1], 6.0f);
}

TEST(ReduceMax, GradientsMatchCentralDifferences) {
  const Tensor x = distinct_nd(k234);
  for (int dim : {0, 1, 2, -1}) {
    expect_gradient_correct([dim](Var v) { return max(v, dim); }, x);
    expect_gradient_correct([dim](Var v) { return min(v, dim, true); }, x);
  }
  auto hi = gradcheck([](Tape&, const std::vector<Var>& in) { return max(in[0]); }, {x});
  EXPECT_TRUE(hi) << hi.message;
  auto lo = gradcheck([](Tape&, const std::vector<Var>& in) { return min(in[0]); }, {x});
  EXPECT_TRUE(lo) << lo.message;
}

TEST(ReduceMax, BadOrEmptyDimsAreRefusedNamingOpDimAndShape) {
  const Tensor x = iota(k234);
  expect_rejected([](Var v) { return max(v, 3); }, x, {"max", "dim 3", "2x3x4"});
  expect_rejected([](Var v) { return min(v, -4, true); }, x, {"min", "dim -4", "2x3x4"});
  expect_rejected([](Var v) { return max(v, 1); }, zeros({2, 0}), {"max", "dim 1", "2x0"});
  expect_rejected([](Var v) { return min(v); }, zeros({0, 4}), {"min", "0x4", "empty"});
}

// ---- var ----

TEST(ReduceVar, UnbiasedAndBiasedAlongRows) {
  Tape tape;
  Var x = tape.constant(tensor({{1, 2, 3, 4}, {2, 4, 6, 8}}));
  Var u = var(x, {1});
  EXPECT_EQ(u.sizes(), (Shape{2}));
  EXPECT_FLOAT_EQ(values(u)[0], 5.0f / 3.0f);
  EXPECT_FLOAT_EQ(values(u)[1], 20.0f / 3.0f);
  Var b = var(x, {-1}, false, true);
  EXPECT_EQ(b.sizes(), (Shape{2, 1}));
  EXPECT_EQ(values(b), (std::vector<float>{1.25f, 5.0f}));
  EXPECT_FLOAT_EQ(var(x, {}).item(), 37.5f / 7.0f);
}

TEST(ReduceVar, OverTheOuterDimsOfARank3InputWithKeepdim) {
  Tape tape;
  Var x = tape.constant(iota(k234));
  // For each j the values are {0..3, 12..15} + 4j: squared deviations from 7.5 sum to 298.
  Var u = var(x, {0, 2}, true, true);
  EXPECT_EQ(u.sizes(), (Shape{1, 3, 1}));
  for (float v : values(u)) EXPECT_FLOAT_EQ(v, 298.0f / 7.0f);
  Var b = var(x, {2, -3}, false);
  EXPECT_EQ(b.sizes(), (Shape{3}));
  for (float v : values(b)) EXPECT_FLOAT_EQ(v, 298.0f / 8.0f);
}

TEST(ReduceVar, IsAccurateForValuesFarFromZero) {
  // The one-pass formula E[x^2] - E[x]^2 loses every digit here.
  Tape tape;
  Var y = var(tape.constant(tensor({{10000.0f, 10001.0f, 10002.0f}})), {1});
  EXPECT_FLOAT_EQ(y.item(), 1.0f);
}

TEST(ReduceVar, GradientsMatchCentralDifferences) {
  const Tensor x = random_nd(k234, 5);
  expect_gradient_correct([](Var v) { return var(v, {1}); }, x);
  expect_gradient_correct([](Var v) { return var(v, {0, 2}, false, true); }, x);
  expect_gradient_correct([](Var v) { return var(v, {-1}, true); }, x);
  expect_gradient_correct([](Var v) { return var(v, {}); }, x);
}

TEST(ReduceVar, WithNoDegreeOfFreedomLeftOrABadDimIsRefused) {
  expect_rejected([](Var v) { return var(v, {1}); }, iota({3, 1}), {"var", "3x1", "freedom"});
  expect_rejected([](Var v) { return var(v, {2}); }, iota({3, 1}), {"var", "dim 2", "3x1"});
  expect_rejected([](Var v) { return var(v, {0, 0}); }, iota({3, 2}), {"var", "dim 0", "twice"});
}

// ---- logsumexp ----

TEST(ReduceLogSumExp, IsTheLogOfTheSumOfExponentials) {
  Tape tape;
  Var y = logsumexp(tape.constant(tensor({{0.0f, std::log(3.0f)}, {1.0f, 1.0f}})), 1);
  EXPECT_EQ(y.sizes(), (Shape{2}));
  EXPECT_NEAR(values(y)[0], std::log(4.0f), 1e-6f);
  EXPECT_NEAR(values(y)[1], 1.0f + std::log(2.0f), 1e-6f);
}

TEST(ReduceLogSumExp, LargeAndVeryNegativeInputsNeitherOverflowNorUnderflow) {
  Tape tape;
  const float inf = std::numeric_limits<float>::infinity();
  Var y = logsumexp(tape.constant(tensor({{1000, 1000}, {-1000, -1000}, {-inf, -inf}})), -1);
  EXPECT_NEAR(values(y)[0], 1000.0f + std::log(2.0f), 1e-3f);
  EXPECT_NEAR(values(y)[1], -1000.0f + std::log(2.0f), 1e-3f);
  EXPECT_EQ(values(y)[2], -inf);
}

TEST(ReduceLogSumExp, AlongTheFirstDimOfARank3InputWithKeepdim) {
  Tape tape;
  Var y = logsumexp(tape.constant(iota(k234)), 0, true);
  EXPECT_EQ(y.sizes(), (Shape{1, 3, 4}));
  // log(e^v + e^(v + 12)) = v + 12 + log(1 + e^-12) for v = 0..11
  const std::vector<float> got = values(y);
  for (std::size_t v = 0; v < 12; ++v)
    EXPECT_NEAR(got[v], static_cast<float>(v) + 12.0f + std::log1p(std::exp(-12.0f)), 1e-5f);
}

TEST(ReduceLogSumExp, GradientIsTheSoftmaxAlongTheDim) {
  Tape tape;
  Var x = tape.variable(tensor({{0.0f, std::log(3.0f)}}));
  tape.backward(sum(logsumexp(x, 1)));
  EXPECT_NEAR(x.grad()(0, 0), 0.25f, 1e-6f);
  EXPECT_NEAR(x.grad()(0, 1), 0.75f, 1e-6f);
  const Tensor r = random_nd(k234, 6);
  for (int dim : {0, 1, -1})
    expect_gradient_correct([dim](Var v) { return logsumexp(v, dim, dim == 1); }, r);
}

TEST(ReduceLogSumExp, ABadDimIsRefused) {
  expect_rejected([](Var v) { return logsumexp(v, 2); }, iota({2, 3}),
                  {"logsumexp", "dim 2", "2x3"});
}

// ---- argmax ----

TEST(ReduceArgmax, GivesTheFirstIndexOfTheLargestValue) {
  const Tensor x = tensor({{1, 5, 5}, {7, 2, 7}});
  EXPECT_EQ(argmax(x, 1), (std::vector<std::int64_t>{1, 0}));
  EXPECT_EQ(argmax(x, -2), (std::vector<std::int64_t>{1, 0, 1}));
  const Tensor y = iota(k234);
  EXPECT_EQ(argmax(y, -1), (std::vector<std::int64_t>(6, 3)));
  EXPECT_EQ(argmax(y, 1), (std::vector<std::int64_t>(8, 2)));
}

TEST(ReduceArgmax, ABadOrEmptyDimIsRefused) {
  expect_error([] { argmax(iota({2, 3}), 2); }, {"argmax", "dim 2", "2x3"});
  expect_error([] { argmax(zeros({2, 0}), 1); }, {"argmax", "2x0"});
}

// ---- the op state reused across steps ----

TEST(ReduceState, ASecondStepWithOtherShapesAndDimsGivesFreshResults) {
  Tape tape;
  for (int step = 0; step < 3; ++step) {
    tape.clear();
    const Shape shape = step == 1 ? Shape{4, 5} : Shape{2, 3};
    const int dim = step == 1 ? 1 : 0;
    Var x = tape.variable(iota(shape));
    Var s = sum(x, {dim});
    Var m = max(x, dim);
    Var v = var(x, {dim});
    Var l = logsumexp(x, dim);
    tape.backward(sum(add(add(s, m), add(v, l))));
    if (step == 1) {
      EXPECT_EQ(values(s), (std::vector<float>{10, 35, 60, 85}));
      EXPECT_EQ(values(m), (std::vector<float>{4, 9, 14, 19}));
    } else {
      EXPECT_EQ(values(s), (std::vector<float>{3, 5, 7}));
      EXPECT_EQ(values(m), (std::vector<float>{3, 4, 5}));
    }
    EXPECT_EQ(x.grad().size(), element_count(shape));
  }
}
