// Layers: modules composed at run time (no compile-time layer stacks). A module turns a
// batch Var into a batch Var, owns its Parameters, and knows its saved state.
#pragma once

#include "tapegrad/core/state_dict.hpp"
#include "tapegrad/nn/init.hpp"
#include "tapegrad/ops/activation.hpp"
#include "tapegrad/ops/normalization.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tg {

// What a module contributes to the saved model, under a name prefix ("0.", "1.", ...).
struct ModuleState {
  std::vector<std::pair<std::string, Parameter*>> parameters;  // trained by optimizers
  std::vector<std::pair<std::string, Tensor*>> buffers;        // saved, not trained (BN stats)
  std::vector<std::pair<std::string, Rng*>> rngs;              // saved so a resume repeats masks
};

class Module {
 public:
  virtual ~Module() = default;
  virtual Var forward(Var x) = 0;
  Var operator()(Var x) { return forward(x); }

  // One line, e.g. "Dense(784 -> 256, bias, he_normal)".
  virtual std::string describe() const = 0;
  // Output features for `in` input features (throws if `in` does not fit), for summaries.
  virtual std::size_t output_features(std::size_t in) const { return in; }
  virtual void collect(const std::string& prefix, ModuleState& state);

  // Training mode (batch statistics, dropout on) or evaluation mode.
  virtual void set_training(bool training) { training_ = training; }
  void train() { set_training(true); }
  void eval() { set_training(false); }
  bool training() const { return training_; }

  std::vector<Parameter*> parameters();
  std::vector<std::pair<std::string, Parameter*>> named_parameters();

  // "2: Dense(256 -> 128, bias, he_normal)" once the module is in a Sequential: the name its
  // ops carry on the tape (anomaly reports, DOT graphs).
  const std::string& label() const { return label_; }
  void set_label(std::string label) { label_ = std::move(label); }

 private:
  bool training_ = true;
  std::string label_;
};

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
  void collect(const std::string& prefix, ModuleState& state) override;

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
  std::string describe() const override;
  Activation activation() const { return activation_; }

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
  void collect(const std::string& prefix, ModuleState& state) override;

  Parameter weight;     // gamma, 1 x features, starts at 1
  Parameter bias;       // beta, 1 x features, starts at 0
  Tensor running_mean;  // 1 x features, starts at 0
  Tensor running_var;   // 1 x features, starts at 1

 private:
  float momentum_, eps_;
  Tensor batch_mean_, batch_var_;
};

// Inverted dropout (seeded): in training each element is zeroed with probability p and the
// rest scaled by 1/(1-p); in evaluation it is the identity.
class Dropout : public Module {
 public:
  explicit Dropout(float p, std::uint64_t seed = 0);
  Var forward(Var x) override;
  std::string describe() const override;
  void collect(const std::string& prefix, ModuleState& state) override;

 private:
  float p_;
  Rng rng_;
};

// Runs its modules in order. Parameters are named "<index>.<name>", e.g. "0.weight".
class Sequential : public Module {
 public:
  Sequential() = default;
  Module& add(std::unique_ptr<Module> module);
  template <class M, class... Args>
  M& add(Args&&... args) {
    return static_cast<M&>(add(std::make_unique<M>(std::forward<Args>(args)...)));
  }
  Var forward(Var x) override;
  std::string describe() const override;
  std::size_t output_features(std::size_t in) const override;
  void collect(const std::string& prefix, ModuleState& state) override;
  void set_training(bool training) override;

  std::size_t size() const { return modules_.size(); }
  Module& operator[](std::size_t i) { return *modules_.at(i); }

 private:
  std::vector<std::unique_ptr<Module>> modules_;
};

// A table of the layers with their output shapes and parameter counts, and the total.
std::string summary(Module& model, std::size_t input_features);
std::size_t parameter_count(Module& model);

// The model's saved state: every parameter and buffer by name, and each RNG's state.
StateDict model_state(Module& model);
// Loads a model_state() into `model`. Every name and shape is checked before anything is
// changed: on a mismatch the error names the first mismatching tensor and the model is
// untouched. `context` (e.g. a file name) prefixes the message.
void load_model_state(Module& model, const StateDict& state, const std::string& context = {});

}  // namespace tg
