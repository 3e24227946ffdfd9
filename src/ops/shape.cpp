// Shape ops, each forward beside its backward. Every result is a contiguous copy; the backward
// adds the output's gradient back at the positions the values came from, so a value copied
// twice (index_select, gather, cat of the same Var) gets both contributions.
#include "tapegrad/ops/shape.hpp"

#include "ops/op_util.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <string>
#include <vector>

namespace tg {

using detail::Dims;

std::size_t normalize_dim(int dim, std::size_t rank, const char* op) {
  const long r = static_cast<long>(rank);
  if (dim < -r || dim >= r)
    throw Error(std::string(op) + ": dim " + std::to_string(dim) + " is out of range for rank " +
                std::to_string(rank) +
                (rank ? " (valid: " + std::to_string(-r) + " to " + std::to_string(r - 1) + ")"
                      : " (a scalar has no dims)"));
  return static_cast<std::size_t>(dim < 0 ? dim + r : dim);
}

namespace {

// normalize_dim against `rank` (x's rank, or one more where a dim is inserted), with x's
// shape in the message.
std::size_t checked_dim(int dim, std::size_t rank, const Tensor& x, const char* op) {
  const long r = static_cast<long>(rank);
  if (dim < -r || dim >= r)
    throw Error(std::string(op) + ": dim " + std::to_string(dim) + " is out of range for the " +
                shape_str(x) + " input (valid: " + std::to_string(-r) + " to " +
                std::to_string(r - 1) + ")");
  return static_cast<std::size_t>(dim < 0 ? dim + r : dim);
}
std::size_t checked_dim(int dim, const Tensor& x, const char* op) {
  return checked_dim(dim, x.dimension(), x, op);
}

template <class S>
std::string join(const S& values) {
  std::string s;
  for (auto v : values) s += (s.empty() ? "" : ", ") + std::to_string(v);
  return "[" + s + "]";
}

// The product of `shape`, or SIZE_MAX when it overflows (no real tensor has that many).
template <class S>
std::size_t product(const S& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) {
    if (d != 0 && n > std::numeric_limits<std::size_t>::max() / d)
      return std::numeric_limits<std::size_t>::max();
    n *= d;
  }
  return n;
}

template <class S>
Dims row_major_strides(const S& shape) {
  Dims strides(shape.size(), 1);
  std::size_t stride = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    strides[d] = stride;
    stride *= shape[d];
  }
  return strides;
}

// A walk over `shape` in row-major order whose second index steps by `strides` (see
// detail::for_each_broadcast): f(index in shape, index by strides).
using Walk = detail::Broadcast<1>;

template <class S>
void plan_walk(Walk& w, const S& shape, const Dims& strides) {
  w.shape.assign(shape.begin(), shape.end());
  w.size = product(shape);
  w.strides[0] = strides;
  w.same_shapes = false;
}

template <class F>
void walk(const Walk& w, F&& f) {
  detail::for_each_broadcast(
      w, [&](std::size_t i, const std::array<std::size_t, 1>& at) { f(i, at[0]); });
}

// The product of the dimensions before / after dim d.
std::size_t outer_of(const Tensor& x, std::size_t d) {
  std::size_t n = 1;
  for (std::size_t k = 0; k < d; ++k) n *= x.shape(k);
  return n;
}
std::size_t inner_of(const Tensor& x, std::size_t d) {
  std::size_t n = 1;
  for (std::size_t k = d + 1; k < x.dimension(); ++k) n *= x.shape(k);
  return n;
}

// x's shape with a dimension of `size` inserted before dim d. (Built by push_back: GCC's
// -Warray-bounds misfires inside svector::insert.)
Dims with_dim_inserted(const Tensor& x, std::size_t d, std::size_t size) {
  Dims shape;
  for (std::size_t k = 0; k <= x.dimension(); ++k) {
    if (k == d) shape.push_back(size);
    if (k < x.dimension()) shape.push_back(x.shape(k));
  }
  return shape;
}

void add_into(float* d, const float* g, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) d[i] += g[i];
}

// ---- reshape, view, flatten, squeeze, unsqueeze: the same values in the same order ----

static void same_order_backward(Tape& t, const Node& n) {
  if (Tensor* dx = t.grad_at(n.inputs[0])) add_into(dx->data(), n.grad.data(), n.grad.size());
}

template <class S>
Var same_order(const char* op, Var x, const S& shape) {
  const Tensor& xv = x.value();
  Tape& t = x.tape();
  Var out = t.record(op, {x}, same_order_backward);
  Tensor& y = t.output(out, shape);
  std::copy(xv.begin(), xv.end(), y.begin());
  return t.finish(out);
}

Var reshape_as(const char* op, Var x, const Shape& shape) {
  const Tensor& xv = x.value();
  const std::size_t n = product(shape);
  if (n != xv.size())
    throw Error(std::string(op) + ": cannot reshape the " + shape_str(xv) + " input (" +
                std::to_string(xv.size()) + " elements) to " + shape_str(shape) + " (" +
                (n == std::numeric_limits<std::size_t>::max() ? std::string("too many")
                                                              : std::to_string(n)) +
                " elements)");
  return same_order(op, x, shape);
}

}  // namespace

Var reshape(Var x, const Shape& shape) {
  return reshape_as("reshape", x, shape);
}
Var view(Var x, const Shape& shape) {
  return reshape_as("view", x, shape);
}

Var flatten(Var x, int start_dim, int end_dim) {
  const Tensor& xv = x.value();
  const std::size_t rank = xv.dimension();
  // A scalar flattens to one element (as torch), its only dim being 0 or -1.
  const std::size_t s = checked_dim(start_dim, std::max<std::size_t>(rank, 1), xv, "flatten");
  const std::size_t e = checked_dim(end_dim, std::max<std::size_t>(rank, 1), xv, "flatten");
  if (s > e)
    throw Error("flatten: start_dim " + std::to_string(start_dim) + " comes after end_dim " +
                std::to_string(end_dim) + " for the " + shape_str(xv) + " input");
  Dims shape;
  if (rank == 0) shape.push_back(1);
  for (std::size_t d = 0; d < rank; ++d) {
    if (d <= s || d > e)
      shape.push_back(xv.shape(d));
    else
      shape.back() *= xv.shape(d);
  }
  return same_order("flatten", x, shape);
}

Var squeeze(Var x, int dim) {
  const Tensor& xv = x.value();
  const std::size_t d = checked_dim(dim, xv, "squeeze");
  if (xv.shape(d) != 1)
    throw Error("squeeze: dim " + std::to_string(dim) + " of the " + shape_str(xv) +
                " input has size " + std::to_string(xv.shape(d)) + ", not 1");
  Dims shape;
  for (std::size_t k = 0; k < xv.dimension(); ++k)
    if (k != d) shape.push_back(xv.shape(k));
  return same_order("squeeze", x, shape);
}

Var squeeze(Var x) {
  const Tensor& xv = x.value();
  Dims shape;
  for (std::size_t k = 0; k < xv.dimension(); ++k)
    if (xv.shape(k) != 1) shape.push_back(xv.shape(k));
  return same_order("squeeze", x, shape);
}

Var unsqueeze(Var x, int dim) {
  const Tensor& xv = x.value();
  const std::size_t d = checked_dim(dim, xv.dimension() + 1, xv, "unsqueeze");
  const Dims shape = with_dim_inserted(xv, d, 1);
  return same_order("unsqueeze", x, shape);
}

// ---- permute / transpose: a strided walk over the output reads the input ----

namespace {

struct WalkState : OpState {
  Walk walk;
  std::size_t base = 0;  // pad: where the input's first element lands in the output
};

// The walk goes over the output; its second index is the input position.
static void permute_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const float* dy = n.grad.data();
  float* d = dx->data();
  walk(n.state_as<WalkState>().walk, [&](std::size_t o, std::size_t i) { d[i] += dy[o]; });
}

Var permute_impl(const char* op, Var x, const Dims& perm) {
  const Tensor& xv = x.value();
  const Dims in_strides = row_major_strides(xv.shape());
  Dims shape(perm.size()), strides(perm.size());
  bool identity = true;
  for (std::size_t k = 0; k < perm.size(); ++k) {
    shape[k] = xv.shape(perm[k]);
    strides[k] = in_strides[perm[k]];
    identity = identity && perm[k] == k;
  }
  Tape& t = x.tape();
  Var out = t.record(op, {x}, permute_backward);
  Tensor& y = t.output(out, shape);
  WalkState& s = t.state<WalkState>(out);
  plan_walk(s.walk, shape, strides);
  s.walk.same_shapes = identity;  // nothing moves: index i everywhere
  const float* xs = xv.data();
  float* ys = y.data();
  walk(s.walk, [&](std::size_t o, std::size_t i) { ys[o] = xs[i]; });
  return t.finish(out);
}

}  // namespace

Var transpose(Var x, int dim0, int dim1) {
  const Tensor& xv = x.value();
  const std::size_t a = checked_dim(dim0, xv, "transpose");
  const std::size_t b = checked_dim(dim1, xv, "transpose");
  Dims perm(xv.dimension());
  for (std::size_t k = 0; k < perm.size(); ++k) perm[k] = k;
  std::swap(perm[a], perm[b]);
  return permute_impl("transpose", x, perm);
}

Var permute(Var x, const std::vector<int>& dims) {
  const Tensor& xv = x.value();
  const std::size_t rank = xv.dimension();
  if (dims.size() != rank)
    throw Error("permute: dims " + join(dims) + " name " + std::to_string(dims.size()) +
                " dims but the " + shape_str(xv) + " input has " + std::to_string(rank));
  Dims perm(rank), seen(rank, 0);
  for (std::size_t k = 0; k < rank; ++k) {
    perm[k] = checked_dim(dims[k], xv, "permute");
    if (seen[perm[k]]++)
      throw Error("permute: dim " + std::to_string(dims[k]) + " appears twice in dims " +
                  join(dims) + " for the " + shape_str(xv) + " input");
  }
  return permute_impl("permute", x, perm);
}

// ---- slice: elements start..end-1 along dim; the input seen as outer x n x inner ----

namespace {

struct SliceState : OpState {
  std::size_t outer = 1, n = 1, inner = 1, start = 0, len = 0;
};

static void slice_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const SliceState& s = n.state_as<SliceState>();
  const std::size_t run = s.len * s.inner;
  for (std::size_t o = 0; o < s.outer; ++o)
    add_into(dx->data() + (o * s.n + s.start) * s.inner, n.grad.data() + o * run, run);
}

}  // namespace

Var slice(Var x, int dim, std::size_t start, std::size_t end) {
  const Tensor& xv = x.value();
  const std::size_t d = checked_dim(dim, xv, "slice");
  const std::size_t size = xv.shape(d);
  if (start > end || end > size)
    throw Error("slice: start " + std::to_string(start) + " and end " + std::to_string(end) +
                " do not fit dim " + std::to_string(dim) + " of size " + std::to_string(size) +
                " of the " + shape_str(xv) +
                " input (need start <= end <= " + std::to_string(size) + ")");
  Dims shape(xv.shape().begin(), xv.shape().end());
  shape[d] = end - start;
  Tape& t = x.tape();
  Var out = t.record("slice", {x}, slice_backward);
  Tensor& y = t.output(out, shape);
  SliceState& s = t.state<SliceState>(out);
  s.outer = outer_of(xv, d);
  s.n = size;
  s.inner = inner_of(xv, d);
  s.start = start;
  s.len = end - start;
  const std::size_t run = s.len * s.inner;
  for (std::size_t o = 0; o < s.outer; ++o) {
    const float* from = xv.data() + (o * s.n + s.start) * s.inner;
    std::copy(from, from + run, y.data() + o * run);
  }
  return t.finish(out);
}

// ---- cat / stack: each input is a block of the output along dim ----

namespace {

struct DimState : OpState {
  std::size_t dim = 0;
};

// Output seen as outer x total x inner; input k covers [offset, offset + n_k) of total.
static void cat_backward(Tape& t, const Node& n) {
  const std::size_t d = n.state_as<DimState>().dim;
  const std::size_t outer = outer_of(n.value, d), inner = inner_of(n.value, d);
  const std::size_t total = n.value.shape(d);
  std::size_t offset = 0;
  for (std::uint32_t k : n.inputs) {
    const std::size_t nk = t.value_at(k).shape(d);
    if (Tensor* dx = t.grad_at(k))
      for (std::size_t o = 0; o < outer; ++o)
        add_into(dx->data() + o * nk * inner, n.grad.data() + (o * total + offset) * inner,
                 nk * inner);
    offset += nk;
  }
}

// stack's output is outer x K x inner, input k at index k of K.
static void stack_backward(Tape& t, const Node& n) {
  const std::size_t d = n.state_as<DimState>().dim;
  const std::size_t outer = outer_of(n.value, d), inner = inner_of(n.value, d);
  const std::size_t count = n.inputs.size();
  for (std::size_t k = 0; k < count; ++k)
    if (Tensor* dx = t.grad_at(n.inputs[k]))
      for (std::size_t o = 0; o < outer; ++o)
        add_into(dx->data() + o * inner, n.grad.data() + (o * count + k) * inner, inner);
}

void require_inputs(const std::vector<Var>& xs, const char* op) {
  if (xs.empty()) throw Error(std::string(op) + ": no inputs");
}

}  // namespace

Var cat(const std::vector<Var>& xs, int dim) {
  require_inputs(xs, "cat");
  const Tensor& first = xs[0].value();
  if (first.dimension() == 0)
    throw Error("cat: input 0 is a scalar; use stack, or unsqueeze it first");
  const std::size_t d = checked_dim(dim, first, "cat");
  Dims shape(first.shape().begin(), first.shape().end());
  shape[d] = 0;
  for (std::size_t k = 0; k < xs.size(); ++k) {
    const Tensor& v = xs[k].value();
    bool match = v.dimension() == first.dimension();
    for (std::size_t j = 0; match && j < v.dimension(); ++j)
      match = j == d || v.shape(j) == first.shape(j);
    if (!match)
      throw Error("cat: input " + std::to_string(k) + " is " + shape_str(v) + " but input 0 is " +
                  shape_str(first) + " (all must match except along dim " + std::to_string(dim) +
                  ")");
    shape[d] += v.shape(d);
  }
  Tape& t = xs[0].tape();
  Var out = t.record("cat", xs, cat_backward);
  Tensor& y = t.output(out, shape);
  t.state<DimState>(out).dim = d;
  const std::size_t outer = outer_of(y, d), inner = inner_of(y, d);
  std::size_t offset = 0;
  for (Var x : xs) {
    const Tensor& v = t.value_at(x.index());
    const std::size_t nk = v.shape(d);
    for (std::size_t o = 0; o < outer; ++o) {
      const float* from = v.data() + o * nk * inner;
      std::copy(from, from + nk * inner, y.data() + (o * shape[d] + offset) * inner);
    }
    offset += nk;
  }
  return t.finish(out);
}

Var stack(const std::vector<Var>& xs, int dim) {
  require_inputs(xs, "stack");
  const Tensor& first = xs[0].value();
  const std::size_t d = checked_dim(dim, first.dimension() + 1, first, "stack");
  for (std::size_t k = 0; k < xs.size(); ++k) {
    const Tensor& v = xs[k].value();
    if (v.shape() != first.shape())
      throw Error("stack: input " + std::to_string(k) + " is " + shape_str(v) + " but input 0 is " +
                  shape_str(first) + " (all must have one shape)");
  }
  const Dims shape = with_dim_inserted(first, d, xs.size());
  Tape& t = xs[0].tape();
  Var out = t.record("stack", xs, stack_backward);
  Tensor& y = t.output(out, shape);
  t.state<DimState>(out).dim = d;
  const std::size_t outer = outer_of(y, d), inner = inner_of(y, d), count = xs.size();
  for (std::size_t k = 0; k < count; ++k) {
    const float* v = t.value_at(xs[k].index()).data();
    for (std::size_t o = 0; o < outer; ++o)
      std::copy(v + o * inner, v + (o + 1) * inner, y.data() + (o * count + k) * inner);
  }
  return t.finish(out);
}

// ---- index_select: slices along dim picked by index; the input seen as outer x n x inner ----

namespace {

struct IndexState : OpState {
  std::size_t outer = 1, n = 1, inner = 1;
  std::vector<std::int64_t> indices;  // capacity kept across steps
};

static void index_select_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const IndexState& s = n.state_as<IndexState>();
  const std::size_t count = s.indices.size();
  for (std::size_t o = 0; o < s.outer; ++o)
    for (std::size_t k = 0; k < count; ++k)
      add_into(dx->data() + (o * s.n + static_cast<std::size_t>(s.indices[k])) * s.inner,
               n.grad.data() + (o * count + k) * s.inner, s.inner);
}

// Throws unless 0 <= index < size; names the index, its position and the input.
void check_index(const char* op, std::int64_t index, std::size_t position, int dim,
                 std::size_t size, const Tensor& x) {
  if (index < 0 || static_cast<std::uint64_t>(index) >= size)
    throw Error(std::string(op) + ": index " + std::to_string(index) + " at position " +
                std::to_string(position) + " is out of range for dim " + std::to_string(dim) +
                " of size " + std::to_string(size) + " of the " + shape_str(x) + " input");
}

}  // namespace

Var index_select(Var x, int dim, const std::vector<std::int64_t>& indices) {
  const Tensor& xv = x.value();
  const std::size_t d = checked_dim(dim, xv, "index_select");
  for (std::size_t k = 0; k < indices.size(); ++k)
    check_index("index_select", indices[k], k, dim, xv.shape(d), xv);
  Dims shape(xv.shape().begin(), xv.shape().end());
  shape[d] = indices.size();
  Tape& t = x.tape();
  Var out = t.record("index_select", {x}, index_select_backward);
  Tensor& y = t.output(out, shape);
  IndexState& s = t.state<IndexState>(out);
  s.outer = outer_of(xv, d);
  s.n = xv.shape(d);
  s.inner = inner_of(xv, d);
  s.indices.assign(indices.begin(), indices.end());
  const std::size_t count = indices.size();
  for (std::size_t o = 0; o < s.outer; ++o)
    for (std::size_t k = 0; k < count; ++k) {
      const float* from = xv.data() + (o * s.n + static_cast<std::size_t>(indices[k])) * s.inner;
      std::copy(from, from + s.inner, y.data() + (o * count + k) * s.inner);
    }
  return t.finish(out);
}

// ---- gather: out[p] = x[p with its dim-th coordinate replaced by index[p]] ----

namespace {

struct GatherState : OpState {
  Walk walk;  // over the index's shape; second index: x's position with coordinate dim = 0
  std::size_t dim_stride = 0;
  std::vector<std::int64_t> index;
};

static void gather_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const GatherState& s = n.state_as<GatherState>();
  const float* dy = n.grad.data();
  float* d = dx->data();
  walk(s.walk, [&](std::size_t o, std::size_t i) {
    d[i + static_cast<std::size_t>(s.index[o]) * s.dim_stride] += dy[o];
  });
}

}  // namespace

Var gather(Var x, int dim, const std::vector<std::int64_t>& index, const Shape& index_shape) {
  const Tensor& xv = x.value();
  const std::size_t d = checked_dim(dim, xv, "gather");
  const std::size_t rank = xv.dimension();
  if (index_shape.size() != rank)
    throw Error("gather: index is " + shape_str(index_shape) + " but the input is " +
                shape_str(xv) + " (index must have the input's rank)");
  for (std::size_t k = 0; k < rank; ++k)
    if (k != d && index_shape[k] > xv.shape(k))
      throw Error("gather: index is " + shape_str(index_shape) + " but the input is " +
                  shape_str(xv) + " (index may not be larger than the input along dim " +
                  std::to_string(k) + ")");
  if (product(index_shape) != index.size())
    throw Error("gather: " + std::to_string(index.size()) + " indices for an index of shape " +
                shape_str(index_shape));
  for (std::size_t k = 0; k < index.size(); ++k)
    check_index("gather", index[k], k, dim, xv.shape(d), xv);
  Tape& t = x.tape();
  Var out = t.record("gather", {x}, gather_backward);
  Tensor& y = t.output(out, index_shape);
  GatherState& s = t.state<GatherState>(out);
  Dims strides = row_major_strides(xv.shape());
  s.dim_stride = strides[d];
  strides[d] = 0;
  plan_walk(s.walk, index_shape, strides);
  s.index.assign(index.begin(), index.end());
  const float* xs = xv.data();
  float* ys = y.data();
  walk(s.walk, [&](std::size_t o, std::size_t i) {
    ys[o] = xs[i + static_cast<std::size_t>(index[o]) * s.dim_stride];
  });
  return t.finish(out);
}

// ---- pad: the input lands inside an output filled with `value` ----

namespace {

// The walk goes over the input; its second index is the output position less s.base.
static void pad_backward(Tape& t, const Node& n) {
  Tensor* dx = t.grad_at(n.inputs[0]);
  if (!dx) return;
  const WalkState& s = n.state_as<WalkState>();
  const float* dy = n.grad.data();
  float* d = dx->data();
  walk(s.walk, [&](std::size_t i, std::size_t o) { d[i] += dy[s.base + o]; });
}

}  // namespace

Var pad(Var x, const std::vector<std::size_t>& pads, float value) {
  const Tensor& xv = x.value();
  const std::size_t rank = xv.dimension();
  if (pads.size() % 2 != 0 || pads.size() > 2 * rank)
    throw Error("pad: " + std::to_string(pads.size()) + " pad values " + join(pads) + " for the " +
                shape_str(xv) + " input; give two (before, after) per padded dim, " +
                "last dim first, at most " + std::to_string(2 * rank));
  Dims shape(xv.shape().begin(), xv.shape().end());
  for (std::size_t k = 0; 2 * k < pads.size(); ++k)
    shape[rank - 1 - k] += pads[2 * k] + pads[2 * k + 1];
  const Dims out_strides = row_major_strides(shape);
  Tape& t = x.tape();
  Var out = t.record("pad", {x}, pad_backward);
  Tensor& y = t.output(out, shape);
  WalkState& s = t.state<WalkState>(out);
  plan_walk(s.walk, xv.shape(), out_strides);
  s.base = 0;
  for (std::size_t k = 0; 2 * k < pads.size(); ++k)
    s.base += pads[2 * k] * out_strides[rank - 1 - k];
  std::fill(y.begin(), y.end(), value);
  const float* xs = xv.data();
  float* ys = y.data();
  const std::size_t base = s.base;
  walk(s.walk, [&](std::size_t i, std::size_t o) { ys[base + o] = xs[i]; });
  return t.finish(out);
}

}  // namespace tg
