// Losses: forward and backward side by side, as in ops.cpp. Each stores its reduction
// factor (1/N for mean, 1 for sum) in node.alpha and its targets in node.target/labels.
#include "tapegrad/losses.hpp"

#include "kernels.hpp"
#include "math.hpp"

#include <algorithm>
#include <cmath>

namespace tg {

namespace {

constexpr float kProbEps = 1e-7f;

float reduction_factor(Reduction r, std::size_t count) {
  return r == Reduction::sum ? 1.0f : 1.0f / static_cast<float>(std::max<std::size_t>(count, 1));
}

void require_target_shape(const char* op, const Tensor& pred, const Tensor& target) {
  if (pred.shape() != target.shape())
    throw Error(std::string(op) + ": prediction is " + shape_str(pred) + " but target is " +
                shape_str(target));
}

void require_rows(const char* op, const Tensor& pred) {
  if (pred.size() == 0) throw Error(std::string(op) + ": input is " + shape_str(pred) + " (empty)");
}

// Records a loss entry: copies the targets onto the tape and returns the new Var.
Var record_loss(const char* op, Var pred, const Tensor& target, BackwardFn backward) {
  Tape& t = pred.tape();
  Var out = t.record(op, {pred}, backward);
  const Tensor& p = t.value_at(pred.index());
  require_rows(op, p);
  require_target_shape(op, p, target);
  Node& n = t.node(out);
  resize(n.target, rows(target), cols(target));
  std::copy(target.begin(), target.end(), n.target.begin());
  resize(n.value, 1, 1);
  return out;
}

// Applies dx_i += g * factor * d(x_i) for a loss whose per-element derivative is d.
template <class D>
void elementwise_loss_backward(Tape& t, const Node& n, D d) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const float g = n.grad(0, 0) * n.alpha;
  const float* p = t.value_at(n.inputs[0]).data();
  const float* y = n.target.data();
  float* out = dx->data();
  const std::size_t count = n.target.size();
  for (std::size_t i = 0; i < count; ++i) out[i] += g * d(p[i], y[i]);
}

// Sums l(p_i, t_i) in double and stores the reduced loss.
template <class L>
void elementwise_loss_forward(Tape& t, Var out, Var pred, Reduction r, L l) {
  Node& n = t.node(out);
  const float* p = t.value_at(pred.index()).data();
  const float* y = n.target.data();
  const std::size_t count = n.target.size();
  double total = 0.0;
  for (std::size_t i = 0; i < count; ++i) total += l(p[i], y[i]);
  n.alpha = reduction_factor(r, count);
  n.value(0, 0) = static_cast<float>(total * n.alpha);
}

float clamp_prob(float p) {
  return std::clamp(p, kProbEps, 1.0f - kProbEps);
}

}  // namespace

// ---- softmax cross-entropy from logits ----
// node.saved = softmax(logits); node.labels or node.target = what the rows should predict;
// node.alpha = reduction factor over rows.

void softmax_cross_entropy_labels_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const float g = n.grad(0, 0) * n.alpha;
  const std::size_t r = rows(n.saved), c = cols(n.saved);
  for (std::size_t i = 0; i < r; ++i) {
    const float* p = n.saved.data() + i * c;
    float* d = dx->data() + i * c;
    for (std::size_t j = 0; j < c; ++j) d[j] += g * p[j];
    d[n.labels[i]] -= g;  // softmax - one_hot
  }
}

void softmax_cross_entropy_probs_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const float g = n.grad(0, 0) * n.alpha;
  const std::size_t r = rows(n.saved), c = cols(n.saved);
  for (std::size_t i = 0; i < r; ++i) {
    const float* p = n.saved.data() + i * c;
    const float* y = n.target.data() + i * c;
    float* d = dx->data() + i * c;
    float mass = 0.0f;  // 1 for a proper distribution; kept general
    for (std::size_t j = 0; j < c; ++j) mass += y[j];
    for (std::size_t j = 0; j < c; ++j) d[j] += g * (p[j] * mass - y[j]);
  }
}

namespace {
// Fills node.saved with softmax(logits) and sums row_loss(row, logits row, log-sum-exp).
template <class RowLoss>
void softmax_rows(Node& n, const Tensor& logits, Reduction r, RowLoss row_loss) {
  const std::size_t rs = rows(logits), c = cols(logits);
  resize(n.saved, rs, c);
  double total = 0.0;
  for (std::size_t i = 0; i < rs; ++i) {
    const float* z = logits.data() + i * c;
    const double lse = detail::softmax_row(z, n.saved.data() + i * c, c);
    total += row_loss(i, z, lse);
  }
  n.alpha = reduction_factor(r, rs);
  resize(n.value, 1, 1);
  n.value(0, 0) = static_cast<float>(total * n.alpha);
}
}  // namespace

Var softmax_cross_entropy(Var logits, const std::vector<std::int32_t>& labels, Reduction r) {
  static const char* op = "softmax_cross_entropy";
  Tape& t = logits.tape();
  Var out = t.record(op, {logits}, softmax_cross_entropy_labels_backward);
  const Tensor& z = t.value_at(logits.index());
  require_rows(op, z);
  if (labels.size() != rows(z))
    throw Error(std::string(op) + ": logits are " + shape_str(z) + " but " +
                std::to_string(labels.size()) + " labels were given");
  const auto classes = static_cast<std::int32_t>(cols(z));
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      throw Error(std::string(op) + ": label " + std::to_string(labels[i]) + " at row " +
                  std::to_string(i) + " is outside [0, " + std::to_string(classes) + ")");
  Node& n = t.node(out);
  n.labels.assign(labels.begin(), labels.end());
  softmax_rows(n, z, r,
               [&](std::size_t i, const float* zr, double lse) { return lse - zr[labels[i]]; });
  return out;
}

Var softmax_cross_entropy(Var logits, const Tensor& target_probs, Reduction r) {
  static const char* op = "softmax_cross_entropy";
  Var out = record_loss(op, logits, target_probs, softmax_cross_entropy_probs_backward);
  Tape& t = logits.tape();
  Node& n = t.node(out);
  const Tensor& z = t.value_at(logits.index());
  const std::size_t c = cols(z);
  softmax_rows(n, z, r, [&](std::size_t i, const float* zr, double lse) {
    const float* y = n.target.data() + i * c;
    double row = 0.0;
    for (std::size_t j = 0; j < c; ++j) row += static_cast<double>(y[j]) * (lse - zr[j]);
    return row;
  });
  return out;
}

// ---- binary cross-entropy ----

void binary_cross_entropy_backward(Tape& t, const Node& n) {
  elementwise_loss_backward(t, n, [](float p, float y) {
    const float pc = clamp_prob(p);
    return (pc - y) / (pc * (1.0f - pc));
  });
}

Var binary_cross_entropy(Var probs, const Tensor& targets, Reduction r) {
  Var out = record_loss("binary_cross_entropy", probs, targets, binary_cross_entropy_backward);
  elementwise_loss_forward(probs.tape(), out, probs, r, [](float p, float y) {
    const double pc = clamp_prob(p);
    return -(y * std::log(pc) + (1.0 - y) * std::log(1.0 - pc));
  });
  return out;
}

// d/dz = sigmoid(z) - t
void binary_cross_entropy_with_logits_backward(Tape& t, const Node& n) {
  elementwise_loss_backward(t, n, [](float z, float y) { return detail::stable_sigmoid(z) - y; });
}

Var binary_cross_entropy_with_logits(Var logits, const Tensor& targets, Reduction r) {
  Var out = record_loss("binary_cross_entropy_with_logits", logits, targets,
                        binary_cross_entropy_with_logits_backward);
  elementwise_loss_forward(logits.tape(), out, logits, r, [](float z, float y) {
    return std::max(z, 0.0f) - static_cast<double>(z) * y + std::log1p(std::exp(-std::fabs(z)));
  });
  return out;
}

// ---- categorical cross-entropy on probabilities (per row, averaged over rows) ----

void categorical_cross_entropy_backward(Tape& t, const Node& n) {
  elementwise_loss_backward(t, n, [](float p, float y) { return -y / std::max(p, kProbEps); });
}

Var categorical_cross_entropy(Var probs, const Tensor& targets, Reduction r) {
  Var out =
      record_loss("categorical_cross_entropy", probs, targets, categorical_cross_entropy_backward);
  Tape& t = probs.tape();
  elementwise_loss_forward(t, out, probs, r, [](float p, float y) {
    return -static_cast<double>(y) * std::log(std::max(p, kProbEps));
  });
  // The mean is over samples (rows), not elements: rescale the factor and the value.
  Node& n = t.node(out);
  if (r == Reduction::mean) {
    const float per_row = reduction_factor(r, rows(n.target));
    n.value(0, 0) = n.value(0, 0) / n.alpha * per_row;
    n.alpha = per_row;
  }
  return out;
}

// ---- regression losses ----

void mse_backward(Tape& t, const Node& n) {
  elementwise_loss_backward(t, n, [](float p, float y) { return 2.0f * (p - y); });
}

Var mse(Var prediction, const Tensor& target, Reduction r) {
  Var out = record_loss("mse", prediction, target, mse_backward);
  elementwise_loss_forward(prediction.tape(), out, prediction, r, [](float p, float y) {
    const double d = static_cast<double>(p) - y;
    return d * d;
  });
  return out;
}

// d sqrt(m)/dp = (dm/dp) / (2 sqrt(m)) = factor (p - t) / rmse; 0 when rmse is 0.
void rmse_backward(Tape& t, const Node& n) {
  const float root = n.value(0, 0);
  if (root == 0.0f) return;
  elementwise_loss_backward(t, n, [root](float p, float y) { return (p - y) / root; });
}

Var rmse(Var prediction, const Tensor& target, Reduction r) {
  Var out = record_loss("rmse", prediction, target, rmse_backward);
  Tape& t = prediction.tape();
  elementwise_loss_forward(t, out, prediction, r, [](float p, float y) {
    const double d = static_cast<double>(p) - y;
    return d * d;
  });
  Node& n = t.node(out);
  n.value(0, 0) = std::sqrt(n.value(0, 0));
  return out;
}

void mae_backward(Tape& t, const Node& n) {
  elementwise_loss_backward(t, n,
                            [](float p, float y) { return p > y ? 1.0f : (p < y ? -1.0f : 0.0f); });
}

Var mae(Var prediction, const Tensor& target, Reduction r) {
  Var out = record_loss("mae", prediction, target, mae_backward);
  elementwise_loss_forward(prediction.tape(), out, prediction, r,
                           [](float p, float y) { return std::fabs(static_cast<double>(p) - y); });
  return out;
}

std::vector<std::int32_t> argmax_rows(const Tensor& scores) {
  const std::size_t r = rows(scores), c = cols(scores);
  std::vector<std::int32_t> out(r, 0);
  for (std::size_t i = 0; i < r && c > 0; ++i) {
    const float* row = scores.data() + i * c;
    out[i] = static_cast<std::int32_t>(std::max_element(row, row + c) - row);
  }
  return out;
}

}  // namespace tg
