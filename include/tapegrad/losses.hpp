// Losses: each returns a 1x1 Var. Reduction::mean (the default) averages, Reduction::sum adds.
// Classification losses average over rows (samples); regression and binary losses average
// over all elements, as PyTorch does.
#pragma once

#include "tapegrad/tape.hpp"

#include <cstdint>
#include <vector>

namespace tg {

enum class Reduction { mean, sum };

// Cross-entropy of softmax(logits) against integer class labels, fused: loss uses
// log-sum-exp and the gradient is softmax - one_hot, so it stays finite for any logits.
Var softmax_cross_entropy(Var logits, const std::vector<std::int32_t>& labels,
                          Reduction reduction = Reduction::mean);
// The same against a probability distribution per row (soft labels): gradient softmax - target.
Var softmax_cross_entropy(Var logits, const Tensor& target_probs,
                          Reduction reduction = Reduction::mean);

// Binary cross-entropy on probabilities in (0, 1); clamped to [1e-7, 1 - 1e-7] so log(0)
// cannot happen. Prefer the logits version: it is exact where this one must clamp.
Var binary_cross_entropy(Var probs, const Tensor& targets, Reduction reduction = Reduction::mean);
// BCE of sigmoid(logits) in the stable form max(z, 0) - z t + log(1 + e^-|z|).
Var binary_cross_entropy_with_logits(Var logits, const Tensor& targets,
                                     Reduction reduction = Reduction::mean);
// -sum_j t_j log p_j per row, for users who applied softmax themselves; p clamped at 1e-7.
Var categorical_cross_entropy(Var probs, const Tensor& targets,
                              Reduction reduction = Reduction::mean);

Var mse(Var prediction, const Tensor& target, Reduction reduction = Reduction::mean);
// sqrt(mse(prediction, target, reduction)). At zero loss the gradient is defined as 0.
Var rmse(Var prediction, const Tensor& target, Reduction reduction = Reduction::mean);
Var mae(Var prediction, const Tensor& target, Reduction reduction = Reduction::mean);

// Index of the largest value in each row: the predicted class.
std::vector<std::int32_t> argmax_rows(const Tensor& scores);

}  // namespace tg
