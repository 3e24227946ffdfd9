#include "checkpoint_config.hpp"

#include "models.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <vector>

namespace {

using json = nlohmann::json;

// The history the demo writes is 3 levels deep; nlohmann's dump recurses once per level, so a
// deeply nested one would overflow the stack on the next save.
constexpr int kMaxJsonDepth = 16;

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

}  // namespace

Checkpoint load_checkpoint_settings(Config& c) {
  Checkpoint checkpoint;
  checkpoint.file = !c.eval.empty() ? c.eval : c.resume;
  if (!checkpoint.file.empty()) {
    checkpoint.entries = tg::load_checkpoint(checkpoint.file);
    const Config flags = c;
    load_architecture(checkpoint.entries, c, checkpoint.file);
    check_no_conflicts(flags, c, checkpoint.file);
  }
  return checkpoint;
}

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

std::int64_t checked_integer(const tg::StateDict& s, const std::string& name, std::int64_t lo,
                             std::int64_t hi, const std::string& file) {
  const std::int64_t v = s.integer(name, file);
  if (v < lo || v > hi)
    throw tg::Error(file + ": integer '" + name + "' is " + std::to_string(v) + ", expected " +
                    std::to_string(lo) + " to " + std::to_string(hi));
  return v;
}

Progress load_progress(const Config& c, const Checkpoint& checkpoint) {
  Progress progress;
  if (!checkpoint.file.empty() && c.eval.empty()) {
    progress.epochs_done = static_cast<int>(checked_integer(
        checkpoint.entries, "progress.epochs_done", 1, kMaxEpochs, checkpoint.file));
    progress.history = parse_history(
        checkpoint.entries, static_cast<std::size_t>(progress.epochs_done), checkpoint.file);
  }
  return progress;
}
