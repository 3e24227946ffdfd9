#include "tapegrad/tensor.hpp"

#include <algorithm>

namespace tg {

std::string shape_str(std::size_t r, std::size_t c) {
  return std::to_string(r) + "x" + std::to_string(c);
}

std::string shape_str(const Tensor& t) {
  return shape_str(rows(t), cols(t));
}

Tensor zeros(std::size_t r, std::size_t c) {
  return full(r, c, 0.0f);
}

Tensor full(std::size_t r, std::size_t c, float value) {
  Tensor t({r, c});
  std::fill(t.begin(), t.end(), value);
  return t;
}

Tensor tensor(std::initializer_list<std::initializer_list<float>> values) {
  const std::size_t r = values.size();
  const std::size_t c = r ? values.begin()->size() : 0;
  Tensor t({r, c});
  std::size_t i = 0;
  for (const auto& row : values) {
    if (row.size() != c)
      throw Error("tensor: row " + std::to_string(i) + " has " + std::to_string(row.size()) +
                  " values but row 0 has " + std::to_string(c));
    std::copy(row.begin(), row.end(), t.data() + i * c);
    ++i;
  }
  return t;
}

void resize(Tensor& t, std::size_t r, std::size_t c) {
  if (t.shape(0) != r || t.shape(1) != c) t.resize({r, c});
}

}  // namespace tg
