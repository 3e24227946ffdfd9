// The one tensor type of tapegrad: float32, N-d (rank 0 to 6 without a heap-allocated shape;
// more works), row-major, contiguous, 64-byte aligned. A batch of features is rows x features,
// an image batch N x C x H x W, a sequence batch N x T x F.
#pragma once

#include <xsimd/memory/xsimd_aligned_allocator.hpp>
#include <xtensor/xarray.hpp>

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace tg {

// The allocator is spelled out (64-byte aligned, enough for AVX-512) rather than left to
// xtensor's default, which depends on XTENSOR_USE_XSIMD and on the -march flags: with the
// default, a program built with other flags than the library would see another type.
// The shape keeps up to 6 dimensions inline, so reshaping a buffer allocates nothing.
using Tensor = xt::xarray_container<xt::uvector<float, xsimd::aligned_allocator<float, 64>>,
                                    xt::layout_type::row_major, xt::svector<std::size_t, 6>>;

// Shapes in the public API (as torch's IntArrayRef): {N, C, H, W}.
using Shape = std::vector<std::size_t>;

// Every error tapegrad reports on bad input is a tg::Error whose message names what and where.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "64x784", "2x3x4x5"; a rank-0 tensor is "scalar".
std::string shape_str(const Tensor& t);
std::string shape_str(const Shape& shape);
std::string shape_str(std::size_t rows, std::size_t cols);

Shape shape_of(const Tensor& t);
std::size_t element_count(const Shape& shape);  // throws tg::Error when the product overflows

Tensor zeros(std::size_t rows, std::size_t cols);
Tensor full(std::size_t rows, std::size_t cols, float value);
Tensor zeros(const Shape& shape);
Tensor ones(const Shape& shape);
Tensor full(const Shape& shape, float value);
Tensor scalar(float value);  // rank 0
// Builds a tensor from nested braces: tg::tensor({{1, 2}, {3, 4}}) is 2x2.
Tensor tensor(std::initializer_list<std::initializer_list<float>> rows);
// A tensor of any rank from its shape and its values in row-major order.
Tensor tensor(const Shape& shape, const std::vector<float>& values);

// The matrix view every row-wise kernel uses: the last dimension is the columns, all others
// together the rows (as torch's Linear sees an N-d input). Rank 0 is 1x1, rank 1 is 1xn.
inline std::size_t cols(const Tensor& t) {
  return t.dimension() == 0 ? 1 : t.shape(t.dimension() - 1);
}
inline std::size_t rows(const Tensor& t) {
  std::size_t r = 1;
  for (std::size_t d = 0; d + 1 < t.dimension(); ++d) r *= t.shape(d);
  return r;
}

// Resizes `t`. Keeps the buffer when the element count is unchanged, which is what lets a
// tape reuse its memory from one training step to the next.
void resize(Tensor& t, std::size_t rows, std::size_t cols);
template <class S>
void resize(Tensor& t, const S& shape) {
  if (t.dimension() == shape.size() && std::equal(shape.begin(), shape.end(), t.shape().begin()))
    return;
  t.resize(Tensor::shape_type(shape.begin(), shape.end()));
}

}  // namespace tg
