// tg::dist in one process (no mpirun), in builds with and without MPI: rank 0 of 1, the
// gradient reduction only weights by the shard's rows. The multi-process tests are in
// tests/mpi (run under mpirun by ctest when MPI is found).
#include "tapegrad/tapegrad.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace tg;

namespace {
Dataset tiny(std::size_t n) {
  Dataset d;
  d.name = "tiny";
  d.image_rows = 1;
  d.image_cols = 3;
  d.num_classes = 2;
  for (std::size_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) d.pixels.push_back(static_cast<std::uint8_t>(i * 7 + k * 40));
    d.labels.push_back(static_cast<std::int32_t>(i % 2));
  }
  return d;
}
}  // namespace

TEST(DistributedSingleProcess, WithoutALauncherThisIsRankZeroOfOne) {
  EXPECT_EQ(dist::rank(), 0);
  EXPECT_EQ(dist::size(), 1);
  EXPECT_TRUE(dist::is_root());
  EXPECT_FALSE(dist::active());
  Parameter p(full(2, 2, 3.0f));
  dist::broadcast_parameters({&p});  // nothing to copy from
  for (float v : p.value) EXPECT_EQ(v, 3.0f);
  dist::abort(1);  // not under MPI: returns
}

TEST(DistributedSingleProcess, AllReduceWeightsTheGradientsByTheShardsShareOfTheGlobalBatch) {
  Parameter a(zeros(2, 3)), b(zeros(1, 3));
  std::fill(a.grad.begin(), a.grad.end(), 4.0f);
  std::fill(b.grad.begin(), b.grad.end(), -2.0f);
  dist::reset_communication_stats();
  dist::all_reduce_gradients({&a, &b}, 8, 8);  // the whole batch: unchanged
  for (float g : a.grad) EXPECT_EQ(g, 4.0f);
  dist::all_reduce_gradients({&a, &b}, 1, 4);
  for (float g : a.grad) EXPECT_EQ(g, 1.0f);
  for (float g : b.grad) EXPECT_EQ(g, -0.5f);
  EXPECT_EQ(dist::communication_stats().calls, 2u);
  EXPECT_EQ(dist::communication_stats().floats, 9u);
}

TEST(DistributedSingleProcess, AnEmptyShardGetsZeroGradientsAndBadRowCountsThrow) {
  Parameter a(zeros(1, 2));
  std::fill(a.grad.begin(), a.grad.end(), NAN);
  dist::all_reduce_gradients({&a}, 0, 1);
  for (float g : a.grad) EXPECT_EQ(g, 0.0f);
  EXPECT_THROW(dist::all_reduce_gradients({&a}, 0, 0), Error);
  EXPECT_THROW(dist::all_reduce_gradients({&a}, 3, 2), Error);
}

TEST(BatchIterator, RemembersTheRowsOfItsLastShardAndOfThatShardsGlobalBatch) {
  // Batches of 20 rows are two blocks (16 + 4) for three ranks: rank r gets blocks
  // [r*2/3, (r+1)*2/3), so rank 1 the first 16 rows; the last batch (5 rows, one block) goes
  // to rank 2 alone.
  const Dataset d = tiny(45);
  BatchIterator it(d, 20, false, 0);
  it.set_shard(1, 3);
  Batch b;
  EXPECT_EQ(it.last_rows(), 0u);
  ASSERT_TRUE(it.next(b));
  EXPECT_EQ(it.last_rows(), 16u);
  EXPECT_EQ(it.last_global_rows(), 20u);
  EXPECT_EQ(b.global_offset, 0u);
  ASSERT_TRUE(it.next(b));
  EXPECT_EQ(b.run_position, 20u);
  ASSERT_TRUE(it.next(b));
  EXPECT_EQ(it.last_rows(), 0u);
  EXPECT_EQ(it.last_global_rows(), 5u);
  BatchIterator last(d, 20, false, 0);
  last.set_shard(2, 3);
  last.begin_epoch(1);
  ASSERT_TRUE(last.next(b));
  EXPECT_EQ(b.size(), 4u);
  EXPECT_EQ(b.global_offset, 16u);
  EXPECT_EQ(b.run_position, 45u + 16u) << "epoch 1 starts after epoch 0's 45 samples";
}

TEST(Fit, AnEmptyShardSkipsForwardAndBackwardButStillCallsAfterBackwardAndSteps) {
  // 37 rows in batches of 18 (blocks of 16 + 2): rank 0 of 2 gets the first block of each;
  // the last batch has one row, one block, which goes to rank 1 (blocks [r*b/W, (r+1)*b/W)),
  // so rank 0 gets nothing of it.
  const Dataset d = tiny(37);
  BatchIterator it(d, 18, false, 0);
  it.set_shard(0, 2);
  Rng rng(0);
  Sequential model;
  model.add<Dense>(3, 2, rng);
  SGD sgd(model.parameters(), {.lr = 0.1});
  std::vector<std::size_t> rows;
  FitOptions options;
  options.progress = options.log_epochs = false;
  options.after_backward = [&](const Tape&, std::size_t) {
    rows.push_back(it.last_rows());
    dist::all_reduce_gradients(model.parameters(), it.last_rows(), it.last_global_rows());
  };
  const FitResult r = fit(model, sgd, it, nullptr, options);
  EXPECT_EQ(rows, (std::vector<std::size_t>{16, 16, 0}));
  EXPECT_EQ(sgd.steps(), 3);
  for (Parameter* p : model.parameters())
    for (float v : p->value) EXPECT_TRUE(std::isfinite(v));
  EXPECT_TRUE(std::isfinite(r.history.at(0).train_loss));
}
