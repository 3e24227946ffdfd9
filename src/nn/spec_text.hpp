// How ModuleSpec options are written as text: the one place, so every layer's spec() and
// make_module() agree on the form (see ModuleSpec in tapegrad/nn/module.hpp).
#pragma once

#include "tapegrad/ops/conv.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace tg::detail {

// The shortest decimal that reads back as the same float ("0.1" for 0.1f, not 0.100000001).
inline std::string spec_real(float value) {
  char text[32];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, static_cast<double>(value));
    if (std::strtof(text, nullptr) == value) break;
  }
  return text;
}

inline std::string spec_bool(bool value) {
  return value ? "1" : "0";
}

inline std::string spec_size2(Size2 s) {
  return std::to_string(s.h) + "," + std::to_string(s.w);
}

template <class Sizes>
std::string spec_list(const Sizes& sizes) {
  std::string s;
  for (const auto& v : sizes) s += (s.empty() ? "" : ",") + std::to_string(v);
  return s;
}

}  // namespace tg::detail
