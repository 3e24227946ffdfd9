// Internal: vectorized array math (xsimd batches) behind the elementwise ops, the softmax rows
// and the losses. Every kernel reads x[0, n) and writes y[0, n); y may equal x. The tail (the
// last n % batch elements) runs through the same batch code on a padded copy, so an element's
// result never depends on its position in the array.
//
// Accuracy against the std:: functions evaluated in double (tests/kernels_test.cpp; worst
// measured on 1e6-point sweeps in brackets): exp <= 2 ulp [1.51], expm1 <= 2.5 [2.00],
// tanh <= 2 [1.31], sigmoid <= 3 [2.45], elu <= 3 [2.00]; denormal results and the edges of
// the float range (e^x finite up to x = 88.72, nonzero down to x = -103.97) included.
#pragma once

#include <cstddef>

namespace tg::detail {

// y = e^x
void exp(const float* x, float* y, std::size_t n);
// y = e^x - 1, accurate near 0 (keeps the sign of a zero)
void expm1(const float* x, float* y, std::size_t n);
// y = tanh(x)
void tanh(const float* x, float* y, std::size_t n);
// y = 1 / (1 + e^-x) without overflow: exactly 0 and 1 in the limits, NaN only for NaN.
void sigmoid(const float* x, float* y, std::size_t n);
// y = x for x > 0, alpha (e^x - 1) otherwise
void elu(const float* x, float* y, std::size_t n, float alpha);

// max_j x_j (-inf for n = 0)
float row_max(const float* x, std::size_t n);
// y_j = e^(x_j - shift); returns sum_j y_j (float, accumulated in per-lane partial sums)
float exp_shifted_sum(const float* x, float shift, float* y, std::size_t n);

// One softmax row: y = e^(x - max) / sum_j e^(x_j - max); returns the row's log-sum-exp,
// max + log(sum), in double. A row whose max is infinite gets y = e^(x - max) and returns the
// max (as exp(x - lse) would give).
double softmax_row(const float* x, float* y, std::size_t n);
// One log-softmax row: y = (x - max) - log(sum_j e^(x_j - max)); y = x - max when the max is
// infinite.
void log_softmax_row(const float* x, float* y, std::size_t n);

// sum_j a_j b_j and sum_j a_j in double, over 8 independent partial sums (a single running
// double sum is one long dependency chain and does not vectorize).
double dot(const float* a, const float* b, std::size_t n);
double sum(const float* a, std::size_t n);

// No other backward kernels: the ops' backward loops (dx += dy * f'(x, y)) vectorize as written.

}  // namespace tg::detail
