// ONNX export: a model and the preprocessing of its raw input as one ONNX graph, so whoever
// deploys it (ONNX Runtime, a browser, a phone) feeds the raw data the program read and gets
// the model's output, with nothing of tapegrad's to reimplement.
//
//   tg::export_onnx(model, preprocessing, "mnist.onnx", {.softmax_output = true});
//
// The graph takes `input_name`, float32 N x preprocessing.input_shape (N symbolic), applies
// Div, Sub, Div with the preprocessing's constants, then one group of ONNX nodes per layer of
// model.spec() (see ModuleSpec), in evaluation mode (running statistics, no dropout), and gives
// `output_name`. The weights are the model's model_state(), stored as initializers in ONNX's
// layouts (Dense's in x out weight feeds MatMul as it is; recurrent weights are transposed,
// their gates reordered to ONNX's and their biases laid out as ONNX's B).
//
// What is exported, and how:
//   Dense MatMul (+ Add)      Identity, ReLU, Sigmoid, Tanh, LeakyReLU, ELU, Softmax,
//                             LogSoftmax: the ONNX op of the same name
//   Step GreaterOrEqual+Cast  Dropout Identity          Flatten, Unflatten Reshape
//   BatchNorm1d/2d BatchNormalization                  LayerNorm LayerNormalization (opset 17;
//   Conv1d/2d Conv            MaxPool2d MaxPool          decomposed into ReduceMean... below)
//   AvgPool2d AveragePool (count_include_pad, as tapegrad)
//   AdaptiveAvgPool2d GlobalAveragePool for 1x1, AveragePool when the output size divides the
//                     input's; any other size is refused
//   Embedding Cast + Gather   RNN, LSTM, GRU  one ONNX RNN/LSTM/GRU per layer (batch_first only)
//   LastTimeStep Gather of step T-1                    Sequential: its children in order
// Anything else (a type without an exporter, an option the ONNX op cannot express, weights or
// shapes that do not fit the spec) is refused with a tg::Error naming the layer ("layer 3
// (GRU)") before anything is written. The model is checked with ONNX's checker and its strict
// shape inference before the file is written (atomically: a temporary file, then a rename).
#pragma once

#include "tapegrad/core/state_dict.hpp"
#include "tapegrad/data/preprocess.hpp"
#include "tapegrad/nn/module.hpp"

#include <cstdint>
#include <string>

namespace tg {

struct OnnxOptions {
  // The default opset of ONNX 1.12's checker, which ONNX Runtime runs; 14 to 17 are accepted
  // (below 17 LayerNorm is written as ReduceMean, Sub, Mul, Add, Sqrt, Div).
  std::int64_t opset = 17;
  std::string input_name = "input";
  std::string output_name = "output";
  // Classification: end the graph with Softmax over the last dimension, so the deployed model
  // gives probabilities. Nothing is added when the model already ends with Softmax.
  bool softmax_output = false;
  std::string batch_name = "N";  // the symbolic batch dimension of the input and the output
};

// model.spec() and model_state(model) as an ONNX file at `path`. The model is not changed.
void export_onnx(Module& model, const Preprocessing& preprocessing, const std::string& path,
                 const OnnxOptions& options = {});
// The same from a spec and its weights (a model file's contents, no module needed): parameter
// and buffer names as model_state() gives them ("0.weight", "3.running_mean").
void export_onnx(const ModuleSpec& spec, const StateDict& weights,
                 const Preprocessing& preprocessing, const std::string& path,
                 const OnnxOptions& options = {});
// The serialized ONNX ModelProto export_onnx would write, checked.
std::string onnx_model_bytes(const ModuleSpec& spec, const StateDict& weights,
                             const Preprocessing& preprocessing, const OnnxOptions& options = {});

// Runs ONNX's checker on the file at `path`; throws a tg::Error naming the file and the
// checker's complaint.
void check_onnx(const std::string& path);

}  // namespace tg
