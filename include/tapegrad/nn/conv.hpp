// Convolution and pooling layers, as torch::nn: Conv1d, Conv2d, MaxPool2d, AvgPool2d,
// AdaptiveAvgPool2d. Inputs are N x C x L (Conv1d) or N x C x H x W; output_shape() takes and
// gives shapes without the batch dimension, so tg::summary shows C x H x W.
#pragma once

#include "tapegrad/nn/module.hpp"
#include "tapegrad/ops/conv.hpp"

#include <string>

namespace tg {

// conv2d with a weight C_out x C_in/groups x kH x kW and (options.bias) a bias C_out, both
// initialised as PyTorch's: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C_in/groups*kH*kW
// (kaiming_uniform with a = sqrt(5)), the weight drawn first.
class Conv2d : public Module {
 public:
  Conv2d(std::size_t in_channels, std::size_t out_channels, Size2 kernel_size, Rng& rng,
         Conv2dOptions options = {});
  Var forward(Var x) override;
  std::string describe() const override;
  ModuleSpec spec() const override;
  Shape output_shape(const Shape& in) const override;  // C_in x H x W -> C_out x H' x W'
  const Conv2dOptions& options() const { return options_; }

  Parameter weight;  // C_out x C_in/groups x kH x kW
  Parameter bias;    // C_out (empty when options.bias is false)

 private:
  Conv2dOptions options_;
};

// conv1d with a weight C_out x C_in/groups x k and a bias C_out, initialised as Conv2d.
class Conv1d : public Module {
 public:
  Conv1d(std::size_t in_channels, std::size_t out_channels, std::size_t kernel_size, Rng& rng,
         Conv1dOptions options = {});
  Var forward(Var x) override;
  std::string describe() const override;
  ModuleSpec spec() const override;
  Shape output_shape(const Shape& in) const override;  // C_in x L -> C_out x L'
  const Conv1dOptions& options() const { return options_; }

  Parameter weight;  // C_out x C_in/groups x k
  Parameter bias;    // C_out (empty when options.bias is false)

 private:
  Conv1dOptions options_;
};

// max_pool2d as a layer; stride 0 (the default) is the kernel size.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel_size, Size2 stride = 0, Size2 padding = 0);
  Var forward(Var x) override;
  std::string describe() const override;
  ModuleSpec spec() const override;
  Shape output_shape(const Shape& in) const override;

 private:
  Size2 kernel_, stride_, padding_;
};

// avg_pool2d as a layer (count_include_pad = true); stride 0 (the default) is the kernel size.
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel_size, Size2 stride = 0, Size2 padding = 0);
  Var forward(Var x) override;
  std::string describe() const override;
  ModuleSpec spec() const override;
  Shape output_shape(const Shape& in) const override;

 private:
  Size2 kernel_, stride_, padding_;
};

// adaptive_avg_pool2d as a layer: {1, 1} is global average pooling.
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Size2 output_size);
  Var forward(Var x) override;
  std::string describe() const override;
  ModuleSpec spec() const override;
  Shape output_shape(const Shape& in) const override;

 private:
  Size2 output_size_;
};

}  // namespace tg
