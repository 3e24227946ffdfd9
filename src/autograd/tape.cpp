#include "tapegrad/autograd/tape.hpp"

#include "autograd/anomaly.hpp"

#include <algorithm>
#include <cmath>

namespace tg {

namespace {
thread_local bool g_grad_enabled = true;
thread_local bool g_detect_anomaly = false;
thread_local const std::string* g_layer = nullptr;
}  // namespace

bool grad_enabled() {
  return g_grad_enabled;
}
bool anomaly_detection_enabled() {
  return g_detect_anomaly;
}
DetectAnomaly::DetectAnomaly() : ScopedSetting(g_detect_anomaly, true) {}
LayerScope::LayerScope(const std::string* name) : ScopedSetting(g_layer, name) {}
NoGradGuard::NoGradGuard() : ScopedSetting(g_grad_enabled, false) {}

// ---- Var ----

Tape& Var::tape() const {
  if (!tape_) throw Error("Var: this value is empty (default-constructed)");
  return *tape_;
}
const Tensor& Var::value() const {
  tape().check(*this, "Var::value");
  return tape_->value_at(index_);
}
const Tensor& Var::grad() const {
  tape().check(*this, "Var::grad");
  const Node& n = tape_->nodes_[index_];
  if (n.param) return n.param->grad;
  if (!n.requires_grad)
    throw Error("Var::grad: this '" + std::string(n.op) + "' value needs no gradient");
  return n.grad;
}
bool Var::requires_grad() const {
  tape().check(*this, "Var::requires_grad");
  return tape_->nodes_[index_].requires_grad;
}
float Var::item() const {
  const Tensor& v = value();
  if (v.size() != 1) throw Error("Var::item: value is " + shape_str(v) + ", not one element");
  return v.data()[0];
}

// ---- Tape ----

void Tape::check(Var v, const char* op) const {
  if (!v.tape_) throw Error(std::string(op) + ": an input is an empty Var");
  if (v.tape_ != this) throw Error(std::string(op) + ": an input was recorded on a different tape");
  if (v.generation_ != generation_ || v.index_ >= size_)
    throw Error(std::string(op) +
                ": an input was recorded before tape.clear(); record the step again");
}

template <class Inputs>
Var Tape::record_inputs(const char* op, const Inputs& inputs, BackwardFn backward) {
  bool needs_grad = false;
  for (Var v : inputs) {
    check(v, op);
    needs_grad = needs_grad || nodes_[v.index_].requires_grad;
  }
  needs_grad = needs_grad && g_grad_enabled && backward != nullptr;
  if (size_ == nodes_.size()) nodes_.emplace_back();
  Node& n = nodes_[size_++];
  n.op = op;
  n.inputs.clear();  // keeps capacity
  for (Var v : inputs) n.inputs.push_back(v.index_);
  n.requires_grad = needs_grad;
  n.backward = needs_grad ? backward : nullptr;
  n.param = nullptr;
  n.layer = g_layer;
  return Var(this, static_cast<std::uint32_t>(size_ - 1), generation_);
}

Var Tape::record(const char* op, std::initializer_list<Var> inputs, BackwardFn backward) {
  return record_inputs(op, inputs, backward);
}
Var Tape::record(const char* op, const std::vector<Var>& inputs, BackwardFn backward) {
  return record_inputs(op, inputs, backward);
}

Var Tape::finish(Var out) {
  if (g_detect_anomaly) {
    try {
      detail::check_output_finite(*this, out.index_);
    } catch (...) {
      size_ = out.index_;  // the failed op was the last entry: forget it
      throw;
    }
  }
  return out;
}

Var Tape::constant(const Tensor& value) {
  Var v = record("constant", {}, nullptr);
  Tensor& out = output(v, value.shape());
  std::copy(value.begin(), value.end(), out.begin());
  return finish(v);
}

Var Tape::variable(const Tensor& value) {
  Var v = constant(value);
  Node& n = nodes_[v.index_];
  n.op = "variable";
  n.requires_grad = true;
  return v;
}

Var Tape::param(Parameter& p) {
  Var v = record(p.name.empty() ? "parameter" : p.name.c_str(), {}, nullptr);
  Node& n = nodes_[v.index_];
  n.param = &p;
  n.requires_grad = true;
  if (p.grad.shape() != p.value.shape()) p.zero_grad();
  return finish(v);
}

Node& Tape::node(Var v) {
  check(v, "Tape::node");
  return nodes_[v.index_];
}

const Node& Tape::node(std::size_t index) const {
  if (index >= size_)
    throw Error("Tape::node: index " + std::to_string(index) + " but the tape holds " +
                std::to_string(size_) + " entries");
  return nodes_[index];
}

const Tensor& Tape::value_at(std::uint32_t index) const {
  const Node& n = nodes_[index];
  return n.param ? n.param->value : n.value;
}

Tensor* Tape::grad_at(std::uint32_t index) {
  Node& n = nodes_[index];
  if (!n.requires_grad) return nullptr;
  return n.param ? &n.param->grad : &n.grad;
}

void Tape::clear() {
  size_ = 0;
  ++generation_;
  backpropagated_ = false;
  has_run_position_ = false;
}

void Tape::backward(Var loss) {
  check(loss, "backward");
  const Tensor& v = value_at(loss.index_);
  if (v.size() != 1)
    throw Error("backward: the loss is " + shape_str(v) +
                "; pass a seed gradient of that shape for a non-scalar output");
  const float one = 1.0f;
  backward_from(loss, &one);
}

void Tape::backward(Var output, const Tensor& seed) {
  check(output, "backward");
  const Tensor& out = value_at(output.index_);
  if (seed.shape() != out.shape())
    throw Error("backward: seed is " + shape_str(seed) + " but the output is " + shape_str(out));
  backward_from(output, seed.data());
}

void Tape::backward_from(Var output, const float* seed) {
  if (backpropagated_)
    throw Error(
        "backward: this recording was already backpropagated; call clear() and "
        "record the next step");
  Node& root = nodes_[output.index_];
  if (!root.requires_grad)
    throw Error("backward: the output '" + std::string(root.op) +
                "' depends on no parameter or variable (constants only, or a no-grad scope)");
  backpropagated_ = true;

  // Every gradient buffer starts at zero, so ops can simply accumulate (a value used twice
  // gets both contributions).
  for (std::size_t i = 0; i <= output.index_; ++i) {
    Node& n = nodes_[i];
    if (!n.requires_grad || n.param) continue;
    resize(n.grad, n.value.shape());
    std::fill(n.grad.begin(), n.grad.end(), 0.0f);
  }
  Tensor& root_grad = *grad_at(output.index_);
  for (float& g : root_grad) g += *seed++;

  // One reverse sweep; entries recorded after `output` cannot influence it.
  for (std::size_t i = output.index_ + 1; i-- > 0;) {
    const Node& n = nodes_[i];
    if (!n.backward) continue;
    n.backward(*this, n);
    if (g_detect_anomaly) detail::check_input_grads_finite(*this, i);
  }
}

}  // namespace tg
