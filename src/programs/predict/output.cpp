#include "output.hpp"

#include <algorithm>
#include <cstdio>

namespace {
std::string number(const char* format, float v) {
  char s[64];
  std::snprintf(s, sizeof s, format, static_cast<double>(v));
  return s;
}
}  // namespace

std::string prediction_line(const std::string& label, const tg::Tensor& outputs, std::size_t row,
                            const tg::ModelInfo& info) {
  const std::size_t width = tg::cols(outputs);
  const float* y = outputs.data() + row * width;
  std::string line = label + ":";
  if (info.is_classification()) {
    const auto best = static_cast<std::size_t>(std::max_element(y, y + width) - y);
    line += " class " + (info.class_names.empty() ? std::to_string(best) : info.class_names[best]);
    line += " (" + number("%.4f", y[best]) + ")  p=[";
    for (std::size_t j = 0; j < width; ++j) line += (j ? " " : "") + number("%.4f", y[j]);
    return line + "]";
  }
  if (width == 1) return line + " " + number("%.7g", y[0]);
  for (std::size_t j = 0; j < width; ++j) {
    const std::string name =
        info.target_names.empty() ? "t" + std::to_string(j) : info.target_names[j];
    line += " " + name + "=" + number("%.7g", y[j]);
  }
  return line;
}
