// Elementwise arithmetic with NumPy/PyTorch broadcasting: shapes are aligned from the last
// dimension, and a dimension of 1 (or a missing one) stretches to the other's size. The
// gradient of a broadcast input is summed over the dimensions it was stretched along.
// A mismatch throws tg::Error naming the op and both shapes.
#pragma once

#include "tapegrad/autograd/tape.hpp"

namespace tg {

Var add(Var a, Var b);
Var sub(Var a, Var b);
Var mul(Var a, Var b);
Var div(Var a, Var b);
Var neg(Var x);
Var scale(Var x, float factor);      // factor * x
Var add_scalar(Var x, float value);  // x + value
Var pow(Var x, float exponent);      // x^e; d/dx = e x^(e-1)
Var pow(Var x, Var exponent);        // x^y (broadcast); d/dy = x^y log x, for x > 0
Var pow(float base, Var exponent);
Var sqrt(Var x);
Var abs(Var x);  // gradient sign(x), 0 at 0 (as PyTorch)
Var square(Var x);
Var exp(Var x);
Var log(Var x);  // natural log; log(0) = -inf (see the anomaly mode for catching it)
Var log1p(Var x);
// min(max(x, lo), hi); the gradient passes where lo <= x <= hi (as PyTorch).
Var clamp(Var x, float lo, float hi);
Var clamp_min(Var x, float lo);
Var clamp_max(Var x, float hi);
// Elementwise max/min (broadcast). On ties the gradient is split evenly (as PyTorch).
Var maximum(Var a, Var b);
Var minimum(Var a, Var b);
// mask ? a : b elementwise (all three broadcast to one shape); nonzero mask elements are true.
Var where(const Tensor& mask, Var a, Var b);

// Operators, as on torch::Tensor. A float operand stays a float (no tensor is made for it).
Var operator+(Var a, Var b);
Var operator-(Var a, Var b);
Var operator*(Var a, Var b);
Var operator/(Var a, Var b);
Var operator-(Var x);
Var operator+(Var a, float b);
Var operator+(float a, Var b);
Var operator-(Var a, float b);
Var operator-(float a, Var b);
Var operator*(Var a, float b);
Var operator*(float a, Var b);
Var operator/(Var a, float b);
Var operator/(float a, Var b);

// The shape two broadcast operands give (throws naming `op` and both shapes when they do not).
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace tg
