// tapegrad-mnist: trains a model on real MNIST or Fashion-MNIST and reports how it went. A
// validation split held out of the training images steers early stopping and the plateau
// schedule; the test set is used once, at the end.
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
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
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
  std::size_t validation = 5000;  // held out of the training images (seeded); 0 = none
  int early_stopping = 0;         // patience in epochs; 0 = off
  std::string save, resume, eval, out, graph, save_model, export_onnx;
  bool quiet = false;
  bool detect_anomaly = false;
  std::set<std::string> given;  // the options on the command line, e.g. "--hidden"
};

// A model above this many parameters is a typo, not a run (with Adam's two moments and the
// gradients it needs 16 bytes a parameter): refused before anything is allocated.
constexpr std::uint64_t kMaxParameters = 50'000'000;
constexpr std::size_t kMaxHiddenLayers = 100;
// The history the demo writes is 3 levels deep; nlohmann's dump recurses once per level, so a
// deeply nested one would overflow the stack on the next save.
constexpr int kMaxJsonDepth = 16;
constexpr int kMaxEpochs = 100000;  // as --epochs
constexpr std::int64_t kMaxBatch = 1 << 20;

const std::vector<std::string> kMnistClasses = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
const std::vector<std::string> kFashionClasses = {
    "T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"};

// The architecture lives in the checkpoint as text, so --eval and --resume rebuild it.
void save_architecture(const Config& c, const tg::Dataset& train, tg::StateDict& s) {
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
  s.integers["config.validation"] = static_cast<std::int64_t>(c.validation);
  s.integers["config.early_stopping"] = c.early_stopping;
  s.integers["config.image_rows"] = static_cast<std::int64_t>(train.image_rows);
  s.integers["config.image_cols"] = static_cast<std::int64_t>(train.image_cols);
}

// A checkpoint is untrusted input: every entry the program reads is range-checked here, before
// anything is built from it (a wrapped epoch count would train for 2^31 epochs).
std::int64_t checked_integer(const tg::StateDict& s, const std::string& name, std::int64_t lo,
                             std::int64_t hi, const std::string& file) {
  const std::int64_t v = s.integer(name, file);
  if (v < lo || v > hi)
    throw tg::Error(file + ": integer '" + name + "' is " + std::to_string(v) + ", expected " +
                    std::to_string(lo) + " to " + std::to_string(hi));
  return v;
}

// Optional entries (absent from older checkpoints) take `absent`.
std::int64_t checked_integer_or(const tg::StateDict& s, const std::string& name, std::int64_t lo,
                                std::int64_t hi, std::int64_t absent, const std::string& file) {
  return s.integers.count(name) ? checked_integer(s, name, lo, hi, file) : absent;
}

double checked_real(const tg::StateDict& s, const std::string& name, double lo, double hi,
                    const std::string& file) {
  const double v = s.real(name, file);
  if (!std::isfinite(v) || v < lo || v > hi) {
    char range[96];
    std::snprintf(range, sizeof range, "%.17g, expected a number from %g to %g", v, lo, hi);
    throw tg::Error(file + ": real '" + name + "' is " + range);
  }
  return v;
}

const std::string& checked_text(const tg::StateDict& s, const std::string& name,
                                const std::vector<std::string>& allowed, const std::string& file) {
  const std::string& v = s.text(name, file);
  if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw tg::Error(file + ": text '" + name + "' is '" + v.substr(0, 40) + "', expected one of " +
                    list);
  }
  return v;
}

const std::vector<std::string> kDatasets = {"mnist", "fashion"};
const std::vector<std::string> kOptimizers = {"sgd",     "momentum", "nesterov",
                                              "rmsprop", "adam",     "adamw"};
const std::vector<std::string> kActivations = {"relu", "leaky_relu", "elu", "tanh", "sigmoid"};
const std::vector<std::string> kInits = {"he", "xavier", "lecun"};
const std::vector<std::string> kSchedules = {"none", "step", "cosine", "plateau"};

void load_architecture(const tg::StateDict& s, Config& c, const std::string& file) {
  c.dataset = checked_text(s, "config.dataset", kDatasets, file);
  // Checkpoints from before --model hold an MLP.
  c.model =
      s.texts.count("config.model") ? checked_text(s, "config.model", model_names(), file) : "mlp";
  c.hidden = s.text("config.hidden", file);
  try {
    if (parse_hidden(c.hidden).size() > kMaxHiddenLayers)
      throw tg::Error("more than " + std::to_string(kMaxHiddenLayers) + " layers");
  } catch (const tg::Error& e) {
    throw tg::Error(file + ": text 'config.hidden' is not a list of layer widths: " + e.what());
  }
  c.activation = checked_text(s, "config.activation", kActivations, file);
  c.init = checked_text(s, "config.init", kInits, file);
  c.optimizer = checked_text(s, "config.optimizer", kOptimizers, file);
  c.schedule = checked_text(s, "config.schedule", kSchedules, file);
  c.batchnorm = checked_integer(s, "config.batchnorm", 0, 1, file) != 0;
  c.dropout = static_cast<float>(checked_real(s, "config.dropout", 0.0, 0.95, file));
  c.lr = checked_real(s, "config.lr", std::numeric_limits<double>::min(),
                      std::numeric_limits<double>::max(), file);
  c.batch = static_cast<std::size_t>(checked_integer(s, "config.batch", 1, kMaxBatch, file));
  // Every 64-bit pattern is a seed: --seed takes 0 .. 2^64-1, stored as its two's complement.
  c.seed = static_cast<std::uint64_t>(s.integer("config.seed", file));
  // Older checkpoints validated on the test set: no images were held out of training.
  c.validation = static_cast<std::size_t>(checked_integer_or(
      s, "config.validation", 0, std::numeric_limits<std::uint32_t>::max(), 0, file));
  c.early_stopping =
      static_cast<int>(checked_integer_or(s, "config.early_stopping", 0, kMaxEpochs, 0, file));
}

// The settings --eval and --resume take from the checkpoint, as text, by option.
std::map<std::string, std::string> architecture_settings(const Config& c) {
  std::string hidden;
  for (std::size_t h : parse_hidden(c.hidden))
    hidden += (hidden.empty() ? "" : ",") + std::to_string(h);
  char dropout[32], lr[32];
  std::snprintf(dropout, sizeof dropout, "%.9g", static_cast<double>(c.dropout));
  std::snprintf(lr, sizeof lr, "%.17g", c.lr);
  return {{"--dataset", c.dataset},
          {"--model", c.model},
          {"--hidden", hidden},
          {"--activation", c.activation},
          {"--init", c.init},
          {"--batchnorm", c.batchnorm ? "on" : "off"},
          {"--dropout", dropout},
          {"--optimizer", c.optimizer},
          {"--schedule", c.schedule},
          {"--lr", lr},
          {"--batch", std::to_string(c.batch)},
          {"--seed", std::to_string(c.seed)},
          {"--validation", std::to_string(c.validation)},
          {"--early-stopping", std::to_string(c.early_stopping)}};
}

// An architecture option given with --resume or --eval must agree with the checkpoint, which
// decides: silently ignoring it would train or evaluate something else than was asked for.
void check_no_conflicts(const Config& flags, const Config& loaded, const std::string& file) {
  const auto wanted = architecture_settings(flags);
  const auto stored = architecture_settings(loaded);
  for (const auto& [option, value] : wanted)
    if (flags.given.count(option) && stored.at(option) != value)
      throw tg::Error(option + " " + value + " conflicts with " + file + ", trained with " +
                      option + " " + stored.at(option) +
                      " (the checkpoint sets the architecture: leave the option out)");
}

// The tensors of the MLP that models.cpp builds, by name and shape, from the settings alone:
// Dense weights are in x out, biases and batch-norm vectors 1 x width; batch norm follows its
// Dense (which then has no bias), then come the activation and dropout.
std::map<std::string, tg::Shape> mlp_state_shapes(const Config& c, std::size_t inputs,
                                                  std::size_t classes) {
  std::map<std::string, tg::Shape> shapes;
  std::size_t layer = 0, width = inputs;
  for (std::size_t h : parse_hidden(c.hidden)) {
    const std::string dense = std::to_string(layer);
    shapes[dense + ".weight"] = {width, h};
    if (c.batchnorm) {
      const std::string bn = std::to_string(layer + 1);
      for (const char* n : {".weight", ".bias", ".running_mean", ".running_var"})
        shapes[bn + n] = {1, h};
    } else {
      shapes[dense + ".bias"] = {1, h};
    }
    layer += 1 + (c.batchnorm ? 1 : 0) + 1 + (c.dropout > 0 ? 1 : 0);
    width = h;
  }
  shapes[std::to_string(layer) + ".weight"] = {width, classes};
  shapes[std::to_string(layer) + ".bias"] = {1, classes};
  return shapes;
}

// The model's parameter count from the settings and the image size, without building it
// (all terms stay far below 2^64: widths are at most 10^6, images at most 2^31 pixels).
std::uint64_t parameter_count_of(const Config& c, std::size_t rows, std::size_t cols,
                                 std::size_t classes) {
  const std::uint64_t k = classes, side = rows;
  if (c.model == "mlp") {
    std::uint64_t n = 0;
    for (const auto& [name, shape] : mlp_state_shapes(c, rows * cols, classes))
      n += std::uint64_t{shape[0]} * shape[1];
    return n;
  }
  if (c.model == "lenet") {
    const std::uint64_t q = (side / 2 - 4) / 2;
    return 156 + 2416 + (16 * q * q + 1) * 120 + 121 * 84 + 85 * k;
  }
  if (c.model == "cnn") {
    const std::uint64_t q = (side - 4) / 2;
    return 320 + 18496 + (64 * q * q + 1) * 128 + 129 * k;
  }
  return 4 * 128 * (side + 128 + 2) + 129 * k;  // lstm
}

// Refuses, before anything is allocated, images the chosen model cannot take and models too
// big to be meant.
void check_model_size(const Config& c, const tg::Dataset& train, const std::string& where) {
  const std::size_t rows = train.image_rows, cols = train.image_cols;
  if (c.model != "mlp") {
    const std::size_t min_side = c.model == "lenet" ? 12 : c.model == "cnn" ? 6 : 1;
    if (rows != cols || rows < min_side)
      throw tg::Error(where + "--model " + c.model + " needs square images of at least " +
                      std::to_string(min_side) + "x" + std::to_string(min_side) + " pixels; " +
                      train.name + " holds " + std::to_string(rows) + "x" + std::to_string(cols));
  }
  if (c.model == "mlp" && parse_hidden(c.hidden).size() > kMaxHiddenLayers)
    throw tg::Error(where + "--hidden: more than " + std::to_string(kMaxHiddenLayers) + " layers");
  const std::uint64_t n = parameter_count_of(c, rows, cols, train.num_classes);
  if (n > kMaxParameters)
    throw tg::Error(where + "the model would have " + std::to_string(n) +
                    " parameters, above the limit of " + std::to_string(kMaxParameters) + " (" +
                    (c.model == "mlp" ? "--hidden " + c.hidden + ", " : "") + std::to_string(rows) +
                    "x" + std::to_string(cols) + " images)");
}

// A checkpoint's MLP tensors must be exactly the ones its settings give, checked before the
// model is built (a config.hidden of "1000000" would otherwise allocate gigabytes first).
void check_mlp_tensors(const Config& c, const tg::Dataset& train, const tg::StateDict& model,
                       const std::string& file) {
  const auto expected = mlp_state_shapes(c, train.features(), train.num_classes);
  for (const auto& [name, shape] : expected) {
    const auto it = model.tensors.find(name);
    if (it == model.tensors.end())
      throw tg::Error(file + ": tensor 'model." + name + "' is missing; config.hidden '" +
                      c.hidden + "' needs it as " + tg::shape_str(shape));
    if (tg::shape_of(it->second) != shape)
      throw tg::Error(file + ": tensor 'model." + name + "' is " + tg::shape_str(it->second) +
                      ", but config.hidden '" + c.hidden + "' on " +
                      std::to_string(train.features()) + " inputs needs " + tg::shape_str(shape));
  }
  for (const auto& [name, t] : model.tensors)
    if (!expected.count(name))
      throw tg::Error(file + ": tensor 'model." + name + "' is not part of the MLP that config." +
                      "hidden '" + c.hidden + "' describes");
}

// Rejects JSON nested deeper than kMaxJsonDepth, naming the byte, before it is parsed.
void check_json_depth(const std::string& text, const std::string& where) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (ch == '\\')
        escaped = true;
      else if (ch == '"')
        in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      if (++depth > kMaxJsonDepth)
        throw tg::Error(where + ": byte " + std::to_string(i) + ": JSON nested more than " +
                        std::to_string(kMaxJsonDepth) + " levels deep");
    } else if (ch == ']' || ch == '}') {
      --depth;
    }
  }
}

// progress.history: one object per epoch done, each with its train_loss.
json parse_history(const tg::StateDict& s, std::size_t epochs_done, const std::string& file) {
  const std::string where = file + ": text 'progress.history'";
  const std::string& text = s.text("progress.history", file);
  check_json_depth(text, where);
  json history;
  try {
    history = json::parse(text);
  } catch (const json::exception& e) {
    throw tg::Error(where + " is not JSON: " + e.what());
  }
  if (!history.is_array() || history.size() != epochs_done)
    throw tg::Error(where + " is not a list of " + std::to_string(epochs_done) +
                    " epochs (progress.epochs_done)");
  for (std::size_t i = 0; i < history.size(); ++i)
    if (!history[i].is_object() || !history[i].contains("train_loss") ||
        !history[i]["train_loss"].is_number())
      throw tg::Error(where + ": epoch " + std::to_string(i + 1) +
                      " is not an object with a train_loss");
  return history;
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

// The data every run checks before it trains: neither set empty, the same image size in both,
// and the size the checkpoint's model was trained on.
void check_data(const tg::Dataset& train, const tg::Dataset& test, const tg::StateDict& checkpoint,
                const std::string& loaded_from) {
  if (train.size() == 0) throw tg::Error(train.name + ": the training set is empty");
  if (test.size() == 0) throw tg::Error(test.name + ": the test set is empty");
  auto size = [](const tg::Dataset& d) {
    return std::to_string(d.image_rows) + "x" + std::to_string(d.image_cols);
  };
  if (test.image_rows != train.image_rows || test.image_cols != train.image_cols)
    throw tg::Error(test.name + ": test images are " + size(test) + " pixels, but the training " +
                    "images of " + train.name + " are " + size(train));
  if (loaded_from.empty() || !checkpoint.integers.count("config.image_rows")) return;
  const auto rows = checked_integer(checkpoint, "config.image_rows", 1, 1 << 16, loaded_from);
  const auto cols = checked_integer(checkpoint, "config.image_cols", 1, 1 << 16, loaded_from);
  if (static_cast<std::size_t>(rows) != train.image_rows ||
      static_cast<std::size_t>(cols) != train.image_cols)
    throw tg::Error(loaded_from + ": the model was trained on " + std::to_string(rows) + "x" +
                    std::to_string(cols) + " images, but " + train.name + " holds " + size(train));
}

int run(Config c) {
  const auto wall_start = std::chrono::steady_clock::now();
  tg::set_num_threads(c.threads);
  // Under mpirun every rank trains on its shard of each global batch; rank 0 alone reports.
  const bool root = tg::dist::is_root();
  if (!root)
    c.quiet = true, c.out.clear(), c.save.clear(), c.graph.clear(), c.save_model.clear(),
    c.export_onnx.clear();
  if (!c.out.empty()) prepare_output_folder(c.out, "--out");
  if (!c.save.empty()) check_output_file(c.save, "--save");
  if (!c.graph.empty()) check_output_file(c.graph, "--graph");
  if (!c.save_model.empty()) check_output_file(c.save_model, "--save-model");
  if (!c.export_onnx.empty()) check_output_file(c.export_onnx, "--export-onnx");

  // --eval and --resume take the architecture from the checkpoint.
  tg::StateDict checkpoint;
  const std::string loaded_from = !c.eval.empty() ? c.eval : c.resume;
  if (!loaded_from.empty()) {
    checkpoint = tg::load_checkpoint(loaded_from);
    const Config flags = c;
    load_architecture(checkpoint, c, loaded_from);
    check_no_conflicts(flags, c, loaded_from);
  }
  const bool fashion = c.dataset == "fashion";
  if (!fashion && c.dataset != "mnist")
    throw tg::Error("--dataset: unknown '" + c.dataset + "' (mnist or fashion)");
  if (c.data.empty()) c.data = fashion ? "/usr/share/datasets/fashion-mnist" : "data/mnist";
  const auto& class_names = fashion ? kFashionClasses : kMnistClasses;

  tg::Dataset train = tg::load_mnist(c.data, "train");
  const tg::Dataset test = tg::load_mnist(c.data, "test");
  check_data(train, test, checkpoint, loaded_from);
  check_model_size(c, train, loaded_from.empty() ? "" : loaded_from + ": ");
  const tg::StateDict model_entries = checkpoint.with_prefix_removed("model.");
  if (!loaded_from.empty() && c.model == "mlp")
    check_mlp_tensors(c, train, model_entries, loaded_from);
  // The validation images are held out first, by the seed alone, so that --train-limit and
  // --resume see the same training images; --train-limit then keeps the first N of the rest.
  tg::Dataset validation;
  if (c.eval.empty() && c.validation > 0) {
    if (c.validation >= train.size())
      throw tg::Error("--validation " + std::to_string(c.validation) + " leaves no training " +
                      "images of the " + std::to_string(train.size()) + " in " + train.name);
    tg::Split split = tg::split_random(train, c.validation, c.seed);
    train = std::move(split.train);
    validation = std::move(split.validation);
  }
  if (c.train_limit > 0) train = train.take(c.train_limit);

  int start_epoch = 0;
  json history = json::array();
  if (!loaded_from.empty() && c.eval.empty()) {
    start_epoch = static_cast<int>(
        checked_integer(checkpoint, "progress.epochs_done", 1, kMaxEpochs, loaded_from));
    history = parse_history(checkpoint, static_cast<std::size_t>(start_epoch), loaded_from);
  }

  auto model = build_model(model_spec(c), train.features(), train.num_classes);
  auto optimizer = make_optimizer(c, model->parameters());
  Schedules sched = make_schedule(c, *optimizer);
  if (!loaded_from.empty()) {
    tg::load_model_state(*model, model_entries, loaded_from);
    if (c.eval.empty()) {
      optimizer->load_state(checkpoint.with_prefix_removed("optimizer."));
      if (sched.schedule) sched.schedule->load_state(checkpoint.with_prefix_removed("schedule."));
      if (sched.plateau) sched.plateau->load_state(checkpoint.with_prefix_removed("schedule."));
    }
  }
  tg::dist::broadcast_parameters(model->parameters());  // all ranks start from rank 0's weights
  if (!c.quiet) {
    std::fprintf(stderr,
                 "tapegrad-mnist: %s, %zu training, %zu validation and %zu test images from %s\n",
                 c.dataset.c_str(), train.size(), validation.size(), test.size(), c.data.c_str());
    std::fprintf(stderr, "%s", tg::summary(*model, train.features()).c_str());
  }

  if (!c.eval.empty()) {
    const TestResults r = run_test(*model, test, 256);
    // --eval with --save-model / --export-onnx turns a training checkpoint into either.
    if (!c.save_model.empty())
      save_demo_model(c.save_model, *model, train.normalization, train.features(), class_names);
    if (!c.export_onnx.empty())
      export_demo_onnx(c.export_onnx, *model, train.normalization, train.features());
    if (!c.quiet) std::printf("%s", format_confusion(r.eval, class_names).c_str());
    if (root) std::printf("test_loss=%.4f\ntest_accuracy=%.4f\n", r.eval.loss, r.eval.accuracy);
    return 0;
  }

  // Early stopping is kept here rather than in tg::fit so that it survives --resume: its
  // state is replayed from the history, and the best weights travel in the checkpoint.
  std::optional<tg::EarlyStopping> stopper;
  tg::StateDict best_weights;
  if (c.early_stopping > 0) {
    stopper.emplace(c.early_stopping);
    for (std::size_t e = 0; e < history.size(); ++e)
      stopper->update(static_cast<int>(e), monitored(history[e]));
    best_weights = checkpoint.with_prefix_removed("early_stopping.best.");
    if (!history.empty() && best_weights.tensors.empty())
      throw tg::Error(loaded_from + ": no early_stopping.best.* tensors for --early-stopping");
  }
  int stopped_after = -1;

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
  std::optional<tg::BatchIterator> validation_batches;
  if (validation.size()) validation_batches.emplace(validation, 256, false, 0);
  tg::FitOptions options;
  options.epochs = c.epochs;
  options.start_epoch = start_epoch;
  options.schedule = sched.schedule.get();
  options.plateau = sched.plateau.get();
  options.clip_grad_norm = c.clip;
  options.progress = !c.quiet;
  options.log_epochs = !c.quiet;
  options.validation_name = "val";
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
    bool go_on = true;
    if (stopper) {
      go_on = !stopper->update(m.epoch, monitored(history.back()));
      if (stopper->improved()) best_weights = tg::model_state(*model);
      if (!go_on) stopped_after = m.epoch;
    }
    if (!c.save.empty()) {
      tg::StateDict s;
      save_architecture(c, train, s);
      s.merge(tg::model_state(*model), "model.");
      s.merge(optimizer->state(), "optimizer.");
      if (sched.schedule) s.merge(sched.schedule->state(), "schedule.");
      if (sched.plateau) s.merge(sched.plateau->state(), "schedule.");
      if (stopper) s.merge(best_weights, "early_stopping.best.");
      s.integers["progress.epochs_done"] = m.epoch + 1;
      s.texts["progress.history"] = history.dump();
      tg::save_checkpoint(c.save, s);
    }
    return go_on;
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
    tg::fit(*model, *optimizer, train_batches, validation_batches ? &*validation_batches : nullptr,
            options);
  }
  if (stopper && stopper->best_epoch() >= 0) {
    const char* what = validation.size() ? "validation" : "training";
    if (stopped_after >= 0 && !c.quiet)
      std::fprintf(stderr,
                   "early stopping: the %s loss did not improve for %d epoch%s; stopped after "
                   "epoch %d of %d\n",
                   what, c.early_stopping, c.early_stopping == 1 ? "" : "s", stopped_after + 1,
                   c.epochs);
    tg::load_model_state(*model, best_weights, "early stopping: the best epoch's weights");
    if (!c.quiet)
      std::fprintf(stderr, "early stopping: restored the weights of epoch %d (%s loss %.4f)\n",
                   stopper->best_epoch() + 1, what, stopper->best());
  }

  const tg::dist::CommunicationStats comm = tg::dist::communication_stats();
  if (!c.quiet && tg::dist::size() > 1)
    std::fprintf(stderr,
                 "%d ranks: all-reduce of %zu gradient floats %.3f ms a step (MPI %.3f ms)\n",
                 tg::dist::size(), comm.floats, comm.calls ? 1e3 * comm.seconds / comm.calls : 0.0,
                 comm.calls ? 1e3 * comm.mpi_seconds / comm.calls : 0.0);
  const TestResults r = run_test(*model, test, 256);
  if (!c.save_model.empty())
    save_demo_model(c.save_model, *model, train.normalization, train.features(), class_names);
  if (!c.export_onnx.empty())
    export_demo_onnx(c.export_onnx, *model, train.normalization, train.features());
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
          {"validation", c.validation},
          {"early_stopping", c.early_stopping},
          {"train_samples", train.size()},
          {"validation_samples", validation.size()}}},
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
    csv << "epoch,train_loss,train_accuracy,val_loss,val_accuracy,train_seconds,samples_per_"
           "second,lr\n";
    for (const json& e : history)
      csv << e["epoch"] << "," << e["train_loss"] << "," << e["train_accuracy"] << ","
          << e.value("val_loss", 0.0) << "," << e.value("val_accuracy", 0.0) << ","
          << e["train_seconds"] << "," << e["samples_per_second"] << "," << e["lr"] << "\n";
    write_file(c.out + "/metrics.csv", csv.str());

    tg::demo::Panel loss{"loss", {{"train", "#1f77b4", {}}, {"validation", "#d62728", {}}}};
    tg::demo::Panel acc{"accuracy", {{"train", "#1f77b4", {}}, {"validation", "#d62728", {}}}};
    tg::demo::Panel norms{"RMS weight gradient per layer (log scale)", {}, true};
    const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                             "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    for (std::size_t i = 0; i < weight_names.size(); ++i)
      norms.series.push_back({"layer " + weight_names[i], palette[i % 10], {}});
    for (const json& e : history) {
      loss.series[0].values.push_back(e["train_loss"]);
      loss.series[1].values.push_back(e.value("val_loss", NAN));
      acc.series[0].values.push_back(e["train_accuracy"]);
      acc.series[1].values.push_back(e.value("val_accuracy", NAN));
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
  app.option_defaults()->always_capture_default();  // --help shows each option's default
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
  app.add_option("--train-limit", c.train_limit,
                 "use only the first N training images left after --validation (0 = all)")
      ->check(whole);
  app.add_option("--validation", c.validation,
                 "training images held out (seeded) as the validation set for early stopping "
                 "and --schedule plateau (0 = none); the test set is used once, at the end")
      ->check(whole);
  app.add_option("--early-stopping", c.early_stopping,
                 "stop when the validation loss has not improved for this many epochs and keep "
                 "the best epoch's weights (0 = off)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--save", c.save, "write a checkpoint after every epoch (atomically)");
  app.add_option("--save-model", c.save_model,
                 "write the trained model as a model file (tapegrad-predict, tg::load_model)");
  app.add_option("--export-onnx", c.export_onnx,
                 "write the trained model as ONNX: raw pixels 0-255 in, probabilities out");
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
  for (const CLI::Option* option : app.get_options())
    if (option->count() > 0 && !option->get_lnames().empty())
      c.given.insert("--" + option->get_lnames().front());
  try {
    return run(c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad-mnist: %s\n", e.what());
    if (tg::dist::size() > 1) tg::dist::abort(1);  // the other ranks would wait forever
    return 1;
  }
}
