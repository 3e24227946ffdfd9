// Normalisation and regularisation ops (behind BatchNorm1d/2d, LayerNorm and Dropout).
#pragma once

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/rng.hpp"

namespace tg {

// Batch normalisation per channel, as torch.nn.functional.batch_norm: x is N x C (rows x
// features) or N x C x d1 x ... (N x C x H x W for images), and each channel c is normalised
// over N and every d: y = gamma * (x - mean) / sqrt(var + eps) + beta, with gamma and beta
// holding one value per channel (shape C or 1 x C, as fixed_mean and fixed_var). With both
// fixed_mean and fixed_var null it normalises with the batch's own statistics (training; needs
// more than one value per channel) and writes them to batch_mean and batch_var (1 x C, biased
// variance) when those are given; with both given it uses them (evaluation); one without the
// other is an error.
Var batch_norm(Var x, Var gamma, Var beta, float eps, const Tensor* fixed_mean = nullptr,
               const Tensor* fixed_var = nullptr, Tensor* batch_mean = nullptr,
               Tensor* batch_var = nullptr);
// Layer normalisation, as torch.nn.functional.layer_norm: each group of the last
// len(normalized_shape) dimensions of x (which must equal normalized_shape) is normalised with
// its own mean and biased variance, y = (x - mean) / sqrt(var + eps) * weight + bias; weight and
// bias (each optional: null leaves it out) have shape normalized_shape, elementwise.
Var layer_norm(Var x, const Shape& normalized_shape, const Var* weight = nullptr,
               const Var* bias = nullptr, float eps = 1e-5f);
// Inverted dropout on any rank: zeroes each element with probability p and scales the rest
// by 1/(1-p), so the expected value is unchanged; the mask comes from rng. When the tape has
// a run position (Tape::set_run_position, set by tg::fit), row r's mask is drawn from a
// generator keyed by rng's state (not advanced), this op's place on the tape and the row's
// run position + r: a sample gets its mask whichever shard or rank computes it.
Var dropout(Var x, float p, Rng& rng);

}  // namespace tg
