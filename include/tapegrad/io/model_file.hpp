// Model files: a trained model to deploy, in one file: its architecture (a ModuleSpec), its
// weights, what its raw input goes through (Preprocessing) and what its outputs mean. Loading
// needs no code of the program that trained it: tg::load_model rebuilds the layers.
//
// The file is a checkpoint (tapegrad/io/checkpoint.hpp: versioned, little-endian, CRC'd,
// written atomically) holding these entries:
//   model_file.version                integer, kModelFileVersion
//   model_file.spec                   text: the ModuleSpec as JSON,
//                                     {"type": "...", "options": {"key": "value", ...},
//                                      "children": [...]} (children for a Sequential only)
//   model_file.info                   text: JSON {"task": "classification" | "regression",
//                                     "num_classes": C, "class_names": [...],
//                                     "target_names": [...], "input_shape": [...]}
//   model_file.preprocessing.divisor  real
//   model_file.preprocessing.mean     tensor (1 or sample_size values)
//   model_file.preprocessing.stddev   tensor (1 or sample_size values)
//   weights.<name>                    model_state(): tensors, and each RNG as 4 integers
//
// Loading checks, before building anything: the version, that no entry is unknown, the spec
// (every type and option, under spec_state()'s caps), that the stored tensors are exactly those
// the spec needs, name for name and shape for shape (so a hostile spec cannot allocate more
// than the file holds), that every weight is finite, and that the info fits the model (the
// model's output for input_shape is num_classes wide, or one column per target name). Every
// defect is a one-line tg::Error "<file>: entry '<entry>': <what>".
#pragma once

#include "tapegrad/core/state_dict.hpp"
#include "tapegrad/data/preprocess.hpp"
#include "tapegrad/nn/module.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tg {

constexpr std::int64_t kModelFileVersion = 1;

// What a model is for and how its raw input is prepared.
struct ModelInfo {
  // The raw input: its input_shape is one sample's shape as the model takes it (e.g. {784} or
  // {1, 28, 28}), without the batch dimension.
  Preprocessing preprocessing;
  std::string task = "classification";  // or "regression"
  // Classification: the model's output width (logits, or probabilities if it ends in
  // Softmax); class_names is empty or one name per class.
  std::size_t num_classes = 0;
  std::vector<std::string> class_names;
  // Regression: empty, or one name per output column.
  std::vector<std::string> target_names;

  const Shape& input_shape() const { return preprocessing.input_shape; }
  bool is_classification() const { return task == "classification"; }
  // Throws a tg::Error naming the field (prefixed by `context`) when a field does not fit:
  // an unknown task, num_classes 0 for classification (or not 0 for regression), a class or
  // target name count that is neither 0 nor the outputs, a bad preprocessing.
  void check(const std::string& context) const;
};

struct LoadedModel {
  std::unique_ptr<Module> module;
  ModelInfo info;
};

// Writes `model` (which must have a spec(): every tapegrad layer and Sequential has) with
// `info`. Everything is checked before the file is touched: the info, that the model takes
// info.input_shape and gives num_classes outputs (or one per target name), and that the spec
// rebuilds a module with the same state names and shapes.
void save_model(const std::string& path, Module& model, const ModelInfo& info);
// Reads a model file (see above) into a module in evaluation mode.
LoadedModel load_model(const std::string& path);

// The same on the checkpoint's entries; `name` stands for the file in messages.
StateDict model_file_state(Module& model, const ModelInfo& info);
LoadedModel model_from_state(const StateDict& state, const std::string& name);

// A ModuleSpec as the JSON text a model file stores, and back; from_json throws a tg::Error
// "<context>: byte B: <what>" on a defect (syntax, a missing or unknown key, nesting deeper
// than the spec's caps allow).
std::string spec_to_json(const ModuleSpec& spec);
ModuleSpec spec_from_json(const std::string& json, const std::string& context);

// Predictions of a loaded model for raw inputs: `raw` is N x input_shape or N x sample_size
// (the values as the program read them, e.g. pixels 0..255); it goes through the
// preprocessing, then the model (see tg::predict). Classification gives N x num_classes
// probabilities (softmax of the outputs; a model that ends in Softmax is taken as it is, one
// that ends in LogSoftmax is exponentiated); regression gives the model's outputs.
Tensor predict(LoadedModel& model, const Tensor& raw, std::size_t batch_size = 256);

}  // namespace tg
