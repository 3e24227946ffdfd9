#include "tapegrad/tape.hpp"

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
DetectAnomaly::DetectAnomaly() : previous_(g_detect_anomaly) {
  g_detect_anomaly = true;
}
DetectAnomaly::~DetectAnomaly() {
  g_detect_anomaly = previous_;
}
LayerScope::LayerScope(const std::string* name) : previous_(g_layer) {
  g_layer = name;
}
LayerScope::~LayerScope() {
  g_layer = previous_;
}
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) {
  g_grad_enabled = false;
}
NoGradGuard::~NoGradGuard() {
  g_grad_enabled = previous_;
}

Parameter::Parameter(Tensor initial, std::string n)
    : name(std::move(n)), value(std::move(initial)), grad(zeros(rows(value), cols(value))) {}

void Parameter::zero_grad() {
  resize(grad, rows(value), cols(value));
  std::fill(grad.begin(), grad.end(), 0.0f);
}

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
  if (v.size() != 1) throw Error("Var::item: value is " + shape_str(v) + ", not 1x1");
  return v(0, 0);
}

// ---- Tape ----

void Tape::check(Var v, const char* op) const {
  if (!v.tape_) throw Error(std::string(op) + ": an input is an empty Var");
  if (v.tape_ != this) throw Error(std::string(op) + ": an input was recorded on a different tape");
  if (v.generation_ != generation_ || v.index_ >= size_)
    throw Error(std::string(op) +
                ": an input was recorded before tape.clear(); record the step again");
}

Node& Tape::append(const char* op) {
  if (size_ == nodes_.size()) nodes_.emplace_back();
  Node& n = nodes_[size_++];
  n.op = op;
  n.backward = nullptr;
  n.num_inputs = 0;
  n.requires_grad = false;
  n.param = nullptr;
  n.alpha = 0.0f;
  n.option = 0;
  n.labels.clear();  // keeps capacity
  n.layer = g_layer;
  return n;
}

// ---- anomaly mode ----

namespace {
// Index of the first NaN or infinity in t, or t.size() if all are finite.
std::size_t first_non_finite(const Tensor& t) {
  const float* p = t.data();
  for (std::size_t i = 0; i < t.size(); ++i)
    if (!std::isfinite(p[i])) return i;
  return t.size();
}

// "'log' (tape entry 7, in layer 2: Dense(...), inputs 64x10)"
std::string describe_entry(const Tape& tape, std::size_t i) {
  const Node& n = tape.node(i);
  std::string s = "'" + std::string(n.op) + "' (tape entry " + std::to_string(i);
  if (n.layer) s += ", in layer " + *n.layer;
  if (n.num_inputs > 0) {
    s += ", inputs";
    for (int k = 0; k < n.num_inputs; ++k)
      s += (k ? ", " : " ") + shape_str(tape.value_at(n.inputs[k]));
  }
  return s + ")";
}
}  // namespace

void Tape::check_value(std::size_t i) const {
  const Tensor& v = value_at(static_cast<std::uint32_t>(i));
  const std::size_t bad = first_non_finite(v);
  if (bad == v.size()) return;
  throw Error("anomaly: " + describe_entry(*this, i) + " produced " +
              std::to_string(v.data()[bad]) + " at row " + std::to_string(bad / cols(v)) +
              ", column " + std::to_string(bad % cols(v)) + " of its " + shape_str(v) + " output");
}

void Tape::check_input_grads(std::size_t i) const {
  const Node& n = nodes_[i];
  for (int k = 0; k < n.num_inputs; ++k) {
    const Node& in = nodes_[n.inputs[k]];
    if (!in.requires_grad) continue;
    const Tensor& g = in.param ? in.param->grad : in.grad;
    const std::size_t bad = first_non_finite(g);
    if (bad == g.size()) continue;
    throw Error("anomaly: the backward of " + describe_entry(*this, i) +
                " made the gradient of its input " + std::to_string(k) + " ('" + in.op +
                "', tape entry " + std::to_string(n.inputs[k]) + ") " +
                std::to_string(g.data()[bad]) + " at row " + std::to_string(bad / cols(g)) +
                ", column " + std::to_string(bad % cols(g)));
  }
}

Var Tape::record(const char* op, std::initializer_list<Var> inputs, BackwardFn backward) {
  // Ops run one after another, so the entry before this one is complete: check it now.
  if (g_detect_anomaly && size_ > 0) check_value(size_ - 1);
  bool needs_grad = false;
  for (Var v : inputs) {
    check(v, op);
    needs_grad = needs_grad || nodes_[v.index_].requires_grad;
  }
  needs_grad = needs_grad && g_grad_enabled && backward != nullptr;
  Node& n = append(op);
  for (Var v : inputs) n.inputs[n.num_inputs++] = v.index_;
  n.requires_grad = needs_grad;
  n.backward = needs_grad ? backward : nullptr;
  return Var(this, static_cast<std::uint32_t>(size_ - 1), generation_);
}

Var Tape::constant(const Tensor& value) {
  Var v = record("constant", {}, nullptr);
  Node& n = nodes_[v.index_];
  resize(n.value, rows(value), cols(value));
  std::copy(value.begin(), value.end(), n.value.begin());
  return v;
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
  return v;
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
}

void Tape::backward(Var loss) {
  check(loss, "backward");
  const Tensor& v = value_at(loss.index_);
  if (v.size() != 1)
    throw Error("backward: the loss is " + shape_str(v) +
                "; pass a seed gradient of that shape for a non-scalar output");
  backward(loss, full(1, 1, 1.0f));
}

void Tape::backward(Var output, const Tensor& seed) {
  check(output, "backward");
  if (backpropagated_)
    throw Error(
        "backward: this recording was already backpropagated; call clear() and "
        "record the next step");
  Node& root = nodes_[output.index_];
  if (!root.requires_grad)
    throw Error("backward: the output '" + std::string(root.op) +
                "' depends on no parameter or variable (constants only, or a no-grad scope)");
  const Tensor& out = value_at(output.index_);
  if (seed.shape() != out.shape())
    throw Error("backward: seed is " + shape_str(seed) + " but the output is " + shape_str(out));
  backpropagated_ = true;
  // Entries before the output were checked as the next one was recorded; the output was not.
  if (g_detect_anomaly) check_value(output.index_);

  // Every gradient buffer starts at zero, so ops can simply accumulate (a value used twice
  // gets both contributions).
  for (std::size_t i = 0; i <= output.index_; ++i) {
    Node& n = nodes_[i];
    if (!n.requires_grad || n.param) continue;
    resize(n.grad, rows(n.value), cols(n.value));
    std::fill(n.grad.begin(), n.grad.end(), 0.0f);
  }
  Tensor& root_grad = *grad_at(output.index_);
  std::transform(root_grad.begin(), root_grad.end(), seed.begin(), root_grad.begin(),
                 [](float g, float s) { return g + s; });

  // One reverse sweep; entries recorded after `output` cannot influence it.
  for (std::size_t i = output.index_ + 1; i-- > 0;) {
    const Node& n = nodes_[i];
    if (!n.backward) continue;
    n.backward(*this, n);
    if (g_detect_anomaly) check_input_grads(i);
  }
}

}  // namespace tg
