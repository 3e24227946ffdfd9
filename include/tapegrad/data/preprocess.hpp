// What a model's raw input goes through before its first layer. It is stored with the model
// (model files, ONNX graphs), so whoever deploys it feeds raw data as the program read it.
#pragma once

#include "tapegrad/core/tensor.hpp"

#include <vector>

namespace tg {

// x' = (x / divisor - mean) / stddev, elementwise over a flattened sample, with `mean` and
// `stddev` holding one value for every element or one per element. The order of operations is
// the one the batch iterator uses, so a model sees the same floats in training and in use.
//   MNIST:  divisor 255, mean and stddev one value each (0 and 1 unless --normalize).
//   CSV:    divisor 1, the training split's per-column mean and standard deviation.
struct Preprocessing {
  Shape input_shape;  // one raw sample without the batch dimension, e.g. {784} or {30}
  float divisor = 1.0f;
  std::vector<float> mean{0.0f};
  std::vector<float> stddev{1.0f};

  std::size_t sample_size() const;  // elements of one sample: the product of input_shape
  // Throws a tg::Error naming the field when a size or value does not fit: an empty
  // input_shape, a divisor or stddev that is zero or not finite, a mean or stddev whose size is
  // neither 1 nor sample_size().
  void check() const;
  // `raw` is N x input_shape (or N x sample_size()); the result has the same shape.
  Tensor apply(const Tensor& raw) const;
  // The same into `out` (resized), one sample of sample_size() floats at a time.
  void apply(const float* raw, float* out, std::size_t samples) const;
};

}  // namespace tg
