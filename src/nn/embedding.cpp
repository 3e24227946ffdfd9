#include "tapegrad/nn/embedding.hpp"

#include "nn/spec_text.hpp"

#include <cmath>
#include <sstream>

namespace tg {

// ---- the lookup op: out[p] = weight[indices[p]]; its backward adds out's gradient rows back ----

namespace {
struct EmbeddingState : OpState {
  std::vector<std::int64_t> indices;  // reused every step (assign keeps the capacity)
  std::int64_t padding_idx = -1;      // no gradient for this row; -1 for none
};
}  // namespace

static void embedding_backward(Tape& t, const Node& n) {
  Tensor* dw = t.grad_at(n.inputs[0]);
  if (!dw) return;
  const EmbeddingState& s = n.state_as<EmbeddingState>();
  const std::size_t dim = cols(*dw);
  const float* g = n.grad.data();
  for (std::size_t p = 0; p < s.indices.size(); ++p) {
    if (s.indices[p] == s.padding_idx) continue;
    float* row = dw->data() + static_cast<std::size_t>(s.indices[p]) * dim;
    for (std::size_t j = 0; j < dim; ++j) row[j] += g[p * dim + j];
  }
}

Embedding::Embedding(std::size_t num_embeddings, std::size_t embedding_dim, Rng& rng,
                     std::optional<std::int64_t> padding_idx) {
  if (num_embeddings == 0 || embedding_dim == 0)
    throw Error("Embedding: sizes must be positive (got " +
                shape_str(num_embeddings, embedding_dim) + ")");
  const auto num = static_cast<std::int64_t>(num_embeddings);
  if (padding_idx) {
    if (*padding_idx < -num || *padding_idx >= num)
      throw Error("Embedding: padding_idx " + std::to_string(*padding_idx) +
                  " is out of range for " + std::to_string(num_embeddings) + " embeddings");
    padding_idx_ = *padding_idx < 0 ? *padding_idx + num : *padding_idx;
  }
  Tensor w = zeros(num_embeddings, embedding_dim);
  for (float& v : w) v = rng.normal();  // N(0, 1), as torch
  if (padding_idx_)
    std::fill_n(w.data() + static_cast<std::size_t>(*padding_idx_) * embedding_dim, embedding_dim,
                0.0f);
  weight = Parameter(std::move(w), "weight");
  register_parameter("weight", weight);
}

Var Embedding::lookup(Tape& tape, const std::int64_t* indices, std::size_t count,
                      const std::size_t* shape, std::size_t rank) {
  const std::size_t dim = embedding_dim();
  xt::svector<std::size_t, 8> out_shape(shape, shape + rank);
  out_shape.push_back(dim);
  const Var w = tape.param(weight);
  Var out = tape.record("embedding", {w}, embedding_backward);
  EmbeddingState& s = tape.state<EmbeddingState>(out);
  s.indices.assign(indices, indices + count);
  s.padding_idx = padding_idx_.value_or(-1);
  Tensor& y = tape.output(out, out_shape);
  for (std::size_t p = 0; p < count; ++p)
    std::copy_n(weight.value.data() + static_cast<std::size_t>(indices[p]) * dim, dim,
                y.data() + p * dim);
  return tape.finish(out);
}

Var Embedding::forward(Tape& tape, const std::vector<std::int64_t>& indices,
                       const Shape& index_shape) {
  const std::size_t count = element_count(index_shape);
  if (count != indices.size())
    throw Error("Embedding: " + std::to_string(indices.size()) + " indices for index shape " +
                shape_str(index_shape) + " (" + std::to_string(count) + " elements)");
  const auto num = static_cast<std::int64_t>(num_embeddings());
  for (std::size_t p = 0; p < count; ++p)
    if (indices[p] < 0 || indices[p] >= num)
      throw Error("Embedding: index " + std::to_string(indices[p]) + " at position " +
                  std::to_string(p) + " is out of range [0, " + std::to_string(num) +
                  ") (indices " + shape_str(index_shape) + ")");
  return lookup(tape, indices.data(), count, index_shape.data(), index_shape.size());
}

Var Embedding::forward(Var x) {
  const Tensor& xv = x.value();
  const auto num = static_cast<std::int64_t>(num_embeddings());
  indices_.resize(xv.size());  // keeps the capacity from the last step
  for (std::size_t p = 0; p < xv.size(); ++p) {
    const float v = xv.data()[p];
    if (!(std::floor(v) == v))  // NaN and infinities fail too (inf - inf)
      throw Error("Embedding: index " + std::to_string(v) + " at position " + std::to_string(p) +
                  " is not a whole number (indices " + shape_str(xv) + ")");
    if (v < 0.0f || v >= static_cast<float>(num))
      // A whole float may be far beyond long long (or infinite): cast only what fits.
      throw Error(
          "Embedding: index " +
          (std::fabs(v) < 1e18f ? std::to_string(static_cast<long long>(v)) : std::to_string(v)) +
          " at position " + std::to_string(p) + " is out of range [0, " + std::to_string(num) +
          ") (indices " + shape_str(xv) + ")");
    indices_[p] = static_cast<std::int64_t>(v);
  }
  return lookup(x.tape(), indices_.data(), indices_.size(), xv.shape().data(), xv.dimension());
}

std::string Embedding::describe() const {
  std::ostringstream s;
  s << "Embedding(" << num_embeddings() << ", " << embedding_dim();
  if (padding_idx_) s << ", padding_idx=" << *padding_idx_;
  s << ")";
  return s.str();
}

ModuleSpec Embedding::spec() const {
  return {"Embedding",
          {{"num_embeddings", std::to_string(num_embeddings())},
           {"embedding_dim", std::to_string(embedding_dim())},
           {"padding_idx", padding_idx_ ? std::to_string(*padding_idx_) : "none"}},
          {}};
}

Shape Embedding::output_shape(const Shape& in) const {
  Shape out = in;
  out.push_back(embedding_dim());
  return out;
}

}  // namespace tg
