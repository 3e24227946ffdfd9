// Losses: gradient-checked, stable at extreme logits, and equal to their textbook values.
#include "tapegrad/losses.hpp"
#include "tapegrad/gradcheck.hpp"
#include "tapegrad/ops.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace tg;
using test::error_of;
using test::random_tensor;

namespace {
// Rows of a random distribution (positive, sum 1).
Tensor random_distribution(std::size_t r, std::size_t c, std::uint64_t seed) {
  Tensor t = random_tensor(r, c, seed, 0.1f, 1.0f);
  for (std::size_t i = 0; i < r; ++i) {
    float s = 0;
    for (std::size_t j = 0; j < c; ++j) s += t(i, j);
    for (std::size_t j = 0; j < c; ++j) t(i, j) /= s;
  }
  return t;
}
Tensor random_binary(std::size_t r, std::size_t c, std::uint64_t seed) {
  Tensor t = random_tensor(r, c, seed, 0.0f, 1.0f);
  for (float& v : t) v = v > 0.5f ? 1.0f : 0.0f;
  return t;
}
const std::vector<std::int32_t> kLabels = {0, 3, 1, 2, 3, 0};

}  // namespace

TEST(SoftmaxCrossEntropy, GradientMatchesCentralDifferencesWithLabelsForMeanAndSum) {
  for (Reduction r : {Reduction::mean, Reduction::sum}) {
    auto res = gradcheck(
        [r](Tape&, const std::vector<Var>& in) { return softmax_cross_entropy(in[0], kLabels, r); },
        {random_tensor(6, 4, 20)});
    EXPECT_TRUE(res) << res.message;
  }
}

TEST(SoftmaxCrossEntropy, GradientIsSoftmaxMinusOneHotOverTheBatchSize) {
  Tape tape;
  Tensor logits = random_tensor(6, 4, 21);
  Var z = tape.variable(logits);
  tape.backward(softmax_cross_entropy(z, kLabels));
  Var p = softmax(tape.constant(logits));
  for (std::size_t i = 0; i < 6; ++i)
    for (std::size_t j = 0; j < 4; ++j) {
      const float one_hot = kLabels[i] == static_cast<int>(j) ? 1.0f : 0.0f;
      EXPECT_NEAR(z.grad()(i, j), (p.value()(i, j) - one_hot) / 6.0f, 1e-6f);
    }
}

TEST(SoftmaxCrossEntropy, GradientMatchesWithProbabilityTargets) {
  const Tensor targets = random_distribution(5, 4, 22);
  auto res = gradcheck(
      [&](Tape&, const std::vector<Var>& in) { return softmax_cross_entropy(in[0], targets); },
      {random_tensor(5, 4, 23)});
  EXPECT_TRUE(res) << res.message;
}

TEST(SoftmaxCrossEntropy, EqualsMinusLogSoftmaxOfTheTrueClass) {
  Tape tape;
  Tensor logits = tensor({{2.0f, 1.0f, 0.1f}});
  Var loss = softmax_cross_entropy(tape.constant(logits), {0});
  const double expected =
      -std::log(std::exp(2.0) / (std::exp(2.0) + std::exp(1.0) + std::exp(0.1)));
  EXPECT_NEAR(loss.item(), expected, 1e-6);
}

TEST(SoftmaxCrossEntropy, LogitsOfPlusMinusTenThousandStayFiniteAndCorrect) {
  Tape tape;
  Var z = tape.variable(tensor({{1e4f, -1e4f}, {-1e4f, 1e4f}}));
  Var right = softmax_cross_entropy(z, {0, 1});
  EXPECT_FLOAT_EQ(right.item(), 0.0f);
  tape.backward(right);
  for (float g : z.grad()) EXPECT_TRUE(std::isfinite(g));
  Tape tape2;
  Var wrong = softmax_cross_entropy(tape2.variable(tensor({{1e4f, -1e4f}})), {1});
  EXPECT_FLOAT_EQ(wrong.item(), 2e4f);  // -log softmax = 2e4 exactly, not inf
}

TEST(SoftmaxCrossEntropy, OutOfRangeLabelsNameTheRowAndValue) {
  Tape tape;
  Var z = tape.constant(zeros(3, 10));
  EXPECT_EQ(error_of([&] {
              softmax_cross_entropy(z, {1, 12, 3});
            }),
            "softmax_cross_entropy: label 12 at row 1 is outside [0, 10)");
  EXPECT_EQ(error_of([&] {
              softmax_cross_entropy(z, {-1, 2, 3});
            }),
            "softmax_cross_entropy: label -1 at row 0 is outside [0, 10)");
  EXPECT_EQ(error_of([&] {
              softmax_cross_entropy(z, {1, 2});
            }),
            "softmax_cross_entropy: logits are 3x10 but 2 labels were given");
}

TEST(CrossEntropy, TheWorkedExampleOfNote002PrefersTheCloserPrediction) {
  // p is the true distribution; q2 is closer to it than the uniform q1 (natural log).
  const Tensor p = tensor({{0.5f, 0.125f, 0.125f, 0.25f}});
  Tape tape;
  const float h_q1 =
      categorical_cross_entropy(tape.constant(tensor({{0.25f, 0.25f, 0.25f, 0.25f}})), p).item();
  const float h_q2 =
      categorical_cross_entropy(tape.constant(tensor({{0.5f, 0.25f, 0.125f, 0.125f}})), p).item();
  EXPECT_NEAR(h_q1, 1.386, 1e-3);
  EXPECT_NEAR(h_q2, 1.299, 1e-3);
  EXPECT_LT(h_q2, h_q1);
}

TEST(CategoricalCrossEntropy, GradientMatchesOnProbabilities) {
  const Tensor targets = random_distribution(4, 5, 24);
  auto res = gradcheck(
      [&](Tape&, const std::vector<Var>& in) { return categorical_cross_entropy(in[0], targets); },
      {random_tensor(4, 5, 25, 0.1f, 0.9f)}, {}, {.epsilon = 1e-3});
  EXPECT_TRUE(res) << res.message;
}

TEST(CategoricalCrossEntropy, AZeroProbabilityIsClampedSoTheLossStaysFinite) {
  Tape tape;
  Var p = tape.variable(tensor({{0.0f, 1.0f}}));
  Var loss = categorical_cross_entropy(p, tensor({{1.0f, 0.0f}}));
  EXPECT_TRUE(std::isfinite(loss.item()));
  EXPECT_NEAR(loss.item(), -std::log(1e-7), 1e-3);
  tape.backward(loss);
  for (float g : p.grad()) EXPECT_TRUE(std::isfinite(g));
}

TEST(BinaryCrossEntropy, GradientMatchesOnProbabilities) {
  const Tensor targets = random_binary(4, 3, 26);
  auto res = gradcheck(
      [&](Tape&, const std::vector<Var>& in) { return binary_cross_entropy(in[0], targets); },
      {random_tensor(4, 3, 27, 0.1f, 0.9f)}, {}, {.epsilon = 1e-3});
  EXPECT_TRUE(res) << res.message;
}

TEST(BinaryCrossEntropy, ProbabilitiesOfExactlyZeroAndOneAreClampedNotInfinite) {
  Tape tape;
  Var p = tape.variable(tensor({{0.0f, 1.0f}}));
  Var loss = binary_cross_entropy(p, tensor({{1.0f, 0.0f}}));
  EXPECT_TRUE(std::isfinite(loss.item()));
  tape.backward(loss);
  for (float g : p.grad()) EXPECT_TRUE(std::isfinite(g));
}

TEST(BinaryCrossEntropyWithLogits, GradientMatchesAndIsSigmoidMinusTarget) {
  const Tensor targets = random_binary(4, 3, 28);
  auto res = gradcheck(
      [&](Tape&, const std::vector<Var>& in) {
        return binary_cross_entropy_with_logits(in[0], targets, Reduction::sum);
      },
      {random_tensor(4, 3, 29)});
  EXPECT_TRUE(res) << res.message;
}

TEST(BinaryCrossEntropyWithLogits, EqualsBceOnSigmoidWhereBothAreStable) {
  const Tensor logits = random_tensor(6, 3, 30, -4, 4);
  const Tensor targets = random_binary(6, 3, 31);
  Tape tape;
  const float fused = binary_cross_entropy_with_logits(tape.constant(logits), targets).item();
  const float composed = binary_cross_entropy(sigmoid(tape.constant(logits)), targets).item();
  EXPECT_NEAR(fused, composed, 1e-5);
}

TEST(BinaryCrossEntropyWithLogits, HugeLogitsStayFinite) {
  Tape tape;
  Var z = tape.variable(tensor({{1e4f, -1e4f}}));
  Var loss = binary_cross_entropy_with_logits(z, tensor({{0.0f, 1.0f}}), Reduction::sum);
  EXPECT_FLOAT_EQ(loss.item(), 2e4f);
  tape.backward(loss);
  EXPECT_FLOAT_EQ(z.grad()(0, 0), 1.0f);
  EXPECT_FLOAT_EQ(z.grad()(0, 1), -1.0f);
}

TEST(Mse, GradientMatchesForMeanAndSum) {
  const Tensor target = random_tensor(4, 3, 32);
  for (Reduction r : {Reduction::mean, Reduction::sum}) {
    auto res = gradcheck([&](Tape&, const std::vector<Var>& in) { return mse(in[0], target, r); },
                         {random_tensor(4, 3, 33)});
    EXPECT_TRUE(res) << res.message;
  }
}

TEST(Rmse, GradientMatches) {
  const Tensor target = random_tensor(4, 3, 34);
  auto res = gradcheck([&](Tape&, const std::vector<Var>& in) { return rmse(in[0], target); },
                       {random_tensor(4, 3, 35)});
  EXPECT_TRUE(res) << res.message;
}

TEST(Rmse, AtZeroLossTheGradientIsZeroNotNaN) {
  Tape tape;
  Var p = tape.variable(tensor({{1.0f, 2.0f}}));
  Var loss = rmse(p, tensor({{1.0f, 2.0f}}));
  EXPECT_EQ(loss.item(), 0.0f);
  tape.backward(loss);
  for (float g : p.grad()) EXPECT_EQ(g, 0.0f);
}

TEST(Mae, GradientMatchesAwayFromZeroError) {
  const Tensor target = random_tensor(4, 3, 36);
  Tensor start = target + random_tensor(4, 3, 37, -2, 2, 0.2f);
  auto res =
      gradcheck([&](Tape&, const std::vector<Var>& in) { return mae(in[0], target); }, {start});
  EXPECT_TRUE(res) << res.message;
}

TEST(RegressionLosses, OnAWorkedExampleMseRmseAndMaeAreTheTextbookValues) {
  // errors 1, -2, 3, 0: MSE = 14/4, RMSE = sqrt(3.5), MAE = 6/4
  const Tensor target = tensor({{1, 2, 3, 4}});
  Tape tape;
  Var p = tape.constant(tensor({{2, 0, 6, 4}}));
  EXPECT_FLOAT_EQ(mse(p, target).item(), 3.5f);
  EXPECT_FLOAT_EQ(rmse(p, target).item(), std::sqrt(3.5f));
  EXPECT_FLOAT_EQ(mae(p, target).item(), 1.5f);
  EXPECT_FLOAT_EQ(mse(p, target, Reduction::sum).item(), 14.0f);
}

TEST(LossErrors, ATargetOfTheWrongShapeNamesTheLossAndBothShapes) {
  Tape tape;
  Var p = tape.constant(zeros(4, 3));
  EXPECT_EQ(error_of([&] { mse(p, zeros(4, 2)); }), "mse: prediction is 4x3 but target is 4x2");
  EXPECT_EQ(error_of([&] { binary_cross_entropy_with_logits(p, zeros(3, 3)); }),
            "binary_cross_entropy_with_logits: prediction is 4x3 but target is 3x3");
}
