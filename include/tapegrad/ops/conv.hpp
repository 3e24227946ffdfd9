// Convolutions and pooling, as torch::nn::functional: conv1d (N x C x L), conv2d and the 2-D
// pools (N x C x H x W), float32. Convolutions are im2col over the whole batch into one column
// matrix and one GEMM per group (detail::gemm: bit-identical for any thread count); the
// backward is two GEMMs (weight, input columns) and col2im.
#pragma once

#include "tapegrad/autograd/tape.hpp"

#include <cstddef>

namespace tg {

// A (height, width) pair, as torch's ExpandingArray<2>: `2` means (2, 2), `{2, 1}` (2, 1).
struct Size2 {
  std::size_t h = 0, w = 0;
  constexpr Size2() = default;
  constexpr Size2(std::size_t both) : h(both), w(both) {}  // NOLINT: implicit, as torch's
  constexpr Size2(std::size_t height, std::size_t width) : h(height), w(width) {}
  bool operator==(const Size2& o) const { return h == o.h && w == o.w; }
  bool operator!=(const Size2& o) const { return !(*this == o); }
};

// torch::nn::Conv2dOptions without the channels and kernel (which the layer's constructor
// takes, and the op reads from the weight). `bias` is used by the Conv2d layer only: the op
// adds a bias when it is given one.
struct Conv2dOptions {
  Size2 stride = 1;
  Size2 padding = 0;  // zeros on each side
  Size2 dilation = 1;
  std::size_t groups = 1;
  bool bias = true;
};

struct Conv1dOptions {
  std::size_t stride = 1;
  std::size_t padding = 0;
  std::size_t dilation = 1;
  std::size_t groups = 1;
  bool bias = true;  // the Conv1d layer only
};

// input N x C_in x H x W, weight C_out x C_in/groups x kH x kW, bias C_out (or null):
// N x C_out x H_out x W_out with H_out = (H + 2 padding.h - dilation.h (kH - 1) - 1) / stride.h
// + 1 (and so for W), as F::conv2d.
Var conv2d(Var input, Var weight, const Var* bias, const Conv2dOptions& options = {});
Var conv2d(Var input, Var weight, Var bias, const Conv2dOptions& options = {});
Var conv2d(Var input, Var weight, const Conv2dOptions& options = {});

// input N x C_in x L, weight C_out x C_in/groups x k, bias C_out (or null): N x C_out x L_out.
Var conv1d(Var input, Var weight, const Var* bias, const Conv1dOptions& options = {});
Var conv1d(Var input, Var weight, Var bias, const Conv1dOptions& options = {});
Var conv1d(Var input, Var weight, const Conv1dOptions& options = {});

// Pools of N x C x H x W, each channel on its own. A stride of 0 (the default) is the kernel
// size, as torch's empty stride; padding is at most half the kernel (as torch requires).
// H_out = (H + 2 padding.h - kernel.h) / stride.h + 1 (ceil_mode false).
//
// max_pool2d pads with -infinity; the gradient goes to the first maximum of each window (in
// row-major order), and a NaN in a window is its maximum (the last NaN gets the gradient), as
// torch.
Var max_pool2d(Var input, Size2 kernel_size, Size2 stride = 0, Size2 padding = 0);
// The mean of each window, the zero padding counted (count_include_pad = true, torch's default).
Var avg_pool2d(Var input, Size2 kernel_size, Size2 stride = 0, Size2 padding = 0);
// Averages over windows that tile the input into output_size cells: cell i of n over H covers
// rows floor(i H / n) to ceil((i + 1) H / n) - 1, as torch. {1, 1} is global average pooling.
Var adaptive_avg_pool2d(Var input, Size2 output_size);

}  // namespace tg
