// Helpers shared by the op families (internal). How an op is written:
//
//   Var op(Var x, ...) {
//     const Tensor& xv = x.value();              // checks x is live on its tape
//     ... validate every input; throw tg::Error naming the op and the shapes ...
//     Tape& t = x.tape();
//     Var out = t.record("op", {x}, op_backward);  // nothing may throw from here on
//     Tensor& y = t.output(out, shape);            // reuses last step's buffer
//     auto& s = t.state<OpOwnState>(out);          // only if the backward needs more
//     ... compute y ...
//     return t.finish(out);                        // anomaly check
//   }
//
// and its backward, right above it, accumulates (+=) into t.grad_at(input) when non-null.
#pragma once

#include "tapegrad/autograd/tape.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>

namespace tg::detail {

using Dims = xt::svector<std::size_t, 8>;

// K operands broadcast to one output shape: for each operand its strides in the output's
// rank, 0 along the dimensions where it is stretched.
template <std::size_t K>
struct Broadcast {
  Dims shape;
  std::size_t size = 1;
  std::array<Dims, K> strides;
  bool same_shapes = true;  // every operand has the output's shape: index i everywhere
};

inline std::string dims_str(const Dims& d) {
  return shape_str(Shape(d.begin(), d.end()));
}

// Plans the broadcast of operands of these shapes; throws tg::Error
// "<op>: shapes A and B do not broadcast (dimension d)".
template <std::size_t K>
Broadcast<K> plan_broadcast_shapes(const std::array<Dims, K>& shapes, const char* op) {
  Broadcast<K> p;
  std::size_t rank = 0;
  for (const Dims& s : shapes) rank = std::max<std::size_t>(rank, s.size());
  p.shape.assign(rank, 1);
  for (const Dims& s : shapes) {
    const std::size_t off = rank - s.size();
    for (std::size_t d = 0; d < s.size(); ++d) {
      const std::size_t n = s[d];
      if (n == p.shape[off + d] || n == 1) continue;
      if (p.shape[off + d] != 1) {
        std::string all;
        for (const Dims& u : shapes) all += (all.empty() ? "" : " and ") + dims_str(u);
        throw Error(std::string(op) + ": shapes " + all + " do not broadcast (dimension " +
                    std::to_string(off + d) + " of the result)");
      }
      p.shape[off + d] = n;
    }
  }
  for (std::size_t d = 0; d < rank; ++d) p.size *= p.shape[d];
  for (std::size_t k = 0; k < K; ++k) {
    const Dims& s = shapes[k];
    const std::size_t off = rank - s.size();
    p.strides[k].assign(rank, 0);
    std::size_t stride = 1;
    for (std::size_t d = s.size(); d-- > 0;) {
      p.strides[k][off + d] = s[d] != 1 ? stride : 0;
      stride *= s[d];
    }
    p.same_shapes = p.same_shapes && s == p.shape;
  }
  return p;
}

template <std::size_t K>
Broadcast<K> plan_broadcast(const std::array<const Tensor*, K>& operands, const char* op) {
  std::array<Dims, K> shapes;
  for (std::size_t k = 0; k < K; ++k)
    shapes[k].assign(operands[k]->shape().begin(), operands[k]->shape().end());
  return plan_broadcast_shapes<K>(shapes, op);
}

// Calls f(out_index, {operand indices}) for every output element, in row-major order.
template <std::size_t K, class F>
void for_each_broadcast(const Broadcast<K>& p, F&& f) {
  std::array<std::size_t, K> at{};
  if (p.size == 0) return;
  if (p.same_shapes) {
    for (std::size_t i = 0; i < p.size; ++i) {
      at.fill(i);
      f(i, at);
    }
    return;
  }
  const std::size_t rank = p.shape.size();
  if (rank == 0) {
    f(0, at);
    return;
  }
  const std::size_t inner = p.shape[rank - 1];
  Dims index(rank, 0);
  for (std::size_t o = 0; o < p.size; o += inner) {
    std::array<std::size_t, K> base = at;
    for (std::size_t j = 0; j < inner; ++j) {
      for (std::size_t k = 0; k < K; ++k) at[k] = base[k] + j * p.strides[k][rank - 1];
      f(o + j, at);
    }
    at = base;
    for (std::size_t d = rank - 1; d-- > 0;) {
      for (std::size_t k = 0; k < K; ++k) at[k] += p.strides[k][d];
      if (++index[d] < p.shape[d]) break;
      for (std::size_t k = 0; k < K; ++k) at[k] -= p.strides[k][d] * p.shape[d];
      index[d] = 0;
    }
  }
}

// ---- elementwise ops of one input: f computes y from x; df gives dx from (x, y, dy) ----

template <class F>
Var unary(const char* op, Var x, BackwardFn backward, F f) {
  const Tensor& in = x.value();
  Tape& t = x.tape();
  Var out = t.record(op, {x}, backward);
  Tensor& y = t.output(out, in.shape());
  const float* xs = in.data();
  float* ys = y.data();
  const std::size_t n = in.size();
  for (std::size_t i = 0; i < n; ++i) ys[i] = f(xs[i]);
  return t.finish(out);
}

// Like unary, with an array kernel k(x, y, n) computing the whole output at once.
template <class K>
Var unary_array(const char* op, Var x, BackwardFn backward, K k) {
  const Tensor& in = x.value();
  Tape& t = x.tape();
  Var out = t.record(op, {x}, backward);
  Tensor& y = t.output(out, in.shape());
  k(in.data(), y.data(), in.size());
  return t.finish(out);
}

template <class F>
void unary_backward(Tape& t, const Node& node, F df) {
  Tensor* dx = t.grad_at(node.inputs[0]);
  if (!dx) return;
  const float* xs = t.value_at(node.inputs[0]).data();
  const float* ys = node.value.data();
  const float* dys = node.grad.data();
  float* dxs = dx->data();
  const std::size_t n = node.value.size();
  for (std::size_t i = 0; i < n; ++i) dxs[i] += df(xs[i], ys[i], dys[i]);
}

// One float parameter of an op (a factor, an exponent, a slope), kept for its backward.
struct ScalarState : OpState {
  float value = 0.0f;
};

}  // namespace tg::detail
