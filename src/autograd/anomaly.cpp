// Anomaly mode's checks and messages (see DetectAnomaly in tape.hpp).
#include "autograd/anomaly.hpp"

#include <cmath>

namespace tg::detail {

namespace {
// Index of the first NaN or infinity in t, or t.size() if all are finite.
std::size_t first_non_finite(const Tensor& t) {
  const float* p = t.data();
  for (std::size_t i = 0; i < t.size(); ++i)
    if (!std::isfinite(p[i])) return i;
  return t.size();
}

// "row 3, column 4" for a matrix, "index [0, 2, 1]" for any other rank.
std::string position(const Tensor& t, std::size_t flat) {
  if (t.dimension() == 2)
    return "row " + std::to_string(flat / cols(t)) + ", column " + std::to_string(flat % cols(t));
  std::string s;
  for (std::size_t d = t.dimension(); d-- > 0;) {
    s = std::to_string(flat % t.shape(d)) + (s.empty() ? "" : ", ") + s;
    flat /= t.shape(d);
  }
  return "index [" + s + "]";
}

// "'log' (tape entry 7, in layer 2: Dense(...), inputs 64x10)"
std::string describe_entry(const Tape& tape, std::size_t i) {
  const Node& n = tape.node(i);
  std::string s = "'" + std::string(n.op) + "' (tape entry " + std::to_string(i);
  if (n.layer) s += ", in layer " + *n.layer;
  for (std::size_t k = 0; k < n.inputs.size(); ++k)
    s += (k ? ", " : ", inputs ") + shape_str(tape.value_at(n.inputs[k]));
  return s + ")";
}
}  // namespace

void check_output_finite(const Tape& tape, std::size_t i) {
  const Tensor& v = tape.value_at(static_cast<std::uint32_t>(i));
  const std::size_t bad = first_non_finite(v);
  if (bad == v.size()) return;
  throw Error("anomaly: " + describe_entry(tape, i) + " produced " + std::to_string(v.data()[bad]) +
              " at " + position(v, bad) + " of its " + shape_str(v) + " output");
}

void check_input_grads_finite(const Tape& tape, std::size_t i) {
  const Node& n = tape.node(i);
  for (std::size_t k = 0; k < n.inputs.size(); ++k) {
    const Node& in = tape.node(n.inputs[k]);
    if (!in.requires_grad) continue;
    const Tensor& g = in.param ? in.param->grad : in.grad;
    const std::size_t bad = first_non_finite(g);
    if (bad == g.size()) continue;
    throw Error("anomaly: the backward of " + describe_entry(tape, i) +
                " made the gradient of its input " + std::to_string(k) + " ('" + in.op +
                "', tape entry " + std::to_string(n.inputs[k]) + ") " +
                std::to_string(g.data()[bad]) + " at " + position(g, bad));
  }
}

}  // namespace tg::detail
