#include "tapegrad/nn/layers.hpp"

#include "tapegrad/ops/linalg.hpp"

#include <cstdio>
#include <sstream>

namespace tg {

// ---- Module ----

void Module::collect(const std::string&, ModuleState&) {}

std::vector<std::pair<std::string, Parameter*>> Module::named_parameters() {
  ModuleState state;
  collect("", state);
  return state.parameters;
}

std::vector<Parameter*> Module::parameters() {
  std::vector<Parameter*> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

// ---- Dense ----

Dense::Dense(std::size_t in, std::size_t out, Rng& rng, DenseOptions options)
    : weight(initialize(options.init, in, out, rng), "weight"), options_(options) {
  if (in == 0 || out == 0)
    throw Error("Dense: sizes must be positive (got " + shape_str(in, out) + ")");
  if (options.bias) bias = Parameter(zeros(1, out), "bias");
}

Var Dense::forward(Var x) {
  Tape& t = x.tape();
  return options_.bias ? dense(x, t.param(weight), t.param(bias)) : dense(x, t.param(weight));
}

std::string Dense::describe() const {
  return "Dense(" + std::to_string(rows(weight.value)) + " -> " +
         std::to_string(cols(weight.value)) + (options_.bias ? ", bias, " : ", no bias, ") +
         init_name(options_.init) + ")";
}

std::size_t Dense::output_features(std::size_t in) const {
  if (in != rows(weight.value))
    throw Error("Dense: input has " + std::to_string(in) + " features but W is " +
                shape_str(weight.value));
  return cols(weight.value);
}

void Dense::collect(const std::string& prefix, ModuleState& state) {
  state.parameters.emplace_back(prefix + "weight", &weight);
  if (options_.bias) state.parameters.emplace_back(prefix + "bias", &bias);
}

// ---- activations ----

std::string ActivationLayer::describe() const {
  std::string s = activation_name(activation_);
  if (alpha_ != 0.0f) s += "(alpha=" + std::to_string(alpha_) + ")";
  return s;
}

// ---- BatchNorm1d ----

BatchNorm1d::BatchNorm1d(std::size_t features, float momentum, float eps)
    : weight(full(1, features, 1.0f), "weight"),
      bias(zeros(1, features), "bias"),
      running_mean(zeros(1, features)),
      running_var(full(1, features, 1.0f)),
      momentum_(momentum),
      eps_(eps) {
  if (features == 0) throw Error("BatchNorm1d: features must be positive");
}

Var BatchNorm1d::forward(Var x) {
  Tape& t = x.tape();
  if (!training())
    return batch_norm(x, t.param(weight), t.param(bias), eps_, &running_mean, &running_var);
  Var y = batch_norm(x, t.param(weight), t.param(bias), eps_, nullptr, nullptr, &batch_mean_,
                     &batch_var_);
  // Running statistics use the unbiased variance, as PyTorch does.
  const float n = static_cast<float>(x.rows());
  const float unbias = n / (n - 1.0f);
  for (std::size_t j = 0; j < cols(running_mean); ++j) {
    running_mean(0, j) = (1.0f - momentum_) * running_mean(0, j) + momentum_ * batch_mean_(0, j);
    running_var(0, j) =
        (1.0f - momentum_) * running_var(0, j) + momentum_ * batch_var_(0, j) * unbias;
  }
  return y;
}

std::string BatchNorm1d::describe() const {
  std::ostringstream s;
  s << "BatchNorm1d(" << cols(running_mean) << ", momentum=" << momentum_ << ", eps=" << eps_
    << ")";
  return s.str();
}

std::size_t BatchNorm1d::output_features(std::size_t in) const {
  if (in != cols(running_mean))
    throw Error("BatchNorm1d: input has " + std::to_string(in) + " features but the layer has " +
                std::to_string(cols(running_mean)));
  return in;
}

void BatchNorm1d::collect(const std::string& prefix, ModuleState& state) {
  state.parameters.emplace_back(prefix + "weight", &weight);
  state.parameters.emplace_back(prefix + "bias", &bias);
  state.buffers.emplace_back(prefix + "running_mean", &running_mean);
  state.buffers.emplace_back(prefix + "running_var", &running_var);
}

// ---- Dropout ----

Dropout::Dropout(float p, std::uint64_t seed) : p_(p), rng_(seed) {
  if (!(p >= 0.0f && p < 1.0f))
    throw Error("Dropout: p is " + std::to_string(p) + ", must be in [0, 1)");
}

Var Dropout::forward(Var x) {
  if (!training() || p_ == 0.0f) return x;
  return dropout(x, p_, rng_);
}

std::string Dropout::describe() const {
  std::ostringstream s;
  s << "Dropout(p=" << p_ << ")";
  return s.str();
}

void Dropout::collect(const std::string& prefix, ModuleState& state) {
  state.rngs.emplace_back(prefix + "rng", &rng_);
}

// ---- Sequential ----

Module& Sequential::add(std::unique_ptr<Module> module) {
  if (!module) throw Error("Sequential::add: module is null");
  module->set_training(training());
  // Name the new module's parameters after their place: "3.weight".
  ModuleState state;
  module->collect(std::to_string(modules_.size()) + ".", state);
  for (auto& [name, p] : state.parameters) p->name = name;
  module->set_label(std::to_string(modules_.size()) + ": " + module->describe());
  modules_.push_back(std::move(module));
  return *modules_.back();
}

Var Sequential::forward(Var x) {
  for (auto& m : modules_) {
    LayerScope scope(&m->label());
    x = m->forward(x);
  }
  return x;
}

std::string Sequential::describe() const {
  return "Sequential(" + std::to_string(modules_.size()) + " layers)";
}

std::size_t Sequential::output_features(std::size_t in) const {
  for (const auto& m : modules_) in = m->output_features(in);
  return in;
}

void Sequential::collect(const std::string& prefix, ModuleState& state) {
  for (std::size_t i = 0; i < modules_.size(); ++i)
    modules_[i]->collect(prefix + std::to_string(i) + ".", state);
}

void Sequential::set_training(bool training) {
  Module::set_training(training);
  for (auto& m : modules_) m->set_training(training);
}

// ---- summaries and state ----

std::size_t parameter_count(Module& model) {
  std::size_t n = 0;
  for (Parameter* p : model.parameters()) n += p->value.size();
  return n;
}

std::string summary(Module& model, std::size_t input_features) {
  std::ostringstream s;
  char line[160];
  std::snprintf(line, sizeof line, "%-4s %-44s %-14s %10s\n", "#", "layer", "output", "params");
  s << line;
  auto row = [&](const std::string& index, Module& m, std::size_t& features) {
    features = m.output_features(features);
    std::snprintf(line, sizeof line, "%-4s %-44s %-14s %10zu\n", index.c_str(),
                  m.describe().c_str(), ("batch x " + std::to_string(features)).c_str(),
                  parameter_count(m));
    s << line;
  };
  std::size_t features = input_features;
  if (auto* seq = dynamic_cast<Sequential*>(&model)) {
    for (std::size_t i = 0; i < seq->size(); ++i) row(std::to_string(i), (*seq)[i], features);
  } else {
    row("0", model, features);
  }
  s << "total parameters: " << parameter_count(model) << "\n";
  return s.str();
}

StateDict model_state(Module& model) {
  ModuleState ms;
  model.collect("", ms);
  StateDict out;
  for (auto& [name, p] : ms.parameters) out.tensors[name] = p->value;
  for (auto& [name, b] : ms.buffers) out.tensors[name] = *b;
  for (auto& [name, rng] : ms.rngs) {
    const Rng::State s = rng->state();
    for (std::size_t i = 0; i < s.size(); ++i)
      out.integers[name + "." + std::to_string(i)] = static_cast<std::int64_t>(s[i]);
  }
  return out;
}

void load_model_state(Module& model, const StateDict& state, const std::string& context) {
  ModuleState ms;
  model.collect("", ms);
  const std::string where = context.empty() ? "load_model_state" : context;
  std::vector<std::pair<std::string, Tensor*>> targets;
  for (auto& [name, p] : ms.parameters) targets.emplace_back(name, &p->value);
  for (auto& [name, b] : ms.buffers) targets.emplace_back(name, b);
  // Validate everything first so a mismatch leaves the model untouched.
  for (auto& [name, dst] : targets) {
    auto it = state.tensors.find(name);
    if (it == state.tensors.end())
      throw Error(where + ": the model has tensor '" + name + "' (" + shape_str(*dst) +
                  ") but the saved state does not");
    if (it->second.shape() != dst->shape())
      throw Error(where + ": tensor '" + name + "' is " + shape_str(it->second) +
                  " in the saved state but " + shape_str(*dst) + " in the model");
  }
  for (const auto& [name, t] : state.tensors) {
    bool known = false;
    for (auto& target : targets) known = known || target.first == name;
    if (!known)
      throw Error(where + ": the saved state has tensor '" + name + "' (" + shape_str(t) +
                  ") that the model does not");
  }
  std::vector<Rng::State> rng_states;
  for (auto& [name, rng] : ms.rngs) {
    Rng::State s{};
    for (std::size_t i = 0; i < s.size(); ++i)
      s[i] = static_cast<std::uint64_t>(state.integer(name + "." + std::to_string(i), where));
    if (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0)
      throw Error(where + ": '" + name + "' holds the invalid all-zero RNG state");
    rng_states.push_back(s);
  }
  for (auto& [name, dst] : targets) *dst = state.tensors.at(name);
  for (std::size_t i = 0; i < ms.rngs.size(); ++i) ms.rngs[i].second->set_state(rng_states[i]);
  for (auto& [name, p] : ms.parameters) p->zero_grad();
}

}  // namespace tg
