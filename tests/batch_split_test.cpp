// The same bits however a batch is split (the basis of bit-identical data parallelism, see
// include/tapegrad/dist/distributed.hpp): rows go in blocks of kBatchBlock, sums over the
// batch go block after block onto what the gradient holds, and dropout masks are keyed by the
// sample's place in the run. Each test computes a 48-row batch (3 blocks) whole and as shards
// of whole blocks that continue each other's gradient sums, as ranks do, and wants equality.
#include "tapegrad/tapegrad.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <vector>

using namespace tg;
using test::random_nd;

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Rows [first, first + count) of x (batch first).
Tensor rows_of(const Tensor& x, std::size_t first, std::size_t count) {
  Shape shape(x.shape().begin(), x.shape().end());
  const std::size_t per_row = x.size() / shape[0];
  shape[0] = count;
  Tensor out = zeros(shape);
  std::copy_n(x.data() + first * per_row, count * per_row, out.data());
  return out;
}

struct Outcome {
  Tensor output;              // the model's output, rows in order
  std::vector<Tensor> grads;  // every parameter's
};

// Forward and backward of sum(model(x)) * (1 / rows) over shards [0, cuts[0]), [cuts[0],
// cuts[1]), ...: each shard's backward adds onto the gradients the previous shards left, as
// tg::dist::chained_exchange has each rank do.
Outcome run_in_shards(Module& model, const Tensor& x, const std::vector<std::size_t>& cuts) {
  const std::size_t rows = x.shape(0);
  for (Parameter* p : model.parameters()) std::fill(p->grad.begin(), p->grad.end(), 0.0f);
  Outcome out;
  std::vector<float> values;
  std::size_t first = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(rows);
  for (std::size_t end : ends) {
    Tape tape;
    tape.set_run_position(1000 + first);
    Var y = model(tape.constant(rows_of(x, first, end - first)));
    values.insert(values.end(), y.value().begin(), y.value().end());
    tape.backward(sum(y) * (1.0f / static_cast<float>(rows)));
    first = end;
  }
  Shape shape(x.shape().begin(), x.shape().end());
  out.output = zeros({values.size()});
  std::copy(values.begin(), values.end(), out.output.data());
  for (Parameter* p : model.parameters()) out.grads.push_back(p->grad);
  return out;
}

using Cuts = std::vector<std::vector<std::size_t>>;

// The splits 1, 2 and 3 ranks make of 3 blocks (blocks [r*3/W, (r+1)*3/W)), by default.
void expect_split_invariant(Module& model, const Tensor& x,
                            const Cuts& splits = {{16}, {32}, {16, 32}}) {
  const Outcome whole = run_in_shards(model, x, {});
  bool some_gradient = false;
  for (const Tensor& g : whole.grads)
    for (float v : g) some_gradient |= v != 0.0f;
  ASSERT_TRUE(some_gradient) << "a test of all-zero gradients cannot fail";
  for (const std::vector<std::size_t>& cuts : splits) {
    const Outcome split = run_in_shards(model, x, cuts);
    EXPECT_TRUE(same_bits(split.output, whole.output)) << "output, cut at " << cuts[0];
    for (std::size_t i = 0; i < whole.grads.size(); ++i)
      EXPECT_TRUE(same_bits(split.grads[i], whole.grads[i]))
          << "gradient of parameter " << i << ", cut at " << cuts[0];
  }
}

}  // namespace

TEST(BatchSplit, DenseLayersGiveTheSameBitsForAnySplitIntoWholeBlocks) {
  static_assert(kBatchBlock == 16, "the cuts below are whole blocks of 16 rows");
  Rng rng(3);
  Sequential net;
  net.add<Dense>(300, 160, rng);
  net.add<ReLU>();
  net.add<Dense>(160, 10, rng);
  expect_split_invariant(net, random_nd({48, 300}, 5));
}

TEST(BatchSplit, DenseLayersGiveTheSameBitsWhenAShardIsOnlyThePartialLastBlock) {
  // 40 rows: blocks of 16, 16 and 8; a rank with the 8-row block alone must compute it as one
  // process does (a kernel chosen for the rank's row count, not the block's, broke this once).
  Rng rng(8);
  Sequential net;
  net.add<Dense>(300, 160, rng);
  net.add<ReLU>();
  net.add<Dense>(160, 10, rng);
  expect_split_invariant(net, random_nd({40, 300}, 9), {{32}, {16, 32}, {16}});
}

TEST(BatchSplit, ConvolutionsGiveTheSameBitsForAnySplitIntoWholeBlocks) {
  Rng rng(4);
  Sequential net;
  net.add<Conv2d>(2, 8, Size2(3), rng);
  net.add<ReLU>();
  net.add<Conv2d>(8, 4, Size2(3), rng, Conv2dOptions{.padding = 1});
  net.add<MaxPool2d>(Size2(2));
  net.add<Flatten>();
  net.add<Dense>(4 * 5 * 5, 3, rng);
  expect_split_invariant(net, random_nd({48, 2, 12, 12}, 6));
}

TEST(BatchSplit, DropoutMasksFollowTheSampleNotTheShard) {
  Rng rng(5);
  Sequential net;
  net.add<Dense>(20, 64, rng);
  net.add<Dropout>(0.5f, 11);
  net.add<Dense>(64, 4, rng);
  expect_split_invariant(net, random_nd({48, 20}, 7));
}

TEST(BatchSplit, DropoutKeyedByRunPositionDiffersBetweenSamplesAndLayersAndKeepsItsRate) {
  Dropout a(0.5f, 1), b(0.5f, 1), other_seed(0.5f, 2);
  Tensor ones_in = full(200, 100, 1.0f);
  auto mask = [&](Dropout& d, std::uint64_t position) {
    Tape tape;
    tape.set_run_position(position);
    return d(tape.constant(ones_in)).value();
  };
  const Tensor m0 = mask(a, 0);
  EXPECT_TRUE(same_bits(m0, mask(a, 0))) << "keyed: the layer's generator is not advanced";
  EXPECT_TRUE(same_bits(m0, mask(b, 0))) << "the same seed, the same masks";
  EXPECT_FALSE(same_bits(m0, mask(other_seed, 0)));
  const Tensor m1 = mask(a, 1);  // row r of m1 is sample 1 + r: row r + 1 of m0
  EXPECT_TRUE(same_bits(rows_of(m1, 0, 199), rows_of(m0, 1, 199)));
  EXPECT_FALSE(same_bits(rows_of(m0, 0, 1), rows_of(m0, 1, 1)));
  std::size_t dropped = 0;
  for (float v : m0) dropped += v == 0.0f;
  EXPECT_NEAR(static_cast<double>(dropped) / m0.size(), 0.5, 0.01);
  // Without a run position (outside tg::fit), masks come from the generator in sequence.
  Tape tape;
  const Tensor first = a(tape.constant(ones_in)).value();
  const Tensor second = a(tape.constant(ones_in)).value();
  EXPECT_FALSE(same_bits(first, second));
}

TEST(BatchSplit, ShardsAreWholeBlocksInRankOrder) {
  Dataset d = test::random_digit_images(100, 1);
  for (std::size_t world : {2u, 3u}) {
    std::vector<std::size_t> sizes;
    for (std::size_t r = 0; r < world; ++r) {
      BatchIterator it(d, 64, false, 0);
      it.set_shard(r, world);
      Batch b;
      ASSERT_TRUE(it.next(b));
      EXPECT_EQ(b.global_offset % kBatchBlock, 0u);
      EXPECT_EQ(b.run_position, b.global_offset);
      sizes.push_back(b.size());
    }
    EXPECT_EQ(sizes, world == 2 ? (std::vector<std::size_t>{32, 32})
                                : (std::vector<std::size_t>{16, 16, 32}));
  }
}
