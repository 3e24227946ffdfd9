#include "tapegrad/train/train.hpp"

#include "tapegrad/core/threads.hpp"
#include "tapegrad/ops/arith.hpp"
#include "tapegrad/ops/reduce.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace tg {

namespace {
double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Throws unless `output` is one row of `columns` values for each of the batch's samples.
void check_output(const Tensor& output, std::size_t samples, std::size_t columns, const char* what,
                  const std::string& where) {
  if (output.dimension() == 0 || output.shape(0) != samples || output.size() != samples * columns)
    throw Error(where + ": the model's output " + shape_str(output) + " does not fit " +
                std::to_string(samples) + " samples of " + std::to_string(columns) + " " + what);
}

// Running sums of the built-in metrics over batches, in double.
struct MetricSums {
  bool regression = false;
  std::size_t columns = 0;  // classes, or targets per sample
  std::size_t samples = 0, correct = 0;
  std::vector<std::vector<std::size_t>> confusion;
  // Regression, per target column: Welford's mean and squared deviations of the targets, and
  // the absolute and squared errors.
  std::vector<double> target_mean, target_m2, abs_error, squared_error;

  MetricSums(bool is_regression, std::size_t cols) : regression(is_regression), columns(cols) {
    if (regression) {
      target_mean.assign(cols, 0.0);
      target_m2.assign(cols, 0.0);
      abs_error.assign(cols, 0.0);
      squared_error.assign(cols, 0.0);
    } else {
      confusion.assign(cols, std::vector<std::size_t>(cols, 0));
    }
  }

  void add_labels(const Tensor& scores, const std::vector<std::int32_t>& labels) {
    const std::size_t n = labels.size(), c = columns;
    for (std::size_t i = 0; i < n; ++i) {
      const float* row = scores.data() + i * c;
      const auto p = static_cast<std::size_t>(std::max_element(row, row + c) - row);
      const auto t = static_cast<std::size_t>(labels[i]);
      correct += p == t;
      if (t < c) confusion[t][p]++;
    }
    samples += n;
  }

  void add_targets(const Tensor& predictions, const Tensor& targets) {
    const std::size_t k = columns, n = targets.size() / k;
    for (std::size_t i = 0; i < n; ++i) {
      const double count = static_cast<double>(samples + i + 1);
      for (std::size_t j = 0; j < k; ++j) {
        const double y = targets.data()[i * k + j], p = predictions.data()[i * k + j];
        const double delta = y - target_mean[j];
        target_mean[j] += delta / count;
        target_m2[j] += delta * (y - target_mean[j]);
        abs_error[j] += std::fabs(p - y);
        squared_error[j] += (p - y) * (p - y);
      }
    }
    samples += n;
  }

  double accuracy() const {
    return samples ? static_cast<double>(correct) / static_cast<double>(samples) : 0.0;
  }
  double mae() const { return total(abs_error); }
  double rmse() const { return std::sqrt(total(squared_error)); }
  double r2() const {
    if (samples == 0 || columns == 0) return 0.0;
    double sum = 0.0;
    for (std::size_t j = 0; j < columns; ++j)
      sum += target_m2[j] > 0.0 ? 1.0 - squared_error[j] / target_m2[j]
                                : (squared_error[j] == 0.0 ? 1.0 : 0.0);
    return sum / static_cast<double>(columns);
  }
  std::vector<MetricValue> values() const {
    if (!regression) return {{"accuracy", accuracy()}};
    return {{"mae", mae()}, {"rmse", rmse()}, {"r2", r2()}};
  }

 private:
  double total(const std::vector<double>& per_column) const {
    double sum = 0.0;
    for (double v : per_column) sum += v;
    const double n = static_cast<double>(samples * columns);
    return n > 0 ? sum / n : 0.0;
  }
};

// What user metrics need: every output row with its label or targets, gathered batch by batch
// into buffers that keep their capacity from one epoch to the next.
struct PredictionBuffer {
  std::vector<float> outputs, targets;
  std::vector<std::int32_t> labels;
  std::size_t output_columns = 0, target_size = 0;

  void clear() {
    outputs.clear();
    targets.clear();
    labels.clear();
  }
  void add(const Tensor& output, const Batch& batch) {
    const std::size_t n = batch.size();
    if (n == 0) return;
    output_columns = output.size() / n;
    outputs.insert(outputs.end(), output.data(), output.data() + output.size());
    labels.insert(labels.end(), batch.labels.begin(), batch.labels.end());
    if (batch.targets.dimension() != 0) {
      target_size = batch.targets.size() / n;
      targets.insert(targets.end(), batch.targets.data(),
                     batch.targets.data() + batch.targets.size());
    }
  }
  Predictions predictions() const {
    Predictions p;
    const std::size_t n = output_columns ? outputs.size() / output_columns : 0;
    p.outputs = tensor(Shape{n, output_columns}, outputs);
    p.labels = labels;
    if (target_size) p.targets = tensor(Shape{n, target_size}, targets);
    return p;
  }
};

void append_user_metrics(const std::vector<Metric>& metrics, const PredictionBuffer& buffer,
                         std::vector<MetricValue>& out) {
  if (metrics.empty()) return;
  const Predictions p = buffer.predictions();
  for (const Metric& m : metrics) out.push_back({m.name, m.compute(p)});
}

// Classification or regression, and the columns the model must give, from a data set that
// must have labels or targets.
MetricSums sums_for(const Dataset& data, const std::string& where) {
  if (data.is_regression()) return MetricSums(true, data.target_size);
  if (data.is_classification()) return MetricSums(false, data.num_classes);
  throw Error(where + ": data set '" + data.name + "' has neither labels nor targets");
}

// Adds one batch's output to `sums` after checking that it fits the batch.
void add_batch(MetricSums& sums, const Tensor& output, const Batch& batch,
               const std::string& where) {
  const std::size_t n = batch.size();
  if (sums.regression) {
    check_output(output, n, sums.columns, "targets", where);
    sums.add_targets(output, batch.targets);
  } else {
    check_output(output, n, sums.columns, "class scores", where);
    sums.add_labels(output, batch.labels);
  }
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* where) {
  if (a.dimension() != b.dimension() ||
      !std::equal(a.shape().begin(), a.shape().end(), b.shape().begin()))
    throw Error(std::string(where) + ": predictions " + shape_str(a) + " and targets " +
                shape_str(b) + " differ in shape");
}

MetricSums regression_sums(const Tensor& predictions, const Tensor& targets, const char* where) {
  check_same_shape(predictions, targets, where);
  if (predictions.dimension() == 0 || predictions.size() == 0)
    throw Error(std::string(where) + ": no predictions");
  MetricSums sums(true, cols(predictions));
  sums.add_targets(predictions, targets);
  return sums;
}
}  // namespace

// ---- metrics ----

double accuracy(const Tensor& scores, const std::vector<std::int32_t>& labels) {
  if (labels.empty()) throw Error("accuracy: no labels");
  if (scores.dimension() != 2 || scores.shape(0) != labels.size())
    throw Error("accuracy: scores " + shape_str(scores) + " are not " +
                std::to_string(labels.size()) + " x classes");
  MetricSums sums(false, cols(scores));
  sums.add_labels(scores, labels);
  return sums.accuracy();
}

double mean_absolute_error(const Tensor& predictions, const Tensor& targets) {
  return regression_sums(predictions, targets, "mean_absolute_error").mae();
}

double root_mean_squared_error(const Tensor& predictions, const Tensor& targets) {
  return regression_sums(predictions, targets, "root_mean_squared_error").rmse();
}

double r2_score(const Tensor& predictions, const Tensor& targets) {
  return regression_sums(predictions, targets, "r2_score").r2();
}

std::optional<double> find_metric(const std::vector<MetricValue>& values, const std::string& name) {
  for (const MetricValue& v : values)
    if (v.name == name) return v.value;
  return std::nullopt;
}

namespace {
// default_loss before its reduction: one loss per sample (cross-entropy) or per target value
// (squared error).
Var default_losses(Var output, const Batch& batch, Reduction reduction) {
  if (!batch.labels.empty()) return softmax_cross_entropy(output, batch.labels, reduction);
  if (batch.targets.dimension() == 0)
    throw Error("default_loss: the batch has neither labels nor targets");
  // mse broadcasts: an N output against N x 1 targets would silently become N x N.
  check_same_shape(output.value(), batch.targets, "default_loss (mean squared error)");
  return mse(output, batch.targets, reduction);
}

// One training step's loss. With `share` (an exchange combines the shards), the shard's
// share of the global batch's mean: the sum of the shard's losses times 1 / (the global
// batch's count). Each row's gradient then has the same bits however the batch is split, and
// the shards' gradients add up to the global batch's. Without it, the shard's mean (what
// tg::dist::all_reduce_gradients expects; the same when the shard is the whole batch).
// `losses` gets the shard's losses in order (a user loss: its mean times the rows), and
// `per_sample` how many losses a sample has.
Var shard_loss(const LossFunction& user_loss, Var output, const Batch& batch, bool share,
               std::vector<double>& losses, std::size_t& per_sample) {
  const std::size_t n = batch.size();
  const std::size_t global = share && batch.global_size ? batch.global_size : n;
  losses.clear();
  if (user_loss) {  // a mean over the shard's rows: weighted by the shard's share
    Var loss = user_loss(output, batch);
    losses.push_back(loss.item() * static_cast<double>(n));
    per_sample = 1;
    return n == global ? loss : loss * static_cast<float>(static_cast<double>(n) / global);
  }
  Var each = default_losses(output, batch, Reduction::none);
  const Tensor& v = each.value();
  losses.assign(v.begin(), v.end());
  per_sample = n ? v.size() / n : 1;
  return sum(each) * static_cast<float>(1.0 / static_cast<double>(global * per_sample));
}

// start + every loss, one at a time in order (the order one process adds them in).
double add_in_order(double start, const std::vector<double>& losses) {
  for (double l : losses) start += l;
  return start;
}
}  // namespace

Var default_loss(Var output, const Batch& batch) {
  return default_losses(output, batch, Reduction::mean);
}

// ---- evaluate ----

Evaluation evaluate(Module& model, BatchIterator& data, const LossFunction& loss,
                    std::size_t classes, const std::vector<Metric>& metrics) {
  const Dataset& set = data.dataset();
  MetricSums sums = sums_for(set, "evaluate");
  if (!sums.regression && classes != 0 && classes != set.num_classes)
    throw Error("evaluate: " + std::to_string(classes) + " classes requested, but data set '" +
                set.name + "' has " + std::to_string(set.num_classes));
  FlushDenormalsScope flush_denormals;
  const bool was_training = model.training();
  model.eval();
  NoGradGuard no_grad;
  Evaluation out;
  out.regression = sums.regression;
  Tape tape;
  Batch batch;
  PredictionBuffer buffer;
  double loss_sum = 0.0;
  data.begin_epoch(0);
  try {
    while (data.next(batch)) {
      const std::size_t n = batch.size();
      if (n == 0) continue;
      tape.clear();
      Var output = model(tape.constant(batch.images));
      add_batch(sums, output.value(), batch, "evaluate on '" + set.name + "'");
      const double batch_loss = (loss ? loss(output, batch) : default_loss(output, batch)).item();
      loss_sum += batch_loss * static_cast<double>(n);
      if (!metrics.empty()) buffer.add(output.value(), batch);
    }
  } catch (...) {
    model.set_training(was_training);
    throw;
  }
  model.set_training(was_training);
  out.samples = sums.samples;
  if (out.samples > 0) out.loss = loss_sum / static_cast<double>(out.samples);
  if (sums.regression) {
    out.mae = sums.mae();
    out.rmse = sums.rmse();
    out.r2 = sums.r2();
  } else {
    out.accuracy = sums.accuracy();
    out.confusion = sums.confusion;
  }
  out.metrics = sums.values();
  append_user_metrics(metrics, buffer, out.metrics);
  return out;
}

// ---- EarlyStopping ----

bool EarlyStopping::update(int epoch, double metric) {
  improved_ = best_epoch_ < 0 || metric < best_ - min_delta_;
  if (improved_) {
    best_ = metric;
    best_epoch_ = epoch;
    bad_epochs_ = 0;
    return false;
  }
  return ++bad_epochs_ >= patience_;
}

// ---- ProgressBar ----

bool ProgressBar::is_terminal(std::FILE* stream) {
  return isatty(fileno(stream)) != 0;
}

ProgressBar::ProgressBar(std::size_t total, std::string label, std::FILE* stream)
    : total_(total),
      label_(std::move(label)),
      stream_(stream),
      enabled_(is_terminal(stream)),
      start_(now_seconds()) {}

void ProgressBar::update(std::size_t done, double loss, std::optional<double> accuracy) {
  if (!enabled_) return;
  const double t = now_seconds();
  if (done < total_ && t - last_draw_ < 0.1) return;  // redraw at most 10 times a second
  last_draw_ = t;
  const double elapsed = t - start_;
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - std::min(done, total_)) / rate : 0.0;
  constexpr int width = 30;
  const int filled = total_ ? static_cast<int>(width * std::min(done, total_) / total_) : width;
  std::string bar(static_cast<std::size_t>(filled), '=');
  if (filled < width) bar += '>' + std::string(static_cast<std::size_t>(width - filled - 1), ' ');
  char acc[32] = "";
  if (accuracy) std::snprintf(acc, sizeof acc, "  acc %.4f", *accuracy);
  std::fprintf(stream_,
               "\r%s [%s] %zu/%zu  %.0f samples/s  loss %.4f%s  %.0fs elapsed  ETA %.0fs\033[K",
               label_.c_str(), bar.c_str(), done, total_, rate, loss, acc, elapsed, eta);
  std::fflush(stream_);
}

void ProgressBar::finish() {
  if (!enabled_) return;
  std::fprintf(stream_, "\r\033[K");
  std::fflush(stream_);
}

// ---- fit ----

namespace {
// "  acc 0.9650" or "  mae 0.1 rmse 0.2 r2 0.9": a metric list as the epoch line shows it.
std::string format_metrics(const std::vector<MetricValue>& metrics) {
  std::string out;
  char value[64];
  for (const MetricValue& m : metrics) {
    std::snprintf(value, sizeof value, " %.4f", m.value);
    out += " " + (m.name == "accuracy" ? std::string("acc") : m.name) + value;
  }
  return out;
}
}  // namespace

std::string format_epoch(const EpochMetrics& m, int epochs, const std::string& validation_name) {
  char buffer[128];
  std::snprintf(buffer, sizeof buffer, "epoch %d/%d  train loss %.4f", m.epoch + 1, epochs,
                m.train_loss);
  std::string line = buffer;
  // EpochMetrics made by hand (before metric lists existed) still show their accuracy.
  line += m.train_metrics.empty() ? format_metrics({{"accuracy", m.train_accuracy}})
                                  : format_metrics(m.train_metrics);
  if (m.validation_loss) {
    std::snprintf(buffer, sizeof buffer, "  %s loss %.4f", validation_name.c_str(),
                  *m.validation_loss);
    line += buffer;
    if (!m.validation_metrics.empty())
      line += format_metrics(m.validation_metrics);
    else if (m.validation_accuracy)
      line += format_metrics({{"accuracy", *m.validation_accuracy}});
  }
  std::snprintf(buffer, sizeof buffer, "  %.2f s  %.0f samples/s", m.train_seconds,
                m.samples_per_second);
  return line + buffer;
}

FitResult fit(Module& model, Optimizer& optimizer, BatchIterator& train, BatchIterator* validation,
              const FitOptions& options) {
  const Dataset& train_set = train.dataset();
  const MetricSums task = sums_for(train_set, "fit");
  if (validation) {
    const Dataset& v = validation->dataset();
    const MetricSums validation_task = sums_for(v, "fit (validation)");
    if (validation_task.regression != task.regression || validation_task.columns != task.columns)
      throw Error("fit: the validation set '" + v.name + "' (" +
                  (validation_task.regression ? "regression, " : "classification, ") +
                  std::to_string(validation_task.columns) + ") does not match the training set '" +
                  train_set.name + "' (" + (task.regression ? "regression, " : "classification, ") +
                  std::to_string(task.columns) + ")");
  }
  FlushDenormalsScope flush_denormals;
  FitResult result;
  const bool exchange = options.exchange.receive && options.exchange.pass_on;
  std::vector<double> losses, step_sums;
  const std::vector<Parameter*> params = model.parameters();
  std::optional<EarlyStopping> stopper;
  if (options.early_stopping_patience > 0)
    stopper.emplace(options.early_stopping_patience, options.early_stopping_min_delta);
  StateDict best_state;
  Tape tape;
  Batch batch;
  PredictionBuffer buffer;
  std::size_t step = 0;
  const std::string where = "fit on '" + train_set.name + "'";

  for (int epoch = options.start_epoch; epoch < options.epochs; ++epoch) {
    model.train();
    train.begin_epoch(epoch);
    ProgressBar bar(train.samples_per_epoch(),
                    "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options.epochs));
    const double start = now_seconds();
    // This rank's sums of losses (per_sample per sample) and counts, and with an exchange the
    // global batches' (the same bits on every rank).
    double loss_sum = 0.0, global_loss_sum = 0.0, global_correct = 0.0;
    std::size_t seen = 0, global_seen = 0, per_sample = 1;
    MetricSums sums(task.regression, task.columns);
    buffer.clear();
    while (train.next(batch)) {
      tape.clear();
      optimizer.zero_grad();
      // A data-parallel shard can be empty (a short last batch with fewer blocks than there
      // are ranks): no forward or backward then, but the step still happens, so that every
      // rank takes part in the exchange and applies the same update.
      const std::size_t n = batch.size();
      const std::size_t correct_before = sums.correct;
      Var loss;
      if (n > 0) {
        tape.set_run_position(batch.run_position);
        Var output = model(tape.constant(batch.images));
        add_batch(sums, output.value(), batch, where);
        loss = shard_loss(options.loss, output, batch, exchange, losses, per_sample);
        if (!options.metrics.empty()) buffer.add(output.value(), batch);
      } else {
        losses.clear();
      }
      const double shard_loss_sum = add_in_order(0.0, losses);
      if (exchange) {
        // The step's sums continue from where the previous ranks' stopped, as one process's.
        step_sums.assign(3, 0.0);
        options.exchange.receive(step_sums);
        step_sums[0] = add_in_order(step_sums[0], losses);
        step_sums[1] += static_cast<double>(sums.correct - correct_before);
        step_sums[2] += static_cast<double>(n);
      }
      if (n > 0) tape.backward(loss);
      if (exchange) {
        options.exchange.pass_on(step_sums);
        global_loss_sum += step_sums[0];
        global_correct += step_sums[1];
      }
      if (options.after_backward) options.after_backward(tape, step);
      if (options.clip_grad_norm > 0.0f) clip_grad_norm(params, options.clip_grad_norm);
      optimizer.step();

      loss_sum += shard_loss_sum;
      seen += n;
      global_seen += batch.global_size;
      const double value = n > 0 ? shard_loss_sum / static_cast<double>(n * per_sample) : 0.0;
      if (options.on_batch) options.on_batch(step, value);
      ++step;
      if (options.progress)
        bar.update(global_seen, seen ? loss_sum / static_cast<double>(seen * per_sample) : 0.0,
                   task.regression ? std::nullopt : std::optional<double>(sums.accuracy()));
    }
    bar.finish();

    EpochMetrics m;
    m.epoch = epoch;
    m.train_seconds = now_seconds() - start;
    m.train_loss = seen ? loss_sum / static_cast<double>(seen * per_sample) : 0.0;
    m.train_accuracy = task.regression ? 0.0 : sums.accuracy();
    m.train_metrics = sums.values();
    if (exchange && global_seen > 0) {  // the whole global batches', not this rank's shards'
      m.train_loss = global_loss_sum / static_cast<double>(global_seen * per_sample);
      if (!task.regression) {
        m.train_accuracy = global_correct / static_cast<double>(global_seen);
        m.train_metrics = {{"accuracy", m.train_accuracy}};
      }
    }
    append_user_metrics(options.metrics, buffer, m.train_metrics);
    // Over all data-parallel shards (global_seen == seen in one process).
    m.samples_per_second =
        m.train_seconds > 0 ? static_cast<double>(global_seen) / m.train_seconds : 0;
    m.lr = optimizer.lr();
    if (validation) {
      const Evaluation e = evaluate(model, *validation, options.loss, 0, options.metrics);
      m.validation_loss = e.loss;
      if (!e.regression) m.validation_accuracy = e.accuracy;
      m.validation_metrics = e.metrics;
    }
    result.history.push_back(m);
    if (options.log_epochs)
      std::fprintf(stderr, "%s\n",
                   format_epoch(m, options.epochs, options.validation_name).c_str());

    const double monitored = options.monitor     ? options.monitor(m)
                             : m.validation_loss ? *m.validation_loss
                                                 : m.train_loss;
    if (options.schedule) options.schedule->step();
    if (options.plateau) options.plateau->step(monitored);
    bool stop = options.on_epoch && !options.on_epoch(m);
    if (stopper) {
      const bool patience_ran_out = stopper->update(epoch, monitored);
      if (stopper->improved() && options.restore_best) best_state = model_state(model);
      if (patience_ran_out) {
        result.stopped_early = true;
        stop = true;
      }
      result.best_epoch = stopper->best_epoch();
    }
    if (stop) break;
  }
  if (stopper && options.restore_best && !best_state.tensors.empty())
    load_model_state(model, best_state, "fit: restoring the best epoch");
  return result;
}

}  // namespace tg
