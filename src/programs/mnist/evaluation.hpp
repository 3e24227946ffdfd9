// How the trained model does on the test set: per-image results and the confusion matrix.
#pragma once

#include "tapegrad/tapegrad.hpp"

#include <cstddef>
#include <string>
#include <vector>

// Per-sample results on the test set, in file order.
struct TestResults {
  tg::Evaluation eval;
  std::vector<int> predicted;
  std::vector<float> confidence;  // softmax probability of the predicted class
};

TestResults run_test(tg::Module& model, const tg::Dataset& test, std::size_t batch);

// The confusion matrix as text, one row per true class with its accuracy.
std::string format_confusion(const tg::Evaluation& e, const std::vector<std::string>& names);
