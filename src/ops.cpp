// Every op: its forward (records an entry, computes the value) and, right above it, the
// backward that entry runs. Backwards accumulate (+=) into their inputs' gradients, because
// a value used twice must receive both contributions.
#include "tapegrad/ops.hpp"

#include "blas.hpp"
#include "kernels.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace tg {

using detail::gemm;

namespace {

// The output buffer of `out`, shaped r x c (reused from the last step when shapes match).
Tensor& output(Tape& t, Var out, std::size_t r, std::size_t c) {
  Tensor& v = t.node(out).value;
  resize(v, r, c);
  return v;
}

// ---- elementwise helpers: f computes y from x; df gives dx from (x, y, dy) ----

template <class F>
Var unary(const char* op, Var x, BackwardFn backward, F f) {
  Tape& t = x.tape();
  Var out = t.record(op, {x}, backward);
  const Tensor& in = t.value_at(x.index());
  Tensor& y = output(t, out, rows(in), cols(in));
  const float* xs = in.data();
  float* ys = y.data();
  const std::size_t n = in.size();
  for (std::size_t i = 0; i < n; ++i) ys[i] = f(xs[i]);
  return out;
}

// Like unary, with an array kernel k(x, y, n) computing the whole output at once.
template <class K>
Var unary_array(const char* op, Var x, BackwardFn backward, K k) {
  Tape& t = x.tape();
  Var out = t.record(op, {x}, backward);
  const Tensor& in = t.value_at(x.index());
  Tensor& y = output(t, out, rows(in), cols(in));
  k(in.data(), y.data(), in.size());
  return out;
}

template <class F>
void unary_backward(Tape& t, const Node& node, F df) {
  Tensor* dx = t.grad_at(node.inputs[0]);
  if (!dx) return;
  const float* xs = t.value_at(node.inputs[0]).data();
  const float* ys = node.value.data();
  const float* dys = node.grad.data();
  float* dxs = dx->data();
  const std::size_t n = node.value.size();
  for (std::size_t i = 0; i < n; ++i) dxs[i] += df(xs[i], ys[i], dys[i]);
}

// grad_row (1 x c) += the column sums of g (r x c): the backward of broadcasting a row.
void add_column_sums(const Tensor& g, Tensor& grad_row, float factor) {
  const std::size_t r = rows(g), c = cols(g);
  float* out = grad_row.data();
  for (std::size_t i = 0; i < r; ++i) {
    const float* row = g.data() + i * c;
    for (std::size_t j = 0; j < c; ++j) out[j] += factor * row[j];
  }
}

void require_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw Error(std::string(op) + ": shapes " + shape_str(a) + " and " + shape_str(b) + " differ");
}

}  // namespace

// ---- matmul ----

// d(a.b)/da = g . b^T, d(a.b)/db = a^T . g: two GEMMs with transpose flags, no copies.
void matmul_backward(Tape& t, const Node& n) {
  const Tensor& a = t.value_at(n.inputs[0]);
  const Tensor& b = t.value_at(n.inputs[1]);
  const std::size_t m = rows(a), k = cols(a), c = cols(b);
  if (Tensor* da = t.grad_at(n.inputs[0]))
    gemm(false, true, m, k, c, 1.0f, n.grad.data(), c, b.data(), c, 1.0f, da->data(), k);
  if (Tensor* db = t.grad_at(n.inputs[1]))
    gemm(true, false, k, c, m, 1.0f, a.data(), k, n.grad.data(), c, 1.0f, db->data(), c);
  if (n.num_inputs == 3)
    if (Tensor* dbias = t.grad_at(n.inputs[2])) add_column_sums(n.grad, *dbias, 1.0f);
}

Var matmul(Var a, Var b) {
  Tape& t = a.tape();
  Var out = t.record("matmul", {a, b}, matmul_backward);
  const Tensor& av = t.value_at(a.index());
  const Tensor& bv = t.value_at(b.index());
  if (cols(av) != rows(bv))
    throw Error("matmul: a is " + shape_str(av) + " but b is " + shape_str(bv) +
                " (a's columns must equal b's rows)");
  Tensor& y = output(t, out, rows(av), cols(bv));
  gemm(false, false, rows(av), cols(bv), cols(av), 1.0f, av.data(), cols(av), bv.data(), cols(bv),
       0.0f, y.data(), cols(bv));
  return out;
}

namespace {
Var dense_impl(Var x, Var W, const Var* b) {
  Tape& t = x.tape();
  Var out = b ? t.record("dense", {x, W, *b}, matmul_backward)
              : t.record("dense", {x, W}, matmul_backward);
  const Tensor& xv = t.value_at(x.index());
  const Tensor& wv = t.value_at(W.index());
  if (cols(xv) != rows(wv))
    throw Error("dense: input is " + shape_str(xv) + " but W is " + shape_str(wv));
  const std::size_t m = rows(xv), k = cols(xv), c = cols(wv);
  Tensor& y = output(t, out, m, c);
  float beta = 0.0f;
  if (b) {
    const Tensor& bv = t.value_at(b->index());
    if (rows(bv) != 1 || cols(bv) != c)
      throw Error("dense: W is " + shape_str(wv) + " but b is " + shape_str(bv) + " (b must be " +
                  shape_str(1, c) + ")");
    for (std::size_t i = 0; i < m; ++i) std::copy(bv.begin(), bv.end(), y.data() + i * c);
    beta = 1.0f;  // the GEMM adds x.W onto the bias rows
  }
  gemm(false, false, m, c, k, 1.0f, xv.data(), k, wv.data(), c, beta, y.data(), c);
  return out;
}
}  // namespace

Var dense(Var x, Var W, Var b) {
  return dense_impl(x, W, &b);
}
Var dense(Var x, Var W) {
  return dense_impl(x, W, nullptr);
}

// ---- add / sub (alpha = sign of b; option = 1 when b is a row broadcast over a's rows) ----

void add_backward(Tape& t, const Node& n) {
  if (Tensor* da = t.grad_at(n.inputs[0])) *da += n.grad;
  if (Tensor* db = t.grad_at(n.inputs[1])) {
    if (n.option == 1)
      add_column_sums(n.grad, *db, n.alpha);
    else
      *db += n.alpha * n.grad;
  }
}

namespace {
Var add_or_sub(const char* op, Var a, Var b, float sign) {
  Tape& t = a.tape();
  Var out = t.record(op, {a, b}, add_backward);
  const Tensor& av = t.value_at(a.index());
  const Tensor& bv = t.value_at(b.index());
  const bool broadcast = rows(bv) == 1 && cols(bv) == cols(av) && rows(av) != 1;
  if (!broadcast && av.shape() != bv.shape())
    throw Error(std::string(op) + ": a is " + shape_str(av) + " but b is " + shape_str(bv) +
                " (b must be " + shape_str(av) + ", or " + shape_str(1, cols(av)) +
                " to broadcast over rows)");
  Node& n = t.node(out);
  n.alpha = sign;
  n.option = broadcast ? 1 : 0;
  Tensor& y = output(t, out, rows(av), cols(av));
  const std::size_t r = rows(av), c = cols(av);
  for (std::size_t i = 0; i < r; ++i) {
    const float* ar = av.data() + i * c;
    const float* br = bv.data() + (broadcast ? 0 : i * c);
    float* yr = y.data() + i * c;
    for (std::size_t j = 0; j < c; ++j) yr[j] = ar[j] + sign * br[j];
  }
  return out;
}
}  // namespace

Var add(Var a, Var b) {
  return add_or_sub("add", a, b, 1.0f);
}
Var sub(Var a, Var b) {
  return add_or_sub("sub", a, b, -1.0f);
}

// ---- mul: d(ab)/da = g*b, d(ab)/db = g*a ----

void mul_backward(Tape& t, const Node& n) {
  const Tensor& a = t.value_at(n.inputs[0]);
  const Tensor& b = t.value_at(n.inputs[1]);
  if (Tensor* da = t.grad_at(n.inputs[0])) *da += n.grad * b;
  if (Tensor* db = t.grad_at(n.inputs[1])) *db += n.grad * a;
}

Var mul(Var a, Var b) {
  Tape& t = a.tape();
  Var out = t.record("mul", {a, b}, mul_backward);
  const Tensor& av = t.value_at(a.index());
  const Tensor& bv = t.value_at(b.index());
  require_same_shape("mul", av, bv);
  Tensor& y = output(t, out, rows(av), cols(av));
  y = av * bv;
  return out;
}

// ---- scale (alpha = factor) ----

void scale_backward(Tape& t, const Node& n) {
  const float s = n.alpha;
  unary_backward(t, n, [s](float, float, float g) { return s * g; });
}

Var scale(Var a, float factor) {
  Var out = unary("scale", a, scale_backward, [factor](float x) { return factor * x; });
  a.tape().node(out).alpha = factor;
  return out;
}

// ---- sum / mean: every input element receives the output gradient (times 1/N for mean) ----

void sum_backward(Tape& t, const Node& n) {
  Tensor* da = t.grad_at(n.inputs[0]);
  if (!da) return;
  const float g = n.grad(0, 0) * n.alpha;
  for (float& v : *da) v += g;
}

namespace {
Var reduce(const char* op, Var a, bool average) {
  Tape& t = a.tape();
  Var out = t.record(op, {a}, sum_backward);
  const Tensor& av = t.value_at(a.index());
  double total = 0.0;  // double: a float running sum loses digits over large tensors
  for (float v : av) total += v;
  const float factor =
      average ? 1.0f / static_cast<float>(std::max<std::size_t>(av.size(), 1)) : 1.0f;
  t.node(out).alpha = factor;
  output(t, out, 1, 1)(0, 0) = static_cast<float>(total * factor);
  return out;
}
}  // namespace

Var sum(Var a) {
  return reduce("sum", a, false);
}
Var mean(Var a) {
  if (a.value().size() == 0) throw Error("mean: input is " + a.shape() + " (empty)");
  return reduce("mean", a, true);
}

// ---- exp / log ----

void exp_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float, float y, float g) { return g * y; });
}
Var exp(Var x) {
  return unary_array("exp", x, exp_backward, detail::exp);
}

void log_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float x, float, float g) { return g / x; });
}
Var log(Var x) {
  return unary("log", x, log_backward, [](float v) { return std::log(v); });
}

// ---- activations ----

// sigmoid' = y (1 - y)
void sigmoid_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float, float y, float g) { return g * y * (1.0f - y); });
}
Var sigmoid(Var x) {
  // Two branches so exp never overflows: for x < 0 use e^x / (1 + e^x).
  return unary_array("sigmoid", x, sigmoid_backward, detail::sigmoid);
}

// tanh' = 1 - y^2
void tanh_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float, float y, float g) { return g * (1.0f - y * y); });
}
Var tanh(Var x) {
  return unary_array("tanh", x, tanh_backward, detail::tanh);
}

// The true derivative of a step is 0 (option 0); straight-through (option 1) lets the
// gradient pass where |x| <= 1, the usual trick for training binary units.
void step_backward(Tape& t, const Node& n) {
  if (n.option == 0) return;
  unary_backward(t, n, [](float x, float, float g) { return std::fabs(x) <= 1.0f ? g : 0.0f; });
}
Var step(Var x, StepGradient gradient) {
  Var out = unary("step", x, step_backward, [](float v) { return v >= 0.0f ? 1.0f : 0.0f; });
  x.tape().node(out).option = gradient == StepGradient::straight_through ? 1 : 0;
  return out;
}

// relu' = 1 where the output is positive, else 0 (a unit stuck below 0 stops learning)
void relu_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float, float y, float g) { return y > 0.0f ? g : 0.0f; });
}
Var relu(Var x) {
  return unary("relu", x, relu_backward, [](float v) { return v > 0.0f ? v : 0.0f; });
}

void leaky_relu_backward(Tape& t, const Node& n) {
  const float a = n.alpha;
  unary_backward(t, n, [a](float x, float, float g) { return x > 0.0f ? g : a * g; });
}
Var leaky_relu(Var x, float alpha) {
  Var out = unary("leaky_relu", x, leaky_relu_backward,
                  [alpha](float v) { return v > 0.0f ? v : alpha * v; });
  x.tape().node(out).alpha = alpha;
  return out;
}

// For x <= 0, elu = a (e^x - 1), whose derivative a e^x equals y + a.
void elu_backward(Tape& t, const Node& n) {
  const float a = n.alpha;
  unary_backward(t, n, [a](float x, float y, float g) { return x > 0.0f ? g : g * (y + a); });
}
Var elu(Var x, float alpha) {
  Var out = unary_array("elu", x, elu_backward, [alpha](const float* v, float* y, std::size_t n) {
    detail::elu(v, y, n, alpha);
  });
  x.tape().node(out).alpha = alpha;
  return out;
}

// softmax: dx_i = y_i (g_i - sum_j g_j y_j), row by row
void softmax_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const std::size_t r = rows(n.value), c = cols(n.value);
  for (std::size_t i = 0; i < r; ++i) {
    const float* y = n.value.data() + i * c;
    const float* g = n.grad.data() + i * c;
    float* d = dx->data() + i * c;
    const float dot = static_cast<float>(detail::dot(g, y, c));
    for (std::size_t j = 0; j < c; ++j) d[j] += y[j] * (g[j] - dot);
  }
}

namespace {
void require_columns(const char* op, const Tensor& x) {
  if (cols(x) == 0) throw Error(std::string(op) + ": input is " + shape_str(x) + " (no columns)");
}
}  // namespace

Var softmax(Var x) {
  Tape& t = x.tape();
  Var out = t.record("softmax", {x}, softmax_backward);
  const Tensor& xv = t.value_at(x.index());
  require_columns("softmax", xv);
  const std::size_t r = rows(xv), c = cols(xv);
  Tensor& y = output(t, out, r, c);
  for (std::size_t i = 0; i < r; ++i) detail::softmax_row(xv.data() + i * c, y.data() + i * c, c);
  return out;
}

// log_softmax: dx_i = g_i - softmax_i * sum_j g_j, with softmax_i = exp(y_i)
void log_softmax_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const std::size_t r = rows(n.value), c = cols(n.value);
  for (std::size_t i = 0; i < r; ++i) {
    const float* y = n.value.data() + i * c;
    const float* g = n.grad.data() + i * c;
    float* d = dx->data() + i * c;
    const float sum_g = static_cast<float>(detail::sum(g, c));
    float p[256];  // softmax = exp(y), a chunk at a time
    for (std::size_t j0 = 0; j0 < c; j0 += 256) {
      const std::size_t len = std::min<std::size_t>(256, c - j0);
      detail::exp(y + j0, p, len);
      for (std::size_t j = 0; j < len; ++j) d[j0 + j] += g[j0 + j] - p[j] * sum_g;
    }
  }
}

Var log_softmax(Var x) {
  Tape& t = x.tape();
  Var out = t.record("log_softmax", {x}, log_softmax_backward);
  const Tensor& xv = t.value_at(x.index());
  require_columns("log_softmax", xv);
  const std::size_t r = rows(xv), c = cols(xv);
  Tensor& y = output(t, out, r, c);
  for (std::size_t i = 0; i < r; ++i)
    detail::log_softmax_row(xv.data() + i * c, y.data() + i * c, c);
  return out;
}

// ---- activations by name ----

Var activate(Var x, Activation a, float alpha) {
  switch (a) {
    case Activation::identity:
      return x;
    case Activation::sigmoid:
      return sigmoid(x);
    case Activation::tanh:
      return tanh(x);
    case Activation::step:
      return step(x);
    case Activation::relu:
      return relu(x);
    case Activation::leaky_relu:
      return leaky_relu(x, alpha != 0.0f ? alpha : 0.01f);
    case Activation::elu:
      return elu(x, alpha != 0.0f ? alpha : 1.0f);
    case Activation::softmax:
      return softmax(x);
    case Activation::log_softmax:
      return log_softmax(x);
  }
  throw Error("activate: unknown activation");
}

namespace {
constexpr Activation kAllActivations[] = {
    Activation::identity, Activation::sigmoid, Activation::tanh,
    Activation::step,     Activation::relu,    Activation::leaky_relu,
    Activation::elu,      Activation::softmax, Activation::log_softmax};
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::identity:
      return "identity";
    case Activation::sigmoid:
      return "sigmoid";
    case Activation::tanh:
      return "tanh";
    case Activation::step:
      return "step";
    case Activation::relu:
      return "relu";
    case Activation::leaky_relu:
      return "leaky_relu";
    case Activation::elu:
      return "elu";
    case Activation::softmax:
      return "softmax";
    case Activation::log_softmax:
      return "log_softmax";
  }
  return "?";
}

Activation activation_from_name(const std::string& name) {
  std::string known;
  for (Activation a : kAllActivations) {
    if (name == activation_name(a)) return a;
    known += std::string(known.empty() ? "" : ", ") + activation_name(a);
  }
  throw Error("activation: unknown name '" + name + "' (known: " + known + ")");
}

}  // namespace tg

namespace tg {

// ---- batch norm ----
// node.saved = x_hat (the normalised input), node.saved_row = 1/sqrt(var + eps) per column,
// node.option = 1 when the batch's own statistics were used (their gradient matters too).

void batch_norm_backward(Tape& t, const Node& n) {
  const Tensor& gamma = t.value_at(n.inputs[1]);
  const std::size_t r = rows(n.saved), c = cols(n.saved);
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
      const double g = n.grad(i, j);
      sum_g[j] += g;
      sum_g_xhat[j] += g * n.saved(i, j);
    }
  if (dgamma)
    for (std::size_t j = 0; j < c; ++j) (*dgamma)(0, j) += static_cast<float>(sum_g_xhat[j]);
  if (dbeta)
    for (std::size_t j = 0; j < c; ++j) (*dbeta)(0, j) += static_cast<float>(sum_g[j]);
  if (!dx) return;
  const float inv_n = 1.0f / static_cast<float>(r);
  for (std::size_t i = 0; i < r; ++i)
    for (std::size_t j = 0; j < c; ++j) {
      const float scale = gamma(0, j) * n.saved_row(0, j);
      if (n.option == 1) {
        // dx = gamma*invstd/N * (N g - sum g - x_hat * sum(g x_hat)): the mean and variance
        // depend on x too, which is where the two correction terms come from.
        (*dx)(i, j) += scale * inv_n *
                       (static_cast<float>(r) * n.grad(i, j) - static_cast<float>(sum_g[j]) -
                        n.saved(i, j) * static_cast<float>(sum_g_xhat[j]));
      } else {
        (*dx)(i, j) += scale * n.grad(i, j);
      }
    }
}

Var batch_norm(Var x, Var gamma, Var beta, float eps, const Tensor* fixed_mean,
               const Tensor* fixed_var, Tensor* batch_mean, Tensor* batch_var) {
  Tape& t = x.tape();
  Var out = t.record("batch_norm", {x, gamma, beta}, batch_norm_backward);
  const Tensor& xv = t.value_at(x.index());
  const std::size_t r = rows(xv), c = cols(xv);
  for (const Tensor* row :
       {&t.value_at(gamma.index()), &t.value_at(beta.index()), fixed_mean, fixed_var})
    if (row && (rows(*row) != 1 || cols(*row) != c))
      throw Error("batch_norm: input is " + shape_str(xv) + " but a per-feature row is " +
                  shape_str(*row) + " (must be " + shape_str(1, c) + ")");
  const bool use_batch = fixed_mean == nullptr || fixed_var == nullptr;
  if (use_batch && r < 2)
    throw Error(
        "batch_norm: training needs more than one row per batch to estimate a "
        "variance (input is " +
        shape_str(xv) + ")");
  Node& n = t.node(out);
  n.option = use_batch ? 1 : 0;
  resize(n.saved, r, c);
  resize(n.saved_row, 1, c);
  Tensor& y = output(t, out, r, c);
  const Tensor& g = t.value_at(gamma.index());
  const Tensor& b = t.value_at(beta.index());
  if (batch_mean) resize(*batch_mean, 1, c);
  if (batch_var) resize(*batch_var, 1, c);
  for (std::size_t j = 0; j < c; ++j) {
    double mean = 0.0, var = 0.0;
    if (use_batch) {
      for (std::size_t i = 0; i < r; ++i) mean += xv(i, j);
      mean /= static_cast<double>(r);
      for (std::size_t i = 0; i < r; ++i) var += (xv(i, j) - mean) * (xv(i, j) - mean);
      var /= static_cast<double>(r);
      if (batch_mean) (*batch_mean)(0, j) = static_cast<float>(mean);
      if (batch_var) (*batch_var)(0, j) = static_cast<float>(var);
    } else {
      mean = (*fixed_mean)(0, j);
      var = (*fixed_var)(0, j);
    }
    const float inv_std = static_cast<float>(1.0 / std::sqrt(var + eps));
    n.saved_row(0, j) = inv_std;
    for (std::size_t i = 0; i < r; ++i) {
      const float x_hat = (xv(i, j) - static_cast<float>(mean)) * inv_std;
      n.saved(i, j) = x_hat;
      y(i, j) = g(0, j) * x_hat + b(0, j);
    }
  }
  return out;
}

// ---- dropout: node.saved = the mask, already scaled by 1/(1-p) ----

void dropout_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (dx) *dx += n.grad * n.saved;
}

Var dropout(Var x, float p, Rng& rng) {
  if (!(p >= 0.0f && p <= 1.0f))
    throw Error("dropout: p is " + std::to_string(p) + ", must be in [0, 1]");
  Tape& t = x.tape();
  Var out = t.record("dropout", {x}, dropout_backward);
  const Tensor& xv = t.value_at(x.index());
  Node& n = t.node(out);
  resize(n.saved, rows(xv), cols(xv));
  const float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  for (float& m : n.saved) m = rng.uniform() >= p ? keep_scale : 0.0f;
  Tensor& y = output(t, out, rows(xv), cols(xv));
  const std::size_t count = xv.size();
  for (std::size_t i = 0; i < count; ++i) y.data()[i] = xv.data()[i] * n.saved.data()[i];
  return out;
}

}  // namespace tg
