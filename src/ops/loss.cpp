// Losses: forward and backward side by side. The elementwise losses keep a LossState (their
// reduction and its factor, their targets); the cross-entropies a CrossEntropyState (softmax
// probabilities, labels or targets, class weights).
#include "tapegrad/ops/loss.hpp"

#include "core/kernels.hpp"
#include "core/math.hpp"
#include "op_util.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>

namespace tg {

namespace {

using detail::Dims;

constexpr float kProbEps = 1e-7f;

// The shape of a reduced loss, 1x1; an svector, so sizing an output with it allocates nothing.
const Dims kLossShape = {1, 1};

std::string num(float v) {
  std::string s = std::to_string(v);  // "0.500000": trim the zeros
  if (s.find('.') != std::string::npos) {
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::none:
      return "none";
    case Reduction::mean:
      return "mean";
    case Reduction::sum:
      return "sum";
    case Reduction::batchmean:
      return "batchmean";
  }
  return "?";
}

// Throws unless `r` is one `op` accepts: batchmean only where batchmean_ok, none unless
// none_ok is false.
void check_reduction(const char* op, Reduction r, bool none_ok = true, bool batchmean_ok = false) {
  if (r == Reduction::batchmean && !batchmean_ok)
    throw Error(std::string(op) + ": Reduction::batchmean is only for kl_div; use mean or sum");
  if (r == Reduction::none && !none_ok)
    throw Error(std::string(op) + ": Reduction::" + reduction_name(r) +
                " is not supported; use mean or sum");
  if (r != Reduction::none && r != Reduction::mean && r != Reduction::sum &&
      r != Reduction::batchmean)
    throw Error(std::string(op) + ": unknown reduction " + std::to_string(static_cast<int>(r)));
}

// ---- the elementwise losses ----

struct LossState : OpState {
  Reduction reduction = Reduction::mean;
  float factor = 1.0f;    // of the reduced loss's gradient: 1/count for mean, 1 for sum
  float param = 0.0f;     // huber_loss's delta, smooth_l1_loss's beta
  bool flag = false;      // kl_div's log_target; binary_cross_entropy_with_logits' pos_weight
  std::size_t group = 1;  // elements per unreduced loss: 1, or a row (categorical)
  Tensor target;
  Tensor weight;  // pos_weight broadcast to the input's shape
};

// Checks what every elementwise loss needs: a non-empty input, a target of its shape, a
// reduction the loss accepts.
void check_loss(const char* op, const Tensor& pred, const Tensor& target, Reduction r,
                bool none_ok = true, bool batchmean_ok = false) {
  if (pred.size() == 0) throw Error(std::string(op) + ": input is " + shape_str(pred) + " (empty)");
  if (pred.shape() != target.shape())
    throw Error(std::string(op) + ": prediction is " + shape_str(pred) + " but target is " +
                shape_str(target));
  check_reduction(op, r, none_ok, batchmean_ok);
}

// Records a checked loss: copies the targets into its state and sizes its output (the input's
// shape for none, 1x1 otherwise; `none_shape` when given).
Var record_loss(const char* op, Var pred, const Tensor& target, Reduction r, BackwardFn backward,
                std::size_t group = 1) {
  Tape& t = pred.tape();
  const Tensor& p = t.value_at(pred.index());
  Var out = t.record(op, {pred}, backward);
  LossState& s = t.state<LossState>(out);
  s.reduction = r;
  s.group = group;
  s.flag = false;
  resize(s.target, target.shape());
  std::copy(target.begin(), target.end(), s.target.begin());
  const std::size_t losses = p.size() / group;
  switch (r) {
    case Reduction::sum:
    case Reduction::none:
      s.factor = 1.0f;
      break;
    case Reduction::mean:
      s.factor = 1.0f / static_cast<float>(losses);
      break;
    case Reduction::batchmean:
      s.factor = p.dimension() == 0 ? 1.0f : 1.0f / static_cast<float>(p.shape(0));
      break;
  }
  if (r != Reduction::none) {
    t.output(out, kLossShape);
  } else if (group == 1) {
    t.output(out, p.shape());
  } else {  // one loss per row: the shape without the last dimension
    const Dims rows_shape(p.shape().begin(), p.shape().end() - 1);
    t.output(out, rows_shape);
  }
  return out;
}

// Computes l(p_i, t_i, i) for every element (in double) into the output: each one for none,
// or their sum times the reduction factor.
template <class L>
void elementwise_loss_forward(Tape& t, Var out, Var pred, L l) {
  Node& n = t.node(out);
  const LossState& s = n.state_as<LossState>();
  const float* p = t.value_at(pred.index()).data();
  const float* y = s.target.data();
  const std::size_t count = s.target.size();
  float* o = n.value.data();
  if (s.reduction == Reduction::none && s.group == 1) {
    for (std::size_t i = 0; i < count; ++i) o[i] = static_cast<float>(l(p[i], y[i], i));
  } else if (s.reduction == Reduction::none) {
    for (std::size_t i = 0, k = 0; i < count; i += s.group, ++k) {
      double row = 0.0;
      for (std::size_t j = i; j < i + s.group; ++j) row += l(p[j], y[j], j);
      o[k] = static_cast<float>(row);
    }
  } else {
    double total = 0.0;
    for (std::size_t i = 0; i < count; ++i) total += l(p[i], y[i], i);
    o[0] = static_cast<float>(total * s.factor);
  }
}

// dx_i += (upstream gradient of element i's loss) * d(p_i, t_i, i).
template <class D>
static void elementwise_loss_backward(Tape& t, const Node& n, D d) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const LossState& s = n.state_as<LossState>();
  const float* p = t.value_at(n.inputs[0]).data();
  const float* y = s.target.data();
  const float* dy = n.grad.data();
  float* out = dx->data();
  const std::size_t count = s.target.size();
  if (s.reduction == Reduction::none && s.group == 1) {
    for (std::size_t i = 0; i < count; ++i) out[i] += dy[i] * d(p[i], y[i], i);
  } else if (s.reduction == Reduction::none) {
    for (std::size_t i = 0; i < count; ++i) out[i] += dy[i / s.group] * d(p[i], y[i], i);
  } else {
    const float g = dy[0] * s.factor;
    for (std::size_t i = 0; i < count; ++i) out[i] += g * d(p[i], y[i], i);
  }
}

float clamp_prob(float p) {
  return std::clamp(p, kProbEps, 1.0f - kProbEps);
}

// ---- the cross-entropies ----
// The logits are seen as outer x classes x inner (the classes in dimension 1, or in the last
// dimension with inner = 1); a sample is one (outer, inner) pair. Per sample, with
// q the smoothed target distribution and w the class weights:
//   loss = sum_c w_c q_c (lse - z_c),   d loss / d z_j = p_j sum_c w_c q_c - w_j q_j.

struct CrossEntropyState : OpState {
  Reduction reduction = Reduction::mean;
  float factor = 1.0f;  // 1 / (the mean's divisor), or 1
  std::size_t outer = 0, classes = 0, inner = 1;
  Tensor probs;                      // softmax along the classes, in the logits' layout
  bool has_labels = false;           // labels, else target
  std::vector<std::int64_t> labels;  // one per sample
  Tensor target;                     // class probabilities, the logits' shape
  std::vector<float> weight;         // per class, or empty
  float weight_sum = 0.0f;           // sum of the weights (classes when none)
  std::int64_t ignore_index = 0;
  float smoothing = 0.0f;
  std::vector<float> row, prow;  // one strided sample gathered
};

// No label can equal it: the classic softmax_cross_entropy ignores nothing.
constexpr std::int64_t kNoIgnore = std::numeric_limits<std::int64_t>::min();

struct CrossEntropyLayout {
  std::size_t outer = 1, classes = 1, inner = 1;
  Dims none_shape;  // the shape of the unreduced losses
};

// logits seen with the classes in dimension `class_dim`.
CrossEntropyLayout layout_of(const Tensor& z, std::size_t class_dim) {
  CrossEntropyLayout l;
  for (std::size_t d = 0; d < z.dimension(); ++d) {
    const std::size_t n = z.shape(d);
    if (d < class_dim) l.outer *= n;
    if (d == class_dim) l.classes = n;
    if (d > class_dim) l.inner *= n;
    if (d != class_dim) l.none_shape.push_back(n);
  }
  return l;
}

static void cross_entropy_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const CrossEntropyState& s = n.state_as<CrossEntropyState>();
  const std::size_t C = s.classes, inner = s.inner;
  const bool weighted = !s.weight.empty();
  const float eps = s.smoothing, uniform = s.smoothing / static_cast<float>(C);
  const float* dy = n.grad.data();
  const float* P = s.probs.data();
  float* G = dx->data();
  for (std::size_t o = 0; o < s.outer; ++o)
    for (std::size_t si = 0; si < inner; ++si) {
      const std::size_t k = o * inner + si, base = o * C * inner + si;
      const float g = s.reduction == Reduction::none ? dy[k] : dy[0] * s.factor;
      if (s.has_labels) {
        const std::int64_t y = s.labels[k];
        if (y == s.ignore_index) continue;
        const auto yc = static_cast<std::size_t>(y);
        const float wy = weighted ? s.weight[yc] : 1.0f;
        const float a = (1.0f - eps) * wy + uniform * s.weight_sum;  // sum_c w_c q_c
        for (std::size_t c = 0; c < C; ++c) {
          const float wc = weighted ? s.weight[c] : 1.0f;
          G[base + c * inner] += g * (P[base + c * inner] * a - wc * uniform);
        }
        G[base + yc * inner] -= g * (1.0f - eps) * wy;
      } else {
        const float* y = s.target.data();
        float a = 0.0f;
        for (std::size_t c = 0; c < C; ++c) {
          const float q = (1.0f - eps) * y[base + c * inner] + uniform;
          a += (weighted ? s.weight[c] : 1.0f) * q;
        }
        for (std::size_t c = 0; c < C; ++c) {
          const float q = (1.0f - eps) * y[base + c * inner] + uniform;
          const float wc = weighted ? s.weight[c] : 1.0f;
          G[base + c * inner] += g * (P[base + c * inner] * a - wc * q);
        }
      }
    }
}

// Records a checked cross-entropy: `labels` (one per sample, Label an integer type) or, when
// null, `target` (the logits' shape). Computes the softmax, the losses and the reduction.
template <class Label>
Var record_cross_entropy(const char* op, Var logits, const CrossEntropyLayout& l,
                         const std::vector<Label>* labels, const Tensor* target,
                         const std::vector<float>& weight, std::int64_t ignore_index,
                         float smoothing, Reduction r) {
  Tape& t = logits.tape();
  const Tensor& zt = t.value_at(logits.index());
  Var out = t.record(op, {logits}, cross_entropy_backward);
  CrossEntropyState& s = t.state<CrossEntropyState>(out);
  const std::size_t C = l.classes, inner = l.inner;
  s.reduction = r;
  s.outer = l.outer;
  s.classes = C;
  s.inner = inner;
  s.has_labels = labels != nullptr;
  if (labels) {
    s.labels.assign(labels->begin(), labels->end());
  } else {
    resize(s.target, target->shape());
    std::copy(target->begin(), target->end(), s.target.begin());
  }
  s.weight.assign(weight.begin(), weight.end());
  double weight_sum = 0.0;
  for (float w : s.weight) weight_sum += w;
  s.weight_sum = s.weight.empty() ? static_cast<float>(C) : static_cast<float>(weight_sum);
  s.ignore_index = ignore_index;
  s.smoothing = smoothing;
  resize(s.probs, zt.shape());
  s.row.resize(inner > 1 ? C : 0);
  s.prow.resize(inner > 1 ? C : 0);

  const bool weighted = !s.weight.empty();
  const double eps = smoothing, uniform = smoothing / static_cast<double>(C);
  float* losses = r == Reduction::none ? t.output(out, l.none_shape).data() : nullptr;
  double total = 0.0, divisor = 0.0;
  for (std::size_t o = 0; o < l.outer; ++o)
    for (std::size_t si = 0; si < inner; ++si) {
      const std::size_t k = o * inner + si, base = o * C * inner + si;
      std::size_t y = 0;
      if (labels) {
        if (s.labels[k] == ignore_index) {
          if (losses) losses[k] = 0.0f;
          continue;
        }
        y = static_cast<std::size_t>(s.labels[k]);
        divisor += weighted ? s.weight[y] : 1.0f;
      } else {
        divisor += 1.0;
      }
      const float* z = zt.data() + base;
      float* p = s.probs.data() + base;
      if (inner > 1) {  // gather the strided sample
        for (std::size_t c = 0; c < C; ++c) s.row[c] = z[c * inner];
        z = s.row.data();
        p = s.prow.data();
      }
      const double lse = detail::softmax_row(z, p, C);
      if (inner > 1)
        for (std::size_t c = 0; c < C; ++c) s.probs.data()[base + c * inner] = p[c];
      double loss = 0.0;
      for (std::size_t c = 0; c < C; ++c) {
        const double q = labels ? (c == y ? 1.0 - eps : 0.0) + uniform
                                : (1.0 - eps) * s.target.data()[base + c * inner] + uniform;
        if (q != 0.0) loss += (weighted ? s.weight[c] : 1.0) * q * (lse - z[c]);
      }
      total += loss;
      if (losses) losses[k] = static_cast<float>(loss);
    }
  if (r == Reduction::mean) {
    // As PyTorch: nothing to average (every sample ignored) is 0 / 0 = NaN.
    t.output(out, kLossShape).data()[0] = static_cast<float>(total / divisor);
    s.factor = static_cast<float>(1.0 / divisor);
  } else if (r == Reduction::sum) {
    t.output(out, kLossShape).data()[0] = static_cast<float>(total);
    s.factor = 1.0f;
  } else {
    s.factor = 1.0f;
  }
  return out;
}

void check_cross_entropy_options(const char* op, std::size_t classes,
                                 const CrossEntropyOptions& o) {
  check_reduction(op, o.reduction);
  if (!o.weight.empty() && o.weight.size() != classes)
    throw Error(std::string(op) + ": weight has " + std::to_string(o.weight.size()) +
                " values but there are " + std::to_string(classes) + " classes");
  if (!(o.label_smoothing >= 0.0f && o.label_smoothing <= 1.0f))
    throw Error(std::string(op) + ": label_smoothing is " + num(o.label_smoothing) +
                ", not in [0, 1]");
}

void check_logits(const char* op, const Tensor& z) {
  if (z.dimension() == 0)
    throw Error(std::string(op) + ": logits are a scalar, not C, N x C or N x C x d1...");
  if (z.size() == 0) throw Error(std::string(op) + ": logits are " + shape_str(z) + " (empty)");
}

// "row 3" for N x C logits, "position [1, 2]" in the N x d1... grid of the labels otherwise.
std::string sample_name(const CrossEntropyLayout& l, std::size_t k) {
  if (l.none_shape.size() <= 1) return "row " + std::to_string(k);
  std::string s;
  for (std::size_t d = l.none_shape.size(); d-- > 0;) {
    s = std::to_string(k % l.none_shape[d]) + (s.empty() ? "" : ", ") + s;
    k /= l.none_shape[d];
  }
  return "position [" + s + "]";
}

}  // namespace

// ---- cross-entropy ----

Var cross_entropy(Var logits, const std::vector<std::int64_t>& labels,
                  const CrossEntropyOptions& options) {
  static const char* op = "cross_entropy";
  const Tensor& z = logits.value();
  check_logits(op, z);
  const CrossEntropyLayout l = layout_of(z, z.dimension() == 1 ? 0 : 1);
  const std::size_t samples = l.outer * l.inner;
  if (labels.size() != samples)
    throw Error(std::string(op) + ": logits are " + shape_str(z) + " but " +
                std::to_string(labels.size()) + " labels were given (expected " +
                std::to_string(samples) + ", one per sample)");
  check_cross_entropy_options(op, l.classes, options);
  const auto classes = static_cast<std::int64_t>(l.classes);
  for (std::size_t k = 0; k < labels.size(); ++k)
    if (labels[k] != options.ignore_index && (labels[k] < 0 || labels[k] >= classes))
      throw Error(std::string(op) + ": label " + std::to_string(labels[k]) + " at " +
                  sample_name(l, k) + " is outside [0, " + std::to_string(classes) + ")");
  Var out = record_cross_entropy<std::int64_t>(op, logits, l, &labels, nullptr, options.weight,
                                               options.ignore_index, options.label_smoothing,
                                               options.reduction);
  return logits.tape().finish(out);
}

Var cross_entropy(Var logits, const Tensor& target_probs, const CrossEntropyOptions& options) {
  static const char* op = "cross_entropy";
  const Tensor& z = logits.value();
  check_logits(op, z);
  if (z.shape() != target_probs.shape())
    throw Error(std::string(op) + ": logits are " + shape_str(z) + " but target is " +
                shape_str(target_probs));
  const CrossEntropyLayout l = layout_of(z, z.dimension() == 1 ? 0 : 1);
  check_cross_entropy_options(op, l.classes, options);
  Var out =
      record_cross_entropy<std::int64_t>(op, logits, l, nullptr, &target_probs, options.weight,
                                         kNoIgnore, options.label_smoothing, options.reduction);
  return logits.tape().finish(out);
}

Var softmax_cross_entropy(Var logits, const std::vector<std::int32_t>& labels, Reduction r) {
  static const char* op = "softmax_cross_entropy";
  const Tensor& z = logits.value();
  if (z.size() == 0) throw Error(std::string(op) + ": input is " + shape_str(z) + " (empty)");
  if (z.dimension() != 2)
    throw Error(std::string(op) + ": logits are " + shape_str(z) + ", not rows x classes");
  if (labels.size() != rows(z))
    throw Error(std::string(op) + ": logits are " + shape_str(z) + " but " +
                std::to_string(labels.size()) + " labels were given");
  check_reduction(op, r);
  const auto classes = static_cast<std::int32_t>(cols(z));
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      throw Error(std::string(op) + ": label " + std::to_string(labels[i]) + " at row " +
                  std::to_string(i) + " is outside [0, " + std::to_string(classes) + ")");
  const CrossEntropyLayout l = layout_of(z, 1);
  static const std::vector<float> no_weight;
  Var out = record_cross_entropy<std::int32_t>(op, logits, l, &labels, nullptr, no_weight,
                                               kNoIgnore, 0.0f, r);
  return logits.tape().finish(out);
}

Var softmax_cross_entropy(Var logits, const Tensor& target_probs, Reduction r) {
  static const char* op = "softmax_cross_entropy";
  const Tensor& z = logits.value();
  check_loss(op, z, target_probs, r);
  if (z.dimension() == 0)
    throw Error(std::string(op) + ": logits are a scalar, not rows x classes");
  const CrossEntropyLayout l = layout_of(z, z.dimension() - 1);
  static const std::vector<float> no_weight;
  Var out = record_cross_entropy<std::int64_t>(op, logits, l, nullptr, &target_probs, no_weight,
                                               kNoIgnore, 0.0f, r);
  return logits.tape().finish(out);
}

// ---- binary cross-entropy ----

namespace {
static void binary_cross_entropy_backward(Tape& t, const Node& n) {
  elementwise_loss_backward(t, n, [](float p, float y, std::size_t) {
    const float pc = clamp_prob(p);
    return (pc - y) / (pc * (1.0f - pc));
  });
}
}  // namespace

Var binary_cross_entropy(Var probs, const Tensor& targets, Reduction r) {
  static const char* op = "binary_cross_entropy";
  check_loss(op, probs.value(), targets, r);
  Var out = record_loss(op, probs, targets, r, binary_cross_entropy_backward);
  elementwise_loss_forward(probs.tape(), out, probs, [](float p, float y, std::size_t) {
    const double pc = clamp_prob(p);
    return -(y * std::log(pc) + (1.0 - y) * std::log(1.0 - pc));
  });
  return out.tape().finish(out);
}

namespace {
// d/dz = sigmoid(z) - t; with pos_weight w: (1 - t) - (1 + (w - 1) t) sigmoid(-z).
static void binary_cross_entropy_with_logits_backward(Tape& t, const Node& n) {
  const LossState& s = n.state_as<LossState>();
  if (!s.flag) {
    elementwise_loss_backward(
        t, n, [](float z, float y, std::size_t) { return detail::stable_sigmoid(z) - y; });
    return;
  }
  const float* w = s.weight.data();
  elementwise_loss_backward(t, n, [w](float z, float y, std::size_t i) {
    return (1.0f - y) - (1.0f + (w[i] - 1.0f) * y) * detail::stable_sigmoid(-z);
  });
}
}  // namespace

Var binary_cross_entropy_with_logits(Var logits, const Tensor& targets, Reduction r,
                                     const Tensor* pos_weight) {
  static const char* op = "binary_cross_entropy_with_logits";
  const Tensor& z = logits.value();
  check_loss(op, z, targets, r);
  detail::Broadcast<2> plan;  // of pos_weight over the logits
  if (pos_weight) {
    bool fits = pos_weight->dimension() <= z.dimension();
    for (std::size_t d = 0; fits && d < pos_weight->dimension(); ++d) {
      const std::size_t n = pos_weight->shape(pos_weight->dimension() - 1 - d);
      fits = n == 1 || n == z.shape(z.dimension() - 1 - d);
    }
    if (!fits)
      throw Error(std::string(op) + ": pos_weight is " + shape_str(*pos_weight) +
                  ", which does not broadcast to the logits' " + shape_str(z));
    plan = detail::plan_broadcast<2>({&z, pos_weight}, op);  // cannot throw now
  }
  Tape& t = logits.tape();
  Var out = record_loss(op, logits, targets, r, binary_cross_entropy_with_logits_backward);
  if (!pos_weight) {
    elementwise_loss_forward(t, out, logits, [](float x, float y, std::size_t) {
      return std::max(x, 0.0f) - static_cast<double>(x) * y + std::log1p(std::exp(-std::fabs(x)));
    });
    return t.finish(out);
  }
  LossState& s = t.state<LossState>(out);
  s.flag = true;
  resize(s.weight, z.shape());
  float* w = s.weight.data();
  const float* pw = pos_weight->data();
  detail::for_each_broadcast(
      plan, [&](std::size_t i, const std::array<std::size_t, 2>& at) { w[i] = pw[at[1]]; });
  elementwise_loss_forward(t, out, logits, [w](float x, float y, std::size_t i) {
    const double softplus_neg = std::max(-x, 0.0f) + std::log1p(std::exp(-std::fabs(x)));
    return (1.0 - y) * x + (1.0 + (static_cast<double>(w[i]) - 1.0) * y) * softplus_neg;
  });
  return t.finish(out);
}

// ---- categorical cross-entropy on probabilities (per row, averaged over rows) ----

namespace {
static void categorical_cross_entropy_backward(Tape& t, const Node& n) {
  elementwise_loss_backward(
      t, n, [](float p, float y, std::size_t) { return -y / std::max(p, kProbEps); });
}
}  // namespace

Var categorical_cross_entropy(Var probs, const Tensor& targets, Reduction r) {
  static const char* op = "categorical_cross_entropy";
  const Tensor& p = probs.value();
  check_loss(op, p, targets, r);
  Var out = record_loss(op, probs, targets, r, categorical_cross_entropy_backward, cols(p));
  elementwise_loss_forward(probs.tape(), out, probs, [](float q, float y, std::size_t) {
    return -static_cast<double>(y) * std::log(std::max(q, kProbEps));
  });
  return out.tape().finish(out);
}

// ---- regression losses ----

namespace {
static void mse_backward(Tape& t, const Node& n) {
  elementwise_loss_backward(t, n, [](float p, float y, std::size_t) { return 2.0f * (p - y); });
}
}  // namespace

Var mse(Var prediction, const Tensor& target, Reduction r) {
  check_loss("mse", prediction.value(), target, r);
  Var out = record_loss("mse", prediction, target, r, mse_backward);
  elementwise_loss_forward(prediction.tape(), out, prediction, [](float p, float y, std::size_t) {
    const double d = static_cast<double>(p) - y;
    return d * d;
  });
  return out.tape().finish(out);
}

namespace {
// d sqrt(m)/dp = (dm/dp) / (2 sqrt(m)) = factor (p - t) / rmse; 0 when rmse is 0.
static void rmse_backward(Tape& t, const Node& n) {
  const float root = n.value.data()[0];
  if (root == 0.0f) return;
  elementwise_loss_backward(t, n, [root](float p, float y, std::size_t) { return (p - y) / root; });
}
}  // namespace

Var rmse(Var prediction, const Tensor& target, Reduction r) {
  check_loss("rmse", prediction.value(), target, r, /*none_ok=*/false);
  Var out = record_loss("rmse", prediction, target, r, rmse_backward);
  Tape& t = prediction.tape();
  elementwise_loss_forward(t, out, prediction, [](float p, float y, std::size_t) {
    const double d = static_cast<double>(p) - y;
    return d * d;
  });
  float& loss = t.node(out).value.data()[0];
  loss = std::sqrt(loss);
  return t.finish(out);
}

namespace {
static void mae_backward(Tape& t, const Node& n) {
  elementwise_loss_backward(
      t, n, [](float p, float y, std::size_t) { return p > y ? 1.0f : (p < y ? -1.0f : 0.0f); });
}
}  // namespace

Var mae(Var prediction, const Tensor& target, Reduction r) {
  check_loss("mae", prediction.value(), target, r);
  Var out = record_loss("mae", prediction, target, r, mae_backward);
  elementwise_loss_forward(prediction.tape(), out, prediction, [](float p, float y, std::size_t) {
    return std::fabs(static_cast<double>(p) - y);
  });
  return out.tape().finish(out);
}

namespace {
// huber: d clamped to [-delta, delta]; smooth_l1: that divided by beta (sign(d) for beta 0).
static void huber_loss_backward(Tape& t, const Node& n) {
  const float delta = n.state_as<LossState>().param;
  elementwise_loss_backward(
      t, n, [delta](float p, float y, std::size_t) { return std::clamp(p - y, -delta, delta); });
}
}  // namespace

Var huber_loss(Var input, const Tensor& target, Reduction r, float delta) {
  static const char* op = "huber_loss";
  check_loss(op, input.value(), target, r);
  if (!(delta > 0.0f) || !std::isfinite(delta))
    throw Error(std::string(op) + ": delta is " + num(delta) + "; it must be positive");
  Var out = record_loss(op, input, target, r, huber_loss_backward);
  Tape& t = input.tape();
  t.state<LossState>(out).param = delta;
  elementwise_loss_forward(t, out, input, [delta](float p, float y, std::size_t) {
    const double d = std::fabs(static_cast<double>(p) - y);
    return d < delta ? 0.5 * d * d : delta * (d - 0.5 * delta);
  });
  return t.finish(out);
}

namespace {
static void smooth_l1_loss_backward(Tape& t, const Node& n) {
  const float beta = n.state_as<LossState>().param;
  if (beta == 0.0f) {
    mae_backward(t, n);
    return;
  }
  elementwise_loss_backward(t, n, [beta](float p, float y, std::size_t) {
    return std::clamp((p - y) / beta, -1.0f, 1.0f);
  });
}
}  // namespace

Var smooth_l1_loss(Var input, const Tensor& target, Reduction r, float beta) {
  static const char* op = "smooth_l1_loss";
  check_loss(op, input.value(), target, r);
  if (!(beta >= 0.0f) || !std::isfinite(beta))
    throw Error(std::string(op) + ": beta is " + num(beta) + "; it must be >= 0");
  Var out = record_loss(op, input, target, r, smooth_l1_loss_backward);
  Tape& t = input.tape();
  t.state<LossState>(out).param = beta;
  elementwise_loss_forward(t, out, input, [beta](float p, float y, std::size_t) {
    const double d = std::fabs(static_cast<double>(p) - y);
    return d < beta ? 0.5 * d * d / beta : d - 0.5 * beta;
  });
  return t.finish(out);
}

// ---- KL divergence ----

namespace {
// d/dx = -target, or -exp(target) for log targets.
static void kl_div_backward(Tape& t, const Node& n) {
  if (n.state_as<LossState>().flag)
    elementwise_loss_backward(t, n, [](float, float y, std::size_t) { return -std::exp(y); });
  else
    elementwise_loss_backward(t, n, [](float, float y, std::size_t) { return -y; });
}
}  // namespace

Var kl_div(Var input, const Tensor& target, Reduction r, bool log_target) {
  static const char* op = "kl_div";
  check_loss(op, input.value(), target, r, /*none_ok=*/true, /*batchmean_ok=*/true);
  if (!log_target)
    for (std::size_t i = 0; i < target.size(); ++i)
      if (!(target.data()[i] >= 0.0f))
        throw Error(std::string(op) + ": target " + num(target.data()[i]) + " at element " +
                    std::to_string(i) +
                    " is not a probability (>= 0); pass log_target = true for log-probabilities");
  Var out = record_loss(op, input, target, r, kl_div_backward);
  Tape& t = input.tape();
  t.state<LossState>(out).flag = log_target;
  if (log_target)
    elementwise_loss_forward(t, out, input, [](float x, float y, std::size_t) {
      return std::exp(static_cast<double>(y)) * (static_cast<double>(y) - x);
    });
  else
    elementwise_loss_forward(t, out, input, [](float x, float y, std::size_t) {
      return y > 0.0f ? y * (std::log(static_cast<double>(y)) - x) : 0.0;
    });
  return t.finish(out);
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
