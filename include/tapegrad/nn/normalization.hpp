// Normalisation layers for N-d inputs, as torch::nn's: BatchNorm2d (per channel of
// N x C x H x W) and LayerNorm (over the trailing dimensions). BatchNorm1d is in layers.hpp.
#pragma once

#include "tapegrad/nn/module.hpp"
#include "tapegrad/ops/normalization.hpp"

#include <string>

namespace tg {

// Batch normalisation of each channel of an N x C x H x W batch over N, H and W, as PyTorch's
// BatchNorm2d: training mode normalises with the batch's mean and (biased) variance and updates
// the running statistics (running = (1 - momentum) * running + momentum * batch, with the
// unbiased variance of the N*H*W values); evaluation mode normalises with the running
// statistics. Saved as weight, bias, running_mean and running_var, each of shape C (as torch;
// no num_batches_tracked).
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(std::size_t num_features, float momentum = 0.1f, float eps = 1e-5f);
  Var forward(Var x) override;
  std::string describe() const override;
  ModuleSpec spec() const override;
  // `in` is C x H x W (no batch dimension); C must be num_features.
  Shape output_shape(const Shape& in) const override;
  std::size_t num_features() const { return running_mean.size(); }

  Parameter weight;     // gamma, C, starts at 1
  Parameter bias;       // beta, C, starts at 0
  Tensor running_mean;  // C, starts at 0
  Tensor running_var;   // C, starts at 1

 private:
  float momentum_, eps_;
  Tensor batch_mean_, batch_var_;
};

// Layer normalisation, as PyTorch's LayerNorm: each sample's last len(normalized_shape)
// dimensions (which must equal normalized_shape) are normalised with their own mean and biased
// variance, then scaled by weight and shifted by bias elementwise (both of shape
// normalized_shape, starting at 1 and 0) when elementwise_affine. The same in training and
// evaluation.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, float eps = 1e-5f, bool elementwise_affine = true);
  Var forward(Var x) override;
  std::string describe() const override;
  ModuleSpec spec() const override;
  // `in` leaves out the batch dimension; its last dimensions must be normalized_shape.
  Shape output_shape(const Shape& in) const override;
  const Shape& normalized_shape() const { return normalized_shape_; }

  Parameter weight;  // normalized_shape, starts at 1 (empty without elementwise_affine)
  Parameter bias;    // normalized_shape, starts at 0 (empty without elementwise_affine)

 private:
  Shape normalized_shape_;
  float eps_;
  bool affine_;
};

}  // namespace tg
