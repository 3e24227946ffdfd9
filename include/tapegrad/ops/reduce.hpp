// Reductions. Dims may be negative (counted from the end); keepdim keeps each reduced
// dimension with size 1. Full reductions return a 1x1 tensor, as they always have. A dim out
// of range, or given twice, throws tg::Error naming the op, the dim and the input's shape.
// Sums accumulate in double.
#pragma once

#include "tapegrad/autograd/tape.hpp"

#include <cstdint>
#include <vector>

namespace tg {

Var sum(Var x);   // 1x1
Var mean(Var x);  // 1x1
// An empty `dims` reduces every dim (as torch): without keepdim the result is rank 0.
// The mean of no elements throws (where there is an output element to give it to).
Var sum(Var x, const std::vector<int>& dims, bool keepdim = false);
Var mean(Var x, const std::vector<int>& dims, bool keepdim = false);
// Largest / smallest value along `dim`; the gradient goes to the first position that holds it.
// A NaN wins (as in torch). An empty dim (or input, for the full forms) throws.
Var max(Var x, int dim, bool keepdim = false);
Var min(Var x, int dim, bool keepdim = false);
Var max(Var x);  // 1x1
Var min(Var x);  // 1x1
// Variance over `dims` (unbiased by default, as torch.var; an empty `dims` means all), in two
// passes. Fewer elements per output than the divisor needs (1 when unbiased) throws, where
// torch would give NaN.
Var var(Var x, const std::vector<int>& dims, bool unbiased = true, bool keepdim = false);
// log(sum(exp(x))) along `dim`, computed stably (the max is subtracted first). All -inf
// gives -inf; an infinite result passes no gradient back.
Var logsumexp(Var x, int dim, bool keepdim = false);
// Index of the largest value along `dim` (first on ties); no gradient. Shape as max's.
std::vector<std::int64_t> argmax(const Tensor& x, int dim);

}  // namespace tg
