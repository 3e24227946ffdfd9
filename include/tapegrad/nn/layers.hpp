// The layers of an MLP: dense, activations, batch norm, dropout, flatten.
#pragma once

#include "tapegrad/nn/init.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/ops/activation.hpp"
#include "tapegrad/ops/normalization.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tg {

struct DenseOptions {
  bool bias = true;
  Init init = Init::he_normal;  // He for ReLU-family nets; Xavier for tanh/sigmoid
};

// y = x . W + b with W in x out (so no transpose is needed in the forward GEMM).
class Dense : public Module {
 public:
  Dense(std::size_t in, std::size_t out, Rng& rng, DenseOptions options = {});
  Var forward(Var x) override;
  std::string describe() const override;
  std::size_t output_features(std::size_t in) const override;
  ModuleSpec spec() const override;

  Parameter weight;  // in x out
  Parameter bias;    // 1 x out (empty when options.bias is false)

 private:
  DenseOptions options_;
};

// An activation function as a layer.
class ActivationLayer : public Module {
 public:
  explicit ActivationLayer(Activation activation, float alpha = 0.0f)
      : activation_(activation), alpha_(alpha) {}
  Var forward(Var x) override { return activate(x, activation_, alpha_); }
  // The name, with alpha when it is not the activation's default: "leaky_relu(alpha=0.2)".
  std::string describe() const override;
  // ReLU, Sigmoid, ... (Identity for Activation::identity); LeakyReLU and ELU with the slope
  // they use (0.01 and 1 when constructed with alpha 0).
  ModuleSpec spec() const override;
  Activation activation() const { return activation_; }
  float alpha() const;  // the alpha the op uses (its default when constructed with 0)

 private:
  Activation activation_;
  float alpha_;
};

struct ReLU : ActivationLayer {
  ReLU() : ActivationLayer(Activation::relu) {}
};
struct Sigmoid : ActivationLayer {
  Sigmoid() : ActivationLayer(Activation::sigmoid) {}
};
struct Tanh : ActivationLayer {
  Tanh() : ActivationLayer(Activation::tanh) {}
};
struct Step : ActivationLayer {
  Step() : ActivationLayer(Activation::step) {}
};
struct LeakyReLU : ActivationLayer {
  explicit LeakyReLU(float alpha = 0.01f) : ActivationLayer(Activation::leaky_relu, alpha) {}
};
struct ELU : ActivationLayer {
  explicit ELU(float alpha = 1.0f) : ActivationLayer(Activation::elu, alpha) {}
};
struct Softmax : ActivationLayer {
  Softmax() : ActivationLayer(Activation::softmax) {}
};
struct LogSoftmax : ActivationLayer {
  LogSoftmax() : ActivationLayer(Activation::log_softmax) {}
};

// Batch normalisation over the batch dimension, as in PyTorch's BatchNorm1d: training mode
// normalises with the batch's mean and (biased) variance and updates running statistics
// (running = (1 - momentum) * running + momentum * batch, with the unbiased variance);
// evaluation mode normalises with the running statistics.
class BatchNorm1d : public Module {
 public:
  explicit BatchNorm1d(std::size_t features, float momentum = 0.1f, float eps = 1e-5f);
  Var forward(Var x) override;
  std::string describe() const override;
  std::size_t output_features(std::size_t in) const override;
  Shape output_shape(const Shape& in) const override;  // {features} only, as forward takes
  ModuleSpec spec() const override;

  Parameter weight;     // gamma, 1 x features, starts at 1
  Parameter bias;       // beta, 1 x features, starts at 0
  Tensor running_mean;  // 1 x features, starts at 0
  Tensor running_var;   // 1 x features, starts at 1

 private:
  float momentum_, eps_;
  Tensor batch_mean_, batch_var_;
};

// Inverted dropout (seeded): in training each element is zeroed with probability p and the
// rest scaled by 1/(1-p); in evaluation it is the identity. Under tg::fit the masks are keyed
// by the sample's place in the run (see tg::dropout), the same on any data-parallel rank.
class Dropout : public Module {
 public:
  explicit Dropout(float p, std::uint64_t seed = 0);
  Var forward(Var x) override;
  std::string describe() const override;
  ModuleSpec spec() const override;  // the construction seed; the RNG's state is saved state

 private:
  float p_;
  std::uint64_t seed_;
  Rng rng_;
};

// Merges dimensions start_dim..end_dim into one (torch::nn::Flatten; dims count the batch
// dimension, so the default keeps the batch and flattens the rest: N x C x H x W -> N x CHW).
class Flatten : public Module {
 public:
  explicit Flatten(int start_dim = 1, int end_dim = -1);
  Var forward(Var x) override;
  std::string describe() const override;
  ModuleSpec spec() const override;
  Shape output_shape(const Shape& in) const override;

 private:
  int start_dim_, end_dim_;
};

// Splits dimension `dim` into `sizes` (torch::nn::Unflatten; dims count the batch dimension):
// Unflatten(1, {1, 28, 28}) turns N x 784 flat images into N x 1 x 28 x 28.
class Unflatten : public Module {
 public:
  Unflatten(int dim, Shape sizes);
  Var forward(Var x) override;
  std::string describe() const override;
  ModuleSpec spec() const override;
  Shape output_shape(const Shape& in) const override;

 private:
  int dim_;
  Shape sizes_;
  Shape shape_;  // the reshaped shape of the last input, kept so a step allocates nothing
};

}  // namespace tg
