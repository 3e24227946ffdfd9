// The textbook: every checkable claim of the study notes in /work/shared/seeds/ (cited as
// seeds/000 ... seeds/004), each as a test that tapegrad has to pass by computing the answer
// itself with its ops, layers and backward pass. Read a test as the explanation of its claim:
// the comment says what the note claims and why, the assertions are the evidence.
//
// Expected numbers come from the mathematics (worked by hand in the comments), never from a
// run of tapegrad. Bounds on random experiments come from the theory, with a margin.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>
#include <xtensor/xview.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <vector>

using namespace tg;
using test::random_tensor;

namespace {

// A 1 x n row of evenly spaced points lo, lo + step, ..., hi.
Tensor grid(float lo, float hi, float step) {
  const auto n = static_cast<std::size_t>(std::lround((hi - lo) / step)) + 1;
  Tensor t = zeros(1, n);
  for (std::size_t i = 0; i < n; ++i) t(0, i) = lo + step * static_cast<float>(i);
  return t;
}

// The row -k step, ..., -step, 0, step, ..., k step: exactly symmetric, with 0 in the middle.
Tensor symmetric_grid(float limit, float step) {
  const auto k = static_cast<long>(std::lround(limit / step));
  Tensor t = zeros(1, static_cast<std::size_t>(2 * k + 1));
  for (long i = -k; i <= k; ++i)
    t(0, static_cast<std::size_t>(i + k)) = step * static_cast<float>(i);
  return t;
}

// Prints a measured value when TEXTBOOK_VERBOSE is set, so a reader can see the numbers
// behind a claim: TEXTBOOK_VERBOSE=1 tapegrad_tests --gtest_filter='Textbook.*'
void show(const char* what, double value) {
  if (std::getenv("TEXTBOOK_VERBOSE")) std::printf("    %s = %.6g\n", what, value);
}

// d f(x) / dx for every element of x, by tapegrad's backward pass: x is recorded as a
// variable, f applied, and the gradient seeded with ones (f is elementwise, so each output
// depends on its own input only and x.grad() holds f'(x)).
Tensor derivative(const std::function<Var(Var)>& f, const Tensor& x) {
  Tape tape;
  Var xv = tape.variable(x);
  Var y = f(xv);
  tape.backward(y, full(rows(x), cols(x), 1.0f));
  return xv.grad();
}

// f'(x) by a central difference of tapegrad's own forward pass: an independent witness.
Tensor central_difference(const std::function<Var(Var)>& f, const Tensor& x, float h = 1e-2f) {
  NoGradGuard no_grad;
  Tape tape;
  Tensor plus = x + h, minus = x - h;
  Tensor up = f(tape.constant(plus)).value();
  Tensor down = f(tape.constant(minus)).value();
  return (up - down) / (2.0f * h);
}

Tensor forward(const std::function<Var(Var)>& f, const Tensor& x) {
  NoGradGuard no_grad;
  Tape tape;
  return f(tape.constant(x)).value();
}

double mean_of(const Tensor& t) {
  double s = 0;
  for (float v : t) s += v;
  return s / static_cast<double>(t.size());
}

double variance_of(const Tensor& t) {
  const double m = mean_of(t);
  double s = 0;
  for (float v : t) s += (v - m) * (v - m);
  return s / static_cast<double>(t.size());
}

double second_moment_of(const Tensor& t) {
  double s = 0;
  for (float v : t) s += static_cast<double>(v) * v;
  return s / static_cast<double>(t.size());
}

double norm_of(const Tensor& t) {
  return std::sqrt(second_moment_of(t) * t.size());
}

Tensor normal_tensor(std::size_t r, std::size_t c, Rng& rng, float mean = 0.0f, float sd = 1.0f) {
  Tensor t = zeros(r, c);
  for (float& v : t) v = rng.normal(mean, sd);
  return t;
}

// ---- a tiny training set-up, written out because this is what the notes describe ----

struct Points {
  Tensor x;
  std::vector<std::int32_t> labels;
};

// `per_class` points around each centre, normal noise of standard deviation sd.
Points blobs(const std::vector<std::pair<float, float>>& centres, std::size_t per_class, float sd,
             Rng& rng) {
  Points d{zeros(centres.size() * per_class, 2), {}};
  std::size_t row = 0;
  for (std::size_t k = 0; k < centres.size(); ++k)
    for (std::size_t i = 0; i < per_class; ++i, ++row) {
      d.x(row, 0) = rng.normal(centres[k].first, sd);
      d.x(row, 1) = rng.normal(centres[k].second, sd);
      d.labels.push_back(static_cast<std::int32_t>(k));
    }
  return d;
}

// Two concentric rings: class 0 at radius 1, class 1 at radius 3 (radial noise sd 0.2).
Points rings(std::size_t per_class, Rng& rng) {
  Points d{zeros(2 * per_class, 2), {}};
  for (std::size_t i = 0; i < 2 * per_class; ++i) {
    const int label = i < per_class ? 0 : 1;
    const float radius = rng.normal(label == 0 ? 1.0f : 3.0f, 0.2f);
    const float angle = rng.uniform(0.0f, 6.2831853f);
    d.x(i, 0) = radius * std::cos(angle);
    d.x(i, 1) = radius * std::sin(angle);
    d.labels.push_back(label);
  }
  return d;
}

Tensor labels_as_column(const Points& d) {
  Tensor t = zeros(d.labels.size(), 1);
  for (std::size_t i = 0; i < d.labels.size(); ++i) t(i, 0) = static_cast<float>(d.labels[i]);
  return t;
}

Tensor one_hot(const Points& d, std::size_t classes) {
  Tensor t = zeros(d.labels.size(), classes);
  for (std::size_t i = 0; i < d.labels.size(); ++i)
    t(i, static_cast<std::size_t>(d.labels[i])) = 1.0f;
  return t;
}

// Plain full-batch gradient descent, by hand (the optimizer module is written elsewhere):
// record the forward pass, backpropagate, step every parameter against its gradient.
// Returns the losses of the first and the last step.
std::pair<float, float> train_with_sgd(Module& model, int steps, float lr,
                                       const std::function<Var(Tape&)>& loss_of) {
  Tape tape;
  float first = 0, last = 0;
  for (int step = 0; step < steps; ++step) {
    tape.clear();
    Var loss = loss_of(tape);
    tape.backward(loss);
    for (Parameter* p : model.parameters()) {
      p->value -= lr * p->grad;
      p->zero_grad();
    }
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  return {first, last};
}

// Fraction of rows whose predicted class (argmax, or p > 0.5 for one output column) is right.
double accuracy(Module& model, const Points& d) {
  NoGradGuard no_grad;
  Tape tape;
  Tensor out = model(tape.constant(d.x)).value();
  std::vector<std::int32_t> predicted = argmax_rows(out);
  if (cols(out) == 1)
    for (std::size_t i = 0; i < rows(out); ++i) predicted[i] = out(i, 0) > 0.5f ? 1 : 0;
  std::size_t right = 0;
  for (std::size_t i = 0; i < d.labels.size(); ++i) right += predicted[i] == d.labels[i] ? 1 : 0;
  return static_cast<double>(right) / static_cast<double>(d.labels.size());
}

}  // namespace

// ============================================================================================
// 1. Why activations must be non-linear
// ============================================================================================

// seeds/004: with the linear activation h(x) = c x, a three-layer network computes
// y = h(h(h(x))) = c * c * c * x = c^3 x: the same as one layer y = a x with a = c^3.
TEST(Textbook, ThreeLinearActivationsHOfXEqualsCxAreOneLayerScaledByCCubed) {
  const float c = 1.7f;
  Tensor x = random_tensor(4, 6, 1);
  Tensor three_layers = forward([&](Var v) { return scale(scale(scale(v, c), c), c); }, x);
  Tensor one_layer = forward([&](Var v) { return scale(v, c * c * c); }, x);
  for (std::size_t i = 0; i < x.size(); ++i)
    EXPECT_NEAR(three_layers.flat(i), one_layer.flat(i), 1e-5f);
}

// seeds/001, 003, 004: stacking layers without a non-linear activation does not make the
// network deeper: x W1 + b1, then W2, then W3 (with h(x) = c x between them) is one affine map
//   y = c(c(c(x W1 + b1) W2 + b2) W3 + b3)
//     = x (c^3 W1 W2 W3) + (c^3 b1 W2 W3 + c^2 b2 W3 + c b3),
// so a single Dense layer with that weight and bias gives the same outputs on any input.
TEST(Textbook, DenseLayersWithALinearActivationCollapseIntoOneDenseLayer) {
  const float c = 0.8f;
  Rng rng(2);
  Dense l1(5, 4, rng), l2(4, 4, rng), l3(4, 3, rng);
  l1.bias.value = random_tensor(1, 4, 3);
  l2.bias.value = random_tensor(1, 4, 4);
  l3.bias.value = random_tensor(1, 3, 5);

  Tape tape;  // the collapsed weight and bias, computed with tapegrad's own matmul
  Var W1 = tape.constant(l1.weight.value), W2 = tape.constant(l2.weight.value),
      W3 = tape.constant(l3.weight.value);
  Var b1 = tape.constant(l1.bias.value), b2 = tape.constant(l2.bias.value),
      b3 = tape.constant(l3.bias.value);
  Var W23 = matmul(W2, W3);
  Dense one(5, 3, rng);
  one.weight.value = scale(matmul(W1, W23), c * c * c).value();
  one.bias.value =
      add(add(scale(matmul(b1, W23), c * c * c), scale(matmul(b2, W3), c * c)), scale(b3, c))
          .value();

  Tensor x = random_tensor(64, 5, 6);
  Tensor deep = forward([&](Var v) { return scale(l3(scale(l2(scale(l1(v), c)), c)), c); }, x);
  Tensor shallow = forward([&](Var v) { return one(v); }, x);
  for (std::size_t i = 0; i < deep.size(); ++i)
    EXPECT_NEAR(deep.flat(i), shallow.flat(i), 1e-4f * (1.0f + std::fabs(deep.flat(i))));
}

// seeds/003: only a non-linear activation lets depth express something a single linear map
// cannot. A stack without biases and with a linear activation is linear, f(3x) = 3 f(x);
// with tanh between the same layers that fails by far.
TEST(Textbook, WithTanhBetweenTheLayersTheStackIsNoLongerLinear) {
  Rng rng(7);
  Dense l1(5, 8, rng, {.bias = false, .init = Init::xavier_normal});
  Dense l2(8, 3, rng, {.bias = false, .init = Init::xavier_normal});
  Tensor x = random_tensor(16, 5, 8);
  Tensor x3 = 3.0f * x;
  auto linear = [&](Var v) { return l2(scale(l1(v), 0.5f)); };
  auto nonlinear = [&](Var v) { return l2(tanh(l1(v))); };

  Tensor lin = forward(linear, x), lin3 = forward(linear, x3);
  Tensor non = forward(nonlinear, x), non3 = forward(nonlinear, x3);
  double linear_gap = 0, nonlinear_gap = 0;
  for (std::size_t i = 0; i < lin.size(); ++i) {
    linear_gap = std::max(linear_gap, double(std::fabs(lin3.flat(i) - 3.0f * lin.flat(i))));
    nonlinear_gap = std::max(nonlinear_gap, double(std::fabs(non3.flat(i) - 3.0f * non.flat(i))));
  }
  EXPECT_LT(linear_gap, 1e-4);
  EXPECT_GT(nonlinear_gap, 0.5);
}

// ============================================================================================
// 2. Activation functions and their gradients
// ============================================================================================

// seeds/003: sigma'(x) = sigma(x) (1 - sigma(x)). It is largest at x = 0, where it is
// 0.5 * 0.5 = 1/4, and goes to 0 as |x| grows: every sigmoid layer scales the gradient by at
// most 1/4, the root of the vanishing gradient (seeds/001, 002, 004).
TEST(Textbook, SigmoidDerivativeIsSigmaTimesOneMinusSigmaAtMostAQuarterPeakingAtZero) {
  auto f = [](Var v) { return sigmoid(v); };
  Tensor x = symmetric_grid(8.0f, 0.01f);
  Tensor y = forward(f, x), dy = derivative(f, x), numeric = central_difference(f, x);
  std::size_t at_zero = (cols(x) - 1) / 2;
  ASSERT_EQ(x(0, at_zero), 0.0f);
  for (std::size_t i = 0; i < cols(x); ++i) {
    EXPECT_NEAR(dy(0, i), y(0, i) * (1.0f - y(0, i)), 1e-6f) << "x = " << x(0, i);
    EXPECT_NEAR(dy(0, i), numeric(0, i), 1e-4f) << "x = " << x(0, i);
    EXPECT_LE(dy(0, i), 0.25f);
  }
  EXPECT_NEAR(dy(0, at_zero), 0.25f, 1e-6f);
  // Falls off on both sides: it decreases with |x|.
  for (std::size_t i = at_zero; i + 1 < cols(x); ++i) EXPECT_GE(dy(0, i), dy(0, i + 1));
  for (std::size_t i = at_zero; i > 0; --i) EXPECT_GE(dy(0, i), dy(0, i - 1));
  EXPECT_LT(dy(0, 0), 1e-3f);  // at x = -8 almost nothing flows back
}

// seeds/003: tanh'(x) = 1 - tanh^2(x) is at most 1, reached at x = 0, and vanishes for large
// |x| too. Its peak is four times sigmoid's, which is why tanh delays (but does not remove)
// the vanishing gradient (seeds/000, 004).
TEST(Textbook, TanhDerivativeIsOneMinusTanhSquaredAtMostOnePeakingAtZero) {
  auto f = [](Var v) { return tanh(v); };
  Tensor x = symmetric_grid(5.0f, 0.01f);
  Tensor y = forward(f, x), dy = derivative(f, x), numeric = central_difference(f, x);
  Tensor dsig = derivative([](Var v) { return sigmoid(v); }, x);
  std::size_t at_zero = (cols(x) - 1) / 2;
  for (std::size_t i = 0; i < cols(x); ++i) {
    EXPECT_NEAR(dy(0, i), 1.0f - y(0, i) * y(0, i), 1e-6f) << "x = " << x(0, i);
    EXPECT_NEAR(dy(0, i), numeric(0, i), 1e-4f) << "x = " << x(0, i);
    EXPECT_LE(dy(0, i), 1.0f);
  }
  EXPECT_NEAR(dy(0, at_zero), 1.0f, 1e-6f);
  EXPECT_NEAR(dy(0, at_zero), 4.0f * dsig(0, at_zero), 1e-6f);
  EXPECT_LT(dy(0, 0), 1e-3f);  // saturated at x = -5
}

// seeds/001, 002, 004: ReLU passes x > 0 unchanged, so its gradient there is exactly 1 (no
// shrinking however many layers), and outputs 0 for x < 0, where its gradient is exactly 0.
TEST(Textbook, ReluGradientIsOneForPositiveAndZeroForNegativeInputs) {
  Tensor x = grid(-3.005f, 3.005f, 0.01f);  // steps around 0, never on it
  Tensor dy = derivative([](Var v) { return relu(v); }, x);
  for (std::size_t i = 0; i < cols(x); ++i)
    EXPECT_EQ(dy(0, i), x(0, i) > 0 ? 1.0f : 0.0f) << "x = " << x(0, i);
}

// seeds/000, 002 ("dying ReLU", "Dead ReLU"): a unit whose weighted sum is negative for every
// sample outputs 0 for all of them, so no gradient reaches its weights or bias: gradient
// descent never changes them, and the unit stays dead.
TEST(Textbook, AReluUnitNegativeForEverySampleGetsNoGradientAndStaysDead) {
  Rng rng(9);
  Dense layer(4, 3, rng);
  layer.bias.value(0, 1) = -50.0f;  // unit 1 is pushed far below zero
  Tensor x = random_tensor(32, 4, 10);
  Tensor target = random_tensor(32, 3, 11);
  {
    Tape tape;
    Tensor pre = layer(tape.constant(x)).value();
    for (std::size_t i = 0; i < 32; ++i) ASSERT_LT(pre(i, 1), 0.0f) << "sample " << i;
  }
  const Tensor dead_column_before = xt::view(layer.weight.value, xt::all(), xt::range(1, 2));
  auto [first, last] = train_with_sgd(
      layer, 100, 0.1f, [&](Tape& tape) { return mse(relu(layer(tape.constant(x))), target); });
  EXPECT_LT(last, first);  // the live units learned...
  Tensor dead_column_after = xt::view(layer.weight.value, xt::all(), xt::range(1, 2));
  EXPECT_EQ(dead_column_after, dead_column_before);  // ...the dead one never moved
  EXPECT_EQ(layer.bias.value(0, 1), -50.0f);

  // One more backward to show the gradients themselves: exactly zero for unit 1 only.
  Tape tape;
  tape.backward(mse(relu(layer(tape.constant(x))), target));
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(layer.weight.grad(i, 1), 0.0f);
    EXPECT_NE(layer.weight.grad(i, 0), 0.0f);
    EXPECT_NE(layer.weight.grad(i, 2), 0.0f);
  }
}

// seeds/000, 003: Leaky ReLU (alpha x for x < 0) and ELU (alpha (e^x - 1) for x < 0) were made
// to fix dying ReLU: for negative inputs their gradients are alpha and alpha e^x, not 0.
// The unit that ReLU let die above still receives a weight gradient through either of them.
TEST(Textbook, LeakyReluAndEluKeepANonZeroGradientForNegativeInputs) {
  const float alpha = 0.1f;
  Tensor x = grid(-4.005f, -0.005f, 0.01f);
  auto leaky = [&](Var v) { return leaky_relu(v, alpha); };
  auto el = [&](Var v) { return elu(v, 1.0f); };
  Tensor d_leaky = derivative(leaky, x), d_elu = derivative(el, x);
  Tensor n_leaky = central_difference(leaky, x, 1e-3f), n_elu = central_difference(el, x, 1e-3f);
  for (std::size_t i = 0; i < cols(x); ++i) {
    EXPECT_FLOAT_EQ(d_leaky(0, i), alpha);
    EXPECT_NEAR(d_leaky(0, i), n_leaky(0, i), 1e-3f);
    EXPECT_NEAR(d_elu(0, i), std::exp(x(0, i)), 1e-5f);
    EXPECT_NEAR(d_elu(0, i), n_elu(0, i), 1e-3f);
    EXPECT_GT(d_elu(0, i), 0.0f);
  }

  for (Activation act : {Activation::leaky_relu, Activation::elu}) {
    Rng rng(9);
    Dense layer(4, 3, rng);
    layer.bias.value(0, 1) = -5.0f;  // every sample below zero, as in the dying-ReLU test
    Tape tape;
    tape.backward(mse(activate(layer(tape.constant(random_tensor(32, 4, 10))), act),
                      random_tensor(32, 3, 11)));
    for (std::size_t i = 0; i < 4; ++i)
      EXPECT_NE(layer.weight.grad(i, 1), 0.0f) << activation_name(act) << " row " << i;
  }
}

// seeds/000, 003: the step function (1 for x >= 0, else 0) is flat on both sides, so its
// gradient is exactly 0 everywhere: a network of step units cannot learn by backpropagation,
// which is why modern deep learning hardly uses it.
TEST(Textbook, StepFunctionHasZeroGradientEverywhereSoNothingLearnsThroughIt) {
  Tensor x = symmetric_grid(3.0f, 0.01f);  // includes 0
  Tensor dy = derivative([](Var v) { return step(v); }, x);
  for (std::size_t i = 0; i < cols(x); ++i) EXPECT_EQ(dy(0, i), 0.0f) << "x = " << x(0, i);

  Rng rng(12);
  Dense layer(4, 3, rng);
  Tape tape;
  tape.backward(sum(step(layer(tape.constant(random_tensor(16, 4, 13))))));
  for (float g : layer.weight.grad) EXPECT_EQ(g, 0.0f);
  for (float g : layer.bias.grad) EXPECT_EQ(g, 0.0f);
}

// seeds/001, 002, 003, 004: softmax turns a row of scores into probabilities: each in (0, 1)
// and summing to 1. It is a smooth argmax: the largest score gets the largest probability.
TEST(Textbook, SoftmaxGivesPositiveProbabilitiesSummingToOneAndKeepsTheArgmax) {
  Tensor logits = random_tensor(8, 5, 14, -10.0f, 10.0f);
  Tensor p = forward([](Var v) { return softmax(v); }, logits);
  for (std::size_t i = 0; i < 8; ++i) {
    double row_sum = 0;
    for (std::size_t j = 0; j < 5; ++j) {
      EXPECT_GT(p(i, j), 0.0f);
      EXPECT_LT(p(i, j), 1.0f);
      row_sum += p(i, j);
    }
    EXPECT_NEAR(row_sum, 1.0, 1e-6);
  }
  EXPECT_EQ(argmax_rows(p), argmax_rows(logits));
}

// Softmax from the formula p_j = e^{z_j} / sum_k e^{z_k}: adding a constant c to a row
// multiplies numerator and denominator by e^c, so the probabilities do not change.
TEST(Textbook, SoftmaxIgnoresAConstantAddedToARow) {
  Tensor logits = random_tensor(6, 4, 15, -3.0f, 3.0f);
  Tensor shift = zeros(6, 4);
  for (std::size_t i = 0; i < 6; ++i)
    for (std::size_t j = 0; j < 4; ++j) shift(i, j) = -60.0f + 25.0f * static_cast<float>(i);
  Tensor p = forward([](Var v) { return softmax(v); }, logits);
  Tensor shifted = forward([](Var v) { return softmax(v); }, logits + shift);
  for (std::size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(p.flat(i), shifted.flat(i), 1e-5f);
}

// seeds/003, 004: tanh is centred on 0: it is odd, tanh(-x) = -tanh(x), outputs lie in
// (-1, 1) and average 0 over symmetric inputs. Sigmoid is not: sigma(-x) = 1 - sigma(x),
// outputs lie in (0, 1) and average 1/2.
TEST(Textbook, TanhIsCentredOnZeroAndSigmoidOnOneHalf) {
  Tensor x = symmetric_grid(4.0f, 0.01f);
  Tensor t = forward([](Var v) { return tanh(v); }, x);
  Tensor s = forward([](Var v) { return sigmoid(v); }, x);
  const std::size_t n = cols(x);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_NEAR(t(0, i), -t(0, n - 1 - i), 1e-6f);
    EXPECT_NEAR(s(0, i), 1.0f - s(0, n - 1 - i), 1e-6f);
    EXPECT_GT(t(0, i), -1.0f);
    EXPECT_LT(t(0, i), 1.0f);
    EXPECT_GT(s(0, i), 0.0f);
    EXPECT_LT(s(0, i), 1.0f);
  }
  EXPECT_NEAR(mean_of(t), 0.0, 1e-6);
  EXPECT_NEAR(mean_of(s), 0.5, 1e-6);
}

// seeds/004: why centring matters. The gradient of a weight W_ij is (input_i) * (gradient of
// unit j). Sigmoid outputs are all positive, so for one sample every weight into unit j gets
// a gradient of the same sign: they can only all grow or all shrink together (zig-zag
// descent). tanh outputs have both signs, so the weights of one unit can move apart.
TEST(Textbook, AfterSigmoidEveryWeightIntoAUnitGetsAGradientOfTheSameSign) {
  auto column_signs_mixed = [](Activation act) {
    Rng rng(16);
    Dense next(8, 4, rng, {.init = Init::xavier_normal});
    Tape tape;
    Var h = activate(tape.constant(random_tensor(1, 8, 17, -2.0f, 2.0f, 0.1f)), act);
    tape.backward(next(h), random_tensor(1, 4, 18, -1.0f, 1.0f, 0.1f));
    std::vector<bool> mixed;
    for (std::size_t j = 0; j < 4; ++j) {
      bool pos = false, neg = false;
      for (std::size_t i = 0; i < 8; ++i) {
        pos = pos || next.weight.grad(i, j) > 0;
        neg = neg || next.weight.grad(i, j) < 0;
      }
      mixed.push_back(pos && neg);
    }
    return mixed;
  };
  EXPECT_EQ(column_signs_mixed(Activation::sigmoid), std::vector<bool>(4, false));
  EXPECT_EQ(column_signs_mixed(Activation::tanh), std::vector<bool>(4, true));
}

// seeds/003: ELU's negative branch (down to -alpha) pulls the mean output towards 0, unlike
// ReLU. For x ~ N(0, 1): E[relu(x)] = 1/sqrt(2 pi) = 0.399, and
// E[elu(x)] = 0.399 + E[e^x - 1; x < 0] = 0.399 + e^{1/2} Phi(-1) - 1/2 = 0.399 - 0.238 = 0.160.
TEST(Textbook, EluOutputsHaveAMeanCloserToZeroThanRelu) {
  Rng rng(19);
  Tensor x = normal_tensor(200, 100, rng);
  const double relu_mean = mean_of(forward([](Var v) { return relu(v); }, x));
  const double elu_mean = mean_of(forward([](Var v) { return elu(v); }, x));
  show("mean relu", relu_mean);
  show("mean elu", elu_mean);
  EXPECT_NEAR(relu_mean, 0.399, 0.02);
  EXPECT_NEAR(elu_mean, 0.160, 0.02);
  EXPECT_LT(std::fabs(elu_mean), std::fabs(relu_mean));
}

// ============================================================================================
// 3. Vanishing gradients and weight initialisation
// ============================================================================================

namespace {

// Norms of d(loss)/dW for each of the 10 weight layers of a 64-wide MLP
// (9 x [Dense(64, 64) + activation], then Dense(64, 10)) under softmax cross-entropy.
std::vector<double> weight_gradient_norms(Activation act, Init init) {
  Rng rng(20);
  Sequential net;
  for (int i = 0; i < 9; ++i) {
    net.add<Dense>(64, 64, rng, DenseOptions{.bias = true, .init = init});
    net.add<ActivationLayer>(act);
  }
  net.add<Dense>(64, 10, rng, DenseOptions{.bias = true, .init = init});
  Tensor x = normal_tensor(128, 64, rng);
  std::vector<std::int32_t> labels;
  for (std::size_t i = 0; i < 128; ++i) labels.push_back(static_cast<std::int32_t>(rng.below(10)));
  Tape tape;
  tape.backward(softmax_cross_entropy(net(tape.constant(x)), labels));
  std::vector<double> norms;
  for (auto& [name, p] : net.named_parameters())
    if (name.find("weight") != std::string::npos) norms.push_back(norm_of(p->grad));
  return norms;
}

}  // namespace

// seeds/001, 002, 003, 004: backpropagation multiplies the gradient by each layer's
// activation derivative. Sigmoid's is at most 1/4 (about 0.2 for typical inputs), so through
// 9 sigmoid layers the gradient reaching the first layer shrinks by roughly 0.2^9 ~ 5e-7.
// We ask only for a factor 1000: orders of magnitude, with a wide margin.
TEST(Textbook, TenSigmoidLayersShrinkTheFirstLayersGradientByOrdersOfMagnitude) {
  std::vector<double> norms = weight_gradient_norms(Activation::sigmoid, Init::xavier_normal);
  ASSERT_EQ(norms.size(), 10u);
  show("sigmoid: last / first layer weight-gradient norm", norms.back() / norms.front());
  EXPECT_GT(norms.back() / norms.front(), 1e3)
      << "first " << norms.front() << ", last " << norms.back();
  EXPECT_GT(norms.front(), 0.0);  // small, but not exactly zero
}

// seeds/002, 003: ReLU's derivative is 1 where the unit is on, and He initialisation
// (variance 2 / fan_in) makes up for the half of the units that are off, so the gradient
// keeps its size in expectation from the last layer to the first. Within 10x here.
TEST(Textbook, TenReluLayersWithHeInitKeepTheFirstLayersGradient) {
  std::vector<double> norms = weight_gradient_norms(Activation::relu, Init::he_normal);
  ASSERT_EQ(norms.size(), 10u);
  const double ratio = norms.back() / norms.front();
  show("relu + he: last / first layer weight-gradient norm", ratio);
  EXPECT_GT(ratio, 0.1) << "first " << norms.front() << ", last " << norms.back();
  EXPECT_LT(ratio, 10.0) << "first " << norms.front() << ", last " << norms.back();
}

namespace {

struct LayerStats {
  std::vector<double> pre_variance;  // variance of each layer's weighted sum z = a W
  std::vector<double> in_moment;     // second moment of that layer's input a
  std::vector<double> act_moment;    // second moment of each layer's output f(z)
  std::vector<double> act_variance;  // variance of each layer's output
  std::vector<double> mean_slope;    // mean of f'(z) over the layer
};

// Pushes a 512 x 256 batch of N(0, 1) inputs through 10 layers of Dense(256, 256, no bias)
// + act, with weights N(0, sd^2); sd <= 0 means the initializer `init`.
LayerStats deep_forward(Activation act, Init init, float sd) {
  Rng rng(21);
  const std::size_t width = 256;
  Tape tape;
  Var a = tape.constant(normal_tensor(512, width, rng));
  LayerStats s;
  std::vector<std::unique_ptr<Dense>> layers;
  for (int l = 0; l < 10; ++l) {
    layers.push_back(std::make_unique<Dense>(width, width, rng, DenseOptions{false, init}));
    if (sd > 0) layers.back()->weight.value = normal_tensor(width, width, rng, 0.0f, sd);
    s.in_moment.push_back(second_moment_of(a.value()));
    Var z = (*layers.back())(a);
    s.pre_variance.push_back(variance_of(z.value()));
    s.mean_slope.push_back(mean_of(derivative([&](Var v) { return activate(v, act); }, z.value())));
    a = activate(z, act);
    s.act_moment.push_back(second_moment_of(a.value()));
    s.act_variance.push_back(variance_of(a.value()));
  }
  return s;
}

}  // namespace

// seeds/003: Xavier/Glorot initialisation picks Var(W) = 2 / (fan_in + fan_out) (= 1 / 256
// here) so that each layer's weighted sum has the variance of its input:
// Var(z) = fan_in Var(W) E[a^2] = E[a^2]. tanh itself still drains variance slowly (it bends
// below the identity), by the recursion q' = E[tanh^2(sqrt(q) z)]: from input variance 1 the
// theory gives 0.394 after layer 1 and 0.052 after layer 10, a factor 7.6, shrinking like
// 1/(2 l), not geometrically. We check the per-layer balance within 15% and the 10-layer
// drop below 15x (a 2x margin); the too-small initialisation below loses 1e-14.
TEST(Textbook, XavierInitKeepsEachLayersVarianceThroughTanhLayers) {
  LayerStats s = deep_forward(Activation::tanh, Init::xavier_normal, 0);
  show("tanh + xavier: variance after layer 1", s.act_variance.front());
  show("tanh + xavier: variance after layer 10", s.act_variance.back());
  show("tanh + xavier: layer-2 Var(z) / E[a^2]", s.pre_variance[1] / s.in_moment[1]);
  for (int l = 0; l < 10; ++l) {
    EXPECT_NEAR(s.pre_variance[l] / s.in_moment[l], 1.0, 0.15) << "layer " << l + 1;
    EXPECT_GT(s.mean_slope[l], 0.5) << "layer " << l + 1;  // tanh is not saturated
  }
  EXPECT_NEAR(s.act_variance.front(), 0.394, 0.03);
  EXPECT_LT(s.act_variance.front() / s.act_variance.back(), 15.0);
}

// seeds/003: He initialisation, Var(W) = 2 / fan_in, is Xavier's counterpart for ReLU: ReLU
// zeroes half of a symmetric z, so E[relu(z)^2] = Var(z) / 2, and the factor 2 gives it back:
// E[a_{l+1}^2] = fan_in (2 / fan_in) E[a_l^2] / 2 = E[a_l^2]. The second moment stays 1
// (the input's), layer after layer; we allow a factor 2 for the finite width.
TEST(Textbook, HeInitKeepsTheSecondMomentThroughReluLayers) {
  LayerStats s = deep_forward(Activation::relu, Init::he_normal, 0);
  show("relu + he: second moment after layer 1", s.act_moment.front());
  show("relu + he: second moment after layer 10", s.act_moment.back());
  for (int l = 0; l < 10; ++l) {
    EXPECT_GT(s.act_moment[l], 0.5) << "layer " << l + 1;
    EXPECT_LT(s.act_moment[l], 2.0) << "layer " << l + 1;
  }
  const double ratio = s.act_moment.back() / s.act_moment.front();
  EXPECT_GT(ratio, 0.5);
  EXPECT_LT(ratio, 2.0);
}

// seeds/003: weights initialised too small make the signal (and the gradient) vanish: with
// sd 0.01 each layer multiplies the variance by fan_in * sd^2 = 256 * 1e-4 = 0.0256 (tanh is
// the identity near 0; ReLU halves it again), so ten layers lose ~1e-14 or more.
TEST(Textbook, TooSmallInitMakesActivationsCollapse) {
  for (Activation act : {Activation::tanh, Activation::relu}) {
    LayerStats s = deep_forward(act, Init::xavier_normal, 0.01f);
    show(activation_name(act), s.act_moment.back() / s.act_moment.front());
    EXPECT_LT(s.act_moment.back() / s.act_moment.front(), 1e-10) << activation_name(act);
    for (int l = 1; l < 10; ++l)
      EXPECT_LT(s.act_moment[l], 0.1 * s.act_moment[l - 1]) << activation_name(act) << l + 1;
  }
}

// seeds/003: weights initialised too large make it explode: with sd 1 a ReLU layer multiplies
// the second moment by fan_in * sd^2 / 2 = 128, about 1e19 over ten layers. tanh cannot
// explode, it saturates: z has a standard deviation near 16, so almost every unit sits at
// +-1 where tanh' ~ 0 (E[tanh'(z)] ~ 2 / (16 sqrt(2 pi)) ~ 0.05): the gradient dies there.
TEST(Textbook, TooLargeInitExplodesReluAndSaturatesTanh) {
  LayerStats r = deep_forward(Activation::relu, Init::he_normal, 1.0f);
  show("relu, sd 1: layer 10 / layer 1 second moment", r.act_moment.back() / r.act_moment.front());
  EXPECT_GT(r.act_moment.back() / r.act_moment.front(), 1e12);
  for (int l = 1; l < 10; ++l) EXPECT_GT(r.act_moment[l], 10.0 * r.act_moment[l - 1]);

  LayerStats t = deep_forward(Activation::tanh, Init::xavier_normal, 1.0f);
  show("tanh, sd 1: mean tanh' at layer 10", t.mean_slope.back());
  for (int l = 1; l < 10; ++l) {
    EXPECT_LT(t.mean_slope[l], 0.15) << "layer " << l + 1;
    EXPECT_GT(t.act_moment[l], 0.8) << "layer " << l + 1;  // outputs pinned near +-1
  }
}

// seeds/003: batch normalisation shifts and scales each feature of a mini-batch to mean 0 and
// variance 1 (in training mode, with gamma = 1 and beta = 0), whatever the raw offset and scale.
TEST(Textbook, BatchNormGivesEachFeatureMeanZeroAndVarianceOne) {
  Rng rng(22);
  const float offset[3] = {100.0f, -40.0f, 7.0f}, spread[3] = {20.0f, 0.5f, 3.0f};
  Tensor x = zeros(256, 3);
  for (std::size_t i = 0; i < 256; ++i)
    for (std::size_t j = 0; j < 3; ++j) x(i, j) = rng.normal(offset[j], spread[j]);
  BatchNorm1d bn(3);
  Tape tape;
  Tensor y = bn(tape.constant(x)).value();
  for (std::size_t j = 0; j < 3; ++j) {
    Tensor column = xt::view(y, xt::all(), xt::range(j, j + 1));
    EXPECT_NEAR(mean_of(column), 0.0, 1e-4) << "feature " << j;
    EXPECT_NEAR(variance_of(column), 1.0, 1e-3) << "feature " << j;
  }
}

// seeds/003: normalised inputs keep sigmoid and tanh in their steep middle instead of their
// flat tails. Raw inputs around 100 give sigma' ~ e^-100 ~ 0; after batch norm z ~ N(0, 1)
// and E[sigma'(z)] is about 0.21 (it is 0.25 at 0 and ~0.105 at |z| = 2).
TEST(Textbook, BatchNormKeepsSigmoidOutOfItsFlatTails) {
  Rng rng(23);
  Tensor x = normal_tensor(256, 4, rng, 100.0f, 10.0f);
  auto sig = [](Var v) { return sigmoid(v); };
  const double raw_slope = mean_of(derivative(sig, x));
  BatchNorm1d bn(4);
  Tape tape;
  Tensor normalised = bn(tape.constant(x)).value();
  const double normalised_slope = mean_of(derivative(sig, normalised));
  show("mean sigmoid' on raw inputs", raw_slope);
  show("mean sigmoid' after batch norm", normalised_slope);
  EXPECT_LT(raw_slope, 1e-6);
  EXPECT_NEAR(normalised_slope, 0.21, 0.02);
}

// ============================================================================================
// 4. Loss functions
// ============================================================================================

// seeds/002: cross-entropy H(p, q) = -sum_x p(x) ln q(x) measures how far a predicted
// distribution q is from the true p. With p = [1/2, 1/8, 1/8, 1/4]:
//   q1 uniform:                H(p, q1) = ln 4 = 1.3863
//   q2 = [1/2, 1/4, 1/8, 1/8]: H(p, q2) = (1/2) ln 2 + (1/8) ln 4 + (1/8) ln 8 + (1/4) ln 8
//                                       = (1/2 + 1/4 + 3/8 + 3/4) ln 2 = 1.875 ln 2 = 1.2997
// (the note rounds down to 1.38 and 1.29), so q2 is the better prediction. Neither beats
// q = p itself: H(p, p) = (1/2 + 3/8 + 3/8 + 1/2) ln 2 = 1.75 ln 2 = 1.2130, the entropy of p.
TEST(Textbook, CrossEntropyPrefersTheCloserPredictionQ2OverUniformQ1) {
  Tensor p = tensor({{0.5f, 0.125f, 0.125f, 0.25f}});
  auto H = [&](Tensor q) {
    Tape tape;
    return categorical_cross_entropy(tape.constant(q), p).item();
  };
  const float h_q1 = H(tensor({{0.25f, 0.25f, 0.25f, 0.25f}}));
  const float h_q2 = H(tensor({{0.5f, 0.25f, 0.125f, 0.125f}}));
  const float h_p = H(p);
  EXPECT_NEAR(h_q1, std::log(4.0), 1e-5);
  EXPECT_NEAR(h_q1, 1.386, 1e-3);
  EXPECT_NEAR(h_q2, 1.875 * std::log(2.0), 1e-5);
  EXPECT_NEAR(h_q2, 1.2997, 1e-3);
  EXPECT_LT(h_q2, h_q1);
  EXPECT_NEAR(h_p, 1.75 * std::log(2.0), 1e-5);
  EXPECT_LT(h_p, h_q2);
}

// seeds/000, 002: regression losses on a worked example. Target y = [3, -0.5, 2, 7],
// prediction [2.5, 0, 2, 8]: errors 0.5, -0.5, 0, -1.
//   MSE  = (0.25 + 0.25 + 0 + 1) / 4 = 0.375   (squares: no sign cancels, big errors weigh more)
//   RMSE = sqrt(0.375) = 0.6124                 (back in the units of y)
//   MAE  = (0.5 + 0.5 + 0 + 1) / 4 = 0.5        (absolute values: no sign cancels either)
// RMSE >= MAE always (the quadratic mean is at least the arithmetic mean).
TEST(Textbook, RegressionLossesMseRmseMaeOnAWorkedExample) {
  Tensor y = tensor({{3.0f, -0.5f, 2.0f, 7.0f}});
  Tensor prediction = tensor({{2.5f, 0.0f, 2.0f, 8.0f}});
  Tape tape;
  Var pred = tape.constant(prediction);
  const float m = mse(pred, y).item(), r = rmse(pred, y).item(), a = mae(pred, y).item();
  EXPECT_NEAR(m, 0.375f, 1e-6f);
  EXPECT_NEAR(r, std::sqrt(0.375f), 1e-6f);
  EXPECT_NEAR(a, 0.5f, 1e-6f);
  EXPECT_GE(r, a);
  // The signed errors would cancel to (0.5 - 0.5 + 0 - 1) / 4 = -0.25: not a size of error.
  EXPECT_NEAR(mean(sub(tape.constant(y), pred)).item(), -0.25f, 1e-6f);
}

// ============================================================================================
// 5. Putting it together: output activation + loss, trained by gradient descent
// ============================================================================================

// seeds/000, 001, 002: for binary classification, squash the score with sigmoid into a
// probability and train with binary cross-entropy. Two Gaussian blobs (sd 1) centred at
// (-1.5, -1.5) and (1.5, 1.5) are 3 sqrt(2) = 4.24 apart; the best possible boundary is the
// perpendicular bisector, wrong with probability Phi(-2.12) = 1.7%. We ask for 95% on
// points not seen in training.
TEST(Textbook, SigmoidWithBinaryCrossEntropySeparatesTwoBlobs) {
  Rng rng(24);
  const std::vector<std::pair<float, float>> centres = {{-1.5f, -1.5f}, {1.5f, 1.5f}};
  Points train = blobs(centres, 200, 1.0f, rng), test = blobs(centres, 200, 1.0f, rng);
  Tensor targets = labels_as_column(train);
  Sequential model;
  model.add<Dense>(2, 1, rng, DenseOptions{.bias = true, .init = Init::xavier_normal});
  model.add<Sigmoid>();
  auto [first, last] = train_with_sgd(model, 300, 0.5f, [&](Tape& tape) {
    return binary_cross_entropy(model(tape.constant(train.x)), targets);
  });
  EXPECT_LT(last, first);
  show("two blobs: test accuracy", accuracy(model, test));
  EXPECT_GE(accuracy(model, test), 0.95);
}

// seeds/000, 002, 003: for more than two classes, turn the scores into a distribution with
// softmax and train with (categorical) cross-entropy against one-hot labels. Four blobs (sd
// 0.7) at (+-2, +-2): each boundary is 2 / 0.7 = 2.9 sd away, about 0.4% error at best.
TEST(Textbook, SoftmaxWithCrossEntropyClassifiesFourBlobs) {
  Rng rng(25);
  const std::vector<std::pair<float, float>> centres = {
      {-2.0f, -2.0f}, {-2.0f, 2.0f}, {2.0f, -2.0f}, {2.0f, 2.0f}};
  Points train = blobs(centres, 100, 0.7f, rng), test = blobs(centres, 100, 0.7f, rng);
  Tensor targets = one_hot(train, 4);
  Sequential model;
  model.add<Dense>(2, 16, rng);
  model.add<ReLU>();
  model.add<Dense>(16, 4, rng, DenseOptions{.bias = true, .init = Init::xavier_normal});
  model.add<Softmax>();
  auto [first, last] = train_with_sgd(model, 300, 0.5f, [&](Tape& tape) {
    return categorical_cross_entropy(model(tape.constant(train.x)), targets);
  });
  EXPECT_LT(last, first);
  show("four blobs: test accuracy", accuracy(model, test));
  EXPECT_GE(accuracy(model, test), 0.90);
}

// seeds/001, 003, 004: the point of a non-linear hidden layer. Two concentric rings (radius 1
// and 3) cannot be split by any straight line: a line through the middle leaves half of each
// ring on either side, so a linear model stays near chance. One tanh hidden layer can draw
// the circle between them.
TEST(Textbook, ALinearModelFailsOnRingsButOneTanhHiddenLayerSucceeds) {
  Rng rng(26);
  Points train = rings(200, rng), test = rings(200, rng);
  Tensor targets = labels_as_column(train);

  Sequential linear;
  linear.add<Dense>(2, 1, rng, DenseOptions{.bias = true, .init = Init::xavier_normal});
  linear.add<Sigmoid>();
  train_with_sgd(linear, 1000, 0.5f, [&](Tape& tape) {
    return binary_cross_entropy(linear(tape.constant(train.x)), targets);
  });

  Sequential hidden;
  hidden.add<Dense>(2, 16, rng, DenseOptions{.bias = true, .init = Init::xavier_normal});
  hidden.add<Tanh>();
  hidden.add<Dense>(16, 1, rng, DenseOptions{.bias = true, .init = Init::xavier_normal});
  hidden.add<Sigmoid>();
  train_with_sgd(hidden, 1000, 0.5f, [&](Tape& tape) {
    return binary_cross_entropy(hidden(tape.constant(train.x)), targets);
  });

  show("rings: linear test accuracy", accuracy(linear, test));
  show("rings: tanh hidden layer test accuracy", accuracy(hidden, test));
  EXPECT_LT(accuracy(linear, test), 0.70);
  EXPECT_GE(accuracy(hidden, test), 0.95);
}

// seeds/000: Adam and RMSprop adapt the step to each parameter ("adjust each parameter's
// learning rate"), plain SGD uses one step for all. On an ill-conditioned quadratic
// f(w) = 1/2 (100 w1^2 + w2^2 + 0.01 w3^2), SGD's step must stay below 2/100 or the steep
// direction diverges, and then the flat directions barely move; the adaptive methods move every
// coordinate at about the same pace.
namespace {
double quadratic_after(const std::function<std::unique_ptr<tg::Optimizer>(tg::Parameter&)>& make,
                       int steps) {
  tg::Parameter w(tg::tensor({{1.0f, 1.0f, 1.0f}}), "w");
  const tg::Tensor curvature = tg::tensor({{100.0f, 1.0f, 0.01f}});
  auto optimizer = make(w);
  double loss = 0.0;
  for (int i = 0; i <= steps; ++i) {
    tg::Tape tape;
    tg::Var p = tape.param(w);
    tg::Var f = tg::scale(tg::sum(tg::mul(tape.constant(curvature), tg::mul(p, p))), 0.5f);
    loss = f.item();
    if (i == steps) break;
    optimizer->zero_grad();
    tape.backward(f);
    optimizer->step();
  }
  return loss;
}
}  // namespace

TEST(Textbook, OnAnIllConditionedQuadraticAdamAndRmspropBeatSgdWithTheSameStepBudget) {
  const int steps = 200;
  // SGD at the largest stable learning rate (0.019 < 2/100), with the best of a few tried.
  double sgd = 1e30;
  for (double lr : {0.005, 0.01, 0.015, 0.019})
    sgd = std::min(sgd, quadratic_after(
                            [lr](tg::Parameter& w) {
                              return std::make_unique<tg::SGD>(std::vector<tg::Parameter*>{&w},
                                                               tg::SGDOptions{lr});
                            },
                            steps));
  const double adam = quadratic_after(
      [](tg::Parameter& w) {
        return std::make_unique<tg::Adam>(std::vector<tg::Parameter*>{&w}, tg::AdamOptions{0.05});
      },
      steps);
  const double rmsprop = quadratic_after(
      [](tg::Parameter& w) {
        return std::make_unique<tg::RMSprop>(std::vector<tg::Parameter*>{&w},
                                             tg::RMSpropOptions{0.01});
      },
      steps);
  show("quadratic: best SGD loss", sgd);
  show("quadratic: Adam loss", adam);
  show("quadratic: RMSprop loss", rmsprop);
  EXPECT_LT(adam, sgd / 10);
  EXPECT_LT(rmsprop, sgd / 10);
}

// ---- convolutional layers (the notes: ReLU between the convolutional layers of image models) ----

namespace {
double rms(const Tensor& t) {
  double s = 0.0;
  for (float v : t) s += static_cast<double>(v) * v;
  return std::sqrt(s / static_cast<double>(std::max<std::size_t>(t.size(), 1)));
}

// The gradient reaching the input of 6 stacked 3x3 convolutions (8 channels, padding 1, He
// init), with `act` between them, relative to the gradient arriving at the top.
double conv_stack_gradient_ratio(Activation act) {
  Rng rng(11);
  Tape tape;
  Var x = tape.variable(zeros(Shape{4, 8, 12, 12}));
  for (float& v : const_cast<Tensor&>(x.value())) v = rng.normal();
  std::vector<Parameter> weights;
  weights.reserve(6);
  for (int layer = 0; layer < 6; ++layer) {
    Tensor w = zeros(Shape{8, 8, 3, 3});
    for (float& v : w) v = rng.normal(0.0f, std::sqrt(2.0f / (8 * 9)));
    weights.emplace_back(w);
  }
  Var h = x;
  for (int layer = 0; layer < 6; ++layer) {
    h = conv2d(h, tape.param(weights[layer]), Conv2dOptions{.padding = 1});
    if (layer < 5) h = activate(h, act);
  }
  Tensor seed = zeros(shape_of(h.value()));
  for (float& v : seed) v = rng.normal();
  tape.backward(h, seed);
  return rms(x.grad()) / rms(seed);
}
}  // namespace

// Claim: ReLU between convolutional layers keeps the gradient alive where sigmoid shrinks it.
// Theory: with He init (fan_in Var(w) = 2) a layer scales the gradient's variance by about
// 2 E[f'(z)^2]. ReLU: f' is 1 for half the units, so 2 * 1/2 = 1: the gradient keeps its size.
// Sigmoid: f' <= 1/4, so the factor is at most 2/16 = 1/8 per layer and five sigmoids give at
// most (1/8)^(5/2) = 0.0055 of the top gradient's RMS. Asserted with a 10x margin each way
// (zero padding at the borders lowers both a little).
TEST(Textbook, ReluBetweenConvLayersKeepsGradientsAliveWhereSigmoidShrinksThem) {
  const double relu = conv_stack_gradient_ratio(Activation::relu);
  const double sigmoid = conv_stack_gradient_ratio(Activation::sigmoid);
  EXPECT_GT(relu, 0.1) << "relu " << relu;
  EXPECT_LT(sigmoid, 0.055) << "sigmoid " << sigmoid;
  EXPECT_GT(relu / sigmoid, 10.0);
}

// Claim: a convolution is translation-equivariant: shifting the image shifts the feature map.
// The shifted image's zero columns meet the zero padding, so every output pixel sums the same
// nine products; only float rounding may differ (the GEMM kernel may add them in another order
// at another position), hence the tolerance of a few float ulps.
TEST(Textbook, AConvolutionIsTranslationEquivariant) {
  Rng rng(5);
  Tensor image = zeros(Shape{1, 1, 10, 10});
  for (std::size_t i = 0; i < 10; ++i)
    for (std::size_t j = 0; j < 8; ++j) image(0, 0, i, j) = rng.uniform(-1.0f, 1.0f);
  Tensor shifted = zeros(Shape{1, 1, 10, 10});  // one pixel to the right
  for (std::size_t i = 0; i < 10; ++i)
    for (std::size_t j = 0; j < 9; ++j) shifted(0, 0, i, j + 1) = image(0, 0, i, j);
  Tensor w = zeros(Shape{4, 1, 3, 3});
  for (float& v : w) v = rng.uniform(-1.0f, 1.0f);
  Tape tape;
  Var weight = tape.constant(w);
  const Tensor y = conv2d(tape.constant(image), weight, Conv2dOptions{.padding = 1}).value();
  const Tensor ys = conv2d(tape.constant(shifted), weight, Conv2dOptions{.padding = 1}).value();
  for (std::size_t c = 0; c < 4; ++c)
    for (std::size_t i = 0; i < 10; ++i)
      for (std::size_t j = 0; j + 1 < 10; ++j)
        EXPECT_NEAR(ys(0, c, i, j + 1), y(0, c, i, j), 1e-6f) << c << " " << i << " " << j;
}

// Claim: max pooling tolerates a small shift: a feature that moves by one pixel inside its
// pooling window gives the same pooled map, while the unpooled maps differ everywhere it moved.
TEST(Textbook, MaxPoolingToleratesAOnePixelShiftInsideItsWindow) {
  Tensor a = zeros(Shape{1, 1, 8, 8}), b = zeros(Shape{1, 1, 8, 8});
  for (std::size_t r = 0; r < 4; ++r)
    for (std::size_t c = 0; c < 4; ++c) {
      const float v = static_cast<float>(1 + r * 4 + c);
      a(0, 0, 2 * r, 2 * c) = v;      // each window's top-left pixel
      b(0, 0, 2 * r, 2 * c + 1) = v;  // one pixel to the right, same window
    }
  Tape tape;
  const Tensor pa = max_pool2d(tape.constant(a), 2).value();
  const Tensor pb = max_pool2d(tape.constant(b), 2).value();
  EXPECT_EQ(pa, pb);
  EXPECT_NE(a, b);
}
