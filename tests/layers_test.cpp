// Layers: gradient-checked (inputs and parameters), modes, naming, saved state.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace tg;
using test::random_tensor;

namespace {
std::vector<Parameter*> params_of(Module& m) {
  return m.parameters();
}
}  // namespace

TEST(DenseLayer, GradientsOfInputWeightAndBiasMatchCentralDifferences) {
  Rng rng(1);
  Dense layer(5, 3, rng);
  auto r = gradcheck([&](Tape&, const std::vector<Var>& in) { return layer(in[0]); },
                     {random_tensor(4, 5, 50)}, params_of(layer));
  EXPECT_TRUE(r) << r.message;
}

TEST(DenseLayer, WithoutBiasHasOnlyAWeight) {
  Rng rng(1);
  Dense layer(5, 3, rng, {.bias = false});
  ASSERT_EQ(layer.parameters().size(), 1u);
  auto r = gradcheck([&](Tape&, const std::vector<Var>& in) { return layer(in[0]); },
                     {random_tensor(4, 5, 51)}, params_of(layer));
  EXPECT_TRUE(r) << r.message;
}

TEST(DenseLayer, AnInputWithTheWrongNumberOfFeaturesNamesBothShapes) {
  Rng rng(1);
  Dense layer(784, 256, rng);
  Tape tape;
  try {
    layer(tape.constant(zeros(64, 785)));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "dense: input is 64x785 but W is 784x256");
  }
}

TEST(ActivationLayers, EachIsGradientCheckedBehindADenseLayer) {
  std::vector<std::unique_ptr<Module>> acts;
  acts.push_back(std::make_unique<ReLU>());
  acts.push_back(std::make_unique<LeakyReLU>(0.1f));
  acts.push_back(std::make_unique<ELU>(0.7f));
  acts.push_back(std::make_unique<Sigmoid>());
  acts.push_back(std::make_unique<Tanh>());
  acts.push_back(std::make_unique<Softmax>());
  acts.push_back(std::make_unique<LogSoftmax>());
  for (auto& act : acts) {
    Rng rng(2);
    Dense layer(4, 6, rng, {.init = Init::xavier_uniform});
    auto r = gradcheck([&](Tape&, const std::vector<Var>& in) { return (*act)(layer(in[0])); },
                       {random_tensor(5, 4, 52)}, params_of(layer));
    EXPECT_TRUE(r) << act->describe() << ": " << r.message;
  }
}

TEST(BatchNorm1d, IsGradientCheckedInTrainingModeWithALayerBeforeIt) {
  // With nothing before it, a wrong input gradient of BN would go unnoticed: the dense layer's
  // weight gradient is where it shows. (No bias before BN: BN subtracts the batch mean, so a
  // bias there has a gradient of exactly zero, and is useless in practice too.)
  Rng rng(3);
  Dense before(4, 5, rng, {.bias = false, .init = Init::xavier_uniform});
  BatchNorm1d bn(5);
  bn.weight.value = random_tensor(1, 5, 53, 0.5f, 1.5f);
  bn.bias.value = random_tensor(1, 5, 54);
  std::vector<Parameter*> params = params_of(before);
  for (Parameter* p : params_of(bn)) params.push_back(p);
  auto r = gradcheck([&](Tape&, const std::vector<Var>& in) { return tanh(bn(before(in[0]))); },
                     {random_tensor(8, 4, 55)}, params);
  EXPECT_TRUE(r) << r.message;
}

TEST(BatchNorm1d, IsGradientCheckedInEvaluationModeWithItsRunningStatistics) {
  Rng rng(4);
  Dense before(4, 5, rng, {.init = Init::xavier_uniform});
  BatchNorm1d bn(5);
  bn.running_mean = random_tensor(1, 5, 56);
  bn.running_var = random_tensor(1, 5, 57, 0.5f, 2.0f);
  bn.eval();
  std::vector<Parameter*> params = params_of(before);
  for (Parameter* p : params_of(bn)) params.push_back(p);
  auto r = gradcheck([&](Tape&, const std::vector<Var>& in) { return tanh(bn(before(in[0]))); },
                     {random_tensor(3, 4, 58)}, params);
  EXPECT_TRUE(r) << r.message;
}

TEST(BatchNorm1d, InTrainingModeEachFeatureGetsMeanZeroAndVarianceOne) {
  BatchNorm1d bn(3);
  Tape tape;
  Tensor x = random_tensor(256, 3, 59, -5.0f, 20.0f);
  Tensor y = bn(tape.constant(x)).value();
  for (std::size_t j = 0; j < 3; ++j) {
    double mean = 0, var = 0;
    for (std::size_t i = 0; i < 256; ++i) mean += y(i, j);
    mean /= 256;
    for (std::size_t i = 0; i < 256; ++i) var += (y(i, j) - mean) * (y(i, j) - mean);
    var /= 256;
    EXPECT_NEAR(mean, 0.0, 1e-5);
    EXPECT_NEAR(var, 1.0, 1e-3);
  }
}

TEST(BatchNorm1d, RunningStatisticsApproachTheDatasMeanAndVariance) {
  BatchNorm1d bn(2);
  Rng rng(5);
  for (int step = 0; step < 200; ++step) {
    Tensor x = zeros(64, 2);
    for (std::size_t i = 0; i < 64; ++i) {
      x(i, 0) = rng.normal(3.0f, 2.0f);   // mean 3, variance 4
      x(i, 1) = rng.normal(-1.0f, 0.5f);  // mean -1, variance 0.25
    }
    Tape tape;
    bn(tape.constant(x));
  }
  EXPECT_NEAR(bn.running_mean(0, 0), 3.0f, 0.15f);
  EXPECT_NEAR(bn.running_var(0, 0), 4.0f, 0.4f);
  EXPECT_NEAR(bn.running_mean(0, 1), -1.0f, 0.05f);
  EXPECT_NEAR(bn.running_var(0, 1), 0.25f, 0.03f);
}

TEST(BatchNorm1d, EvaluationModeUsesTheRunningStatisticsNotTheBatch) {
  BatchNorm1d bn(1);
  bn.running_mean(0, 0) = 2.0f;
  bn.running_var(0, 0) = 4.0f;
  bn.eval();
  Tape tape;
  Var y = bn(tape.constant(tensor({{2.0f}, {6.0f}})));
  EXPECT_NEAR(y.value()(0, 0), 0.0f, 1e-5f);
  EXPECT_NEAR(y.value()(1, 0), 2.0f, 1e-4f);  // (6 - 2) / sqrt(4)
}

TEST(BatchNorm1d, TrainingOnASingleRowIsAClearError) {
  BatchNorm1d bn(4);
  Tape tape;
  EXPECT_THROW(bn(tape.constant(zeros(1, 4))), Error);
}

TEST(Dropout, IsTheIdentityInEvaluationMode) {
  Dropout drop(0.5f, 1);
  drop.eval();
  Tape tape;
  Tensor x = random_tensor(4, 4, 60);
  Var y = drop(tape.constant(x));
  EXPECT_EQ(y.value(), x);
}

TEST(Dropout, KeepsTheExpectedValueInTraining) {
  Dropout drop(0.3f, 2);
  Tape tape;
  Var y = drop(tape.constant(full(200, 200, 1.0f)));
  double mean = 0;
  std::size_t zeros_seen = 0;
  for (float v : y.value()) {
    mean += v;
    zeros_seen += v == 0.0f;
  }
  mean /= 40000.0;
  EXPECT_NEAR(mean, 1.0, 0.02);
  EXPECT_NEAR(zeros_seen / 40000.0, 0.3, 0.01);
}

TEST(Dropout, TheSameSeedGivesTheSameMask) {
  Dropout a(0.5f, 7), b(0.5f, 7), c(0.5f, 8);
  Tape tape;
  Tensor x = full(10, 10, 1.0f);
  EXPECT_EQ(a(tape.constant(x)).value(), b(tape.constant(x)).value());
  EXPECT_NE(a(tape.constant(x)).value(), c(tape.constant(x)).value());
}

TEST(Dropout, GradientFlowsOnlyThroughKeptUnits) {
  auto r = gradcheck(
      [](Tape&, const std::vector<Var>& in) {
        Rng rng(9);  // the same mask on every evaluation
        return dropout(in[0], 0.4f, rng);
      },
      {random_tensor(6, 5, 61)});
  EXPECT_TRUE(r) << r.message;
}

namespace {
Sequential make_mlp(std::uint64_t seed) {
  Rng rng(seed);
  Sequential net;
  net.add<Dense>(4, 8, rng);
  net.add<Tanh>();  // smooth, so the end-to-end central differences never straddle a kink
  net.add<BatchNorm1d>(8);
  net.add<Dropout>(0.25f, seed);
  net.add<Dense>(8, 3, rng);
  return net;
}
}  // namespace

TEST(Sequential, NamesParametersByPositionLikeZeroDotWeight) {
  Sequential net = make_mlp(1);
  std::vector<std::string> names;
  for (auto& [name, p] : net.named_parameters()) {
    names.push_back(name);
    EXPECT_EQ(p->name, name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias", "4.weight",
                                             "4.bias"}));
}

TEST(Sequential, TrainAndEvalReachEveryLayer) {
  Sequential net = make_mlp(1);
  net.eval();
  for (std::size_t i = 0; i < net.size(); ++i) EXPECT_FALSE(net[i].training());
  net.train();
  for (std::size_t i = 0; i < net.size(); ++i) EXPECT_TRUE(net[i].training());
}

TEST(Sequential, TheSummaryListsLayersShapesAndTheParameterCount) {
  Sequential net = make_mlp(1);
  const std::string s = summary(net, 4);
  EXPECT_NE(s.find("Dense(4 -> 8, bias, he_normal)"), std::string::npos) << s;
  EXPECT_NE(s.find("batch x 3"), std::string::npos) << s;
  // 4*8+8 + 8+8 (BN) + 8*3+3
  EXPECT_NE(s.find("total parameters: 83"), std::string::npos) << s;
  EXPECT_EQ(parameter_count(net), 83u);
  EXPECT_THROW(summary(net, 5), Error);
}

TEST(Sequential, IsGradientCheckedEndToEndInEvaluationMode) {
  Sequential net = make_mlp(2);
  net.eval();
  auto r = gradcheck([&](Tape&, const std::vector<Var>& in) { return net(in[0]); },
                     {random_tensor(5, 4, 62)}, net.parameters());
  EXPECT_TRUE(r) << r.message;
}

TEST(ModelState, RoundTripsParametersBuffersAndRngs) {
  Sequential a = make_mlp(1), b = make_mlp(2);
  {
    Tape tape;
    a(tape.constant(random_tensor(16, 4, 63)));  // moves BN stats and the dropout RNG
  }
  load_model_state(b, model_state(a));
  Tape tape;
  Tensor x = random_tensor(16, 4, 64);
  EXPECT_EQ(a(tape.constant(x)).value(), b(tape.constant(x)).value());
}

TEST(ModelState, ADifferentArchitectureNamesTheFirstMismatchingTensorAndChangesNothing) {
  Sequential model = make_mlp(1);
  Rng rng(3);
  Sequential other;
  other.add<Dense>(4, 9, rng);
  const Tensor before = model.named_parameters()[0].second->value;
  try {
    load_model_state(model, model_state(other), "ckpt.tg");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "ckpt.tg: tensor '0.weight' is 4x9 in the saved state but 4x8 in the model");
  }
  EXPECT_EQ(model.named_parameters()[0].second->value, before);
}
