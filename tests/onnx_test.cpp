// ONNX export: every exportable layer in a small seeded model, exported, checked by ONNX's
// checker and run by ONNX Runtime (onnxruntime-node, through tests/onnx/run_model.js) on raw
// inputs, against tapegrad's own forward in evaluation mode. The specs are written out here
// (the vocabulary of ModuleSpec), so they test the exporter whichever layers have spec() yet.
#include "tapegrad/io/onnx.hpp"
#include "test_util.hpp"

#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

using namespace tg;
namespace fs = std::filesystem;

using Options = std::vector<std::pair<std::string, std::string>>;

ModuleSpec layer(const std::string& type, Options options = {}) {
  return ModuleSpec{type, std::move(options), {}};
}
ModuleSpec sequential(std::vector<ModuleSpec> children) {
  return ModuleSpec{"Sequential", {}, std::move(children)};
}
ModuleSpec dense(std::size_t in, std::size_t out, bool bias = true) {
  return layer("Dense", {{"in_features", std::to_string(in)},
                         {"out_features", std::to_string(out)},
                         {"bias", bias ? "1" : "0"},
                         {"init", "he_normal"}});
}
ModuleSpec conv2d(std::size_t in, std::size_t out, const std::string& kernel,
                  const std::string& stride = "1,1", const std::string& padding = "0,0",
                  const std::string& dilation = "1,1", std::size_t groups = 1) {
  return layer("Conv2d", {{"in_channels", std::to_string(in)},
                          {"out_channels", std::to_string(out)},
                          {"kernel_size", kernel},
                          {"stride", stride},
                          {"padding", padding},
                          {"dilation", dilation},
                          {"groups", std::to_string(groups)},
                          {"bias", "1"}});
}
ModuleSpec pool(const std::string& type, const std::string& kernel, const std::string& stride,
                const std::string& padding) {
  return layer(type, {{"kernel_size", kernel}, {"stride", stride}, {"padding", padding}});
}
ModuleSpec recurrent(const std::string& type, std::size_t in, std::size_t hidden,
                     std::size_t layers, bool bias = true, const std::string& nl = "tanh") {
  return layer(type, {{"input_size", std::to_string(in)},
                      {"hidden_size", std::to_string(hidden)},
                      {"num_layers", std::to_string(layers)},
                      {"bias", bias ? "1" : "0"},
                      {"batch_first", "1"},
                      {"nonlinearity", nl}});
}

// The parameters that start constant (zero biases, norms' ones) and every buffer of `model`
// set to seeded random values (running variances positive), so that none is a harmless 0 or 1;
// the weights keep their initializers' scale, which keeps the outputs near 1.
void randomize(Module& model, std::uint64_t seed) {
  ModuleState state;
  model.collect("", state);
  for (auto& [name, p] : state.parameters) {
    const Tensor& v = p->value;
    if (v.size() && std::all_of(v.begin(), v.end(), [&](float x) { return x == *v.begin(); }))
      p->value = test::random_nd(shape_of(v), seed++, -0.5f, 0.5f);
  }
  for (auto& [name, t] : state.buffers) {
    const bool var = name.find("running_var") != std::string::npos;
    *t = test::random_nd(shape_of(*t), seed++, var ? 0.3f : -0.5f, var ? 2.0f : 0.5f);
  }
}

Preprocessing identity(const Shape& input_shape) {
  Preprocessing p;
  p.input_shape = input_shape;
  return p;
}

Preprocessing mnist_preprocessing() {
  Preprocessing p;
  p.input_shape = {784};
  p.divisor = 255.0f;
  p.mean = {0.1307f};
  p.stddev = {0.3081f};
  return p;
}

// A folder of its own for one test's files, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path = fs::temp_directory_path() / ("tapegrad_onnx_" + std::to_string(::getpid()) + "_" +
                                        info->test_suite_name() + "_" + info->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

const fs::path kSource = TAPEGRAD_SOURCE_DIR;

// Why ONNX Runtime cannot run here ("" when it can).
const std::string& ort_missing() {
  static const std::string why = []() -> std::string {
    if (std::system("node --version >/dev/null 2>&1") != 0) return "node is not installed";
    if (!fs::exists(kSource / "data/onnxruntime/node_modules/onnxruntime-node/package.json"))
      return "onnxruntime-node is not in data/onnxruntime (scripts/setup installs it)";
    return "";
  }();
  return why;
}

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

void write_floats(const std::string& path, const Tensor& t) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(t.data()),
            static_cast<std::streamsize>(t.size() * sizeof(float)));
  ASSERT_TRUE(out.good()) << path;
}

// `model_path` run by ONNX Runtime on `input`.
Tensor ort_run(const std::string& model_path, const Tensor& input, const TempDir& dir) {
  const std::string in = dir.file("input.f32"), out = dir.file("output.f32");
  write_floats(in, input);
  std::string command = "node " + quoted((kSource / "tests/onnx/run_model.js").string()) + " " +
                        quoted(model_path) + " " + quoted(in) + " " + quoted(out);
  for (std::size_t d : shape_of(input)) command += " " + std::to_string(d);
  command += " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot start: " + command);
  std::string text;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) text += buf;
  if (::pclose(pipe) != 0) throw std::runtime_error("ONNX Runtime failed: " + text);
  std::istringstream words(text.substr(text.rfind("shape")));
  std::string word;
  words >> word;
  Shape shape;
  for (std::size_t d; words >> d;) shape.push_back(d);
  Tensor result = zeros(shape);
  std::ifstream file(out, std::ios::binary);
  file.read(reinterpret_cast<char*>(result.data()),
            static_cast<std::streamsize>(result.size() * sizeof(float)));
  if (!file || file.peek() != EOF) throw std::runtime_error(out + " does not hold " + text);
  return result;
}

Tensor tapegrad_forward(Module& model, const Preprocessing& pre, const Tensor& raw,
                        bool softmax_output = false) {
  model.eval();
  Tape tape;
  Var y = model(tape.constant(pre.apply(raw)));
  if (softmax_output) y = softmax(y);
  return y.value();
}

std::size_t argmax_of_row(const Tensor& t, std::size_t row) {
  const float* v = t.data() + row * cols(t);
  return static_cast<std::size_t>(std::max_element(v, v + cols(t)) - v);
}

std::string file_bytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

// Exports `model` (its own spec() and weights), checks the file, runs it with ONNX Runtime on
// `raw` and compares with tapegrad: max |ORT - tapegrad| <= 1e-4 and the same argmax in every
// row. `spec` is the model written out by hand: it must export to the same graph.
void expect_runtime_matches(Module& model, const ModuleSpec& spec, const Preprocessing& pre,
                            const Tensor& raw, const OnnxOptions& options = {}) {
  TempDir dir;
  const std::string path = dir.file("model.onnx");
  export_onnx(model, pre, path, options);
  EXPECT_NO_THROW(check_onnx(path));
  EXPECT_TRUE(file_bytes(path) == onnx_model_bytes(spec, model_state(model), pre, options))
      << "the hand-written spec exports another graph than the model's spec()";
  const Tensor expected = tapegrad_forward(model, pre, raw, options.softmax_output);
  if (!ort_missing().empty()) GTEST_SKIP() << "ONNX Runtime check skipped: " << ort_missing();
  const Tensor got = ort_run(path, raw, dir);
  ASSERT_EQ(shape_of(got), shape_of(expected));
  float worst = 0.0f;
  for (std::size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(got.data()[i] - expected.data()[i]));
  EXPECT_LE(worst, 1e-4f) << "max |ORT - tapegrad| over " << shape_str(got);
  for (std::size_t r = 0; r < rows(got); ++r)
    EXPECT_EQ(argmax_of_row(got, r), argmax_of_row(expected, r)) << "row " << r;
  // A constant output would match anything constant: make sure the inputs reach the output.
  EXPECT_GT(*std::max_element(expected.begin(), expected.end()),
            *std::min_element(expected.begin(), expected.end()));
}

Tensor pixels(std::size_t n, std::uint64_t seed) {
  return test::random_nd({n, 784}, seed, 0.0f, 255.0f);
}

TEST(Onnx, MlpWithMnistPreprocessingMatchesOnnxRuntime) {
  Rng rng(1);
  Sequential model;
  model.add<Dense>(784, 64, rng);
  model.add<ReLU>();
  model.add<Dense>(64, 32, rng);
  model.add<ReLU>();
  model.add<Dense>(32, 10, rng);
  randomize(model, 10);
  const ModuleSpec spec =
      sequential({dense(784, 64), layer("ReLU"), dense(64, 32), layer("ReLU"), dense(32, 10)});
  expect_runtime_matches(model, spec, mnist_preprocessing(), pixels(6, 2));
}

TEST(Onnx, SoftmaxOutputGivesProbabilities) {
  Rng rng(3);
  Sequential model;
  model.add<Dense>(784, 10, rng);
  randomize(model, 30);
  OnnxOptions options;
  options.softmax_output = true;
  expect_runtime_matches(model, sequential({dense(784, 10)}), mnist_preprocessing(), pixels(4, 4),
                         options);
}

TEST(Onnx, SoftmaxOutputIsNotAddedTwice) {
  Rng rng(5);
  Sequential model;
  model.add<Dense>(6, 4, rng);
  model.add<Softmax>();
  randomize(model, 50);
  OnnxOptions options;
  options.softmax_output = true;
  const ModuleSpec spec = sequential({dense(6, 4), layer("Softmax")});
  const std::string once = onnx_model_bytes(spec, model_state(model), identity({6}), options);
  options.softmax_output = false;
  EXPECT_EQ(once, onnx_model_bytes(spec, model_state(model), identity({6}), options));
}

TEST(Onnx, PerFeaturePreprocessingMatchesOnnxRuntime) {
  Rng rng(7);
  Sequential model;
  model.add<Dense>(5, 3, rng);
  randomize(model, 70);
  Preprocessing pre;
  pre.input_shape = {5};
  pre.divisor = 2.0f;
  pre.mean = {0.5f, -1.0f, 2.0f, 0.0f, 3.0f};
  pre.stddev = {1.5f, 0.25f, 2.0f, 1.0f, 4.0f};
  expect_runtime_matches(model, sequential({dense(5, 3)}), pre,
                         test::random_nd({7, 5}, 8, -10.0f, 10.0f));
}

TEST(Onnx, EveryActivationMatchesOnnxRuntime) {
  const std::vector<std::pair<ModuleSpec, std::function<void(Sequential&)>>> cases = {
      {layer("Identity"), [](Sequential& m) { m.add<ActivationLayer>(Activation::identity); }},
      {layer("ReLU"), [](Sequential& m) { m.add<ReLU>(); }},
      {layer("Sigmoid"), [](Sequential& m) { m.add<Sigmoid>(); }},
      {layer("Tanh"), [](Sequential& m) { m.add<Tanh>(); }},
      {layer("Step"), [](Sequential& m) { m.add<Step>(); }},
      {layer("LeakyReLU", {{"negative_slope", "0.2"}}),
       [](Sequential& m) { m.add<LeakyReLU>(0.2f); }},
      {layer("ELU", {{"alpha", "0.7"}}), [](Sequential& m) { m.add<ELU>(0.7f); }},
      {layer("Softmax"), [](Sequential& m) { m.add<Softmax>(); }},
      {layer("LogSoftmax"), [](Sequential& m) { m.add<LogSoftmax>(); }},
  };
  std::uint64_t seed = 100;
  for (const auto& [spec, add] : cases) {
    SCOPED_TRACE(spec.type);
    Rng rng(seed);
    Sequential model;
    model.add<Dense>(6, 8, rng);
    add(model);
    model.add<Dense>(8, 5, rng);
    randomize(model, seed);
    expect_runtime_matches(model, sequential({dense(6, 8), spec, dense(8, 5)}), identity({6}),
                           test::random_nd({9, 6}, seed + 1));
    if (::testing::Test::IsSkipped()) return;
    seed += 10;
  }
}

TEST(Onnx, BatchNormAndDropoutMlpMatchesOnnxRuntime) {
  Rng rng(11);
  Sequential model;
  model.add<Dense>(12, 16, rng, DenseOptions{false});
  model.add<BatchNorm1d>(16, 0.1f, 1e-3f);
  model.add<ReLU>();
  model.add<Dropout>(0.5f, 3);
  model.add<Dense>(16, 4, rng);
  randomize(model, 110);
  const ModuleSpec spec = sequential(
      {dense(12, 16, false),
       layer("BatchNorm1d", {{"num_features", "16"}, {"momentum", "0.1"}, {"eps", "0.001"}}),
       layer("ReLU"), layer("Dropout", {{"p", "0.5"}, {"seed", "3"}}), dense(16, 4)});
  expect_runtime_matches(model, spec, identity({12}), test::random_nd({8, 12}, 12));
}

TEST(Onnx, LeNetLikeSequentialMatchesOnnxRuntime) {
  Rng rng(13);
  Sequential model;
  model.add<Unflatten>(1, Shape{1, 28, 28});
  model.add<Conv2d>(1, 6, 5, rng, Conv2dOptions{.padding = 2});
  model.add<ReLU>();
  model.add<MaxPool2d>(2);
  model.add<Conv2d>(6, 16, 5, rng);
  model.add<ReLU>();
  model.add<MaxPool2d>(2);
  model.add<Flatten>();
  model.add<Dense>(400, 120, rng);
  model.add<ReLU>();
  model.add<Dense>(120, 84, rng);
  model.add<ReLU>();
  model.add<Dense>(84, 10, rng);
  randomize(model, 130);
  const ModuleSpec spec = sequential(
      {layer("Unflatten", {{"dim", "1"}, {"sizes", "1,28,28"}}), conv2d(1, 6, "5,5", "1,1", "2,2"),
       layer("ReLU"), pool("MaxPool2d", "2,2", "0,0", "0,0"), conv2d(6, 16, "5,5"), layer("ReLU"),
       pool("MaxPool2d", "2,2", "2,2", "0,0"),
       layer("Flatten", {{"start_dim", "1"}, {"end_dim", "-1"}}), dense(400, 120), layer("ReLU"),
       dense(120, 84), layer("ReLU"), dense(84, 10)});
  expect_runtime_matches(model, spec, mnist_preprocessing(), pixels(3, 14));
}

// Strides, padding, dilation, groups, batch norm over channels, both pools with padding, and
// global average pooling.
TEST(Onnx, CnnLikeSequentialMatchesOnnxRuntime) {
  Rng rng(15);
  Sequential model;
  model.add<Conv2d>(3, 8, Size2{3, 2}, rng, Conv2dOptions{.stride = {2, 1}, .padding = 1});
  model.add<BatchNorm2d>(8);
  model.add<ELU>(1.0f);
  model.add<Conv2d>(8, 8, 3, rng, Conv2dOptions{.padding = 2, .dilation = 2, .groups = 4});
  model.add<AvgPool2d>(3, 2, 1);
  model.add<MaxPool2d>(Size2{3, 2}, 1, Size2{1, 0});
  model.add<AdaptiveAvgPool2d>(1);
  model.add<Flatten>();
  model.add<Dense>(8, 5, rng);
  randomize(model, 150);
  const ModuleSpec spec = sequential(
      {conv2d(3, 8, "3,2", "2,1", "1,1"),
       layer("BatchNorm2d", {{"num_features", "8"}, {"momentum", "0.1"}, {"eps", "1e-05"}}),
       layer("ELU", {{"alpha", "1"}}), conv2d(8, 8, "3,3", "1,1", "2,2", "2,2", 4),
       pool("AvgPool2d", "3,3", "2,2", "1,1"), pool("MaxPool2d", "3,2", "1,1", "1,0"),
       layer("AdaptiveAvgPool2d", {{"output_size", "1,1"}}),
       layer("Flatten", {{"start_dim", "1"}, {"end_dim", "-1"}}), dense(8, 5)});
  expect_runtime_matches(model, spec, identity({3, 12, 11}), test::random_nd({4, 3, 12, 11}, 16));
}

TEST(Onnx, AdaptiveAvgPoolToADividingSizeMatchesOnnxRuntime) {
  Rng rng(17);
  Sequential model;
  model.add<AdaptiveAvgPool2d>(Size2{2, 3});
  model.add<Flatten>();
  randomize(model, 170);
  const ModuleSpec spec = sequential({layer("AdaptiveAvgPool2d", {{"output_size", "2,3"}}),
                                      layer("Flatten", {{"start_dim", "1"}, {"end_dim", "-1"}})});
  expect_runtime_matches(model, spec, identity({2, 6, 9}), test::random_nd({3, 2, 6, 9}, 18));
}

TEST(Onnx, Conv1dMatchesOnnxRuntime) {
  Rng rng(19);
  Sequential model;
  model.add<Conv1d>(4, 6, 3, rng, Conv1dOptions{.stride = 2, .padding = 1});
  model.add<Tanh>();
  model.add<Conv1d>(6, 6, 3, rng, Conv1dOptions{.dilation = 2, .groups = 2, .bias = false});
  model.add<Flatten>();
  model.add<Dense>(36, 3, rng);
  randomize(model, 190);
  auto conv1d = [](std::size_t in, std::size_t out, const std::string& stride,
                   const std::string& padding, const std::string& dilation, std::size_t groups,
                   bool bias) {
    return layer("Conv1d", {{"in_channels", std::to_string(in)},
                            {"out_channels", std::to_string(out)},
                            {"kernel_size", "3"},
                            {"stride", stride},
                            {"padding", padding},
                            {"dilation", dilation},
                            {"groups", std::to_string(groups)},
                            {"bias", bias ? "1" : "0"}});
  };
  const ModuleSpec spec = sequential(
      {conv1d(4, 6, "2", "1", "1", 1, true), layer("Tanh"), conv1d(6, 6, "1", "0", "2", 2, false),
       layer("Flatten", {{"start_dim", "1"}, {"end_dim", "-1"}}), dense(36, 3)});
  expect_runtime_matches(model, spec, identity({4, 20}), test::random_nd({5, 4, 20}, 20));
}

ModuleSpec layer_norm(const std::string& shape, bool affine) {
  return layer(
      "LayerNorm",
      {{"normalized_shape", shape}, {"eps", "1e-05"}, {"elementwise_affine", affine ? "1" : "0"}});
}

TEST(Onnx, LayerNormMatchesOnnxRuntimeAtOpset17AndDecomposedAtOpset14) {
  for (const std::int64_t opset : {17, 14}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    Rng rng(21);
    Sequential model;
    model.add<LayerNorm>(Shape{8});
    model.add<Dense>(8, 8, rng);
    model.add<LayerNorm>(Shape{5, 8}, 1e-5f, false);
    model.add<Flatten>();
    model.add<Dense>(40, 4, rng);
    randomize(model, 210);
    const ModuleSpec spec =
        sequential({layer_norm("8", true), dense(8, 8), layer_norm("5,8", false),
                    layer("Flatten", {{"start_dim", "1"}, {"end_dim", "-1"}}), dense(40, 4)});
    OnnxOptions options;
    options.opset = opset;
    expect_runtime_matches(model, spec, identity({5, 8}), test::random_nd({3, 5, 8}, 22, -3, 3),
                           options);
    if (::testing::Test::IsSkipped()) return;
  }
}

TEST(Onnx, EmbeddingMatchesOnnxRuntime) {
  Rng rng(23);
  Sequential model;
  model.add<Embedding>(20, 6, rng);
  model.add<Flatten>();
  model.add<Dense>(42, 3, rng);
  randomize(model, 230);
  Tensor indices = test::random_nd({4, 7}, 24, 0.0f, 19.99f);
  for (float& v : indices) v = std::floor(v);
  const ModuleSpec spec =
      sequential({layer("Embedding", {{"num_embeddings", "20"}, {"embedding_dim", "6"}}),
                  layer("Flatten", {{"start_dim", "1"}, {"end_dim", "-1"}}), dense(42, 3)});
  expect_runtime_matches(model, spec, identity({7}), indices);
}

// Rows of a flat 7 x 5 sample as 7 time steps: Unflatten, the recurrent layer, the last step,
// a dense classifier (the demo's lstm model, smaller).
template <class Layer>
void expect_recurrent_matches(const ModuleSpec& rnn_spec, const RecurrentOptions& options,
                              std::uint64_t seed) {
  Rng rng(seed);
  Sequential model;
  model.add<Unflatten>(1, Shape{7, 5});
  model.add<Layer>(5, 6, rng, options);
  model.add<LastTimeStep>();
  model.add<Dense>(6, 4, rng);
  randomize(model, seed * 10);
  const ModuleSpec spec = sequential({layer("Unflatten", {{"dim", "1"}, {"sizes", "7,5"}}),
                                      rnn_spec, layer("LastTimeStep"), dense(6, 4)});
  expect_runtime_matches(model, spec, identity({35}), test::random_nd({5, 35}, seed + 1));
}

TEST(Onnx, LstmWithLastTimeStepMatchesOnnxRuntime) {
  expect_recurrent_matches<LSTM>(recurrent("LSTM", 5, 6, 2), {.num_layers = 2, .batch_first = true},
                                 25);
}

TEST(Onnx, GruMatchesOnnxRuntime) {
  expect_recurrent_matches<GRU>(recurrent("GRU", 5, 6, 2), {.num_layers = 2, .batch_first = true},
                                27);
}

TEST(Onnx, GruWithoutBiasMatchesOnnxRuntime) {
  expect_recurrent_matches<GRU>(recurrent("GRU", 5, 6, 1, false),
                                {.bias = false, .batch_first = true}, 29);
}

TEST(Onnx, RnnTanhMatchesOnnxRuntime) {
  expect_recurrent_matches<RNN>(recurrent("RNN", 5, 6, 2), {.num_layers = 2, .batch_first = true},
                                31);
}

TEST(Onnx, RnnReluMatchesOnnxRuntime) {
  expect_recurrent_matches<RNN>(recurrent("RNN", 5, 6, 1, true, "relu"),
                                {.batch_first = true, .nonlinearity = RnnNonlinearity::relu}, 33);
}

// A user-defined module, libtorch style, that describes itself as the Sequential it computes
// (its members registered under the indices a Sequential would give them).
struct Net : Module {
  explicit Net(Rng& rng) : fc1(6, 8, rng), fc2(8, 3, rng) {
    register_module("0", fc1);
    register_module("2", fc2);
  }
  Var forward(Var x) override { return fc2(relu(fc1(x))); }
  std::string describe() const override { return "Net"; }
  ModuleSpec spec() const override { return sequential({fc1.spec(), layer("ReLU"), fc2.spec()}); }
  Dense fc1, fc2;
};

TEST(Onnx, AUserModuleWithASpecIsExported) {
  Rng rng(35);
  Net model(rng);
  randomize(model, 350);
  expect_runtime_matches(model, sequential({dense(6, 8), layer("ReLU"), dense(8, 3)}),
                         identity({6}), test::random_nd({4, 6}, 36));
}

// ---- refusals: one line naming the layer, and no file ----

std::string export_error(const ModuleSpec& spec, const StateDict& weights, const Preprocessing& pre,
                         const OnnxOptions& options = {}) {
  TempDir dir;
  const std::string path = dir.file("refused.onnx");
  const std::string message =
      test::error_of([&] { export_onnx(spec, weights, pre, path, options); });
  EXPECT_TRUE(fs::is_empty(dir.path)) << "a refused export left a file behind";
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  return message;
}

TEST(Onnx, AnUnknownLayerIsRefusedByName) {
  Rng rng(37);
  Sequential model;
  model.add<Dense>(4, 4, rng);
  const std::string message =
      export_error(sequential({dense(4, 4), layer("Bilinear", {{"in1_features", "4"}})}),
                   model_state(model), identity({4}));
  EXPECT_NE(message.find("layer 1 (Bilinear)"), std::string::npos) << message;
  EXPECT_NE(message.find("no ONNX exporter"), std::string::npos) << message;
}

TEST(Onnx, AModuleWithoutSpecIsRefused) {
  struct Plain : Module {
    Var forward(Var x) override { return x; }
    std::string describe() const override { return "Plain"; }
  } model;
  TempDir dir;
  const std::string message =
      test::error_of([&] { export_onnx(model, identity({3}), dir.file("plain.onnx")); });
  EXPECT_NE(message.find("export_onnx: Plain"), std::string::npos) << message;
  EXPECT_TRUE(fs::is_empty(dir.path));
}

TEST(Onnx, ShapesAndWeightsThatDoNotFitTheSpecAreRefused) {
  Rng rng(39);
  Sequential model;
  model.add<Dense>(4, 3, rng);
  const StateDict weights = model_state(model);
  // The spec's width disagrees with the input.
  std::string m = export_error(sequential({dense(5, 3)}), weights, identity({4}));
  EXPECT_NE(m.find("layer 0 (Dense): input is N x 4, not ... x 5"), std::string::npos) << m;
  // A weight stored out x in (PyTorch's layout) instead of tapegrad's in x out.
  Sequential square;
  square.add<Dense>(3, 4, rng);
  m = export_error(sequential({dense(4, 3)}), model_state(square), identity({4}));
  EXPECT_NE(m.find("'0.weight' is 3x4, the spec says 4x3"), std::string::npos) << m;
  // A missing weight.
  m = export_error(sequential({layer("ReLU"), dense(4, 3)}), weights, identity({4}));
  EXPECT_NE(m.find("layer 1 (Dense): the weights have no '1.weight'"), std::string::npos) << m;
  // A missing option names the layer too.
  m = export_error(sequential({layer("ELU")}), weights, identity({4}));
  EXPECT_NE(m.find("layer 0 (ELU)"), std::string::npos) << m;
  EXPECT_NE(m.find("alpha"), std::string::npos) << m;
}

TEST(Onnx, WhatOnnxCannotExpressIsRefused) {
  const StateDict none;
  std::string m = export_error(sequential({layer("AdaptiveAvgPool2d", {{"output_size", "3,3"}})}),
                               none, identity({2, 7, 7}));
  EXPECT_NE(m.find("layer 0 (AdaptiveAvgPool2d): output 3x3 does not divide the input 7x7"),
            std::string::npos)
      << m;
  ModuleSpec lstm = recurrent("LSTM", 5, 6, 1);
  lstm.options[4].second = "0";  // batch_first
  m = export_error(sequential({lstm}), none, identity({7, 5}));
  EXPECT_NE(m.find("layer 0 (LSTM): batch_first is false"), std::string::npos) << m;
  m = export_error(sequential({layer("Flatten", {{"start_dim", "0"}, {"end_dim", "-1"}})}), none,
                   identity({2, 3}));
  EXPECT_NE(m.find("start_dim 0"), std::string::npos) << m;
}

TEST(Onnx, BadOptionsAndPreprocessingAreRefused) {
  const ModuleSpec relu = sequential({layer("ReLU")});
  OnnxOptions options;
  options.opset = 13;
  EXPECT_NE(export_error(relu, {}, identity({3}), options).find("opset 13"), std::string::npos);
  options = {};
  options.output_name = options.input_name;
  EXPECT_NE(export_error(relu, {}, identity({3}), options).find("both named"), std::string::npos);
  Preprocessing pre = identity({3});
  pre.stddev = {1.0f, 0.0f, 1.0f};
  EXPECT_NE(export_error(relu, {}, pre).find("stddev"), std::string::npos);
}

TEST(Onnx, TheFileIsReplacedWholeAndAMissingFolderIsRefused) {
  TempDir dir;
  const std::string path = dir.file("model.onnx");
  {
    std::ofstream old(path);
    old << "an older file";
  }
  const ModuleSpec relu = sequential({layer("ReLU")});
  export_onnx(relu, {}, identity({3}), path);
  EXPECT_NO_THROW(check_onnx(path));
  EXPECT_EQ(std::vector<fs::path>(fs::directory_iterator(dir.path), fs::directory_iterator()),
            std::vector<fs::path>{fs::path(path)});
  const std::string missing = dir.file("no/such/folder/model.onnx");
  const std::string m = test::error_of([&] { export_onnx(relu, {}, identity({3}), missing); });
  EXPECT_NE(m.find(missing), std::string::npos) << m;
}

TEST(Onnx, TheCheckerRefusesWhatIsNotAModel) {
  TempDir dir;
  const std::string path = dir.file("garbage.onnx");
  {
    std::ofstream f(path, std::ios::binary);
    f << "\x08\x07\x12\x03not a model at all";
  }
  std::string m = test::error_of([&] { check_onnx(path); });
  EXPECT_NE(m.find("check_onnx: " + path), std::string::npos) << m;
  m = test::error_of([&] { check_onnx(dir.file("missing.onnx")); });
  EXPECT_NE(m.find("missing.onnx"), std::string::npos) << m;
}

}  // namespace
