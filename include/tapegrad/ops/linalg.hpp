// Matrix products.
#pragma once

#include "tapegrad/autograd/tape.hpp"

namespace tg {

// (m x k) . (k x n); or batched: (..., m, k) . (..., k, n) with the batch dimensions
// broadcast (a 2-D operand is shared by every batch).
Var matmul(Var a, Var b);
// x . W + b in one op (GEMM through cblas_sgemm; the backward uses transpose flags, no copies).
// x is batch x in (or any rank: the last dimension is the features), W is in x out, b is 1 x out.
Var dense(Var x, Var W, Var b);
Var dense(Var x, Var W);

}  // namespace tg
