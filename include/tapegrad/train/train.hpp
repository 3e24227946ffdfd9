// The training loop for the common case (tg::fit) and the pieces it is made of, each usable
// on its own in a hand-written loop: evaluate, EarlyStopping, ProgressBar.
#pragma once

#include "tapegrad/data/data.hpp"
#include "tapegrad/nn/layers.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/optim/optim.hpp"

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tg {

// Loss and accuracy of a model over a whole data set, in evaluation mode, without a tape
// recording any way back. The confusion matrix is indexed [true][predicted].
struct Evaluation {
  double loss = 0.0;
  double accuracy = 0.0;
  std::size_t samples = 0;
  std::vector<std::vector<std::size_t>> confusion;
};
// The loss a model is trained with: from the model's output for a batch. The default is
// softmax cross-entropy from logits against the batch's labels.
using LossFunction = std::function<Var(Var output, const Batch& batch)>;
Evaluation evaluate(Module& model, BatchIterator& data, const LossFunction& loss = {},
                    std::size_t classes = 10);

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
  void update(std::size_t done, double loss);
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
  double train_accuracy = 0.0;
  std::optional<double> validation_loss;
  std::optional<double> validation_accuracy;
  double train_seconds = 0.0;       // training only; evaluation is not counted
  double samples_per_second = 0.0;  // whole global batches: all data-parallel ranks together
  double lr = 0.0;
};

struct FitOptions {
  int epochs = 1;                      // total epochs: training runs epochs [start_epoch, epochs)
  int start_epoch = 0;                 // > 0 when resuming
  LossFunction loss;                   // default: softmax cross-entropy from logits
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
  // Called after each backward, before clipping and the optimizer step: the place to look at
  // (tg::to_dot) or combine (all-reduce across processes) the step's gradients.
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

// One line: "epoch 3/5  train loss 0.1234 acc 0.9650  val loss ... acc ...  4.1 s  14634 samples/s"
std::string format_epoch(const EpochMetrics& m, int epochs,
                         const std::string& validation_name = "val");

}  // namespace tg
