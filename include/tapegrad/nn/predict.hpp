// Inference: a model's outputs for a batch of inputs, without training machinery.
#pragma once

#include "tapegrad/nn/module.hpp"

#include <cstddef>

namespace tg {

// The model's output for `input` (N x the sample shape), in evaluation mode and with no tape
// recorded for a backward (as tg::evaluate), `batch_size` samples at a time so that memory
// stays bounded: N x the output shape. The model's training mode is restored afterwards, also
// when it throws. Throws a tg::Error for an input without a batch dimension, batch_size 0, or a
// model whose output does not keep the batch dimension.
Tensor predict(Module& model, const Tensor& input, std::size_t batch_size = 256);

}  // namespace tg
