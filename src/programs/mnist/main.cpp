// tapegrad-mnist: trains an MLP on real MNIST or Fashion-MNIST and reports how it went.
#include "models.hpp"
#include "output_paths.hpp"
#include "report.hpp"

#include "tapegrad/tapegrad.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

namespace {

using json = nlohmann::json;

struct Config {
  std::string data;
  std::string dataset = "mnist";
  int epochs = 5;
  std::size_t batch = 64;
  double lr = 1e-3;
  std::string optimizer = "adam";
  std::string model = "mlp";
  std::string hidden = "256,128";
  std::string activation = "relu";
  std::string init = "he";
  bool batchnorm = false;
  float dropout = 0.0f;
  std::string schedule = "cosine";  // lr annealed to 1% over the run: the last epochs settle
  float clip = 0.0f;
  std::size_t threads = 0;
  std::uint64_t seed = 0;
  std::size_t train_limit = 0;
  std::string save, resume, eval, out, graph;
  bool quiet = false;
  bool detect_anomaly = false;
};

const std::vector<std::string> kMnistClasses = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
const std::vector<std::string> kFashionClasses = {
    "T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"};

// The architecture lives in the checkpoint as text, so --eval and --resume rebuild it.
void save_architecture(const Config& c, tg::StateDict& s) {
  s.texts["config.dataset"] = c.dataset;
  s.texts["config.model"] = c.model;
  s.texts["config.hidden"] = c.hidden;
  s.texts["config.activation"] = c.activation;
  s.texts["config.init"] = c.init;
  s.texts["config.optimizer"] = c.optimizer;
  s.texts["config.schedule"] = c.schedule;
  s.integers["config.batchnorm"] = c.batchnorm;
  s.reals["config.dropout"] = c.dropout;
  s.reals["config.lr"] = c.lr;
  s.integers["config.batch"] = static_cast<std::int64_t>(c.batch);
  s.integers["config.seed"] = static_cast<std::int64_t>(c.seed);
}

void load_architecture(const tg::StateDict& s, Config& c, const std::string& file) {
  c.dataset = s.text("config.dataset", file);
  // Checkpoints from before --model hold an MLP.
  c.model = s.texts.count("config.model") ? s.text("config.model", file) : "mlp";
  c.hidden = s.text("config.hidden", file);
  c.activation = s.text("config.activation", file);
  c.init = s.text("config.init", file);
  c.optimizer = s.text("config.optimizer", file);
  c.schedule = s.text("config.schedule", file);
  c.batchnorm = s.integer("config.batchnorm", file) != 0;
  c.dropout = static_cast<float>(s.real("config.dropout", file));
  c.lr = s.real("config.lr", file);
  c.batch = static_cast<std::size_t>(s.integer("config.batch", file));
  c.seed = static_cast<std::uint64_t>(s.integer("config.seed", file));
}

ModelSpec model_spec(const Config& c) {
  return ModelSpec{c.model, c.hidden, c.activation, c.init, c.batchnorm, c.dropout, c.seed};
}

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

struct Schedules {
  std::unique_ptr<tg::LrSchedule> schedule;
  std::unique_ptr<tg::ReduceOnPlateau> plateau;
};

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

// Per-sample results on the test set, in file order.
struct TestResults {
  tg::Evaluation eval;
  std::vector<int> predicted;
  std::vector<float> confidence;  // softmax probability of the predicted class
};

TestResults run_test(tg::Module& model, const tg::Dataset& test, std::size_t batch) {
  TestResults r;
  tg::BatchIterator it(test, batch, false, 0);
  r.eval = tg::evaluate(model, it);
  const bool was_training = model.training();
  model.eval();
  tg::NoGradGuard no_grad;
  tg::Tape tape;
  tg::Batch b;
  it.begin_epoch(0);
  while (it.next(b)) {
    tape.clear();
    const tg::Tensor& p = tg::softmax(model(tape.constant(b.images))).value();
    for (std::size_t i = 0; i < tg::rows(p); ++i) {
      const float* row = p.data() + i * tg::cols(p);
      const auto best = std::max_element(row, row + tg::cols(p)) - row;
      r.predicted.push_back(static_cast<int>(best));
      r.confidence.push_back(row[best]);
    }
  }
  model.set_training(was_training);
  return r;
}

std::string format_confusion(const tg::Evaluation& e, const std::vector<std::string>& names) {
  std::ostringstream s;
  char cell[32];
  s << "confusion matrix (rows: true, columns: predicted)\n         ";
  for (std::size_t j = 0; j < names.size(); ++j) {
    std::snprintf(cell, sizeof cell, "%6zu", j);
    s << cell;
  }
  s << "   accuracy\n";
  for (std::size_t i = 0; i < e.confusion.size(); ++i) {
    std::snprintf(cell, sizeof cell, "%-9s", names[i].substr(0, 8).c_str());
    s << cell;
    std::size_t total = 0;
    for (std::size_t v : e.confusion[i]) {
      std::snprintf(cell, sizeof cell, "%6zu", v);
      s << cell;
      total += v;
    }
    std::snprintf(cell, sizeof cell, "   %.4f\n",
                  total ? static_cast<double>(e.confusion[i][i]) / total : 0.0);
    s << cell;
  }
  return s.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw tg::Error(path + ": could not write the file");
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
    e["test_loss"] = *m.validation_loss;
    e["test_accuracy"] = *m.validation_accuracy;
  }
  return e;
}

int run(Config c) {
  const auto wall_start = std::chrono::steady_clock::now();
  tg::set_num_threads(c.threads);
  // Under mpirun every rank trains on its shard of each global batch; rank 0 alone reports.
  const bool root = tg::dist::is_root();
  if (!root) c.quiet = true, c.out.clear(), c.save.clear(), c.graph.clear();
  if (!c.out.empty()) prepare_output_folder(c.out, "--out");
  if (!c.save.empty()) check_output_file(c.save, "--save");
  if (!c.graph.empty()) check_output_file(c.graph, "--graph");

  // --eval and --resume take the architecture from the checkpoint.
  tg::StateDict checkpoint;
  const std::string loaded_from = !c.eval.empty() ? c.eval : c.resume;
  if (!loaded_from.empty()) {
    checkpoint = tg::load_checkpoint(loaded_from);
    load_architecture(checkpoint, c, loaded_from);
  }
  const bool fashion = c.dataset == "fashion";
  if (!fashion && c.dataset != "mnist")
    throw tg::Error("--dataset: unknown '" + c.dataset + "' (mnist or fashion)");
  if (c.data.empty()) c.data = fashion ? "/usr/share/datasets/fashion-mnist" : "data/mnist";
  const auto& class_names = fashion ? kFashionClasses : kMnistClasses;

  tg::Dataset train = tg::load_mnist(c.data, "train");
  const tg::Dataset test = tg::load_mnist(c.data, "test");
  if (c.train_limit > 0) train = train.take(c.train_limit);

  auto model = build_model(model_spec(c), train.features(), train.num_classes);
  auto optimizer = make_optimizer(c, model->parameters());
  Schedules sched = make_schedule(c, *optimizer);
  int start_epoch = 0;
  json history = json::array();
  if (!loaded_from.empty()) {
    tg::load_model_state(*model, checkpoint.with_prefix_removed("model."), loaded_from);
    if (c.eval.empty()) {
      optimizer->load_state(checkpoint.with_prefix_removed("optimizer."));
      if (sched.schedule) sched.schedule->load_state(checkpoint.with_prefix_removed("schedule."));
      if (sched.plateau) sched.plateau->load_state(checkpoint.with_prefix_removed("schedule."));
      start_epoch = static_cast<int>(checkpoint.integer("progress.epochs_done", loaded_from));
      history = json::parse(checkpoint.text("progress.history", loaded_from));
    }
  }
  tg::dist::broadcast_parameters(model->parameters());  // all ranks start from rank 0's weights
  if (!c.quiet) {
    std::fprintf(stderr, "tapegrad-mnist: %s, %zu training and %zu test images from %s\n",
                 c.dataset.c_str(), train.size(), test.size(), c.data.c_str());
    std::fprintf(stderr, "%s", tg::summary(*model, train.features()).c_str());
  }

  if (!c.eval.empty()) {
    const TestResults r = run_test(*model, test, 256);
    if (!c.quiet) std::printf("%s", format_confusion(r.eval, class_names).c_str());
    if (root) std::printf("test_loss=%.4f\ntest_accuracy=%.4f\n", r.eval.loss, r.eval.accuracy);
    return 0;
  }

  // Gradient norm of every Dense weight, averaged over the epoch's steps (for --out).
  std::vector<std::pair<std::string, tg::Parameter*>> weights;
  for (auto& [name, p] : model->named_parameters())
    if (name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 &&
        tg::rows(p->value) > 1)
      weights.emplace_back(name, p);
  std::vector<double> grad_norm_sums(weights.size(), 0.0);
  std::size_t grad_norm_steps = 0;

  tg::BatchIterator train_batches(train, c.batch, true, c.seed);
  train_batches.set_shard(tg::dist::rank(), tg::dist::size());
  tg::BatchIterator test_batches(test, 256, false, 0);
  tg::FitOptions options;
  options.epochs = c.epochs;
  options.start_epoch = start_epoch;
  options.schedule = sched.schedule.get();
  options.plateau = sched.plateau.get();
  options.clip_grad_norm = c.clip;
  options.progress = !c.quiet;
  options.log_epochs = !c.quiet;
  options.validation_name = "test";
  if (!c.out.empty())
    options.on_batch = [&](std::size_t, double) {
      for (std::size_t i = 0; i < weights.size(); ++i) {
        double sq = 0;
        for (float g : weights[i].second->grad) sq += static_cast<double>(g) * g;
        grad_norm_sums[i] += std::sqrt(sq);
      }
      ++grad_norm_steps;
    };
  options.on_epoch = [&](const tg::EpochMetrics& m) {
    std::vector<double> norms, rms;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      norms.push_back(grad_norm_steps ? grad_norm_sums[i] / grad_norm_steps : 0.0);
      rms.push_back(norms.back() / std::sqrt(static_cast<double>(weights[i].second->grad.size())));
    }
    std::fill(grad_norm_sums.begin(), grad_norm_sums.end(), 0.0);
    grad_norm_steps = 0;
    history.push_back(epoch_json(m, norms, rms));
    if (!c.save.empty()) {
      tg::StateDict s;
      save_architecture(c, s);
      s.merge(tg::model_state(*model), "model.");
      s.merge(optimizer->state(), "optimizer.");
      if (sched.schedule) s.merge(sched.schedule->state(), "schedule.");
      if (sched.plateau) s.merge(sched.plateau->state(), "schedule.");
      s.integers["progress.epochs_done"] = m.epoch + 1;
      s.texts["progress.history"] = history.dump();
      tg::save_checkpoint(c.save, s);
    }
    return true;
  };
  const std::vector<tg::Parameter*> params = model->parameters();
  options.after_backward = [&](const tg::Tape& tape, std::size_t step) {
    // The global batch's gradient: shards weighted by their rows, summed over ranks.
    tg::dist::all_reduce_gradients(params, train_batches.last_rows(),
                                   train_batches.last_global_rows());
    if (c.graph.empty() || step != 0) return;
    write_file(c.graph, tg::to_dot(tape));
    // Render it when Graphviz is installed (Debian package graphviz).
    const std::string svg = c.graph + ".svg";
    const std::string command =
        "command -v dot >/dev/null 2>&1 && dot -Tsvg '" + c.graph + "' -o '" + svg + "'";
    if (std::system(command.c_str()) == 0 && !c.quiet)
      std::fprintf(stderr, "wrote %s and %s\n", c.graph.c_str(), svg.c_str());
  };
  {
    std::optional<tg::DetectAnomaly> anomaly;
    if (c.detect_anomaly) anomaly.emplace();
    tg::fit(*model, *optimizer, train_batches, &test_batches, options);
  }

  const tg::dist::CommunicationStats comm = tg::dist::communication_stats();
  if (!c.quiet && tg::dist::size() > 1)
    std::fprintf(stderr,
                 "%d ranks: all-reduce of %zu gradient floats %.3f ms a step (MPI %.3f ms)\n",
                 tg::dist::size(), comm.floats, comm.calls ? 1e3 * comm.seconds / comm.calls : 0.0,
                 comm.calls ? 1e3 * comm.mpi_seconds / comm.calls : 0.0);
  const TestResults r = run_test(*model, test, 256);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  if (!c.quiet) std::printf("%s", format_confusion(r.eval, class_names).c_str());

  if (!c.out.empty()) {
    json per_class = json::array();
    for (std::size_t i = 0; i < r.eval.confusion.size(); ++i) {
      std::size_t total = 0;
      for (std::size_t v : r.eval.confusion[i]) total += v;
      per_class.push_back(total ? static_cast<double>(r.eval.confusion[i][i]) / total : 0.0);
    }
    std::vector<std::string> weight_names;
    for (auto& w : weights) weight_names.push_back(w.first);
    json metrics = {
        {"config",
         {{"dataset", c.dataset},
          {"data", c.data},
          {"epochs", c.epochs},
          {"batch", c.batch},
          {"lr", c.lr},
          {"optimizer", c.optimizer},
          {"model", c.model},
          {"hidden", c.hidden},
          {"activation", c.activation},
          {"init", c.init},
          {"batchnorm", c.batchnorm},
          {"dropout", c.dropout},
          {"schedule", c.schedule},
          {"clip", c.clip},
          {"threads", tg::num_threads()},
          {"seed", c.seed},
          {"train_limit", c.train_limit},
          {"train_samples", train.size()}}},
        {"epochs", history},
        {"grad_norm_layers", weight_names},
        {"test_loss", r.eval.loss},
        {"test_accuracy", r.eval.accuracy},
        {"per_class_accuracy", per_class},
        {"confusion", r.eval.confusion},
        {"class_names", class_names},
        {"wall_seconds", wall},
        {"distributed",
         {{"ranks", tg::dist::size()},
          {"gradient_floats", comm.floats},
          {"allreduce_steps", comm.calls},
          {"allreduce_ms_per_step", comm.calls ? 1e3 * comm.seconds / comm.calls : 0.0},
          {"mpi_allreduce_ms_per_step", comm.calls ? 1e3 * comm.mpi_seconds / comm.calls : 0.0}}}};
    write_file(c.out + "/metrics.json", metrics.dump(2) + "\n");
    std::ostringstream csv;
    csv << "epoch,train_loss,train_accuracy,test_loss,test_accuracy,train_seconds,samples_per_"
           "second,lr\n";
    for (const json& e : history)
      csv << e["epoch"] << "," << e["train_loss"] << "," << e["train_accuracy"] << ","
          << e.value("test_loss", 0.0) << "," << e.value("test_accuracy", 0.0) << ","
          << e["train_seconds"] << "," << e["samples_per_second"] << "," << e["lr"] << "\n";
    write_file(c.out + "/metrics.csv", csv.str());

    tg::demo::Panel loss{"loss", {{"train", "#1f77b4", {}}, {"test", "#d62728", {}}}};
    tg::demo::Panel acc{"accuracy", {{"train", "#1f77b4", {}}, {"test", "#d62728", {}}}};
    tg::demo::Panel norms{"RMS weight gradient per layer (log scale)", {}, true};
    const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                             "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    for (std::size_t i = 0; i < weight_names.size(); ++i)
      norms.series.push_back({"layer " + weight_names[i], palette[i % 10], {}});
    for (const json& e : history) {
      loss.series[0].values.push_back(e["train_loss"]);
      loss.series[1].values.push_back(e.value("test_loss", NAN));
      acc.series[0].values.push_back(e["train_accuracy"]);
      acc.series[1].values.push_back(e.value("test_accuracy", NAN));
      for (std::size_t i = 0; i < weight_names.size() && i < e["grad_rms"].size(); ++i)
        norms.series[i].values.push_back(e["grad_rms"][i]);
    }
    const std::string arch = c.model == "mlp" ? c.hidden + " " + c.activation : c.model;
    const std::string title = "tapegrad " + c.dataset + ": " + arch + ", " + c.optimizer +
                              ", batch " + std::to_string(c.batch);
    tg::demo::write_line_charts_svg(c.out + "/training_curves.svg", title, {loss, acc});
    tg::demo::write_line_charts_svg(c.out + "/gradient_norms.svg", title, {norms});
    tg::demo::write_confusion_svg(c.out + "/confusion_matrix.svg", r.eval.confusion, class_names);

    // The 32 test images the model got wrong with the most confidence.
    std::vector<std::size_t> wrong;
    for (std::size_t i = 0; i < r.predicted.size(); ++i)
      if (r.predicted[i] != test.labels[i]) wrong.push_back(i);
    std::stable_sort(wrong.begin(), wrong.end(), [&](std::size_t a, std::size_t b) {
      return r.confidence[a] > r.confidence[b];
    });
    if (wrong.size() > 32) wrong.resize(32);
    std::vector<tg::demo::Tile> tiles;
    for (std::size_t i : wrong)
      tiles.push_back({test.pixels.data() + i * test.features(), test.labels[i], r.predicted[i],
                       r.confidence[i]});
    tg::demo::write_image_grid_png(c.out + "/misclassified.png", tiles, class_names);
    if (!c.quiet)
      std::fprintf(stderr,
                   "wrote metrics.json, metrics.csv, training_curves.svg, "
                   "gradient_norms.svg, confusion_matrix.svg, misclassified.png to %s\n",
                   c.out.c_str());
  }
  if (root) std::printf("test_loss=%.4f\ntest_accuracy=%.4f\n", r.eval.loss, r.eval.accuracy);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  tg::restart_with_single_threaded_blas(argv);
  Config c;
  CLI::App app{"tapegrad-mnist: train a model on MNIST or Fashion-MNIST with tapegrad"};
  // CLI11's ranges let NaN through and its unsigned options wrap "-1": refuse both by text.
  const CLI::Validator finite(
      [](std::string& text) {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        return end != text.c_str() && *end == '\0' && std::isfinite(v)
                   ? std::string()
                   : "'" + text + "' is not a finite number";
      },
      "FINITE");
  const CLI::Validator whole(
      [](std::string& text) {
        return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos
                   ? std::string()
                   : "'" + text + "' is not a whole number >= 0";
      },
      "WHOLE");
  app.add_option("--data", c.data,
                 "folder with the IDX files (default data/mnist, or the "
                 "Debian Fashion-MNIST folder for --dataset fashion)");
  app.add_option("--dataset", c.dataset, "mnist or fashion")
      ->check(CLI::IsMember({"mnist", "fashion"}));
  app.add_option("--epochs", c.epochs, "total epochs (with --resume: including those done)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--batch", c.batch, "batch size")->check(whole & CLI::Range(1, 1 << 20));
  app.add_option("--lr", c.lr, "learning rate")->check(finite & CLI::PositiveNumber);
  app.add_option("--optimizer", c.optimizer, "sgd|momentum|nesterov|rmsprop|adam|adamw")
      ->check(CLI::IsMember({"sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"}));
  app.add_option("--model", c.model,
                 "mlp (--hidden layers), lenet, cnn (two 3x3 convolutions) or lstm (rows as "
                 "time steps)")
      ->check(CLI::IsMember(model_names()));
  app.add_option("--hidden", c.hidden, "mlp: hidden layer widths, e.g. 256,128");
  app.add_option("--activation", c.activation, "relu|leaky_relu|elu|tanh|sigmoid")
      ->check(CLI::IsMember({"relu", "leaky_relu", "elu", "tanh", "sigmoid"}));
  app.add_option("--init", c.init, "he|xavier|lecun")
      ->check(CLI::IsMember({"he", "xavier", "lecun"}));
  app.add_flag("--batchnorm", c.batchnorm, "batch normalisation after each hidden layer");
  app.add_option("--dropout", c.dropout, "dropout probability after each hidden layer")
      ->check(finite & CLI::Range(0.0f, 0.95f));
  app.add_option("--schedule", c.schedule, "none|step|cosine|plateau (default cosine)")
      ->check(CLI::IsMember({"none", "step", "cosine", "plateau"}));
  app.add_option("--clip", c.clip, "clip the global gradient norm (0 = off)")
      ->check(finite & CLI::NonNegativeNumber);
  app.add_option("--threads", c.threads, "threads for everything, BLAS included (0 = all cores)")
      ->check(whole);
  app.add_option("--seed", c.seed, "seed for initialisation, shuffling and dropout")->check(whole);
  app.add_option("--train-limit", c.train_limit, "use only the first N training images")
      ->check(whole);
  app.add_option("--save", c.save, "write a checkpoint after every epoch (atomically)");
  app.add_option("--resume", c.resume, "continue from a checkpoint")->check(CLI::ExistingFile);
  app.add_option("--eval", c.eval, "load a checkpoint and report test accuracy")
      ->check(CLI::ExistingFile);
  app.add_option("--out", c.out, "write metrics.json, metrics.csv and pictures to this folder");
  app.add_flag("--quiet", c.quiet, "print only the final figures");
  app.add_option("--graph", c.graph,
                 "write the tape of one training step as a Graphviz DOT "
                 "file (and FILE.svg when graphviz is installed)");
  app.add_flag("--detect-anomaly", c.detect_anomaly,
               "stop at the first NaN or infinity, naming the op, its layer and shapes");
  tg::dist::Session mpi(argc, argv);  // MPI_Init under mpirun; nothing otherwise
  CLI11_PARSE(app, argc, argv);
  try {
    return run(c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad-mnist: %s\n", e.what());
    if (tg::dist::size() > 1) tg::dist::abort(1);  // the other ranks would wait forever
    return 1;
  }
}
