// Optimizers against PyTorch, learning from scratch, saving and resuming, schedules, clipping.
//
// The PyTorch trajectories live in tests/fixtures/optim_reference.txt, made by
// scripts/make_optim_reference.py: W (3x4) and b (1x4) trained for 10 steps by each optimizer
// configuration on sum((A * W - TW)^2) + sum((B * b - Tb)^2), a quadratic with a different
// curvature per element. Here tapegrad computes the same loss and gradient with its own ops
// (whose gradient is bit-identical to PyTorch's for this loss; see the script) and must land
// on the same W and b after every step.
#include "tapegrad/optim.hpp"
#include "tapegrad/init.hpp"
#include "tapegrad/losses.hpp"
#include "tapegrad/ops.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
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
