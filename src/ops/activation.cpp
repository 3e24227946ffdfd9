// Activations: each forward with its backward right above it. Elementwise ones work on any
// rank; softmax and log_softmax work along one dimension.
#include "tapegrad/ops/activation.hpp"

#include "core/kernels.hpp"
#include "ops/op_util.hpp"
#include "tapegrad/ops/shape.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace tg {

using detail::ScalarState;
using detail::unary;
using detail::unary_array;
using detail::unary_backward;

// sigmoid' = y (1 - y)
static void sigmoid_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float, float y, float g) { return g * y * (1.0f - y); });
}
Var sigmoid(Var x) {
  // Two branches so exp never overflows: for x < 0 use e^x / (1 + e^x).
  return unary_array("sigmoid", x, sigmoid_backward, detail::sigmoid);
}

// tanh' = 1 - y^2
static void tanh_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float, float y, float g) { return g * (1.0f - y * y); });
}
Var tanh(Var x) {
  return unary_array("tanh", x, tanh_backward, detail::tanh);
}

// The true derivative of a step is 0; straight-through (state 1) lets the gradient pass
// where |x| <= 1, the usual trick for training binary units.
static void step_backward(Tape& t, const Node& n) {
  if (n.state_as<ScalarState>().value == 0.0f) return;
  unary_backward(t, n, [](float x, float, float g) { return std::fabs(x) <= 1.0f ? g : 0.0f; });
}
Var step(Var x, StepGradient gradient) {
  x.value();
  Var out = unary("step", x, step_backward, [](float v) { return v >= 0.0f ? 1.0f : 0.0f; });
  x.tape().state<ScalarState>(out).value = gradient == StepGradient::straight_through ? 1.0f : 0.0f;
  return out;
}

// relu' = 1 where the output is positive, else 0 (a unit stuck below 0 stops learning)
static void relu_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float, float y, float g) { return y > 0.0f ? g : 0.0f; });
}
// relu(NaN) is NaN (as PyTorch), so a NaN cannot turn into a finite loss here.
Var relu(Var x) {
  return unary("relu", x, relu_backward, [](float v) { return v < 0.0f ? 0.0f : v; });
}

static void leaky_relu_backward(Tape& t, const Node& n) {
  const float a = n.state_as<ScalarState>().value;
  unary_backward(t, n, [a](float x, float, float g) { return x > 0.0f ? g : a * g; });
}
Var leaky_relu(Var x, float alpha) {
  x.value();
  Var out = unary("leaky_relu", x, leaky_relu_backward,
                  [alpha](float v) { return v > 0.0f ? v : alpha * v; });
  x.tape().state<ScalarState>(out).value = alpha;
  return out;
}

// For x <= 0, elu = a (e^x - 1), whose derivative a e^x equals y + a.
static void elu_backward(Tape& t, const Node& n) {
  const float a = n.state_as<ScalarState>().value;
  unary_backward(t, n, [a](float x, float y, float g) { return x > 0.0f ? g : g * (y + a); });
}
Var elu(Var x, float alpha) {
  x.value();
  Var out = unary_array("elu", x, elu_backward, [alpha](const float* v, float* y, std::size_t n) {
    detail::elu(v, y, n, alpha);
  });
  x.tape().state<ScalarState>(out).value = alpha;
  return out;
}

// ---- softmax and log_softmax along a dimension ----
// The input is seen as outer x size x inner (size = the softmax dimension): rows of `size`
// elements at stride `inner`. Along the last dimension (inner = 1) the vectorized row
// kernels run; otherwise each strided row is gathered into a contiguous scratch row.

namespace {
struct AlongDim : OpState {
  std::size_t outer = 0, size = 0, inner = 0;
};

AlongDim plan_along(const Tensor& x, int dim, const char* op) {
  const std::size_t d = normalize_dim(dim, std::max<std::size_t>(x.dimension(), 1), op);
  AlongDim p;
  if (x.dimension() == 0) {
    p.outer = p.size = p.inner = 1;
    return p;
  }
  p.size = x.shape(d);
  if (p.size == 0)
    throw Error(std::string(op) + ": input is " + shape_str(x) + " (dimension " +
                std::to_string(d) + " is empty)");
  p.outer = 1;
  p.inner = 1;
  for (std::size_t i = 0; i < d; ++i) p.outer *= x.shape(i);
  for (std::size_t i = d + 1; i < x.dimension(); ++i) p.inner *= x.shape(i);
  return p;
}

// Calls f(src row, dst row, scratch...) per strided row: gathers, runs, scatters.
template <class F>
void for_each_row(const AlongDim& p, const float* x, float* y, F f) {
  if (p.inner == 1) {
    for (std::size_t o = 0; o < p.outer; ++o) f(x + o * p.size, y + o * p.size);
    return;
  }
  thread_local std::vector<float> in, out;  // kept per thread: no allocation after the first
  in.resize(p.size);
  out.resize(p.size);
  for (std::size_t o = 0; o < p.outer; ++o)
    for (std::size_t i = 0; i < p.inner; ++i) {
      const std::size_t base = o * p.size * p.inner + i;
      for (std::size_t j = 0; j < p.size; ++j) in[j] = x[base + j * p.inner];
      f(in.data(), out.data());
      for (std::size_t j = 0; j < p.size; ++j) y[base + j * p.inner] = out[j];
    }
}

// The same for a backward: g, y rows in, dx row accumulated.
template <class F>
static void for_each_row_backward(const AlongDim& p, const float* y, const float* g, float* dx,
                                  F f) {
  if (p.inner == 1) {
    for (std::size_t o = 0; o < p.outer; ++o) f(y + o * p.size, g + o * p.size, dx + o * p.size);
    return;
  }
  thread_local std::vector<float> ys, gs, ds;
  ys.resize(p.size);
  gs.resize(p.size);
  ds.resize(p.size);
  for (std::size_t o = 0; o < p.outer; ++o)
    for (std::size_t i = 0; i < p.inner; ++i) {
      const std::size_t base = o * p.size * p.inner + i;
      for (std::size_t j = 0; j < p.size; ++j) {
        ys[j] = y[base + j * p.inner];
        gs[j] = g[base + j * p.inner];
        ds[j] = 0.0f;
      }
      f(ys.data(), gs.data(), ds.data());
      for (std::size_t j = 0; j < p.size; ++j) dx[base + j * p.inner] += ds[j];
    }
}

template <class RowKernel>
Var along_dim(const char* op, Var x, int dim, BackwardFn backward, RowKernel kernel) {
  const Tensor& xv = x.value();
  const AlongDim plan = plan_along(xv, dim, op);
  Tape& t = x.tape();
  Var out = t.record(op, {x}, backward);
  t.state<AlongDim>(out) = plan;
  Tensor& y = t.output(out, xv.shape());
  for_each_row(plan, xv.data(), y.data(),
               [&](const float* in, float* o) { kernel(in, o, plan.size); });
  return t.finish(out);
}
}  // namespace

// softmax: dx_i = y_i (g_i - sum_j g_j y_j) along the dimension
static void softmax_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const AlongDim& p = n.state_as<AlongDim>();
  for_each_row_backward(p, n.value.data(), n.grad.data(), dx->data(),
                        [&](const float* y, const float* g, float* d) {
                          const float dot = static_cast<float>(detail::dot(g, y, p.size));
                          for (std::size_t j = 0; j < p.size; ++j) d[j] += y[j] * (g[j] - dot);
                        });
}

Var softmax(Var x, int dim) {
  return along_dim("softmax", x, dim, softmax_backward,
                   [](const float* in, float* o, std::size_t c) { detail::softmax_row(in, o, c); });
}

// log_softmax: dx_i = g_i - softmax_i * sum_j g_j, with softmax_i = exp(y_i)
static void log_softmax_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const AlongDim& p = n.state_as<AlongDim>();
  for_each_row_backward(p, n.value.data(), n.grad.data(), dx->data(),
                        [&](const float* y, const float* g, float* d) {
                          const float sum_g = static_cast<float>(detail::sum(g, p.size));
                          float e[256];  // softmax = exp(y), a chunk at a time
                          for (std::size_t j0 = 0; j0 < p.size; j0 += 256) {
                            const std::size_t len = std::min<std::size_t>(256, p.size - j0);
                            detail::exp(y + j0, e, len);
                            for (std::size_t j = 0; j < len; ++j)
                              d[j0 + j] += g[j0 + j] - e[j] * sum_g;
                          }
                        });
}

Var log_softmax(Var x, int dim) {
  return along_dim("log_softmax", x, dim, log_softmax_backward, detail::log_softmax_row);
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
