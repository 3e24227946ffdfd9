#include "tapegrad/nn/module.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <sstream>

namespace tg {

// ---- Module ----

// ---- ModuleSpec ----

namespace {
[[noreturn]] void bad_option(const ModuleSpec& spec, const std::string& key,
                             const std::string& why) {
  throw Error(spec.type + ": option '" + key + "' " + why);
}
}  // namespace

const std::string& ModuleSpec::text(const std::string& key) const {
  for (const auto& [k, v] : options)
    if (k == key) return v;
  bad_option(*this, key, "is missing");
}

std::int64_t ModuleSpec::integer(const std::string& key) const {
  const std::string& v = text(key);
  std::size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size()) bad_option(*this, key, "is not an integer: '" + v + "'");
  return n;
}

double ModuleSpec::real(const std::string& key) const {
  const std::string& v = text(key);
  std::size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size() || !std::isfinite(x))
    bad_option(*this, key, "is not a finite number: '" + v + "'");
  return x;
}

bool ModuleSpec::boolean(const std::string& key) const {
  const std::string& v = text(key);
  if (v != "0" && v != "1") bad_option(*this, key, "is not 0 or 1: '" + v + "'");
  return v == "1";
}

std::vector<std::int64_t> ModuleSpec::integers(const std::string& key) const {
  const std::string& v = text(key);
  std::vector<std::int64_t> out;
  std::size_t start = 0;
  while (start <= v.size()) {
    const std::size_t comma = std::min(v.find(',', start), v.size());
    const std::string item = v.substr(start, comma - start);
    std::size_t used = 0;
    long long n = 0;
    try {
      n = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size())
      bad_option(*this, key, "is not a list of integers: '" + v + "'");
    out.push_back(n);
    start = comma + 1;
  }
  return out;
}

bool operator==(const ModuleSpec& a, const ModuleSpec& b) {
  return a.type == b.type && a.options == b.options && a.children == b.children;
}

ModuleSpec Module::spec() const {
  throw Error(describe() + " cannot be saved as a model file (it has no spec())");
}

Module::Module(Module&& other) {
  *this = std::move(other);
}

Module& Module::operator=(Module&& other) {
  if (!other.registered_.parameters.empty() || !other.registered_.buffers.empty() ||
      !other.registered_.rngs.empty() || !other.children_.empty())
    throw Error("Module: '" + other.describe() +
                "' has registered members and cannot be moved; make it in place (e.g. with "
                "std::make_unique) instead");
  training_ = other.training_;
  label_ = std::move(other.label_);
  return *this;
}

Shape Module::output_shape(const Shape& in) const {
  if (in.empty()) return in;
  Shape out = in;
  out.back() = output_features(in.back());
  return out;
}

void Module::check_new_name(const std::string& name) const {
  const auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  if (name.empty() || name.find('.') != std::string::npos)
    throw Error("Module: the name '" + name + "' must be non-empty and without '.'");
  if (taken(registered_.parameters) || taken(registered_.buffers) || taken(registered_.rngs) ||
      taken(children_))
    throw Error("Module: the name '" + name + "' is registered twice");
}

Parameter& Module::register_parameter(const std::string& name, Parameter& parameter) {
  check_new_name(name);
  registered_.parameters.emplace_back(name, &parameter);
  if (parameter.name.empty()) parameter.name = name;
  return parameter;
}

Tensor& Module::register_buffer(const std::string& name, Tensor& buffer) {
  check_new_name(name);
  registered_.buffers.emplace_back(name, &buffer);
  return buffer;
}

Rng& Module::register_rng(const std::string& name, Rng& rng) {
  check_new_name(name);
  registered_.rngs.emplace_back(name, &rng);
  return rng;
}

void Module::add_child(const std::string& name, Module& module) {
  check_new_name(name);
  if (&module == this) throw Error("Module: '" + name + "' registers the module as its own child");
  module.set_training(training_);
  children_.emplace_back(name, &module);
}

void Module::collect(const std::string& prefix, ModuleState& state) {
  for (auto& [name, p] : registered_.parameters) state.parameters.emplace_back(prefix + name, p);
  for (auto& [name, b] : registered_.buffers) state.buffers.emplace_back(prefix + name, b);
  for (auto& [name, r] : registered_.rngs) state.rngs.emplace_back(prefix + name, r);
  for (auto& [name, child] : children_) child->collect(prefix + name + ".", state);
}

void Module::set_training(bool training) {
  training_ = training;
  for (auto& [name, child] : children_) child->set_training(training);
}

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

ModuleSpec Sequential::spec() const {
  ModuleSpec s{"Sequential", {}, {}};
  for (const auto& m : modules_) s.children.push_back(m->spec());
  return s;
}

std::size_t Sequential::output_features(std::size_t in) const {
  for (const auto& m : modules_) in = m->output_features(in);
  return in;
}

Shape Sequential::output_shape(const Shape& in) const {
  Shape shape = in;
  for (const auto& m : modules_) shape = m->output_shape(shape);
  return shape;
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
  return summary(model, Shape{input_features});
}

std::string summary(Module& model, const Shape& input_shape) {
  std::ostringstream s;
  char line[200];
  std::snprintf(line, sizeof line, "%-4s %-44s %-18s %10s\n", "#", "layer", "output", "params");
  s << line;
  auto row = [&](const std::string& index, Module& m, Shape& shape) {
    shape = m.output_shape(shape);
    std::snprintf(line, sizeof line, "%-4s %-44s %-18s %10zu\n", index.c_str(),
                  m.describe().c_str(), ("batch x " + shape_str(shape)).c_str(),
                  parameter_count(m));
    s << line;
  };
  Shape shape = input_shape;
  if (auto* seq = dynamic_cast<Sequential*>(&model)) {
    for (std::size_t i = 0; i < seq->size(); ++i) row(std::to_string(i), (*seq)[i], shape);
  } else {
    row("0", model, shape);
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
