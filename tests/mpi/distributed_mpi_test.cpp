// tg::dist across real processes: run under `mpirun -np 2` (ctest does). Every test runs on
// every rank; a rank's collectives all come before its checks, so a failing check on one rank
// cannot leave another waiting.
//
// The central claim: N ranks training on shards of a global batch of B rows end with the same
// weights as one process training on batches of B rows, up to float reassociation (1e-5),
// and all ranks hold bit-identical weights. The one-process reference is computed in-process
// on every rank (no sharding, no communication).
#include "tapegrad/tapegrad.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

using namespace tg;

namespace {

// Generated data: 8x8 "images" of random bytes labelled by a fixed random linear teacher.
Dataset teacher_data(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  Dataset d;
  d.name = "teacher";
  d.image_rows = 8;
  d.image_cols = 8;
  d.num_classes = 10;
  std::vector<float> teacher(64 * 10);
  for (float& w : teacher) w = rng.normal(0.0f, 1.0f);
  for (std::size_t i = 0; i < n; ++i) {
    float score[10] = {};
    for (std::size_t j = 0; j < 64; ++j) {
      const auto px = static_cast<std::uint8_t>(rng.below(256));
      d.pixels.push_back(px);
      for (int k = 0; k < 10; ++k) score[k] += (px / 255.0f - 0.5f) * teacher[j * 10 + k];
    }
    d.labels.push_back(static_cast<std::int32_t>(std::max_element(score, score + 10) - score));
  }
  return d;
}

std::unique_ptr<Sequential> mlp(std::uint64_t seed) {
  Rng rng(seed);
  auto net = std::make_unique<Sequential>();
  net->add<Dense>(64, 32, rng);
  net->add<ReLU>();
  net->add<Dense>(32, 10, rng);
  return net;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, Module& model) {
  if (kind == "adam") return std::make_unique<Adam>(model.parameters(), AdamOptions{1e-3});
  return std::make_unique<SGD>(model.parameters(), SGDOptions{0.05, 0.9});
}

// Trains with tg::fit. sharded: this rank's shard of each global batch plus the all-reduce;
// otherwise the whole batch in this process alone.
std::unique_ptr<Sequential> train(const Dataset& data, std::size_t batch, int epochs,
                                  const std::string& optimizer, bool sharded) {
  auto model = mlp(7);
  auto opt = make_optimizer(optimizer, *model);
  BatchIterator it(data, batch, true, 3);
  FitOptions options;
  options.epochs = epochs;
  options.progress = options.log_epochs = false;
  const std::vector<Parameter*> params = model->parameters();
  if (sharded) {
    it.set_shard(static_cast<std::size_t>(dist::rank()), static_cast<std::size_t>(dist::size()));
    dist::broadcast_parameters(params);
    options.after_backward = [&](const Tape&, std::size_t) {
      dist::all_reduce_gradients(params, it.last_rows(), it.last_global_rows());
    };
  }
  fit(*model, *opt, it, nullptr, options);
  return model;
}

double max_abs_difference(Module& a, Module& b) {
  const auto pa = a.parameters(), pb = b.parameters();
  double worst = 0.0;
  for (std::size_t i = 0; i < pa.size(); ++i)
    for (std::size_t j = 0; j < pa[i]->value.size(); ++j)
      worst = std::max(
          worst, std::fabs(static_cast<double>(pa[i]->value.data()[j]) - pb[i]->value.data()[j]));
  return worst;
}

// Largest |sum over ranks of w - size * w| over every weight: 0 when all ranks hold the same
// weights bit for bit (a sum of equal floats in double is exact).
double spread_across_ranks(Module& model) {
  std::vector<double> values;
  for (Parameter* p : model.parameters())
    for (float v : p->value) values.push_back(v);
  std::vector<double> sums = values;
  dist::all_reduce_sum(sums.data(), sums.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < values.size(); ++i)
    worst = std::max(worst, std::fabs(sums[i] - dist::size() * values[i]));
  return worst;
}

void expect_matches_one_process(std::size_t n, std::size_t batch, int epochs,
                                const std::string& optimizer) {
  const Dataset data = teacher_data(n, 11);
  auto sharded = train(data, batch, epochs, optimizer, true);
  const double spread = spread_across_ranks(*sharded);
  auto single = train(data, batch, epochs, optimizer, false);
  const double difference = max_abs_difference(*sharded, *single);
  if (dist::rank() == 0)
    std::printf("max |%d ranks - 1 process| = %.3g (%s)\n", dist::size(), difference,
                optimizer.c_str());
  EXPECT_EQ(spread, 0.0) << "ranks disagree";
  EXPECT_LE(difference, 1e-5) << dist::size() << " ranks vs 1 process, " << optimizer;
  EXPECT_GT(max_abs_difference(*single, *mlp(7)), 1e-2) << "training changed nothing";
}

}  // namespace

TEST(Distributed, TheTestRunsOnAsManyRanksAsCtestStarted) {
  EXPECT_TRUE(dist::compiled_with_mpi());
  const char* expected = std::getenv("TAPEGRAD_TEST_RANKS");
  if (!expected) GTEST_SKIP() << "TAPEGRAD_TEST_RANKS not set";
  EXPECT_EQ(dist::size(), std::atoi(expected));
  EXPECT_TRUE(dist::active());
}

TEST(Distributed, BroadcastGivesEveryRankTheRootsParameters) {
  auto model = mlp(100 + static_cast<std::uint64_t>(dist::rank()));  // different on every rank
  dist::broadcast_parameters(model->parameters());
  auto root = mlp(100);
  EXPECT_EQ(max_abs_difference(*model, *root), 0.0);
}

TEST(Distributed, AllReduceSumsGradientsWeightedByEachRanksRows) {
  // Rank r has r + 1 rows whose mean gradient is r + 1 everywhere; the global mean over
  // sum(r + 1) rows is sum((r + 1)^2) / sum(r + 1).
  Parameter a(zeros(3, 4)), b(zeros(1, 5));
  const double r = dist::rank() + 1.0;
  std::fill(a.grad.begin(), a.grad.end(), static_cast<float>(r));
  std::fill(b.grad.begin(), b.grad.end(), static_cast<float>(r));
  std::size_t global = 0;
  double squares = 0.0;
  for (int k = 1; k <= dist::size(); ++k) global += static_cast<std::size_t>(k), squares += k * k;
  dist::reset_communication_stats();
  dist::all_reduce_gradients({&a, &b}, static_cast<std::size_t>(r), global);
  const double expected = squares / static_cast<double>(global);
  for (float g : a.grad) EXPECT_NEAR(g, expected, 1e-6);
  for (float g : b.grad) EXPECT_NEAR(g, expected, 1e-6);
  EXPECT_EQ(dist::communication_stats().calls, 1u);
  EXPECT_EQ(dist::communication_stats().floats, 17u);  // one fused buffer
}

TEST(Distributed, AnEmptyShardContributesZerosEvenWhenItsGradientsAreNaN) {
  // A one-row global batch: rank 0 holds the row, every other rank's shard is empty and its
  // "mean over no rows" gradient is NaN.
  Parameter a(zeros(2, 2));
  const bool empty = dist::rank() != 0;
  std::fill(a.grad.begin(), a.grad.end(), empty ? NAN : 2.0f);
  dist::all_reduce_gradients({&a}, empty ? 0 : 1, 1);
  for (float g : a.grad) EXPECT_EQ(g, 2.0f);
}

TEST(Distributed, TwoRanksTrainTheSameWeightsAsOneProcessWithMomentumSgd) {
  expect_matches_one_process(2048, 32, 4, "momentum");  // 256 steps, even shards
}

TEST(Distributed, TwoRanksTrainTheSameWeightsAsOneProcessWithAdam) {
  expect_matches_one_process(2048, 32, 4, "adam");
}

TEST(Distributed, UnevenShardsAndAnEmptyLastShardStillMatchOneProcess) {
  // Batches of 33 rows split 16 / 17; the last batch has a single row, so one rank's shard
  // of it is empty. 61 steps an epoch.
  expect_matches_one_process(60 * 33 + 1, 33, 4, "adam");
}

int main(int argc, char** argv) {
  dist::Session session(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();  // every rank runs and reports every test
}
