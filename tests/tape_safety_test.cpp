// Tape-corruption regressions: an op that rejects its inputs throws tg::Error and leaves the
// tape exactly as it was (no half-recorded entry that a later backward would trip over), so
// the same tape keeps recording, and a later backward gives the right gradients. The same for
// anomaly mode: the op whose output is not finite throws, is not kept, and nothing after it
// is blamed for it.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

using namespace tg;
using test::random_tensor;

namespace {

// Runs `op`, which must throw a tg::Error whose message names `name`, and checks that the
// tape holds as many entries afterwards as before.
void expect_rejected_and_tape_unchanged(Tape& t, const char* name,
                                        const std::function<void()>& op) {
  const std::size_t before = t.size();
  test::expect_error(op, {name});
  EXPECT_EQ(t.size(), before) << "'" << name << "' threw but left an entry on the tape";
}

void expect_all(const Tensor& t, float expected) {
  ASSERT_GT(t.size(), 0u);
  for (float v : t) EXPECT_FLOAT_EQ(v, expected);
}

// x = ones(3x4); the d/dx of sum(x * x) is 2 everywhere: what a later backward must still give.
void expect_square_sum_gradient_is_2x(Tape& t, Var x) {
  t.backward(sum(mul(x, x)));
  EXPECT_EQ(x.grad().shape(), x.value().shape());
  expect_all(x.grad(), 2.0f);
}

}  // namespace

TEST(TapeSafety, AMatmulOfMismatchedShapesThrowsAndALaterBackwardOnTheSameTapeIsCorrect) {
  Tape t;
  Var x = t.variable(full(3, 4, 1.0f));
  expect_rejected_and_tape_unchanged(t, "matmul", [&] { matmul(x, x); });  // 3x4 . 3x4
  // The program, verbatim: a caught failure, then training goes on.
  try {
    tg::matmul(x, x);
  } catch (const tg::Error&) {
  }
  EXPECT_EQ(t.size(), 1u);
  expect_square_sum_gradient_is_2x(t, x);
}

TEST(TapeSafety, AnMseAgainstAWrongShapeTargetThrowsAndALaterBackwardIsCorrect) {
  Tape t;
  Var x = t.variable(full(3, 4, 1.0f));
  expect_rejected_and_tape_unchanged(t, "mse", [&] { mse(x, full(2, 4, 0.0f)); });
  expect_square_sum_gradient_is_2x(t, x);
}

TEST(TapeSafety, AnOutOfRangeClassLabelThrowsAndALaterCrossEntropyBackwardIsCorrect) {
  Tape t;
  Var logits = t.variable(full(2, 3, 1.0f));  // 3 classes
  expect_rejected_and_tape_unchanged(t, "softmax_cross_entropy", [&] {
    softmax_cross_entropy(logits, std::vector<std::int32_t>{0, 7});
  });
  expect_rejected_and_tape_unchanged(t, "softmax_cross_entropy", [&] {
    softmax_cross_entropy(logits, std::vector<std::int32_t>{0, -1});
  });
  // Equal logits: softmax is 1/3 everywhere; the mean loss's gradient is (1/3 - one_hot) / 2.
  Var loss = softmax_cross_entropy(logits, std::vector<std::int32_t>{0, 2});
  EXPECT_NEAR(loss.item(), std::log(3.0f), 1e-6);
  t.backward(loss);
  const Tensor& g = logits.grad();
  for (std::size_t j = 0; j < 3; ++j) {
    EXPECT_NEAR(g(0, j), (1.0f / 3.0f - (j == 0 ? 1.0f : 0.0f)) / 2.0f, 1e-6);
    EXPECT_NEAR(g(1, j), (1.0f / 3.0f - (j == 2 ? 1.0f : 0.0f)) / 2.0f, 1e-6);
  }
}

TEST(TapeSafety, AddAndMulOfNonBroadcastableShapesThrowAndALaterBackwardIsCorrect) {
  Tape t;
  Var x = t.variable(full(3, 4, 1.0f));
  Var y = t.variable(full(2, 4, 1.0f));
  expect_rejected_and_tape_unchanged(t, "add", [&] { add(x, y); });
  expect_rejected_and_tape_unchanged(t, "mul", [&] { mul(x, y); });
  expect_rejected_and_tape_unchanged(t, "add", [&] { x + y; });
  expect_rejected_and_tape_unchanged(t, "mul", [&] { y* x; });
  expect_square_sum_gradient_is_2x(t, x);
}

TEST(TapeSafety, ADenseWithAWrongSizeBiasThrowsThenADenseOnTheSameTapeTrainsAndTheTapeIsReusable) {
  const Tensor x1 = random_tensor(5, 4, 1);
  const Tensor x2 = random_tensor(6, 4, 2);
  Parameter W(random_tensor(4, 3, 3), "W");
  Parameter b(zeros(1, 3), "b");
  // dL/dW of L = sum(x W + b) is x^T . ones(rows x 3): W.grad(i, j) = sum over rows of x(r, i);
  // dL/db = the number of rows.
  auto expect_grads_for = [&](const Tensor& x) {
    for (std::size_t i = 0; i < 4; ++i) {
      float column_sum = 0.0f;
      for (std::size_t r = 0; r < rows(x); ++r) column_sum += x(r, i);
      for (std::size_t j = 0; j < 3; ++j) EXPECT_NEAR(W.grad(i, j), column_sum, 1e-5);
    }
    expect_all(b.grad, static_cast<float>(rows(x)));
  };

  Tape t;
  Var xv = t.constant(x1);
  Var Wv = t.param(W);
  Var wrong_bias = t.variable(zeros(1, 2));  // 1x2 for 3 outputs
  expect_rejected_and_tape_unchanged(t, "dense", [&] { dense(xv, Wv, wrong_bias); });
  Var y = dense(xv, Wv, t.param(b));
  ASSERT_EQ(y.sizes(), (Shape{5, 3}));
  t.backward(sum(y));
  expect_grads_for(x1);

  // A second step on the same tape after clear(): a fresh recording, other batch size.
  t.clear();
  W.zero_grad();
  b.zero_grad();
  Var x2v = t.constant(x2);
  Var W2 = t.param(W);
  Var wrong_bias2 = t.variable(zeros(1, 2));
  expect_rejected_and_tape_unchanged(t, "dense", [&] { dense(x2v, W2, wrong_bias2); });
  EXPECT_EQ(t.size(), 3u);
  t.backward(sum(dense(x2v, W2, t.param(b))));
  expect_grads_for(x2);
}

TEST(TapeSafety, UnderDetectAnomalyALogOfANegativeThrowsAtThatOpAndIsNotKept) {
  Tape t;
  DetectAnomaly anomaly;
  Var x = t.variable(tensor({{1.0f, -2.0f}}));
  const std::size_t before = t.size();
  const std::string message = test::error_of([&] { log(x); });
  EXPECT_NE(message.find("'log'"), std::string::npos) << message;
  EXPECT_NE(message.find("tape entry 1"), std::string::npos) << message;
  EXPECT_EQ(t.size(), before);

  // The next op, unrelated and finite, is not blamed for log's NaN; the tape still trains.
  Var y = t.variable(tensor({{0.5f, -1.0f}}));
  Var e;
  EXPECT_NO_THROW(e = exp(y));
  EXPECT_FLOAT_EQ(e.value()(0, 1), std::exp(-1.0f));
  EXPECT_NO_THROW(t.backward(sum(e)));
  EXPECT_FLOAT_EQ(y.grad()(0, 0), std::exp(0.5f));
  EXPECT_FLOAT_EQ(y.grad()(0, 1), std::exp(-1.0f));
}

TEST(TapeSafety, UnderDetectAnomalyANaNFromTheLastOpOfAForwardPassIsReportedByThatOp) {
  Tape t;
  DetectAnomaly anomaly;
  Var x = t.variable(tensor({{4.0f, 1.0f}}));
  Var h = scale(x, -1.0f);  // finite
  const std::size_t before = t.size();
  // sqrt of a negative as the very last op: no later op reads it, so only sqrt itself can
  // report it.
  const std::string message = test::error_of([&] { sqrt(h); });
  EXPECT_NE(message.find("'sqrt'"), std::string::npos) << message;
  EXPECT_NE(message.find("tape entry 2"), std::string::npos) << message;
  EXPECT_NE(message.find("nan"), std::string::npos) << message;
  EXPECT_EQ(t.size(), before);
}

TEST(TapeSafety, UnderDetectAnomalyANaNGradientInBackwardIsReportedNamingTheOp) {
  Tape t;
  DetectAnomaly anomaly;
  // sqrt at 0 is finite (0) but its derivative 1 / (2 sqrt(x)) is not; with a zero upstream
  // gradient (y * 0) the chain rule gives 0 * inf = NaN for x, as PyTorch does.
  Var x = t.variable(tensor({{0.0f, 4.0f}}));
  Var y = sqrt(x);
  Var loss = sum(scale(y, 0.0f));
  const std::string message = test::error_of([&] { t.backward(loss); });
  EXPECT_NE(message.find("the backward of 'sqrt' (tape entry 1"), std::string::npos) << message;
  EXPECT_NE(message.find("nan"), std::string::npos) << message;
}

TEST(TapeSafety, BatchNormWithOnlyOneOfFixedMeanAndFixedVarThrowsInsteadOfIgnoringIt) {
  Tape t;
  Var x = t.variable(random_tensor(4, 3, 5));
  Var gamma = t.variable(full(1, 3, 1.0f));
  Var beta = t.variable(full(1, 3, 0.0f));
  const Tensor fixed_mean = full(1, 3, 0.5f);
  const Tensor fixed_var = full(1, 3, 4.0f);
  expect_rejected_and_tape_unchanged(
      t, "batch_norm", [&] { batch_norm(x, gamma, beta, 1e-5f, &fixed_mean, nullptr); });
  expect_rejected_and_tape_unchanged(
      t, "batch_norm", [&] { batch_norm(x, gamma, beta, 1e-5f, nullptr, &fixed_var); });

  // With both, they are used: y = (x - 0.5) / sqrt(4 + eps).
  Var eval = batch_norm(x, gamma, beta, 1e-5f, &fixed_mean, &fixed_var);
  EXPECT_NEAR(eval.value()(2, 1), (x.value()(2, 1) - 0.5f) / std::sqrt(4.0f + 1e-5f), 1e-6);
  // With neither, batch statistics; d sum(y) / d beta = the number of rows.
  Var train = batch_norm(x, gamma, beta, 1e-5f);
  t.backward(sum(train));
  expect_all(beta.grad(), 4.0f);
}
