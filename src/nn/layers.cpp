#include "tapegrad/nn/layers.hpp"

#include "nn/spec_text.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/shape.hpp"

#include <cstdio>
#include <sstream>

namespace tg {

// ---- Dense ----

Dense::Dense(std::size_t in, std::size_t out, Rng& rng, DenseOptions options)
    : weight(initialize(options.init, in, out, rng), "weight"), options_(options) {
  if (in == 0 || out == 0)
    throw Error("Dense: sizes must be positive (got " + shape_str(in, out) + ")");
  register_parameter("weight", weight);
  if (options.bias) register_parameter("bias", bias = Parameter(zeros(1, out), "bias"));
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

ModuleSpec Dense::spec() const {
  return {"Dense",
          {{"in_features", std::to_string(rows(weight.value))},
           {"out_features", std::to_string(cols(weight.value))},
           {"bias", detail::spec_bool(options_.bias)},
           {"init", init_name(options_.init)}},
          {}};
}

std::size_t Dense::output_features(std::size_t in) const {
  if (in != rows(weight.value))
    throw Error("Dense: input has " + std::to_string(in) + " features but W is " +
                shape_str(weight.value));
  return cols(weight.value);
}

// ---- activations ----

namespace {
// The alpha activate() uses when given 0.
float default_alpha(Activation a) {
  return a == Activation::leaky_relu ? 0.01f : a == Activation::elu ? 1.0f : 0.0f;
}
}  // namespace

float ActivationLayer::alpha() const {
  return alpha_ != 0.0f ? alpha_ : default_alpha(activation_);
}

std::string ActivationLayer::describe() const {
  std::string s = activation_name(activation_);
  // Only the activations that read alpha show it, and only when it is not their default.
  if (default_alpha(activation_) != 0.0f && alpha() != default_alpha(activation_))
    s += "(alpha=" + detail::spec_real(alpha()) + ")";
  return s;
}

ModuleSpec ActivationLayer::spec() const {
  switch (activation_) {
    case Activation::identity:
      return {"Identity", {}, {}};
    case Activation::sigmoid:
      return {"Sigmoid", {}, {}};
    case Activation::tanh:
      return {"Tanh", {}, {}};
    case Activation::step:
      return {"Step", {}, {}};
    case Activation::relu:
      return {"ReLU", {}, {}};
    case Activation::leaky_relu:
      return {"LeakyReLU", {{"negative_slope", detail::spec_real(alpha())}}, {}};
    case Activation::elu:
      return {"ELU", {{"alpha", detail::spec_real(alpha())}}, {}};
    case Activation::softmax:
      return {"Softmax", {}, {}};
    case Activation::log_softmax:
      return {"LogSoftmax", {}, {}};
  }
  return Module::spec();
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
  register_parameter("weight", weight);
  register_parameter("bias", bias);
  register_buffer("running_mean", running_mean);
  register_buffer("running_var", running_var);
}

Var BatchNorm1d::forward(Var x) {
  // Rows x features only: its running statistics count rows (BatchNorm2d does N x C x H x W).
  if (x.dim() != 2) throw Error("BatchNorm1d: input is " + x.shape() + ", not rows x features");
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

ModuleSpec BatchNorm1d::spec() const {
  return {"BatchNorm1d",
          {{"num_features", std::to_string(cols(running_mean))},
           {"momentum", detail::spec_real(momentum_)},
           {"eps", detail::spec_real(eps_)}},
          {}};
}

std::size_t BatchNorm1d::output_features(std::size_t in) const {
  if (in != cols(running_mean))
    throw Error("BatchNorm1d: input has " + std::to_string(in) + " features but the layer has " +
                std::to_string(cols(running_mean)));
  return in;
}

Shape BatchNorm1d::output_shape(const Shape& in) const {
  // forward takes rows x features only: a shape whose last dimension fits is not enough.
  if (in.size() != 1)
    throw Error("BatchNorm1d: input is batch x " + shape_str(in) + ", not rows x features");
  return {output_features(in[0])};
}

// ---- Dropout ----

Dropout::Dropout(float p, std::uint64_t seed) : p_(p), seed_(seed), rng_(seed) {
  if (!(p >= 0.0f && p < 1.0f))
    throw Error("Dropout: p is " + std::to_string(p) + ", must be in [0, 1)");
  register_rng("rng", rng_);
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

ModuleSpec Dropout::spec() const {
  return {"Dropout", {{"p", detail::spec_real(p_)}, {"seed", std::to_string(seed_)}}, {}};
}

// ---- Flatten ----

Flatten::Flatten(int start_dim, int end_dim) : start_dim_(start_dim), end_dim_(end_dim) {}

Var Flatten::forward(Var x) {
  return flatten(x, start_dim_, end_dim_);
}

std::string Flatten::describe() const {
  return "Flatten(" + std::to_string(start_dim_) + ", " + std::to_string(end_dim_) + ")";
}

ModuleSpec Flatten::spec() const {
  return {"Flatten",
          {{"start_dim", std::to_string(start_dim_)}, {"end_dim", std::to_string(end_dim_)}},
          {}};
}

Shape Flatten::output_shape(const Shape& in) const {
  // `in` has no batch dimension; the layer's dims count it.
  const std::size_t rank = in.size() + 1;
  const std::size_t start = normalize_dim(start_dim_, rank, "Flatten");
  const std::size_t end = normalize_dim(end_dim_, rank, "Flatten");
  if (start == 0) throw Error("Flatten: start_dim 0 would merge the batch dimension");
  // As the flatten op that forward runs: no dimensions to merge is an error, not a no-op.
  if (start > end)
    throw Error("Flatten: start_dim " + std::to_string(start_dim_) + " comes after end_dim " +
                std::to_string(end_dim_) + " for batch x " + shape_str(in));
  Shape out(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(start - 1));
  std::size_t merged = 1;
  for (std::size_t d = start; d <= end; ++d) merged *= in[d - 1];
  out.push_back(merged);
  out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(end), in.end());
  return out;
}

// ---- Unflatten ----

Unflatten::Unflatten(int dim, Shape sizes) : dim_(dim), sizes_(std::move(sizes)) {
  if (sizes_.empty()) throw Error("Unflatten: sizes must not be empty");
}

Shape Unflatten::output_shape(const Shape& in) const {
  // `in` has no batch dimension; dim counts it.
  const std::size_t d = normalize_dim(dim_, in.size() + 1, "Unflatten");
  if (d == 0) throw Error("Unflatten: dim 0 is the batch dimension");
  if (in[d - 1] != element_count(sizes_))
    throw Error("Unflatten: dimension " + std::to_string(d) + " of batch x " + shape_str(in) +
                " is " + std::to_string(in[d - 1]) + ", not the " +
                std::to_string(element_count(sizes_)) + " elements of " + shape_str(sizes_));
  Shape out(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(d - 1));
  out.insert(out.end(), sizes_.begin(), sizes_.end());
  out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(d), in.end());
  return out;
}

Var Unflatten::forward(Var x) {
  const Tensor& v = x.value();
  const std::size_t d = normalize_dim(dim_, v.dimension(), "Unflatten");
  if (d == 0 || v.shape(d) != element_count(sizes_))
    output_shape(Shape(v.shape().begin() + 1, v.shape().end()));  // throws, naming the shapes
  shape_.clear();  // keeps its capacity: no allocation after the first step
  for (std::size_t i = 0; i < d; ++i) shape_.push_back(v.shape(i));
  shape_.insert(shape_.end(), sizes_.begin(), sizes_.end());
  for (std::size_t i = d + 1; i < v.dimension(); ++i) shape_.push_back(v.shape(i));
  return reshape(x, shape_);
}

ModuleSpec Unflatten::spec() const {
  return {"Unflatten", {{"dim", std::to_string(dim_)}, {"sizes", detail::spec_list(sizes_)}}, {}};
}

std::string Unflatten::describe() const {
  return "Unflatten(" + std::to_string(dim_) + ", " + shape_str(sizes_) + ")";
}

}  // namespace tg
