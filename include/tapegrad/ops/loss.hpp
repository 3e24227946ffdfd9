// Losses, as torch.nn.functional's. Reduction::mean (the default) and Reduction::sum return a
// 1x1 Var; Reduction::none returns the unreduced losses: one per element for the elementwise
// losses, one per sample for the cross-entropies. Classification losses average over samples;
// regression and binary losses average over all elements, as PyTorch does.
//
// Targets, labels and weights are constants (no gradient) and must have the input's shape
// (no broadcasting, except pos_weight). Every bad input is a tg::Error naming the loss.
#pragma once

#include "tapegrad/autograd/tape.hpp"

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace tg {

// How the per-element (or per-sample) losses are combined, as torch's `reduction` string.
// batchmean (the sum divided by the input's first dimension, torch's "batchmean") is only for
// kl_div, where it is the mathematically correct KL divergence; every other loss rejects it.
enum class Reduction { none, mean, sum, batchmean };

// ---- cross-entropy from logits, fused with log-softmax (finite for any logits) ----

struct CrossEntropyOptions {
  std::vector<float> weight = {};    // a rescaling weight per class, or empty for none
  std::int64_t ignore_index = -100;  // samples with this label add nothing (labels only)
  float label_smoothing = 0.0f;      // in [0, 1]
  Reduction reduction = Reduction::mean;
};

// torch.nn.functional.cross_entropy with class-index targets. logits are C (one sample),
// N x C, or N x C x d1 x ... (the classes in dimension 1); labels hold one class index per
// sample in row-major order (N, or N x d1 x ...). Per sample, with p = softmax(logits),
// eps = label_smoothing and w the class weights (all 1 when none):
//   loss = (1 - eps) w_y (-log p_y) + eps / C sum_c w_c (-log p_c),   0 if y == ignore_index.
// mean divides the sum by the sum of w_y over the samples that are not ignored (the number of
// such samples without weights), as PyTorch 1.13: if all are ignored that is 0 / 0 = NaN.
// none returns the per-sample losses, shaped as the logits without dimension 1.
Var cross_entropy(Var logits, const std::vector<std::int64_t>& labels,
                  const CrossEntropyOptions& options = {});
// Labels written in braces, cross_entropy(logits, {0, 2, 1}), are labels.
inline Var cross_entropy(Var logits, std::initializer_list<std::int64_t> labels,
                         const CrossEntropyOptions& options = {}) {
  return cross_entropy(logits, std::vector<std::int64_t>(labels), options);
}
// The same against class probabilities (soft labels) of the logits' shape, classes in
// dimension 1: loss = -sum_c w_c q_c log p_c with q = (1 - eps) target + eps / C; mean divides
// by the number of samples. ignore_index does not apply (as in PyTorch).
Var cross_entropy(Var logits, const Tensor& target_probs, const CrossEntropyOptions& options = {});

// The classic forms, classes in the LAST dimension (rows x classes). With int32 labels:
// -log softmax(logits)[label] per row; against a probability distribution per row (soft
// labels): -sum_j t_j log softmax_j. mean averages over rows; none returns one loss per row.
Var softmax_cross_entropy(Var logits, const std::vector<std::int32_t>& labels,
                          Reduction reduction = Reduction::mean);
// Labels written in braces, softmax_cross_entropy(logits, {0, 2, 1}), are labels.
inline Var softmax_cross_entropy(Var logits, std::initializer_list<std::int32_t> labels,
                                 Reduction reduction = Reduction::mean) {
  return softmax_cross_entropy(logits, std::vector<std::int32_t>(labels), reduction);
}
Var softmax_cross_entropy(Var logits, const Tensor& target_probs,
                          Reduction reduction = Reduction::mean);

// ---- binary and categorical cross-entropy ----

// Binary cross-entropy on probabilities in (0, 1); clamped to [1e-7, 1 - 1e-7] so log(0)
// cannot happen (PyTorch clamps the log at -100 instead: the two agree inside the clamp).
// Prefer the logits version: it is exact where this one must clamp.
Var binary_cross_entropy(Var probs, const Tensor& targets, Reduction reduction = Reduction::mean);
// BCE of sigmoid(logits), in the stable form
//   loss = (1 - t) z + (1 + (pos_weight - 1) t) (max(-z, 0) + log(1 + e^-|z|)),
// i.e. max(z, 0) - z t + log(1 + e^-|z|) without pos_weight. pos_weight (the weight of the
// positive examples, typically one per class: shape C for N x C logits) broadcasts against the
// logits as in PyTorch: its shape must broadcast to theirs.
Var binary_cross_entropy_with_logits(Var logits, const Tensor& targets,
                                     Reduction reduction = Reduction::mean,
                                     const Tensor* pos_weight = nullptr);
// -sum_j t_j log p_j per row (the last dimension), for users who applied softmax themselves;
// p clamped at 1e-7. mean averages over rows; none returns one loss per row.
Var categorical_cross_entropy(Var probs, const Tensor& targets,
                              Reduction reduction = Reduction::mean);

// ---- regression ----

// (x - y)^2, torch.nn.functional.mse_loss.
Var mse(Var prediction, const Tensor& target, Reduction reduction = Reduction::mean);
// sqrt(mse(prediction, target, reduction)) for mean or sum (none is rejected: use mse).
// At zero loss the gradient is defined as 0.
Var rmse(Var prediction, const Tensor& target, Reduction reduction = Reduction::mean);
// |x - y|, torch.nn.functional.l1_loss. The gradient at x == y is 0.
Var mae(Var prediction, const Tensor& target, Reduction reduction = Reduction::mean);
// torch.nn.functional.huber_loss: with d = x - y, 0.5 d^2 where |d| < delta, else
// delta (|d| - 0.5 delta). delta > 0.
Var huber_loss(Var input, const Tensor& target, Reduction reduction = Reduction::mean,
               float delta = 1.0f);
// torch.nn.functional.smooth_l1_loss: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta;
// that is huber_loss(delta = beta) / beta, and mae for beta = 0. beta >= 0.
Var smooth_l1_loss(Var input, const Tensor& target, Reduction reduction = Reduction::mean,
                   float beta = 1.0f);

// ---- divergence ----

// torch.nn.functional.kl_div: input holds log-probabilities; the pointwise loss is
// target (log target - input), 0 where target is 0 (target must be >= 0: a negative one is a
// tg::Error where PyTorch returns NaN); with log_target the target holds log-probabilities
// too and the loss is exp(target) (target - input). Reduction::batchmean divides the sum by
// the input's first dimension (the KL divergence per sample); mean divides by the element
// count, as PyTorch's (which warns that this is rarely what one wants).
Var kl_div(Var input, const Tensor& target, Reduction reduction = Reduction::mean,
           bool log_target = false);

// Index of the largest value in each row: the predicted class.
std::vector<std::int32_t> argmax_rows(const Tensor& scores);

}  // namespace tg
