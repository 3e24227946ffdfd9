// Modules as in libtorch: members registered by name, composed at run time.
#include "tapegrad/tapegrad.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

using namespace tg;
using test::error_of;

namespace {
// A user-defined module with two layers, a parameter and a buffer of its own.
struct TwoLayerNet : Module {
  explicit TwoLayerNet(Rng& rng)
      : fc1(4, 8, rng), fc2(8, 3, rng), scale(full(1, 3, 2.0f)), calls(zeros(1, 1)) {
    register_module("fc1", fc1);
    register_module("fc2", fc2);
    register_parameter("scale", scale);
    register_buffer("calls", calls);
    register_module("drop", drop);
  }
  Var forward(Var x) override {
    calls(0, 0) += 1.0f;
    return mul(fc2(drop(relu(fc1(x)))), x.tape().param(scale));
  }
  std::string describe() const override { return "TwoLayerNet"; }
  Dense fc1, fc2;
  Dropout drop{0.5f, 7};
  Parameter scale;
  Tensor calls;
};
}  // namespace

TEST(Module, RegisteredMembersAreItsParametersBuffersAndStateUnderTheirNames) {
  Rng rng(0);
  TwoLayerNet net(rng);
  std::vector<std::string> names;
  for (auto& [name, p] : net.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "fc2.weight",
                                             "fc2.bias"}));
  const StateDict state = model_state(net);
  EXPECT_EQ(state.tensors.count("calls"), 1u);
  EXPECT_EQ(state.integers.count("drop.rng.0"), 1u);
  EXPECT_EQ(parameter_count(net), 4u * 8 + 8 + 8 * 3 + 3 + 3);
}

TEST(Module, TrainAndEvalReachRegisteredSubmodules) {
  Rng rng(0);
  TwoLayerNet net(rng);
  net.eval();
  EXPECT_FALSE(net.drop.training());
  Tape tape;
  Var x = tape.constant(test::random_tensor(5, 4, 1));
  const Tensor a = net(x).value();
  const Tensor b = net(x).value();
  EXPECT_EQ(a, b);  // no dropout in evaluation
  net.train();
  EXPECT_TRUE(net.fc1.training() && net.drop.training());
}

TEST(Module, AUserModuleTrainsAndItsSavedStateLoadsIntoAFreshOne) {
  Rng rng(3);
  TwoLayerNet net(rng);
  net.eval();
  Adam optimizer(net.parameters(), {.lr = 1e-2});
  const Tensor x = test::random_tensor(16, 4, 2);
  const Tensor target = test::random_tensor(16, 3, 3);
  float first = 0.0f, last = 0.0f;
  for (int step = 0; step < 200; ++step) {
    Tape tape;
    optimizer.zero_grad();
    Var loss = mse(net(tape.constant(x)), target);
    tape.backward(loss);
    optimizer.step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, 0.5f * first);
  Rng other_rng(99);
  TwoLayerNet copy(other_rng);
  load_model_state(copy, model_state(net));
  copy.eval();
  Tape tape;
  EXPECT_EQ(copy(tape.constant(x)).value(), net(tape.constant(x)).value());
  // The buffer came along: 200 training calls, then one more forward each.
  EXPECT_EQ(copy.calls(0, 0), 201.0f);
  EXPECT_EQ(net.calls(0, 0), 201.0f);
}

TEST(Module, ANameRegisteredTwiceOrWithADotIsAnError) {
  struct Twice : Module {
    Twice() {
      register_parameter("w", a);
      register_parameter("w", b);
    }
    Var forward(Var x) override { return x; }
    std::string describe() const override { return "Twice"; }
    Parameter a{zeros(1, 1)}, b{zeros(1, 1)};
  };
  EXPECT_EQ(error_of([] { Twice t; }), "Module: the name 'w' is registered twice");
  struct Dotted : Module {
    Dotted() { register_buffer("a.b", t); }
    Var forward(Var x) override { return x; }
    std::string describe() const override { return "Dotted"; }
    Tensor t = zeros(1, 1);
  };
  EXPECT_NE(error_of([] { Dotted d; }).find("without '.'"), std::string::npos);
}

TEST(Module, MovingAModuleWithRegistrationsThrowsButASequentialMoves) {
  Rng rng(0);
  Dense layer(2, 3, rng);
  EXPECT_NE(error_of([&] { Dense moved(std::move(layer)); }).find("cannot be moved"),
            std::string::npos);
  Sequential a;
  a.add<Dense>(2, 3, rng);
  Sequential b = std::move(a);
  EXPECT_EQ(b.size(), 1u);
  EXPECT_EQ(b.parameters().size(), 2u);
}

TEST(Flatten, KeepsTheBatchAndMergesTheRestAndItsSummaryShowsNdShapes) {
  Rng rng(0);
  Sequential net;
  net.add<Flatten>();
  net.add<Dense>(2 * 3 * 4, 5, rng);
  Tape tape;
  Var y = net(tape.constant(test::random_tensor(6, 24, 1)));
  EXPECT_EQ(y.shape(), "6x5");
  Var x = tape.variable(zeros(Shape{6, 2, 3, 4}));
  EXPECT_EQ(net(x).shape(), "6x5");
  const std::string s = summary(net, Shape{2, 3, 4});
  EXPECT_NE(s.find("batch x 24"), std::string::npos) << s;
  EXPECT_NE(s.find("batch x 5"), std::string::npos) << s;
  EXPECT_EQ(Flatten(2).output_shape({2, 3, 4}), (Shape{2, 12}));
  EXPECT_EQ(Flatten(1, 2).output_shape({2, 3, 4}), (Shape{6, 4}));
}

TEST(Unflatten, TurnsFlatImagesIntoNchwAndNamesAMismatch) {
  Unflatten layer(1, {1, 28, 28});
  Tape tape;
  Var x = tape.variable(test::random_tensor(3, 784, 1));
  Var y = layer(x);
  EXPECT_EQ(y.shape(), "3x1x28x28");
  EXPECT_EQ(layer.output_shape({784}), (Shape{1, 28, 28}));
  tape.backward(sum(mul(y, y)));
  EXPECT_FLOAT_EQ(x.grad()(2, 100), 2.0f * x.value()(2, 100));
  EXPECT_EQ(error_of([&] { layer(tape.constant(zeros(3, 785))); }),
            "Unflatten: dimension 1 of batch x 785 is 785, not the 784 elements of 1x28x28");
}

TEST(BatchNorm1d, RefusesAnInputThatIsNotRowsTimesFeatures) {
  BatchNorm1d bn(3);
  Tape tape;
  EXPECT_EQ(error_of([&] {
              bn(tape.constant(zeros(Shape{4, 3, 5})));
            }),
            "BatchNorm1d: input is 4x3x5, not rows x features");
  EXPECT_EQ(tape.size(), 1u);  // only the constant
}

TEST(Module, AnOptimizersStateForNdParametersSavesAndLoads) {
  // Adam's moments have each parameter's own shape (a conv weight is 6x1x5x5), so a resumed
  // LeNet finds them where the saved state put them.
  Rng rng(0);
  Conv2d conv(1, 6, 5, rng);
  Adam adam(conv.parameters());
  Tape tape;
  tape.backward(sum(conv(tape.constant(zeros(Shape{2, 1, 8, 8})))));
  adam.step();
  const StateDict state = adam.state();
  EXPECT_EQ(shape_str(state.tensor("0.exp_avg")), "6x1x5x5");
  Adam fresh(conv.parameters());
  fresh.load_state(state);
  EXPECT_EQ(fresh.state().tensor("0.exp_avg_sq"), state.tensor("0.exp_avg_sq"));
}
