// Anomaly mode: the first NaN or infinity is reported with the op, its tape position, the
// layer that recorded it and the input shapes.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

using namespace tg;
using test::error_of;

namespace {
// A small net whose third layer takes log of the ReLU output: log(0) = -inf wherever a unit
// is off, which is what this test injects.
class LogLayer : public Module {
 public:
  Var forward(Var x) override { return log(x); }
  std::string describe() const override { return "Log"; }
};

Sequential net_with_log() {
  Rng rng(1);
  Sequential net;
  net.add<Dense>(4, 8, rng);
  net.add<ReLU>();
  net.add<LogLayer>();
  net.add<Dense>(8, 3, rng);
  return net;
}

}  // namespace

TEST(DetectAnomaly, ALogOfZeroInASmallNetIsReportedNamingTheOpItsPlaceAndItsLayer) {
  Sequential net = net_with_log();
  Tape tape;
  const std::string message = error_of([&] {
    DetectAnomaly anomaly;
    Var x = tape.constant(test::random_tensor(16, 4, 3));
    tape.backward(softmax_cross_entropy(net(x), std::vector<std::int32_t>(16, 1)));
  });
  // Tape: 0 input, 1 bias, 2 weight (or the reverse), 3 dense, 4 relu, 5 log, ...
  EXPECT_NE(message.find("anomaly: 'log' (tape entry 5, in layer 2: Log, inputs 16x8)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("produced -inf"), std::string::npos) << message;
}

TEST(DetectAnomaly, WithoutTheScopeTheSameNetSilentlyProducesNonFiniteNumbers) {
  Sequential net = net_with_log();
  Tape tape;
  Var x = tape.constant(test::random_tensor(16, 4, 3));
  Var loss = softmax_cross_entropy(net(x), std::vector<std::int32_t>(16, 1));
  EXPECT_FALSE(std::isfinite(loss.item()));
  EXPECT_FALSE(anomaly_detection_enabled());
}

TEST(DetectAnomaly, ANonFiniteGradientInBackwardNamesTheOpWhoseBackwardMadeIt) {
  // log at 0 has a finite forward only if we avoid it; use log(x) with x = 1e-45 (denormal,
  // finite log) whose gradient 1/x overflows to inf.
  Tape tape;
  DetectAnomaly anomaly;
  Var x = tape.variable(tensor({{1e-45f, 1.0f}}));
  Var y = log(x);
  const std::string message = error_of([&] { tape.backward(sum(y)); });
  EXPECT_NE(message.find("the backward of 'log' (tape entry 1"), std::string::npos) << message;
  EXPECT_NE(message.find("gradient of its input 0 ('variable', tape entry 0)"), std::string::npos)
      << message;
}

TEST(DetectAnomaly, NaNInInputDataIsReportedWithItsRow) {
  Tape tape;
  DetectAnomaly anomaly;
  Tensor data = test::random_tensor(5, 3, 4);
  data(3, 1) = std::nanf("");
  // Reported as the data enters the tape, and not recorded: the tape stays empty.
  const std::string message = error_of([&] { tape.constant(data); });
  EXPECT_NE(message.find("'constant' (tape entry 0)"), std::string::npos) << message;
  EXPECT_NE(message.find("at row 3, column 1"), std::string::npos) << message;
  EXPECT_EQ(tape.size(), 0u);
}

TEST(DetectAnomaly, FiniteTrainingStepsPassUntouched) {
  Rng rng(2);
  Sequential net;
  net.add<Dense>(4, 8, rng);
  net.add<Tanh>();
  net.add<Dense>(8, 3, rng);
  DetectAnomaly anomaly;
  Tape tape;
  Var loss = softmax_cross_entropy(net(tape.constant(test::random_tensor(16, 4, 5))),
                                   std::vector<std::int32_t>(16, 2));
  EXPECT_NO_THROW(tape.backward(loss));
}
