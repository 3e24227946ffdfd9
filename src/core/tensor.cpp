#include "tapegrad/core/tensor.hpp"

#include <algorithm>
#include <limits>

namespace tg {

std::string shape_str(std::size_t r, std::size_t c) {
  return std::to_string(r) + "x" + std::to_string(c);
}

namespace {
template <class S>
std::string join_shape(const S& shape) {
  if (shape.size() == 0) return "scalar";
  std::string s;
  for (std::size_t d = 0; d < shape.size(); ++d) s += (d ? "x" : "") + std::to_string(shape[d]);
  return s;
}
}  // namespace

std::string shape_str(const Tensor& t) {
  return join_shape(t.shape());
}
std::string shape_str(const Shape& shape) {
  return join_shape(shape);
}

Shape shape_of(const Tensor& t) {
  return Shape(t.shape().begin(), t.shape().end());
}

std::size_t element_count(const Shape& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) {
    if (d != 0 && n > std::numeric_limits<std::size_t>::max() / d)
      throw Error("shape " + shape_str(shape) + " has too many elements");
    n *= d;
  }
  return n;
}

Tensor full(const Shape& shape, float value) {
  element_count(shape);
  Tensor t(Tensor::shape_type(shape.begin(), shape.end()));
  std::fill(t.begin(), t.end(), value);
  return t;
}
Tensor zeros(const Shape& shape) {
  return full(shape, 0.0f);
}
Tensor ones(const Shape& shape) {
  return full(shape, 1.0f);
}
Tensor zeros(std::size_t r, std::size_t c) {
  return full(Shape{r, c}, 0.0f);
}
Tensor full(std::size_t r, std::size_t c, float value) {
  return full(Shape{r, c}, value);
}
Tensor scalar(float value) {
  return full(Shape{}, value);
}

Tensor tensor(std::initializer_list<std::initializer_list<float>> values) {
  const std::size_t r = values.size();
  const std::size_t c = r ? values.begin()->size() : 0;
  Tensor t = zeros(r, c);
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

Tensor tensor(const Shape& shape, const std::vector<float>& values) {
  if (element_count(shape) != values.size())
    throw Error("tensor: shape " + shape_str(shape) + " holds " +
                std::to_string(element_count(shape)) + " values but " +
                std::to_string(values.size()) + " were given");
  Tensor t = zeros(shape);
  std::copy(values.begin(), values.end(), t.begin());
  return t;
}

void resize(Tensor& t, std::size_t r, std::size_t c) {
  const std::size_t shape[2] = {r, c};
  resize(t, xt::svector<std::size_t, 2>(shape, shape + 2));
}

}  // namespace tg
