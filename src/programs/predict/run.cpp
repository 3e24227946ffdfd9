#include "run.hpp"

#include "inputs.hpp"
#include "labels.hpp"
#include "output.hpp"

#include <algorithm>
#include <cstdio>

namespace {
// Samples turned into floats and predicted at a time: bounds the float copy of an IDX file.
constexpr std::size_t kChunk = 8192;
}  // namespace

void run_predictions(const std::string& model_path, const std::vector<std::string>& paths,
                     const RunOptions& options) {
  tg::LoadedModel model = tg::load_model(model_path);
  std::vector<std::uint32_t> labels;
  if (!options.labels.empty()) labels = read_labels(options.labels, model.info);
  std::vector<Input> inputs;
  std::size_t total = 0;
  bool all_images = true;
  for (const std::string& path : paths) {
    inputs.push_back(read_input(path, model.info));
    total += sample_count(inputs.back());
    all_images = all_images && inputs.back().kind != Input::Kind::csv;
  }
  if (!options.labels.empty() && labels.size() != total)
    throw tg::Error(options.labels + ": " + std::to_string(labels.size()) + " labels for " +
                    std::to_string(total) + " samples in the inputs");
  RawFloatFile probabilities;
  if (!options.probabilities.empty()) open_raw_floats(probabilities, options.probabilities);

  std::size_t sample = 0, correct = 0;
  for (const Input& input : inputs) {
    const std::size_t count = sample_count(input);
    for (std::size_t first = 0; first < count; first += kChunk) {
      const std::size_t n = std::min(kChunk, count - first);
      const tg::Tensor outputs =
          tg::predict(model, raw_samples(input, first, n, model.info), options.batch);
      if (probabilities.file) write_raw_floats(probabilities, outputs.data(), outputs.size());
      for (std::size_t r = 0; r < n; ++r, ++sample) {
        std::string mark;
        if (!labels.empty()) {
          const std::size_t predicted = predicted_class(outputs, r);
          correct += predicted == labels[sample];
          mark = label_mark(predicted, labels[sample], model.info);
        }
        if (!options.quiet)
          std::printf(
              "%s%s\n",
              prediction_line(sample_name(input, first + r), outputs, r, model.info).c_str(),
              mark.c_str());
      }
    }
  }
  if (probabilities.file) finish_raw_floats(probabilities);
  if (!labels.empty())
    std::printf("%s\n", accuracy_line(correct, total, all_images ? "images" : "samples").c_str());
}
