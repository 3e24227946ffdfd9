#include "tapegrad/train/train.hpp"

#include "tapegrad/core/threads.hpp"

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

Var default_loss(Var output, const Batch& batch) {
  return softmax_cross_entropy(output, batch.labels);
}

std::size_t count_correct(const Tensor& scores, const std::vector<std::int32_t>& labels) {
  const std::size_t r = rows(scores), c = cols(scores);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < r; ++i) {
    const float* row = scores.data() + i * c;
    const auto predicted = static_cast<std::int32_t>(std::max_element(row, row + c) - row);
    correct += predicted == labels[i];
  }
  return correct;
}
}  // namespace

// ---- evaluate ----

Evaluation evaluate(Module& model, BatchIterator& data, const LossFunction& loss,
                    std::size_t classes) {
  FlushDenormalsScope flush_denormals;
  const bool was_training = model.training();
  model.eval();
  NoGradGuard no_grad;
  Evaluation out;
  out.confusion.assign(classes, std::vector<std::size_t>(classes, 0));
  Tape tape;
  Batch batch;
  double loss_sum = 0.0;
  std::size_t correct = 0;
  data.begin_epoch(0);
  while (data.next(batch)) {
    tape.clear();
    Var output = model(tape.constant(batch.images));
    const double batch_loss = (loss ? loss(output, batch) : default_loss(output, batch)).item();
    const std::size_t n = batch.labels.size();
    loss_sum += batch_loss * static_cast<double>(n);
    const std::vector<std::int32_t> predicted = argmax_rows(output.value());
    for (std::size_t i = 0; i < n; ++i) {
      correct += predicted[i] == batch.labels[i];
      const auto t = static_cast<std::size_t>(batch.labels[i]);
      const auto p = static_cast<std::size_t>(predicted[i]);
      if (t < classes && p < classes) out.confusion[t][p]++;
    }
    out.samples += n;
  }
  if (out.samples > 0) {
    out.loss = loss_sum / static_cast<double>(out.samples);
    out.accuracy = static_cast<double>(correct) / static_cast<double>(out.samples);
  }
  model.set_training(was_training);
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

void ProgressBar::update(std::size_t done, double loss) {
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
  std::fprintf(stream_, "\r%s [%s] %zu/%zu  %.0f samples/s  loss %.4f  ETA %.0fs\033[K",
               label_.c_str(), bar.c_str(), done, total_, rate, loss, eta);
  std::fflush(stream_);
}

void ProgressBar::finish() {
  if (!enabled_) return;
  std::fprintf(stream_, "\r\033[K");
  std::fflush(stream_);
}

// ---- fit ----

std::string format_epoch(const EpochMetrics& m, int epochs, const std::string& validation_name) {
  char line[256];
  int n = std::snprintf(line, sizeof line, "epoch %d/%d  train loss %.4f acc %.4f", m.epoch + 1,
                        epochs, m.train_loss, m.train_accuracy);
  if (m.validation_loss)
    n += std::snprintf(line + n, sizeof line - static_cast<std::size_t>(n),
                       "  %s loss %.4f acc %.4f", validation_name.c_str(), *m.validation_loss,
                       *m.validation_accuracy);
  std::snprintf(line + n, sizeof line - static_cast<std::size_t>(n), "  %.2f s  %.0f samples/s",
                m.train_seconds, m.samples_per_second);
  return line;
}

FitResult fit(Module& model, Optimizer& optimizer, BatchIterator& train, BatchIterator* validation,
              const FitOptions& options) {
  FlushDenormalsScope flush_denormals;
  FitResult result;
  const LossFunction loss_fn = options.loss ? options.loss : LossFunction(default_loss);
  const std::vector<Parameter*> params = model.parameters();
  std::optional<EarlyStopping> stopper;
  if (options.early_stopping_patience > 0)
    stopper.emplace(options.early_stopping_patience, options.early_stopping_min_delta);
  StateDict best_state;
  Tape tape;
  Batch batch;
  std::size_t step = 0;

  for (int epoch = options.start_epoch; epoch < options.epochs; ++epoch) {
    model.train();
    train.begin_epoch(epoch);
    ProgressBar bar(train.samples_per_epoch(),
                    "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options.epochs));
    const double start = now_seconds();
    double loss_sum = 0.0;
    std::size_t correct = 0, seen = 0, global_seen = 0;
    while (train.next(batch)) {
      tape.clear();
      optimizer.zero_grad();
      // A data-parallel shard can be empty (a short last batch split over more ranks than it
      // has rows): no forward or backward then, but the step still happens, so that every
      // rank takes part in after_backward's all-reduce and applies the same update.
      const std::size_t n = batch.labels.size();
      Var output, loss;
      if (n > 0) {
        output = model(tape.constant(batch.images));
        loss = loss_fn(output, batch);
        tape.backward(loss);
      }
      if (options.after_backward) options.after_backward(tape, step);
      if (options.clip_grad_norm > 0.0f) clip_grad_norm(params, options.clip_grad_norm);
      optimizer.step();

      const double value = n > 0 ? loss.item() : 0.0;
      loss_sum += value * static_cast<double>(n);
      if (n > 0) correct += count_correct(output.value(), batch.labels);
      seen += n;
      global_seen += batch.global_size;
      if (options.on_batch) options.on_batch(step, value);
      ++step;
      if (options.progress) bar.update(global_seen, loss_sum / static_cast<double>(seen));
    }
    bar.finish();

    EpochMetrics m;
    m.epoch = epoch;
    m.train_seconds = now_seconds() - start;
    m.train_loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
    m.train_accuracy = seen ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
    // Over all data-parallel shards (global_seen == seen in one process).
    m.samples_per_second =
        m.train_seconds > 0 ? static_cast<double>(global_seen) / m.train_seconds : 0;
    m.lr = optimizer.lr();
    if (validation) {
      const Evaluation e = evaluate(model, *validation, options.loss);
      m.validation_loss = e.loss;
      m.validation_accuracy = e.accuracy;
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
