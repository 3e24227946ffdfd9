// Modules, as torch::nn::Module: composed at run time (no compile-time layer stacks). A module
// turns a batch Var into a batch Var, owns its Parameters, and knows its saved state.
#pragma once

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/rng.hpp"
#include "tapegrad/core/state_dict.hpp"

#include <cstdint>
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

// A module's architecture as data: what a model file stores, what tg::load_model rebuilds a
// module from, and what tg::export_onnx translates. `type` is the class name, `options` the
// constructor arguments under libtorch's names, written as text ("1" / "0" for booleans,
// "3,3" for lists, floats in shortest round-trip form), `children` a Sequential's modules in
// order. The weights are not part of it: they are the module's model_state().
//
// Types and their options (every option is always present):
//   Sequential            children
//   Dense                 in_features, out_features, bias, init
//   ReLU, Sigmoid, Tanh, Step, Softmax, LogSoftmax   (none; Softmax/LogSoftmax over the last dim)
//   LeakyReLU             negative_slope          ELU   alpha
//   BatchNorm1d           num_features, momentum, eps
//   Dropout               p, seed
//   Flatten               start_dim, end_dim      Unflatten   dim, sizes
//   Conv1d                in_channels, out_channels, kernel_size, stride, padding, dilation,
//                         groups, bias
//   Conv2d                the same, with kernel_size, stride, padding, dilation as "h,w"
//   MaxPool2d, AvgPool2d  kernel_size, stride, padding ("h,w")
//   AdaptiveAvgPool2d     output_size ("h,w")
//   BatchNorm2d           num_features, momentum, eps
//   LayerNorm             normalized_shape, eps, elementwise_affine
//   Embedding             num_embeddings, embedding_dim
//   RNN, LSTM, GRU        input_size, hidden_size, num_layers, bias, batch_first, nonlinearity
//                         ("tanh" / "relu"; RNN only)
//   LastTimeStep          (none) batch-first N x T x H -> N x H, the last step of a sequence
//   Identity              (none) Activation::identity as a layer
//   Embedding also has padding_idx ("none" or the row, in [0, num_embeddings)).
struct ModuleSpec {
  std::string type;
  std::vector<std::pair<std::string, std::string>> options;
  std::vector<ModuleSpec> children;

  // The option `key`; throws a tg::Error naming the type and the key when it is missing or
  // does not parse.
  const std::string& text(const std::string& key) const;
  std::int64_t integer(const std::string& key) const;
  double real(const std::string& key) const;
  bool boolean(const std::string& key) const;
  std::vector<std::int64_t> integers(const std::string& key) const;
};

// The same type, options in the same order and the same children.
bool operator==(const ModuleSpec& a, const ModuleSpec& b);
inline bool operator!=(const ModuleSpec& a, const ModuleSpec& b) {
  return !(a == b);
}

// A model or a part of one. Subclasses either register their members by name in their
// constructor, as in libtorch:
//
//   struct Net : tg::Module {
//     Net(tg::Rng& rng) : fc1(784, 128, rng), fc2(128, 10, rng) {
//       register_module("fc1", fc1);
//       register_module("fc2", fc2);
//     }
//     tg::Var forward(tg::Var x) override { return fc2(tg::relu(fc1(x))); }
//     std::string describe() const override { return "Net"; }
//     tg::Dense fc1, fc2;
//   };
//
// and get parameters(), the saved state ("fc1.weight") and train()/eval() for free, or
// override collect() and set_training() themselves. A module with registrations is not
// copied or moved once made (they point at its own members): moving one throws. Modules
// without (Sequential, which owns its layers) move freely.
class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&& other);
  Module& operator=(Module&& other);
  virtual ~Module() = default;
  virtual Var forward(Var x) = 0;
  Var operator()(Var x) { return forward(x); }

  // One line, e.g. "Dense(784 -> 256, bias, he_normal)".
  virtual std::string describe() const = 0;
  // The architecture as data (see ModuleSpec). The default throws "<describe()> cannot be
  // saved as a model file": a user-defined module overrides it to be saved and exported.
  virtual ModuleSpec spec() const;
  // Output features for `in` input features (throws if `in` does not fit), for summaries.
  virtual std::size_t output_features(std::size_t in) const { return in; }
  // The output shape for an input shape without its batch dimension (throws if it does not
  // fit); by default the last dimension becomes output_features() of it.
  virtual Shape output_shape(const Shape& in) const;
  // Adds this module's parameters, buffers and RNGs under `prefix`; by default the registered
  // ones, and each registered submodule's under "<prefix><name>.".
  virtual void collect(const std::string& prefix, ModuleState& state);

  // Training mode (batch statistics, dropout on) or evaluation mode; registered submodules
  // follow.
  virtual void set_training(bool training);
  void train() { set_training(true); }
  void eval() { set_training(false); }
  bool training() const { return training_; }

  std::vector<Parameter*> parameters();
  std::vector<std::pair<std::string, Parameter*>> named_parameters();

  // "2: Dense(256 -> 128, bias, he_normal)" once the module is in a Sequential: the name its
  // ops carry on the tape (anomaly reports, DOT graphs).
  const std::string& label() const { return label_; }
  void set_label(std::string label) { label_ = std::move(label); }

 protected:
  // As torch::nn::Module's: the member joins parameters(), the saved state and train()/eval()
  // under `name`. Each returns its argument. Names are unique within a module.
  Parameter& register_parameter(const std::string& name, Parameter& parameter);
  Tensor& register_buffer(const std::string& name, Tensor& buffer);
  Rng& register_rng(const std::string& name, Rng& rng);
  template <class M>
  M& register_module(const std::string& name, M& module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, Module& module);
  void check_new_name(const std::string& name) const;

  bool training_ = true;
  std::string label_;
  ModuleState registered_;  // names relative to this module
  std::vector<std::pair<std::string, Module*>> children_;
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
  ModuleSpec spec() const override;  // its modules' specs as children
  std::size_t output_features(std::size_t in) const override;
  Shape output_shape(const Shape& in) const override;
  void collect(const std::string& prefix, ModuleState& state) override;
  void set_training(bool training) override;

  std::size_t size() const { return modules_.size(); }
  Module& operator[](std::size_t i) { return *modules_.at(i); }

 private:
  std::vector<std::unique_ptr<Module>> modules_;
};

// A table of the layers with their output shapes and parameter counts, and the total. The
// input shape leaves out the batch dimension: {784} for flat images, {1, 28, 28} for N x C x H x W.
std::string summary(Module& model, const Shape& input_shape);
std::string summary(Module& model, std::size_t input_features);
std::size_t parameter_count(Module& model);
// The model's saved state: every parameter and buffer by name, and each RNG's state.
StateDict model_state(Module& model);
// Loads a model_state() into `model`. Every name and shape is checked before anything is
// changed: on a mismatch the error names the first mismatching tensor and the model is
// untouched. `context` (e.g. a file name) prefixes the message.
void load_model_state(Module& model, const StateDict& state, const std::string& context = {});

// ---- modules from specs ----

// Caps on what a spec may ask for, so that a hostile one cannot exhaust the stack or the
// memory: nesting depth of Sequentials, children of one Sequential, any one size option
// (features, channels, kernel, stride, ...) and the model's parameter and buffer elements.
constexpr std::size_t kSpecMaxDepth = 32;
constexpr std::size_t kSpecMaxChildren = 4096;
constexpr std::int64_t kSpecMaxSize = std::int64_t{1} << 24;
constexpr std::size_t kSpecMaxElements = std::size_t{1} << 27;  // 512 MiB of floats

// What model_state() of make_module(spec) holds, computed from the spec alone (nothing is
// allocated): every tensor's name and shape, and the names of the RNGs (each saved as
// "<name>.0" .. "<name>.3").
struct SpecState {
  std::vector<std::pair<std::string, Shape>> tensors;  // parameters, then buffers, by layer
  std::vector<std::string> rngs;
  std::size_t elements = 0;  // the sum over `tensors`
};

// Checks every option of every module in the tree (known type, every option present and none
// unknown, values in range, sizes under the caps) and returns the state the module will hold.
// A defect throws one tg::Error naming where: "children[3] (Conv2d): option 'stride' is not a
// list of integers: 'x'" ("root (...)" for the top module).
SpecState spec_state(const ModuleSpec& spec);
// The module a spec describes: spec_state()'s checks first, then the layers, their weights
// drawn from a fixed seed (a model file's weights replace them). make_module(m.spec()) has the
// same spec(), describe() and state names and shapes as m.
std::unique_ptr<Module> make_module(const ModuleSpec& spec);

}  // namespace tg
