// The models tapegrad-mnist trains, built from a few settings (which a checkpoint stores as
// text, so --eval and --resume rebuild the same architecture).
#pragma once

#include "tapegrad/tapegrad.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct ModelSpec {
  std::string model = "mlp";  // mlp | lenet | cnn | lstm
  // MLP only:
  std::string hidden = "256,128";
  std::string activation = "relu";
  std::string init = "he";
  bool batchnorm = false;
  float dropout = 0.0f;
  std::uint64_t seed = 0;
};

const std::vector<std::string>& model_names();
// "256,128" -> {256, 128}; throws a tg::Error naming the bad item.
std::vector<std::size_t> parse_hidden(const std::string& text);
// The model for flat `side` x `side` images (rows of side*side pixels) and `classes` classes.
std::unique_ptr<tg::Sequential> build_model(const ModelSpec& spec, std::size_t inputs,
                                            std::size_t classes);
// What the demo's model does to raw pixels before its first layer (as the batch iterator).
tg::Preprocessing demo_preprocessing(const tg::Normalization& normalization, std::size_t inputs);
// The trained model as an ONNX graph from raw pixels (0-255, flat) to class probabilities.
void export_demo_onnx(const std::string& path, tg::Module& model,
                      const tg::Normalization& normalization, std::size_t inputs);

// Writes `model` as a model file (tg::save_model) for tapegrad-predict and tg::load_model: raw
// byte pixels of flat images (`inputs` of them, e.g. 784) go through / 255 and `normalization`
// as in training; one output per class, named by `class_names`.
void save_demo_model(const std::string& path, tg::Module& model,
                     const tg::Normalization& normalization, std::size_t inputs,
                     const std::vector<std::string>& class_names);
