#include "tapegrad/nn/normalization.hpp"

#include "nn/spec_text.hpp"

#include <algorithm>
#include <sstream>

namespace tg {

// ---- BatchNorm2d ----

BatchNorm2d::BatchNorm2d(std::size_t num_features, float momentum, float eps)
    : weight(full(Shape{num_features}, 1.0f), "weight"),
      bias(zeros(Shape{num_features}), "bias"),
      running_mean(zeros(Shape{num_features})),
      running_var(full(Shape{num_features}, 1.0f)),
      momentum_(momentum),
      eps_(eps) {
  if (num_features == 0) throw Error("BatchNorm2d: num_features must be positive");
  register_parameter("weight", weight);
  register_parameter("bias", bias);
  register_buffer("running_mean", running_mean);
  register_buffer("running_var", running_var);
}

Var BatchNorm2d::forward(Var x) {
  const Tensor& xv = x.value();
  const std::size_t c = num_features();
  // Checked here, before the parameters are recorded, so a bad input leaves the tape as it was.
  if (xv.dimension() != 4 || xv.shape(1) != c)
    throw Error("BatchNorm2d: input is " + shape_str(xv) + ", expected N x " + std::to_string(c) +
                " x H x W");
  const std::size_t per_channel = xv.shape(0) * xv.shape(2) * xv.shape(3);
  if (training() && per_channel < 2)
    throw Error(
        "BatchNorm2d: training needs more than one value per channel to estimate a "
        "variance (input is " +
        shape_str(xv) + ")");
  Tape& t = x.tape();
  if (!training())
    return batch_norm(x, t.param(weight), t.param(bias), eps_, &running_mean, &running_var);
  Var y = batch_norm(x, t.param(weight), t.param(bias), eps_, nullptr, nullptr, &batch_mean_,
                     &batch_var_);
  // Running statistics use the unbiased variance of the N*H*W values, as PyTorch does.
  const float n = static_cast<float>(per_channel);
  const float unbias = n / (n - 1.0f);
  for (std::size_t j = 0; j < c; ++j) {
    float& mean = running_mean.data()[j];
    float& var = running_var.data()[j];
    mean = (1.0f - momentum_) * mean + momentum_ * batch_mean_.data()[j];
    var = (1.0f - momentum_) * var + momentum_ * batch_var_.data()[j] * unbias;
  }
  return y;
}

std::string BatchNorm2d::describe() const {
  std::ostringstream s;
  s << "BatchNorm2d(" << num_features() << ", momentum=" << momentum_ << ", eps=" << eps_ << ")";
  return s.str();
}

Shape BatchNorm2d::output_shape(const Shape& in) const {
  if (in.size() != 3 || in[0] != num_features())
    throw Error("BatchNorm2d: input is " + shape_str(in) + " per sample, expected " +
                std::to_string(num_features()) + " x H x W");
  return in;
}

ModuleSpec BatchNorm2d::spec() const {
  return {"BatchNorm2d",
          {{"num_features", std::to_string(num_features())},
           {"momentum", detail::spec_real(momentum_)},
           {"eps", detail::spec_real(eps_)}},
          {}};
}

// ---- LayerNorm ----

namespace {
// Whether `shape`'s last dimensions are `normalized` (both given as ranges).
template <class S>
bool ends_with(const S& shape, std::size_t rank, const Shape& normalized) {
  if (normalized.size() > rank) return false;
  return std::equal(normalized.begin(), normalized.end(),
                    shape.begin() + static_cast<std::ptrdiff_t>(rank - normalized.size()));
}
}  // namespace

LayerNorm::LayerNorm(Shape normalized_shape, float eps, bool elementwise_affine)
    : normalized_shape_(std::move(normalized_shape)), eps_(eps), affine_(elementwise_affine) {
  if (normalized_shape_.empty() || element_count(normalized_shape_) == 0)
    throw Error("LayerNorm: normalized_shape is " + shape_str(normalized_shape_) +
                ", must have at least one dimension and no zero size");
  if (affine_) {
    weight = Parameter(full(normalized_shape_, 1.0f), "weight");
    bias = Parameter(zeros(normalized_shape_), "bias");
    register_parameter("weight", weight);
    register_parameter("bias", bias);
  }
}

Var LayerNorm::forward(Var x) {
  const Tensor& xv = x.value();
  // Checked here, before the parameters are recorded, so a bad input leaves the tape as it was.
  if (!ends_with(xv.shape(), xv.dimension(), normalized_shape_))
    throw Error("LayerNorm: input is " + shape_str(xv) + " but normalized_shape is " +
                shape_str(normalized_shape_) + " (must be the input's last dimensions)");
  if (!affine_) return layer_norm(x, normalized_shape_, nullptr, nullptr, eps_);
  Tape& t = x.tape();
  const Var w = t.param(weight);
  const Var b = t.param(bias);
  return layer_norm(x, normalized_shape_, &w, &b, eps_);
}

std::string LayerNorm::describe() const {
  std::ostringstream s;
  s << "LayerNorm(" << shape_str(normalized_shape_) << ", eps=" << eps_
    << ", elementwise_affine=" << (affine_ ? "true" : "false") << ")";
  return s.str();
}

ModuleSpec LayerNorm::spec() const {
  return {"LayerNorm",
          {{"normalized_shape", detail::spec_list(normalized_shape_)},
           {"eps", detail::spec_real(eps_)},
           {"elementwise_affine", detail::spec_bool(affine_)}},
          {}};
}

Shape LayerNorm::output_shape(const Shape& in) const {
  // `in` has no batch dimension: normalized_shape may cover one more dimension than it has.
  const std::size_t k = normalized_shape_.size();
  const bool fits = k <= in.size() ? ends_with(in, in.size(), normalized_shape_)
                    : k == in.size() + 1
                        ? std::equal(in.begin(), in.end(), normalized_shape_.begin() + 1)
                        : false;
  if (!fits)
    throw Error("LayerNorm: input is " + shape_str(in) + " per sample but normalized_shape is " +
                shape_str(normalized_shape_) + " (must be its last dimensions)");
  return in;
}

}  // namespace tg
