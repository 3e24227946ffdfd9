// tapegrad-predict MODEL INPUT...: a model file's predictions for images and CSV rows, one line
// each (see output.hpp). Exit 1 with a one-line error on the first input that cannot be used.
#include "inputs.hpp"
#include "output.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{
      "Predicts with a tapegrad model file (tg::save_model) for PNG/JPEG/BMP images "
      "(grayscale, the model's input size) and CSV files (every column a feature)."};
  std::string model_path;
  std::vector<std::string> inputs;
  std::size_t batch = 256;
  app.add_option("MODEL", model_path, "model file")->required();
  app.add_option("INPUT", inputs, "images and CSV files")->required();
  app.add_option("--batch", batch, "samples per forward pass")->check(CLI::Range(1, 1 << 20));
  CLI11_PARSE(app, argc, argv);
  try {
    tg::LoadedModel model = tg::load_model(model_path);
    for (const std::string& input : inputs) {
      if (is_image_path(input)) {
        const tg::Tensor p = tg::predict(model, read_image(input, model.info), batch);
        std::printf("%s\n", prediction_line(input, p, 0, model.info).c_str());
      } else {
        const tg::Tensor p = tg::predict(model, read_csv_rows(input, model.info), batch);
        for (std::size_t r = 0; r < p.shape(0); ++r)
          std::printf("%s\n", prediction_line(input + "[row " + std::to_string(r + 1) + "]", p, r,
                                              model.info)
                                  .c_str());
      }
    }
  } catch (const tg::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "tapegrad-predict: %s\n", e.what());
    return 1;
  }
  return 0;
}
