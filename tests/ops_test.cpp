// Every op is gradient-checked (central differences, relative error) on random inputs of a
// non-trivial shape, for all of its inputs; plus its forward on known values.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <thread>

using namespace tg;
using test::error_of;
using test::random_tensor;

namespace {
// Checks a one-input op on a 5x7 input kept at least 0.1 away from 0 (kinks live at 0).
void expect_unary_gradient_correct(Var (*op)(Var), float lo = -3.0f, float hi = 3.0f) {
  auto result = gradcheck([op](Tape&, const std::vector<Var>& in) { return op(in[0]); },
                          {random_tensor(5, 7, 11, lo, hi, 0.1f)});
  EXPECT_TRUE(result) << result.message;
}
}  // namespace

TEST(Matmul, GradientsOfBothFactorsMatchCentralDifferences) {
  auto r = gradcheck([](Tape&, const std::vector<Var>& in) { return matmul(in[0], in[1]); },
                     {random_tensor(4, 6, 1), random_tensor(6, 3, 2)});
  EXPECT_TRUE(r) << r.message;
}

TEST(Dense, GradientsOfInputWeightsAndBiasMatchCentralDifferences) {
  auto r = gradcheck([](Tape&, const std::vector<Var>& in) { return dense(in[0], in[1], in[2]); },
                     {random_tensor(5, 4, 3), random_tensor(4, 3, 4), random_tensor(1, 3, 5)});
  EXPECT_TRUE(r) << r.message;
}

TEST(Dense, WithoutBiasIsXTimesW) {
  Tape tape;
  Var y = dense(tape.constant(tensor({{1, 2}})), tape.constant(tensor({{3}, {4}})));
  EXPECT_FLOAT_EQ(y.item(), 11.0f);
  auto r = gradcheck([](Tape&, const std::vector<Var>& in) { return dense(in[0], in[1]); },
                     {random_tensor(3, 4, 6), random_tensor(4, 2, 7)});
  EXPECT_TRUE(r) << r.message;
}

TEST(Dense, ComputesXTimesWPlusBOnEveryRow) {
  Tape tape;
  Var y = dense(tape.constant(tensor({{1, 2}, {0, 1}})), tape.constant(tensor({{1, 0}, {0, 1}})),
                tape.constant(tensor({{10, 20}})));
  EXPECT_FLOAT_EQ(y.value()(0, 0), 11.0f);
  EXPECT_FLOAT_EQ(y.value()(0, 1), 22.0f);
  EXPECT_FLOAT_EQ(y.value()(1, 1), 21.0f);
}

TEST(Add, GradientsMatchForEqualShapesAndForABroadcastBiasRow) {
  auto same = gradcheck([](Tape&, const std::vector<Var>& in) { return add(in[0], in[1]); },
                        {random_tensor(3, 4, 8), random_tensor(3, 4, 9)});
  EXPECT_TRUE(same) << same.message;
  auto row = gradcheck([](Tape&, const std::vector<Var>& in) { return add(in[0], in[1]); },
                       {random_tensor(3, 4, 8), random_tensor(1, 4, 9)});
  EXPECT_TRUE(row) << row.message;
}

TEST(Sub, GradientsMatchAndTheSecondInputGetsTheNegatedGradient) {
  auto r = gradcheck([](Tape&, const std::vector<Var>& in) { return sub(in[0], in[1]); },
                     {random_tensor(3, 4, 10), random_tensor(1, 4, 11)});
  EXPECT_TRUE(r) << r.message;
}

TEST(Mul, ElementwiseProductGradientsMatch) {
  auto r = gradcheck([](Tape&, const std::vector<Var>& in) { return mul(in[0], in[1]); },
                     {random_tensor(3, 5, 12), random_tensor(3, 5, 13)});
  EXPECT_TRUE(r) << r.message;
}

TEST(Scale, GradientIsTheFactor) {
  auto r = gradcheck([](Tape&, const std::vector<Var>& in) { return scale(in[0], -2.5f); },
                     {random_tensor(3, 5, 14)});
  EXPECT_TRUE(r) << r.message;
}

TEST(SumAndMean, GradientsAreOnesAndOnesOverN) {
  auto s = gradcheck([](Tape&, const std::vector<Var>& in) { return sum(in[0]); },
                     {random_tensor(4, 5, 15)});
  EXPECT_TRUE(s) << s.message;
  auto m = gradcheck([](Tape&, const std::vector<Var>& in) { return mean(in[0]); },
                     {random_tensor(4, 5, 16)});
  EXPECT_TRUE(m) << m.message;
  Tape tape;
  Var x = tape.variable(tensor({{1, 2}, {3, 6}}));
  Var y = mean(x);
  EXPECT_FLOAT_EQ(y.item(), 3.0f);
  tape.backward(y);
  EXPECT_FLOAT_EQ(x.grad()(1, 1), 0.25f);
}

TEST(ExpAndLog, GradientsMatch) {
  expect_unary_gradient_correct(exp, -2.0f, 2.0f);
  expect_unary_gradient_correct(log, 0.2f, 3.0f);
}

TEST(Sigmoid, GradientMatchesAndLargeInputsDoNotOverflow) {
  expect_unary_gradient_correct(sigmoid);
  Tape tape;
  Var y = sigmoid(tape.constant(tensor({{-1000.0f, 0.0f, 1000.0f}})));
  EXPECT_FLOAT_EQ(y.value()(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(y.value()(0, 1), 0.5f);
  EXPECT_FLOAT_EQ(y.value()(0, 2), 1.0f);
}

TEST(Tanh, GradientMatches) {
  expect_unary_gradient_correct(tanh);
}

TEST(Relu, GradientMatchesAwayFromTheKink) {
  expect_unary_gradient_correct(relu);
}

TEST(LeakyRelu, GradientMatchesForTheDefaultAndACustomSlope) {
  expect_unary_gradient_correct([](Var x) { return leaky_relu(x); });
  expect_unary_gradient_correct([](Var x) { return leaky_relu(x, 0.3f); });
}

TEST(Elu, GradientMatchesForTheDefaultAndACustomAlpha) {
  expect_unary_gradient_correct([](Var x) { return elu(x); });
  expect_unary_gradient_correct([](Var x) { return elu(x, 0.5f); });
}

TEST(Softmax, GradientMatches) {
  expect_unary_gradient_correct([](Var x) { return softmax(x); });
}

TEST(LogSoftmax, GradientMatches) {
  expect_unary_gradient_correct([](Var x) { return log_softmax(x); });
}

TEST(Softmax, OfOneThousandZeroAndMinusOneThousandStaysFiniteAndCorrect) {
  Tape tape;
  Var y = softmax(tape.constant(tensor({{1000.0f, 0.0f, -1000.0f}})));
  EXPECT_FLOAT_EQ(y.value()(0, 0), 1.0f);
  EXPECT_FLOAT_EQ(y.value()(0, 1), 0.0f);
  EXPECT_FLOAT_EQ(y.value()(0, 2), 0.0f);
  Var l = log_softmax(tape.constant(tensor({{1000.0f, 0.0f, -1000.0f}})));
  EXPECT_FLOAT_EQ(l.value()(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(l.value()(0, 1), -1000.0f);
  EXPECT_FLOAT_EQ(l.value()(0, 2), -2000.0f);
}

TEST(Step, ForwardIsOneForNonNegativeInputsAndItsTrueGradientIsZeroEverywhere) {
  Tape tape;
  Var x = tape.variable(tensor({{-2.0f, -0.5f, 0.0f, 0.5f, 2.0f}}));
  Var y = step(x);
  EXPECT_FLOAT_EQ(y.value()(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(y.value()(0, 2), 1.0f);
  EXPECT_FLOAT_EQ(y.value()(0, 4), 1.0f);
  tape.backward(sum(y));
  for (float g : x.grad()) EXPECT_EQ(g, 0.0f);
  // ...which is exactly why a gradient check of it refuses to pass: zeros prove nothing.
  auto r = gradcheck([](Tape&, const std::vector<Var>& in) { return step(in[0]); },
                     {random_tensor(3, 4, 17, -3, 3, 0.1f)});
  EXPECT_FALSE(r);
  EXPECT_NE(r.message.find("zero gradient everywhere"), std::string::npos) << r.message;
}

TEST(Step, TheStraightThroughVariantPassesTheGradientWhereTheInputIsWithinOne) {
  Tape tape;
  Var x = tape.variable(tensor({{-2.0f, -0.5f, 0.5f, 2.0f}}));
  tape.backward(sum(step(x, StepGradient::straight_through)));
  EXPECT_FLOAT_EQ(x.grad()(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(x.grad()(0, 1), 1.0f);
  EXPECT_FLOAT_EQ(x.grad()(0, 2), 1.0f);
  EXPECT_FLOAT_EQ(x.grad()(0, 3), 0.0f);
}

TEST(Activation, EveryNameRoundTripsAndUnknownNamesAreListedInTheError) {
  for (auto a : {Activation::relu, Activation::leaky_relu, Activation::elu, Activation::tanh,
                 Activation::sigmoid, Activation::step, Activation::identity})
    EXPECT_EQ(activation_from_name(activation_name(a)), a);
  try {
    activation_from_name("swish");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown name 'swish'"), std::string::npos);
  }
}

// ---- error messages name the op and both shapes ----

TEST(OpErrors, DenseNamesTheInputAndWeightShapes) {
  Tape tape;
  Var x = tape.constant(zeros(64, 785));
  Var W = tape.constant(zeros(784, 256));
  Var b = tape.constant(zeros(1, 256));
  EXPECT_EQ(error_of([&] { dense(x, W, b); }), "dense: input is 64x785 but W is 784x256");
  EXPECT_EQ(error_of([&] { dense(tape.constant(zeros(2, 784)), W, tape.constant(zeros(1, 255))); }),
            "dense: W is 784x256 but b is 1x255 (b must be 1x256)");
}

TEST(OpErrors, MatmulAddAndMulNameBothShapes) {
  Tape tape;
  Var a = tape.constant(zeros(3, 4));
  Var b = tape.constant(zeros(5, 6));
  EXPECT_EQ(error_of([&] { matmul(a, b); }),
            "matmul: a is 3x4 but b is 5x6 (a's columns must equal b's rows)");
  EXPECT_EQ(error_of([&] { add(a, b); }),
            "add: shapes 3x4 and 5x6 do not broadcast (dimension 0 of the result)");
  EXPECT_EQ(error_of([&] { mul(a, b); }),
            "mul: shapes 3x4 and 5x6 do not broadcast (dimension 0 of the result)");
}

TEST(Threads, DenseForwardAndBackwardAreBitIdenticalForOneAndTwoThreads) {
  // The MLP's shapes, batch 64 and a ragged 50: the pool splits GEMM rows, never the k-loop.
  const std::size_t shapes[][3] = {{64, 784, 256},  {64, 256, 128},    {64, 128, 10},
                                   {50, 784, 256},  {256, 784, 256},   {64, 784, 1024},
                                   {64, 1024, 512}, {128, 2048, 1024}, {64, 300, 200}};
  for (const auto& s : shapes) {
    Tensor results[2][4];
    for (std::size_t threads : {1u, 2u}) {
      set_num_threads(threads);
      Tape tape;
      Var x = tape.variable(random_tensor(s[0], s[1], 70));
      Var W = tape.variable(random_tensor(s[1], s[2], 71));
      Var b = tape.variable(random_tensor(1, s[2], 72));
      Var y = dense(x, W, b);
      tape.backward(y, random_tensor(s[0], s[2], 73));
      Tensor* out = results[threads - 1];
      out[0] = y.value();
      out[1] = x.grad();
      out[2] = W.grad();
      out[3] = b.grad();
    }
    set_num_threads(1);
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(std::memcmp(results[0][i].data(), results[1][i].data(),
                            results[0][i].size() * sizeof(float)),
                0)
          << "shape " << s[0] << "x" << s[1] << "x" << s[2] << " output " << i;
  }
  EXPECT_EQ(num_threads(), 1u);
}

TEST(Threads, AThreadCountAboveFourPerCoreIsRefusedBeforeAnyThreadStarts) {
  set_num_threads(2);
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t bad :
       {kMaxThreadsPerCore * cores + 1, std::size_t{1000000}, static_cast<std::size_t>(-1)}) {
    const std::string message = error_of([&] { set_num_threads(bad); });
    EXPECT_NE(message.find("set_num_threads: " + std::to_string(bad) + " threads"),
              std::string::npos)
        << message;
  }
  EXPECT_EQ(num_threads(), 2u);  // the pool that was there is untouched and still works
  Tape tape;
  Var y =
      dense(tape.constant(random_tensor(64, 784, 1)), tape.constant(random_tensor(784, 256, 2)));
  EXPECT_EQ(y.shape(), "64x256");
  set_num_threads(1);
}
