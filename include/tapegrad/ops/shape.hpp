// Shape ops: they move or copy values, and their backward moves the gradient back.
// Dims may be negative (counted from the end). Results are contiguous copies. Bad arguments
// throw tg::Error naming the op and the input's shape; the tape is then left as it was.
#pragma once

#include "tapegrad/autograd/tape.hpp"

#include <cstdint>
#include <vector>

namespace tg {

// The same values in another shape of the same element count (no -1 to infer a size).
Var reshape(Var x, const Shape& shape);
Var view(Var x, const Shape& shape);  // as reshape (tapegrad tensors are always contiguous)
// Dimensions start_dim..end_dim merged into one (torch.flatten); a scalar becomes 1 element.
Var flatten(Var x, int start_dim = 0, int end_dim = -1);
Var squeeze(Var x, int dim);    // removes `dim`, which must have size 1
Var squeeze(Var x);             // removes every dimension of size 1
Var unsqueeze(Var x, int dim);  // dim in [-rank - 1, rank]
Var transpose(Var x, int dim0, int dim1);
Var permute(Var x, const std::vector<int>& dims);
// Elements start..end-1 along dim (torch.narrow(x, dim, start, end - start)).
Var slice(Var x, int dim, std::size_t start, std::size_t end);
// Joins inputs of one rank whose shapes differ only along `dim` (not scalars).
Var cat(const std::vector<Var>& xs, int dim = 0);
// Joins inputs of one shape along a new dim, in [-rank - 1, rank].
Var stack(const std::vector<Var>& xs, int dim = 0);
// The rows (or slices along dim) named by `indices`: the embedding lookup. The gradient of
// a row used twice gets both contributions. An index outside [0, size) throws naming it and its
// position in `indices`.
Var index_select(Var x, int dim, const std::vector<std::int64_t>& indices);
// out[i][j] = x[i][index[i][j]] along dim (torch.gather); index has x's rank, is no larger
// than x along the other dims, and holds element_count(index_shape) values in row-major order.
Var gather(Var x, int dim, const std::vector<std::int64_t>& index, const Shape& index_shape);
// Constant padding: pads[2k], pads[2k+1] = elements before / after along dim -1-k (as
// torch.nn.functional.pad: the last dimension first).
Var pad(Var x, const std::vector<std::size_t>& pads, float value = 0.0f);

// A negative dim counted from the end, checked against rank (error names `op`).
std::size_t normalize_dim(int dim, std::size_t rank, const char* op);

}  // namespace tg
