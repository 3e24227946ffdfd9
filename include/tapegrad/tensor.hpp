// The one tensor type of tapegrad: float32, row-major, rank 2 (a batch is rows x features).
// Scalars are 1x1 tensors, a bias is a 1xN row.
#pragma once

#include <xsimd/memory/xsimd_aligned_allocator.hpp>
#include <xtensor/xtensor.hpp>

#include <cstddef>
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace tg {

// The allocator is spelled out (64-byte aligned, enough for AVX-512) rather than left to
// xtensor's default, which depends on XTENSOR_USE_XSIMD and on the -march flags: with the
// default, a program built with other flags than the library would see another type.
using Tensor = xt::xtensor_container<xt::uvector<float, xsimd::aligned_allocator<float, 64>>, 2,
                                     xt::layout_type::row_major>;

// Every error tapegrad reports on bad input is a tg::Error whose message names what and where.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "64x784": how shapes appear in error messages.
std::string shape_str(const Tensor& t);
std::string shape_str(std::size_t rows, std::size_t cols);

Tensor zeros(std::size_t rows, std::size_t cols);
Tensor full(std::size_t rows, std::size_t cols, float value);
// Builds a tensor from nested braces: tg::tensor({{1, 2}, {3, 4}}) is 2x2.
Tensor tensor(std::initializer_list<std::initializer_list<float>> rows);

inline std::size_t rows(const Tensor& t) {
  return t.shape(0);
}
inline std::size_t cols(const Tensor& t) {
  return t.shape(1);
}

// Resizes `t` to rows x cols. Keeps the buffer when the size is unchanged, which is what
// lets a tape reuse its memory from one training step to the next.
void resize(Tensor& t, std::size_t rows, std::size_t cols);

}  // namespace tg
