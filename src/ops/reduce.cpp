// Reductions, each forward beside its backward. A reduction over dims is planned once per call
// (which output element each input element folds into) and the plan lives in the op's state,
// so the backward walks the same mapping and a repeated step allocates nothing.
#include "tapegrad/ops/reduce.hpp"

#include "core/kernels.hpp"
#include "ops/op_util.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

namespace tg {

using detail::Dims;

namespace {

// `dim` counted from the end when negative; out of range throws naming the op, dim and shape.
std::size_t checked_dim(int dim, const Tensor& x, const char* op) {
  const long rank = static_cast<long>(x.dimension());
  if (dim < -rank || dim >= rank)
    throw Error(std::string(op) + ": dim " + std::to_string(dim) + " is out of range for the " +
                shape_str(x) + " input (rank " + std::to_string(rank) + ")");
  return static_cast<std::size_t>(dim < 0 ? dim + rank : dim);
}

// How a reduction folds the input: the output shape and, per input dimension, the output's
// stride along it (0 along a reduced dimension), walked with detail::for_each_broadcast.
struct ReducePlan {
  Dims out_shape;
  detail::Broadcast<1> walk;  // over the input's shape, strides into the output
  std::size_t count = 1;      // input elements folded into each output element
  std::size_t out_size = 1;
  // Set when every reduced dimension (of size != 1) is at the end: output element o is then
  // the contiguous input run [o * count, (o + 1) * count), the fast path.
  bool trailing = false;
};

std::string list_str(const std::vector<int>& dims) {
  std::string s;
  for (int d : dims) s += (s.empty() ? "" : ", ") + std::to_string(d);
  return "[" + s + "]";
}

// Plans a reduction of x over `dims` (all dims when empty, as torch does).
ReducePlan plan_reduce(const Tensor& x, const std::vector<int>& dims, bool keepdim,
                       const char* op) {
  const std::size_t rank = x.dimension();
  Dims reduced(rank, dims.empty() ? 1 : 0);
  for (int d : dims) {
    const std::size_t k = checked_dim(d, x, op);
    if (reduced[k])
      throw Error(std::string(op) + ": dim " + std::to_string(d) + " appears twice in dims " +
                  list_str(dims) + " for the " + shape_str(x) + " input");
    reduced[k] = 1;
  }
  ReducePlan p;
  p.walk.shape.assign(x.shape().begin(), x.shape().end());
  p.walk.size = x.size();
  p.walk.same_shapes = false;
  p.walk.strides[0].assign(rank, 0);
  std::size_t stride = 1;
  for (std::size_t d = rank; d-- > 0;) {
    if (reduced[d]) {
      p.count *= x.shape(d);
    } else {
      p.walk.strides[0][d] = stride;
      stride *= x.shape(d);
    }
  }
  p.out_size = stride;
  for (std::size_t d = 0; d < rank; ++d)
    if (!reduced[d] || keepdim) p.out_shape.push_back(reduced[d] ? 1 : x.shape(d));
  p.trailing = true;
  bool seen_reduced = false;
  for (std::size_t d = 0; d < rank; ++d) {
    if (x.shape(d) == 1) continue;  // a dimension of 1 does not change the memory order
    if (reduced[d]) seen_reduced = true;
    if (!reduced[d] && seen_reduced) p.trailing = false;
  }
  return p;
}

// Calls f(input index, output index) for every input element.
template <class F>
void for_each_folded(const ReducePlan& p, F&& f) {
  detail::for_each_broadcast(
      p.walk, [&](std::size_t i, const std::array<std::size_t, 1>& at) { f(i, at[0]); });
}

// ---- sum / mean ----

struct SumState : OpState {
  ReducePlan plan;
  float factor = 1.0f;      // 1 for sum, 1/count for mean
  std::vector<double> acc;  // per-output running sums (capacity kept across steps)
};

static void sum_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const SumState& s = n.state_as<SumState>();
  const float* dy = n.grad.data();
  float* d = dx->data();
  if (s.plan.trailing) {
    const std::size_t c = s.plan.count;
    for (std::size_t o = 0; o < s.plan.out_size; ++o) {
      const float g = dy[o] * s.factor;
      for (std::size_t j = 0; j < c; ++j) d[o * c + j] += g;
    }
    return;
  }
  const float f = s.factor;
  for_each_folded(s.plan, [&](std::size_t i, std::size_t o) { d[i] += dy[o] * f; });
}

Var sum_or_mean(const char* op, Var x, const std::vector<int>& dims, bool keepdim, bool average,
                bool full) {
  const Tensor& xv = x.value();
  ReducePlan plan = plan_reduce(xv, dims, keepdim, op);
  if (average && plan.count == 0 && plan.out_size > 0)
    throw Error(std::string(op) + ": the mean of no elements (input " + shape_str(xv) +
                (full ? std::string(")") : ", dims " + list_str(dims) + ")"));
  if (full) plan.out_shape = Dims{1, 1};
  Tape& t = x.tape();
  Var out = t.record(op, {x}, sum_backward);
  Tensor& y = t.output(out, plan.out_shape);
  SumState& s = t.state<SumState>(out);
  s.plan = plan;
  // double: a float running sum loses digits over many elements.
  const double factor = average ? 1.0 / static_cast<double>(plan.count) : 1.0;
  s.factor = static_cast<float>(factor);
  const float* xs = xv.data();
  float* ys = y.data();
  if (plan.trailing) {
    for (std::size_t o = 0; o < plan.out_size; ++o)
      ys[o] = static_cast<float>(detail::sum(xs + o * plan.count, plan.count) * factor);
    return t.finish(out);
  }
  s.acc.assign(plan.out_size, 0.0);
  double* acc = s.acc.data();
  for_each_folded(plan, [&](std::size_t i, std::size_t o) { acc[o] += xs[i]; });
  for (std::size_t o = 0; o < plan.out_size; ++o) ys[o] = static_cast<float>(acc[o] * factor);
  return t.finish(out);
}

// ---- var: sum((x - mean)^2) / (count - ddof) ----

struct VarState : OpState {
  ReducePlan plan;
  float divisor = 1.0f;
  std::vector<double> mean;  // per output element
  std::vector<double> acc;
};

// d var / dx_i = 2 (x_i - mean) / (count - ddof): the mean's own dependence on x_i drops out,
// because the deviations sum to zero.
static void var_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const VarState& s = n.state_as<VarState>();
  const float* xs = t.value_at(n.inputs[0]).data();
  const float* dy = n.grad.data();
  const double* mean = s.mean.data();
  const float k = 2.0f / s.divisor;
  float* d = dx->data();
  for_each_folded(s.plan, [&](std::size_t i, std::size_t o) {
    d[i] += dy[o] * k * static_cast<float>(xs[i] - mean[o]);
  });
}

}  // namespace

Var sum(Var x) {
  return sum_or_mean("sum", x, {}, false, false, true);
}
Var mean(Var x) {
  return sum_or_mean("mean", x, {}, false, true, true);
}
Var sum(Var x, const std::vector<int>& dims, bool keepdim) {
  return sum_or_mean("sum", x, dims, keepdim, false, false);
}
Var mean(Var x, const std::vector<int>& dims, bool keepdim) {
  return sum_or_mean("mean", x, dims, keepdim, true, false);
}

Var var(Var x, const std::vector<int>& dims, bool unbiased, bool keepdim) {
  const Tensor& xv = x.value();
  const ReducePlan plan = plan_reduce(xv, dims, keepdim, "var");
  const std::size_t ddof = unbiased ? 1 : 0;
  if (plan.out_size > 0 && plan.count <= ddof)
    throw Error("var: " + std::to_string(plan.count) + " element(s) per output leave no degree " +
                "of freedom (input " + shape_str(xv) + ", dims " + list_str(dims) +
                (unbiased ? ", unbiased)" : ")"));
  Tape& t = x.tape();
  Var out = t.record("var", {x}, var_backward);
  Tensor& y = t.output(out, plan.out_shape);
  VarState& s = t.state<VarState>(out);
  s.plan = plan;
  s.divisor = static_cast<float>(plan.count - ddof);
  const float* xs = xv.data();
  s.mean.assign(plan.out_size, 0.0);
  s.acc.assign(plan.out_size, 0.0);
  double* mean = s.mean.data();
  double* acc = s.acc.data();
  // Two passes (mean, then squared deviations): the one-pass formula cancels catastrophically.
  for_each_folded(plan, [&](std::size_t i, std::size_t o) { mean[o] += xs[i]; });
  for (std::size_t o = 0; o < plan.out_size; ++o) mean[o] /= static_cast<double>(plan.count);
  for_each_folded(plan, [&](std::size_t i, std::size_t o) {
    const double dev = xs[i] - mean[o];
    acc[o] += dev * dev;
  });
  float* ys = y.data();
  const double divisor = static_cast<double>(plan.count - ddof);
  for (std::size_t o = 0; o < plan.out_size; ++o) ys[o] = static_cast<float>(acc[o] / divisor);
  return t.finish(out);
}

// ---- reductions along one dim: the input seen as outer x n x inner, reduced over n ----

namespace {

struct Along {
  std::size_t outer = 1, n = 1, inner = 1;
  Dims out_shape;
};

Along plan_along(const Tensor& x, int dim, bool keepdim, const char* op) {
  const std::size_t d = checked_dim(dim, x, op);
  if (x.shape(d) == 0)
    throw Error(std::string(op) + ": dim " + std::to_string(dim) + " of the " + shape_str(x) +
                " input is empty (nothing to reduce)");
  Along a;
  for (std::size_t k = 0; k < x.dimension(); ++k) {
    if (k < d) a.outer *= x.shape(k);
    if (k > d) a.inner *= x.shape(k);
    if (k != d || keepdim) a.out_shape.push_back(k == d ? 1 : x.shape(k));
  }
  a.n = x.shape(d);
  return a;
}

// True when v should replace the best so far: a larger (smaller) value, or the first NaN, which
// then sticks (as torch.max propagates NaN).
template <bool Max>
bool better(float v, float best) {
  if (std::isnan(best)) return false;
  return Max ? (v > best || std::isnan(v)) : (v < best || std::isnan(v));
}

// best[o * inner + i] and its position along n, for every (o, i); first position on ties.
template <bool Max, class Index>
void arg_extreme(const float* x, const Along& a, float* best, Index* at) {
  for (std::size_t o = 0; o < a.outer; ++o) {
    const float* xo = x + o * a.n * a.inner;
    float* b = best + o * a.inner;
    Index* w = at + o * a.inner;
    for (std::size_t i = 0; i < a.inner; ++i) {
      b[i] = xo[i];
      w[i] = 0;
    }
    for (std::size_t j = 1; j < a.n; ++j) {
      const float* row = xo + j * a.inner;
      for (std::size_t i = 0; i < a.inner; ++i)
        if (better<Max>(row[i], b[i])) {
          b[i] = row[i];
          w[i] = static_cast<Index>(j);
        }
    }
  }
}

struct ExtremeState : OpState {
  std::size_t n = 1, inner = 1;
  std::vector<std::size_t> at;  // position along the reduced dim, per output element
};

// Only the chosen position receives the gradient.
static void extreme_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const ExtremeState& s = n.state_as<ExtremeState>();
  const float* dy = n.grad.data();
  float* d = dx->data();
  const std::size_t count = s.at.size();
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t o = k / s.inner, i = k % s.inner;
    d[(o * s.n + s.at[k]) * s.inner + i] += dy[k];
  }
}

template <bool Max>
Var extreme(const char* op, Var x, int dim, bool keepdim) {
  const Tensor& xv = x.value();
  const Along a = plan_along(xv, dim, keepdim, op);
  Tape& t = x.tape();
  Var out = t.record(op, {x}, extreme_backward);
  Tensor& y = t.output(out, a.out_shape);
  ExtremeState& s = t.state<ExtremeState>(out);
  s.n = a.n;
  s.inner = a.inner;
  s.at.resize(a.outer * a.inner);
  arg_extreme<Max>(xv.data(), a, y.data(), s.at.data());
  return t.finish(out);
}

template <bool Max>
Var extreme_all(const char* op, Var x) {
  const Tensor& xv = x.value();
  if (xv.size() == 0) throw Error(std::string(op) + ": input is " + shape_str(xv) + " (empty)");
  Tape& t = x.tape();
  Var out = t.record(op, {x}, extreme_backward);
  Tensor& y = t.output(out, Dims{1, 1});
  ExtremeState& s = t.state<ExtremeState>(out);
  Along a;
  a.n = xv.size();  // the whole input as one run
  s.n = a.n;
  s.inner = 1;
  s.at.resize(1);
  arg_extreme<Max>(xv.data(), a, y.data(), s.at.data());
  return t.finish(out);
}

}  // namespace

Var max(Var x, int dim, bool keepdim) {
  return extreme<true>("max", x, dim, keepdim);
}
Var min(Var x, int dim, bool keepdim) {
  return extreme<false>("min", x, dim, keepdim);
}
Var max(Var x) {
  return extreme_all<true>("max", x);
}
Var min(Var x) {
  return extreme_all<false>("min", x);
}

std::vector<std::int64_t> argmax(const Tensor& x, int dim) {
  const Along a = plan_along(x, dim, false, "argmax");
  std::vector<std::int64_t> at(a.outer * a.inner);
  std::vector<float> best(at.size());
  arg_extreme<true>(x.data(), a, best.data(), at.data());
  return at;
}

// ---- logsumexp: y = m + log(sum_j exp(x_j - m)) with m the max, so no exp overflows ----

namespace {

struct LogSumExpState : OpState {
  std::size_t outer = 1, n = 1, inner = 1;
  std::vector<double> acc;  // per-inner running sums (outer x n x inner inputs)
};

// dy/dx_j = exp(x_j - y), the softmax along the dim.
static void logsumexp_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const LogSumExpState& s = n.state_as<LogSumExpState>();
  const float* xs = t.value_at(n.inputs[0]).data();
  const float* ys = n.value.data();
  const float* dy = n.grad.data();
  float* d = dx->data();
  for (std::size_t o = 0; o < s.outer; ++o)
    for (std::size_t j = 0; j < s.n; ++j) {
      const std::size_t base = (o * s.n + j) * s.inner;
      for (std::size_t i = 0; i < s.inner; ++i) {
        const float y = ys[o * s.inner + i];
        // An infinite result (all -inf, or a +inf input) has no finite softmax to pass back.
        if (std::isfinite(y)) d[base + i] += dy[o * s.inner + i] * std::exp(xs[base + i] - y);
      }
    }
}

}  // namespace

Var logsumexp(Var x, int dim, bool keepdim) {
  const Tensor& xv = x.value();
  const Along a = plan_along(xv, dim, keepdim, "logsumexp");
  Tape& t = x.tape();
  Var out = t.record("logsumexp", {x}, logsumexp_backward);
  Tensor& y = t.output(out, a.out_shape);
  LogSumExpState& s = t.state<LogSumExpState>(out);
  s.outer = a.outer;
  s.n = a.n;
  s.inner = a.inner;
  s.acc.resize(a.inner);
  const float* xs = xv.data();
  float* ys = y.data();
  for (std::size_t o = 0; o < a.outer; ++o) {
    const float* xo = xs + o * a.n * a.inner;
    float* m = ys + o * a.inner;  // holds the max until the result replaces it
    for (std::size_t i = 0; i < a.inner; ++i) m[i] = xo[i];
    for (std::size_t j = 1; j < a.n; ++j)
      for (std::size_t i = 0; i < a.inner; ++i) m[i] = std::max(m[i], xo[j * a.inner + i]);
    std::fill(s.acc.begin(), s.acc.end(), 0.0);
    for (std::size_t j = 0; j < a.n; ++j)
      for (std::size_t i = 0; i < a.inner; ++i)
        if (std::isfinite(m[i])) s.acc[i] += std::exp(xo[j * a.inner + i] - m[i]);
    for (std::size_t i = 0; i < a.inner; ++i)
      if (std::isfinite(m[i])) m[i] += static_cast<float>(std::log(s.acc[i]));
  }
  return t.finish(out);
}

}  // namespace tg
