// tapegrad-predict MODEL INPUT...: a model file's predictions for images, IDX image files and
// CSV rows, one line each (see output.hpp), optionally scored against labels. Exit 1 with a
// one-line error when an input, the labels or the model cannot be used (nothing is predicted).
#include "run.hpp"

#include "tapegrad/core/tensor.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  CLI::App app{
      "Predicts with a tapegrad model file (tg::save_model) for PNG/JPEG/BMP images "
      "(grayscale, the model's input size), IDX image files (MNIST's format, plain or gzip) and "
      "CSV files (every column a feature)."};
  std::string model_path;
  std::vector<std::string> inputs;
  RunOptions options;
  app.add_option("MODEL", model_path, "model file")->required();
  app.add_option("INPUT", inputs, "images, IDX image files and CSV files")->required();
  app.add_option("--batch", options.batch, "samples per forward pass")
      ->check(CLI::Range(1, 1 << 20));
  CLI::Option* labels = app.add_option(
      "--labels", options.labels,
      "true classes, one per sample of the inputs in order: an IDX label file or a text file "
      "with a class name or index a line; marks each line right/wrong and prints "
      "accuracy=A (N images) last");
  app.add_flag("--quiet", options.quiet, "print only the accuracy line")->needs(labels);
  app.add_option("--probabilities", options.probabilities,
                 "write the N x C probabilities (regression: the outputs) as raw float32");
  CLI11_PARSE(app, argc, argv);
  try {
    run_predictions(model_path, inputs, options);
  } catch (const tg::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "tapegrad-predict: %s\n", e.what());
    return 1;
  }
  return 0;
}
