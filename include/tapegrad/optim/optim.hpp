// Optimizers, learning-rate schedules and gradient clipping.
//
// Every update rule is PyTorch 1.13's (torch.optim, foreach=False), operation for operation
// in float32, so a training run gives the same numbers as the same run in PyTorch; see
// tests/optim_test.cpp and scripts/make_optim_reference.py. Hyperparameters are doubles, like
// Python floats, and are rounded to float where PyTorch rounds them.
#pragma once

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/state_dict.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tg {

// ---- optimizers ----

// Updates a fixed list of parameters from their accumulated gradients. The parameters must
// outlive the optimizer. State (the step count, the learning rate and per-parameter buffers
// such as "0.momentum" or "1.exp_avg", numbered in the order of the list) is saved with
// state() and restored with load_state().
class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter from its grad. Throws if a grad's shape is not its value's.
  virtual void step() = 0;
  // Sets every parameter's grad to zero (call before each backward: backward accumulates).
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);                        // throws on a negative or non-finite lr
  std::int64_t steps() const { return steps_; }  // steps taken so far
  const std::vector<Parameter*>& params() const { return params_; }
  const char* type() const { return type_; }  // "SGD", "RMSprop", "Adam", "AdamW"

  // Entries: "type" (text), "step" (integer), "lr" (real) and one tensor per buffer.
  StateDict state() const;
  // Checks every entry (type, names, shapes; no missing or unknown buffers) first and throws
  // a tg::Error naming the first bad one, leaving the optimizer unchanged; then loads.
  void load_state(const StateDict& state);

 protected:
  // `buffers` names the per-parameter state, e.g. {"exp_avg", "exp_avg_sq"}; each is
  // allocated as zeros of the parameter's shape.
  Optimizer(const char* type, std::vector<Parameter*> params, double lr,
            std::vector<std::string> buffers);
  // The buffer `slot` (index into the constructor's names) of parameter i.
  Tensor& buffer(std::size_t param, std::size_t slot) { return buffers_[param][slot]; }
  // Throws unless parameter i's grad has the shape of its value.
  void check_grad(std::size_t param, const char* op) const;

  std::int64_t steps_ = 0;

 private:
  const char* type_;
  std::vector<Parameter*> params_;
  double lr_;
  std::vector<std::string> buffer_names_;
  std::vector<std::vector<Tensor>> buffers_;  // [parameter][slot]
};

// Options: PyTorch's names and defaults (SGD's lr, required in PyTorch 1.13, defaults to 1e-3).
struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0
  double weight_decay = 0.0;
};

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2: added to the gradient as weight_decay * p
  bool amsgrad = false;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;  // decoupled: p *= 1 - lr * weight_decay before the Adam step
  bool amsgrad = false;
};

// b = momentum * b + (1 - dampening) * g (b = g on the first step);
// nesterov: g = g + momentum * b, else g = b; p -= lr * g. Buffer: "momentum" (if momentum).
class SGD final : public Optimizer {
 public:
  explicit SGD(std::vector<Parameter*> params, const SGDOptions& options = {});
  void step() override;
  const SGDOptions& options() const { return options_; }  // options().lr is the initial lr

 private:
  SGDOptions options_;
};

// v = alpha * v + (1 - alpha) * g^2; centered: v - g_avg^2 in place of v;
// p -= lr * g / (sqrt(v) + eps), through a momentum buffer if momentum > 0.
// Buffers: "square_avg", "momentum" (if momentum), "grad_avg" (if centered).
class RMSprop final : public Optimizer {
 public:
  explicit RMSprop(std::vector<Parameter*> params, const RMSpropOptions& options = {});
  void step() override;
  const RMSpropOptions& options() const { return options_; }

 private:
  RMSpropOptions options_;
};

// m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2 (amsgrad: v_max = max(v_max, v)),
// p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
// Buffers: "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (if amsgrad).
class Adam : public Optimizer {
 public:
  explicit Adam(std::vector<Parameter*> params, const AdamOptions& options = {});
  void step() override;
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(const char* type, std::vector<Parameter*> params, const AdamOptions& options,
       bool decoupled);

 private:
  AdamOptions options_;
  bool decoupled_;
};

class AdamW final : public Adam {
 public:
  explicit AdamW(std::vector<Parameter*> params, const AdamWOptions& options = {});
};

// ---- learning-rate schedules ----

// A schedule with a closed form: lr_at(epoch) from the optimizer's lr when the schedule was
// made (base_lr). Making one sets the optimizer's lr to lr_at(0); step() advances one epoch
// and sets lr_at(epoch). Call it once per epoch, after the epoch's optimizer steps.
class LrSchedule {
 public:
  virtual ~LrSchedule();
  LrSchedule(const LrSchedule&) = delete;
  LrSchedule& operator=(const LrSchedule&) = delete;

  void step();
  virtual double lr_at(std::int64_t epoch) const = 0;
  double lr() const { return lr_at(epoch_); }
  std::int64_t epoch() const { return epoch_; }
  double base_lr() const { return base_lr_; }

  // Entries "epoch" and "base_lr". load_state checks both, then sets the optimizer's lr.
  virtual StateDict state() const;
  virtual void load_state(const StateDict& state);

 protected:
  explicit LrSchedule(Optimizer& optimizer);
  void apply();  // sets the optimizer's lr to lr(); derived constructors end with it

  Optimizer& optimizer_;
  double base_lr_;
  std::int64_t epoch_ = 0;
};

// base_lr * gamma^floor(epoch / step_size)  (torch StepLR)
class StepDecay final : public LrSchedule {
 public:
  StepDecay(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);
  double lr_at(std::int64_t epoch) const override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

// base_lr * gamma^epoch  (torch ExponentialLR)
class ExponentialDecay final : public LrSchedule {
 public:
  ExponentialDecay(Optimizer& optimizer, double gamma);
  double lr_at(std::int64_t epoch) const override;

 private:
  double gamma_;
};

// eta_min + (base_lr - eta_min) (1 + cos(pi epoch / t_max)) / 2  (torch CosineAnnealingLR's
// closed form; past t_max it rises again, as in PyTorch)
class CosineAnnealing final : public LrSchedule {
 public:
  CosineAnnealing(Optimizer& optimizer, std::int64_t t_max, double eta_min = 0.0);
  double lr_at(std::int64_t epoch) const override;

 private:
  std::int64_t t_max_;
  double eta_min_;
};

// For epoch < warmup: base_lr (start_factor + (1 - start_factor) epoch / warmup), a straight
// line up to base_lr (torch LinearLR with end_factor 1). From epoch `warmup` on: base_lr, or
// `after`'s lr_at(epoch - warmup) when a schedule follows (make `after` on the same optimizer
// first; its state is saved under "after.").
class LinearWarmup final : public LrSchedule {
 public:
  LinearWarmup(Optimizer& optimizer, std::int64_t warmup, double start_factor = 1.0 / 3.0,
               std::unique_ptr<LrSchedule> after = nullptr);
  double lr_at(std::int64_t epoch) const override;
  StateDict state() const override;
  void load_state(const StateDict& state) override;

 private:
  std::int64_t warmup_;
  double start_factor_;
  std::unique_ptr<LrSchedule> after_;
};

struct PlateauOptions {
  enum class Mode { min, max };
  enum class ThresholdMode { rel, abs };
  Mode mode = Mode::min;
  double factor = 0.1;
  std::int64_t patience = 10;
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::rel;
  std::int64_t cooldown = 0;
  double min_lr = 0.0;
  double eps = 1e-8;  // reductions smaller than this are skipped
};

// torch ReduceLROnPlateau: after more than `patience` epochs without improving on the best
// metric (min mode, rel: metric < best (1 - threshold)), lr = max(lr * factor, min_lr), then
// `cooldown` epochs in which bad epochs are not counted.
class ReduceOnPlateau {
 public:
  explicit ReduceOnPlateau(Optimizer& optimizer, const PlateauOptions& options = {});
  void step(double metric);
  double lr() const { return optimizer_.lr(); }
  double best() const { return best_; }
  std::int64_t bad_epochs() const { return bad_epochs_; }

  // Entries "epoch", "best", "bad_epochs", "cooldown_counter".
  StateDict state() const;
  void load_state(const StateDict& state);

 private:
  bool is_better(double metric) const;

  Optimizer& optimizer_;
  PlateauOptions options_;
  double best_;
  std::int64_t epoch_ = 0;
  std::int64_t bad_epochs_ = 0;
  std::int64_t cooldown_counter_ = 0;
};

// ---- gradient clipping ----

// Scales every grad by max_norm / (norm + 1e-6) when the global L2 norm of all grads
// together exceeds max_norm (torch.nn.utils.clip_grad_norm_). Returns the norm before.
float clip_grad_norm(const std::vector<Parameter*>& params, float max_norm);
// Clamps every grad element into [-clip, clip] (torch.nn.utils.clip_grad_value_).
void clip_grad_value(const std::vector<Parameter*>& params, float clip);

}  // namespace tg
