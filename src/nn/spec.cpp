// Modules from specs: make_module() and spec_state(). Each type's options are read and checked
// once into a Plan, which knows the state the module will hold (so a model file's tensors can be
// compared with it before anything is allocated) and how to build the module.
#include "tapegrad/nn/conv.hpp"
#include "tapegrad/nn/embedding.hpp"
#include "tapegrad/nn/layers.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/normalization.hpp"
#include "tapegrad/nn/recurrent.hpp"

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tg {

namespace {

constexpr std::size_t kMaxRank = 8;  // the longest size list an option may hold
constexpr std::uint64_t kBuildSeed = 0;

using Builder = std::function<std::unique_ptr<Module>(Rng&)>;

struct Plan {
  SpecState state;
  Builder build;
};

// a * b, or the largest size_t when it overflows (then it is far above any cap).
std::size_t saturating_mul(std::size_t a, std::size_t b) {
  if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a)
    return std::numeric_limits<std::size_t>::max();
  return a * b;
}

std::size_t saturating_product(const Shape& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) n = saturating_mul(n, d);
  return n;
}

// The options of one node, read with range checks. Errors name the type and the option, as
// ModuleSpec's own accessors do; plan_of() puts the node's path in front.
class Options {
 public:
  Options(const ModuleSpec& spec, std::vector<const char*> known) : spec_(spec) {
    for (std::size_t i = 0; i < spec.options.size(); ++i) {
      const std::string& key = spec.options[i].first;
      bool is_known = false;
      for (const char* k : known) is_known = is_known || key == k;
      if (!is_known) {
        std::string list;
        for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        fail(key, "is not an option of " + spec.type +
                      " (its options: " + (list.empty() ? "none" : list) + ")");
      }
      for (std::size_t j = 0; j < i; ++j)
        if (spec.options[j].first == key) fail(key, "is given twice");
    }
    if (!spec.children.empty())
      throw Error(spec.type + ": has " + std::to_string(spec.children.size()) +
                  " children, but only a Sequential has children");
  }

  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    throw Error(spec_.type + ": option '" + key + "' " + why);
  }

  std::int64_t integer(const char* key, std::int64_t lo, std::int64_t hi) const {
    const std::int64_t v = spec_.integer(key);
    if (v < lo || v > hi) fail(key, "is " + std::to_string(v) + ", not in " + range(lo, hi));
    return v;
  }
  std::size_t size(const char* key, std::int64_t lo, std::int64_t hi = kSpecMaxSize) const {
    return static_cast<std::size_t>(integer(key, lo, hi));
  }
  int dim(const char* key) const {
    const std::int64_t r = static_cast<std::int64_t>(kMaxRank);
    const std::int64_t v = spec_.integer(key);
    if (v < -r || v > r) fail(key, "is " + std::to_string(v) + ", not in " + range(-r, r));
    return static_cast<int>(v);
  }
  Shape sizes(const char* key, std::size_t count_lo, std::size_t count_hi, std::int64_t lo) const {
    const std::vector<std::int64_t> v = spec_.integers(key);
    if (v.size() < count_lo || v.size() > count_hi)
      fail(key, "has " + std::to_string(v.size()) + " values, not " +
                    (count_lo == count_hi
                         ? std::to_string(count_lo)
                         : std::to_string(count_lo) + " to " + std::to_string(count_hi)) +
                    ": '" + spec_.text(key) + "'");
    Shape out;
    for (std::int64_t x : v) {
      if (x < lo || x > kSpecMaxSize)
        fail(key, "holds " + std::to_string(x) + ", not in " + range(lo, kSpecMaxSize));
      out.push_back(static_cast<std::size_t>(x));
    }
    return out;
  }
  Size2 size2(const char* key, std::int64_t lo) const {
    const Shape s = sizes(key, 2, 2, lo);
    return {s[0], s[1]};
  }
  // A float in [lo, hi] (or [lo, hi) when hi_open); lo_open excludes lo.
  float real(const char* key, double lo, double hi, bool lo_open = false,
             bool hi_open = false) const {
    const double v = spec_.real(key);
    const auto f = static_cast<float>(v);
    // The float the layer gets is checked, not the text's double (fuzz finding: eps "1e-50"
    // passed as > 0 and became 0, a layer whose spec() no longer loads).
    const bool ok =
        std::isfinite(f) && (lo_open ? f > lo : f >= lo) && (hi_open ? f < hi : f <= hi);
    if (!ok)
      fail(key, "is " + spec_.text(key) + ", not in " + (lo_open ? "(" : "[") + num(lo) + ", " +
                    num(hi) + (hi_open ? ")" : "]"));
    return f;
  }
  bool boolean(const char* key) const { return spec_.boolean(key); }
  const std::string& text(const char* key) const { return spec_.text(key); }
  std::uint64_t seed(const char* key) const {
    const std::string& v = spec_.text(key);
    const bool digits =
        !v.empty() && v.size() <= 20 && v.find_first_not_of("0123456789") == std::string::npos;
    unsigned long long n = 0;
    bool ok = digits;
    if (digits) {
      try {
        n = std::stoull(v);
      } catch (const std::exception&) {
        ok = false;  // above 2^64 - 1
      }
    }
    if (!ok) fail(key, "is not an unsigned 64-bit integer: '" + v + "'");
    return n;
  }

 private:
  static std::string range(std::int64_t lo, std::int64_t hi) {
    return "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  }
  static std::string num(double x) {
    char s[32];
    std::snprintf(s, sizeof s, "%g", x);
    return s;
  }
  const ModuleSpec& spec_;
};

void add_tensor(SpecState& s, const std::string& name, Shape shape) {
  s.elements = std::min(s.elements + saturating_product(shape), kSpecMaxElements + 1);
  s.tensors.emplace_back(name, std::move(shape));
}

Init init_option(const Options& o) {
  const std::string& name = o.text("init");
  std::string known;
  for (Init k : {Init::xavier_uniform, Init::xavier_normal, Init::he_uniform, Init::he_normal,
                 Init::lecun_uniform, Init::lecun_normal, Init::zeros, Init::constant}) {
    if (name == init_name(k)) return k;
    known += std::string(known.empty() ? "" : ", ") + init_name(k);
  }
  o.fail("init", "is '" + name + "', not one of " + known);
}

Plan dense_plan(const ModuleSpec& spec) {
  const Options o(spec, {"in_features", "out_features", "bias", "init"});
  const std::size_t in = o.size("in_features", 1), out = o.size("out_features", 1);
  const DenseOptions options{o.boolean("bias"), init_option(o)};
  Plan p;
  add_tensor(p.state, "weight", {in, out});
  if (options.bias) add_tensor(p.state, "bias", {1, out});
  p.build = [=](Rng& rng) { return std::make_unique<Dense>(in, out, rng, options); };
  return p;
}

Plan activation_plan(const ModuleSpec& spec, Activation a, const char* alpha_key) {
  std::vector<const char*> known;
  if (alpha_key) known.push_back(alpha_key);
  const Options o(spec, known);
  // Any finite slope works for LeakyReLU; ELU's alpha is a scale, 0 would mean "default".
  const float alpha = !alpha_key                    ? 0.0f
                      : a == Activation::leaky_relu ? o.real(alpha_key, -1e6, 1e6)
                                                    : o.real(alpha_key, 0, 1e6, true);
  Plan p;
  if (a == Activation::leaky_relu && alpha == 0.0f)  // slope 0 is ReLU; alpha 0 means 0.01 here
    p.build = [](Rng&) { return std::make_unique<ReLU>(); };
  else
    p.build = [=](Rng&) { return std::make_unique<ActivationLayer>(a, alpha); };
  return p;
}

// BatchNorm1d and BatchNorm2d: the same options, 1 x C or C tensors.
template <class Layer>
Plan batch_norm_plan(const ModuleSpec& spec, bool rows) {
  const Options o(spec, {"num_features", "momentum", "eps"});
  const std::size_t c = o.size("num_features", 1);
  const float momentum = o.real("momentum", 0, 1);
  const float eps = o.real("eps", 0, 1, true);
  const Shape shape = rows ? Shape{1, c} : Shape{c};
  Plan p;
  for (const char* name : {"weight", "bias", "running_mean", "running_var"})
    add_tensor(p.state, name, shape);
  p.build = [=](Rng&) { return std::make_unique<Layer>(c, momentum, eps); };
  return p;
}

Plan dropout_plan(const ModuleSpec& spec) {
  const Options o(spec, {"p", "seed"});
  const float prob = o.real("p", 0, 1, false, true);
  const std::uint64_t seed = o.seed("seed");
  Plan p;
  p.state.rngs.push_back("rng");
  p.build = [=](Rng&) { return std::make_unique<Dropout>(prob, seed); };
  return p;
}

Plan flatten_plan(const ModuleSpec& spec) {
  const Options o(spec, {"start_dim", "end_dim"});
  const int start = o.dim("start_dim"), end = o.dim("end_dim");
  Plan p;
  p.build = [=](Rng&) { return std::make_unique<Flatten>(start, end); };
  return p;
}

Plan unflatten_plan(const ModuleSpec& spec) {
  const Options o(spec, {"dim", "sizes"});
  const int dim = o.dim("dim");
  const Shape sizes = o.sizes("sizes", 1, kMaxRank, 1);
  Plan p;
  p.build = [=](Rng&) { return std::make_unique<Unflatten>(dim, sizes); };
  return p;
}

// Conv1d and Conv2d: `kernel` is {k} or {kH, kW}.
Plan conv_plan(const ModuleSpec& spec, bool two_d) {
  const Options o(spec, {"in_channels", "out_channels", "kernel_size", "stride", "padding",
                         "dilation", "groups", "bias"});
  const std::size_t in = o.size("in_channels", 1), out = o.size("out_channels", 1);
  const std::size_t groups = o.size("groups", 1);
  if (in % groups != 0 || out % groups != 0)
    o.fail("groups", "is " + std::to_string(groups) + ", which does not divide both " +
                         std::to_string(in) + " input and " + std::to_string(out) +
                         " output channels");
  const bool bias = o.boolean("bias");
  Plan p;
  if (two_d) {
    Conv2dOptions c;
    const Size2 kernel = o.size2("kernel_size", 1);
    c.stride = o.size2("stride", 1);
    c.padding = o.size2("padding", 0);
    c.dilation = o.size2("dilation", 1);
    c.groups = groups;
    c.bias = bias;
    add_tensor(p.state, "weight", {out, in / groups, kernel.h, kernel.w});
    p.build = [=](Rng& rng) { return std::make_unique<Conv2d>(in, out, kernel, rng, c); };
  } else {
    Conv1dOptions c;
    const std::size_t kernel = o.size("kernel_size", 1);
    c.stride = o.size("stride", 1);
    c.padding = o.size("padding", 0);
    c.dilation = o.size("dilation", 1);
    c.groups = groups;
    c.bias = bias;
    add_tensor(p.state, "weight", {out, in / groups, kernel});
    p.build = [=](Rng& rng) { return std::make_unique<Conv1d>(in, out, kernel, rng, c); };
  }
  if (bias) add_tensor(p.state, "bias", {out});
  return p;
}

template <class Pool>
Plan pool_plan(const ModuleSpec& spec) {
  const Options o(spec, {"kernel_size", "stride", "padding"});
  const Size2 kernel = o.size2("kernel_size", 1);
  const Size2 stride = o.size2("stride", 1);
  const Size2 padding = o.size2("padding", 0);
  if (2 * padding.h > kernel.h || 2 * padding.w > kernel.w)
    o.fail("padding",
           "is " + o.text("padding") + ", more than half the kernel " + o.text("kernel_size"));
  Plan p;
  p.build = [=](Rng&) { return std::make_unique<Pool>(kernel, stride, padding); };
  return p;
}

Plan adaptive_pool_plan(const ModuleSpec& spec) {
  const Options o(spec, {"output_size"});
  const Size2 size = o.size2("output_size", 1);
  Plan p;
  p.build = [=](Rng&) { return std::make_unique<AdaptiveAvgPool2d>(size); };
  return p;
}

Plan layer_norm_plan(const ModuleSpec& spec) {
  const Options o(spec, {"normalized_shape", "eps", "elementwise_affine"});
  const Shape shape = o.sizes("normalized_shape", 1, kMaxRank, 1);
  const float eps = o.real("eps", 0, 1, true);
  const bool affine = o.boolean("elementwise_affine");
  Plan p;
  if (affine) {
    add_tensor(p.state, "weight", shape);
    add_tensor(p.state, "bias", shape);
  } else if (saturating_product(shape) > static_cast<std::size_t>(kSpecMaxSize)) {
    o.fail("normalized_shape", "has more than " + std::to_string(kSpecMaxSize) + " elements");
  }
  p.build = [=](Rng&) { return std::make_unique<LayerNorm>(shape, eps, affine); };
  return p;
}

Plan embedding_plan(const ModuleSpec& spec) {
  const Options o(spec, {"num_embeddings", "embedding_dim", "padding_idx"});
  const std::size_t num = o.size("num_embeddings", 1), dim = o.size("embedding_dim", 1);
  std::optional<std::int64_t> padding;
  if (o.text("padding_idx") != "none") {
    const auto n = static_cast<std::int64_t>(num);
    padding = o.integer("padding_idx", -n, n - 1);
  }
  Plan p;
  add_tensor(p.state, "weight", {num, dim});
  p.build = [=](Rng& rng) { return std::make_unique<Embedding>(num, dim, rng, padding); };
  return p;
}

template <class Layer>
Plan recurrent_plan(const ModuleSpec& spec, std::size_t gates, bool rnn) {
  std::vector<const char*> known = {"input_size", "hidden_size", "num_layers", "bias",
                                    "batch_first"};
  if (rnn) known.push_back("nonlinearity");
  const Options o(spec, known);
  const std::size_t in = o.size("input_size", 1), hidden = o.size("hidden_size", 1);
  RecurrentOptions r;
  r.num_layers = o.size("num_layers", 1, 1024);
  r.bias = o.boolean("bias");
  r.batch_first = o.boolean("batch_first");
  if (rnn) {
    const std::string& act = o.text("nonlinearity");
    if (act != "tanh" && act != "relu")
      o.fail("nonlinearity", "is '" + act + "', not tanh or relu");
    r.nonlinearity = act == "relu" ? RnnNonlinearity::relu : RnnNonlinearity::tanh;
  }
  const std::size_t g = saturating_mul(gates, hidden);
  Plan p;
  for (std::size_t k = 0; k < r.num_layers && p.state.elements <= kSpecMaxElements; ++k) {
    const std::string s = "_l" + std::to_string(k);
    add_tensor(p.state, "weight_ih" + s, {k == 0 ? in : hidden, g});
    add_tensor(p.state, "weight_hh" + s, {hidden, g});
    if (r.bias) {
      add_tensor(p.state, "bias_ih" + s, {1, g});
      add_tensor(p.state, "bias_hh" + s, {1, g});
    }
  }
  p.build = [=](Rng& rng) { return std::make_unique<Layer>(in, hidden, rng, r); };
  return p;
}

Plan no_option_plan(const ModuleSpec& spec, Builder build) {
  const Options o(spec, {});
  Plan p;
  p.build = std::move(build);
  return p;
}

const char* const kTypes[] = {"Sequential",  "Dense",     "ReLU",        "Sigmoid",
                              "Tanh",        "Step",      "Softmax",     "LogSoftmax",
                              "LeakyReLU",   "ELU",       "Identity",    "BatchNorm1d",
                              "Dropout",     "Flatten",   "Unflatten",   "Conv1d",
                              "Conv2d",      "MaxPool2d", "AvgPool2d",   "AdaptiveAvgPool2d",
                              "BatchNorm2d", "LayerNorm", "Embedding",   "RNN",
                              "LSTM",        "GRU",       "LastTimeStep"};

Plan leaf_plan(const ModuleSpec& spec) {
  const std::string& t = spec.type;
  if (t == "Dense") return dense_plan(spec);
  if (t == "ReLU") return activation_plan(spec, Activation::relu, nullptr);
  if (t == "Sigmoid") return activation_plan(spec, Activation::sigmoid, nullptr);
  if (t == "Tanh") return activation_plan(spec, Activation::tanh, nullptr);
  if (t == "Step") return activation_plan(spec, Activation::step, nullptr);
  if (t == "Softmax") return activation_plan(spec, Activation::softmax, nullptr);
  if (t == "LogSoftmax") return activation_plan(spec, Activation::log_softmax, nullptr);
  if (t == "Identity") return activation_plan(spec, Activation::identity, nullptr);
  if (t == "LeakyReLU") return activation_plan(spec, Activation::leaky_relu, "negative_slope");
  if (t == "ELU") return activation_plan(spec, Activation::elu, "alpha");
  if (t == "BatchNorm1d") return batch_norm_plan<BatchNorm1d>(spec, true);
  if (t == "BatchNorm2d") return batch_norm_plan<BatchNorm2d>(spec, false);
  if (t == "Dropout") return dropout_plan(spec);
  if (t == "Flatten") return flatten_plan(spec);
  if (t == "Unflatten") return unflatten_plan(spec);
  if (t == "Conv1d") return conv_plan(spec, false);
  if (t == "Conv2d") return conv_plan(spec, true);
  if (t == "MaxPool2d") return pool_plan<MaxPool2d>(spec);
  if (t == "AvgPool2d") return pool_plan<AvgPool2d>(spec);
  if (t == "AdaptiveAvgPool2d") return adaptive_pool_plan(spec);
  if (t == "LayerNorm") return layer_norm_plan(spec);
  if (t == "Embedding") return embedding_plan(spec);
  if (t == "RNN") return recurrent_plan<RNN>(spec, 1, true);
  if (t == "LSTM") return recurrent_plan<LSTM>(spec, 4, false);
  if (t == "GRU") return recurrent_plan<GRU>(spec, 3, false);
  if (t == "LastTimeStep")
    return no_option_plan(spec, [](Rng&) { return std::make_unique<LastTimeStep>(); });
  std::string known;
  for (const char* k : kTypes) known += std::string(known.empty() ? "" : ", ") + k;
  throw Error("unknown module type '" + t + "' (known: " + known + ")");
}

// "children[3] (Conv2d): <what>", with the "Conv2d: " the message may start with removed.
[[noreturn]] void rethrow_at(const std::string& path, const ModuleSpec& spec, const Error& e) {
  std::string what = e.what();
  const std::string own = spec.type + ": ";
  if (what.compare(0, own.size(), own) == 0) what.erase(0, own.size());
  throw Error(path + " (" + spec.type + "): " + what);
}

std::string child_path(const std::string& path, std::size_t i) {
  return (path == "root" ? "" : path + ".") + "children[" + std::to_string(i) + "]";
}

Plan plan_of(const ModuleSpec& spec, const std::string& path, std::size_t depth) {
  if (spec.type != "Sequential") {
    Plan p;
    try {
      p = leaf_plan(spec);
    } catch (const Error& e) {
      rethrow_at(path, spec, e);
    }
    if (p.state.elements > kSpecMaxElements)
      throw Error(path + " (" + spec.type + "): its tensors hold more than the cap of " +
                  std::to_string(kSpecMaxElements) + " elements");
    Builder build = std::move(p.build);
    p.build = [build, path, spec](Rng& rng) {
      try {
        return build(rng);
      } catch (const Error& e) {
        rethrow_at(path, spec, e);
      }
    };
    return p;
  }
  const auto fail = [&](const std::string& what) { throw Error(path + " (Sequential): " + what); };
  if (!spec.options.empty())
    fail("option '" + spec.options[0].first + "' is not an option of Sequential (it has none)");
  if (depth >= kSpecMaxDepth)
    fail("Sequentials are nested more than " + std::to_string(kSpecMaxDepth) + " deep");
  if (spec.children.size() > kSpecMaxChildren)
    fail("has " + std::to_string(spec.children.size()) + " children, more than the cap of " +
         std::to_string(kSpecMaxChildren));
  Plan p;
  std::vector<Builder> builds;
  for (std::size_t i = 0; i < spec.children.size(); ++i) {
    const std::string at = child_path(path, i);
    Plan child = plan_of(spec.children[i], at, depth + 1);
    const std::string prefix = std::to_string(i) + ".";
    for (auto& [name, shape] : child.state.tensors)
      p.state.tensors.emplace_back(prefix + name, std::move(shape));
    for (auto& name : child.state.rngs) p.state.rngs.push_back(prefix + name);
    p.state.elements += child.state.elements;
    if (p.state.elements > kSpecMaxElements)
      throw Error(at + " (" + spec.children[i].type +
                  "): the model's tensors would hold more than the cap of " +
                  std::to_string(kSpecMaxElements) + " elements");
    builds.push_back(std::move(child.build));
  }
  p.build = [builds](Rng& rng) {
    auto seq = std::make_unique<Sequential>();
    for (const Builder& b : builds) seq->add(b(rng));
    return std::unique_ptr<Module>(std::move(seq));
  };
  return p;
}

}  // namespace

SpecState spec_state(const ModuleSpec& spec) {
  return plan_of(spec, "root", 0).state;
}

std::unique_ptr<Module> make_module(const ModuleSpec& spec) {
  Plan p = plan_of(spec, "root", 0);
  Rng rng(kBuildSeed);
  return p.build(rng);
}

}  // namespace tg
