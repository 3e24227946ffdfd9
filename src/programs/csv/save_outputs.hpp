// Writing the trained model: a model file and an ONNX graph, each with the preprocessing the
// raw CSV rows need.
#pragma once

#include "options.hpp"

#include "tapegrad/data/data.hpp"
#include "tapegrad/nn/module.hpp"

namespace tapegrad_csv {

// Whether --save-model and --export-onnx can be honoured in this build: checked before
// training, so that a run is not wasted on an output it cannot write.
void check_outputs_available(const Options& options);
// Writes what --save-model and --export-onnx ask for (nothing when neither is given).
void save_outputs(tg::Module& model, const tg::Preprocessing& preprocessing,
                  const tg::Dataset& data, const Options& options);

}  // namespace tapegrad_csv
