// Optimizers against PyTorch, learning from scratch, saving and resuming, schedules, clipping.
//
// The PyTorch trajectories live in tests/fixtures/optim_reference.txt, made by
// scripts/make_optim_reference.py: W (3x4) and b (1x4) trained for 10 steps by each optimizer
// configuration on sum((A * W - TW)^2) + sum((B * b - Tb)^2), a quadratic with a different
// curvature per element. Here tapegrad computes the same loss and gradient with its own ops
// (whose gradient is bit-identical to PyTorch's for this loss; see the script) and must land
// on the same W and b after every step.
#include "tapegrad/tapegrad.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace tg;

namespace {

// ---- the PyTorch reference ----

struct ReferenceCase {
  std::string optimizer;                  // sgd, rmsprop, adam, adamw
  std::map<std::string, double> options;  // only those that differ from the defaults
  std::vector<std::vector<float>> steps;  // W (12 values) then b (4 values), per step
};

struct Reference {
  std::map<std::string, Tensor> tensors;  // A, B, TW, Tb and the initial W and b
  std::map<std::string, ReferenceCase> cases;
  const Tensor& operator[](const std::string& name) const { return tensors.at(name); }
};

Tensor read_tensor(std::istringstream& in) {
  std::size_t r = 0, c = 0;
  in >> r >> c;
  Tensor t = zeros(r, c);
  for (float& v : t) in >> v;
  return t;
}

const Reference& reference() {
  static const Reference ref = [] {
    Reference out;
    const std::string path =
        std::string(TAPEGRAD_SOURCE_DIR) + "/tests/fixtures/optim_reference.txt";
    std::ifstream file(path);
    if (!file) throw Error("cannot open " + path);
    std::string line;
    ReferenceCase* current = nullptr;
    while (std::getline(file, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream in(line);
      std::string kind;
      in >> kind;
      if (kind == "tensor") {
        std::string name;
        in >> name;
        out.tensors[name] = read_tensor(in);
      } else if (kind == "case") {
        std::string name;
        in >> name;
        current = &out.cases[name];
        in >> current->optimizer;
        std::string option;
        while (in >> option) {
          const auto eq = option.find('=');
          current->options[option.substr(0, eq)] = std::stod(option.substr(eq + 1));
        }
      } else if (kind == "step") {
        int k = 0;
        in >> k;
        std::vector<float> values(16);
        for (float& v : values) in >> v;
        if (!in || !current) throw Error("bad step line in " + path + ": " + line);
        current->steps.push_back(values);
      } else {
        throw Error("unknown line in " + path + ": " + line);
      }
    }
    return out;
  }();
  return ref;
}

// Builds the optimizer a fixture case names, from tapegrad's defaults plus the listed options.
std::unique_ptr<Optimizer> make_optimizer(const ReferenceCase& c, std::vector<Parameter*> params) {
  auto get = [&](const char* key, double fallback) {
    auto it = c.options.find(key);
    return it == c.options.end() ? fallback : it->second;
  };
  if (c.optimizer == "sgd") {
    SGDOptions o;
    o.lr = get("lr", o.lr);
    o.momentum = get("momentum", o.momentum);
    o.dampening = get("dampening", o.dampening);
    o.nesterov = get("nesterov", o.nesterov) != 0.0;
    o.weight_decay = get("weight_decay", o.weight_decay);
    return std::make_unique<SGD>(params, o);
  }
  if (c.optimizer == "rmsprop") {
    RMSpropOptions o;
    o.lr = get("lr", o.lr);
    o.alpha = get("alpha", o.alpha);
    o.eps = get("eps", o.eps);
    o.weight_decay = get("weight_decay", o.weight_decay);
    o.momentum = get("momentum", o.momentum);
    o.centered = get("centered", o.centered) != 0.0;
    return std::make_unique<RMSprop>(params, o);
  }
  if (c.optimizer == "adam") {
    AdamOptions o;
    o.lr = get("lr", o.lr);
    o.beta1 = get("beta1", o.beta1);
    o.beta2 = get("beta2", o.beta2);
    o.eps = get("eps", o.eps);
    o.weight_decay = get("weight_decay", o.weight_decay);
    o.amsgrad = get("amsgrad", o.amsgrad) != 0.0;
    return std::make_unique<Adam>(params, o);
  }
  if (c.optimizer == "adamw") {
    AdamWOptions o;
    o.lr = get("lr", o.lr);
    o.beta1 = get("beta1", o.beta1);
    o.beta2 = get("beta2", o.beta2);
    o.eps = get("eps", o.eps);
    o.weight_decay = get("weight_decay", o.weight_decay);
    o.amsgrad = get("amsgrad", o.amsgrad) != 0.0;
    return std::make_unique<AdamW>(params, o);
  }
  throw Error("unknown optimizer " + c.optimizer);
}

// One training step on the reference problem: the gradient of
// sum((A * W - TW)^2) + sum((B * b - Tb)^2) by tapegrad's own ops, then the optimizer's update.
void reference_step(Tape& tape, Parameter& W, Parameter& b, Optimizer& opt) {
  const Reference& ref = reference();
  tape.clear();
  opt.zero_grad();
  Var w_loss = mse(mul(tape.constant(ref["A"]), tape.param(W)), ref["TW"], Reduction::sum);
  Var b_loss = mse(mul(tape.constant(ref["B"]), tape.param(b)), ref["Tb"], Reduction::sum);
  tape.backward(add(w_loss, b_loss));
  opt.step();
}

// Trains the reference problem with the optimizer of case `name` and checks W and b after
// each of the 10 steps against PyTorch's, to 1e-6 relative. Some values pass near zero, where
// a relative error means nothing, so the denominator is max(|a|, |b|, 1e-3).
void expect_matches_pytorch(const std::string& name) {
  const Reference& ref = reference();
  ASSERT_TRUE(ref.cases.count(name)) << "no case " << name << " in the fixture";
  const ReferenceCase& c = ref.cases.at(name);
  ASSERT_EQ(c.steps.size(), 10u);
  Parameter W(ref["W"], "W"), b(ref["b"], "b");
  auto opt = make_optimizer(c, {&W, &b});
  Tape tape;
  double worst = 0.0;
  int exact = 0, total = 0;
  for (std::size_t k = 0; k < c.steps.size(); ++k) {
    reference_step(tape, W, b, *opt);
    for (std::size_t j = 0; j < 16; ++j) {
      const float ours = j < 12 ? W.value.data()[j] : b.value.data()[j - 12];
      const float torch = c.steps[k][j];
      const double denom = std::max({std::fabs(double(ours)), std::fabs(double(torch)), 1e-3});
      const double err = std::fabs(double(ours) - double(torch)) / denom;
      worst = std::max(worst, err);
      exact += ours == torch;
      ++total;
      EXPECT_LE(err, 1e-6) << name << ": step " << k + 1 << ", " << (j < 12 ? "W" : "b")
                           << " element " << (j < 12 ? j : j - 12) << ": tapegrad " << ours
                           << ", PyTorch " << torch;
    }
  }
  ::testing::Test::RecordProperty("worst_relative_error", std::to_string(worst));
  std::printf("    %s: %d of %d values bit-identical, worst relative error %.3g\n", name.c_str(),
              exact, total, worst);
}

}  // namespace

// ---- every optimizer and option against PyTorch 1.13 ----

TEST(OptimReference, EveryCaseInTheFixtureHasTenStepsOfAllSixteenValues) {
  const Reference& ref = reference();
  EXPECT_EQ(ref.cases.size(), 18u);
  for (const auto& [name, c] : ref.cases) {
    EXPECT_EQ(c.steps.size(), 10u) << name;
    for (const auto& s : c.steps) EXPECT_EQ(s.size(), 16u) << name;
  }
}

TEST(Sgd, PlainStepsMatchPyTorch) {
  expect_matches_pytorch("sgd_plain");
}
TEST(Sgd, MomentumStepsMatchPyTorchWithTheFirstBufferEqualToTheGradient) {
  expect_matches_pytorch("sgd_momentum");
}
TEST(Sgd, NesterovMomentumStepsMatchPyTorch) {
  expect_matches_pytorch("sgd_nesterov");
}
TEST(Sgd, WeightDecayStepsMatchPyTorch) {
  expect_matches_pytorch("sgd_weight_decay");
}
TEST(Sgd, DampenedMomentumStepsMatchPyTorch) {
  expect_matches_pytorch("sgd_dampening");
}
TEST(Sgd, NesterovWithWeightDecayMatchesPyTorch) {
  expect_matches_pytorch("sgd_all");
}

TEST(RmsProp, DefaultStepsMatchPyTorch) {
  expect_matches_pytorch("rmsprop_plain");
}
TEST(RmsProp, MomentumStepsMatchPyTorch) {
  expect_matches_pytorch("rmsprop_momentum");
}
TEST(RmsProp, CenteredStepsMatchPyTorch) {
  expect_matches_pytorch("rmsprop_centered");
}
TEST(RmsProp, WeightDecayStepsMatchPyTorch) {
  expect_matches_pytorch("rmsprop_weight_decay");
}
TEST(RmsProp, AllOptionsTogetherMatchPyTorch) {
  expect_matches_pytorch("rmsprop_all");
}

TEST(Adam, FirstTenStepsMatchPyTorchWithBiasCorrection) {
  expect_matches_pytorch("adam_plain");
}
TEST(Adam, AmsgradStepsMatchPyTorch) {
  expect_matches_pytorch("adam_amsgrad");
}
TEST(Adam, CoupledWeightDecayStepsMatchPyTorch) {
  expect_matches_pytorch("adam_weight_decay");
}
TEST(Adam, AllOptionsTogetherMatchPyTorch) {
  expect_matches_pytorch("adam_all");
}

TEST(AdamW, DefaultsMatchPyTorch) {
  expect_matches_pytorch("adamw_default");
}
TEST(AdamW, DecoupledWeightDecayStepsMatchPyTorch) {
  expect_matches_pytorch("adamw_plain");
}
TEST(AdamW, AmsgradWithStrongerDecayMatchesPyTorch) {
  expect_matches_pytorch("adamw_amsgrad");
}

// ---- learning from scratch ----

namespace {

// A 2-4-1 tanh network: xavier-uniform weights from a seeded Rng, zero biases.
struct XorNet {
  Parameter W1, b1, W2, b2;
  explicit XorNet(std::uint64_t seed) {
    Rng rng(seed);
    W1 = Parameter(initialize(Init::xavier_uniform, 2, 4, rng), "W1");
    b1 = Parameter(zeros(1, 4), "b1");
    W2 = Parameter(initialize(Init::xavier_uniform, 4, 1, rng), "W2");
    b2 = Parameter(zeros(1, 1), "b2");
  }
  std::vector<Parameter*> params() { return {&W1, &b1, &W2, &b2}; }
};

// Trains XOR (mean squared error of the raw output against 0/1 targets) for `steps` full-batch
// steps and returns the final loss, after checking that the untrained net does not solve it.
float train_xor(XorNet& net, Optimizer& opt, int steps) {
  const Tensor x = tensor({{0, 0}, {0, 1}, {1, 0}, {1, 1}});
  const Tensor y = tensor({{0}, {1}, {1}, {0}});
  Tape tape;
  float loss = 0.0f;
  for (int i = 0; i < steps; ++i) {
    tape.clear();
    opt.zero_grad();
    Var h = tg::tanh(dense(tape.constant(x), tape.param(net.W1), tape.param(net.b1)));
    Var out = dense(h, tape.param(net.W2), tape.param(net.b2));
    Var l = mse(out, y);
    loss = l.item();
    if (i == 0) {
      EXPECT_GT(loss, 0.1f) << "the untrained network already fits XOR";
    }
    tape.backward(l);
    opt.step();
  }
  return loss;
}

// 200 samples of 3 standard-normal features, y = x . (1.5, -2, 0.5) + 0.3 exactly.
struct LinearData {
  Tensor x = zeros(200, 3), y = zeros(200, 1);
  LinearData() {
    Rng rng(7);
    for (float& v : x) v = rng.normal();
    for (std::size_t i = 0; i < 200; ++i)
      y(i, 0) = 1.5f * x(i, 0) - 2.0f * x(i, 1) + 0.5f * x(i, 2) + 0.3f;
  }
};

// Fits W (3x1) and b (1x1), both starting at zero, and checks they recover the true values.
void expect_linear_regression_recovers_weights(
    const std::function<std::unique_ptr<Optimizer>(std::vector<Parameter*>)>& make, int steps) {
  const LinearData data;
  Parameter W(zeros(3, 1), "W"), b(zeros(1, 1), "b");
  auto opt = make({&W, &b});
  Tape tape;
  for (int i = 0; i < steps; ++i) {
    tape.clear();
    opt->zero_grad();
    tape.backward(mse(dense(tape.constant(data.x), tape.param(W), tape.param(b)), data.y));
    opt->step();
  }
  EXPECT_NEAR(W.value(0, 0), 1.5f, 1e-3f);
  EXPECT_NEAR(W.value(1, 0), -2.0f, 1e-3f);
  EXPECT_NEAR(W.value(2, 0), 0.5f, 1e-3f);
  EXPECT_NEAR(b.value(0, 0), 0.3f, 1e-3f);
}

}  // namespace

TEST(Adam, LearnsXorWithATwoFourOneTanhNetwork) {
  XorNet net(1);
  AdamOptions o;
  o.lr = 0.05;
  Adam opt(net.params(), o);
  EXPECT_LT(train_xor(net, opt, 500), 0.01f);
}

TEST(Sgd, WithMomentumLearnsXorWithATwoFourOneTanhNetwork) {
  XorNet net(1);
  SGDOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  SGD opt(net.params(), o);
  EXPECT_LT(train_xor(net, opt, 1000), 0.01f);
}

TEST(RmsProp, LearnsXorWithATwoFourOneTanhNetwork) {
  XorNet net(1);
  RMSpropOptions o;
  o.lr = 0.01;
  RMSprop opt(net.params(), o);
  EXPECT_LT(train_xor(net, opt, 1000), 0.01f);
}

TEST(Sgd, LinearRegressionRecoversTheTrueWeightsAndBias) {
  expect_linear_regression_recovers_weights(
      [](std::vector<Parameter*> p) {
        SGDOptions o;
        o.lr = 0.1;
        return std::make_unique<SGD>(p, o);
      },
      300);
}

TEST(Adam, LinearRegressionRecoversTheTrueWeightsAndBias) {
  expect_linear_regression_recovers_weights(
      [](std::vector<Parameter*> p) {
        AdamOptions o;
        o.lr = 0.02;
        return std::make_unique<Adam>(p, o);
      },
      1000);
}

// ---- saving and resuming ----

namespace {

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(std::vector<Parameter*>)>;

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
}

// Ten uninterrupted steps against five steps, state() into a StateDict, a fresh optimizer
// (with another lr, which the state must restore) that loads it, and five more steps.
void expect_resuming_is_bit_identical(const MakeOptimizer& make) {
  const Reference& ref = reference();
  Tape tape;
  Parameter W(ref["W"], "W"), b(ref["b"], "b");
  auto straight = make({&W, &b});
  for (int i = 0; i < 10; ++i) reference_step(tape, W, b, *straight);

  Parameter W1(ref["W"], "W"), b1(ref["b"], "b");
  auto first = make({&W1, &b1});
  for (int i = 0; i < 5; ++i) reference_step(tape, W1, b1, *first);
  const StateDict saved = first->state();
  EXPECT_EQ(saved.integer("step"), 5);

  Parameter W2(W1.value, "W"), b2(b1.value, "b");
  auto resumed = make({&W2, &b2});
  resumed->set_lr(123.0);
  resumed->load_state(saved);
  EXPECT_EQ(resumed->lr(), first->lr());
  EXPECT_EQ(resumed->steps(), 5);
  for (int i = 0; i < 5; ++i) reference_step(tape, W2, b2, *resumed);
  EXPECT_TRUE(same_bits(W2.value, W.value)) << straight->type();
  EXPECT_TRUE(same_bits(b2.value, b.value)) << straight->type();
}

// The message of the tg::Error that `f` throws ("" if none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Sgd, ResumingFromSavedStateContinuesBitIdentically) {
  expect_resuming_is_bit_identical([](std::vector<Parameter*> p) {
    SGDOptions o;
    o.lr = 0.1;
    o.momentum = 0.9;
    o.nesterov = true;
    return std::make_unique<SGD>(p, o);
  });
}

TEST(RmsProp, ResumingFromSavedStateContinuesBitIdentically) {
  expect_resuming_is_bit_identical([](std::vector<Parameter*> p) {
    RMSpropOptions o;
    o.momentum = 0.5;
    o.centered = true;
    return std::make_unique<RMSprop>(p, o);
  });
}

TEST(Adam, ResumingFromSavedStateContinuesBitIdenticallyIncludingBiasCorrection) {
  expect_resuming_is_bit_identical([](std::vector<Parameter*> p) {
    AdamOptions o;
    o.lr = 0.05;
    o.amsgrad = true;
    return std::make_unique<Adam>(p, o);
  });
}

TEST(AdamW, ResumingFromSavedStateContinuesBitIdentically) {
  expect_resuming_is_bit_identical([](std::vector<Parameter*> p) {
    AdamWOptions o;
    o.lr = 0.05;
    return std::make_unique<AdamW>(p, o);
  });
}

TEST(Adam, StateNamesTheStepTheLrAndEachParametersBuffers) {
  Parameter W(zeros(3, 4), "W"), b(zeros(1, 4), "b");
  AdamOptions o;
  o.amsgrad = true;
  Adam opt({&W, &b}, o);
  const StateDict s = opt.state();
  EXPECT_EQ(s.text("type"), "Adam");
  EXPECT_EQ(s.integer("step"), 0);
  EXPECT_EQ(s.real("lr"), 1e-3);
  for (const char* name : {"0.exp_avg", "0.exp_avg_sq", "0.max_exp_avg_sq"})
    EXPECT_EQ(s.tensor(name).shape(), W.value.shape()) << name;
  for (const char* name : {"1.exp_avg", "1.exp_avg_sq", "1.max_exp_avg_sq"})
    EXPECT_EQ(s.tensor(name).shape(), b.value.shape()) << name;
  EXPECT_EQ(s.tensors.size(), 6u);
}

TEST(Adam, LoadStateWithAWrongShapeThrowsNamingTheEntryAndChangesNothing) {
  const Reference& ref = reference();
  Parameter W(ref["W"], "W"), b(ref["b"], "b");
  AdamOptions o;
  o.lr = 0.05;
  o.amsgrad = true;
  Adam opt({&W, &b}, o);
  Tape tape;
  for (int i = 0; i < 2; ++i) reference_step(tape, W, b, opt);
  const StateDict before = opt.state();

  // Every other entry is valid but different, and the bad one is checked last, so a loader
  // that changed things while checking would be caught.
  StateDict bad = before;
  bad.integers["step"] = 99;
  bad.reals["lr"] = 0.5;
  std::fill(bad.tensors["0.exp_avg"].begin(), bad.tensors["0.exp_avg"].end(), 7.0f);
  bad.tensors["1.max_exp_avg_sq"] = zeros(4, 1);
  const std::string message = error_of([&] { opt.load_state(bad); });
  EXPECT_NE(message.find("'1.max_exp_avg_sq' is 4x1"), std::string::npos) << message;
  EXPECT_NE(message.find("1x4"), std::string::npos) << message;

  const StateDict after = opt.state();
  EXPECT_EQ(after.integer("step"), 2);
  EXPECT_EQ(after.real("lr"), 0.05);
  for (const auto& [name, t] : before.tensors)
    EXPECT_TRUE(same_bits(after.tensor(name), t)) << name;
}

TEST(Adam, LoadStateRejectsMissingUnknownAndForeignEntries) {
  Parameter W(zeros(3, 4), "W"), b(zeros(1, 4), "b");
  Adam opt({&W, &b});
  const StateDict good = opt.state();

  StateDict missing = good;
  missing.tensors.erase("1.exp_avg_sq");
  EXPECT_NE(error_of([&] { opt.load_state(missing); }).find("1.exp_avg_sq"), std::string::npos);

  StateDict unknown = good;
  unknown.tensors["2.exp_avg"] = zeros(3, 4);
  EXPECT_NE(error_of([&] { opt.load_state(unknown); }).find("2.exp_avg"), std::string::npos);

  SGD sgd({&W, &b}, SGDOptions{0.1, 0.9});
  const std::string foreign = error_of([&] { opt.load_state(sgd.state()); });
  EXPECT_NE(foreign.find("'SGD', not 'Adam'"), std::string::npos) << foreign;

  EXPECT_EQ(error_of([&] { opt.load_state(good); }), "");
}

TEST(Optimizer, StepThrowsWhenAGradientHasTheWrongShape) {
  Parameter W(zeros(3, 4), "W");
  SGD opt({&W}, SGDOptions{0.1});
  W.grad = zeros(4, 3);
  const std::string message = error_of([&] { opt.step(); });
  EXPECT_NE(message.find("'W' is 3x4 but its grad is 4x3"), std::string::npos) << message;
}

TEST(Optimizer, ZeroGradClearsEveryParametersGradient) {
  Parameter W(zeros(2, 2), "W"), b(zeros(1, 2), "b");
  W.grad = full(2, 2, 3.0f);
  b.grad = full(1, 2, -1.0f);
  SGD opt({&W, &b});
  opt.zero_grad();
  for (float g : W.grad) EXPECT_EQ(g, 0.0f);
  for (float g : b.grad) EXPECT_EQ(g, 0.0f);
}

TEST(Sgd, NesterovWithoutMomentumIsRejectedAsInPyTorch) {
  Parameter W(zeros(2, 2));
  SGDOptions o;
  o.nesterov = true;
  EXPECT_THROW(SGD({&W}, o), Error);
}

// ---- learning-rate schedules ----

namespace {
// An optimizer to schedule: SGD with lr 0.1 on one parameter.
struct Scheduled {
  Parameter p{zeros(1, 1), "p"};
  SGD opt{{&p}, SGDOptions{0.1}};
};
}  // namespace

TEST(StepDecay, MultipliesTheLrByGammaEveryStepSizeEpochs) {
  Scheduled s;
  StepDecay schedule(s.opt, 3, 0.5);
  const double expected[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025};
  for (int epoch = 0; epoch < 8; ++epoch) {
    EXPECT_DOUBLE_EQ(s.opt.lr(), expected[epoch]) << "epoch " << epoch;
    EXPECT_DOUBLE_EQ(schedule.lr(), expected[epoch]) << "epoch " << epoch;
    schedule.step();
  }
}

TEST(ExponentialDecay, LrAtEpochEIsBaseTimesGammaToTheE) {
  Scheduled s;
  ExponentialDecay schedule(s.opt, 0.9);
  double expected = 0.1;
  for (int epoch = 0; epoch < 20; ++epoch) {
    EXPECT_NEAR(s.opt.lr(), expected, 1e-15) << "epoch " << epoch;
    schedule.step();
    expected *= 0.9;
  }
}

TEST(CosineAnnealing, FallsFromBaseToEtaMinAlongHalfACosine) {
  Scheduled s;
  CosineAnnealing schedule(s.opt, 10, 0.01);
  for (int epoch = 0; epoch <= 10; ++epoch) {
    const double expected = 0.01 + 0.09 * (1 + std::cos(M_PI * epoch / 10)) / 2;
    EXPECT_NEAR(s.opt.lr(), expected, 1e-15) << "epoch " << epoch;
    if (epoch == 0) {
      EXPECT_DOUBLE_EQ(s.opt.lr(), 0.1);
    }
    if (epoch == 5) {
      EXPECT_NEAR(s.opt.lr(), 0.055, 1e-15);
    }  // halfway: the mean
    if (epoch == 10) {
      EXPECT_NEAR(s.opt.lr(), 0.01, 1e-15);
    }
    schedule.step();
  }
}

TEST(LinearWarmup, RisesInAStraightLineFromStartFactorTimesBaseThenHolds) {
  Scheduled s;
  LinearWarmup schedule(s.opt, 4, 0.25);
  const double expected[] = {0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1, 0.1};
  for (int epoch = 0; epoch < 7; ++epoch) {
    EXPECT_NEAR(s.opt.lr(), expected[epoch], 1e-15) << "epoch " << epoch;
    schedule.step();
  }
}

TEST(LinearWarmup, HandsOverToTheScheduleItWrapsAfterTheWarmup) {
  Scheduled s;
  LinearWarmup schedule(s.opt, 2, 0.5, std::make_unique<StepDecay>(s.opt, 2, 0.1));
  // warm-up epochs 0 and 1, then StepDecay's epochs 0, 1 (0.1) and 2, 3 (0.01)
  const double expected[] = {0.05, 0.075, 0.1, 0.1, 0.01, 0.01, 0.001};
  for (int epoch = 0; epoch < 7; ++epoch) {
    EXPECT_NEAR(s.opt.lr(), expected[epoch], 1e-15) << "epoch " << epoch;
    schedule.step();
  }
}

TEST(LrSchedule, StateRoundTripResumesTheSameLrs) {
  Scheduled a, b;
  LinearWarmup first(a.opt, 3, 0.5, std::make_unique<CosineAnnealing>(a.opt, 5));
  for (int i = 0; i < 4; ++i) first.step();
  const StateDict saved = first.state();
  EXPECT_EQ(saved.integer("epoch"), 4);
  EXPECT_EQ(saved.integer("after.epoch"), 0);  // the wrapped schedule is driven by lr_at

  b.opt.set_lr(0.1);
  LinearWarmup second(b.opt, 3, 0.5, std::make_unique<CosineAnnealing>(b.opt, 5));
  second.load_state(saved);
  EXPECT_EQ(b.opt.lr(), a.opt.lr());
  for (int i = 0; i < 5; ++i) {
    first.step();
    second.step();
    EXPECT_EQ(b.opt.lr(), a.opt.lr()) << "step " << i;
  }
}

TEST(ReduceOnPlateau, CutsTheLrAfterMoreThanPatienceEpochsWithoutImprovement) {
  Scheduled s;
  PlateauOptions o;
  o.patience = 2;
  o.factor = 0.5;
  ReduceOnPlateau plateau(s.opt, o);
  // 10 and 9 improve; then three epochs at 9 are bad; the third exceeds patience 2.
  const double metrics[] = {10, 9, 9, 9, 9, 9, 9, 9};
  const double expected[] = {0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025};
  for (int i = 0; i < 8; ++i) {
    plateau.step(metrics[i]);
    EXPECT_DOUBLE_EQ(s.opt.lr(), expected[i]) << "epoch " << i + 1;
  }
  EXPECT_EQ(plateau.best(), 9.0);
}

TEST(ReduceOnPlateau, ImprovementsSmallerThanTheRelativeThresholdCountAsBad) {
  Scheduled s;
  PlateauOptions o;
  o.patience = 0;  // the first bad epoch cuts the lr
  ReduceOnPlateau plateau(s.opt, o);
  plateau.step(1.0);
  plateau.step(1.0 - 2e-4);  // better than best * (1 - 1e-4): an improvement
  EXPECT_DOUBLE_EQ(s.opt.lr(), 0.1);
  plateau.step((1.0 - 2e-4) * (1.0 - 0.5e-4));  // lower, but by less than 1e-4 relative
  EXPECT_NEAR(s.opt.lr(), 0.01, 1e-15);
}

TEST(ReduceOnPlateau, CooldownDelaysTheNextCutAndMinLrBoundsIt) {
  Scheduled s;
  PlateauOptions o;
  o.patience = 1;
  o.factor = 0.1;
  o.cooldown = 2;
  o.min_lr = 0.002;
  ReduceOnPlateau plateau(s.opt, o);
  // epoch 1 sets best; 2 bad; 3 bad -> cut to 0.01 and cool down for epochs 4 and 5;
  // 6 bad; 7 bad -> cut to max(0.001, 0.002) = 0.002; later cuts cannot go lower.
  const double expected[] = {0.1, 0.1, 0.01, 0.01, 0.01, 0.01, 0.002, 0.002, 0.002, 0.002, 0.002};
  for (int i = 0; i < 11; ++i) {
    plateau.step(5.0);
    EXPECT_NEAR(s.opt.lr(), expected[i], 1e-15) << "epoch " << i + 1;
  }
}

TEST(ReduceOnPlateau, MaxModeTreatsRisingMetricsAsImprovement) {
  Scheduled s;
  PlateauOptions o;
  o.mode = PlateauOptions::Mode::max;
  o.patience = 0;
  ReduceOnPlateau plateau(s.opt, o);
  plateau.step(0.5);
  plateau.step(0.6);
  EXPECT_DOUBLE_EQ(s.opt.lr(), 0.1);
  plateau.step(0.55);
  EXPECT_NEAR(s.opt.lr(), 0.01, 1e-15);
}

TEST(ReduceOnPlateau, StateRoundTripKeepsBestAndCounters) {
  Scheduled a, b;
  PlateauOptions o;
  o.patience = 2;
  ReduceOnPlateau first(a.opt, o), second(b.opt, o);
  for (double m : {3.0, 2.0, 2.5}) first.step(m);
  second.load_state(first.state());
  EXPECT_EQ(second.best(), 2.0);
  EXPECT_EQ(second.bad_epochs(), 1);
  for (double m : {2.5, 2.5}) {
    first.step(m);
    second.step(m);
  }
  EXPECT_DOUBLE_EQ(a.opt.lr(), 0.01);  // cut on the third bad epoch
  EXPECT_EQ(b.opt.lr(), a.opt.lr());
}

// ---- gradient clipping ----

TEST(ClipGradNorm, ReturnsTheGlobalNormAndScalesEveryGradDownToMaxNorm) {
  Parameter a(zeros(1, 2), "a"), b(zeros(1, 1), "b");
  a.grad = tensor({{3, 4}});
  b.grad = tensor({{12}});  // global norm sqrt(9 + 16 + 144) = 13
  const float norm = clip_grad_norm({&a, &b}, 6.5f);
  EXPECT_FLOAT_EQ(norm, 13.0f);
  const double after =
      std::sqrt(double(a.grad(0, 0)) * a.grad(0, 0) + double(a.grad(0, 1)) * a.grad(0, 1) +
                double(b.grad(0, 0)) * b.grad(0, 0));
  EXPECT_LE(after, 6.5);
  EXPECT_NEAR(after, 6.5, 1e-5);
  EXPECT_FLOAT_EQ(a.grad(0, 0), 1.5f);  // same direction: every element halved
  EXPECT_FLOAT_EQ(a.grad(0, 1), 2.0f);
  EXPECT_FLOAT_EQ(b.grad(0, 0), 6.0f);
}

TEST(ClipGradNorm, LeavesGradsWithinTheLimitUntouched) {
  Parameter a(zeros(1, 2), "a");
  a.grad = tensor({{0.3f, -0.4f}});
  EXPECT_FLOAT_EQ(clip_grad_norm({&a}, 1.0f), 0.5f);
  EXPECT_EQ(a.grad(0, 0), 0.3f);
  EXPECT_EQ(a.grad(0, 1), -0.4f);
}

TEST(ClipGradValue, BoundsEveryElementAndKeepsSmallerOnes) {
  Parameter a(zeros(2, 3), "a");
  a.grad = tensor({{-5, -0.5f, 0}, {0.25f, 2, 100}});
  clip_grad_value({&a}, 1.0f);
  const float expected[] = {-1, -0.5f, 0, 0.25f, 1, 1};
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(a.grad.data()[i], expected[i]) << i;
}

TEST(LrSchedule, LoadStateWithABadEntryThrowsNamingItAndKeepsTheLr) {
  Scheduled s;
  LinearWarmup schedule(s.opt, 3, 0.5, std::make_unique<CosineAnnealing>(s.opt, 5));
  schedule.step();
  const double lr = s.opt.lr();
  StateDict bad = schedule.state();
  bad.integers["epoch"] = 4;
  bad.integers.erase("after.epoch");
  EXPECT_NE(error_of([&] { schedule.load_state(bad); }).find("epoch"), std::string::npos);
  StateDict negative = schedule.state();
  negative.integers["epoch"] = -1;
  negative.integers["after.epoch"] = 2;
  EXPECT_NE(error_of([&] { schedule.load_state(negative); }).find("'epoch' is negative"),
            std::string::npos);
  EXPECT_EQ(s.opt.lr(), lr);
  EXPECT_EQ(schedule.epoch(), 1);
}
