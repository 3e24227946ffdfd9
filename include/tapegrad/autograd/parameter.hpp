// A trainable tensor that outlives any tape.
#pragma once

#include "tapegrad/core/tensor.hpp"

#include <string>

namespace tg {

// Its value and the gradient that backward() accumulates into (until the optimizer's
// zero_grad()). A default-constructed Parameter is empty (shape 0), e.g. an absent bias.
struct Parameter {
  std::string name;
  Tensor value = zeros(Shape{0});
  Tensor grad = zeros(Shape{0});

  Parameter() = default;
  explicit Parameter(Tensor initial, std::string name = {});
  void zero_grad();
};

}  // namespace tg
