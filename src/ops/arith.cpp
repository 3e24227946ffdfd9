// Elementwise arithmetic: each forward with its backward right above it. Binary ops
// broadcast (src/ops/op_util.hpp); their backward accumulates into the broadcast position,
// which sums the gradient over the stretched dimensions.
#include "tapegrad/ops/arith.hpp"

#include "core/kernels.hpp"
#include "ops/op_util.hpp"

#include <cmath>
#include <limits>

namespace tg {

using detail::Broadcast;
using detail::ScalarState;
using detail::unary;
using detail::unary_backward;

namespace {

struct BinaryState : OpState {
  Broadcast<2> plan;
};

// Records a broadcast binary op whose output is f(a, b).
template <class F>
Var binary(const char* op, Var a, Var b, BackwardFn backward, F f) {
  const Tensor& av = a.value();
  const Tensor& bv = b.value();
  const Broadcast<2> plan = detail::plan_broadcast<2>({&av, &bv}, op);
  Tape& t = a.tape();
  Var out = t.record(op, {a, b}, backward);
  t.state<BinaryState>(out).plan = plan;
  Tensor& y = t.output(out, plan.shape);
  const float* as = av.data();
  const float* bs = bv.data();
  float* ys = y.data();
  detail::for_each_broadcast(plan, [&](std::size_t o, const std::array<std::size_t, 2>& at) {
    ys[o] = f(as[at[0]], bs[at[1]]);
  });
  return t.finish(out);
}

// da += da_of(a, b, y, g) and db += db_of(a, b, y, g), at each operand's broadcast position.
template <class DA, class DB>
static void binary_backward(Tape& t, const Node& n, DA da_of, DB db_of) {
  const Broadcast<2>& plan = n.state_as<BinaryState>().plan;
  const float* a = t.value_at(n.inputs[0]).data();
  const float* b = t.value_at(n.inputs[1]).data();
  const float* y = n.value.data();
  const float* g = n.grad.data();
  if (Tensor* da = t.grad_at(n.inputs[0])) {
    float* d = da->data();
    detail::for_each_broadcast(plan, [&](std::size_t o, const std::array<std::size_t, 2>& at) {
      d[at[0]] += da_of(a[at[0]], b[at[1]], y[o], g[o]);
    });
  }
  if (Tensor* db = t.grad_at(n.inputs[1])) {
    float* d = db->data();
    detail::for_each_broadcast(plan, [&](std::size_t o, const std::array<std::size_t, 2>& at) {
      d[at[1]] += db_of(a[at[0]], b[at[1]], y[o], g[o]);
    });
  }
}

// An elementwise op of one input with one float parameter kept for its backward.
template <class F>
Var unary_with(const char* op, Var x, float value, BackwardFn backward, F f) {
  x.value();  // validates x before anything is recorded
  Var out = unary(op, x, backward, f);
  x.tape().state<ScalarState>(out).value = value;
  return out;
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const Broadcast<2> plan = detail::plan_broadcast_shapes<2>(
      {detail::Dims(a.begin(), a.end()), detail::Dims(b.begin(), b.end())}, op);
  return Shape(plan.shape.begin(), plan.shape.end());
}

// ---- add, sub, mul, div ----

static void add_backward(Tape& t, const Node& n) {
  binary_backward(
      t, n, [](float, float, float, float g) { return g; },
      [](float, float, float, float g) { return g; });
}
Var add(Var a, Var b) {
  return binary("add", a, b, add_backward, [](float x, float y) { return x + y; });
}

static void sub_backward(Tape& t, const Node& n) {
  binary_backward(
      t, n, [](float, float, float, float g) { return g; },
      [](float, float, float, float g) { return -g; });
}
Var sub(Var a, Var b) {
  return binary("sub", a, b, sub_backward, [](float x, float y) { return x - y; });
}

// d(ab)/da = b, d(ab)/db = a
static void mul_backward(Tape& t, const Node& n) {
  binary_backward(
      t, n, [](float, float b, float, float g) { return g * b; },
      [](float a, float, float, float g) { return g * a; });
}
Var mul(Var a, Var b) {
  return binary("mul", a, b, mul_backward, [](float x, float y) { return x * y; });
}

// d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -y/b
static void div_backward(Tape& t, const Node& n) {
  binary_backward(
      t, n, [](float, float b, float, float g) { return g / b; },
      [](float, float b, float y, float g) { return -g * y / b; });
}
Var div(Var a, Var b) {
  return binary("div", a, b, div_backward, [](float x, float y) { return x / y; });
}

// ---- maximum, minimum: the gradient goes to the larger (smaller) input, halved on ties ----

namespace {
float winner_share(float mine, float other) {
  return mine > other ? 1.0f : (mine == other ? 0.5f : 0.0f);
}
}  // namespace

static void maximum_backward(Tape& t, const Node& n) {
  binary_backward(
      t, n, [](float a, float b, float, float g) { return g * winner_share(a, b); },
      [](float a, float b, float, float g) { return g * winner_share(b, a); });
}
Var maximum(Var a, Var b) {
  return binary("maximum", a, b, maximum_backward,
                [](float x, float y) { return x >= y || std::isnan(x) ? x : y; });
}

static void minimum_backward(Tape& t, const Node& n) {
  binary_backward(
      t, n, [](float a, float b, float, float g) { return g * winner_share(-a, -b); },
      [](float a, float b, float, float g) { return g * winner_share(-b, -a); });
}
Var minimum(Var a, Var b) {
  return binary("minimum", a, b, minimum_backward,
                [](float x, float y) { return x <= y || std::isnan(x) ? x : y; });
}

// ---- pow ----

namespace {
// d(x^e)/dx = e x^(e-1), and 0 for e = 0 even at x = 0 (where 0 * inf would give NaN).
float power_rule(float x, float e, float g) {
  return e == 0.0f ? 0.0f : g * e * std::pow(x, e - 1.0f);
}
}  // namespace

// d(x^y)/dx = y x^(y-1); d(x^y)/dy = x^y log x, taken as 0 where x = 0 (as PyTorch).
static void pow_backward(Tape& t, const Node& n) {
  binary_backward(
      t, n, [](float x, float e, float, float g) { return power_rule(x, e, g); },
      [](float x, float, float y, float g) { return x == 0.0f ? 0.0f : g * y * std::log(x); });
}
Var pow(Var x, Var exponent) {
  return binary("pow", x, exponent, pow_backward, [](float b, float e) { return std::pow(b, e); });
}

static void pow_scalar_backward(Tape& t, const Node& n) {
  const float e = n.state_as<ScalarState>().value;
  unary_backward(t, n, [e](float x, float, float g) { return power_rule(x, e, g); });
}
Var pow(Var x, float exponent) {
  return unary_with("pow", x, exponent, pow_scalar_backward,
                    [exponent](float v) { return std::pow(v, exponent); });
}

// d(b^x)/dx = b^x log b
static void pow_base_backward(Tape& t, const Node& n) {
  const float log_base = std::log(n.state_as<ScalarState>().value);
  unary_backward(t, n, [log_base](float, float y, float g) { return g * y * log_base; });
}
Var pow(float base, Var exponent) {
  return unary_with("pow", exponent, base, pow_base_backward,
                    [base](float v) { return std::pow(base, v); });
}

// ---- one-input ops ----

static void neg_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float, float, float g) { return -g; });
}
Var neg(Var x) {
  return unary("neg", x, neg_backward, [](float v) { return -v; });
}

static void scale_backward(Tape& t, const Node& n) {
  const float s = n.state_as<ScalarState>().value;
  unary_backward(t, n, [s](float, float, float g) { return s * g; });
}
Var scale(Var x, float factor) {
  return unary_with("scale", x, factor, scale_backward, [factor](float v) { return factor * v; });
}

static void add_scalar_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float, float, float g) { return g; });
}
Var add_scalar(Var x, float value) {
  return unary_with("add_scalar", x, value, add_scalar_backward,
                    [value](float v) { return v + value; });
}

// sqrt' = 1 / (2 sqrt x)
static void sqrt_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float, float y, float g) { return g / (2.0f * y); });
}
Var sqrt(Var x) {
  return unary("sqrt", x, sqrt_backward, [](float v) { return std::sqrt(v); });
}

// abs' = sign(x), 0 at 0
static void abs_backward(Tape& t, const Node& n) {
  unary_backward(t, n,
                 [](float x, float, float g) { return x > 0.0f ? g : (x < 0.0f ? -g : 0.0f); });
}
Var abs(Var x) {
  return unary("abs", x, abs_backward, [](float v) { return std::fabs(v); });
}

static void square_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float x, float, float g) { return 2.0f * x * g; });
}
Var square(Var x) {
  return unary("square", x, square_backward, [](float v) { return v * v; });
}

static void exp_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float, float y, float g) { return g * y; });
}
Var exp(Var x) {
  return detail::unary_array("exp", x, exp_backward, detail::exp);
}

static void log_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float x, float, float g) { return g / x; });
}
Var log(Var x) {
  return unary("log", x, log_backward, [](float v) { return std::log(v); });
}

static void log1p_backward(Tape& t, const Node& n) {
  unary_backward(t, n, [](float x, float, float g) { return g / (1.0f + x); });
}
Var log1p(Var x) {
  return unary("log1p", x, log1p_backward, [](float v) { return std::log1p(v); });
}

// ---- clamp: the gradient passes where lo <= x <= hi ----

namespace {
struct ClampState : OpState {
  float lo = 0.0f, hi = 0.0f;
};
}  // namespace

static void clamp_backward(Tape& t, const Node& n) {
  const ClampState& s = n.state_as<ClampState>();
  unary_backward(t, n, [&s](float x, float, float g) { return x >= s.lo && x <= s.hi ? g : 0.0f; });
}
Var clamp(Var x, float lo, float hi) {
  if (!(lo <= hi))
    throw Error("clamp: lo " + std::to_string(lo) + " is above hi " + std::to_string(hi));
  x.value();
  Var out = unary("clamp", x, clamp_backward,
                  [lo, hi](float v) { return std::min(std::max(v, lo), hi); });
  ClampState& s = x.tape().state<ClampState>(out);
  s.lo = lo;
  s.hi = hi;
  return out;
}
Var clamp_min(Var x, float lo) {
  return clamp(x, lo, std::numeric_limits<float>::infinity());
}
Var clamp_max(Var x, float hi) {
  return clamp(x, -std::numeric_limits<float>::infinity(), hi);
}

// ---- where: mask ? a : b, the gradient to whichever was chosen ----

namespace {
struct WhereState : OpState {
  Broadcast<3> plan;
  Tensor mask;
};
}  // namespace

static void where_backward(Tape& t, const Node& n) {
  const WhereState& s = n.state_as<WhereState>();
  const float* m = s.mask.data();
  const float* g = n.grad.data();
  for (int k = 0; k < 2; ++k) {
    Tensor* d = t.grad_at(n.inputs[k]);
    if (!d) continue;
    float* ds = d->data();
    const bool take_when = k == 0;
    detail::for_each_broadcast(s.plan, [&](std::size_t o, const std::array<std::size_t, 3>& at) {
      if ((m[at[0]] != 0.0f) == take_when) ds[at[k + 1]] += g[o];
    });
  }
}
Var where(const Tensor& mask, Var a, Var b) {
  const Tensor& av = a.value();
  const Tensor& bv = b.value();
  const Broadcast<3> plan = detail::plan_broadcast<3>({&mask, &av, &bv}, "where");
  Tape& t = a.tape();
  Var out = t.record("where", {a, b}, where_backward);
  WhereState& s = t.state<WhereState>(out);
  s.plan = plan;
  resize(s.mask, mask.shape());
  std::copy(mask.begin(), mask.end(), s.mask.begin());
  Tensor& y = t.output(out, plan.shape);
  const float* m = s.mask.data();
  detail::for_each_broadcast(plan, [&](std::size_t o, const std::array<std::size_t, 3>& at) {
    y.data()[o] = m[at[0]] != 0.0f ? av.data()[at[1]] : bv.data()[at[2]];
  });
  return t.finish(out);
}

// ---- operators ----

Var operator+(Var a, Var b) {
  return add(a, b);
}
Var operator-(Var a, Var b) {
  return sub(a, b);
}
Var operator*(Var a, Var b) {
  return mul(a, b);
}
Var operator/(Var a, Var b) {
  return div(a, b);
}
Var operator-(Var x) {
  return neg(x);
}
Var operator+(Var a, float b) {
  return add_scalar(a, b);
}
Var operator+(float a, Var b) {
  return add_scalar(b, a);
}
Var operator-(Var a, float b) {
  return add_scalar(a, -b);
}
Var operator-(float a, Var b) {
  return add_scalar(neg(b), a);
}
Var operator*(Var a, float b) {
  return scale(a, b);
}
Var operator*(float a, Var b) {
  return scale(b, a);
}
Var operator/(Var a, float b) {
  return scale(a, 1.0f / b);
}
Var operator/(float a, Var b) {
  return scale(pow(b, -1.0f), a);
}

}  // namespace tg
