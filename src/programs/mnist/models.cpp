#include "models.hpp"

#include "tapegrad/io/onnx.hpp"

#include "tapegrad/io/model_file.hpp"

#include <cmath>

namespace {

std::size_t image_side(std::size_t inputs) {
  const auto side = static_cast<std::size_t>(std::lround(std::sqrt(static_cast<double>(inputs))));
  if (side * side != inputs)
    throw tg::Error("the image models need square images; these have " + std::to_string(inputs) +
                    " pixels");
  return side;
}

std::unique_ptr<tg::Sequential> mlp(const ModelSpec& spec, std::size_t inputs, std::size_t classes,
                                    tg::Rng& rng) {
  const tg::Activation act = tg::activation_from_name(spec.activation);
  const tg::Init init = tg::init_from_name(spec.init);
  auto net = std::make_unique<tg::Sequential>();
  std::size_t width = inputs;
  std::uint64_t dropout_seed = spec.seed * 1000 + 1;
  for (std::size_t h : parse_hidden(spec.hidden)) {
    // Batch norm subtracts the mean, which makes a bias before it useless.
    net->add<tg::Dense>(width, h, rng, tg::DenseOptions{!spec.batchnorm, init});
    if (spec.batchnorm) net->add<tg::BatchNorm1d>(h);
    net->add<tg::ActivationLayer>(act);
    if (spec.dropout > 0) net->add<tg::Dropout>(spec.dropout, dropout_seed++);
    width = h;
  }
  net->add<tg::Dense>(width, classes, rng, tg::DenseOptions{true, init});
  return net;
}

// LeCun et al.'s LeNet-5 shape with ReLU and max pooling.
std::unique_ptr<tg::Sequential> lenet(std::size_t side, std::size_t classes, tg::Rng& rng) {
  auto net = std::make_unique<tg::Sequential>();
  net->add<tg::Unflatten>(1, tg::Shape{1, side, side});
  net->add<tg::Conv2d>(1, 6, 5, rng, tg::Conv2dOptions{.padding = 2});
  net->add<tg::ReLU>();
  net->add<tg::MaxPool2d>(2);
  net->add<tg::Conv2d>(6, 16, 5, rng);
  net->add<tg::ReLU>();
  net->add<tg::MaxPool2d>(2);
  net->add<tg::Flatten>();
  const std::size_t s = ((side / 2) - 4) / 2;
  net->add<tg::Dense>(16 * s * s, 120, rng);
  net->add<tg::ReLU>();
  net->add<tg::Dense>(120, 84, rng);
  net->add<tg::ReLU>();
  net->add<tg::Dense>(84, classes, rng);
  return net;
}

// The CNN of PyTorch's MNIST example: two 3x3 convolutions, max pooling, dropout, two dense.
std::unique_ptr<tg::Sequential> cnn(std::size_t side, std::size_t classes, std::uint64_t seed,
                                    tg::Rng& rng) {
  auto net = std::make_unique<tg::Sequential>();
  net->add<tg::Unflatten>(1, tg::Shape{1, side, side});
  net->add<tg::Conv2d>(1, 32, 3, rng);
  net->add<tg::ReLU>();
  net->add<tg::Conv2d>(32, 64, 3, rng);
  net->add<tg::ReLU>();
  net->add<tg::MaxPool2d>(2);
  net->add<tg::Dropout>(0.25f, seed * 1000 + 1);
  net->add<tg::Flatten>();
  const std::size_t s = (side - 4) / 2;
  net->add<tg::Dense>(64 * s * s, 128, rng);
  net->add<tg::ReLU>();
  net->add<tg::Dropout>(0.5f, seed * 1000 + 2);
  net->add<tg::Dense>(128, classes, rng);
  return net;
}

// Each image as `side` time steps of `side` pixels; the last hidden state is classified.
std::unique_ptr<tg::Sequential> lstm(std::size_t side, std::size_t classes, tg::Rng& rng) {
  auto net = std::make_unique<tg::Sequential>();
  net->add<tg::Unflatten>(1, tg::Shape{side, side});
  net->add<tg::LSTM>(side, 128, rng, tg::RecurrentOptions{.batch_first = true});
  net->add<tg::LastTimeStep>();
  net->add<tg::Dense>(128, classes, rng);
  return net;
}

}  // namespace

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = {"mlp", "lenet", "cnn", "lstm"};
  return names;
}

std::vector<std::size_t> parse_hidden(const std::string& text) {
  std::vector<std::size_t> sizes;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) continue;  // "" is no hidden layer: a linear model
    std::size_t v = 0;
    const bool digits = !item.empty() && item.size() <= 7 &&
                        item.find_first_not_of("0123456789") == std::string::npos;
    if (digits) v = std::stoul(item);
    // A width above a million is a typo, not a model: refuse it before allocating.
    if (!digits || v == 0 || v > 1000000)
      throw tg::Error("--hidden: '" + item + "' is not a layer width from 1 to 1000000");
    sizes.push_back(v);
  }
  return sizes;
}

std::unique_ptr<tg::Sequential> build_model(const ModelSpec& spec, std::size_t inputs,
                                            std::size_t classes) {
  tg::Rng rng(spec.seed);
  if (spec.model == "mlp") return mlp(spec, inputs, classes, rng);
  if (spec.model == "lenet") return lenet(image_side(inputs), classes, rng);
  if (spec.model == "cnn") return cnn(image_side(inputs), classes, spec.seed, rng);
  if (spec.model == "lstm") return lstm(image_side(inputs), classes, rng);
  throw tg::Error("--model: unknown '" + spec.model + "' (known: mlp, lenet, cnn, lstm)");
}

tg::Preprocessing demo_preprocessing(const tg::Normalization& normalization, std::size_t inputs) {
  // The batch iterator's scaling of byte pixels: x / 255, then (x - mean) / stddev.
  tg::Preprocessing p;
  p.input_shape = {inputs};
  p.divisor = 255.0f;
  p.mean = {normalization.mean};
  p.stddev = {normalization.stddev};
  return p;
}

void save_demo_model(const std::string& path, tg::Module& model,
                     const tg::Normalization& normalization, std::size_t inputs,
                     const std::vector<std::string>& class_names) {
  tg::ModelInfo info;
  info.preprocessing = demo_preprocessing(normalization, inputs);
  info.task = "classification";
  info.num_classes = class_names.size();
  info.class_names = class_names;
  tg::save_model(path, model, info);
}

void export_demo_onnx(const std::string& path, tg::Module& model,
                      const tg::Normalization& normalization, std::size_t inputs) {
  tg::OnnxOptions options;
  options.softmax_output = true;  // a deployer feeds raw pixels 0-255 and gets probabilities
  tg::export_onnx(model, demo_preprocessing(normalization, inputs), path, options);
}
