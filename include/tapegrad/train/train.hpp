// The training loop for the common case (tg::fit) and the pieces it is made of, each usable
// on its own in a hand-written loop: evaluate, the metrics, EarlyStopping, ProgressBar.
// Classification or regression is the data's: labels mean softmax cross-entropy from logits and
// accuracy, targets mean mean squared error and MAE, RMSE and R².
#pragma once

#include "tapegrad/data/data.hpp"
#include "tapegrad/nn/layers.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/optim/optim.hpp"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tg {

// ---- metrics ----

// Fraction of rows of `scores` (N x classes) whose largest element is at the row's label.
double accuracy(const Tensor& scores, const std::vector<std::int32_t>& labels);
// Over every element of predictions and targets (the same shape, as torchmetrics' functions).
double mean_absolute_error(const Tensor& predictions, const Tensor& targets);
double root_mean_squared_error(const Tensor& predictions, const Tensor& targets);
// Coefficient of determination of N x k predictions, 1 - SS_res / SS_tot per column, averaged
// over the k columns (scikit-learn's r2_score, multioutput 'uniform_average'); a constant target
// column scores 1 when predicted exactly and 0 otherwise.
double r2_score(const Tensor& predictions, const Tensor& targets);

// A whole data set's model outputs, beside what they should have been: what a user metric sees.
struct Predictions {
  Tensor outputs;                    // N x outputs
  std::vector<std::int32_t> labels;  // N, classification
  Tensor targets;                    // N x target_size, regression
};
// A metric of your own, e.g. {"max_error", [](const tg::Predictions& p) { ... }}.
struct Metric {
  std::string name;  // as the epoch line and Evaluation::metrics call it
  std::function<double(const Predictions&)> compute;
};
struct MetricValue {
  std::string name;
  double value = 0.0;
};
// The value called `name` in `values`, if any.
std::optional<double> find_metric(const std::vector<MetricValue>& values, const std::string& name);

// ---- evaluate ----

// Loss and metrics of a model over a whole data set, in evaluation mode, without a tape
// recording any way back. Classification fills accuracy and the confusion matrix, indexed
// [true][predicted]; regression fills mae, rmse and r2. `metrics` holds them by name
// ("accuracy", or "mae", "rmse", "r2"), then every user metric in the order given.
struct Evaluation {
  double loss = 0.0;
  double accuracy = 0.0;
  std::size_t samples = 0;
  std::vector<std::vector<std::size_t>> confusion;
  bool regression = false;
  double mae = 0.0, rmse = 0.0, r2 = 0.0;
  std::vector<MetricValue> metrics;
};
// The loss a model is trained with: from the model's output for a batch. The default is
// softmax cross-entropy from logits against the batch's labels for classification, and the
// mean squared error against its targets for regression.
using LossFunction = std::function<Var(Var output, const Batch& batch)>;
Var default_loss(Var output, const Batch& batch);
// `classes`: 0 takes the data set's num_classes; another value must equal it. Throws before
// the first batch on a data set without labels or targets, and on the first batch when the
// model's output does not fit (N x classes, or N x target_size).
Evaluation evaluate(Module& model, BatchIterator& data, const LossFunction& loss = {},
                    std::size_t classes = 0, const std::vector<Metric>& metrics = {});

// Stops when the monitored metric (lower is better) has not improved by more than
// min_delta for `patience` epochs, remembering the best epoch.
class EarlyStopping {
 public:
  explicit EarlyStopping(int patience, double min_delta = 0.0)
      : patience_(patience), min_delta_(min_delta) {}
  // Records the epoch's metric; true when training should stop.
  bool update(int epoch, double metric);
  bool improved() const { return improved_; }  // did the last update set a new best?
  int best_epoch() const { return best_epoch_; }
  double best() const { return best_; }

 private:
  int patience_;
  double min_delta_;
  int best_epoch_ = -1;
  double best_ = 0.0;
  int bad_epochs_ = 0;
  bool improved_ = false;
};

// A progress bar on a terminal (samples/s, loss, ETA), redrawn in place; silent when the
// stream is not a terminal (logs then get only the per-epoch lines).
class ProgressBar {
 public:
  ProgressBar(std::size_t total, std::string label, std::FILE* stream = stderr);
  // Shows the running accuracy too when given (classification).
  void update(std::size_t done, double loss, std::optional<double> accuracy = std::nullopt);
  void finish();
  static bool is_terminal(std::FILE* stream);

 private:
  std::size_t total_;
  std::string label_;
  std::FILE* stream_;
  bool enabled_;
  double start_;
  double last_draw_ = -1.0;
};

struct EpochMetrics {
  int epoch = 0;  // 0-based
  // Over the rows this process trained on (its own shard under data parallelism).
  double train_loss = 0.0;
  double train_accuracy = 0.0;  // classification only (0 for regression)
  std::optional<double> validation_loss;
  std::optional<double> validation_accuracy;  // classification with a validation set
  // Every metric by name (Evaluation::metrics): the training rows' (outputs while training, as
  // the loss) and the validation set's.
  std::vector<MetricValue> train_metrics, validation_metrics;
  double train_seconds = 0.0;       // training only; evaluation is not counted
  double samples_per_second = 0.0;  // whole global batches: all data-parallel ranks together
  double lr = 0.0;
};

// Combines the shards of a data-parallel step with the bits of one process
// (tg::dist::chained_exchange() makes one over MPI). `sums` holds the step's loss sum, correct
// predictions and samples.
struct StepExchange {
  // Before this rank's backward: the gradients get the partial sums the ranks before it
  // reached (they stay zero on the first rank), and `sums` theirs.
  std::function<void(std::vector<double>& sums)> receive;
  // After it: passes the gradients and `sums` on; on return every rank's hold the global
  // batch's.
  std::function<void(std::vector<double>& sums)> pass_on;
};

struct FitOptions {
  int epochs = 1;                      // total epochs: training runs epochs [start_epoch, epochs)
  int start_epoch = 0;                 // > 0 when resuming
  LossFunction loss;                   // default: tg::default_loss (by the data's task)
  std::vector<Metric> metrics;         // user metrics, after the built-in ones of the task
  LrSchedule* schedule = nullptr;      // stepped once per epoch
  ReduceOnPlateau* plateau = nullptr;  // stepped once per epoch with the monitored metric
  float clip_grad_norm = 0.0f;         // 0 = off
  int early_stopping_patience = 0;     // 0 = off
  double early_stopping_min_delta = 0.0;
  bool restore_best = true;  // with early stopping: end with the best epoch's weights
  // The metric early stopping and plateau schedules watch (lower is better). Default: the
  // validation loss, or the training loss without a validation set.
  std::function<double(const EpochMetrics&)> monitor;
  bool progress = true;                 // the bar on stderr (terminals only)
  bool log_epochs = true;               // one line per epoch on stderr
  std::string validation_name = "val";  // how the validation set is called in those lines
  // Data parallelism: the shards of each step combined with the bits of one process, and the
  // epoch's training loss and accuracy over the global batches (both empty: no exchange).
  StepExchange exchange;
  // Called after each backward, before clipping and the optimizer step: the place to look at
  // (tg::to_dot) or combine (all-reduce across processes) the step's gradients. A shard's
  // loss is its rows' mean without an exchange, and with one its share of the global batch's
  // mean (its losses' sum over the global batch's count: the shards' gradients add up).
  std::function<void(const Tape& tape, std::size_t step)> after_backward;
  // The step's loss (0 for an empty data-parallel shard, which skips forward and backward
  // but still calls after_backward and steps the optimizer).
  std::function<void(std::size_t step, double loss)> on_batch;
  std::function<bool(const EpochMetrics&)> on_epoch;  // return false to stop training
};

struct FitResult {
  std::vector<EpochMetrics> history;
  int best_epoch = -1;  // with early stopping
  bool stopped_early = false;
};

// zero_grad -> forward -> loss -> backward -> (clip) -> step, over epochs of batches.
FitResult fit(Module& model, Optimizer& optimizer, BatchIterator& train,
              BatchIterator* validation = nullptr, const FitOptions& options = {});

// One line: "epoch 3/5  train loss 0.1234 acc 0.9650  val loss ... acc ...  4.1 s  14634
// samples/s", with every metric of train_metrics and validation_metrics ("accuracy" shown as
// "acc").
std::string format_epoch(const EpochMetrics& m, int epochs,
                         const std::string& validation_name = "val");

}  // namespace tg
