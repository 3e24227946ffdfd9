// The tape: a flat list (Wengert list) of every op recorded in a forward pass.
// backward() walks it once in reverse and applies each entry's chain-rule step, so there is
// no graph to sort and no recursion, however long the chain.
#pragma once

#include "tapegrad/tensor.hpp"

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <string>
#include <vector>

namespace tg {

class Tape;
struct Node;

// A trainable tensor that outlives any tape: its value and the gradient that backward()
// accumulates into (until the optimizer's zero_grad()).
struct Parameter {
  std::string name;
  Tensor value;
  Tensor grad;

  Parameter() = default;
  explicit Parameter(Tensor initial, std::string name = {});
  void zero_grad();
};

// A handle to one value recorded on a tape. Cheap to copy; valid until the tape is cleared.
class Var {
 public:
  Var() = default;
  const Tensor& value() const;
  // The gradient of the last backward() with respect to this value. For a parameter this
  // is the parameter's accumulated grad.
  const Tensor& grad() const;
  std::size_t rows() const { return tg::rows(value()); }
  std::size_t cols() const { return tg::cols(value()); }
  std::string shape() const { return shape_str(value()); }
  bool requires_grad() const;
  float item() const;  // the value of a 1x1 result, e.g. a loss
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

// How an op sends its output's gradient (node.grad) back to its inputs' gradients.
using BackwardFn = void (*)(Tape& tape, const Node& node);

constexpr int kMaxInputs = 3;

// One tape entry: an op's output and what its backward needs (and nothing more).
struct Node {
  const char* op = "";
  BackwardFn backward = nullptr;  // null for leaves and for values that need no gradient
  std::uint32_t inputs[kMaxInputs] = {};
  int num_inputs = 0;
  bool requires_grad = false;
  Parameter* param = nullptr;          // a parameter leaf: value and grad live in *param
  const std::string* layer = nullptr;  // the layer that recorded it, when known (LayerScope)
  Tensor value;
  Tensor grad;
  // Extra state for the backward; each op documents what it keeps here.
  float alpha = 0.0f;
  int option = 0;
  Tensor saved;                      // e.g. softmax probabilities for a fused loss
  Tensor saved_row;                  // e.g. per-feature statistics (1 x features)
  Tensor target;                     // a loss's targets
  std::vector<std::int32_t> labels;  // a loss's class labels
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

  // Seeds d(loss)/d(loss) = 1 (loss must be 1x1) and applies the chain rule backwards.
  void backward(Var loss);
  // The same for a non-scalar output, seeded with d(something)/d(output) = seed.
  void backward(Var output, const Tensor& seed);

  // Forgets the recording (Vars from before become invalid) but keeps every buffer, so the
  // next step of the same shapes allocates nothing.
  void clear();

  std::size_t size() const { return size_; }
  const Node& node(std::size_t index) const;
  std::uint32_t generation() const { return generation_; }

  // ---- for implementing ops (see ops.cpp) ----
  // Appends an entry. The new Var is returned; fill its value through node(var).
  // References into the tape stay valid while it grows (the entries live in a deque).
  Var record(const char* op, std::initializer_list<Var> inputs, BackwardFn backward);
  Node& node(Var v);
  const Tensor& value_at(std::uint32_t index) const;
  // The buffer an input's gradient accumulates into, or null if it needs none.
  Tensor* grad_at(std::uint32_t index);
  // Throws unless `v` is a live value of this tape; `op` names the caller in the message.
  void check(Var v, const char* op) const;

 private:
  friend class Var;
  Node& append(const char* op);
  // Anomaly mode: throws if entry i's value (forward) or the gradient it holds is not finite.
  void check_value(std::size_t i) const;
  void check_input_grads(std::size_t i) const;

  std::deque<Node> nodes_;  // nodes_[0, size_) are live; the rest keep their buffers for reuse
  std::size_t size_ = 0;
  std::uint32_t generation_ = 1;
  bool backpropagated_ = false;
};

// The recorded tape as a Graphviz DOT digraph (render with `dot -Tsvg`): one node per entry,
// labelled with its op (a parameter's name, e.g. "0.weight") and shape ("dense\n64x256"),
// and an edge from each input to the entry that used it. Constants are grey boxes, variables
// blue boxes, parameters orange boxes, ops that need a gradient white ellipses, ops that need
// none dashed ellipses.
std::string to_dot(const Tape& tape);

// Names the layer whose forward records the ops in this scope (Sequential does this), so
// anomaly reports and DOT graphs can say where an op came from. `name` must outlive the scope.
class LayerScope {
 public:
  explicit LayerScope(const std::string* name);
  ~LayerScope();
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  const std::string* previous_;
};

// Anomaly mode: inside this scope every op's output (forward) and every gradient an op's
// backward produces is checked, and the first NaN or infinity throws a tg::Error naming the
// op, its position on the tape, the layer that recorded it and the input shapes. Off, it
// costs one branch per recorded op.
class DetectAnomaly {
 public:
  DetectAnomaly();
  ~DetectAnomaly();
  DetectAnomaly(const DetectAnomaly&) = delete;
  DetectAnomaly& operator=(const DetectAnomaly&) = delete;

 private:
  bool previous_;
};
bool anomaly_detection_enabled();

// Inside this scope ops compute values but record no way back: nothing needs a gradient.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};
bool grad_enabled();

}  // namespace tg
