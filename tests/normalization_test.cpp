// Normalisation over N-d inputs and the embedding layer: batch_norm per channel of
// N x C x d1 x ..., layer_norm over trailing dims, BatchNorm2d, LayerNorm and Embedding.
// Forward values are PyTorch 1.13's (the snippet that printed them sits beside them);
// gradients are checked against central differences with a layer before the normalisation
// (a check with nothing before batch_norm once hid a wrong backward).
#include "tapegrad/tapegrad.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

using namespace tg;
using tg::test::expect_error;

using test::random_nd;

namespace {

// ((i * a) % m) / s - o for i = 0..n-1, as the Python snippets' vals(n, a, m, s, o):
//   def vals(n, a=37, m=23, s=4.0, o=2.5): return [((i * a) % m) / s - o for i in range(n)]
Tensor vals(const Shape& shape, int a = 37, int m = 23, double s = 4.0, double o = 2.5) {
  std::vector<float> v(element_count(shape));
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(static_cast<double>((static_cast<int>(i) * a) % m) / s - o);
  return tensor(shape, v);
}

void expect_values(const Tensor& actual, const std::vector<float>& expected, double tol = 1e-5) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(actual.data()[i], expected[i], tol + tol * std::fabs(expected[i]))
        << "element " << i;
}

void expect_gradients_correct(const std::function<Var(const std::vector<Var>&)>& f,
                              std::vector<Tensor> inputs,
                              const std::vector<Parameter*>& params = {}) {
  auto r = gradcheck([&f](Tape&, const std::vector<Var>& in) { return f(in); }, std::move(inputs),
                     params);
  EXPECT_TRUE(r) << r.message;
}

void expect_rejected_and_tape_unchanged(Tape& t, std::initializer_list<std::string> parts,
                                        const std::function<void()>& op) {
  const std::size_t before = t.size();
  expect_error(op, parts);
  EXPECT_EQ(t.size(), before) << "'" << *parts.begin() << "' threw but left entries on the tape";
}

// The fixed, non-uniform factor the checks multiply by before the normalisation, then tanh:
// the layer before it that makes a wrong input gradient show.
Var before(Var x, const Tensor& factor) {
  return tg::tanh(mul(x, x.tape().constant(factor)));
}

const Tensor kGamma = tensor(Shape{3}, {1.5f, -0.5f, 2.0f});
const Tensor kBeta = tensor(Shape{3}, {0.1f, 0.2f, -0.3f});

}  // namespace

// ---- batch_norm on N x C x d1 x ... ----

TEST(NormBatchNorm, NchwTrainingForwardMatchesTorchPerChannel) {
  // x = torch.tensor(vals(24)).reshape(2, 3, 2, 2)
  // g = torch.tensor([1.5, -0.5, 2.0]); b = torch.tensor([0.1, 0.2, -0.3])
  // torch.nn.functional.batch_norm(x, torch.zeros(3), torch.ones(3), g, b, training=True,
  //                                momentum=0.1, eps=1e-5)
  Tape t;
  Tensor batch_mean, batch_var;
  Var y = batch_norm(t.constant(vals({2, 3, 2, 2})), t.constant(kGamma), t.constant(kBeta), 1e-5f,
                     nullptr, nullptr, &batch_mean, &batch_var);
  EXPECT_EQ(y.sizes(), (Shape{2, 3, 2, 2}));
  expect_values(y.value(), {-2.0348635f, 0.91704655f,   -0.98060989f, 1.9713001f,   0.32048264f,
                            1.0433786f,  -0.081126191f, 0.64176971f,  2.521378f,    -0.017862201f,
                            -2.5571024f, 1.3928268f,    -0.55890846f, 2.3930016f,   0.49534509f,
                            -1.4023113f, -0.24176973f,  0.48112619f,  -0.64337856f, 0.079517342f,
                            -1.9928269f, 1.9571025f,    -0.58213782f, -3.1213782f});
  // The batch statistics of channel 0, by hand: its values are x[0, 0] and x[1, 0].
  const Tensor x = vals({2, 3, 2, 2});
  double mean = 0.0, var = 0.0;
  for (std::size_t n = 0; n < 2; ++n)
    for (std::size_t k = 0; k < 4; ++k) mean += x.data()[n * 12 + k];
  mean /= 8;
  for (std::size_t n = 0; n < 2; ++n)
    for (std::size_t k = 0; k < 4; ++k)
      var += (x.data()[n * 12 + k] - mean) * (x.data()[n * 12 + k] - mean);
  var /= 8;  // biased
  EXPECT_EQ(batch_mean.size(), 3u);
  EXPECT_NEAR(batch_mean.data()[0], mean, 1e-6);
  EXPECT_NEAR(batch_var.data()[0], var, 1e-5);
}

TEST(NormBatchNorm, NclTrainingForwardWithOneByCRowsMatchesTorch) {
  // x3 = torch.tensor(vals(24, 29, 19, 3.0, 3.0)).reshape(2, 3, 4)
  // torch.nn.functional.batch_norm(x3, None, None, g, b, training=True, eps=1e-5)
  Tape t;
  Var y = batch_norm(t.constant(vals({2, 3, 4}, 29, 19, 3.0, 3.0)),
                     t.constant(tensor({{1.5f, -0.5f, 2.0f}})),
                     t.constant(tensor({{0.1f, 0.2f, -0.3f}})), 1e-5f);
  expect_values(y.value(),
                {-2.078609f,   0.48446044f, -1.8223021f,  0.74076742f, 0.73023272f, -0.13545337f,
                 0.64366412f,  -0.222022f,  -1.7726395f,  2.1543992f,  -1.3799357f, 2.5471032f,
                 -0.54076737f, 2.0223022f,  -0.28446043f, 2.278609f,   0.21082109f, -0.65486503f,
                 0.12425247f,  0.90337002f, 0.58358371f,  -2.9507513f, 0.97628766f, -2.5580473f});
}

TEST(NormBatchNorm, NchwFixedStatisticsForwardMatchesTorch) {
  // fm = torch.tensor([0.5, -1.0, 0.25]); fv = torch.tensor([2.0, 0.5, 1.5])
  // torch.nn.functional.batch_norm(x, fm, fv, g, b, training=False, eps=1e-5)
  Tape t;
  const Tensor fixed_mean = tensor(Shape{3}, {0.5f, -1.0f, 0.25f});
  const Tensor fixed_var = tensor(Shape{3}, {2.0f, 0.5f, 1.5f});
  Var y = batch_norm(t.constant(vals({2, 3, 2, 2})), t.constant(kGamma), t.constant(kBeta), 1e-5f,
                     &fixed_mean, &fixed_var);
  expect_values(y.value(),
                {-3.0819726f, 0.63032877f, -1.7561506f, 1.9561507f,  -0.50709969f, 1.0838746f,
                 -1.3909743f, 0.19999999f, 3.3742223f,  -0.3f,       -3.9742224f,  1.7412347f,
                 -1.2258219f, 2.4864793f,  0.1f,        -2.2864795f, -1.7445241f,  -0.15354985f,
                 -2.6283987f, -1.0374244f, -3.1577287f, 2.5577285f,  -1.1164939f,  -4.7907162f});
}

TEST(NormBatchNorm, NchwTrainingGradientsOfXWeightAndBiasBehindALayerMatch) {
  const Tensor factor = random_nd({2, 2}, 70, 0.3f, 1.2f);  // broadcast over N and C
  expect_gradients_correct(
      [&](const std::vector<Var>& in) {
        return batch_norm(before(in[0], factor), in[1], in[2], 1e-5f);
      },
      {random_nd({3, 3, 2, 2}, 71), random_nd({3}, 72, 0.5f, 2.0f), random_nd({3}, 73)});
}

TEST(NormBatchNorm, NchwTrainingGradientsMatchWithANonlinearLossAfterIt) {
  // A linear projection of the output only sees part of the backward; squaring sees it all.
  const Tensor factor = random_nd({2, 3, 1, 1}, 74, 0.3f, 1.2f);
  expect_gradients_correct(
      [&](const std::vector<Var>& in) {
        Var y = batch_norm(before(in[0], factor), in[1], in[2], 1e-5f);
        return sum(square(add(y, in[3])));
      },
      {random_nd({2, 3, 2, 3}, 75), random_nd({1, 3}, 76, 0.5f, 2.0f), random_nd({1, 3}, 77),
       random_nd({2, 3, 2, 3}, 78)});
}

TEST(NormBatchNorm, NchwFixedStatisticsGradientsOfXWeightAndBiasBehindALayerMatch) {
  const Tensor factor = random_nd({2, 2}, 79, 0.3f, 1.2f);
  const Tensor fixed_mean = tensor(Shape{3}, {0.2f, -0.1f, 0.4f});
  const Tensor fixed_var = tensor(Shape{3}, {0.5f, 1.5f, 2.0f});
  expect_gradients_correct(
      [&](const std::vector<Var>& in) {
        return batch_norm(before(in[0], factor), in[1], in[2], 1e-5f, &fixed_mean, &fixed_var);
      },
      {random_nd({2, 3, 2, 2}, 80), random_nd({3}, 81, 0.5f, 2.0f), random_nd({3}, 82)});
}

TEST(NormBatchNorm, BadShapesAreErrorsNamingTheOpAndShapesAndLeaveTheTapeUnchanged) {
  Tape t;
  Var x = t.variable(random_nd({2, 3, 2, 2}, 83));
  Var gamma = t.variable(full(Shape{3}, 1.0f));
  Var beta = t.variable(zeros(Shape{3}));
  Var four = t.variable(full(Shape{4}, 1.0f));
  expect_rejected_and_tape_unchanged(t, {"batch_norm", "2x3x2x2", "4"},
                                     [&] { batch_norm(x, four, beta, 1e-5f); });
  expect_rejected_and_tape_unchanged(t, {"batch_norm", "2x3x2x2", "4"},
                                     [&] { batch_norm(x, gamma, four, 1e-5f); });
  const Tensor bad_mean = zeros(Shape{2}), good_var = full(Shape{3}, 1.0f);
  expect_rejected_and_tape_unchanged(
      t, {"batch_norm", "2"}, [&] { batch_norm(x, gamma, beta, 1e-5f, &bad_mean, &good_var); });
  Var flat = t.variable(full(Shape{3}, 1.0f));
  expect_rejected_and_tape_unchanged(t, {"batch_norm", "input is 3"},
                                     [&] { batch_norm(flat, gamma, beta, 1e-5f); });
  // One value per channel: no variance to estimate in training; fine with fixed statistics.
  Var single = t.variable(full(Shape{1, 3, 1, 1}, 1.0f));
  expect_rejected_and_tape_unchanged(t,
                                     {"batch_norm", "more than one value per channel", "1x3x1x1"},
                                     [&] { batch_norm(single, gamma, beta, 1e-5f); });
  const Tensor m = zeros(Shape{3}), v = full(Shape{3}, 1.0f);
  EXPECT_EQ(batch_norm(single, gamma, beta, 1e-5f, &m, &v).sizes(), (Shape{1, 3, 1, 1}));
}

// ---- layer_norm ----

TEST(NormLayerNorm, OverTheLastDimensionForwardMatchesTorch) {
  // xl = torch.tensor(vals(24, 31, 17, 2.0, 4.0)).reshape(2, 3, 4)
  // w1 = torch.tensor([1.0, 0.5, -2.0, 1.5]); b1 = torch.tensor([0.0, 0.1, 0.2, -0.3])
  // torch.nn.functional.layer_norm(xl, [4], w1, b1, 1e-5)
  Tape t;
  Var w = t.constant(tensor(Shape{4}, {1.0f, 0.5f, -2.0f, 1.5f}));
  Var b = t.constant(tensor(Shape{4}, {0.0f, 0.1f, 0.2f, -0.3f}));
  Var y = layer_norm(t.constant(vals({2, 3, 4}, 31, 17, 2.0, 4.0)), {4}, &w, &b, 1e-5f);
  EXPECT_EQ(y.sizes(), (Shape{2, 3, 4}));
  expect_values(y.value(),
                {-1.5822278f, 0.65138245f, -0.85481852f, -0.37191945f, -0.70164597f, -0.51394022f,
                 -2.2557609f, 0.75246894f, 1.3416383f,   0.3236064f,   1.0944257f,   -2.3124576f,
                 1.3416384f,  0.3236064f,  1.0944256f,   -2.3124576f,  -0.70164597f, -0.51394022f,
                 -2.2557609f, 0.75246894f, 0.047946297f, -0.16370463f, 2.4055297f,   2.0733418f});
}

TEST(NormLayerNorm, OverTheLastTwoDimensionsForwardMatchesTorch) {
  // w2 = torch.tensor([[1.0, 0.5, -2.0, 1.5], [0.25, 1.0, 3.0, -1.0], [2.0, 1.0, 0.5, 0.75]])
  // b2 = torch.tensor([[0.0, 0.1, 0.2, -0.3], [0.5, -0.5, 0.0, 1.0], [0.3, 0.0, -0.2, 0.1]])
  // torch.nn.functional.layer_norm(xl, [3, 4], w2, b2, 1e-5)
  // torch.nn.functional.layer_norm(xl, [3, 4], None, None, 1e-3)
  Tape t;
  Var w = t.constant(
      tensor({{1.0f, 0.5f, -2.0f, 1.5f}, {0.25f, 1.0f, 3.0f, -1.0f}, {2.0f, 1.0f, 0.5f, 0.75f}}));
  Var b = t.constant(
      tensor({{0.0f, 0.1f, 0.2f, -0.3f}, {0.5f, -0.5f, 0.0f, 1.0f}, {0.3f, 0.0f, -0.2f, 0.1f}}));
  Var x = t.constant(vals({2, 3, 4}, 31, 17, 2.0, 4.0));
  expect_values(
      layer_norm(x, {3, 4}, &w, &b, 1e-5f).value(),
      {-1.4898016f, 0.73030066f,   -1.1424584f,   -0.17721422f, 0.37312126f,  -1.596887f,
       4.9605484f,  -0.064144015f, 1.2495439f,    -0.11460016f, -0.5519861f,  -0.87000817f,
       1.2933443f,  0.4519861f,    -0.029200241f, -1.0121579f,  0.233964f,    -2.1535161f,
       3.2906606f,  0.49248517f,   0.13628554f,   -0.6712293f,  -0.83030069f, 1.2173512f});
  expect_values(layer_norm(x, {3, 4}, nullptr, nullptr, 1e-3f).value(),
                {-1.4896878f, 1.260505f,   0.67117792f,   0.081850938f, -0.50747609f, -1.0968031f,
                 1.6533896f,  1.0640626f,  0.47473562f,   -0.1145914f,  -0.7039184f,  -1.2932454f,
                 1.2932453f,  0.70391834f, 0.11459136f,   -0.47473565f, -1.0640626f,  -1.6533897f,
                 1.0968031f,  0.50747603f, -0.081850976f, -0.67117798f, -1.260505f,   1.4896877f});
}

TEST(NormLayerNorm, GradientsOfXWeightAndBiasOverOneTrailingDimBehindALayerMatch) {
  const Tensor factor = random_nd({3, 5}, 90, 0.3f, 1.2f);
  expect_gradients_correct(
      [&](const std::vector<Var>& in) {
        return layer_norm(before(in[0], factor), {5}, &in[1], &in[2]);
      },
      {random_nd({2, 3, 5}, 91), random_nd({5}, 92, 0.5f, 2.0f), random_nd({5}, 93)});
}

TEST(NormLayerNorm, GradientsOfXWeightAndBiasOverTwoTrailingDimsBehindALayerMatch) {
  const Tensor factor = random_nd({3, 4}, 94, 0.3f, 1.2f);
  expect_gradients_correct(
      [&](const std::vector<Var>& in) {
        return layer_norm(before(in[0], factor), {3, 4}, &in[1], &in[2]);
      },
      {random_nd({2, 3, 4}, 95), random_nd({3, 4}, 96, 0.5f, 2.0f), random_nd({3, 4}, 97)});
}

TEST(NormLayerNorm, GradientsMatchWithANonlinearLossAfterItAndWithoutAnAffine) {
  const Tensor factor = random_nd({4}, 98, 0.3f, 1.2f);
  expect_gradients_correct(
      [&](const std::vector<Var>& in) {
        Var y = layer_norm(before(in[0], factor), {3, 4}, &in[1], &in[2]);
        return sum(square(add(y, in[3])));
      },
      {random_nd({2, 3, 4}, 99), random_nd({3, 4}, 100, 0.5f, 2.0f), random_nd({3, 4}, 101),
       random_nd({2, 3, 4}, 102)});
  expect_gradients_correct(
      [&](const std::vector<Var>& in) {
        Var y = layer_norm(before(in[0], factor), {4});
        return sum(square(add(y, in[1])));
      },
      {random_nd({5, 4}, 103), random_nd({5, 4}, 104)});
  // Only a weight, only a bias: the inputs that exist get their gradients.
  expect_gradients_correct(
      [&](const std::vector<Var>& in) {
        return layer_norm(before(in[0], factor), {4}, &in[1], nullptr);
      },
      {random_nd({3, 4}, 105), random_nd({4}, 106, 0.5f, 2.0f)});
  expect_gradients_correct(
      [&](const std::vector<Var>& in) {
        return sum(square(layer_norm(before(in[0], factor), {4}, nullptr, &in[1])));
      },
      {random_nd({3, 4}, 107), random_nd({4}, 108)});
}

TEST(NormLayerNorm, BadShapesAreErrorsNamingTheOpAndShapesAndLeaveTheTapeUnchanged) {
  Tape t;
  Var x = t.variable(random_nd({2, 3, 4}, 109));
  Var w = t.variable(full(Shape{3, 4}, 1.0f));
  Var b = t.variable(zeros(Shape{3, 4}));
  Var w12 = t.variable(full(Shape{12}, 1.0f));
  expect_rejected_and_tape_unchanged(t, {"layer_norm", "2x3x4", "normalized_shape is 4x3"}, [&] {
    layer_norm(x, {4, 3}, &w, &b);
  });
  expect_rejected_and_tape_unchanged(t, {"layer_norm", "2x3x4", "1x2x3x4"}, [&] {
    layer_norm(x, {1, 2, 3, 4});
  });
  expect_rejected_and_tape_unchanged(t, {"layer_norm", "empty"}, [&] { layer_norm(x, {}); });
  expect_rejected_and_tape_unchanged(t, {"layer_norm", "weight is 12", "3x4"}, [&] {
    layer_norm(x, {3, 4}, &w12, &b);
  });
  expect_rejected_and_tape_unchanged(t, {"layer_norm", "bias is 12", "3x4"}, [&] {
    layer_norm(x, {3, 4}, &w, &w12);
  });
  EXPECT_EQ(layer_norm(x, {3, 4}, &w, &b).sizes(), (Shape{2, 3, 4}));
}

// ---- BatchNorm2d ----

TEST(BatchNorm2d, RunningStatisticsAfterThreeTrainingStepsAndEvaluationMatchTorch) {
  // bn = torch.nn.BatchNorm2d(3)
  // for step in range(3):
  //     bn(torch.tensor(vals(36, 13 + 4 * step, 29, 3.0, 4.0 - step)).reshape(3, 3, 2, 2))
  // bn.running_mean, bn.running_var; bn.eval(); bn(torch.tensor(vals(24)).reshape(2, 3, 2, 2))
  BatchNorm2d bn(3);
  for (int step = 0; step < 3; ++step) {
    Tape t;
    Var y = bn(t.constant(vals({3, 3, 2, 2}, 13 + 4 * step, 29, 3.0, 4.0 - step)));
    EXPECT_EQ(y.sizes(), (Shape{3, 3, 2, 2}));
  }
  expect_values(bn.running_mean, {0.36052775f, 0.31958333f, 0.71525002f});
  expect_values(bn.running_var, {3.0797365f, 3.0362854f, 2.6452246f});
  bn.eval();
  Tape t;
  const Tensor mean_before = bn.running_mean;
  expect_values(
      bn(t.constant(vals({2, 3, 2, 2}))).value(),
      {-1.6300042f,  0.36438814f,  -0.91772115f, 1.0766711f,   -0.1834054f,  -1.474656f,
       0.53395605f,  -0.75729454f, 1.0973504f,   -0.28605813f, -1.6694666f,  0.4825021f,
       -0.63280797f, 1.3615843f,   0.079474956f, -1.2026343f,  0.82090056f,  -0.47034997f,
       1.538262f,    0.24701145f,  -1.3620424f,  0.78992617f,  -0.59348226f, -1.9768907f});
  // Evaluation leaves the running statistics alone.
  expect_values(bn.running_mean, std::vector<float>(mean_before.begin(), mean_before.end()), 0);
}

TEST(BatchNorm2d, IsGradientCheckedInBothModesWithALayerBeforeIt) {
  BatchNorm2d bn(2);
  bn.weight.value = random_nd({2}, 110, 0.5f, 1.5f);
  bn.bias.value = random_nd({2}, 111);
  const Tensor factor = random_nd({3, 2}, 112, 0.3f, 1.2f);
  const std::vector<Parameter*> params = {&bn.weight, &bn.bias};
  expect_gradients_correct([&](const std::vector<Var>& in) { return bn(before(in[0], factor)); },
                           {random_nd({2, 2, 3, 2}, 113)}, params);
  bn.running_mean = random_nd({2}, 114);
  bn.running_var = random_nd({2}, 115, 0.5f, 2.0f);
  bn.eval();
  expect_gradients_correct([&](const std::vector<Var>& in) { return bn(before(in[0], factor)); },
                           {random_nd({2, 2, 3, 2}, 116)}, params);
}

TEST(BatchNorm2d, RegistersWeightBiasAndRunningStatisticsByName) {
  BatchNorm2d bn(4, 0.2f, 1e-3f);
  EXPECT_EQ(bn.describe(), "BatchNorm2d(4, momentum=0.2, eps=0.001)");
  EXPECT_EQ(bn.output_shape({4, 5, 6}), (Shape{4, 5, 6}));
  expect_error([&] { bn.output_shape({3, 5, 6}); }, {"BatchNorm2d", "3x5x6"});
  const StateDict state = model_state(bn);
  ASSERT_EQ(state.tensors.size(), 4u);
  for (const char* name : {"weight", "bias", "running_mean", "running_var"})
    EXPECT_EQ(shape_of(state.tensor(name)), (Shape{4})) << name;
  EXPECT_EQ(bn.named_parameters().size(), 2u);
}

TEST(BatchNorm2d, BadInputsAreErrorsThatLeaveTheTapeAndStatisticsUnchanged) {
  BatchNorm2d bn(3);
  Tape t;
  Var x3 = t.constant(zeros(Shape{2, 3, 4}));
  Var wrong_c = t.constant(zeros(Shape{2, 4, 2, 2}));
  Var single = t.constant(full(Shape{1, 3, 1, 1}, 2.0f));
  expect_rejected_and_tape_unchanged(t, {"BatchNorm2d", "2x3x4", "N x 3 x H x W"}, [&] { bn(x3); });
  expect_rejected_and_tape_unchanged(t, {"BatchNorm2d", "2x4x2x2"}, [&] { bn(wrong_c); });
  expect_rejected_and_tape_unchanged(t, {"BatchNorm2d", "more than one value", "1x3x1x1"},
                                     [&] { bn(single); });
  expect_values(bn.running_mean, {0, 0, 0}, 0);
  expect_values(bn.running_var, {1, 1, 1}, 0);
  bn.eval();  // one value per channel is fine with the running statistics
  EXPECT_EQ(bn(single).sizes(), (Shape{1, 3, 1, 1}));
}

// ---- LayerNorm ----

TEST(LayerNorm, ForwardMatchesTheFunctionalFormAndStartsAsTheIdentityAffine) {
  // With weight 1 and bias 0 the layer is layer_norm without an affine: ln2_plain_y above.
  LayerNorm ln({3, 4}, 1e-3f);
  EXPECT_EQ(shape_of(ln.weight.value), (Shape{3, 4}));
  Tape t;
  Var y = ln(t.constant(vals({2, 3, 4}, 31, 17, 2.0, 4.0)));
  expect_values(y.value(),
                {-1.4896878f, 1.260505f,   0.67117792f,   0.081850938f, -0.50747609f, -1.0968031f,
                 1.6533896f,  1.0640626f,  0.47473562f,   -0.1145914f,  -0.7039184f,  -1.2932454f,
                 1.2932453f,  0.70391834f, 0.11459136f,   -0.47473565f, -1.0640626f,  -1.6533897f,
                 1.0968031f,  0.50747603f, -0.081850976f, -0.67117798f, -1.260505f,   1.4896877f});
}

TEST(LayerNorm, IsGradientCheckedWithALayerBeforeIt) {
  Rng rng(7);
  Dense dense(4, 6, rng, {.init = Init::xavier_uniform});
  LayerNorm ln({6});
  ln.weight.value = random_nd({6}, 120, 0.5f, 1.5f);
  ln.bias.value = random_nd({6}, 121);
  std::vector<Parameter*> params = dense.parameters();
  for (Parameter* p : ln.parameters()) params.push_back(p);
  expect_gradients_correct([&](const std::vector<Var>& in) { return ln(dense(in[0])); },
                           {random_nd({2, 3, 4}, 122)}, params);
}

TEST(LayerNorm, DescribesItselfChecksShapesAndCanGoWithoutAnAffine) {
  LayerNorm ln({3, 4});
  EXPECT_EQ(ln.describe(), "LayerNorm(3x4, eps=1e-05, elementwise_affine=true)");
  EXPECT_EQ(ln.output_shape({5, 3, 4}), (Shape{5, 3, 4}));
  EXPECT_EQ(ln.output_shape({3, 4}), (Shape{3, 4}));
  expect_error([&] { ln.output_shape({4, 3}); }, {"LayerNorm", "4x3", "3x4"});
  EXPECT_EQ(ln.parameters().size(), 2u);
  Tape t;
  Var bad = t.constant(zeros(Shape{2, 4, 3}));
  expect_rejected_and_tape_unchanged(t, {"LayerNorm", "2x4x3", "3x4"}, [&] { ln(bad); });

  LayerNorm plain({4}, 1e-5f, false);
  EXPECT_EQ(plain.describe(), "LayerNorm(4, eps=1e-05, elementwise_affine=false)");
  EXPECT_TRUE(plain.parameters().empty());
  Var y = plain(t.constant(tensor({{1, 2, 3, 4}})));
  const float s = 1.0f / std::sqrt(1.25f + 1e-5f);
  expect_values(y.value(), {-1.5f * s, -0.5f * s, 0.5f * s, 1.5f * s});
}

// ---- Embedding ----

TEST(Embedding, LooksUpRowsAndARowUsedTwiceGetsBothGradients) {
  Rng rng(0);
  Embedding emb(5, 3, rng);
  EXPECT_EQ(shape_of(emb.weight.value), (Shape{5, 3}));
  EXPECT_EQ(emb.describe(), "Embedding(5, 3)");
  Tape t;
  Var y = emb(t, {1, 3, 1, 0}, {2, 2});
  ASSERT_EQ(y.sizes(), (Shape{2, 2, 3}));
  const std::int64_t expected_rows[] = {1, 3, 1, 0};
  for (std::size_t p = 0; p < 4; ++p)
    for (std::size_t j = 0; j < 3; ++j)
      EXPECT_EQ(y.value().data()[p * 3 + j], emb.weight.value(expected_rows[p], j));
  const Tensor seed = random_nd({2, 2, 3}, 130);
  t.backward(y, seed);
  const Tensor& g = emb.weight.grad;
  for (std::size_t j = 0; j < 3; ++j) {
    EXPECT_FLOAT_EQ(g(1, j), seed.data()[0 * 3 + j] + seed.data()[2 * 3 + j]);  // both uses
    EXPECT_FLOAT_EQ(g(3, j), seed.data()[1 * 3 + j]);
    EXPECT_FLOAT_EQ(g(0, j), seed.data()[3 * 3 + j]);
    EXPECT_EQ(g(2, j), 0.0f);
    EXPECT_EQ(g(4, j), 0.0f);
  }
}

TEST(Embedding, WeightIsDrawnFromAStandardNormalAsTorch) {
  Rng rng(1);
  Embedding emb(1000, 16, rng);
  double mean = 0, var = 0;
  for (float v : emb.weight.value) mean += v;
  mean /= 16000;
  for (float v : emb.weight.value) var += (v - mean) * (v - mean);
  var /= 16000;
  EXPECT_NEAR(mean, 0.0, 0.03);
  EXPECT_NEAR(var, 1.0, 0.05);
}

TEST(Embedding, IsGradientCheckedBehindASequentialThatReadsIndicesFromFloats) {
  Rng rng(2);
  Sequential net;
  net.add<Embedding>(6, 3, rng);
  net.add<LayerNorm>(Shape{3});
  net.add<Flatten>();
  net.add<Dense>(12, 2, rng, DenseOptions{.init = Init::xavier_uniform});
  EXPECT_EQ(net.output_shape({4}), (Shape{2}));
  EXPECT_EQ(net[0].output_shape({4}), (Shape{4, 3}));
  const Tensor indices = tensor({{0, 5, 2, 5}, {1, 1, 3, 4}});
  auto r =
      gradcheck([&](Tape& tape, const std::vector<Var>&) { return net(tape.constant(indices)); },
                {}, net.parameters());
  EXPECT_TRUE(r) << r.message;
  Tape t;
  EXPECT_EQ(net(t.constant(indices)).sizes(), (Shape{2, 2}));
}

TEST(Embedding, PaddingRowStartsAtZeroAndGetsNoGradient) {
  Rng rng(3);
  Embedding emb(4, 2, rng, -1);  // the last row, as torch counts a negative padding_idx
  ASSERT_TRUE(emb.padding_idx().has_value());
  EXPECT_EQ(*emb.padding_idx(), 3);
  EXPECT_EQ(emb.describe(), "Embedding(4, 2, padding_idx=3)");
  EXPECT_EQ(emb.weight.value(3, 0), 0.0f);
  EXPECT_EQ(emb.weight.value(3, 1), 0.0f);
  Tape t;
  Var y = emb(t, {3, 0, 3}, {3});
  t.backward(sum(y));
  EXPECT_EQ(emb.weight.grad(3, 0), 0.0f);
  EXPECT_EQ(emb.weight.grad(0, 0), 1.0f);
  expect_error([&] { Embedding(4, 2, rng, 4); }, {"Embedding", "padding_idx 4"});
}

TEST(Embedding, BadIndicesAreErrorsNamingIndexAndPositionAndLeaveTheTapeUnchanged) {
  Rng rng(4);
  Embedding emb(10, 2, rng);
  Tape t;
  expect_rejected_and_tape_unchanged(t, {"Embedding", "index 10", "position 3", "[0, 10)"}, [&] {
    emb(t, {0, 1, 9, 10}, {2, 2});
  });
  expect_rejected_and_tape_unchanged(t, {"Embedding", "index -1", "position 0"},
                                     [&] { emb(t, {-1}, {1}); });
  expect_rejected_and_tape_unchanged(t, {"Embedding", "3 indices", "2x2"}, [&] {
    emb(t, {0, 1, 2}, {2, 2});
  });
  Var out_of_range = t.constant(tensor({{1, 2}, {12, 0}}));
  Var fractional = t.constant(tensor({{1, 2.5f}}));
  Var nan = t.constant(tensor({{std::nanf("")}}));
  const std::size_t before = t.size();
  expect_rejected_and_tape_unchanged(t, {"Embedding", "index 12", "position 2", "2x2"},
                                     [&] { emb(out_of_range); });
  expect_rejected_and_tape_unchanged(t, {"Embedding", "2.5", "position 1", "not a whole number"},
                                     [&] { emb(fractional); });
  expect_rejected_and_tape_unchanged(t, {"Embedding", "position 0", "not a whole number"},
                                     [&] { emb(nan); });
  EXPECT_EQ(t.size(), before);
}

// ---- saved state ----

TEST(Embedding, ModelWithEveryNormalisationLayerRoundTripsThroughModelState) {
  auto make = [](std::uint64_t seed) {
    Rng rng(seed);
    auto net = std::make_unique<Sequential>();
    net->add<Embedding>(7, 4, rng);    // 0: indices N x 2 x 3 -> N x 2 x 3 x 4
    net->add<BatchNorm2d>(2);          // 1
    net->add<LayerNorm>(Shape{3, 4});  // 2
    return net;
  };
  auto net = make(1);
  const Tensor indices = tensor(Shape{2, 2, 3}, {0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4});
  {
    // A training step changes the running statistics and, with an optimizer, the parameters.
    Tape t;
    Var y = (*net)(t.constant(indices));
    t.backward(sum(square(y)));
    SGD sgd(net->parameters(), {.lr = 0.1f});
    sgd.step();
  }
  const StateDict state = model_state(*net);
  for (const char* name :
       {"0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "2.weight", "2.bias"})
    EXPECT_EQ(state.tensors.count(name), 1u) << name;
  auto copy = make(2);
  load_model_state(*copy, state);
  const StateDict copied = model_state(*copy);
  ASSERT_EQ(copied.tensors.size(), state.tensors.size());
  for (const auto& [name, value] : state.tensors) {
    const Tensor& other = copied.tensor(name);
    ASSERT_EQ(shape_of(other), shape_of(value)) << name;
    for (std::size_t i = 0; i < value.size(); ++i)
      EXPECT_EQ(other.data()[i], value.data()[i]) << name << " element " << i;
  }
  net->eval();
  copy->eval();
  Tape t;
  const Tensor a = (*net)(t.constant(indices)).value();
  const Tensor b = (*copy)(t.constant(indices)).value();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a.data()[i], b.data()[i]);
  // A mismatching shape is refused, naming the tensor.
  auto wrong = std::make_unique<Sequential>();
  Rng rng(3);
  wrong->add<Embedding>(7, 5, rng);
  wrong->add<BatchNorm2d>(2);
  wrong->add<LayerNorm>(Shape{3, 4});
  expect_error([&] { load_model_state(*wrong, state); }, {"0.weight"});
}
