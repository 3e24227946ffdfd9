#include "training.hpp"

#include "output_paths.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

namespace {

using json = nlohmann::json;

std::unique_ptr<tg::Optimizer> make_optimizer(const Config& c, std::vector<tg::Parameter*> p) {
  if (c.optimizer == "sgd") return std::make_unique<tg::SGD>(p, tg::SGDOptions{c.lr});
  if (c.optimizer == "momentum") return std::make_unique<tg::SGD>(p, tg::SGDOptions{c.lr, 0.9});
  if (c.optimizer == "nesterov")
    return std::make_unique<tg::SGD>(p, tg::SGDOptions{c.lr, 0.9, 0.0, true});
  if (c.optimizer == "rmsprop") return std::make_unique<tg::RMSprop>(p, tg::RMSpropOptions{c.lr});
  if (c.optimizer == "adam") return std::make_unique<tg::Adam>(p, tg::AdamOptions{c.lr});
  if (c.optimizer == "adamw") return std::make_unique<tg::AdamW>(p, tg::AdamWOptions{c.lr});
  throw tg::Error("--optimizer: unknown '" + c.optimizer + "'");
}

Schedules make_schedule(const Config& c, tg::Optimizer& opt) {
  Schedules s;
  if (c.schedule == "step")
    s.schedule = std::make_unique<tg::StepDecay>(opt, std::max(1, c.epochs / 3), 0.3);
  else if (c.schedule == "cosine")
    s.schedule = std::make_unique<tg::CosineAnnealing>(opt, std::max(1, c.epochs), c.lr * 0.01);
  else if (c.schedule == "plateau")
    s.plateau = std::make_unique<tg::ReduceOnPlateau>(
        opt, tg::PlateauOptions{.factor = 0.3, .patience = 1});
  else if (c.schedule != "none")
    throw tg::Error("--schedule: unknown '" + c.schedule + "'");
  return s;
}

// grad_norms: mean over the epoch's steps of ||dL/dW|| for each layer; grad_rms: the same
// divided by sqrt(number of weights), so layers of different sizes compare fairly.
json epoch_json(const tg::EpochMetrics& m, const std::vector<double>& grad_norms,
                const std::vector<double>& grad_rms) {
  json e = {{"epoch", m.epoch + 1},
            {"train_loss", m.train_loss},
            {"train_accuracy", m.train_accuracy},
            {"train_seconds", m.train_seconds},
            {"samples_per_second", m.samples_per_second},
            {"lr", m.lr},
            {"grad_norms", grad_norms},
            {"grad_rms", grad_rms}};
  if (m.validation_loss) {
    e["val_loss"] = *m.validation_loss;
    e["val_accuracy"] = m.validation_accuracy.value_or(0.0);
  }
  return e;
}

// What early stopping and the plateau schedule watch: the validation loss, or the training
// loss without a validation split (as tg::fit's default).
double monitored(const json& epoch) {
  return epoch.contains("val_loss") ? epoch["val_loss"].get<double>()
                                    : epoch["train_loss"].get<double>();
}

// Gradient norm of every Dense weight, averaged over the epoch's steps (for --out).
struct GradientNorms {
  std::vector<std::pair<std::string, tg::Parameter*>> weights;
  std::vector<double> sums;  // of ||dL/dW|| over this epoch's steps, one per weight
  std::size_t steps = 0;
};

GradientNorms watch_weights(tg::Module& model) {
  GradientNorms g;
  for (auto& [name, p] : model.named_parameters())
    if (name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 &&
        tg::rows(p->value) > 1)
      g.weights.emplace_back(name, p);
  g.sums.assign(g.weights.size(), 0.0);
  return g;
}

void add_step(GradientNorms& g) {
  for (std::size_t i = 0; i < g.weights.size(); ++i) {
    double sq = 0;
    for (float v : g.weights[i].second->grad) sq += static_cast<double>(v) * v;
    g.sums[i] += std::sqrt(sq);
  }
  ++g.steps;
}

// The epoch's entry in the history, taking (and resetting) its gradient norms.
json finish_epoch(GradientNorms& g, const tg::EpochMetrics& m) {
  std::vector<double> norms, rms;
  for (std::size_t i = 0; i < g.weights.size(); ++i) {
    norms.push_back(g.steps ? g.sums[i] / g.steps : 0.0);
    rms.push_back(norms.back() / std::sqrt(static_cast<double>(g.weights[i].second->grad.size())));
  }
  std::fill(g.sums.begin(), g.sums.end(), 0.0);
  g.steps = 0;
  return epoch_json(m, norms, rms);
}

// Early stopping is kept here rather than in tg::fit so that it survives --resume: its
// state is replayed from the history, and the best weights travel in the checkpoint.
struct EarlyStop {
  std::optional<tg::EarlyStopping> stopper;
  tg::StateDict best_weights;
  int stopped_after = -1;
};

EarlyStop resume_early_stopping(const Config& c, const json& history,
                                const Checkpoint& checkpoint) {
  EarlyStop early;
  if (c.early_stopping > 0) {
    early.stopper.emplace(c.early_stopping);
    for (std::size_t e = 0; e < history.size(); ++e)
      early.stopper->update(static_cast<int>(e), monitored(history[e]));
    early.best_weights = checkpoint.entries.with_prefix_removed("early_stopping.best.");
    if (!history.empty() && early.best_weights.tensors.empty())
      throw tg::Error(checkpoint.file + ": no early_stopping.best.* tensors for --early-stopping");
  }
  return early;
}

// Whether training goes on after `epoch`; keeps the weights of the best epoch so far.
bool go_on_after(EarlyStop& early, const tg::EpochMetrics& m, const json& epoch,
                 tg::Module& model) {
  bool go_on = true;
  if (early.stopper) {
    go_on = !early.stopper->update(m.epoch, monitored(epoch));
    if (early.stopper->improved()) early.best_weights = tg::model_state(model);
    if (!go_on) early.stopped_after = m.epoch;
  }
  return go_on;
}

void restore_best_epoch(const Config& c, const EarlyStop& early, tg::Module& model,
                        const tg::Dataset& validation) {
  if (!early.stopper || early.stopper->best_epoch() < 0) return;
  const char* what = validation.size() ? "validation" : "training";
  if (early.stopped_after >= 0 && !c.quiet)
    std::fprintf(stderr,
                 "early stopping: the %s loss did not improve for %d epoch%s; stopped after "
                 "epoch %d of %d\n",
                 what, c.early_stopping, c.early_stopping == 1 ? "" : "s", early.stopped_after + 1,
                 c.epochs);
  tg::load_model_state(model, early.best_weights, "early stopping: the best epoch's weights");
  if (!c.quiet)
    std::fprintf(stderr, "early stopping: restored the weights of epoch %d (%s loss %.4f)\n",
                 early.stopper->best_epoch() + 1, what, early.stopper->best());
}

// Everything --resume needs to go on after `epochs_done` epochs (written atomically).
void save_epoch_checkpoint(const Config& c, const tg::Dataset& train, Learner& learner,
                           const EarlyStop& early, int epochs_done, const json& history) {
  tg::StateDict s;
  save_architecture(c, train, s);
  s.merge(tg::model_state(*learner.model), "model.");
  s.merge(learner.optimizer->state(), "optimizer.");
  if (learner.schedules.schedule) s.merge(learner.schedules.schedule->state(), "schedule.");
  if (learner.schedules.plateau) s.merge(learner.schedules.plateau->state(), "schedule.");
  if (early.stopper) s.merge(early.best_weights, "early_stopping.best.");
  s.integers["progress.epochs_done"] = epochs_done;
  s.texts["progress.history"] = history.dump();
  tg::save_checkpoint(c.save, s);
}

void write_graph(const Config& c, const tg::Tape& tape) {
  write_file(c.graph, tg::to_dot(tape));
  // Render it when Graphviz is installed (Debian package graphviz).
  const std::string svg = c.graph + ".svg";
  const std::string command =
      "command -v dot >/dev/null 2>&1 && dot -Tsvg '" + c.graph + "' -o '" + svg + "'";
  if (std::system(command.c_str()) == 0 && !c.quiet)
    std::fprintf(stderr, "wrote %s and %s\n", c.graph.c_str(), svg.c_str());
}

tg::FitOptions fit_options(const Config& c, int start_epoch, const Schedules& sched) {
  tg::FitOptions options;
  options.epochs = c.epochs;
  options.start_epoch = start_epoch;
  options.schedule = sched.schedule.get();
  options.plateau = sched.plateau.get();
  options.clip_grad_norm = c.clip;
  options.progress = !c.quiet;
  options.log_epochs = !c.quiet;
  options.validation_name = "val";
  return options;
}

}  // namespace

Learner build_or_resume(const Config& c, const tg::Dataset& train, const Checkpoint& checkpoint,
                        const tg::StateDict& model_entries) {
  Learner l;
  l.model = build_model(model_spec(c), train.features(), train.num_classes);
  l.optimizer = make_optimizer(c, l.model->parameters());
  l.schedules = make_schedule(c, *l.optimizer);
  if (!checkpoint.file.empty()) {
    tg::load_model_state(*l.model, model_entries, checkpoint.file);
    if (c.eval.empty()) {
      const tg::StateDict& entries = checkpoint.entries;
      l.optimizer->load_state(entries.with_prefix_removed("optimizer."));
      if (l.schedules.schedule)
        l.schedules.schedule->load_state(entries.with_prefix_removed("schedule."));
      if (l.schedules.plateau)
        l.schedules.plateau->load_state(entries.with_prefix_removed("schedule."));
    }
  }
  tg::dist::broadcast_parameters(l.model->parameters());  // all ranks start from rank 0's weights
  return l;
}

TrainingRecord train(const Config& c, const Data& data, Learner& learner,
                     const Checkpoint& checkpoint, Progress progress) {
  json history = std::move(progress.history);
  EarlyStop early = resume_early_stopping(c, history, checkpoint);
  GradientNorms grads = watch_weights(*learner.model);

  tg::BatchIterator train_batches(data.train, c.batch, true, c.seed);
  train_batches.set_shard(tg::dist::rank(), tg::dist::size());
  std::optional<tg::BatchIterator> validation_batches;
  if (data.validation.size()) validation_batches.emplace(data.validation, 256, false, 0);
  tg::FitOptions options = fit_options(c, progress.epochs_done, learner.schedules);
  if (!c.out.empty()) options.on_batch = [&](std::size_t, double) { add_step(grads); };
  options.on_epoch = [&](const tg::EpochMetrics& m) {
    history.push_back(finish_epoch(grads, m));
    const bool go_on = go_on_after(early, m, history.back(), *learner.model);
    if (!c.save.empty()) save_epoch_checkpoint(c, data.train, learner, early, m.epoch + 1, history);
    return go_on;
  };
  // Ranks add their shards onto the gradients in turn: the bits of one process.
  options.exchange = tg::dist::chained_exchange(learner.model->parameters());
  options.after_backward = [&](const tg::Tape& tape, std::size_t step) {
    if (!c.graph.empty() && step == 0) write_graph(c, tape);
  };
  {
    std::optional<tg::DetectAnomaly> anomaly;
    if (c.detect_anomaly) anomaly.emplace();
    tg::fit(*learner.model, *learner.optimizer, train_batches,
            validation_batches ? &*validation_batches : nullptr, options);
  }
  restore_best_epoch(c, early, *learner.model, data.validation);

  TrainingRecord record;
  record.history = std::move(history);
  for (const auto& w : grads.weights) record.weight_names.push_back(w.first);
  return record;
}
