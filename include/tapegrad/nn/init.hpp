// Weight initializers.
#pragma once

#include "tapegrad/core/rng.hpp"
#include "tapegrad/core/tensor.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace tg {

// ---- initializers (fan_in = rows of W, fan_out = cols: W is in x out) ----
enum class Init {
  xavier_uniform,  // U(-a, a), a = sqrt(6 / (fan_in + fan_out)): keeps variance through
                   // tanh/sigmoid
  xavier_normal,   // N(0, 2 / (fan_in + fan_out))
  he_uniform,  // U(-a, a), a = sqrt(6 / fan_in): keeps variance through ReLU (half the units off)
  he_normal,   // N(0, 2 / fan_in)
  lecun_uniform,  // U(-a, a), a = sqrt(3 / fan_in)
  lecun_normal,   // N(0, 1 / fan_in)
  zeros,
  constant,
};

// Fills a rows x cols tensor (fan_in = rows, fan_out = cols). `value` is used by Init::constant.
Tensor initialize(Init kind, std::size_t rows, std::size_t cols, Rng& rng, float value = 0.0f);
// The variance each random initializer aims for, for tests and documentation.
double init_variance(Init kind, std::size_t fan_in, std::size_t fan_out);
const char* init_name(Init kind);
Init init_from_name(const std::string& name);  // "he", "xavier", "lecun" (normal), or a full name

}  // namespace tg
