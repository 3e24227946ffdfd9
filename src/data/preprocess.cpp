#include "tapegrad/data/preprocess.hpp"

#include <cmath>
#include <string>

namespace tg {

std::size_t Preprocessing::sample_size() const {
  std::size_t n = 1;
  for (std::size_t d : input_shape) n *= d;
  return n;
}

void Preprocessing::check() const {
  if (input_shape.empty()) throw Error("preprocessing: input_shape is empty");
  // sample_size() would wrap around silently: refuse a product beyond 2^48 first.
  std::size_t checked = 1;
  for (std::size_t d : input_shape) {
    if (d != 0 && checked > (std::size_t{1} << 48) / d)
      throw Error("preprocessing: input_shape " + shape_str(input_shape) +
                  " has more than 2^48 elements");
    checked *= d;
  }
  const std::size_t n = sample_size();
  if (n == 0)
    throw Error("preprocessing: input_shape " + shape_str(input_shape) + " has no elements");
  if (!(std::isfinite(divisor) && divisor != 0.0f))
    throw Error("preprocessing: divisor " + std::to_string(divisor) +
                " is not a finite nonzero number");
  for (const auto* v : {&mean, &stddev}) {
    const char* name = v == &mean ? "mean" : "stddev";
    if (v->size() != 1 && v->size() != n)
      throw Error(std::string("preprocessing: ") + name + " has " + std::to_string(v->size()) +
                  " values, not 1 or " + std::to_string(n));
    for (float x : *v)
      if (!std::isfinite(x) || (v == &stddev && x == 0.0f))
        throw Error(std::string("preprocessing: ") + name + " holds " + std::to_string(x));
  }
}

void Preprocessing::apply(const float* raw, float* out, std::size_t samples) const {
  const std::size_t n = sample_size();
  const bool one_mean = mean.size() == 1, one_std = stddev.size() == 1;
  for (std::size_t s = 0; s < samples; ++s) {
    const float* x = raw + s * n;
    float* y = out + s * n;
    for (std::size_t j = 0; j < n; ++j)
      y[j] = (x[j] / divisor - mean[one_mean ? 0 : j]) / stddev[one_std ? 0 : j];
  }
}

Tensor Preprocessing::apply(const Tensor& raw) const {
  check();
  const std::size_t n = sample_size();
  if (raw.dimension() < 1 || raw.shape(0) * n != raw.size())
    throw Error("preprocessing: input " + shape_str(raw) + " is not N x " + shape_str(input_shape));
  Tensor out = Tensor::from_shape(raw.shape());
  apply(raw.data(), out.data(), raw.shape(0));
  return out;
}

}  // namespace tg
