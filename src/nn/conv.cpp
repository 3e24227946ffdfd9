#include "tapegrad/nn/conv.hpp"

#include "nn/spec_text.hpp"

#include <cmath>
#include <string>

namespace tg {

namespace {

std::string size2_str(Size2 s) {
  return std::to_string(s.h) + "x" + std::to_string(s.w);
}

// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for a convolution's weight and bias.
Tensor uniform_fan_in(const Shape& shape, std::size_t fan_in, Rng& rng) {
  const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
  Tensor t = zeros(shape);
  for (float& v : t) v = rng.uniform(-bound, bound);
  return t;
}

// The output length of a sliding window over `size` (the formula of the conv and pool ops);
// throws when the window does not fit.
std::size_t slide(const std::string& layer, const Shape& in, std::size_t size, std::size_t kernel,
                  std::size_t stride, std::size_t padding, std::size_t dilation) {
  const std::size_t span = dilation * (kernel - 1) + 1, padded = size + 2 * padding;
  if (span > padded)
    throw Error(layer + ": input is " + shape_str(in) + " but the kernel spans " +
                std::to_string(span) + ", larger than the padded input " + std::to_string(padded));
  return (padded - span) / stride + 1;
}

void check_conv_sizes(const char* layer, std::size_t in, std::size_t out, std::size_t groups,
                      bool kernel_positive, bool stride_dilation_positive) {
  const std::string name = layer;
  if (in == 0 || out == 0 || !kernel_positive)
    throw Error(name + ": channels and kernel size must be positive (got " + std::to_string(in) +
                " -> " + std::to_string(out) + ")");
  if (groups == 0 || in % groups != 0 || out % groups != 0)
    throw Error(name + ": groups " + std::to_string(groups) + " must divide both " +
                std::to_string(in) + " input and " + std::to_string(out) + " output channels");
  if (!stride_dilation_positive) throw Error(name + ": stride and dilation must be positive");
}

}  // namespace

// ---- Conv2d ----

Conv2d::Conv2d(std::size_t in_channels, std::size_t out_channels, Size2 kernel_size, Rng& rng,
               Conv2dOptions options)
    : options_(options) {
  check_conv_sizes("Conv2d", in_channels, out_channels, options.groups,
                   kernel_size.h > 0 && kernel_size.w > 0,
                   options.stride.h > 0 && options.stride.w > 0 && options.dilation.h > 0 &&
                       options.dilation.w > 0);
  const std::size_t c_in = in_channels / options.groups;
  const std::size_t fan_in = c_in * kernel_size.h * kernel_size.w;
  weight = Parameter(
      uniform_fan_in({out_channels, c_in, kernel_size.h, kernel_size.w}, fan_in, rng), "weight");
  register_parameter("weight", weight);
  if (options.bias)
    register_parameter("bias",
                       bias = Parameter(uniform_fan_in({out_channels}, fan_in, rng), "bias"));
}

Var Conv2d::forward(Var x) {
  Tape& t = x.tape();
  if (!options_.bias) return conv2d(x, t.param(weight), options_);
  return conv2d(x, t.param(weight), t.param(bias), options_);
}

std::string Conv2d::describe() const {
  const Conv2dOptions& o = options_;
  std::string s = "Conv2d(" + std::to_string(weight.value.shape(1) * o.groups) + " -> " +
                  std::to_string(weight.value.shape(0)) + ", kernel " +
                  size2_str({weight.value.shape(2), weight.value.shape(3)});
  if (o.stride != Size2(1)) s += ", stride " + size2_str(o.stride);
  if (o.padding != Size2(0)) s += ", padding " + size2_str(o.padding);
  if (o.dilation != Size2(1)) s += ", dilation " + size2_str(o.dilation);
  if (o.groups != 1) s += ", groups " + std::to_string(o.groups);
  if (!o.bias) s += ", no bias";
  return s + ")";
}

ModuleSpec Conv2d::spec() const {
  const Conv2dOptions& o = options_;
  return {"Conv2d",
          {{"in_channels", std::to_string(weight.value.shape(1) * o.groups)},
           {"out_channels", std::to_string(weight.value.shape(0))},
           {"kernel_size", detail::spec_size2({weight.value.shape(2), weight.value.shape(3)})},
           {"stride", detail::spec_size2(o.stride)},
           {"padding", detail::spec_size2(o.padding)},
           {"dilation", detail::spec_size2(o.dilation)},
           {"groups", std::to_string(o.groups)},
           {"bias", detail::spec_bool(o.bias)}},
          {}};
}

Shape Conv2d::output_shape(const Shape& in) const {
  const std::size_t c_in = weight.value.shape(1) * options_.groups;
  if (in.size() != 3 || in[0] != c_in)
    throw Error("Conv2d: input is " + shape_str(in) + " but must be " + std::to_string(c_in) +
                " x H x W");
  const Conv2dOptions& o = options_;
  return {weight.value.shape(0),
          slide("Conv2d", in, in[1], weight.value.shape(2), o.stride.h, o.padding.h, o.dilation.h),
          slide("Conv2d", in, in[2], weight.value.shape(3), o.stride.w, o.padding.w, o.dilation.w)};
}

// ---- Conv1d ----

Conv1d::Conv1d(std::size_t in_channels, std::size_t out_channels, std::size_t kernel_size, Rng& rng,
               Conv1dOptions options)
    : options_(options) {
  check_conv_sizes("Conv1d", in_channels, out_channels, options.groups, kernel_size > 0,
                   options.stride > 0 && options.dilation > 0);
  const std::size_t c_in = in_channels / options.groups;
  const std::size_t fan_in = c_in * kernel_size;
  weight = Parameter(uniform_fan_in({out_channels, c_in, kernel_size}, fan_in, rng), "weight");
  register_parameter("weight", weight);
  if (options.bias)
    register_parameter("bias",
                       bias = Parameter(uniform_fan_in({out_channels}, fan_in, rng), "bias"));
}

Var Conv1d::forward(Var x) {
  Tape& t = x.tape();
  if (!options_.bias) return conv1d(x, t.param(weight), options_);
  return conv1d(x, t.param(weight), t.param(bias), options_);
}

std::string Conv1d::describe() const {
  const Conv1dOptions& o = options_;
  std::string s = "Conv1d(" + std::to_string(weight.value.shape(1) * o.groups) + " -> " +
                  std::to_string(weight.value.shape(0)) + ", kernel " +
                  std::to_string(weight.value.shape(2));
  if (o.stride != 1) s += ", stride " + std::to_string(o.stride);
  if (o.padding != 0) s += ", padding " + std::to_string(o.padding);
  if (o.dilation != 1) s += ", dilation " + std::to_string(o.dilation);
  if (o.groups != 1) s += ", groups " + std::to_string(o.groups);
  if (!o.bias) s += ", no bias";
  return s + ")";
}

ModuleSpec Conv1d::spec() const {
  const Conv1dOptions& o = options_;
  return {"Conv1d",
          {{"in_channels", std::to_string(weight.value.shape(1) * o.groups)},
           {"out_channels", std::to_string(weight.value.shape(0))},
           {"kernel_size", std::to_string(weight.value.shape(2))},
           {"stride", std::to_string(o.stride)},
           {"padding", std::to_string(o.padding)},
           {"dilation", std::to_string(o.dilation)},
           {"groups", std::to_string(o.groups)},
           {"bias", detail::spec_bool(o.bias)}},
          {}};
}

Shape Conv1d::output_shape(const Shape& in) const {
  const std::size_t c_in = weight.value.shape(1) * options_.groups;
  if (in.size() != 2 || in[0] != c_in)
    throw Error("Conv1d: input is " + shape_str(in) + " but must be " + std::to_string(c_in) +
                " x L");
  const Conv1dOptions& o = options_;
  return {weight.value.shape(0),
          slide("Conv1d", in, in[1], weight.value.shape(2), o.stride, o.padding, o.dilation)};
}

// ---- pools ----

namespace {

std::string pool_describe(const char* layer, Size2 kernel, Size2 stride, Size2 padding) {
  std::string s = std::string(layer) + "(kernel " + size2_str(kernel);
  if (stride != Size2(0) && stride != kernel) s += ", stride " + size2_str(stride);
  if (padding != Size2(0)) s += ", padding " + size2_str(padding);
  return s + ")";
}

Shape pool_shape(const char* layer, const Shape& in, Size2 kernel, Size2 stride, Size2 padding) {
  if (in.size() != 3)
    throw Error(std::string(layer) + ": input is " + shape_str(in) + " but must be C x H x W");
  if (stride == Size2(0)) stride = kernel;
  return {in[0], slide(layer, in, in[1], kernel.h, stride.h, padding.h, 1),
          slide(layer, in, in[2], kernel.w, stride.w, padding.w, 1)};
}

// The stride is written as used: 0 (the default) means the kernel size.
ModuleSpec pool_spec(const char* layer, Size2 kernel, Size2 stride, Size2 padding) {
  return {layer,
          {{"kernel_size", detail::spec_size2(kernel)},
           {"stride", detail::spec_size2(stride == Size2(0) ? kernel : stride)},
           {"padding", detail::spec_size2(padding)}},
          {}};
}

void check_pool(const char* layer, Size2 kernel, Size2 padding) {
  if (kernel.h == 0 || kernel.w == 0)
    throw Error(std::string(layer) + ": the kernel " + size2_str(kernel) + " must be positive");
  if (2 * padding.h > kernel.h || 2 * padding.w > kernel.w)
    throw Error(std::string(layer) + ": padding " + size2_str(padding) +
                " must be at most half the kernel " + size2_str(kernel));
}

}  // namespace

MaxPool2d::MaxPool2d(Size2 kernel_size, Size2 stride, Size2 padding)
    : kernel_(kernel_size), stride_(stride), padding_(padding) {
  check_pool("MaxPool2d", kernel_, padding_);
}
Var MaxPool2d::forward(Var x) {
  return max_pool2d(x, kernel_, stride_, padding_);
}
std::string MaxPool2d::describe() const {
  return pool_describe("MaxPool2d", kernel_, stride_, padding_);
}
ModuleSpec MaxPool2d::spec() const {
  return pool_spec("MaxPool2d", kernel_, stride_, padding_);
}
Shape MaxPool2d::output_shape(const Shape& in) const {
  return pool_shape("MaxPool2d", in, kernel_, stride_, padding_);
}

AvgPool2d::AvgPool2d(Size2 kernel_size, Size2 stride, Size2 padding)
    : kernel_(kernel_size), stride_(stride), padding_(padding) {
  check_pool("AvgPool2d", kernel_, padding_);
}
Var AvgPool2d::forward(Var x) {
  return avg_pool2d(x, kernel_, stride_, padding_);
}
std::string AvgPool2d::describe() const {
  return pool_describe("AvgPool2d", kernel_, stride_, padding_);
}
ModuleSpec AvgPool2d::spec() const {
  return pool_spec("AvgPool2d", kernel_, stride_, padding_);
}
Shape AvgPool2d::output_shape(const Shape& in) const {
  return pool_shape("AvgPool2d", in, kernel_, stride_, padding_);
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Size2 output_size) : output_size_(output_size) {
  if (output_size.h == 0 || output_size.w == 0)
    throw Error("AdaptiveAvgPool2d: the output size " + size2_str(output_size) +
                " must be positive");
}
Var AdaptiveAvgPool2d::forward(Var x) {
  return adaptive_avg_pool2d(x, output_size_);
}
std::string AdaptiveAvgPool2d::describe() const {
  return "AdaptiveAvgPool2d(" + size2_str(output_size_) + ")";
}
ModuleSpec AdaptiveAvgPool2d::spec() const {
  return {"AdaptiveAvgPool2d", {{"output_size", detail::spec_size2(output_size_)}}, {}};
}
Shape AdaptiveAvgPool2d::output_shape(const Shape& in) const {
  if (in.size() != 3)
    throw Error("AdaptiveAvgPool2d: input is " + shape_str(in) + " but must be C x H x W");
  return {in[0], output_size_.h, output_size_.w};
}

}  // namespace tg
