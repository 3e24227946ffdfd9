// Matrix products: forward and backward side by side. Every product goes through
// detail::gemm (OpenBLAS, split over tapegrad's pool in fixed blocks), and the backward
// uses transpose flags instead of copies. dense's batch rows go in blocks of
// detail::kBatchBlock (core/blas.hpp), so its results do not depend on how a batch is split.
#include "tapegrad/ops/linalg.hpp"

#include "core/blas.hpp"
#include "ops/op_util.hpp"

namespace tg {

using detail::gemm;

namespace {

// grad_row (1 x c) += the column sums of g (r x c): the backward of broadcasting a bias row.
void add_column_sums(const Tensor& g, Tensor& grad_row) {
  const std::size_t r = rows(g), c = cols(g);
  float* out = grad_row.data();
  for (std::size_t i = 0; i < r; ++i) {
    const float* row = g.data() + i * c;
    for (std::size_t j = 0; j < c; ++j) out[j] += row[j];
  }
}

// A batched product's batch dimensions: each operand's (m x k) / (k x n) matrices are
// addressed through a broadcast plan over the leading dimensions.
struct MatmulState : OpState {
  detail::Broadcast<2> batches;
  std::size_t m = 0, k = 0, n = 0;
};

}  // namespace

// ---- dense: x . W (+ b), x's last dimension the features ----

// d(x.W)/dx = g . W^T, d(x.W)/dW = x^T . g, d/db = column sums of g.
static void dense_backward(Tape& t, const Node& n) {
  const Tensor& x = t.value_at(n.inputs[0]);
  const Tensor& w = t.value_at(n.inputs[1]);
  const std::size_t m = rows(x), k = cols(x), c = cols(w);
  if (Tensor* dx = t.grad_at(n.inputs[0]))
    detail::gemm_batch_rows(true, m, k, c, n.grad.data(), c, w.data(), c, 1.0f, dx->data(), k);
  if (Tensor* dw = t.grad_at(n.inputs[1]))
    detail::gemm_sum_batch_rows(m, k, c, x.data(), k, n.grad.data(), c, dw->data(), c);
  if (n.inputs.size() == 3)
    if (Tensor* db = t.grad_at(n.inputs[2])) add_column_sums(n.grad, *db);
}

namespace {
Var dense_impl(Var x, Var W, const Var* b) {
  const Tensor& xv = x.value();
  const Tensor& wv = W.value();
  if (xv.dimension() < 1 || wv.dimension() != 2 || cols(xv) != rows(wv))
    throw Error("dense: input is " + shape_str(xv) + " but W is " + shape_str(wv));
  const std::size_t m = rows(xv), k = cols(xv), c = cols(wv);
  const Tensor* bv = b ? &b->value() : nullptr;
  if (bv && (bv->size() != c || cols(*bv) != c))
    throw Error("dense: W is " + shape_str(wv) + " but b is " + shape_str(*bv) + " (b must be " +
                shape_str(1, c) + ")");
  Tape& t = x.tape();
  Var out =
      b ? t.record("dense", {x, W, *b}, dense_backward) : t.record("dense", {x, W}, dense_backward);
  detail::Dims shape(xv.shape().begin(), xv.shape().end());
  shape.back() = c;
  Tensor& y = t.output(out, shape);
  float beta = 0.0f;
  if (bv) {
    for (std::size_t i = 0; i < m; ++i) std::copy(bv->begin(), bv->end(), y.data() + i * c);
    beta = 1.0f;  // the GEMM adds x.W onto the bias rows
  }
  detail::gemm_batch_rows(false, m, c, k, xv.data(), k, wv.data(), c, beta, y.data(), c);
  return t.finish(out);
}
}  // namespace

Var dense(Var x, Var W, Var b) {
  return dense_impl(x, W, &b);
}
Var dense(Var x, Var W) {
  return dense_impl(x, W, nullptr);
}

// ---- matmul: 2-D, or batched over broadcast leading dimensions ----

// For each batch: da += g . b^T, db += a^T . g. A broadcast operand's matrix receives the sum
// over the batches that shared it (beta = 1 accumulates).
static void matmul_backward(Tape& t, const Node& node) {
  const MatmulState& s = node.state_as<MatmulState>();
  const float* a = t.value_at(node.inputs[0]).data();
  const float* b = t.value_at(node.inputs[1]).data();
  const float* g = node.grad.data();
  Tensor* da = t.grad_at(node.inputs[0]);
  Tensor* db = t.grad_at(node.inputs[1]);
  const std::size_t m = s.m, k = s.k, n = s.n;
  detail::for_each_broadcast(s.batches, [&](std::size_t o, const std::array<std::size_t, 2>& at) {
    const float* gb = g + o * m * n;
    if (da)
      gemm(false, true, m, k, n, 1.0f, gb, n, b + at[1] * k * n, n, 1.0f,
           da->data() + at[0] * m * k, k);
    if (db)
      gemm(true, false, k, n, m, 1.0f, a + at[0] * m * k, k, gb, n, 1.0f,
           db->data() + at[1] * k * n, n);
  });
}

Var matmul(Var a, Var b) {
  const Tensor& av = a.value();
  const Tensor& bv = b.value();
  const std::size_t ra = av.dimension(), rb = bv.dimension();
  if (ra < 2 || rb < 2)
    throw Error("matmul: a is " + shape_str(av) + " and b is " + shape_str(bv) +
                " (both must be at least 2-D)");
  if (av.shape(ra - 1) != bv.shape(rb - 2))
    throw Error("matmul: a is " + shape_str(av) + " but b is " + shape_str(bv) +
                " (a's columns must equal b's rows)");
  const std::size_t m = av.shape(ra - 2), k = av.shape(ra - 1), n = bv.shape(rb - 1);
  // The leading (batch) dimensions broadcast; the last two are the matrices.
  const detail::Dims a_batch(av.shape().begin(), av.shape().end() - 2);
  const detail::Dims b_batch(bv.shape().begin(), bv.shape().end() - 2);
  detail::Broadcast<2> plan;
  try {
    plan = detail::plan_broadcast_shapes<2>({a_batch, b_batch}, "matmul");
  } catch (const Error&) {
    throw Error("matmul: a is " + shape_str(av) + " but b is " + shape_str(bv) +
                " (their batch dimensions do not broadcast)");
  }
  Tape& t = a.tape();
  Var out = t.record("matmul", {a, b}, matmul_backward);
  MatmulState& s = t.state<MatmulState>(out);
  s.batches = plan;
  s.m = m;
  s.k = k;
  s.n = n;
  detail::Dims shape = plan.shape;
  shape.push_back(m);
  shape.push_back(n);
  Tensor& y = t.output(out, shape);
  detail::for_each_broadcast(plan, [&](std::size_t o, const std::array<std::size_t, 2>& at) {
    gemm(false, false, m, n, k, 1.0f, av.data() + at[0] * m * k, k, bv.data() + at[1] * k * n, n,
         0.0f, y.data() + o * m * n, n);
  });
  return t.finish(out);
}

}  // namespace tg
