// Normalisation and regularisation ops: each forward with its backward right above it.
#include "tapegrad/ops/normalization.hpp"

#include "ops/op_util.hpp"
#include "tapegrad/core/rng.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>
#include <vector>

namespace tg {

// ---- batch norm: x is N x C or N x C x d1 x ...; statistics per channel C over N and every d ----

namespace {
struct BatchNormState : OpState {
  Tensor x_hat;           // the normalised input, x's shape
  Tensor inv_std;         // 1/sqrt(var + eps) per channel
  bool batch_statistics;  // the batch's own statistics were used: their gradient matters too
};

// x as N x C x S: S = d1 * d2 * ... (1 for N x C). Element (n, c, s) is at (n * C + c) * S + s.
struct ChannelView {
  std::size_t n, c, s;
};
ChannelView channel_view(const Tensor& x) {
  ChannelView v{x.shape(0), x.shape(1), 1};
  for (std::size_t d = 2; d < x.dimension(); ++d) v.s *= x.shape(d);
  return v;
}
}  // namespace

static void batch_norm_backward(Tape& t, const Node& n) {
  const BatchNormState& s = n.state_as<BatchNormState>();
  const float* gamma = t.value_at(n.inputs[1]).data();
  const ChannelView v = channel_view(s.x_hat);
  const float* g = n.grad.data();
  const float* x_hat = s.x_hat.data();
  Tensor* dgamma = t.grad_at(n.inputs[1]);
  Tensor* dbeta = t.grad_at(n.inputs[2]);
  Tensor* dx = t.grad_at(n.inputs[0]);
  // Per-channel sums of g and g * x_hat serve all three gradients. (Scratch kept per thread,
  // so a training step allocates nothing after the first.)
  thread_local std::vector<double> sum_g, sum_g_xhat;
  sum_g.assign(v.c, 0.0);
  sum_g_xhat.assign(v.c, 0.0);
  for (std::size_t i = 0; i < v.n; ++i)
    for (std::size_t j = 0; j < v.c; ++j) {
      const std::size_t base = (i * v.c + j) * v.s;
      double sg = 0.0, sgx = 0.0;
      for (std::size_t k = 0; k < v.s; ++k) {
        const double gk = g[base + k];
        sg += gk;
        sgx += gk * x_hat[base + k];
      }
      sum_g[j] += sg;
      sum_g_xhat[j] += sgx;
    }
  if (dgamma)
    for (std::size_t j = 0; j < v.c; ++j) dgamma->data()[j] += static_cast<float>(sum_g_xhat[j]);
  if (dbeta)
    for (std::size_t j = 0; j < v.c; ++j) dbeta->data()[j] += static_cast<float>(sum_g[j]);
  if (!dx) return;
  const float m = static_cast<float>(v.n * v.s);  // values per channel
  const float inv_m = 1.0f / m;
  float* d = dx->data();
  for (std::size_t i = 0; i < v.n; ++i)
    for (std::size_t j = 0; j < v.c; ++j) {
      const std::size_t base = (i * v.c + j) * v.s;
      const float scale = gamma[j] * s.inv_std.data()[j];
      if (s.batch_statistics) {
        // dx = gamma*invstd/M * (M g - sum g - x_hat * sum(g x_hat)), M values per channel:
        // the mean and variance depend on x too, which is where the two correction terms
        // come from.
        const float sg = static_cast<float>(sum_g[j]);
        const float sgx = static_cast<float>(sum_g_xhat[j]);
        for (std::size_t k = 0; k < v.s; ++k)
          d[base + k] += scale * inv_m * (m * g[base + k] - sg - x_hat[base + k] * sgx);
      } else {
        for (std::size_t k = 0; k < v.s; ++k) d[base + k] += scale * g[base + k];
      }
    }
}

Var batch_norm(Var x, Var gamma, Var beta, float eps, const Tensor* fixed_mean,
               const Tensor* fixed_var, Tensor* batch_mean, Tensor* batch_var) {
  static const char* op = "batch_norm";
  const Tensor& xv = x.value();
  if (xv.dimension() < 2)
    throw Error(std::string(op) + ": input is " + shape_str(xv) +
                ", not N x C (rows x features) or N x C x d1 x ...");
  const ChannelView v = channel_view(xv);
  const std::size_t c = v.c;
  const Tensor& gv = gamma.value();
  const Tensor& bv = beta.value();
  for (const Tensor* row : {&gv, &bv, fixed_mean, fixed_var})
    if (row && (row->size() != c || cols(*row) != c))
      throw Error(std::string(op) + ": input is " + shape_str(xv) + " but a per-channel row is " +
                  shape_str(*row) + " (must be " + shape_str(Shape{c}) + " or " + shape_str(1, c) +
                  ")");
  if ((fixed_mean == nullptr) != (fixed_var == nullptr))
    throw Error(std::string(op) + ": fixed_mean and fixed_var go together (one of them is null)");
  const bool use_batch = fixed_mean == nullptr;
  if (use_batch && v.n * v.s < 2)
    throw Error(std::string(op) +
                (xv.dimension() == 2
                     ? ": training needs more than one row per batch to estimate a variance"
                     : ": training needs more than one value per channel to estimate a variance") +
                " (input is " + shape_str(xv) + ")");
  Tape& t = x.tape();
  Var out = t.record(op, {x, gamma, beta}, batch_norm_backward);
  BatchNormState& s = t.state<BatchNormState>(out);
  s.batch_statistics = use_batch;
  resize(s.x_hat, xv.shape());
  resize(s.inv_std, 1, c);
  Tensor& y = t.output(out, xv.shape());
  if (batch_mean) resize(*batch_mean, 1, c);
  if (batch_var) resize(*batch_var, 1, c);
  const float* xs = xv.data();
  thread_local std::vector<double> mean, var;
  mean.assign(c, 0.0);
  var.assign(c, 0.0);
  if (use_batch) {
    const double count = static_cast<double>(v.n * v.s);
    for (std::size_t i = 0; i < v.n; ++i)
      for (std::size_t j = 0; j < c; ++j) {
        const float* p = xs + (i * c + j) * v.s;
        double sum = 0.0;
        for (std::size_t k = 0; k < v.s; ++k) sum += p[k];
        mean[j] += sum;
      }
    for (double& m : mean) m /= count;
    for (std::size_t i = 0; i < v.n; ++i)
      for (std::size_t j = 0; j < c; ++j) {
        const float* p = xs + (i * c + j) * v.s;
        double sum = 0.0;
        for (std::size_t k = 0; k < v.s; ++k) sum += (p[k] - mean[j]) * (p[k] - mean[j]);
        var[j] += sum;
      }
    for (std::size_t j = 0; j < c; ++j) {
      var[j] /= count;  // biased, as the normalisation uses
      if (batch_mean) batch_mean->data()[j] = static_cast<float>(mean[j]);
      if (batch_var) batch_var->data()[j] = static_cast<float>(var[j]);
    }
  } else {
    for (std::size_t j = 0; j < c; ++j) {
      mean[j] = fixed_mean->data()[j];
      var[j] = fixed_var->data()[j];
    }
  }
  for (std::size_t j = 0; j < c; ++j)
    s.inv_std.data()[j] = static_cast<float>(1.0 / std::sqrt(var[j] + eps));
  for (std::size_t i = 0; i < v.n; ++i)
    for (std::size_t j = 0; j < c; ++j) {
      const std::size_t base = (i * c + j) * v.s;
      const float mu = static_cast<float>(mean[j]), inv_std = s.inv_std.data()[j];
      const float gj = gv.data()[j], bj = bv.data()[j];
      for (std::size_t k = 0; k < v.s; ++k) {
        const float x_hat = (xs[base + k] - mu) * inv_std;
        s.x_hat.data()[base + k] = x_hat;
        y.data()[base + k] = gj * x_hat + bj;
      }
    }
  return t.finish(out);
}

// ---- layer norm: statistics per row over the trailing normalized_shape dims ----

namespace {
struct LayerNormState : OpState {
  Tensor x_hat;    // the normalised input, x's shape
  Tensor inv_std;  // 1/sqrt(var + eps) per row (one row = one normalised group)
  bool has_weight = false, has_bias = false;
};
}  // namespace

static void layer_norm_backward(Tape& t, const Node& n) {
  const LayerNormState& s = n.state_as<LayerNormState>();
  const std::size_t rows = s.inv_std.size();
  const std::size_t m = rows == 0 ? 0 : s.x_hat.size() / rows;  // values per row
  const float* g = n.grad.data();
  const float* x_hat = s.x_hat.data();
  std::size_t next = 1;
  const float* weight = s.has_weight ? t.value_at(n.inputs[next]).data() : nullptr;
  Tensor* dweight = s.has_weight ? t.grad_at(n.inputs[next++]) : nullptr;
  Tensor* dbias = s.has_bias ? t.grad_at(n.inputs[next]) : nullptr;
  Tensor* dx = t.grad_at(n.inputs[0]);
  for (std::size_t i = 0; i < rows; ++i) {
    const float* gi = g + i * m;
    const float* hi = x_hat + i * m;
    if (dweight)
      for (std::size_t j = 0; j < m; ++j) dweight->data()[j] += gi[j] * hi[j];
    if (dbias)
      for (std::size_t j = 0; j < m; ++j) dbias->data()[j] += gi[j];
    if (!dx) continue;
    // With gh = g * weight: dx = inv_std/M * (M gh - sum gh - x_hat * sum(gh x_hat)).
    double sum_gh = 0.0, sum_gh_xhat = 0.0;
    for (std::size_t j = 0; j < m; ++j) {
      const double gh = weight ? gi[j] * weight[j] : gi[j];
      sum_gh += gh;
      sum_gh_xhat += gh * hi[j];
    }
    const float fm = static_cast<float>(m);
    const float scale = s.inv_std.data()[i] / fm;
    const float sg = static_cast<float>(sum_gh), sgx = static_cast<float>(sum_gh_xhat);
    float* d = dx->data() + i * m;
    for (std::size_t j = 0; j < m; ++j) {
      const float gh = weight ? gi[j] * weight[j] : gi[j];
      d[j] += scale * (fm * gh - sg - hi[j] * sgx);
    }
  }
}

Var layer_norm(Var x, const Shape& normalized_shape, const Var* weight, const Var* bias,
               float eps) {
  static const char* op = "layer_norm";
  const Tensor& xv = x.value();
  const std::size_t k = normalized_shape.size(), rank = xv.dimension();
  if (k == 0)
    throw Error(std::string(op) + ": normalized_shape is empty (input is " + shape_str(xv) + ")");
  bool fits = k <= rank;
  for (std::size_t d = 0; fits && d < k; ++d) fits = xv.shape(rank - k + d) == normalized_shape[d];
  if (!fits)
    throw Error(std::string(op) + ": input is " + shape_str(xv) + " but normalized_shape is " +
                shape_str(normalized_shape) + " (must be the input's last dimensions)");
  for (const auto& [name, p] : {std::pair<const char*, const Var*>{"weight", weight},
                                std::pair<const char*, const Var*>{"bias", bias}}) {
    if (!p) continue;
    const Tensor& pv = p->value();
    if (pv.dimension() != k ||
        !std::equal(normalized_shape.begin(), normalized_shape.end(), pv.shape().begin()))
      throw Error(std::string(op) + ": " + name + " is " + shape_str(pv) +
                  " but normalized_shape is " + shape_str(normalized_shape) + " (input is " +
                  shape_str(xv) + ")");
  }
  const std::size_t m = element_count(normalized_shape);
  const std::size_t rows = m == 0 ? 0 : xv.size() / m;
  Tape& t = x.tape();
  Var out = weight && bias ? t.record(op, {x, *weight, *bias}, layer_norm_backward)
            : weight       ? t.record(op, {x, *weight}, layer_norm_backward)
            : bias         ? t.record(op, {x, *bias}, layer_norm_backward)
                           : t.record(op, {x}, layer_norm_backward);
  LayerNormState& s = t.state<LayerNormState>(out);
  s.has_weight = weight != nullptr;
  s.has_bias = bias != nullptr;
  resize(s.x_hat, xv.shape());
  resize(s.inv_std, std::array<std::size_t, 1>{rows});
  Tensor& y = t.output(out, xv.shape());
  const float* w = weight ? weight->value().data() : nullptr;
  const float* b = bias ? bias->value().data() : nullptr;
  for (std::size_t i = 0; i < rows; ++i) {
    const float* xi = xv.data() + i * m;
    double mean = 0.0, var = 0.0;
    for (std::size_t j = 0; j < m; ++j) mean += xi[j];
    mean /= static_cast<double>(m);
    for (std::size_t j = 0; j < m; ++j) var += (xi[j] - mean) * (xi[j] - mean);
    var /= static_cast<double>(m);  // biased, as torch
    const float inv_std = static_cast<float>(1.0 / std::sqrt(var + eps));
    s.inv_std.data()[i] = inv_std;
    float* hi = s.x_hat.data() + i * m;
    float* yi = y.data() + i * m;
    for (std::size_t j = 0; j < m; ++j) {
      hi[j] = (xi[j] - static_cast<float>(mean)) * inv_std;
      yi[j] = (w ? w[j] * hi[j] : hi[j]) + (b ? b[j] : 0.0f);
    }
  }
  return t.finish(out);
}

// ---- dropout: the state keeps the mask, already scaled by 1/(1-p) ----

namespace {
struct DropoutState : OpState {
  Tensor mask;
};
}  // namespace

static void dropout_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const float* m = n.state_as<DropoutState>().mask.data();
  const float* g = n.grad.data();
  float* d = dx->data();
  for (std::size_t i = 0; i < n.grad.size(); ++i) d[i] += g[i] * m[i];
}

Var dropout(Var x, float p, Rng& rng) {
  if (!(p >= 0.0f && p <= 1.0f))
    throw Error("dropout: p is " + std::to_string(p) + ", must be in [0, 1]");
  const Tensor& xv = x.value();
  Tape& t = x.tape();
  Var out = t.record("dropout", {x}, dropout_backward);
  Tensor& mask = t.state<DropoutState>(out).mask;
  resize(mask, xv.shape());
  const float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  if (t.has_run_position() && xv.dimension() > 0 && xv.shape(0) > 0) {
    // Keyed by the sample's place in the run and by this op's place on the tape, not by how
    // many masks came before: the same bits for any split of the batch over ranks. The
    // generator is only read (its state is the layer's seed for the whole run).
    const Rng::State st = rng.state();
    std::uint64_t key = splitmix64(out.index());
    for (std::uint64_t word : st) key = splitmix64(key ^ word);
    const std::size_t batch = xv.shape(0), per_row = xv.size() / batch;
    for (std::size_t r = 0; r < batch; ++r) {
      Rng row(key ^ splitmix64(t.run_position() + r));
      float* m = mask.data() + r * per_row;
      for (std::size_t j = 0; j < per_row; ++j) m[j] = row.uniform() >= p ? keep_scale : 0.0f;
    }
  } else {
    for (float& m : mask) m = rng.uniform() >= p ? keep_scale : 0.0f;
  }
  Tensor& y = t.output(out, xv.shape());
  const std::size_t count = xv.size();
  for (std::size_t i = 0; i < count; ++i) y.data()[i] = xv.data()[i] * mask.data()[i];
  return t.finish(out);
}

}  // namespace tg
