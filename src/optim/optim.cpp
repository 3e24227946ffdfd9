// Optimizers, schedules and clipping. Each update is one pass over a parameter's floats that
// repeats PyTorch 1.13's tensor ops element by element, in the same order and in float, with
// each hyperparameter rounded to float where PyTorch rounds it (a Python float becomes the
// kernel's float scalar; products of hyperparameters such as lr / (1 - beta1^t) are formed in
// double first, as in Python).
#include "tapegrad/optim/optim.hpp"

#include "core/parallel.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

// Rounding must happen exactly where PyTorch's does, so the compiler may not fuse a * b + c on
// its own (GCC does by default, even with -std=c++17, when the target has FMA): every fused
// multiply-add below is an explicit std::fma, and everything else rounds after each operation.
// CMakeLists.txt compiles this file with -ffp-contract=off (a `#pragma GCC optimize` would do
// the same but also stops GCC from vectorizing the update loops).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__) && !defined(TAPEGRAD_FP_CONTRACT_OFF)
#error "compile optim.cpp with -ffp-contract=off -DTAPEGRAD_FP_CONTRACT_OFF"
#endif

namespace tg {

namespace {

// a + alpha * b as PyTorch's CPU kernels compute it: `add(a, b, alpha=...)` and
// `addcmul(a, t1, t2, value=...)` (as a + (value * t1) * t2) are single fused multiply-adds in
// the AVX2 kernels (vec::fmadd) and in their scalar tails (compiled with FMA contraction).
// Checked bit for bit against torch 1.13 by tests/optim_test.cpp.
inline float madd(float alpha, float b, float a) {
  return std::fma(alpha, b, a);
}

// The update loops are cloned for CPUs with hardware FMA (chosen once, at load time, by the
// dynamic loader): a build for any x86-64 (TAPEGRAD_NATIVE off) would otherwise call libm's
// software fma per element and not vectorize, 9x slower. std::fma is exact either way, so
// every clone gives the same bits.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__FMA__)
#define TAPEGRAD_FMA_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TAPEGRAD_FMA_CLONES
#endif

inline float f(double x) {
  return static_cast<float>(x);
}

void require(bool ok, const std::string& message) {
  if (!ok) throw Error(message);
}

// Runs body(begin, end) over [0, n) in fixed chunks, on the pool when n is large. Updates are
// elementwise, so the result is the same for any thread count.
template <class Body>
void for_each_chunk(std::size_t n, Body body) {
  constexpr std::size_t kChunk = 1u << 15;
  if (n < 2 * kChunk) {
    body(std::size_t{0}, n);
    return;
  }
  auto task = [&](std::size_t c) { body(c * kChunk, std::min(n, (c + 1) * kChunk)); };
  detail::parallel_for((n + kChunk - 1) / kChunk, task);
}

// Every optimizer's update is a function of n elements whose options are template arguments
// and whose pointers are restrict-qualified, so the loop has no branches or aliasing and
// vectorizes; a table picks the instance for the options in force.
template <class Table, class... Flags>
auto pick(const Table& table, Flags... flags) {
  std::size_t index = 0;
  for (bool flag : {static_cast<bool>(flags)...}) index = index * 2 + (flag ? 1 : 0);
  return table[index];
}

struct SgdConstants {
  float wd, mu, damp, neg_lr;
};
template <bool WeightDecay, bool Momentum, bool First, bool Nesterov>
TAPEGRAD_FMA_CLONES void sgd_range(const SgdConstants& k, float* __restrict p,
                                   const float* __restrict grad, float* __restrict buf,
                                   std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) {
    float g = grad[j];
    if (WeightDecay) g = madd(k.wd, p[j], g);  // d_p.add(param, alpha=wd)
    if (Momentum) {
      buf[j] = First ? g : madd(k.damp, g, buf[j] * k.mu);  // buf.mul_(mu).add_(d_p, 1 - damp)
      g = Nesterov ? madd(k.mu, buf[j], g) : buf[j];        // d_p.add(buf, alpha=mu) or buf
    }
    p[j] = madd(k.neg_lr, g, p[j]);  // param.add_(d_p, alpha=-lr)
  }
}
using SgdRange = void (*)(const SgdConstants&, float*, const float*, float*, std::size_t);
template <std::size_t... I>
constexpr std::array<SgdRange, sizeof...(I)> sgd_table(std::index_sequence<I...>) {
  return {{&sgd_range<(I >> 3) & 1, (I >> 2) & 1, (I >> 1) & 1, I & 1>...}};
}
constexpr auto kSgdRanges = sgd_table(std::make_index_sequence<16>());

struct RmspropConstants {
  float wd, alpha, one_minus_alpha, eps, mu, neg_lr;
};
template <bool WeightDecay, bool Centered, bool Momentum>
TAPEGRAD_FMA_CLONES void rmsprop_range(const RmspropConstants& k, float* __restrict p,
                                       const float* __restrict grad, float* __restrict sq,
                                       float* __restrict gavg, float* __restrict buf,
                                       std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) {
    float g = grad[j];
    if (WeightDecay) g = madd(k.wd, p[j], g);
    sq[j] = madd(k.one_minus_alpha * g, g, sq[j] * k.alpha);  // mul_(alpha).addcmul_(g, g, 1-alpha)
    float avg;
    if (Centered) {
      gavg[j] = madd(k.one_minus_alpha, g, gavg[j] * k.alpha);  // mul_(alpha).add_(g, 1-alpha)
      avg = std::sqrt(madd(-gavg[j], gavg[j], sq[j]));          // addcmul(ga, ga, -1).sqrt_()
    } else {
      avg = std::sqrt(sq[j]);
    }
    avg += k.eps;
    if (Momentum) {
      buf[j] = buf[j] * k.mu + g / avg;  // buf.mul_(mu).addcdiv_(g, avg)
      p[j] = madd(k.neg_lr, buf[j], p[j]);
    } else {
      p[j] = p[j] + k.neg_lr * g / avg;  // param.addcdiv_(g, avg, value=-lr)
    }
  }
}
using RmspropRange = void (*)(const RmspropConstants&, float*, const float*, float*, float*, float*,
                              std::size_t);
template <std::size_t... I>
constexpr std::array<RmspropRange, sizeof...(I)> rmsprop_table(std::index_sequence<I...>) {
  return {{&rmsprop_range<(I >> 2) & 1, (I >> 1) & 1, I & 1>...}};
}
constexpr auto kRmspropRanges = rmsprop_table(std::make_index_sequence<8>());

// Adam's update of n elements. The options are template arguments and the pointers
// restrict-qualified so the loop has no branches or aliasing and vectorizes.
struct AdamConstants {
  float b1, one_minus_b1, b2, one_minus_b2, eps, wd, decay, bc2_sqrt, neg_step_size;
};

template <bool Decoupled, bool Coupled, bool Amsgrad>
TAPEGRAD_FMA_CLONES void adam_range(const AdamConstants& k, float* __restrict p,
                                    const float* __restrict grad, float* __restrict m,
                                    float* __restrict v, float* __restrict vmax, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) {
    float g = grad[j];
    if (Decoupled) p[j] = p[j] * k.decay;
    if (Coupled) g = madd(k.wd, p[j], g);
    m[j] = madd(k.one_minus_b1, g, m[j] * k.b1);      // exp_avg.mul_(b1).add_(g, 1-b1)
    v[j] = madd(k.one_minus_b2 * g, g, v[j] * k.b2);  // exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2)
    float second = v[j];
    if (Amsgrad) second = vmax[j] = std::max(vmax[j], v[j]);  // torch.maximum
    const float denom = std::sqrt(second) / k.bc2_sqrt + k.eps;
    p[j] = p[j] + k.neg_step_size * m[j] / denom;  // param.addcdiv_(m, denom, -step_size)
  }
}

std::string num(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", x);
  return text;
}

}  // namespace

// ---- Optimizer ----

Optimizer::Optimizer(const char* type, std::vector<Parameter*> params, double lr,
                     std::vector<std::string> buffers)
    : type_(type), params_(std::move(params)), lr_(0.0), buffer_names_(std::move(buffers)) {
  set_lr(lr);
  buffers_.resize(params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    require(params_[i] != nullptr,
            std::string(type_) + ": parameter " + std::to_string(i) + " is null");
    const Tensor& v = params_[i]->value;
    for (std::size_t s = 0; s < buffer_names_.size(); ++s)
      buffers_[i].push_back(zeros(shape_of(v)));
  }
}

Optimizer::~Optimizer() = default;

void Optimizer::zero_grad() {
  for (Parameter* p : params_) p->zero_grad();
}

void Optimizer::set_lr(double lr) {
  require(std::isfinite(lr) && lr >= 0.0,
          std::string(type_) + ": learning rate " + num(lr) + " must be finite and >= 0");
  lr_ = lr;
}

void Optimizer::check_grad(std::size_t i, const char* op) const {
  const Parameter& p = *params_[i];
  if (p.grad.shape() != p.value.shape())
    throw Error(std::string(op) + ".step: parameter " + std::to_string(i) + " '" + p.name +
                "' is " + shape_str(p.value) + " but its grad is " + shape_str(p.grad));
}

StateDict Optimizer::state() const {
  StateDict s;
  s.texts["type"] = type_;
  s.integers["step"] = steps_;
  s.reals["lr"] = lr_;
  for (std::size_t i = 0; i < params_.size(); ++i)
    for (std::size_t k = 0; k < buffer_names_.size(); ++k)
      s.tensors[std::to_string(i) + "." + buffer_names_[k]] = buffers_[i][k];
  return s;
}

void Optimizer::load_state(const StateDict& s) {
  const std::string where = std::string(type_) + ".load_state: ";
  // Everything is checked before anything changes.
  const std::string& type = s.text("type", where);
  require(type == type_, where + "entry 'type' is '" + type + "', not '" + type_ + "'");
  const std::int64_t step = s.integer("step", where);
  require(step >= 0, where + "entry 'step' is negative (" + std::to_string(step) + ")");
  const double lr = s.real("lr", where);
  require(std::isfinite(lr) && lr >= 0.0, where + "entry 'lr' is " + num(lr));
  for (std::size_t i = 0; i < params_.size(); ++i)
    for (const std::string& b : buffer_names_) {
      const std::string name = std::to_string(i) + "." + b;
      const Tensor& t = s.tensor(name, where);
      require(t.shape() == params_[i]->value.shape(),
              where + "entry '" + name + "' is " + shape_str(t) + " but parameter " +
                  std::to_string(i) + " '" + params_[i]->name + "' is " +
                  shape_str(params_[i]->value));
    }
  const std::size_t expected = params_.size() * buffer_names_.size();
  if (s.tensors.size() != expected)
    for (const auto& entry : s.tensors) {
      const std::string& name = entry.first;
      bool known = false;
      for (std::size_t i = 0; i < params_.size() && !known; ++i)
        for (const std::string& b : buffer_names_)
          if (name == std::to_string(i) + "." + b) known = true;
      require(known, where + "entry '" + name + "' belongs to no parameter buffer of this " +
                         type_ + " (" + std::to_string(params_.size()) + " parameters)");
    }
  steps_ = step;
  lr_ = lr;
  for (std::size_t i = 0; i < params_.size(); ++i)
    for (std::size_t k = 0; k < buffer_names_.size(); ++k)
      buffers_[i][k] = s.tensors.at(std::to_string(i) + "." + buffer_names_[k]);
}

// ---- SGD (torch.optim.sgd._single_tensor_sgd) ----

namespace {
std::vector<std::string> sgd_buffers(const SGDOptions& o) {
  if (o.momentum != 0.0) return {"momentum"};
  return {};
}
}  // namespace

SGD::SGD(std::vector<Parameter*> params, const SGDOptions& o)
    : Optimizer("SGD", std::move(params), o.lr, sgd_buffers(o)), options_(o) {
  require(o.momentum >= 0.0, "SGD: momentum " + num(o.momentum) + " must be >= 0");
  require(o.weight_decay >= 0.0, "SGD: weight_decay " + num(o.weight_decay) + " must be >= 0");
  require(!o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0),
          "SGD: nesterov needs momentum > 0 and dampening 0");
}

void SGD::step() {
  const SGDOptions& o = options_;
  const float wd = f(o.weight_decay), mu = f(o.momentum), damp = f(1.0 - o.dampening);
  const float neg_lr = f(-lr());
  const bool first = steps_ == 0;
  for (std::size_t i = 0; i < params().size(); ++i) {
    check_grad(i, "SGD");
    Parameter& param = *params()[i];
    float* p = param.value.data();
    const float* grad = param.grad.data();
    float* buf = o.momentum != 0.0 ? buffer(i, 0).data() : nullptr;
    const std::size_t n = param.value.size();
    const SgdConstants k{wd, mu, damp, neg_lr};
    const SgdRange update =
        pick(kSgdRanges, o.weight_decay != 0.0, buf != nullptr, first, o.nesterov);
    for_each_chunk(n, [&](std::size_t begin, std::size_t end) {
      update(k, p + begin, grad + begin, buf ? buf + begin : nullptr, end - begin);
    });
  }
  ++steps_;
}

// ---- RMSprop (torch.optim.rmsprop._single_tensor_rmsprop) ----

namespace {
std::vector<std::string> rmsprop_buffers(const RMSpropOptions& o) {
  std::vector<std::string> b{"square_avg"};
  if (o.momentum > 0.0) b.push_back("momentum");
  if (o.centered) b.push_back("grad_avg");
  return b;
}
}  // namespace

RMSprop::RMSprop(std::vector<Parameter*> params, const RMSpropOptions& o)
    : Optimizer("RMSprop", std::move(params), o.lr, rmsprop_buffers(o)), options_(o) {
  require(o.eps >= 0.0, "RMSprop: eps " + num(o.eps) + " must be >= 0");
  require(o.alpha >= 0.0, "RMSprop: alpha " + num(o.alpha) + " must be >= 0");
  require(o.momentum >= 0.0, "RMSprop: momentum " + num(o.momentum) + " must be >= 0");
  require(o.weight_decay >= 0.0, "RMSprop: weight_decay " + num(o.weight_decay) + " must be >= 0");
}

void RMSprop::step() {
  const RMSpropOptions& o = options_;
  const float wd = f(o.weight_decay), alpha = f(o.alpha), one_minus_alpha = f(1.0 - o.alpha);
  const float eps = f(o.eps), mu = f(o.momentum), neg_lr = f(-lr());
  const bool momentum = o.momentum > 0.0;
  for (std::size_t i = 0; i < params().size(); ++i) {
    check_grad(i, "RMSprop");
    Parameter& param = *params()[i];
    float* p = param.value.data();
    const float* grad = param.grad.data();
    float* sq = buffer(i, 0).data();
    float* buf = momentum ? buffer(i, 1).data() : nullptr;
    float* gavg = o.centered ? buffer(i, momentum ? 2 : 1).data() : nullptr;
    const std::size_t n = param.value.size();
    const RmspropConstants k{wd, alpha, one_minus_alpha, eps, mu, neg_lr};
    const RmspropRange update =
        pick(kRmspropRanges, o.weight_decay != 0.0, gavg != nullptr, buf != nullptr);
    for_each_chunk(n, [&](std::size_t begin, std::size_t end) {
      update(k, p + begin, grad + begin, sq + begin, gavg ? gavg + begin : nullptr,
             buf ? buf + begin : nullptr, end - begin);
    });
  }
  ++steps_;
}

// ---- Adam and AdamW (torch.optim.adam/adamw._single_tensor_adam(w)) ----

namespace {
std::vector<std::string> adam_buffers(bool amsgrad) {
  if (amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}
}  // namespace

Adam::Adam(std::vector<Parameter*> params, const AdamOptions& o)
    : Adam("Adam", std::move(params), o, false) {}

Adam::Adam(const char* type, std::vector<Parameter*> params, const AdamOptions& o, bool decoupled)
    : Optimizer(type, std::move(params), o.lr, adam_buffers(o.amsgrad)),
      options_(o),
      decoupled_(decoupled) {
  const std::string t = type;
  require(o.eps >= 0.0, t + ": eps " + num(o.eps) + " must be >= 0");
  require(o.beta1 >= 0.0 && o.beta1 < 1.0, t + ": beta1 " + num(o.beta1) + " must be in [0, 1)");
  require(o.beta2 >= 0.0 && o.beta2 < 1.0, t + ": beta2 " + num(o.beta2) + " must be in [0, 1)");
  require(o.weight_decay >= 0.0, t + ": weight_decay " + num(o.weight_decay) + " must be >= 0");
}

void Adam::step() {
  const AdamOptions& o = options_;
  const double t = static_cast<double>(steps_ + 1);
  const double step_size = lr() / (1.0 - std::pow(o.beta1, t));
  const float bc2_sqrt = f(std::sqrt(1.0 - std::pow(o.beta2, t)));
  const float neg_step_size = f(-step_size);
  const float b1 = f(o.beta1), one_minus_b1 = f(1.0 - o.beta1);
  const float b2 = f(o.beta2), one_minus_b2 = f(1.0 - o.beta2);
  const float eps = f(o.eps), wd = f(o.weight_decay);
  const float decay = f(1.0 - lr() * o.weight_decay);  // AdamW: param.mul_(1 - lr * wd)
  const bool coupled = !decoupled_ && o.weight_decay != 0.0;
  for (std::size_t i = 0; i < params().size(); ++i) {
    check_grad(i, type());
    Parameter& param = *params()[i];
    float* p = param.value.data();
    const float* grad = param.grad.data();
    float* m = buffer(i, 0).data();
    float* v = buffer(i, 1).data();
    float* vmax = o.amsgrad ? buffer(i, 2).data() : nullptr;
    const std::size_t n = param.value.size();
    const AdamConstants k{b1, one_minus_b1, b2,       one_minus_b2, eps,
                          wd, decay,        bc2_sqrt, neg_step_size};
    auto update =
        decoupled_ ? (vmax ? adam_range<true, false, true> : adam_range<true, false, false>)
        : coupled  ? (vmax ? adam_range<false, true, true> : adam_range<false, true, false>)
                   : (vmax ? adam_range<false, false, true> : adam_range<false, false, false>);
    for_each_chunk(n, [&](std::size_t begin, std::size_t end) {
      update(k, p + begin, grad + begin, m + begin, v + begin, vmax ? vmax + begin : nullptr,
             end - begin);
    });
  }
  ++steps_;
}

namespace {
AdamOptions as_adam(const AdamWOptions& o) {
  return AdamOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad};
}
}  // namespace

AdamW::AdamW(std::vector<Parameter*> params, const AdamWOptions& o)
    : Adam("AdamW", std::move(params), as_adam(o), true) {}

// ---- schedules ----

LrSchedule::LrSchedule(Optimizer& optimizer) : optimizer_(optimizer), base_lr_(optimizer.lr()) {}
LrSchedule::~LrSchedule() = default;

void LrSchedule::apply() {
  optimizer_.set_lr(lr());
}

void LrSchedule::step() {
  ++epoch_;
  apply();
}

StateDict LrSchedule::state() const {
  StateDict s;
  s.integers["epoch"] = epoch_;
  s.reals["base_lr"] = base_lr_;
  return s;
}

namespace {
// Reads and checks a schedule's "epoch" and "base_lr" without changing anything.
std::pair<std::int64_t, double> checked_schedule_state(const StateDict& s, const char* who) {
  const std::string where = std::string(who) + ".load_state: ";
  const std::int64_t epoch = s.integer("epoch", where);
  require(epoch >= 0, where + "entry 'epoch' is negative (" + std::to_string(epoch) + ")");
  const double base = s.real("base_lr", where);
  require(std::isfinite(base) && base >= 0.0, where + "entry 'base_lr' is " + num(base));
  return {epoch, base};
}
}  // namespace

void LrSchedule::load_state(const StateDict& s) {
  const auto [epoch, base] = checked_schedule_state(s, "LrSchedule");
  epoch_ = epoch;
  base_lr_ = base;
  apply();
}

StepDecay::StepDecay(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LrSchedule(optimizer), step_size_(step_size), gamma_(gamma) {
  require(step_size > 0, "StepDecay: step_size must be > 0");
  apply();
}
double StepDecay::lr_at(std::int64_t epoch) const {
  return base_lr_ * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

ExponentialDecay::ExponentialDecay(Optimizer& optimizer, double gamma)
    : LrSchedule(optimizer), gamma_(gamma) {
  require(gamma > 0.0, "ExponentialDecay: gamma must be > 0");
  apply();
}
double ExponentialDecay::lr_at(std::int64_t epoch) const {
  return base_lr_ * std::pow(gamma_, static_cast<double>(epoch));
}

CosineAnnealing::CosineAnnealing(Optimizer& optimizer, std::int64_t t_max, double eta_min)
    : LrSchedule(optimizer), t_max_(t_max), eta_min_(eta_min) {
  require(t_max > 0, "CosineAnnealing: t_max must be > 0");
  apply();
}
double CosineAnnealing::lr_at(std::int64_t epoch) const {
  const double pi = 3.14159265358979323846;
  return eta_min_ +
         (base_lr_ - eta_min_) *
             (1.0 + std::cos(pi * static_cast<double>(epoch) / static_cast<double>(t_max_))) / 2.0;
}

LinearWarmup::LinearWarmup(Optimizer& optimizer, std::int64_t warmup, double start_factor,
                           std::unique_ptr<LrSchedule> after)
    : LrSchedule(optimizer),
      warmup_(warmup),
      start_factor_(start_factor),
      after_(std::move(after)) {
  require(warmup > 0, "LinearWarmup: warmup must be > 0");
  require(start_factor > 0.0 && start_factor <= 1.0,
          "LinearWarmup: start_factor must be in (0, 1]");
  if (after_) base_lr_ = after_->base_lr();  // after_ set the lr to its lr_at(0) already
  apply();
}
double LinearWarmup::lr_at(std::int64_t epoch) const {
  if (epoch < warmup_)
    return base_lr_ * (start_factor_ + (1.0 - start_factor_) * static_cast<double>(epoch) /
                                           static_cast<double>(warmup_));
  return after_ ? after_->lr_at(epoch - warmup_) : base_lr_;
}
StateDict LinearWarmup::state() const {
  StateDict s = LrSchedule::state();
  if (after_) s.merge(after_->state(), "after.");
  return s;
}
void LinearWarmup::load_state(const StateDict& s) {
  // Our entries are checked first, then the wrapped schedule checks and loads its own; ours
  // are loaded last, which sets the lr.
  checked_schedule_state(s, "LinearWarmup");
  if (after_) after_->load_state(s.with_prefix_removed("after."));
  LrSchedule::load_state(s);
}

// ---- ReduceOnPlateau (torch.optim.lr_scheduler.ReduceLROnPlateau) ----

ReduceOnPlateau::ReduceOnPlateau(Optimizer& optimizer, const PlateauOptions& o)
    : optimizer_(optimizer), options_(o) {
  require(o.factor < 1.0 && o.factor >= 0.0, "ReduceOnPlateau: factor must be in [0, 1)");
  require(o.patience >= 0 && o.cooldown >= 0,
          "ReduceOnPlateau: patience and cooldown must be >= 0");
  best_ = o.mode == PlateauOptions::Mode::min ? std::numeric_limits<double>::infinity()
                                              : -std::numeric_limits<double>::infinity();
}

bool ReduceOnPlateau::is_better(double a) const {
  using M = PlateauOptions::Mode;
  using T = PlateauOptions::ThresholdMode;
  const double th = options_.threshold;
  if (options_.mode == M::min)
    return options_.threshold_mode == T::rel ? a < best_ * (1.0 - th) : a < best_ - th;
  return options_.threshold_mode == T::rel ? a > best_ * (th + 1.0) : a > best_ + th;
}

void ReduceOnPlateau::step(double metric) {
  ++epoch_;
  if (is_better(metric)) {
    best_ = metric;
    bad_epochs_ = 0;
  } else {
    ++bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    bad_epochs_ = 0;
  }
  if (bad_epochs_ > options_.patience) {
    const double old_lr = optimizer_.lr();
    const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
    if (old_lr - new_lr > options_.eps) optimizer_.set_lr(new_lr);
    cooldown_counter_ = options_.cooldown;
    bad_epochs_ = 0;
  }
}

StateDict ReduceOnPlateau::state() const {
  StateDict s;
  s.integers["epoch"] = epoch_;
  s.reals["best"] = best_;
  s.integers["bad_epochs"] = bad_epochs_;
  s.integers["cooldown_counter"] = cooldown_counter_;
  return s;
}

void ReduceOnPlateau::load_state(const StateDict& s) {
  const std::string where = "ReduceOnPlateau.load_state: ";
  const std::int64_t epoch = s.integer("epoch", where);
  const double best = s.real("best", where);
  const std::int64_t bad = s.integer("bad_epochs", where);
  const std::int64_t cooldown = s.integer("cooldown_counter", where);
  require(epoch >= 0, where + "entry 'epoch' is negative");
  require(bad >= 0, where + "entry 'bad_epochs' is negative");
  require(cooldown >= 0, where + "entry 'cooldown_counter' is negative");
  epoch_ = epoch;
  best_ = best;
  bad_epochs_ = bad;
  cooldown_counter_ = cooldown;
}

// ---- clipping ----

float clip_grad_norm(const std::vector<Parameter*>& params, float max_norm) {
  // (not require(): that would build the message string on every step)
  if (!(max_norm >= 0.0f))
    throw Error("clip_grad_norm: max_norm " + num(max_norm) + " must be >= 0");
  double sum = 0.0;
  for (const Parameter* p : params) {
    const float* g = p->grad.data();
    const std::size_t n = p->grad.size();
    for (std::size_t j = 0; j < n; ++j) sum += static_cast<double>(g[j]) * g[j];
  }
  const float norm = f(std::sqrt(sum));
  const float coef = max_norm / (norm + 1e-6f);
  if (coef < 1.0f)
    for (Parameter* p : params) {
      float* g = p->grad.data();
      const std::size_t n = p->grad.size();
      for (std::size_t j = 0; j < n; ++j) g[j] *= coef;
    }
  return norm;
}

void clip_grad_value(const std::vector<Parameter*>& params, float clip) {
  if (!(clip >= 0.0f)) throw Error("clip_grad_value: clip " + num(clip) + " must be >= 0");
  for (Parameter* p : params) {
    float* g = p->grad.data();
    const std::size_t n = p->grad.size();
    for (std::size_t j = 0; j < n; ++j) g[j] = std::clamp(g[j], -clip, clip);
  }
}

}  // namespace tg
