// A lookup table of learned vectors, as torch::nn::Embedding.
#pragma once

#include "tapegrad/nn/module.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tg {

// Row i of weight (num_embeddings x embedding_dim, drawn from N(0, 1) as torch) is the vector
// of index i. A batch of indices of shape S gives S x embedding_dim; the gradient of a row
// used several times is the sum of its uses. With a padding_idx (negative counts from the
// end, as torch), that row starts at zero and gets no gradient.
class Embedding : public Module {
 public:
  Embedding(std::size_t num_embeddings, std::size_t embedding_dim, Rng& rng,
            std::optional<std::int64_t> padding_idx = std::nullopt);

  // The vectors of `indices`, which hold element_count(index_shape) values in row-major order,
  // each in [0, num_embeddings): the result is index_shape + {embedding_dim}, recorded on
  // `tape`. A bad index throws a tg::Error naming it and its position, leaving the tape as it
  // was.
  Var forward(Tape& tape, const std::vector<std::int64_t>& indices, const Shape& index_shape);
  // The same with the indices read from x's values (any shape), so the layer can sit in a
  // Sequential: each must be a whole number in [0, num_embeddings). No gradient flows to x.
  Var forward(Var x) override;
  using Module::operator();
  Var operator()(Tape& tape, const std::vector<std::int64_t>& indices, const Shape& index_shape) {
    return forward(tape, indices, index_shape);
  }

  std::string describe() const override;
  ModuleSpec spec() const override;
  // `in` is the index shape without the batch dimension; the result appends embedding_dim.
  Shape output_shape(const Shape& in) const override;
  std::size_t num_embeddings() const { return rows(weight.value); }
  std::size_t embedding_dim() const { return cols(weight.value); }
  std::optional<std::int64_t> padding_idx() const { return padding_idx_; }  // in [0, num)

  Parameter weight;  // num_embeddings x embedding_dim

 private:
  Var lookup(Tape& tape, const std::int64_t* indices, std::size_t count, const std::size_t* shape,
             std::size_t rank);
  std::optional<std::int64_t> padding_idx_;
  std::vector<std::int64_t> indices_;  // forward(Var)'s converted indices, reused every step
};

}  // namespace tg
