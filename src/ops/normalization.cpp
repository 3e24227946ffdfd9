// Normalisation and regularisation ops: each forward with its backward right above it.
#include "tapegrad/ops/normalization.hpp"

#include "ops/op_util.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace tg {

// ---- batch norm ----

namespace {
struct BatchNormState : OpState {
  Tensor x_hat;           // the normalised input
  Tensor inv_std;         // 1/sqrt(var + eps) per column
  bool batch_statistics;  // the batch's own statistics were used: their gradient matters too
};
}  // namespace

static void batch_norm_backward(Tape& t, const Node& n) {
  const BatchNormState& s = n.state_as<BatchNormState>();
  const float* gamma = t.value_at(n.inputs[1]).data();
  const std::size_t r = rows(s.x_hat), c = cols(s.x_hat);
  const float* g = n.grad.data();
  const float* x_hat = s.x_hat.data();
  Tensor* dgamma = t.grad_at(n.inputs[1]);
  Tensor* dbeta = t.grad_at(n.inputs[2]);
  Tensor* dx = t.grad_at(n.inputs[0]);
  // Column sums of g and g * x_hat serve all three gradients. (Scratch kept per thread, so
  // a training step allocates nothing after the first.)
  thread_local std::vector<double> sum_g, sum_g_xhat;
  sum_g.assign(c, 0.0);
  sum_g_xhat.assign(c, 0.0);
  for (std::size_t i = 0; i < r; ++i)
    for (std::size_t j = 0; j < c; ++j) {
      const double gij = g[i * c + j];
      sum_g[j] += gij;
      sum_g_xhat[j] += gij * x_hat[i * c + j];
    }
  if (dgamma)
    for (std::size_t j = 0; j < c; ++j) dgamma->data()[j] += static_cast<float>(sum_g_xhat[j]);
  if (dbeta)
    for (std::size_t j = 0; j < c; ++j) dbeta->data()[j] += static_cast<float>(sum_g[j]);
  if (!dx) return;
  const float inv_n = 1.0f / static_cast<float>(r);
  for (std::size_t i = 0; i < r; ++i)
    for (std::size_t j = 0; j < c; ++j) {
      const float scale = gamma[j] * s.inv_std.data()[j];
      float& d = dx->data()[i * c + j];
      if (s.batch_statistics) {
        // dx = gamma*invstd/N * (N g - sum g - x_hat * sum(g x_hat)): the mean and variance
        // depend on x too, which is where the two correction terms come from.
        d += scale * inv_n *
             (static_cast<float>(r) * g[i * c + j] - static_cast<float>(sum_g[j]) -
              x_hat[i * c + j] * static_cast<float>(sum_g_xhat[j]));
      } else {
        d += scale * g[i * c + j];
      }
    }
}

Var batch_norm(Var x, Var gamma, Var beta, float eps, const Tensor* fixed_mean,
               const Tensor* fixed_var, Tensor* batch_mean, Tensor* batch_var) {
  static const char* op = "batch_norm";
  const Tensor& xv = x.value();
  if (xv.dimension() != 2)
    throw Error(std::string(op) + ": input is " + shape_str(xv) + ", not rows x features");
  const std::size_t r = rows(xv), c = cols(xv);
  const Tensor& gv = gamma.value();
  const Tensor& bv = beta.value();
  for (const Tensor* row : {&gv, &bv, fixed_mean, fixed_var})
    if (row && (row->size() != c || cols(*row) != c))
      throw Error(std::string(op) + ": input is " + shape_str(xv) + " but a per-feature row is " +
                  shape_str(*row) + " (must be " + shape_str(1, c) + ")");
  if ((fixed_mean == nullptr) != (fixed_var == nullptr))
    throw Error(std::string(op) + ": fixed_mean and fixed_var go together (one of them is null)");
  const bool use_batch = fixed_mean == nullptr;
  if (use_batch && r < 2)
    throw Error(std::string(op) +
                ": training needs more than one row per batch to estimate a variance (input is " +
                shape_str(xv) + ")");
  Tape& t = x.tape();
  Var out = t.record(op, {x, gamma, beta}, batch_norm_backward);
  BatchNormState& s = t.state<BatchNormState>(out);
  s.batch_statistics = use_batch;
  resize(s.x_hat, r, c);
  resize(s.inv_std, 1, c);
  Tensor& y = t.output(out, xv.shape());
  if (batch_mean) resize(*batch_mean, 1, c);
  if (batch_var) resize(*batch_var, 1, c);
  const float* xs = xv.data();
  for (std::size_t j = 0; j < c; ++j) {
    double mean = 0.0, var = 0.0;
    if (use_batch) {
      for (std::size_t i = 0; i < r; ++i) mean += xs[i * c + j];
      mean /= static_cast<double>(r);
      for (std::size_t i = 0; i < r; ++i) var += (xs[i * c + j] - mean) * (xs[i * c + j] - mean);
      var /= static_cast<double>(r);
      if (batch_mean) batch_mean->data()[j] = static_cast<float>(mean);
      if (batch_var) batch_var->data()[j] = static_cast<float>(var);
    } else {
      mean = fixed_mean->data()[j];
      var = fixed_var->data()[j];
    }
    const float inv_std = static_cast<float>(1.0 / std::sqrt(var + eps));
    s.inv_std.data()[j] = inv_std;
    for (std::size_t i = 0; i < r; ++i) {
      const float x_hat = (xs[i * c + j] - static_cast<float>(mean)) * inv_std;
      s.x_hat.data()[i * c + j] = x_hat;
      y.data()[i * c + j] = gv.data()[j] * x_hat + bv.data()[j];
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
  for (float& m : mask) m = rng.uniform() >= p ? keep_scale : 0.0f;
  Tensor& y = t.output(out, xv.shape());
  const std::size_t count = xv.size();
  for (std::size_t i = 0; i < count; ++i) y.data()[i] = xv.data()[i] * mask.data()[i];
  return t.finish(out);
}

}  // namespace tg
