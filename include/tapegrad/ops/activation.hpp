// Activations: elementwise on any rank; softmax and log_softmax along a chosen dimension.
#pragma once

#include "tapegrad/autograd/tape.hpp"

#include <string>

namespace tg {

Var sigmoid(Var x);
Var tanh(Var x);
// Forward: 1 where x >= 0 else 0. Its true gradient is 0 everywhere (nothing can learn
// through it); straight_through passes the incoming gradient where |x| <= 1 instead.
enum class StepGradient { none, straight_through };
Var step(Var x, StepGradient gradient = StepGradient::none);
Var relu(Var x);
Var leaky_relu(Var x, float alpha = 0.01f);
Var elu(Var x, float alpha = 1.0f);
Var softmax(Var x, int dim = -1);      // stable (subtracts the max along dim)
Var log_softmax(Var x, int dim = -1);  // x - logsumexp(x) along dim

// Activations by name, for layers and command lines.
enum class Activation {
  identity,
  sigmoid,
  tanh,
  step,
  relu,
  leaky_relu,
  elu,
  softmax,
  log_softmax
};
Var activate(Var x, Activation activation, float alpha = 0.0f);  // alpha 0 = the op's default
const char* activation_name(Activation activation);
Activation activation_from_name(const std::string& name);  // throws on an unknown name

}  // namespace tg
