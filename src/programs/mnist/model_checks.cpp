#include "model_checks.hpp"

#include "models.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace {

// A model above this many parameters is a typo, not a run (with Adam's two moments and the
// gradients it needs 16 bytes a parameter): refused before anything is allocated.
constexpr std::uint64_t kMaxParameters = 50'000'000;

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

// `where` prefixes the messages: the checkpoint's name and ": ", or nothing.
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
}  // namespace

void check_model(const Config& c, const tg::Dataset& train, const Checkpoint& checkpoint,
                 const tg::StateDict& model_entries) {
  check_model_size(c, train, checkpoint.file.empty() ? "" : checkpoint.file + ": ");
  if (!checkpoint.file.empty() && c.model == "mlp")
    check_mlp_tensors(c, train, model_entries, checkpoint.file);
}
