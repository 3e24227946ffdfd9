// Training on tabular float data end to end: a seeded three-way split, standardisation learned
// on the training part, fit with the task's default loss, and the test metrics against what the
// generating process allows.
#include "tapegrad/tapegrad.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace tg;

namespace {
// The samples of `data` at `indices`, standardised with `p`.
Dataset part(const Dataset& data, const std::vector<std::size_t>& indices, const Preprocessing* p) {
  Dataset out = data.select(indices);
  if (p) apply_preprocessing(*p, out);
  return out;
}

std::unique_ptr<Sequential> mlp(std::size_t in, std::size_t hidden, std::size_t out) {
  Rng rng(3);
  auto model = std::make_unique<Sequential>();
  model->add<Dense>(in, hidden, rng);
  model->add<ReLU>();
  model->add<Dense>(hidden, out, rng);
  return model;
}

FitOptions quiet(int epochs) {
  FitOptions options;
  options.epochs = epochs;
  options.progress = options.log_epochs = false;
  options.early_stopping_patience = 5;
  return options;
}
}  // namespace

TEST(Tabular, ARegressionOnAKnownLinearFunctionReachesTheR2TheNoiseAllows) {
  // y = 3 x0 - 2 x1 + 0.5 x2 + 1 + noise, x ~ N(mean, stddev) per column (scales far from 1, so
  // standardisation matters), noise ~ N(0, 0.5): the best possible R² is
  // var(signal) / (var(signal) + 0.25) with var(signal) = 9 * 4 + 4 * 0.25 + 0.25 * 100.
  const double signal = 9 * 4 + 4 * 0.25 + 0.25 * 100, best_r2 = signal / (signal + 0.25);
  Rng rng(11);
  Dataset data;
  data.name = "linear";
  data.sample_shape = {3};
  for (int i = 0; i < 3000; ++i) {
    const float x0 = rng.normal(100, 2), x1 = rng.normal(-5, 0.5f), x2 = rng.normal(0, 10);
    data.values.insert(data.values.end(), {x0, x1, x2});
    data.targets.push_back(3 * (x0 - 100) - 2 * (x1 + 5) + 0.5f * x2 + 1 + rng.normal(0, 0.5f));
  }
  const SplitIndices split = split_indices(data.size(), 0.1, 0.2, 42);
  const Preprocessing standardize = fit_standardization(data.select(split.train));
  const Dataset train_set = part(data, split.train, &standardize);
  const Dataset validation_set = part(data, split.validation, &standardize);
  const Dataset test_set = part(data, split.test, &standardize);

  auto model = mlp(3, 16, 1);
  Adam optimizer(model->parameters(), {.lr = 1e-2});
  BatchIterator train(train_set, 32, true, 0), validation(validation_set, 256, false, 0);
  const FitResult result = fit(*model, optimizer, train, &validation, quiet(60));
  BatchIterator test(test_set, 256, false, 0);
  const Evaluation e = evaluate(*model, test);
  EXPECT_TRUE(e.regression);
  EXPECT_EQ(e.samples, 600u);
  EXPECT_NEAR(e.r2, best_r2, 0.005) << "best epoch " << result.best_epoch;
  EXPECT_NEAR(e.rmse, 0.5, 0.08);         // the noise's stddev
  EXPECT_NEAR(e.mae, 0.5 * 0.798, 0.07);  // E|N(0, s)| = s sqrt(2 / pi)
  EXPECT_NEAR(e.loss, e.rmse * e.rmse, 1e-4);
}

TEST(Tabular, AThreeClassProblemIsLearnedAndItsConfusionMatrixIsThreeByThree) {
  // Three Gaussian clusters in 4-D with centres 4 apart and unit spread.
  Rng rng(5);
  Dataset data;
  data.name = "clusters";
  data.sample_shape = {4};
  data.num_classes = 3;
  const float centres[3][4] = {{0, 0, 0, 0}, {4, 0, 0, 0}, {0, 4, 0, 0}};
  for (int i = 0; i < 1500; ++i) {
    const auto c = static_cast<std::int32_t>(rng.below(3));
    for (int k = 0; k < 4; ++k) data.values.push_back(rng.normal(centres[c][k], 1.0f));
    data.labels.push_back(c);
  }
  const SplitIndices split = split_indices(data.size(), 0.1, 0.2, 1);
  const Preprocessing standardize = fit_standardization(data.select(split.train));
  const Dataset train_set = part(data, split.train, &standardize);
  const Dataset validation_set = part(data, split.validation, &standardize);
  const Dataset test_set = part(data, split.test, &standardize);

  auto model = mlp(4, 16, 3);
  Adam optimizer(model->parameters(), {.lr = 1e-2});
  BatchIterator train(train_set, 32, true, 0), validation(validation_set, 256, false, 0);
  fit(*model, optimizer, train, &validation, quiet(30));
  BatchIterator test(test_set, 100, false, 0);
  const Evaluation e = evaluate(*model, test);
  // Class 0 is 2 from two boundaries (error about 2 x 0.023), classes 1 and 2 from one at 2 and
  // one at 2.83 (about 0.023 + 0.002): the best possible accuracy is about 0.97.
  EXPECT_GT(e.accuracy, 0.93);
  ASSERT_EQ(e.confusion.size(), 3u);
  std::size_t diagonal = 0;
  for (std::size_t t = 0; t < 3; ++t) {
    ASSERT_EQ(e.confusion[t].size(), 3u);
    std::size_t row = 0;
    for (std::size_t p = 0; p < 3; ++p) row += e.confusion[t][p];
    std::size_t count = 0;
    for (std::size_t i : split.test) count += static_cast<std::size_t>(data.labels[i]) == t;
    EXPECT_EQ(row, count) << "row " << t << " holds every test sample of class " << t;
    EXPECT_GT(e.confusion[t][t], row * 9 / 10);
    diagonal += e.confusion[t][t];
  }
  EXPECT_NEAR(e.accuracy, static_cast<double>(diagonal) / 300.0, 1e-12);
}
