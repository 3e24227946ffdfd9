// The tape: a flat list (Wengert list) of every op recorded in a forward pass.
// backward() walks it once in reverse and applies each entry's chain-rule step, so there is
// no graph to sort and no recursion, however long the chain. The tape knows nothing about
// any op: an entry holds its inputs, its value and gradient, the op's backward function and
// the op's own state (see src/ops/ for the ops, each forward beside its backward).
#pragma once

#include "tapegrad/autograd/parameter.hpp"
#include "tapegrad/core/tensor.hpp"

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

namespace tg {

class Tape;
struct Node;

// A handle to one value recorded on a tape. Cheap to copy; valid until the tape is cleared.
class Var {
 public:
  Var() = default;
  const Tensor& value() const;
  // The gradient of the last backward() with respect to this value. For a parameter this
  // is the parameter's accumulated grad.
  const Tensor& grad() const;
  Shape sizes() const { return shape_of(value()); }  // as torch::Tensor::sizes()
  std::size_t dim() const { return value().dimension(); }
  std::size_t rows() const { return tg::rows(value()); }
  std::size_t cols() const { return tg::cols(value()); }
  std::string shape() const { return shape_str(value()); }
  bool requires_grad() const;
  float item() const;  // the value of a one-element result, e.g. a loss
  Tape& tape() const;
  std::uint32_t index() const { return index_; }

 private:
  friend class Tape;
  Var(Tape* tape, std::uint32_t index, std::uint32_t generation)
      : tape_(tape), index_(index), generation_(generation) {}
  Tape* tape_ = nullptr;
  std::uint32_t index_ = 0;
  std::uint32_t generation_ = 0;
};

// What an op keeps for its backward besides the values of its inputs and output (a mask,
// saved statistics, an axis). Each op derives its own struct.
struct OpState {
  virtual ~OpState() = default;
};

// How an op sends its output's gradient (node.grad) back to its inputs' gradients.
using BackwardFn = void (*)(Tape& tape, const Node& node);

// One tape entry.
struct Node {
  const char* op = "";
  BackwardFn backward = nullptr;  // null for leaves and for values that need no gradient
  std::vector<std::uint32_t> inputs;
  bool requires_grad = false;
  Parameter* param = nullptr;          // a parameter leaf: value and grad live in *param
  const std::string* layer = nullptr;  // the layer that recorded it, when known (LayerScope)
  Tensor value;
  Tensor grad;
  std::unique_ptr<OpState> state;  // kept after clear(): the next step's op reuses it

  template <class S>
  const S& state_as() const {
    return static_cast<const S&>(*state);
  }
};

class Tape {
 public:
  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  // Leaves. A constant never gets a gradient (data, targets); a variable does (read it with
  // Var::grad()); a parameter's gradient accumulates into Parameter::grad.
  Var constant(const Tensor& value);
  Var variable(const Tensor& value);
  Var param(Parameter& p);

  // Seeds d(loss)/d(loss) = 1 (loss must have one element) and applies the chain rule
  // backwards.
  void backward(Var loss);
  // The same for a non-scalar output, seeded with d(something)/d(output) = seed.
  void backward(Var output, const Tensor& seed);

  // Forgets the recording (Vars from before become invalid) but keeps every buffer and op
  // state, so the next step of the same shapes allocates nothing.
  void clear();

  // Where this tape's batch rows are in the training run (tg::Batch::run_position), set by
  // tg::fit for each step and forgotten by clear(). Ops that draw randomness per sample
  // (dropout) key it by this position, so a sample gets the same mask whichever rank or
  // shard computes it; without it they draw from their Rng in sequence.
  void set_run_position(std::uint64_t first_row) {
    run_position_ = first_row;
    has_run_position_ = true;
  }
  bool has_run_position() const { return has_run_position_; }
  std::uint64_t run_position() const { return run_position_; }

  std::size_t size() const { return size_; }
  const Node& node(std::size_t index) const;
  std::uint32_t generation() const { return generation_; }

  // ---- for implementing ops (see src/ops/) ----
  // An op validates its inputs first (reading them through Var::value(), which checks that
  // they are live), then records, computes its output, and returns finish(out). Nothing
  // between record and finish may throw, so a throwing op leaves the tape as it was.
  Var record(const char* op, std::initializer_list<Var> inputs, BackwardFn backward);
  Var record(const char* op, const std::vector<Var>& inputs, BackwardFn backward);
  // The output buffer of `out`, shaped (reused from the last step when the size matches).
  template <class S>
  Tensor& output(Var out, const S& shape) {
    Tensor& v = nodes_[out.index_].value;
    resize(v, shape);
    return v;
  }
  // The op's own state, of type S: reused from the last step when this entry held an S.
  template <class S>
  S& state(Var out) {
    std::unique_ptr<OpState>& s = nodes_[out.index_].state;
    if (!s || typeid(*s) != typeid(S)) s = std::make_unique<S>();
    return static_cast<S&>(*s);
  }
  // Ends an op: in anomaly mode checks its output, and on a NaN or infinity removes the
  // entry and throws a tg::Error naming the op.
  Var finish(Var out);
  Node& node(Var v);
  const Tensor& value_at(std::uint32_t index) const;
  // The buffer an input's gradient accumulates into, or null if it needs none.
  Tensor* grad_at(std::uint32_t index);
  // Throws unless `v` is a live value of this tape; `op` names the caller in the message.
  void check(Var v, const char* op) const;

 private:
  friend class Var;
  template <class Inputs>
  Var record_inputs(const char* op, const Inputs& inputs, BackwardFn backward);
  void backward_from(Var output, const float* seed);

  std::deque<Node> nodes_;  // nodes_[0, size_) are live; the rest keep their buffers for reuse
  std::size_t size_ = 0;
  std::uint32_t generation_ = 1;
  bool backpropagated_ = false;
  bool has_run_position_ = false;
  std::uint64_t run_position_ = 0;
};

// Changes a thread-local setting for the lifetime of a scope, then restores it.
template <class T>
class ScopedSetting {
 public:
  ScopedSetting(T& setting, T value) : setting_(setting), previous_(setting) { setting = value; }
  ~ScopedSetting() { setting_ = previous_; }
  ScopedSetting(const ScopedSetting&) = delete;
  ScopedSetting& operator=(const ScopedSetting&) = delete;

 private:
  T& setting_;
  T previous_;
};

// Names the layer whose forward records the ops in this scope (Sequential does this), so
// anomaly reports and DOT graphs can say where an op came from. `name` must outlive the scope.
struct LayerScope : ScopedSetting<const std::string*> {
  explicit LayerScope(const std::string* name);
};

// Anomaly mode: inside this scope every op's output is checked as the op finishes, and every
// gradient an op's backward produces; the first NaN or infinity throws a tg::Error naming the
// op, its position on the tape, the layer that recorded it and the input shapes. The failing
// op is not recorded, so the tape stays usable. Off, it costs one branch per op.
struct DetectAnomaly : ScopedSetting<bool> {
  DetectAnomaly();
};
bool anomaly_detection_enabled();

// Inside this scope ops compute values but record no way back: nothing needs a gradient.
struct NoGradGuard : ScopedSetting<bool> {
  NoGradGuard();
};
bool grad_enabled();

}  // namespace tg
