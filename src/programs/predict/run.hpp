// One tapegrad-predict run: read and check everything, then predict and report.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

struct RunOptions {
  std::size_t batch = 256;    // samples per forward pass
  std::string labels;         // --labels FILE: mark each line and print the accuracy last
  bool quiet = false;         // print only the accuracy line
  std::string probabilities;  // --probabilities FILE: the N x C outputs as raw float32
};

// Loads the model, reads the labels and every input, checks that the labels are one per sample
// and opens the probabilities file, all before the first prediction; then prints one line per
// sample (inputs in order) and, with labels, "accuracy=...". Throws a tg::Error naming the file.
void run_predictions(const std::string& model_path, const std::vector<std::string>& inputs,
                     const RunOptions& options);
