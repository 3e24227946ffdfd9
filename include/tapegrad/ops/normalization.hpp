// Normalisation and regularisation ops (behind BatchNorm1d and Dropout).
#pragma once

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/rng.hpp"

namespace tg {

// Batch normalisation of each column: y = gamma * (x - mean) / sqrt(var + eps) + beta, with
// gamma and beta 1 x features. With both fixed_mean and fixed_var null it normalises with the
// batch's own statistics (training; needs more than one row) and writes them to batch_mean and
// batch_var (biased variance) when those are given; with both given it uses them
// (evaluation); one without the other is an error.
Var batch_norm(Var x, Var gamma, Var beta, float eps, const Tensor* fixed_mean = nullptr,
               const Tensor* fixed_var = nullptr, Tensor* batch_mean = nullptr,
               Tensor* batch_var = nullptr);
// Inverted dropout on any rank: zeroes each element with probability p and scales the rest
// by 1/(1-p), so the expected value is unchanged; the mask comes from rng.
Var dropout(Var x, float p, Rng& rng);

}  // namespace tg
