#include "tapegrad/autograd/parameter.hpp"

#include <algorithm>

namespace tg {

Parameter::Parameter(Tensor initial, std::string n)
    : name(std::move(n)), value(std::move(initial)), grad(zeros(shape_of(value))) {}

void Parameter::zero_grad() {
  resize(grad, value.shape());
  std::fill(grad.begin(), grad.end(), 0.0f);
}

}  // namespace tg
