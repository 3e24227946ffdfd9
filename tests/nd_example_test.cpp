// A rank-4 example end to end: an N x C x H x W batch (2x3x4x5) normalised with per-channel
// statistics (mean over {0, 2, 3} with keepdim), scaled and shifted per channel (1x3x1x1
// operands broadcast), given a bias along the last dimension (5 elements, broadcast), permuted
// to N x H x W x C and reduced to one number. Checked with gradcheck for the input and for
// every broadcast operand, and forward by hand. Plus the rule behind every broadcast
// gradient: it is the output's gradient summed over the dimensions the operand was stretched
// along.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace tg;
using test::random_tensor;

using test::random_nd;

namespace {

constexpr std::size_t N = 2, C = 3, H = 4, W = 5;
constexpr float kEps = 1e-5f;

// Reproducible values in [lo, hi] in any shape.
Tensor input() {
  return random_nd({N, C, H, W}, 1);
}
Tensor channel_scale() {
  return random_nd({1, C, 1, 1}, 2, 0.5f, 1.5f);
}
Tensor channel_shift() {
  return random_nd({1, C, 1, 1}, 3);
}
Tensor last_dim_bias() {
  return random_nd({W}, 4);
}
// Fixed weights in the permuted (N x H x W x C) layout: the final sum weighs every element
// differently, so a gradient that comes back through permute in the wrong layout shows.
Tensor readout_weights() {
  return random_nd({N, H, W, C}, 5, -1.0f, 1.0f);
}

// Per-channel normalisation, per-channel scale and shift, last-dimension bias, N x H x W x C.
Var normalise_and_permute(Var x, Var gamma, Var beta, Var bias) {
  Var mu = mean(x, {0, 2, 3}, /*keepdim=*/true);            // 1x3x1x1
  Var centred = x - mu;                                     // 2x3x4x5
  Var variance = mean(centred * centred, {0, 2, 3}, true);  // 1x3x1x1, biased
  Var normalised = centred / sqrt(variance + kEps);         // 2x3x4x5
  Var y = normalised * gamma + beta + bias;                 // 1x3x1x1, 1x3x1x1, 5
  return permute(y, {0, 2, 3, 1});                          // 2x4x5x3
}

// The readout is one float32 number of magnitude ~10, so each evaluation carries about one
// ulp (1e-6) of rounding, which a central difference divides by 2 epsilon. The function is
// smooth (the variances are ~1, far from eps), so a wider step costs little truncation error:
// measured, the worst input element's relative error is 4e-3 at epsilon 1e-2 (the default;
// 0.017 at 3e-3, float noise) and 1e-3 at 5e-2, against the tolerance of 1e-2.
GradcheckOptions smooth_function_options() {
  GradcheckOptions options;
  options.epsilon = 5e-2;
  return options;
}

Var readout(Var nhwc) {
  return sum(nhwc * nhwc.tape().constant(readout_weights()));
}

// The same, by hand in double, for element [n, h, w, c] of the permuted output.
double by_hand(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& bias,
               std::size_t n, std::size_t h, std::size_t w, std::size_t c) {
  double mu = 0.0;
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t j = 0; j < H; ++j)
      for (std::size_t k = 0; k < W; ++k) mu += x(i, c, j, k);
  mu /= static_cast<double>(N * H * W);
  double variance = 0.0;
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t j = 0; j < H; ++j)
      for (std::size_t k = 0; k < W; ++k) variance += (x(i, c, j, k) - mu) * (x(i, c, j, k) - mu);
  variance /= static_cast<double>(N * H * W);
  return gamma(0, c, 0, 0) * (x(n, c, h, w) - mu) / std::sqrt(variance + kEps) + beta(0, c, 0, 0) +
         bias(w);
}

}  // namespace

TEST(NdExample, ForwardOfAnNCHWBatchNormalisedPerChannelAndPermutedToNHWCMatchesHandComputation) {
  const Tensor x = input(), gamma = channel_scale(), beta = channel_shift(), bias = last_dim_bias();
  Tape t;
  Var out =
      normalise_and_permute(t.constant(x), t.constant(gamma), t.constant(beta), t.constant(bias));
  ASSERT_EQ(out.sizes(), (Shape{N, H, W, C}));
  // One element, with every index different from its position in NCHW.
  EXPECT_NEAR(out.value()(1, 2, 3, 1), by_hand(x, gamma, beta, bias, 1, 2, 3, 1), 1e-5);
  EXPECT_NEAR(out.value()(0, 3, 4, 2), by_hand(x, gamma, beta, bias, 0, 3, 4, 2), 1e-5);

  // The weighted total over all 120 elements.
  const Tensor weights = readout_weights();
  double total = 0.0;
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t w = 0; w < W; ++w)
        for (std::size_t c = 0; c < C; ++c)
          total += weights(n, h, w, c) * by_hand(x, gamma, beta, bias, n, h, w, c);
  EXPECT_NEAR(readout(out).item(), total, 1e-4);
}

TEST(NdExample, PerChannelStatisticsWithKeepdimAreOnePerChannelAndNormaliseEachChannel) {
  Tape t;
  Var x = t.constant(input());
  Var mu = mean(x, {0, 2, 3}, true);
  EXPECT_EQ(mu.sizes(), (Shape{1, C, 1, 1}));
  EXPECT_EQ(mean(x, {0, 2, 3}).sizes(), (Shape{C}));
  // After normalisation every channel has mean 0 and (biased) variance 1.
  Var centred = x - mu;
  Var normalised = centred / sqrt(mean(centred * centred, {0, 2, 3}, true) + kEps);
  Var m = mean(normalised, {0, 2, 3}, true);
  Var v = mean(normalised * normalised, {-4, -2, -1}, true);  // the same dims, counted from the end
  for (std::size_t c = 0; c < C; ++c) {
    EXPECT_NEAR(m.value()(0, c, 0, 0), 0.0, 1e-6);
    EXPECT_NEAR(v.value()(0, c, 0, 0), 1.0, 1e-4);  // 1 - eps / var
  }
}

TEST(NdExample, GradientsOfTheInputAndOfEveryBroadcastOperandMatchCentralDifferences) {
  // x, beta and bias as gradcheck inputs; gamma as a Parameter.
  Parameter gamma(channel_scale(), "gamma");
  auto r = gradcheck(
      [&gamma](Tape& t, const std::vector<Var>& in) {
        return readout(normalise_and_permute(in[0], t.param(gamma), in[1], in[2]));
      },
      {input(), channel_shift(), last_dim_bias()}, {&gamma}, smooth_function_options());
  EXPECT_TRUE(r) << r.message;
}

TEST(NdExample, GradientsMatchCentralDifferencesWithEveryBroadcastOperandAParameter) {
  Parameter gamma(channel_scale(), "gamma"), beta(channel_shift(), "beta"),
      bias(last_dim_bias(), "bias");
  auto r = gradcheck(
      [&](Tape& t, const std::vector<Var>& in) {
        return readout(normalise_and_permute(in[0], t.param(gamma), t.param(beta), t.param(bias)));
      },
      {input()}, {&gamma, &beta, &bias}, smooth_function_options());
  EXPECT_TRUE(r) << r.message;
}

TEST(NdExample, TheGradientOfABroadcastBiasIsTheSeedSummedOverTheBroadcastDims) {
  // x 2x3x4, b 4: b is stretched over 2 x 3 = 6 positions, so with a seed of ones each of its
  // elements receives 6.
  Tape t;
  Var x = t.variable(random_nd({2, 3, 4}, 6));
  Var b = t.variable(random_nd({4}, 7));
  Var y = add(x, b);
  ASSERT_EQ(y.sizes(), (Shape{2, 3, 4}));
  t.backward(y, ones({2, 3, 4}));
  ASSERT_EQ(b.grad().dimension(), 1u);
  ASSERT_EQ(b.grad().shape(0), 4u);
  for (std::size_t k = 0; k < 4; ++k) EXPECT_FLOAT_EQ(b.grad()(k), 6.0f);
  for (float g : x.grad()) EXPECT_FLOAT_EQ(g, 1.0f);
}

TEST(NdExample, TheGradientOfAPerChannelOperandIsTheGradientSummedOverNHAndW) {
  // y = x * s + c with s, c 1x3x1x1 and an arbitrary seed G: dL/ds[ch] = sum over n, h, w of
  // G * x, dL/dc[ch] = sum of G, and dL/dx = G * s[ch], unreduced.
  const Tensor xv = input(), sv = channel_scale(), cv = channel_shift();
  const Tensor seed = random_nd({N, C, H, W}, 8);
  Tape t;
  Var x = t.variable(xv);
  Var s = t.variable(sv);
  Var c = t.variable(cv);
  Var y = x * s + c;
  t.backward(y, seed);
  ASSERT_EQ(s.grad().dimension(), 4u);
  ASSERT_EQ(c.grad().dimension(), 4u);
  for (std::size_t ch = 0; ch < C; ++ch) {
    double ds = 0.0, dc = 0.0;
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t h = 0; h < H; ++h)
        for (std::size_t w = 0; w < W; ++w) {
          ds += seed(n, ch, h, w) * xv(n, ch, h, w);
          dc += seed(n, ch, h, w);
          EXPECT_FLOAT_EQ(x.grad()(n, ch, h, w), seed(n, ch, h, w) * sv(0, ch, 0, 0));
        }
    EXPECT_NEAR(s.grad()(0, ch, 0, 0), ds, 1e-4);
    EXPECT_NEAR(c.grad()(0, ch, 0, 0), dc, 1e-4);
  }
}
