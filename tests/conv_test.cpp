// Convolutions and pooling: forward values by hand and against a direct (naive) convolution,
// gradients against central differences, the layers (PyTorch's init, shapes, LeNet through a
// summary), error messages that leave the tape as it was, and bit-identical results for 1 and
// 2 threads on a batch-64 LeNet convolution stack.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

using namespace tg;
using test::expect_error;
using test::random_tensor;

namespace {

// Values in [-1, 1] unless told otherwise.
Tensor random_nd(const Shape& shape, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  return tg::test::random_nd(shape, seed, lo, hi);
}

// Values 0.1 apart in a shuffled order: no two elements of a max-pool window tie, even after a
// central difference's step.
Tensor distinct_nd(const Shape& shape, std::uint64_t seed) {
  const std::size_t n = element_count(shape);
  std::vector<float> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = 0.1f * (static_cast<float>(i) - n / 2.0f);
  Rng rng(seed);
  for (std::size_t i = n; i > 1; --i) std::swap(values[i - 1], values[rng.below(i)]);
  return tensor(shape, values);
}

Tensor seq(const Shape& shape) {
  std::vector<float> v(element_count(shape));
  std::iota(v.begin(), v.end(), 1.0f);
  return tensor(shape, v);
}

void expect_values(const Tensor& got, const Shape& shape, const std::vector<float>& want,
                   float tol = 1e-5f) {
  ASSERT_EQ(shape_of(got), shape);
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got.data()[i], want[i], tol * std::max(1.0f, std::fabs(want[i]))) << "at " << i;
}

// A direct convolution, for comparing with the im2col path.
Tensor naive_conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dOptions& o) {
  const std::size_t N = x.shape(0), H = x.shape(2), W = x.shape(3);
  const std::size_t CO = w.shape(0), CG = w.shape(1), KH = w.shape(2), KW = w.shape(3);
  const std::size_t OH = (H + 2 * o.padding.h - o.dilation.h * (KH - 1) - 1) / o.stride.h + 1;
  const std::size_t OW = (W + 2 * o.padding.w - o.dilation.w * (KW - 1) - 1) / o.stride.w + 1;
  const std::size_t per_group_out = CO / o.groups;
  Tensor y = zeros({N, CO, OH, OW});
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t co = 0; co < CO; ++co)
      for (std::size_t oh = 0; oh < OH; ++oh)
        for (std::size_t ow = 0; ow < OW; ++ow) {
          double s = b ? b->data()[co] : 0.0;
          const std::size_t g = co / per_group_out;
          for (std::size_t ci = 0; ci < CG; ++ci)
            for (std::size_t ki = 0; ki < KH; ++ki)
              for (std::size_t kj = 0; kj < KW; ++kj) {
                const long ih = static_cast<long>(oh * o.stride.h + ki * o.dilation.h) -
                                static_cast<long>(o.padding.h);
                const long iw = static_cast<long>(ow * o.stride.w + kj * o.dilation.w) -
                                static_cast<long>(o.padding.w);
                if (ih < 0 || iw < 0 || ih >= static_cast<long>(H) || iw >= static_cast<long>(W))
                  continue;
                const std::size_t c = g * CG + ci;
                s += static_cast<double>(
                         x(n, c, static_cast<std::size_t>(ih), static_cast<std::size_t>(iw))) *
                     w(co, ci, ki, kj);
              }
          y(n, co, oh, ow) = static_cast<float>(s);
        }
  return y;
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  return shape_of(a) == shape_of(b) &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

// ---- forward values ----

TEST(Conv2d, ForwardMatchesHandComputationOnATinyImage) {
  Tape t;
  Var x = t.constant(seq({1, 1, 3, 3}));  // 1..9
  Var w = t.constant(tensor({1, 1, 2, 2}, {1, 2, 3, 4}));
  Var b = t.constant(tensor({1}, {0.5f}));
  // 1*1 + 2*2 + 4*3 + 5*4 = 37, and so on, plus the bias.
  expect_values(conv2d(x, w, b).value(), {1, 1, 2, 2}, {37.5f, 47.5f, 67.5f, 77.5f});
  // Padding 1, stride 2: the corners see 1, 2-3, 4-7 and 5-6-8-9 of the image.
  expect_values(conv2d(x, w, b, {.stride = 2, .padding = 1}).value(), {1, 1, 2, 2},
                {4.5f, 18.5f, 36.5f, 77.5f});
  // Without a bias.
  expect_values(conv2d(x, w).value(), {1, 1, 2, 2}, {37, 47, 67, 77});
  // Dilation 2 on the 3x3 image: one output, the four corners.
  expect_values(conv2d(x, w, {.dilation = 2}).value(), {1, 1, 1, 1}, {1 + 2 * 3 + 3 * 7 + 4 * 9});
}

TEST(Conv2d, EveryOptionMatchesADirectConvolution) {
  const Conv2dOptions cases[] = {
      {},
      {.stride = 2, .padding = 1},
      {.stride = {1, 2}, .padding = {2, 0}, .dilation = {2, 1}},
      {.padding = 1, .dilation = 2, .groups = 2},
      {.stride = 2, .padding = 1, .dilation = 2, .groups = 4},
  };
  int k = 0;
  for (const Conv2dOptions& o : cases) {
    const Tensor x = random_nd({3, 4, 9, 8}, 10 + k);
    const Tensor w = random_nd({8, 4 / o.groups, 3, 2}, 20 + k);
    const Tensor b = random_nd({8}, 30 + k);
    Tape t;
    const Tensor y = conv2d(t.constant(x), t.constant(w), t.constant(b), o).value();
    const Tensor want = naive_conv2d(x, w, &b, o);
    ASSERT_EQ(shape_of(y), shape_of(want)) << "case " << k;
    for (std::size_t i = 0; i < y.size(); ++i)
      ASSERT_NEAR(y.data()[i], want.data()[i], 1e-5) << "case " << k << " at " << i;
    ++k;
  }
}

TEST(Conv1d, ForwardMatchesHandComputationAndTheTwoDimensionalPath) {
  Tape t;
  Var x = t.constant(tensor({1, 1, 5}, {1, 2, 3, 4, 5}));
  Var w = t.constant(tensor({2, 1, 2}, {1, -1, 2, 1}));
  Var b = t.constant(tensor({2}, {0, 10}));
  // Channel 0: x[i] - x[i+1] = -1; channel 1: 2 x[i] + x[i+1] + 10.
  expect_values(conv1d(x, w, b).value(), {1, 2, 4}, {-1, -1, -1, -1, 14, 17, 20, 23});
  // Padding 1, stride 2: windows (0, 1), (2, 3), (4, 5) of [0 1 2 3 4 5 0].
  expect_values(conv1d(x, w, {.stride = 2, .padding = 1}).value(), {1, 2, 3},
                {-1, -1, -1, 1, 7, 13});

  const Tensor x3 = random_nd({2, 4, 11}, 1), w3 = random_nd({6, 2, 3}, 2);
  const Tensor y1 = conv1d(t.constant(x3), t.constant(w3),
                           {.stride = 2, .padding = 1, .dilation = 2, .groups = 2})
                        .value();
  const Tensor x4 = tensor({2, 4, 1, 11}, std::vector<float>(x3.begin(), x3.end()));
  const Tensor w4 = tensor({6, 2, 1, 3}, std::vector<float>(w3.begin(), w3.end()));
  const Tensor want = naive_conv2d(
      x4, w4, nullptr, {.stride = {1, 2}, .padding = {0, 1}, .dilation = {1, 2}, .groups = 2});
  ASSERT_EQ(shape_of(y1), (Shape{2, 6, 5}));
  for (std::size_t i = 0; i < y1.size(); ++i) EXPECT_NEAR(y1.data()[i], want.data()[i], 1e-5);
}

TEST(Pool, MaxPoolTakesTheWindowMaximumAndPadsWithMinusInfinity) {
  Tape t;
  Var x =
      t.constant(tensor({1, 1, 4, 4}, {1, 5, 2, 0, 3, 4, 8, 7, -1, -2, -3, -4, -6, -5, -8, -7}));
  expect_values(max_pool2d(x, 2).value(), {1, 1, 2, 2}, {5, 8, -1, -3});
  // Padding 1: the padding never wins, even over negative values.
  expect_values(max_pool2d(x, 2, 2, 1).value(), {1, 1, 3, 3}, {1, 5, 0, 3, 8, 7, -6, -5, -7});
  // Stride 1, a 3x2 window.
  expect_values(max_pool2d(x, {3, 2}, 1).value(), {1, 1, 2, 3}, {5, 8, 8, 4, 8, 8});
}

TEST(Pool, MaxPoolSendsTheGradientToTheFirstMaximumOnTies) {
  Tape t;
  Var x = t.variable(tensor({1, 1, 2, 4}, {3, 3, 1, 2, 3, 0, 2, 2}));
  Var y = max_pool2d(x, 2);
  t.backward(y, tensor({1, 1, 1, 2}, {10, 20}));
  expect_values(x.grad(), {1, 1, 2, 4}, {10, 0, 0, 20, 0, 0, 0, 0});
}

TEST(Pool, AvgPoolCountsThePaddingAsTorchDoesByDefault) {
  Tape t;
  Var x = t.constant(seq({1, 1, 4, 4}));  // 1..16
  expect_values(avg_pool2d(x, 2).value(), {1, 1, 2, 2}, {3.5f, 5.5f, 11.5f, 13.5f});
  // Padding 1: the top-left window holds only 1 of its 4 cells; the divisor stays 4.
  expect_values(avg_pool2d(x, 2, 2, 1).value(), {1, 1, 3, 3},
                {0.25f, 1.25f, 1.0f, 3.5f, 8.5f, 5.0f, 3.25f, 7.25f, 4.0f});
}

TEST(Pool, AdaptiveAvgPoolUsesTorchsWindowsAndOneByOneIsTheGlobalMean) {
  Tape t;
  Var x = t.constant(seq({1, 2, 5, 3}));  // channel 0: 1..15, channel 1: 16..30
  // Rows of 5 into 3 cells: [0, 2), [1, 4), [3, 5); columns of 3 into 2: [0, 2), [1, 3).
  const Tensor y = adaptive_avg_pool2d(x, {3, 2}).value();
  ASSERT_EQ(shape_of(y), (Shape{1, 2, 3, 2}));
  EXPECT_FLOAT_EQ(y(0, 0, 0, 0), (1 + 2 + 4 + 5) / 4.0f);
  EXPECT_FLOAT_EQ(y(0, 0, 1, 1), (5 + 6 + 8 + 9 + 11 + 12) / 6.0f);
  EXPECT_FLOAT_EQ(y(0, 0, 2, 0), (10 + 11 + 13 + 14) / 4.0f);
  EXPECT_FLOAT_EQ(y(0, 1, 2, 1), (26 + 27 + 29 + 30) / 4.0f);
  expect_values(adaptive_avg_pool2d(x, 1).value(), {1, 2, 1, 1}, {8, 23});
  // As large as the input: the identity.
  EXPECT_TRUE(bit_identical(adaptive_avg_pool2d(x, {5, 3}).value(), x.value()));
}

// ---- gradients ----

namespace {
void expect_gradcheck(const GradcheckFunction& f, std::vector<Tensor> inputs,
                      const std::vector<Parameter*>& params = {}) {
  const GradcheckResult r = gradcheck(f, std::move(inputs), params);
  EXPECT_TRUE(r) << r.message;
}
}  // namespace

TEST(Conv2d, GradientsOfInputWeightAndBiasMatchCentralDifferences) {
  const Conv2dOptions cases[] = {
      {},
      {.stride = 2, .padding = 1},
      {.dilation = 2},
      {.groups = 2},
      {.stride = 2, .padding = 1, .dilation = 2, .groups = 2},
      {.stride = {2, 1}, .padding = {0, 2}, .dilation = {1, 2}},
  };
  int k = 0;
  for (const Conv2dOptions& o : cases) {
    SCOPED_TRACE("case " + std::to_string(k));
    expect_gradcheck(
        [&](Tape&, const std::vector<Var>& in) { return conv2d(in[0], in[1], in[2], o); },
        {random_nd({2, 4, 7, 6}, 40 + k), random_nd({6, 4 / o.groups, 3, 3}, 50 + k),
         random_nd({6}, 60 + k)});
    expect_gradcheck([&](Tape&, const std::vector<Var>& in) { return conv2d(in[0], in[1], o); },
                     {random_nd({2, 4, 7, 6}, 40 + k), random_nd({6, 4 / o.groups, 3, 3}, 50 + k)});
    ++k;
  }
}

TEST(Conv1d, GradientsOfInputWeightAndBiasMatchCentralDifferences) {
  const Conv1dOptions o{.stride = 2, .padding = 1, .dilation = 2, .groups = 2};
  expect_gradcheck(
      [&](Tape&, const std::vector<Var>& in) { return conv1d(in[0], in[1], in[2], o); },
      {random_nd({2, 4, 13}, 70), random_nd({6, 2, 3}, 71), random_nd({6}, 72)});
  expect_gradcheck([&](Tape&, const std::vector<Var>& in) { return conv1d(in[0], in[1], in[2]); },
                   {random_nd({3, 2, 6}, 73), random_nd({4, 2, 2}, 74), random_nd({4}, 75)});
}

TEST(Pool, MaxPoolGradientMatchesCentralDifferences) {
  expect_gradcheck([](Tape&, const std::vector<Var>& in) { return max_pool2d(in[0], 3, 2, 1); },
                   {distinct_nd({2, 3, 7, 7}, 1)});
  expect_gradcheck([](Tape&, const std::vector<Var>& in) { return max_pool2d(in[0], 2); },
                   {distinct_nd({2, 2, 6, 5}, 2)});
  expect_gradcheck(
      [](Tape&, const std::vector<Var>& in) {
        return max_pool2d(in[0], {2, 3}, 1);
      },
      {distinct_nd({1, 2, 4, 5}, 3)});
}

TEST(Pool, AvgPoolGradientMatchesCentralDifferences) {
  expect_gradcheck([](Tape&, const std::vector<Var>& in) { return avg_pool2d(in[0], 3, 2, 1); },
                   {random_nd({2, 3, 7, 7}, 4)});
  expect_gradcheck([](Tape&, const std::vector<Var>& in) { return avg_pool2d(in[0], 2); },
                   {random_nd({2, 2, 6, 5}, 5)});
}

TEST(Pool, AdaptiveAvgPoolGradientMatchesCentralDifferences) {
  expect_gradcheck(
      [](Tape&, const std::vector<Var>& in) {
        return adaptive_avg_pool2d(in[0], {3, 4});
      },
      {random_nd({2, 3, 5, 7}, 6)});
  expect_gradcheck([](Tape&, const std::vector<Var>& in) { return adaptive_avg_pool2d(in[0], 1); },
                   {random_nd({2, 3, 5, 7}, 7)});
}

TEST(Conv2d, AStepOfOtherShapesOnTheSameTapeReusesNothingStale) {
  // The op state is kept across clear(): a batch of another size must not see the old buffers.
  Tape t;
  const Tensor w = random_nd({3, 2, 3, 3}, 8);
  for (std::size_t batch : {2u, 5u, 1u, 2u}) {
    t.clear();
    const Tensor x = random_nd({batch, 2, 6, 5}, 9 + batch);
    Var xv = t.variable(x);
    Var y = conv2d(xv, t.variable(w), {.padding = 1});
    const Tensor want = naive_conv2d(x, w, nullptr, {.padding = 1});
    for (std::size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(y.value().data()[i], want.data()[i], 1e-5) << "batch " << batch;
    t.backward(sum(y));
    // d sum / dx at an interior pixel is the sum of all weights over the output channels.
    float total = 0.0f;
    for (std::size_t ci = 0; ci < 1; ++ci)
      for (std::size_t co = 0; co < 3; ++co)
        for (std::size_t i = 0; i < 9; ++i) total += w.data()[(co * 2 + ci) * 9 + i];
    EXPECT_NEAR(xv.grad()(0, 0, 2, 2), total, 1e-5);
  }
}

// ---- layers ----

TEST(ConvLayers, Conv2dIsInitialisedAsPyTorchAndRegistersWeightAndBias) {
  Rng rng(3);
  Conv2d conv(6, 16, 5, rng);
  const auto named = conv.named_parameters();
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0].first, "weight");
  EXPECT_EQ(named[1].first, "bias");
  EXPECT_EQ(shape_of(conv.weight.value), (Shape{16, 6, 5, 5}));
  EXPECT_EQ(shape_of(conv.bias.value), (Shape{16}));
  const double bound = 1.0 / std::sqrt(150.0);  // fan_in = 6 * 5 * 5
  double sq = 0.0;
  for (float v : conv.weight.value) {
    EXPECT_LE(std::fabs(v), bound);
    sq += double(v) * v;
  }
  // U(-b, b) has variance b^2 / 3.
  EXPECT_NEAR(sq / conv.weight.value.size(), bound * bound / 3, 0.1 * bound * bound / 3);
  for (float v : conv.bias.value) EXPECT_LE(std::fabs(v), bound);

  Conv2d grouped(4, 8, {3, 1}, rng, {.groups = 2, .bias = false});
  ASSERT_EQ(grouped.parameters().size(), 1u);
  EXPECT_EQ(shape_of(grouped.weight.value), (Shape{8, 2, 3, 1}));
  for (float v : grouped.weight.value) EXPECT_LE(std::fabs(v), 1.0 / std::sqrt(6.0));
  EXPECT_EQ(grouped.describe(), "Conv2d(4 -> 8, kernel 3x1, groups 2, no bias)");
  EXPECT_EQ(conv.describe(), "Conv2d(6 -> 16, kernel 5x5)");
  // The same seed draws the same layer.
  Rng a(7), b(7);
  EXPECT_TRUE(bit_identical(Conv2d(1, 6, 5, a).weight.value, Conv2d(1, 6, 5, b).weight.value));
}

TEST(ConvLayers, LayersAreGradientCheckedWithTheirParameters) {
  Rng rng(4);
  Conv2d conv(2, 4, 3, rng, {.stride = 2, .padding = 1, .dilation = 2, .groups = 2});
  expect_gradcheck([&](Tape&, const std::vector<Var>& in) { return conv(in[0]); },
                   {random_nd({2, 2, 7, 7}, 11)}, conv.parameters());
  Conv1d conv1(3, 2, 3, rng, {.padding = 1});
  EXPECT_EQ(conv1.describe(), "Conv1d(3 -> 2, kernel 3, padding 1)");
  EXPECT_EQ(conv1.output_shape({3, 10}), (Shape{2, 10}));
  expect_gradcheck([&](Tape&, const std::vector<Var>& in) { return conv1(in[0]); },
                   {random_nd({2, 3, 10}, 12)}, conv1.parameters());
}

TEST(ConvLayers, LeNetShapesGoThroughTheLayersAndTheSummary) {
  Rng rng(5);
  Sequential net;
  net.add<Conv2d>(1, 6, 5, rng, Conv2dOptions{.padding = 2});
  net.add<ReLU>();
  net.add<MaxPool2d>(2);
  net.add<Conv2d>(6, 16, 5, rng);
  net.add<ReLU>();
  net.add<AvgPool2d>(2);
  net.add<Flatten>();
  net.add<Dense>(400, 120, rng);
  net.add<ReLU>();
  net.add<Dense>(120, 84, rng);
  net.add<ReLU>();
  net.add<Dense>(84, 10, rng);
  EXPECT_EQ(net.output_shape({1, 28, 28}), (Shape{10}));
  EXPECT_EQ(net[2].output_shape({6, 28, 28}), (Shape{6, 14, 14}));
  EXPECT_EQ(net[5].output_shape({16, 10, 10}), (Shape{16, 5, 5}));
  const std::string s = summary(net, Shape{1, 28, 28});
  for (const char* part :
       {"Conv2d(1 -> 6, kernel 5x5, padding 2x2)", "batch x 6x28x28", "MaxPool2d(kernel 2x2)",
        "batch x 6x14x14", "Conv2d(6 -> 16, kernel 5x5)", "batch x 16x10x10", "batch x 16x5x5",
        "batch x 400", "total parameters: 61706"})
    EXPECT_NE(s.find(part), std::string::npos) << part << "\n" << s;
  EXPECT_THROW(summary(net, Shape{3, 28, 28}), Error);
  EXPECT_THROW(summary(net, Shape{1, 4, 4}), Error);

  Tape t;
  Var x = t.constant(random_nd({3, 1, 28, 28}, 13, 0.0f, 1.0f));
  Var h = x;
  const Shape expected[] = {{3, 6, 28, 28},  {3, 6, 28, 28}, {3, 6, 14, 14}, {3, 16, 10, 10},
                            {3, 16, 10, 10}, {3, 16, 5, 5},  {3, 400}};
  for (std::size_t i = 0; i < 7; ++i) {
    h = net[i](h);
    EXPECT_EQ(h.sizes(), expected[i]) << "after layer " << i;
  }
  Var logits = net(x);
  EXPECT_EQ(logits.sizes(), (Shape{3, 10}));
  t.backward(sum(logits));
  for (Parameter* p : net.parameters()) {
    float m = 0.0f;
    for (float g : p->grad) m = std::max(m, std::fabs(g));
    EXPECT_GT(m, 0.0f) << p->name;
  }

  AdaptiveAvgPool2d global(1);
  EXPECT_EQ(global.output_shape({16, 5, 5}), (Shape{16, 1, 1}));
  EXPECT_EQ(global.describe(), "AdaptiveAvgPool2d(1x1)");
  EXPECT_EQ(AvgPool2d(3, 2, 1).describe(), "AvgPool2d(kernel 3x3, stride 2x2, padding 1x1)");
  EXPECT_EQ(AvgPool2d(3, 2, 1).output_shape({2, 7, 7}), (Shape{2, 4, 4}));
}

// ---- errors ----

TEST(Conv2d, ErrorsNameTheOpAndTheShapesAndLeaveTheTapeUnchanged) {
  Tape t;
  Var x = t.variable(random_nd({2, 3, 8, 8}, 1));
  Var small = t.variable(random_nd({1, 1, 3, 3}, 2));
  Var w = t.variable(random_nd({4, 2, 3, 3}, 3));
  Var w5 = t.variable(random_nd({1, 1, 5, 5}, 4));
  Var w7 = t.variable(random_nd({1, 1, 7, 7}, 5));
  Var b = t.variable(random_nd({3}, 6));
  Var x1 = t.variable(random_nd({2, 3, 8}, 7));
  Var w_1x3 = t.variable(random_nd({1, 3, 3, 3}, 8));
  Var w_4x3 = t.variable(random_nd({4, 3, 3, 3}, 9));
  Var w_1d = t.variable(random_nd({2, 3, 9}, 10));
  const std::size_t before = t.size();
  expect_error([&] { conv2d(x, w); },
               {"conv2d: input is 2x3x8x8 but weight is 4x2x3x3 (groups 1): the input must have 2 "
                "channels, not 3"});
  expect_error([&] { conv2d(small, w5); },
               {"conv2d", "1x1x3x3", "1x1x5x5", "kernel spans 5x5", "padded input 3x3"});
  expect_error([&] { conv2d(small, w7, {.padding = 1}); },
               {"kernel spans 7x7", "padded input 5x5 (padding 1x1)"});
  // Dilation spreads the kernel: 3x3 with dilation 4 spans 9x9.
  expect_error([&] { conv2d(x, w_1x3, {.dilation = 4}); },
               {"conv2d", "2x3x8x8", "spans 9x9", "dilation 4x4"});
  expect_error([&] { conv2d(x, w_4x3, b); },
               {"conv2d: weight is 4x3x3x3 but bias is 3 (must be 4)"});
  expect_error([&] { conv2d(x, w, {.groups = 3}); },
               {"conv2d", "4x2x3x3", "groups is 3", "C_out must be divisible"});
  expect_error([&] { conv2d(x1, w); }, {"conv2d: input is 2x3x8 but must be N x C x H x W"});
  expect_error([&] { conv2d(x, w, {.stride = 0}); }, {"conv2d", "stride 0x0"});
  expect_error([&] { conv1d(x, w); }, {"conv1d: input is 2x3x8x8 but must be N x C x L"});
  expect_error([&] { conv1d(x1, w_1d); },
               {"conv1d", "2x3x8", "2x3x9", "kernel spans 9", "padded input 8"});
  expect_error([&] { max_pool2d(small, 5); },
               {"max_pool2d: input is 1x1x3x3 but the kernel 5x5 is larger than the padded input "
                "3x3"});
  expect_error([&] { avg_pool2d(small, 3, 1, 2); },
               {"avg_pool2d", "padding 2x2 must be at most half the kernel 3x3"});
  expect_error([&] { max_pool2d(x1, 2); },
               {"max_pool2d: input is 2x3x8 but must be N x C x H x W"});
  expect_error([&] { adaptive_avg_pool2d(x, {0, 1}); }, {"adaptive_avg_pool2d", "0x1"});
  EXPECT_EQ(t.size(), before);
  // A 5x5 kernel fits the 3x3 image padded by 1; and the tape still works.
  EXPECT_EQ(conv2d(small, w5, {.padding = 1}).sizes(), (Shape{1, 1, 1, 1}));
  t.backward(sum(conv2d(x, w_4x3)));
  EXPECT_EQ(x.grad().size(), 2u * 3 * 8 * 8);

  Rng rng(1);
  expect_error([&] { Conv2d(3, 4, 3, rng, {.groups = 2}); }, {"Conv2d", "groups 2"});
  Conv2d conv(3, 4, 3, rng);
  expect_error([&] { conv.output_shape({2, 8, 8}); }, {"Conv2d: input is 2x8x8 but must be 3"});
}

// ---- threads ----

TEST(Conv2d, OneAndTwoThreadsGiveBitIdenticalForwardAndBackwardOnABatch64LeNet) {
  auto run = [](std::size_t threads, std::vector<Tensor>& results) {
    set_num_threads(threads);
    Rng rng(6);
    Conv2d c1(1, 6, 5, rng, {.padding = 2});
    Conv2d c2(6, 16, 5, rng);
    const Tensor images = random_nd({64, 1, 28, 28}, 14, 0.0f, 1.0f);
    const Tensor seed = random_nd({64, 16, 5, 5}, 15);
    Tape t;
    for (int step = 0; step < 2; ++step) {  // the second step reuses every buffer
      t.clear();
      for (Parameter* p : {&c1.weight, &c1.bias, &c2.weight, &c2.bias}) p->zero_grad();
      Var x = t.variable(images);
      Var y = max_pool2d(relu(c2(max_pool2d(relu(c1(x)), 2))), 2);
      t.backward(y, seed);
      if (step == 1)
        results = {y.value(), x.grad(), c1.weight.grad, c1.bias.grad, c2.weight.grad, c2.bias.grad};
    }
    set_num_threads(1);
  };
  std::vector<Tensor> one, two;
  run(1, one);
  run(2, two);
  ASSERT_EQ(one.size(), two.size());
  const char* names[] = {"output",          "input grad",        "conv1 weight grad",
                         "conv1 bias grad", "conv2 weight grad", "conv2 bias grad"};
  for (std::size_t i = 0; i < one.size(); ++i)
    EXPECT_TRUE(bit_identical(one[i], two[i])) << names[i];
}
