#include "tapegrad/nn/recurrent.hpp"

#include "nn/spec_text.hpp"

#include "tapegrad/ops/activation.hpp"
#include "tapegrad/ops/arith.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/shape.hpp"

#include <algorithm>
#include <cmath>

namespace tg {

namespace {

Tensor uniform_tensor(std::size_t r, std::size_t c, float bound, Rng& rng) {
  Tensor t = zeros(r, c);
  for (float& v : t) v = rng.uniform(-bound, bound);
  return t;
}

std::string layer_suffix(std::size_t k) {
  return "_l" + std::to_string(k);
}

}  // namespace

// ---- construction ----

Recurrent::Recurrent(Cell cell, std::size_t input_size, std::size_t hidden_size, Rng& rng,
                     const RecurrentOptions& options)
    : cell_(cell), input_size_(input_size), hidden_size_(hidden_size), options_(options) {
  if (input_size == 0 || hidden_size == 0 || options.num_layers == 0)
    fail("input_size, hidden_size and num_layers must be positive (got " +
         std::to_string(input_size) + ", " + std::to_string(hidden_size) + ", " +
         std::to_string(options.num_layers) + ")");
  if ((cell == Cell::lstm || cell == Cell::gru) && options.nonlinearity != RnnNonlinearity::tanh)
    fail("nonlinearity applies to RNN only");
  const std::size_t gates = gate_count() * hidden_size;
  // torch's reset_parameters: every parameter U(-1/sqrt(H), 1/sqrt(H)).
  const float bound = 1.0f / std::sqrt(static_cast<float>(hidden_size));
  layers_.resize(options.num_layers);
  for (std::size_t k = 0; k < layers_.size(); ++k) {
    Layer& l = layers_[k];
    const std::string s = layer_suffix(k);
    const std::size_t in = k == 0 ? input_size : hidden_size;
    l.weight_ih = Parameter(uniform_tensor(in, gates, bound, rng), "weight_ih" + s);
    l.weight_hh = Parameter(uniform_tensor(hidden_size, gates, bound, rng), "weight_hh" + s);
    register_parameter(l.weight_ih.name, l.weight_ih);
    register_parameter(l.weight_hh.name, l.weight_hh);
    if (options.bias) {
      l.bias_ih = Parameter(uniform_tensor(1, gates, bound, rng), "bias_ih" + s);
      l.bias_hh = Parameter(uniform_tensor(1, gates, bound, rng), "bias_hh" + s);
      register_parameter(l.bias_ih.name, l.bias_ih);
      register_parameter(l.bias_hh.name, l.bias_hh);
    }
  }
}

RNN::RNN(std::size_t input_size, std::size_t hidden_size, Rng& rng, const RecurrentOptions& options)
    : Recurrent(options.nonlinearity == RnnNonlinearity::relu ? Cell::rnn_relu : Cell::rnn_tanh,
                input_size, hidden_size, rng, options) {}

LSTM::LSTM(std::size_t input_size, std::size_t hidden_size, Rng& rng,
           const RecurrentOptions& options)
    : Recurrent(Cell::lstm, input_size, hidden_size, rng, options) {}

GRU::GRU(std::size_t input_size, std::size_t hidden_size, Rng& rng, const RecurrentOptions& options)
    : Recurrent(Cell::gru, input_size, hidden_size, rng, options) {}

// ---- description ----

std::size_t Recurrent::gate_count() const {
  switch (cell_) {
    case Cell::lstm:
      return 4;
    case Cell::gru:
      return 3;
    default:
      return 1;
  }
}

std::string Recurrent::name() const {
  switch (cell_) {
    case Cell::lstm:
      return "LSTM";
    case Cell::gru:
      return "GRU";
    default:
      return "RNN";
  }
}

std::string Recurrent::describe() const {
  std::string s =
      name() + "(" + std::to_string(input_size_) + " -> " + std::to_string(hidden_size_) + ", ";
  if (cell_ == Cell::rnn_tanh) s += "tanh, ";
  if (cell_ == Cell::rnn_relu) s += "relu, ";
  s += std::to_string(options_.num_layers) + (options_.num_layers == 1 ? " layer" : " layers");
  s += options_.bias ? ", bias" : ", no bias";
  if (options_.batch_first) s += ", batch_first";
  return s + ")";
}

ModuleSpec Recurrent::spec() const {
  ModuleSpec s{name(),
               {{"input_size", std::to_string(input_size_)},
                {"hidden_size", std::to_string(hidden_size_)},
                {"num_layers", std::to_string(options_.num_layers)},
                {"bias", detail::spec_bool(options_.bias)},
                {"batch_first", detail::spec_bool(options_.batch_first)}},
               {}};
  if (cell_ == Cell::rnn_tanh || cell_ == Cell::rnn_relu)
    s.options.emplace_back("nonlinearity", cell_ == Cell::rnn_relu ? "relu" : "tanh");
  return s;
}

void Recurrent::fail(const std::string& what) const {
  // describe() needs the options, which the constructor sets before it can fail.
  throw Error(describe() + ": " + what);
}

std::size_t Recurrent::output_features(std::size_t in) const {
  if (in != input_size_)
    fail("input has " + std::to_string(in) + " features but input_size is " +
         std::to_string(input_size_));
  return hidden_size_;
}

Shape Recurrent::output_shape(const Shape& in) const {
  if (in.size() != 2)
    fail("the input shape without its batch dimension is " + shape_str(in) + " but must be T x " +
         std::to_string(input_size_));
  return Shape{in[0], output_features(in[1])};
}

// ---- forward ----

Var Recurrent::forward(Var x) {
  return forward(x, nullptr).output;
}

void Recurrent::check_state(Var v, const char* which, const Shape& expected, Tape& tape) const {
  const Tensor* value = nullptr;
  try {
    value = &v.value();
  } catch (const Error& e) {
    fail(std::string("initial ") + which + " is not usable (" + e.what() + ")");
  }
  if (&v.tape() != &tape)
    fail(std::string("initial ") + which + " was recorded on another tape than the input");
  const bool match = value->dimension() == expected.size() &&
                     std::equal(expected.begin(), expected.end(), value->shape().begin());
  if (!match)
    fail(std::string("initial ") + which + " is " + shape_str(*value) + " but must be " +
         shape_str(expected) + " (num_layers x " + (expected.size() == 3 ? "N x " : "") +
         "hidden_size)");
}

RecurrentOutput Recurrent::forward(Var x, const RecurrentState* initial) {
  const Tensor& xv = x.value();
  if ((xv.dimension() != 3 && xv.dimension() != 2) || cols(xv) != input_size_ || xv.size() == 0)
    fail("input is " + shape_str(xv) + " but must be " +
         (options_.batch_first ? "N x T x " : "T x N x ") + std::to_string(input_size_) +
         " (or T x " + std::to_string(input_size_) + " unbatched), not empty");
  const bool batched = xv.dimension() == 3;
  // Unbatched input runs as a batch of one, time first.
  const std::size_t td = batched && options_.batch_first ? 1 : 0;  // the time dimension
  const std::size_t steps = xv.shape(td);
  const std::size_t n = batched ? xv.shape(1 - td) : 1;
  const std::size_t layers = layers_.size(), hidden = hidden_size_;
  Tape& tape = x.tape();

  // Per-step states have a 1 along the time dimension, so they cat into the output.
  step_shape_.assign({td == 0 ? 1 : n, td == 0 ? n : 1, hidden});
  if (initial) {
    state_shape_.assign({layers, n, hidden});
    if (!batched) state_shape_.erase(state_shape_.begin() + 1);
    check_state(initial->h, "h", state_shape_, tape);
    if (cell_ == Cell::lstm) check_state(initial->c, "c", state_shape_, tape);
  }
  Var in = batched ? x : unsqueeze(x, 1);
  Var zero;
  if (!initial) {
    resize(zero_state_, step_shape_);
    std::fill(zero_state_.begin(), zero_state_.end(), 0.0f);
    zero = tape.constant(zero_state_);
  }
  // A layer's initial state: slice k of L x N x H (L x H unbatched), in the per-step shape.
  const auto initial_of = [&](Var all, std::size_t k) {
    Var s = slice(all, 0, k, k + 1);
    if (!batched) return unsqueeze(s, 0);  // 1 x H -> 1 x 1 x H
    return td == 0 ? s : reshape(s, step_shape_);
  };

  final_h_.clear();
  final_c_.clear();
  for (std::size_t k = 0; k < layers; ++k) {
    Var h = initial ? initial_of(initial->h, k) : zero;
    Var c = cell_ != Cell::lstm ? Var() : initial ? initial_of(initial->c, k) : zero;
    in = run_layer(k, in, steps, td, h, c);
    final_h_.push_back(h);
    if (cell_ == Cell::lstm) final_c_.push_back(c);
  }

  // h_n, c_n: the layers' final states stacked, L x N x H (L x H unbatched).
  const auto assemble = [&](std::vector<Var>& finals) {
    for (Var& v : finals) {
      if (!batched)
        v = squeeze(v, 0);  // 1 x 1 x H -> 1 x H
      else if (td == 1)
        v = transpose(v, 0, 1);  // N x 1 x H -> 1 x N x H
    }
    return finals.size() == 1 ? finals[0] : cat(finals, 0);
  };
  RecurrentOutput out;
  out.output = batched ? in : squeeze(in, 1);
  out.state.h = assemble(final_h_);
  if (cell_ == Cell::lstm) out.state.c = assemble(final_c_);
  return out;
}

Var Recurrent::run_layer(std::size_t k, Var in, std::size_t steps, std::size_t td, Var& h, Var& c) {
  Tape& tape = in.tape();
  Layer& l = layers_[k];
  const bool bias = options_.bias;
  const Var w_ih = tape.param(l.weight_ih), w_hh = tape.param(l.weight_hh);
  const Var b_ih = bias ? tape.param(l.bias_ih) : Var();
  const Var b_hh = bias ? tape.param(l.bias_hh) : Var();
  const std::size_t H = hidden_size_;
  const int td_dim = static_cast<int>(td);

  // Every step's input projection in one GEMM: T x N x G*H (N x T x G*H).
  const Var gx_all = bias ? dense(in, w_ih, b_ih) : dense(in, w_ih);
  steps_.clear();
  for (std::size_t t = 0; t < steps; ++t) {
    const Var gx = slice(gx_all, td_dim, t, t + 1);
    const Var gh = bias ? dense(h, w_hh, b_hh) : dense(h, w_hh);
    switch (cell_) {
      case Cell::rnn_tanh:
        h = tanh(gx + gh);
        break;
      case Cell::rnn_relu:
        h = relu(gx + gh);
        break;
      case Cell::lstm: {
        const Var gates = gx + gh;
        const Var i = sigmoid(slice(gates, -1, 0, H));
        const Var f = sigmoid(slice(gates, -1, H, 2 * H));
        const Var g = tanh(slice(gates, -1, 2 * H, 3 * H));
        const Var o = sigmoid(slice(gates, -1, 3 * H, 4 * H));
        c = f * c + i * g;
        h = o * tanh(c);
        break;
      }
      case Cell::gru: {
        const Var rz = sigmoid(slice(gx, -1, 0, 2 * H) + slice(gh, -1, 0, 2 * H));
        const Var r = slice(rz, -1, 0, H);
        const Var z = slice(rz, -1, H, 2 * H);
        const Var cand = tanh(slice(gx, -1, 2 * H, 3 * H) + r * slice(gh, -1, 2 * H, 3 * H));
        h = cand + z * (h - cand);  // (1 - z) n + z h
        break;
      }
    }
    steps_.push_back(h);
  }
  return steps_.size() == 1 ? steps_[0] : cat(steps_, td_dim);
}

// ---- LastTimeStep ----

Var LastTimeStep::forward(Var x) {
  const Tensor& v = x.value();
  if (v.dimension() != 3 || v.shape(1) == 0)
    throw Error("LastTimeStep: input is " + shape_str(v) +
                ", not batch x time x features with at least one step");
  shape_.assign({v.shape(0), v.shape(2)});  // keeps its capacity: no allocation per step
  return reshape(slice(x, 1, v.shape(1) - 1, v.shape(1)), shape_);
}

ModuleSpec LastTimeStep::spec() const {
  return {"LastTimeStep", {}, {}};
}

Shape LastTimeStep::output_shape(const Shape& in) const {
  if (in.size() != 2 || in[0] == 0)
    throw Error("LastTimeStep: the input shape without its batch dimension is " + shape_str(in) +
                " but must be T x H with T > 0");
  return {in[1]};
}

}  // namespace tg
