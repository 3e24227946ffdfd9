#include "train_csv.hpp"

#include "ols.hpp"
#include "save_outputs.hpp"

#include "tapegrad/data/csv.hpp"
#include "tapegrad/nn/layers.hpp"
#include "tapegrad/optim/optim.hpp"
#include "tapegrad/train/train.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace tapegrad_csv {
namespace {

tg::CsvOptions csv_options(const Options& o) {
  tg::CsvOptions csv;
  csv.header = o.header == "yes"  ? tg::CsvHeader::yes
               : o.header == "no" ? tg::CsvHeader::no
                                  : tg::CsvHeader::auto_detect;
  csv.skip_rows = o.skip_rows;
  csv.task = o.task == "regression"       ? tg::CsvTask::regression
             : o.task == "classification" ? tg::CsvTask::classification
                                          : tg::CsvTask::auto_detect;
  csv.targets_path = o.targets;
  if (!o.target.empty()) {
    if (!o.targets.empty())
      throw tg::Error("--target: not with --targets (the targets file holds the targets)");
    // An integer is a column index; anything else a column name.
    char* end = nullptr;
    const long long index = std::strtoll(o.target.c_str(), &end, 10);
    if (end && *end == '\0')
      csv.target_index = index;
    else
      csv.target = o.target;
  }
  return csv;
}

// Per target column mean and population stddev of the training targets (stddev 1 for a
// constant column): regression trains on standardised targets, so that Adam's steps fit
// targets of any scale.
struct TargetScale {
  std::vector<double> mean, stddev;
};
TargetScale target_scale(const tg::Dataset& train) {
  const std::size_t n = train.size(), k = train.target_size;
  TargetScale s{std::vector<double>(k, 0.0), std::vector<double>(k, 0.0)};
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t t = 0; t < k; ++t) s.mean[t] += train.targets[i * k + t];
  for (double& m : s.mean) m /= static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t t = 0; t < k; ++t) {
      const double d = train.targets[i * k + t] - s.mean[t];
      s.stddev[t] += d * d;
    }
  for (double& v : s.stddev) {
    v = std::sqrt(v / static_cast<double>(n));
    if (!(v > 0.0)) v = 1.0;
  }
  return s;
}

void standardize_targets(const TargetScale& s, tg::Dataset& data) {
  const std::size_t k = data.target_size;
  for (std::size_t i = 0; i < data.targets.size(); ++i)
    data.targets[i] = static_cast<float>((data.targets[i] - s.mean[i % k]) / s.stddev[i % k]);
}

// Makes the last Dense layer give targets in their own units: y = y' * stddev + mean, folded
// into its weights and bias, so that the model needs nothing after it in use.
void unscale_output(tg::Dense& last, const TargetScale& s) {
  const std::size_t in = last.weight.value.shape(0), k = last.weight.value.shape(1);
  for (std::size_t r = 0; r < in; ++r)
    for (std::size_t t = 0; t < k; ++t)
      last.weight.value.data()[r * k + t] =
          static_cast<float>(last.weight.value.data()[r * k + t] * s.stddev[t]);
  for (std::size_t t = 0; t < k; ++t)
    last.bias.value.data()[t] =
        static_cast<float>(last.bias.value.data()[t] * s.stddev[t] + s.mean[t]);
}

void print_regression(const char* prefix, const tg::Tensor& predictions,
                      const tg::Tensor& targets) {
  std::printf("%stest_mae=%.4f\n", prefix, tg::mean_absolute_error(predictions, targets));
  std::printf("%stest_rmse=%.4f\n", prefix, tg::root_mean_squared_error(predictions, targets));
  std::printf("%stest_r2=%.4f\n", prefix, tg::r2_score(predictions, targets));
}

}  // namespace

void train_csv(const Options& o) {
  check_outputs_available(o);
  if (!o.baseline.empty() && o.task == "classification")
    throw tg::Error("--baseline ols: only for regression");
  tg::Dataset data = tg::read_csv(o.csv, csv_options(o));
  const bool regression = data.is_regression();
  if (!regression && !data.is_classification())
    throw tg::Error(o.csv + ": no target column to train on");
  if (!o.baseline.empty() && !regression)
    throw tg::Error("--baseline ols: only for regression, and '" + o.csv +
                    "' was read as classification (--task regression?)");

  const tg::SplitIndices split =
      tg::split_indices(data.size(), o.validation_fraction, o.test_fraction, o.seed);
  if (split.test.empty())
    throw tg::Error("--test-fraction " + std::to_string(o.test_fraction) +
                    " leaves no test rows of " + std::to_string(data.size()));
  const tg::Preprocessing preprocessing = tg::fit_standardization(data.select(split.train));
  tg::Dataset train_set = data.select(split.train), validation_set = data.select(split.validation),
              test_set = data.select(split.test);
  for (tg::Dataset* d : {&train_set, &validation_set, &test_set})
    tg::apply_preprocessing(preprocessing, *d);
  std::printf(
      "tapegrad-csv: %s: %zu rows of %zu features, %s; %zu train, %zu validation, %zu test\n",
      o.csv.c_str(), data.size(), data.features(),
      regression ? ("regression on " + std::to_string(data.target_size) + " target(s)").c_str()
                 : ("classification into " + std::to_string(data.num_classes) + " classes").c_str(),
      train_set.size(), validation_set.size(), test_set.size());

  TargetScale scale;
  if (regression) {
    scale = target_scale(train_set);
    standardize_targets(scale, train_set);
    standardize_targets(scale, validation_set);  // test_set keeps its own units
    std::printf(
        "targets standardised for training: epoch lines are in standard deviations, "
        "test metrics in the target's units\n");
  }
  std::fflush(stdout);

  tg::Rng rng(o.seed);
  tg::Sequential model;
  std::size_t width = data.features();
  for (std::size_t h : o.hidden) {
    model.add<tg::Dense>(width, h, rng);
    model.add<tg::ReLU>();
    width = h;
  }
  tg::Dense& last =
      model.add<tg::Dense>(width, regression ? data.target_size : data.num_classes, rng);
  std::printf("%s", tg::summary(model, data.features()).c_str());

  tg::Adam optimizer(model.parameters(), {.lr = o.lr});
  tg::BatchIterator train(train_set, o.batch, /*shuffle=*/true, o.seed);
  tg::BatchIterator validation(validation_set, 256, false, 0);
  tg::FitOptions fit;
  fit.epochs = o.epochs;
  fit.early_stopping_patience = validation_set.size() > 0 ? o.patience : 0;
  fit.progress = fit.log_epochs = !o.quiet;
  const tg::FitResult result =
      tg::fit(model, optimizer, train, validation_set.size() > 0 ? &validation : nullptr, fit);
  if (result.best_epoch >= 0)
    std::printf("best epoch %d of %zu (by validation loss)%s\n", result.best_epoch + 1,
                result.history.size(), result.stopped_early ? ", stopped early" : "");
  if (regression) unscale_output(last, scale);

  if (!o.baseline.empty()) {
    const LinearModel ols = fit_ols(data.select(split.train));
    tg::Dataset raw_test = data.select(split.test);
    print_regression(
        "ols_", predict(ols, raw_test),
        tg::tensor(tg::Shape{raw_test.size(), raw_test.target_size}, raw_test.targets));
  }
  save_outputs(model, preprocessing, data, o);

  tg::BatchIterator test(test_set, 256, false, 0);
  const tg::Evaluation e = tg::evaluate(model, test);
  std::printf("test_loss=%.4f\n", e.loss);
  if (regression) {
    std::printf("test_mae=%.4f\ntest_rmse=%.4f\ntest_r2=%.4f\n", e.mae, e.rmse, e.r2);
  } else {
    std::printf("confusion matrix (rows: true, columns: predicted)\n");
    for (std::size_t t = 0; t < e.confusion.size(); ++t) {
      const std::string name =
          t < data.class_names.size() ? data.class_names[t] : std::to_string(t);
      std::printf("%-12s", name.c_str());
      for (std::size_t c : e.confusion[t]) std::printf(" %6zu", c);
      std::printf("\n");
    }
    std::printf("test_accuracy=%.4f\n", e.accuracy);
  }
}

}  // namespace tapegrad_csv
