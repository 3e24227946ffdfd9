// Losses: gradient-checked, stable at extreme logits, and equal to their textbook values.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

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

// ---- the torch.nn.functional loss family: values from PyTorch 1.13 ----
//
// Every expected value below was computed by PyTorch 1.13 in float64 from the float32 inputs
// of the tests (regenerate with /usr/bin/python3 and this snippet; the names in the comments
// of the tests are its keys):
//
//   import torch, torch.nn.functional as F
//   d = lambda v: torch.tensor(v, dtype=torch.float32).double()
//   Z = d([[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.0], [-0.3, 0.8, 0.1, 1.1]])
//   W = d([0.5, 1.0, 2.0, 1.5])
//   Z3 = d([[[0.2, -0.5], [1.0, 0.3], [-1.2, 0.8]], [[0.7, 0.1], [-0.4, 1.3], [0.5, -0.9]]])
//   P = d([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]])
//   X = d([[0.5, -1.5, 3.0], [-0.2, 2.2, -4.0]])
//   T = d([[1, 0, 1], [0, 1, 0.3]])
//   PW = d([0.5, 2.0, 3.0])
//   H = d([[0.0, 0.45, -1.7], [2.5, -0.3, 1.2]])
//   HT = d([[0.2, -0.1, 0.0], [0.5, 0.6, 1.25]])
//   LP = torch.log_softmax(d([[0.3, -0.2, 1.1], [0.0, 0.5, -1.0]]), 1).float().double()
//   KT = d([[0.2, 0.0, 0.8], [0.5, 0.3, 0.2]])
//   KLT = torch.log(d([[0.2, 0.1, 0.7], [0.5, 0.3, 0.2]])).float().double()
//   def show(name, t):
//       t = t.detach().reshape(-1).tolist()
//       print("%-28s {%s}" % (name, ", ".join("%.9gf" % v for v in t)))
//   ce = lambda z, y, **k: F.cross_entropy(z, torch.tensor(y), **k)
//   for r in ("none", "mean", "sum"):
//       show("ce_" + r, ce(Z, [2, 0, 3], reduction=r))
//       show("ce_weight_" + r, ce(Z, [2, 0, 3], weight=W, reduction=r))
//       show("ce_ignore_" + r, ce(Z, [2, -100, 3], reduction=r))
//       show("ce_smooth_" + r, ce(Z, [2, 0, 3], label_smoothing=0.1, reduction=r))
//       show("ce_all_" + r, ce(Z, [2, -100, 3], weight=W, label_smoothing=0.2, reduction=r))
//       show("ce_nd_" + r, ce(Z3, [[0, 2], [1, 0]], reduction=r))
//       show("ce_nd_all_" + r, ce(Z3, [[0, -100], [1, 2]], weight=W[:3], label_smoothing=0.3,
//                                 reduction=r))
//       show("ce_probs_all_" + r, F.cross_entropy(Z, P, weight=W, label_smoothing=0.1,
//                                                 reduction=r))
//   show("ce_ignore_in_range_mean", ce(Z, [2, 0, 3], ignore_index=0))
//   show("ce_rank1", ce(Z[0], 1))
//   show("ce_all_ignored_mean", ce(Z, [-100, -100, -100]))
//   z = Z.clone().requires_grad_(); ce(z, [2, -100, 3], weight=W, label_smoothing=0.2).backward()
//   show("ce_all_mean_grad", z.grad)
//   z = Z3.clone().requires_grad_()
//   ce(z, [[0, -100], [1, 2]], weight=W[:3], label_smoothing=0.3).backward()
//   show("ce_nd_all_mean_grad", z.grad)
//   for r in ("none", "mean", "sum"):
//       show("bce_logits_pw_" + r, F.binary_cross_entropy_with_logits(X, T, pos_weight=PW,
//                                                                     reduction=r))
//   x = X.clone().requires_grad_(); F.binary_cross_entropy_with_logits(x, T,
//   pos_weight=PW).backward() show("bce_logits_pw_mean_grad", x.grad) show("bce_logits_pw_3d_sum",
//   F.binary_cross_entropy_with_logits(
//       torch.stack([X, -X]), torch.stack([T, 1 - T]), pos_weight=PW, reduction="sum"))
//   for r in ("none", "mean", "sum"):
//       for dl in (1.0, 0.5):
//           show("huber_%g_%s" % (dl, r), F.huber_loss(H, HT, delta=dl, reduction=r))
//       for b in (1.0, 0.5, 0.0):
//           show("smooth_l1_%g_%s" % (b, r), F.smooth_l1_loss(H, HT, beta=b, reduction=r))
//   for r in ("none", "mean", "sum", "batchmean"):
//       show("kl_" + r, F.kl_div(LP, KT, reduction=r))
//       show("kl_log_target_" + r, F.kl_div(LP, KLT, reduction=r, log_target=True))
//   show("LP", LP); show("KLT", KLT)
//   show("mse_none", F.mse_loss(H, HT, reduction="none"))
//   show("mae_none", F.l1_loss(H, HT, reduction="none"))
//   show("bce_logits_none", F.binary_cross_entropy_with_logits(X, T, reduction="none"))
//   show("bce_none", F.binary_cross_entropy(torch.sigmoid(X).float().double(), T,
//                                           reduction="none"))
//   show("sigmoid_X", torch.sigmoid(X).float().double())

namespace {

const Tensor kZ =
    tensor({{0.5f, -1.2f, 2.0f, 0.3f}, {1.5f, 0.2f, -0.7f, -2.0f}, {-0.3f, 0.8f, 0.1f, 1.1f}});
const std::vector<float> kW = {0.5f, 1.0f, 2.0f, 1.5f};
const Tensor kZ3 =
    tensor({2, 3, 2}, {0.2f, -0.5f, 1.0f, 0.3f, -1.2f, 0.8f, 0.7f, 0.1f, -0.4f, 1.3f, 0.5f, -0.9f});
const Tensor kP =
    tensor({{0.1f, 0.2f, 0.3f, 0.4f}, {0.25f, 0.25f, 0.25f, 0.25f}, {0.7f, 0.1f, 0.1f, 0.1f}});
const Tensor kX = tensor({{0.5f, -1.5f, 3.0f}, {-0.2f, 2.2f, -4.0f}});
const Tensor kT = tensor({{1.0f, 0.0f, 1.0f}, {0.0f, 1.0f, 0.3f}});
const Tensor kPW = tensor({3}, {0.5f, 2.0f, 3.0f});
const Tensor kH = tensor({{0.0f, 0.45f, -1.7f}, {2.5f, -0.3f, 1.2f}});
const Tensor kHT = tensor({{0.2f, -0.1f, 0.0f}, {0.5f, 0.6f, 1.25f}});
const Tensor kLP = tensor(
    {{-1.3434056f, -1.8434056f, -0.543405533f}, {-1.10413063f, -0.604130626f, -2.10413051f}});
const Tensor kKT = tensor({{0.2f, 0.0f, 0.8f}, {0.5f, 0.3f, 0.2f}});
const Tensor kKLT = tensor(
    {{-1.60943794f, -2.30258512f, -0.356674969f}, {-0.693147182f, -1.20397282f, -1.60943794f}});

const std::vector<Reduction> kReductions = {Reduction::none, Reduction::mean, Reduction::sum};

// A reduced loss is 1x1; an unreduced one has `none_shape`. Values within float32 rounding.
void expect_loss(Var loss, Reduction r, const Shape& none_shape, const std::vector<float>& want) {
  const Tensor& v = loss.value();
  EXPECT_EQ(shape_of(v), r == Reduction::none ? none_shape : (Shape{1, 1}));
  ASSERT_EQ(v.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(v.data()[i], want[i], 2e-6 + 2e-6 * std::fabs(want[i])) << "element " << i;
}

void expect_values(const Tensor& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got.data()[i], want[i], 2e-6 + 2e-6 * std::fabs(want[i])) << "element " << i;
}

CrossEntropyOptions ce_options(Reduction r, bool weighted = false, float smoothing = 0.0f) {
  CrossEntropyOptions o;
  if (weighted) o.weight = kW;
  o.label_smoothing = smoothing;
  o.reduction = r;
  return o;
}

// The message of the error f throws, and that the tape kept its size.
std::string tape_safe_error_of(Tape& tape, const std::function<void()>& f) {
  const std::size_t before = tape.size();
  std::string message = error_of(f);
  EXPECT_EQ(tape.size(), before) << "after: " << message;
  return message;
}

}  // namespace

TEST(CrossEntropyTorch, PlainWeightedIgnoredSmoothedAndAllTogetherMatchPyTorch) {
  const std::vector<std::int64_t> labels = {2, 0, 3}, ignored = {2, -100, 3};
  const std::map<Reduction, std::vector<std::vector<float>>> want = {
      // ce_*, ce_weight_*, ce_ignore_*, ce_smooth_*, ce_all_*
      {Reduction::none,
       {{0.369199308f, 0.346091775f, 0.856665815f},
        {0.738398615f, 0.173045888f, 1.28499872f},
        {0.369199308f, 0.0f, 0.856665815f},
        {0.529199308f, 0.521091775f, 0.924165817f},
        {1.00801872f, 0.0f, 1.39216544f}}},
      {Reduction::mean,
       {{0.523985633f}, {0.549110806f}, {0.612932561f}, {0.6581523f}, {0.685766902f}}},
      {Reduction::sum, {{1.5719569f}, {2.19644323f}, {1.22586512f}, {1.9744569f}, {2.40018416f}}}};
  for (Reduction r : kReductions) {
    SCOPED_TRACE(static_cast<int>(r));
    Tape tape;
    Var z = tape.constant(kZ);
    const auto& w = want.at(r);
    expect_loss(cross_entropy(z, labels, ce_options(r)), r, {3}, w[0]);
    expect_loss(cross_entropy(z, labels, ce_options(r, true)), r, {3}, w[1]);
    expect_loss(cross_entropy(z, ignored, ce_options(r)), r, {3}, w[2]);
    expect_loss(cross_entropy(z, labels, ce_options(r, false, 0.1f)), r, {3}, w[3]);
    expect_loss(cross_entropy(z, ignored, ce_options(r, true, 0.2f)), r, {3}, w[4]);
  }
}

TEST(CrossEntropyTorch, GradientWithWeightsIgnoreAndSmoothingMatchesPyTorch) {
  Tape tape;
  Var z = tape.variable(kZ);
  tape.backward(cross_entropy(z, {2, -100, 3}, ce_options(Reduction::mean, true, 0.2f)));
  // ce_all_mean_grad
  expect_values(z.grad(), {0.0743877618f, 0.000608585788f, -0.120319402f, 0.0453230544f, 0.0f, 0.0f,
                           0.0f, 0.0f, 0.0362324368f, 0.116020873f, 0.0361369071f, -0.188390217f});
}

TEST(CrossEntropyTorch, AnIgnoreIndexInsideTheClassRangeIgnoresThatClass) {
  Tape tape;
  CrossEntropyOptions o;
  o.ignore_index = 0;
  // ce_ignore_in_range_mean: the sample of label 0 is ignored
  EXPECT_NEAR(cross_entropy(tape.constant(kZ), {2, 0, 3}, o).item(), 0.612932561f, 1e-6);
}

TEST(CrossEntropyTorch, ClassesInDimensionOneOfAnNdInputMatchPyTorch) {
  const std::vector<std::int64_t> labels = {0, 2, 1, 0}, mixed = {0, -100, 1, 2};
  const std::map<Reduction, std::pair<std::vector<float>, std::vector<float>>> want = {
      // ce_nd_*, ce_nd_all_*
      {Reduction::none,
       {{1.24477051f, 0.630772955f, 1.8662126f, 1.54500524f},
        {1.07133936f, 0.0f, 1.72452323f, 4.18375915f}}},
      {Reduction::mean, {{1.32169033f}, {1.99417764f}}},
      {Reduction::sum, {{5.28676131f}, {6.97962174f}}}};
  for (Reduction r : kReductions) {
    SCOPED_TRACE(static_cast<int>(r));
    Tape tape;
    Var z = tape.constant(kZ3);
    expect_loss(cross_entropy(z, labels, ce_options(r)), r, {2, 2}, want.at(r).first);
    CrossEntropyOptions o = ce_options(r, false, 0.3f);
    o.weight = {0.5f, 1.0f, 2.0f};
    expect_loss(cross_entropy(z, mixed, o), r, {2, 2}, want.at(r).second);
  }
  Tape tape;
  Var z = tape.variable(kZ3);
  CrossEntropyOptions o = ce_options(Reduction::mean, false, 0.3f);
  o.weight = {0.5f, 1.0f, 2.0f};
  tape.backward(cross_entropy(z, mixed, o));
  // ce_nd_all_mean_grad
  expect_values(z.grad(),
                {-0.056684315f, 0.0f, 0.0996228427f, 0.0f, -0.0429385277f, 0.0f, 0.125145287f,
                 0.0923696621f, -0.18215888f, 0.325536874f, 0.0570135929f, -0.417906536f});
}

TEST(CrossEntropyTorch, ASingleSampleOfRankOneGivesARankZeroUnreducedLoss) {
  Tape tape;
  Var z = tape.constant(tensor({4}, {0.5f, -1.2f, 2.0f, 0.3f}));
  EXPECT_NEAR(cross_entropy(z, {1}).item(), 3.56919936f, 1e-5);  // ce_rank1
  Var none = cross_entropy(z, {1}, ce_options(Reduction::none));
  EXPECT_EQ(none.dim(), 0u);
  EXPECT_NEAR(none.item(), 3.56919936f, 1e-5);
}

TEST(CrossEntropyTorch, ProbabilityTargetsWithWeightsAndSmoothingMatchPyTorch) {
  const std::map<Reduction, std::vector<float>> want = {
      // ce_probs_all_*
      {Reduction::none, {2.25195505f, 3.17011471f, 1.44688263f}},
      {Reduction::mean, {2.2896508f}},
      {Reduction::sum, {6.86895239f}}};
  for (Reduction r : kReductions) {
    Tape tape;
    expect_loss(cross_entropy(tape.constant(kZ), kP, ce_options(r, true, 0.1f)), r, {3},
                want.at(r));
  }
}

TEST(CrossEntropyTorch, WhenEverySampleIsIgnoredTheMeanIsNaNAsInPyTorchAndTheGradientZero) {
  Tape tape;
  Var z = tape.variable(kZ);
  Var loss = cross_entropy(z, {-100, -100, -100});  // ce_all_ignored_mean: nan
  EXPECT_TRUE(std::isnan(loss.item()));
  tape.backward(loss);
  for (float g : z.grad()) EXPECT_EQ(g, 0.0f);
  Tape tape2;
  EXPECT_EQ(
      cross_entropy(tape2.constant(kZ), {-100, -100, -100}, ce_options(Reduction::sum)).item(),
      0.0f);
}

TEST(CrossEntropyTorch, GradientMatchesCentralDifferencesForEveryOptionAndReduction) {
  const std::vector<std::int64_t> labels = {0, 3, -100, 2, 3, 1};
  const Tensor logits = random_tensor(6, 4, 40);
  for (Reduction r : kReductions)
    for (bool weighted : {false, true})
      for (float smoothing : {0.0f, 0.25f}) {
        auto res = gradcheck(
            [&](Tape&, const std::vector<Var>& in) {
              return cross_entropy(in[0], labels, ce_options(r, weighted, smoothing));
            },
            {logits});
        EXPECT_TRUE(res) << static_cast<int>(r) << " " << weighted << " " << smoothing << ": "
                         << res.message;
      }
  // N x C x d1 x d2, and probability targets
  std::vector<std::int64_t> nd_labels;
  for (int i = 0; i < 2 * 2 * 3; ++i) nd_labels.push_back(i % 5 == 4 ? -100 : i % 3);
  const Tensor flat = random_tensor(12, 3, 41);
  const Tensor nd = tensor({2, 3, 2, 3}, std::vector<float>(flat.begin(), flat.end()));
  for (Reduction r : kReductions) {
    auto res = gradcheck(
        [&](Tape&, const std::vector<Var>& in) {
          CrossEntropyOptions o = ce_options(r, false, 0.1f);
          o.weight = {0.3f, 1.0f, 2.0f};
          return cross_entropy(in[0], nd_labels, o);
        },
        {nd});
    EXPECT_TRUE(res) << res.message;
    const Tensor probs = random_distribution(5, 4, 42);
    res = gradcheck(
        [&](Tape&, const std::vector<Var>& in) {
          return cross_entropy(in[0], probs, ce_options(r, true, 0.2f));
        },
        {random_tensor(5, 4, 43)});
    EXPECT_TRUE(res) << res.message;
  }
}

TEST(CrossEntropyTorch, AgreesWithSoftmaxCrossEntropyWithoutOptions) {
  Tape tape;
  Var z = tape.constant(kZ);
  EXPECT_FLOAT_EQ(cross_entropy(z, {2, 0, 3}).item(), softmax_cross_entropy(z, {2, 0, 3}).item());
  EXPECT_FLOAT_EQ(cross_entropy(z, kP).item(), softmax_cross_entropy(z, kP).item());
}

TEST(CrossEntropyTorch, BadInputsAreNamedAndLeaveTheTapeUnchanged) {
  Tape tape;
  Var z = tape.variable(kZ);
  Var z3 = tape.variable(kZ3);
  EXPECT_EQ(tape_safe_error_of(tape,
                               [&] {
                                 cross_entropy(z, {2, 7, 1});
                               }),
            "cross_entropy: label 7 at row 1 is outside [0, 4)");
  EXPECT_EQ(tape_safe_error_of(tape,
                               [&] {
                                 cross_entropy(z, {2, -1, 1});
                               }),
            "cross_entropy: label -1 at row 1 is outside [0, 4)");
  EXPECT_EQ(tape_safe_error_of(tape,
                               [&] {
                                 cross_entropy(z3, {0, 1, 2, 3});
                               }),
            "cross_entropy: label 3 at position [1, 1] is outside [0, 3)");
  EXPECT_EQ(tape_safe_error_of(tape,
                               [&] {
                                 cross_entropy(z, {2, 1});
                               }),
            "cross_entropy: logits are 3x4 but 2 labels were given (expected 3, one per sample)");
  EXPECT_EQ(tape_safe_error_of(tape,
                               [&] {
                                 cross_entropy(z3, {0, 1, 2});
                               }),
            "cross_entropy: logits are 2x3x2 but 3 labels were given (expected 4, one per sample)");
  EXPECT_EQ(tape_safe_error_of(tape,
                               [&] {
                                 cross_entropy(z, {2, 1, 0}, {.weight = {1.0f, 2.0f, 3.0f}});
                               }),
            "cross_entropy: weight has 3 values but there are 4 classes");
  EXPECT_EQ(tape_safe_error_of(tape,
                               [&] {
                                 cross_entropy(z, {2, 1, 0}, {.label_smoothing = 1.5f});
                               }),
            "cross_entropy: label_smoothing is 1.5, not in [0, 1]");
  EXPECT_EQ(tape_safe_error_of(tape,
                               [&] {
                                 cross_entropy(z, {2, 1, 0}, {.reduction = Reduction::batchmean});
                               }),
            "cross_entropy: Reduction::batchmean is only for kl_div; use mean or sum");
  EXPECT_EQ(tape_safe_error_of(tape, [&] { cross_entropy(z, zeros(3, 3)); }),
            "cross_entropy: logits are 3x4 but target is 3x3");
  Var one = tape.variable(scalar(1.0f));
  Var empty = tape.variable(zeros(0, 4));
  EXPECT_EQ(tape_safe_error_of(tape, [&] { cross_entropy(one, {0}); }),
            "cross_entropy: logits are a scalar, not C, N x C or N x C x d1...");
  EXPECT_EQ(tape_safe_error_of(tape, [&] { cross_entropy(empty, {}); }),
            "cross_entropy: logits are 0x4 (empty)");
}

TEST(SoftmaxCrossEntropy, ReductionNoneGivesOneLossPerRowWhoseSumAndMeanAreTheReductions) {
  Tape tape;
  Var z = tape.constant(kZ);
  // ce_none: the same numbers as cross_entropy's
  expect_loss(softmax_cross_entropy(z, {2, 0, 3}, Reduction::none), Reduction::none, {3},
              {0.369199308f, 0.346091775f, 0.856665815f});
  Var rows = softmax_cross_entropy(z, kP, Reduction::none);
  EXPECT_EQ(rows.sizes(), Shape{3});
  float total = 0.0f;
  for (float v : rows.value()) total += v;
  EXPECT_NEAR(softmax_cross_entropy(z, kP, Reduction::sum).item(), total, 1e-5);
  EXPECT_NEAR(softmax_cross_entropy(z, kP, Reduction::mean).item(), total / 3, 1e-5);
  auto res = gradcheck(
      [](Tape&, const std::vector<Var>& in) {
        return softmax_cross_entropy(in[0], kLabels, Reduction::none);
      },
      {random_tensor(6, 4, 44)});
  EXPECT_TRUE(res) << res.message;
}

TEST(BinaryCrossEntropyWithLogits, PosWeightMatchesPyTorchForEveryReduction) {
  const std::map<Reduction, std::vector<float>> want = {
      // bce_logits_pw_*
      {Reduction::none,
       {0.237038492f, 0.201413278f, 0.145762055f, 0.598138868f, 0.21016663f, 3.62904003f}},
      {Reduction::mean, {0.836926559f}},
      {Reduction::sum, {5.02155935f}}};
  for (Reduction r : kReductions) {
    Tape tape;
    expect_loss(binary_cross_entropy_with_logits(tape.constant(kX), kT, r, &kPW), r, {2, 3},
                want.at(r));
  }
  Tape tape;
  Var x = tape.variable(kX);
  tape.backward(binary_cross_entropy_with_logits(x, kT, Reduction::mean, &kPW));
  // bce_logits_pw_mean_grad
  expect_values(x.grad(), {-0.0314617224f, 0.030404254f, -0.0237129366f, 0.075027667f,
                           -0.0332501616f, -0.145203683f});
}

TEST(BinaryCrossEntropyWithLogits, PosWeightBroadcastsOverTheLastDimensionOfAnNdInput) {
  Tensor x = zeros({2, 2, 3}), t = zeros({2, 2, 3});
  for (std::size_t i = 0; i < 6; ++i) {
    x.data()[i] = kX.data()[i];
    x.data()[6 + i] = -kX.data()[i];
    t.data()[i] = kT.data()[i];
    t.data()[6 + i] = 1.0f - kT.data()[i];
  }
  Tape tape;
  // bce_logits_pw_3d_sum
  EXPECT_NEAR(binary_cross_entropy_with_logits(tape.constant(x), t, Reduction::sum, &kPW).item(),
              7.59476287f, 1e-5);
  const Tensor row = tensor({{0.5f, 2.0f, 3.0f}});  // 1x3 broadcasts as well
  EXPECT_NEAR(binary_cross_entropy_with_logits(tape.constant(x), t, Reduction::sum, &row).item(),
              7.59476287f, 1e-5);
  const Tensor ones3 = ones({3});
  EXPECT_NEAR(
      binary_cross_entropy_with_logits(tape.constant(kX), kT, Reduction::sum, &ones3).item(),
      binary_cross_entropy_with_logits(tape.constant(kX), kT, Reduction::sum).item(), 1e-6);
  for (Reduction r : kReductions) {
    auto res = gradcheck(
        [&](Tape&, const std::vector<Var>& in) {
          return binary_cross_entropy_with_logits(in[0], t, r, &kPW);
        },
        {x});
    EXPECT_TRUE(res) << res.message;
  }
}

TEST(BinaryCrossEntropyWithLogits, PosWeightKeepsHugeLogitsFinite) {
  Tape tape;
  Var z = tape.variable(tensor({{1e4f, -1e4f}}));
  const Tensor pw = tensor({2}, {3.0f, 3.0f});
  Var loss = binary_cross_entropy_with_logits(z, tensor({{0.0f, 1.0f}}), Reduction::sum, &pw);
  EXPECT_FLOAT_EQ(loss.item(), 4e4f);  // 1e4 + 3 * 1e4
  tape.backward(loss);
  EXPECT_FLOAT_EQ(z.grad()(0, 0), 1.0f);
  EXPECT_FLOAT_EQ(z.grad()(0, 1), -3.0f);
}

TEST(BinaryCrossEntropyWithLogits, APosWeightThatDoesNotBroadcastIsNamed) {
  Tape tape;
  Var x = tape.variable(kX);
  const Tensor pw = ones({2});
  EXPECT_EQ(tape_safe_error_of(
                tape, [&] { binary_cross_entropy_with_logits(x, kT, Reduction::mean, &pw); }),
            "binary_cross_entropy_with_logits: pos_weight is 2, which does not broadcast to the "
            "logits' 2x3");
  const Tensor big = ones({2, 2, 3});
  EXPECT_EQ(tape_safe_error_of(
                tape, [&] { binary_cross_entropy_with_logits(x, kT, Reduction::mean, &big); }),
            "binary_cross_entropy_with_logits: pos_weight is 2x2x3, which does not broadcast to "
            "the logits' 2x3");
}

TEST(HuberLoss, MatchesPyTorchForDeltaOneAndAHalf) {
  const std::map<Reduction, std::vector<float>> one = {
      // huber_1_*
      {Reduction::none,
       {0.0200000006f, 0.151249994f, 1.20000005f, 1.5f, 0.405000032f, 0.00124999762f}},
      {Reduction::mean, {0.546250012f}},
      {Reduction::sum, {3.27750007f}}};
  const std::map<Reduction, std::vector<float>> half = {
      // huber_0.5_*
      {Reduction::none,
       {0.0200000006f, 0.149999995f, 0.725000024f, 0.875f, 0.325000018f, 0.00124999762f}},
      {Reduction::mean, {0.349375006f}},
      {Reduction::sum, {2.09625003f}}};
  for (Reduction r : kReductions) {
    Tape tape;
    Var x = tape.constant(kH);
    expect_loss(huber_loss(x, kHT, r), r, {2, 3}, one.at(r));
    expect_loss(huber_loss(x, kHT, r, 0.5f), r, {2, 3}, half.at(r));
  }
}

TEST(SmoothL1Loss, MatchesPyTorchForBetaOneHalfAndZero) {
  const std::map<Reduction, std::vector<std::vector<float>>> want = {
      // smooth_l1_1_*, smooth_l1_0.5_*, smooth_l1_0_*
      {Reduction::none,
       {{0.0200000006f, 0.151249994f, 1.20000005f, 1.5f, 0.405000032f, 0.00124999762f},
        {0.0400000012f, 0.29999999f, 1.45000005f, 1.75f, 0.650000036f, 0.00249999523f},
        {0.200000003f, 0.54999999f, 1.70000005f, 2.0f, 0.900000036f, 0.0499999523f}}},
      {Reduction::mean, {{0.546250012f}, {0.698750012f}, {0.900000005f}}},
      {Reduction::sum, {{3.27750007f}, {4.19250007f}, {5.40000003f}}}};
  for (Reduction r : kReductions) {
    Tape tape;
    Var x = tape.constant(kH);
    expect_loss(smooth_l1_loss(x, kHT, r), r, {2, 3}, want.at(r)[0]);
    expect_loss(smooth_l1_loss(x, kHT, r, 0.5f), r, {2, 3}, want.at(r)[1]);
    expect_loss(smooth_l1_loss(x, kHT, r, 0.0f), r, {2, 3}, want.at(r)[2]);
  }
}

TEST(HuberLoss, HuberIsBetaTimesSmoothL1AndBothGradientsMatch) {
  Tape tape;
  Var x = tape.constant(kH);
  EXPECT_NEAR(huber_loss(x, kHT, Reduction::sum, 0.5f).item(),
              0.5f * smooth_l1_loss(x, kHT, Reduction::sum, 0.5f).item(), 1e-6);
  const Tensor target = random_tensor(4, 3, 45);
  // errors in [-2, 2], at least 0.2 from 0 and checked away from the kinks at +-delta
  const Tensor start = target + random_tensor(4, 3, 46, -2, 2, 0.2f);
  for (Reduction r : kReductions)
    for (float delta : {1.0f, 0.5f, 3.0f}) {
      auto res = gradcheck(
          [&](Tape&, const std::vector<Var>& in) { return huber_loss(in[0], target, r, delta); },
          {start}, {}, {.epsilon = 1e-3});
      EXPECT_TRUE(res) << "huber " << delta << ": " << res.message;
      res = gradcheck(
          [&](Tape&, const std::vector<Var>& in) {
            return smooth_l1_loss(in[0], target, r, delta);
          },
          {start}, {}, {.epsilon = 1e-3});
      EXPECT_TRUE(res) << "smooth_l1 " << delta << ": " << res.message;
    }
  auto res = gradcheck(
      [&](Tape&, const std::vector<Var>& in) {
        return smooth_l1_loss(in[0], target, Reduction::mean, 0.0f);
      },
      {start}, {}, {.epsilon = 1e-3});
  EXPECT_TRUE(res) << "smooth_l1 beta 0: " << res.message;
}

TEST(HuberLoss, ANonPositiveDeltaOrNegativeBetaIsNamed) {
  Tape tape;
  Var x = tape.variable(kH);
  EXPECT_EQ(tape_safe_error_of(tape, [&] { huber_loss(x, kHT, Reduction::mean, 0.0f); }),
            "huber_loss: delta is 0; it must be positive");
  EXPECT_EQ(tape_safe_error_of(tape, [&] { smooth_l1_loss(x, kHT, Reduction::mean, -0.5f); }),
            "smooth_l1_loss: beta is -0.5; it must be >= 0");
  EXPECT_EQ(tape_safe_error_of(tape, [&] { huber_loss(x, zeros(3, 2)); }),
            "huber_loss: prediction is 2x3 but target is 3x2");
  EXPECT_EQ(tape_safe_error_of(tape, [&] { smooth_l1_loss(x, zeros(2, 2)); }),
            "smooth_l1_loss: prediction is 2x3 but target is 2x2");
}

TEST(KlDiv, MatchesPyTorchForEveryReductionWithProbabilityAndLogTargets) {
  const std::map<Reduction, std::pair<std::vector<float>, std::vector<float>>> want = {
      // kl_*, kl_log_target_*
      {Reduction::none,
       {{-0.0532064594f, 0.0f, 0.256209601f, 0.205491723f, -0.179952649f, 0.0989385233f},
        {-0.053206466f, -0.0459179506f, 0.130711391f, 0.205491721f, -0.179952655f, 0.0989385098f}}},
      {Reduction::mean, {{0.0545801231f}, {0.0260107584f}}},
      {Reduction::sum, {{0.327480739f}, {0.156064551f}}},
      {Reduction::batchmean, {{0.163740369f}, {0.0780322753f}}}};
  for (const auto& [r, values] : want) {
    SCOPED_TRACE(static_cast<int>(r));
    Tape tape;
    Var x = tape.constant(kLP);
    expect_loss(kl_div(x, kKT, r), r, {2, 3}, values.first);
    expect_loss(kl_div(x, kKLT, r, true), r, {2, 3}, values.second);
  }
}

TEST(KlDiv, GradientIsMinusTheTargetAndMatchesCentralDifferences) {
  Tape tape;
  Var x = tape.variable(kLP);
  tape.backward(kl_div(x, kKT, Reduction::batchmean));
  for (std::size_t i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(x.grad().data()[i], -kKT.data()[i] / 2);
  for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum, Reduction::batchmean})
    for (bool log_target : {false, true}) {
      auto res = gradcheck(
          [&](Tape&, const std::vector<Var>& in) {
            return kl_div(in[0], log_target ? kKLT : kKT, r, log_target);
          },
          {kLP});
      EXPECT_TRUE(res) << static_cast<int>(r) << " " << log_target << ": " << res.message;
    }
}

TEST(KlDiv, ANegativeTargetIsAnErrorUnlessTargetsAreLogs) {
  Tape tape;
  Var x = tape.variable(kLP);
  EXPECT_EQ(tape_safe_error_of(tape, [&] { kl_div(x, kKLT); }),
            "kl_div: target -1.609438 at element 0 is not a probability (>= 0); pass "
            "log_target = true for log-probabilities");
  EXPECT_EQ(tape_safe_error_of(tape, [&] { kl_div(x, zeros(2, 2)); }),
            "kl_div: prediction is 2x3 but target is 2x2");
  EXPECT_EQ(error_of([&] { kl_div(x, kKLT, Reduction::sum, true); }), "(no error)");
}

TEST(LossReduction, NoneSumsAndAveragesToSumAndMeanForEveryElementwiseLoss) {
  using Loss = std::function<Var(Var, Reduction)>;
  const std::vector<std::pair<const char*, Loss>> losses = {
      {"mse", [](Var x, Reduction r) { return mse(x, kHT, r); }},
      {"mae", [](Var x, Reduction r) { return mae(x, kHT, r); }},
      {"huber", [](Var x, Reduction r) { return huber_loss(x, kHT, r, 0.5f); }},
      {"smooth_l1", [](Var x, Reduction r) { return smooth_l1_loss(x, kHT, r, 0.5f); }},
      {"bce_logits", [](Var x, Reduction r) { return binary_cross_entropy_with_logits(x, kT, r); }},
      {"bce_logits_pw",
       [](Var x, Reduction r) { return binary_cross_entropy_with_logits(x, kT, r, &kPW); }},
      {"bce", [](Var x, Reduction r) { return binary_cross_entropy(sigmoid(x), kT, r); }},
      {"kl_div", [](Var x, Reduction r) { return kl_div(x, kKT, r); }},
      {"categorical",
       [](Var x, Reduction r) { return categorical_cross_entropy(softmax(x), kKT, r); }},
      {"cross_entropy", [](Var x, Reduction r) {
         return cross_entropy(
             x, {2, -100}, {.weight = {1.0f, 2.0f, 3.0f}, .label_smoothing = 0.1f, .reduction = r});
       }}};
  for (const auto& [name, loss] : losses) {
    Tape tape;
    Var x = tape.constant(kH);
    const Tensor& none = loss(x, Reduction::none).value();
    double total = 0.0;
    for (float v : none) total += v;
    EXPECT_NEAR(loss(x, Reduction::sum).item(), total, 1e-5) << name;
    const std::string n = name;
    const double count = n == "categorical" || n == "cross_entropy" ? 2.0 : 6.0;
    if (n != "cross_entropy") {  // its mean divides by the weights of the samples not ignored
      EXPECT_NEAR(loss(x, Reduction::mean).item(), total / count, 1e-6) << name;
    }
    // a non-scalar output is checked through a random projection of its elements
    auto res = gradcheck(
        [&](Tape&, const std::vector<Var>& in) { return loss(in[0], Reduction::none); }, {kH});
    EXPECT_TRUE(res) << name << ": " << res.message;
  }
}

TEST(LossReduction, UnreducedValuesMatchPyTorchForMseMaeAndBce) {
  Tape tape;
  Var h = tape.constant(kH);
  expect_loss(mse(h, kHT, Reduction::none), Reduction::none, {2, 3},  // mse_none
              {0.0400000012f, 0.302499989f, 2.89000016f, 4.0f, 0.810000064f, 0.00249999523f});
  expect_loss(mae(h, kHT, Reduction::none), Reduction::none, {2, 3},  // mae_none
              {0.200000003f, 0.54999999f, 1.70000005f, 2.0f, 0.900000036f, 0.0499999523f});
  expect_loss(binary_cross_entropy_with_logits(tape.constant(kX), kT, Reduction::none),
              Reduction::none, {2, 3},  // bce_logits_none
              {0.474076984f, 0.201413278f, 0.0485873516f, 0.598138868f, 0.105083315f, 1.21814998f});
  const Tensor probs = tensor({{0.622459352f, 0.182425529f, 0.952574134f},  // sigmoid_X
                               {0.450166017f, 0.900249541f, 0.0179862101f}});
  Var bce = binary_cross_entropy(tape.constant(probs), kT, Reduction::none);
  EXPECT_EQ(bce.sizes(), (Shape{2, 3}));
  const std::vector<float> want = {0.474076951f, 0.201413284f, 0.0485873442f,  // bce_none
                                   0.598138895f, 0.105083287f, 1.21814997f};
  for (std::size_t i = 0; i < 6; ++i) EXPECT_NEAR(bce.value().data()[i], want[i], 1e-5);
}

TEST(LossReduction, CategoricalCrossEntropyUnreducedIsOneLossPerRow) {
  Tape tape;
  Var p = tape.constant(kP);
  Var rows = categorical_cross_entropy(p, kP, Reduction::none);  // the entropy of each row
  ASSERT_EQ(rows.sizes(), Shape{3});
  for (std::size_t i = 0; i < 3; ++i) {
    double entropy = 0.0;
    for (std::size_t j = 0; j < 4; ++j)
      entropy -= kP(i, j) * std::log(static_cast<double>(kP(i, j)));
    EXPECT_NEAR(rows.value()(i), entropy, 1e-6);
  }
  auto res = gradcheck(
      [](Tape&, const std::vector<Var>& in) {
        return categorical_cross_entropy(in[0], kP, Reduction::none);
      },
      {tensor({{0.3f, 0.2f, 0.1f, 0.4f}, {0.5f, 0.2f, 0.2f, 0.1f}, {0.6f, 0.2f, 0.1f, 0.1f}})}, {},
      {.epsilon = 1e-3});
  EXPECT_TRUE(res) << res.message;
}

TEST(LossErrors, RmseRejectsNoneAndOnlyKlDivAcceptsBatchmean) {
  Tape tape;
  Var x = tape.variable(kH);
  EXPECT_EQ(tape_safe_error_of(tape, [&] { rmse(x, kHT, Reduction::none); }),
            "rmse: Reduction::none is not supported; use mean or sum");
  for (const auto& [name, f] : std::vector<std::pair<std::string, std::function<void()>>>{
           {"mse", [&] { mse(x, kHT, Reduction::batchmean); }},
           {"mae", [&] { mae(x, kHT, Reduction::batchmean); }},
           {"rmse", [&] { rmse(x, kHT, Reduction::batchmean); }},
           {"huber_loss", [&] { huber_loss(x, kHT, Reduction::batchmean); }},
           {"smooth_l1_loss", [&] { smooth_l1_loss(x, kHT, Reduction::batchmean); }},
           {"binary_cross_entropy", [&] { binary_cross_entropy(x, kT, Reduction::batchmean); }},
           {"binary_cross_entropy_with_logits",
            [&] { binary_cross_entropy_with_logits(x, kT, Reduction::batchmean); }},
           {"categorical_cross_entropy",
            [&] { categorical_cross_entropy(x, kT, Reduction::batchmean); }},
           {"softmax_cross_entropy", [&] { softmax_cross_entropy(x, kT, Reduction::batchmean); }},
           {"softmax_cross_entropy",
            [&] {
              softmax_cross_entropy(x, {0, 1}, Reduction::batchmean);
            }},
       })
    EXPECT_EQ(tape_safe_error_of(tape, f),
              name + ": Reduction::batchmean is only for kl_div; use mean or sum");
}

TEST(LossErrors, AnyRejectedLossLeavesTheTapeUsable) {
  Tape tape;
  Var x = tape.variable(kZ);
  const std::size_t before = tape.size();
  EXPECT_NE(error_of([&] { cross_entropy(x, {0, 9, 1}); }), "(no error)");
  EXPECT_NE(error_of([&] { mse(x, zeros(2, 2)); }), "(no error)");
  EXPECT_EQ(tape.size(), before);
  Var loss = cross_entropy(x, {0, 1, 2});
  tape.backward(loss);
  EXPECT_TRUE(std::isfinite(loss.item()));
  EXPECT_EQ(x.grad().size(), 12u);
}
