// The README's "Use a trained model in your program" and "Export to ONNX" examples, compiled and
// run here: a model trained and saved by one piece of code, used by another that knows nothing
// of how it was built.
#include "tapegrad/tapegrad.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

namespace {

// What some training program did: a small classifier of 4 raw features (values around 100,
// hence the preprocessing) into 3 classes, saved as a model file.
void train_and_save(const std::string& path) {
  tg::Rng rng(7);
  tg::Dataset data;
  data.name = "four features";
  data.sample_shape = {4};
  data.num_classes = 3;
  for (int i = 0; i < 300; ++i) {
    const auto c = static_cast<std::int32_t>(rng.below(3));
    for (int k = 0; k < 4; ++k) data.values.push_back(100.0f + 10.0f * (k == c) + rng.normal(0, 2));
    data.labels.push_back(c);
  }
  const tg::Preprocessing preprocessing = tg::fit_standardization(data);
  tg::apply_preprocessing(preprocessing, data);
  tg::Sequential model;
  model.add<tg::Dense>(4, 16, rng);
  model.add<tg::ReLU>();
  model.add<tg::Dense>(16, 3, rng);
  tg::Adam optimizer(model.parameters(), tg::AdamOptions{0.01});  // lr
  tg::BatchIterator batches(data, 32, true, 1);
  tg::FitOptions options;
  options.epochs = 20;
  options.progress = options.log_epochs = false;
  tg::fit(model, optimizer, batches, nullptr, options);
  tg::ModelInfo info;
  info.preprocessing = preprocessing;
  info.num_classes = 3;
  info.class_names = {"first", "second", "third"};
  tg::save_model(path, model, info);
}

std::size_t classify(const std::string& model_path, float f0, float f1, float f2, float f3) {
  // README: use a trained model begin
  // Written by tg::save_model, tapegrad-mnist --save-model or tapegrad-csv --save-model: the
  // file holds the layers, the weights and what raw input goes through, so no code of the
  // program that trained it is needed.
  tg::LoadedModel loaded = tg::load_model(model_path);

  // Raw inputs as that program read them (N x the input shape): here one row of 4 values.
  tg::Tensor raw = tg::tensor(tg::Shape{1, 4}, {f0, f1, f2, f3});
  // Preprocessing, forward without a tape, softmax: N x classes probabilities.
  tg::Tensor probabilities = tg::predict(loaded, raw);
  const float* p = probabilities.data();
  std::size_t best = std::max_element(p, p + loaded.info.num_classes) - p;
  std::printf("%s (%.3f)\n", loaded.info.class_names[best].c_str(), p[best]);
  // README: use a trained model end
  return best;
}

}  // namespace

TEST(Readme, AModelSavedByOneProgramClassifiesRawInputsInAnother) {
  const tg::test::TempDir dir;
  const std::string path = dir / "classifier.tgm";
  train_and_save(path);
  EXPECT_EQ(classify(path, 111, 100, 99, 101), 0u);
  EXPECT_EQ(classify(path, 100, 109, 101, 100), 1u);
  EXPECT_EQ(classify(path, 99, 100, 112, 98), 2u);
}

TEST(Readme, ShowsTheDeploymentExampleExactlyAsItIsCompiledHere) {
  const std::string readme = tg::test::read_text(std::string(TAPEGRAD_SOURCE_DIR) + "/README.md");
  const std::string snippet =
      tg::test::readme_snippet("readme_deploy_test.cpp", "use a trained model");
  EXPECT_NE(readme.find(snippet), std::string::npos)
      << "README.md lacks the example as compiled in tests/readme_deploy_test.cpp:\n"
      << snippet;
}
