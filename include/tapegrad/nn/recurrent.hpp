// Recurrent layers, as torch::nn's RNN, LSTM and GRU: multi-layer, unidirectional, with full
// backpropagation through time. Each time step is recorded on the tape with the ordinary ops
// (dense, slice, sigmoid, tanh, mul, add, cat), so nothing here has a backward of its own.
//
// Shapes (as torch; T steps, N sequences, F = input_size, H = hidden_size, L = num_layers):
//   input   T x N x F, or N x T x F with batch_first; T x F is one unbatched sequence
//   output  T x N x H (N x T x H with batch_first; T x H unbatched): the last layer's h_t
//   h, c    L x N x H whatever batch_first says (L x H unbatched): torch's h_0/c_0, h_n/c_n
//
//   tg::LSTM lstm(28, 128, rng, {.num_layers = 2, .batch_first = true});
//   tg::Var y = lstm(x);                               // output only: fits a Sequential
//   tg::RecurrentOutput r = lstm.forward(x, &state);   // from a given state; r.state is h_n, c_n
//
// Parameters of layer k, named as torch's (so state dicts line up name for name):
//   weight_ih_l{k}  in_k x G*H   (in_0 = F, in_k = H above)   weight_hh_l{k}  H x G*H
//   bias_ih_l{k}    1 x G*H                                   bias_hh_l{k}    1 x G*H
// with G = 1 (RNN), 4 (LSTM) or 3 (GRU). The weights are in tapegrad's Dense layout, in x out,
// i.e. the TRANSPOSE of torch's weight_ih_l{k} (G*H x in_k): copying torch weights in means
// transposing them; biases are the same numbers. The gates sit in torch's order along the
// columns: LSTM i, f, g, o; GRU r, z, n. Every parameter starts U(-1/sqrt(H), 1/sqrt(H)).
//
// The cells (x_t the layer's input at step t, h the previous hidden state, * elementwise):
//   RNN   h' = act(x_t W_ih + b_ih + h W_hh + b_hh), act = tanh or relu
//   LSTM  [i f g o] = x_t W_ih + b_ih + h W_hh + b_hh
//         c' = sigmoid(f) * c + sigmoid(i) * tanh(g),  h' = sigmoid(o) * tanh(c')
//   GRU   [r z] = sigmoid([x_t W_ih + b_ih]_rz + [h W_hh + b_hh]_rz)
//         n = tanh([x_t W_ih + b_ih]_n + r * [h W_hh + b_hh]_n)
//         h' = (1 - z) * n + z * h
// The input projections of all T steps are one GEMM per layer; each step then adds one
// N x H by H x G*H GEMM. Without an initial state h (and c) start at zero. After the first
// step of a shape, a training step allocates nothing (the layer keeps its scratch lists), so
// one layer runs one forward at a time, as the other stateful layers.
//
// Not (yet) supported from torch: bidirectional, dropout between layers, LSTM proj_size,
// packed (variable-length) sequences.
#pragma once

#include "tapegrad/nn/module.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace tg {

enum class RnnNonlinearity { tanh, relu };

struct RecurrentOptions {
  std::size_t num_layers = 1;
  bool bias = true;          // false: no bias_ih / bias_hh parameters at all
  bool batch_first = false;  // input and output N x T x F instead of T x N x F
  RnnNonlinearity nonlinearity = RnnNonlinearity::tanh;  // RNN only; LSTM and GRU reject relu
};

// A recurrent state: h, and c for an LSTM, each L x N x H (L x H for an unbatched input).
// RNN and GRU have no c: they ignore it in an initial state and leave it empty in a result.
struct RecurrentState {
  Var h;
  Var c;
};

// What forward(x, initial) returns: the output sequence and the final state (h_n, c_n).
struct RecurrentOutput {
  Var output;
  RecurrentState state;
};

// What RNN, LSTM and GRU share; construct one of those three.
class Recurrent : public Module {
 public:
  enum class Cell { rnn_tanh, rnn_relu, lstm, gru };

  // The output sequence from a zero state.
  Var forward(Var x) override;
  // From `initial` (nullptr: zeros). Every Var may need a gradient (h_0 and c_0 included).
  // Throws a tg::Error naming the layer and the shapes for an input that is not T x N x F
  // (N x T x F) or T x F, and for an initial h or c that is not L x N x H (L x H) or not on
  // the input's tape. Nothing is recorded before the checks pass.
  RecurrentOutput forward(Var x, const RecurrentState* initial);
  RecurrentOutput forward(Var x, const RecurrentState& initial) { return forward(x, &initial); }

  // "LSTM(3 -> 4, 2 layers, bias, batch_first)".
  std::string describe() const override;
  // RNN (with nonlinearity), LSTM or GRU.
  ModuleSpec spec() const override;
  // hidden_size for input_size features (throws for any other count).
  std::size_t output_features(std::size_t in) const override;
  // {T, F} -> {T, H}: the shape without the batch dimension, whether or not batch_first.
  Shape output_shape(const Shape& in) const override;

  Cell cell() const { return cell_; }
  std::size_t input_size() const { return input_size_; }
  std::size_t hidden_size() const { return hidden_size_; }
  std::size_t num_layers() const { return layers_.size(); }
  std::size_t gate_count() const;  // G: 1, 4 or 3
  const RecurrentOptions& options() const { return options_; }

  // Layer k's parameters (bias_* are empty Parameters without bias).
  Parameter& weight_ih(std::size_t k) { return layers_.at(k).weight_ih; }
  Parameter& weight_hh(std::size_t k) { return layers_.at(k).weight_hh; }
  Parameter& bias_ih(std::size_t k) { return layers_.at(k).bias_ih; }
  Parameter& bias_hh(std::size_t k) { return layers_.at(k).bias_hh; }

 protected:
  Recurrent(Cell cell, std::size_t input_size, std::size_t hidden_size, Rng& rng,
            const RecurrentOptions& options);

 private:
  struct Layer {
    Parameter weight_ih, weight_hh, bias_ih, bias_hh;
  };
  // One layer over the whole sequence: returns its output sequence (time along dim td) and
  // leaves the final h (and c) in h, c.
  Var run_layer(std::size_t k, Var in, std::size_t steps, std::size_t td, Var& h, Var& c);
  std::string name() const;  // "LSTM", "GRU", "RNN"
  [[noreturn]] void fail(const std::string& what) const;
  void check_state(Var v, const char* which, const Shape& expected, Tape& tape) const;

  Cell cell_;
  std::size_t input_size_, hidden_size_;
  RecurrentOptions options_;
  std::vector<Layer> layers_;  // sized once in the constructor: registrations point into it
  // Scratch kept between steps, so a forward pass allocates nothing once shapes repeat.
  std::vector<Var> steps_;              // one layer's h_t, t = 0..T-1
  std::vector<Var> final_h_, final_c_;  // each layer's h_T, c_T
  Tensor zero_state_;                   // the default h_0 / c_0 of one layer
  Shape state_shape_, step_shape_;      // L x N x H; the per-step h shape
};

// Elman RNN: h' = tanh (or relu) of the two projections, as torch::nn::RNN.
class RNN : public Recurrent {
 public:
  RNN(std::size_t input_size, std::size_t hidden_size, Rng& rng,
      const RecurrentOptions& options = {});
};

// Long short-term memory, as torch::nn::LSTM (gates i, f, g, o).
class LSTM : public Recurrent {
 public:
  LSTM(std::size_t input_size, std::size_t hidden_size, Rng& rng,
       const RecurrentOptions& options = {});
};

// Gated recurrent unit, as torch::nn::GRU (gates r, z, n; r multiplies h W_hn + b_hn).
class GRU : public Recurrent {
 public:
  GRU(std::size_t input_size, std::size_t hidden_size, Rng& rng,
      const RecurrentOptions& options = {});
};

// The last step of a batch-first sequence, N x T x H -> N x H: what a sequence classifier
// reads after an RNN, LSTM or GRU with batch_first (the slice is recorded, so gradients flow).
class LastTimeStep : public Module {
 public:
  Var forward(Var x) override;
  std::string describe() const override { return "LastTimeStep"; }
  ModuleSpec spec() const override;
  Shape output_shape(const Shape& in) const override;  // {T, H} -> {H}

 private:
  Shape shape_;  // N x H of the last input, kept so a step allocates nothing
};

}  // namespace tg
