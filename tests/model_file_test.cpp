// Module specs (spec(), make_module, spec_state), model files (save_model / load_model),
// tg::predict and the tapegrad-predict program.
#include "test_util.hpp"

#include "tapegrad/io/checkpoint.hpp"
#include "tapegrad/io/model_file.hpp"
#include "tapegrad/nn/predict.hpp"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <sstream>

namespace tg {
namespace {

using test::error_of;
using test::expect_error;
using test::random_nd;
using test::TempDir;

// Random values for every tensor of the model's state (running variances positive), so that
// a round trip that lost a weight or mixed two up shows in the outputs.
void randomize(Module& m, std::uint64_t seed) {
  StateDict s = model_state(m);
  for (auto& [name, t] : s.tensors) {
    t = random_nd(shape_of(t), seed++, -1.0f, 1.0f);
    if (name.find("running_var") != std::string::npos)
      for (float& v : t) v = std::abs(v) + 0.5f;
  }
  load_model_state(m, s);
}

Tensor forward_eval(Module& m, const Tensor& x) {
  m.eval();
  Tape tape;
  return m(tape.constant(x)).value();
}

std::vector<std::pair<std::string, Shape>> state_shapes(Module& m) {
  std::vector<std::pair<std::string, Shape>> out;
  for (const auto& [name, t] : model_state(m).tensors) out.emplace_back(name, shape_of(t));
  return out;
}

std::vector<std::pair<std::string, Shape>> sorted(std::vector<std::pair<std::string, Shape>> v) {
  std::sort(v.begin(), v.end());
  return v;
}

struct LayerCase {
  std::string name;
  std::function<std::unique_ptr<Module>()> make;
  Tensor input;
};

std::vector<LayerCase> every_layer() {
  const Tensor rows = random_nd({4, 5}, 1);
  const Tensor images = random_nd({2, 3, 8, 8}, 2);
  const Tensor seq = random_nd({2, 3, 5}, 3);
  Tensor indices = zeros(Shape{3, 5});
  for (std::size_t i = 0; i < indices.size(); ++i) indices.data()[i] = static_cast<float>(i % 10);
  const auto rng = std::make_shared<Rng>(42);
  std::vector<LayerCase> c;
  const auto add = [&](std::string name, std::function<std::unique_ptr<Module>()> make,
                       Tensor input) {
    c.push_back({std::move(name), std::move(make), input});
  };
  add(
      "Dense", [=] { return std::make_unique<Dense>(5, 3, *rng); }, rows);
  add(
      "Dense no bias",
      [=] {
        return std::make_unique<Dense>(5, 3, *rng, DenseOptions{false, Init::xavier_uniform});
      },
      rows);
  add(
      "ReLU", [] { return std::make_unique<ReLU>(); }, rows);
  add(
      "Sigmoid", [] { return std::make_unique<Sigmoid>(); }, rows);
  add(
      "Tanh", [] { return std::make_unique<Tanh>(); }, rows);
  add(
      "Step", [] { return std::make_unique<Step>(); }, rows);
  add(
      "Softmax", [] { return std::make_unique<Softmax>(); }, rows);
  add(
      "LogSoftmax", [] { return std::make_unique<LogSoftmax>(); }, rows);
  add(
      "Identity", [] { return std::make_unique<ActivationLayer>(Activation::identity); }, rows);
  add(
      "LeakyReLU", [] { return std::make_unique<LeakyReLU>(); }, rows);
  add(
      "LeakyReLU 0.2", [] { return std::make_unique<LeakyReLU>(0.2f); }, rows);
  add(
      "leaky_relu alpha 0",
      [] { return std::make_unique<ActivationLayer>(Activation::leaky_relu); }, rows);
  add(
      "ELU 0.5", [] { return std::make_unique<ELU>(0.5f); }, rows);
  add(
      "ELU", [] { return std::make_unique<ActivationLayer>(Activation::elu); }, rows);
  add(
      "BatchNorm1d", [] { return std::make_unique<BatchNorm1d>(5, 0.2f, 1e-3f); }, rows);
  add(
      "Dropout", [] { return std::make_unique<Dropout>(0.3f, 7); }, rows);
  add(
      "Flatten", [] { return std::make_unique<Flatten>(); }, images);
  add(
      "Flatten 1..2", [] { return std::make_unique<Flatten>(1, 2); }, images);
  add(
      "Unflatten",
      [] {
        return std::make_unique<Unflatten>(2, Shape{8, 2, 4});
      },
      random_nd({2, 3, 64}, 4));
  add(
      "Conv1d",
      [=] {
        return std::make_unique<Conv1d>(4, 6, 3, *rng, Conv1dOptions{2, 1, 1, 2, false});
      },
      random_nd({2, 4, 9}, 5));
  add(
      "Conv2d",
      [=] {
        return std::make_unique<Conv2d>(2, 4, Size2{3, 2}, *rng,
                                        Conv2dOptions{{2, 1}, {1, 0}, {1, 2}, 2, true});
      },
      random_nd({2, 2, 7, 8}, 6));
  add(
      "MaxPool2d", [] { return std::make_unique<MaxPool2d>(2); }, images);
  add(
      "MaxPool2d strided",
      [] {
        return std::make_unique<MaxPool2d>(Size2{3, 2}, Size2{2, 1}, Size2{1, 1});
      },
      images);
  add(
      "AvgPool2d", [] { return std::make_unique<AvgPool2d>(3, 2, 1); }, images);
  add(
      "AdaptiveAvgPool2d",
      [] {
        return std::make_unique<AdaptiveAvgPool2d>(Size2{2, 3});
      },
      images);
  add(
      "BatchNorm2d", [] { return std::make_unique<BatchNorm2d>(3, 0.05f, 1e-4f); }, images);
  add(
      "LayerNorm",
      [] {
        return std::make_unique<LayerNorm>(Shape{8, 8}, 1e-6f, true);
      },
      images);
  add(
      "LayerNorm plain", [] { return std::make_unique<LayerNorm>(Shape{5}, 1e-5f, false); }, seq);
  add(
      "Embedding", [=] { return std::make_unique<Embedding>(10, 4, *rng, 2); }, indices);
  add(
      "Embedding no padding", [=] { return std::make_unique<Embedding>(10, 4, *rng); }, indices);
  add(
      "RNN",
      [=] {
        return std::make_unique<RNN>(5, 4, *rng,
                                     RecurrentOptions{2, true, true, RnnNonlinearity::relu});
      },
      seq);
  add(
      "LSTM",
      [=] {
        return std::make_unique<LSTM>(5, 4, *rng, RecurrentOptions{1, false});
      },
      seq);
  add(
      "GRU",
      [=] {
        return std::make_unique<GRU>(5, 4, *rng, RecurrentOptions{2, true, true});
      },
      seq);
  add(
      "LastTimeStep", [] { return std::make_unique<LastTimeStep>(); }, seq);
  add(
      "Sequential",
      [=] {
        auto s = std::make_unique<Sequential>();
        s->add<LSTM>(5, 6, *rng, RecurrentOptions{.batch_first = true});
        s->add<LastTimeStep>();
        auto inner = std::make_unique<Sequential>();
        inner->add<Dense>(6, 4, *rng);
        inner->add<BatchNorm1d>(4);
        inner->add<Dropout>(0.5f, 3);
        s->add(std::move(inner));
        s->add<ELU>();
        s->add<Dense>(4, 2, *rng);
        return s;
      },
      seq);
  return c;
}

// ---- specs ----

TEST(ModelSpec, EveryLayerRoundTripsThroughItsSpec) {
  for (const LayerCase& c : every_layer()) {
    SCOPED_TRACE(c.name);
    std::unique_ptr<Module> original = c.make();
    randomize(*original, 100);
    const ModuleSpec spec = original->spec();
    std::unique_ptr<Module> rebuilt = make_module(spec);
    EXPECT_EQ(rebuilt->spec(), spec);
    EXPECT_EQ(rebuilt->describe(), original->describe());
    EXPECT_EQ(state_shapes(*rebuilt), state_shapes(*original));
    // spec_state knows the same tensors without building anything.
    const SpecState expected = spec_state(spec);
    EXPECT_EQ(sorted(expected.tensors), state_shapes(*original));
    std::size_t elements = 0;
    for (const auto& [name, t] : model_state(*original).tensors) elements += t.size();
    EXPECT_EQ(expected.elements, elements);
    EXPECT_EQ(4 * expected.rngs.size(), model_state(*original).integers.size());

    load_model_state(*rebuilt, model_state(*original));
    const Tensor a = forward_eval(*original, c.input), b = forward_eval(*rebuilt, c.input);
    ASSERT_EQ(shape_of(a), shape_of(b));
    for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a.data()[i], b.data()[i]) << i;
    // The JSON a model file stores gives the same spec back.
    EXPECT_EQ(spec_from_json(spec_to_json(spec), "test"), spec);
  }
}

TEST(ModelSpec, OptionsUseTheDocumentedVocabulary) {
  Rng rng(1);
  const ModuleSpec conv =
      Conv2d(2, 4, Size2{3, 2}, rng, Conv2dOptions{{2, 1}, {1, 0}, {1, 2}, 2, false}).spec();
  const std::vector<std::pair<std::string, std::string>> want = {
      {"in_channels", "2"}, {"out_channels", "4"}, {"kernel_size", "3,2"}, {"stride", "2,1"},
      {"padding", "1,0"},   {"dilation", "1,2"},   {"groups", "2"},        {"bias", "0"}};
  EXPECT_EQ(conv.type, "Conv2d");
  EXPECT_EQ(conv.options, want);
  // Floats in their shortest round-trip form; the pool's default stride is the kernel.
  EXPECT_EQ(BatchNorm1d(3, 0.1f, 1e-5f).spec().text("momentum"), "0.1");
  EXPECT_EQ(BatchNorm1d(3, 0.1f, 1e-5f).spec().text("eps"), "1e-05");
  EXPECT_EQ(MaxPool2d(2).spec().text("stride"), "2,2");
  EXPECT_EQ(LeakyReLU().spec().text("negative_slope"), "0.01");
  EXPECT_EQ(RNN(3, 4, rng).spec().text("nonlinearity"), "tanh");
  EXPECT_EQ(error_of([&] { LSTM(3, 4, rng).spec().text("nonlinearity"); }),
            "LSTM: option 'nonlinearity' is missing");
}

TEST(ModelSpec, BadSpecsAreRefusedNamingTheLayerTheOptionAndThePath) {
  Rng rng(1);
  Sequential net;
  net.add<Dense>(4, 3, rng);
  net.add<ReLU>();
  ModuleSpec spec = net.spec();
  spec.children.push_back(Conv2d(1, 2, 3, rng).spec());

  ModuleSpec bad = spec;
  bad.children[2].options[3].second = "x";  // stride
  expect_error([&] { make_module(bad); },
               {"children[2] (Conv2d): option 'stride' is not a list of integers: 'x'"});
  bad = spec;
  bad.children[2].options[3].second = "0,1";
  expect_error([&] { make_module(bad); }, {"children[2] (Conv2d): option 'stride' holds 0"});
  bad = spec;
  bad.children[2].options.erase(bad.children[2].options.begin() + 6);  // groups
  expect_error([&] { spec_state(bad); }, {"children[2] (Conv2d): option 'groups' is missing"});
  bad = spec;
  bad.children[0].options.emplace_back("colour", "red");
  expect_error([&] { make_module(bad); },
               {"children[0] (Dense): option 'colour' is not an option of Dense"});
  bad = spec;
  bad.children[1].type = "Swish";
  expect_error([&] { make_module(bad); }, {"children[1] (Swish): unknown module type 'Swish'"});
  bad = spec;
  bad.children[0].options[3].second = "he";
  expect_error([&] { make_module(bad); }, {"children[0] (Dense): option 'init' is 'he'"});
  bad = spec;
  bad.children[1].children.push_back(ReLU().spec());
  expect_error([&] { make_module(bad); }, {"children[1] (ReLU): has 1 children"});
  bad = spec;
  bad.children[2].options[6].second = "2";  // groups 2 does not divide 1 input channel
  expect_error([&] { make_module(bad); }, {"children[2] (Conv2d): option 'groups' is 2"});
  bad = spec;
  bad.children.push_back({"Sequential", {}, {Dropout(0.5f).spec()}});
  bad.children[3].children[0].options[0].second = "1";
  expect_error([&] { make_module(bad); },
               {"children[3].children[0] (Dropout): option 'p' is 1, not in [0, 1)"});
  expect_error([&] { make_module({"Dense", {}, {}}); }, {"root (Dense): option"});
}

TEST(ModelSpec, HostileSizesAreRefusedBeforeAnythingIsAllocated) {
  Rng rng(1);
  ModuleSpec dense = Dense(4, 3, rng).spec();
  dense.options[0].second = "16777216";  // 2^24 x 2^24 floats: a petabyte
  dense.options[1].second = "16777216";
  expect_error([&] { make_module(dense); }, {"root (Dense)", "cap"});
  dense.options[0].second = "99999999999";
  expect_error([&] { make_module(dense); }, {"option 'in_features' is 99999999999"});
  // Many layers that are each under the cap but not together.
  ModuleSpec many{"Sequential", {}, {}};
  dense.options[0].second = dense.options[1].second = "8000";
  for (int i = 0; i < 4; ++i) many.children.push_back(dense);
  expect_error([&] { spec_state(many); }, {"children[2] (Dense)", "cap"});
  ModuleSpec lstm = LSTM(3, 4, rng).spec();
  lstm.options[1].second = "16777216";
  expect_error([&] { make_module(lstm); }, {"root (LSTM)", "cap"});
  // Nesting deeper than the cap.
  ModuleSpec deep{"Sequential", {}, {}};
  for (std::size_t i = 0; i < kSpecMaxDepth + 1; ++i) deep = ModuleSpec{"Sequential", {}, {deep}};
  expect_error([&] { make_module(deep); }, {"nested more than"});
}

TEST(ModelSpec, JsonKeepsAnyTextAndRefusesBrokenJson) {
  ModuleSpec s{"Sequential", {}, {{"Dense", {{"in\"features", "a\\b\n\x01 \xc3\xa9"}}, {}}}};
  EXPECT_EQ(spec_from_json(spec_to_json(s), "t"), s);
  EXPECT_EQ(spec_from_json(R"({"type": "X", "options": {"k": "\u00e9\ud83d\ude00"}})", "t")
                .options[0]
                .second,
            "\xc3\xa9\xf0\x9f\x98\x80");
  expect_error([] { spec_from_json("{\"type\": \"X\", \"options\": {}}x", "ctx"); },
               {"ctx: byte 28: unexpected text"});
  expect_error([] { spec_from_json(R"({"type": "X"})", "ctx"); },
               {"ctx: byte 0: key \"options\" is missing"});
  expect_error([] { spec_from_json(R"({"type": 3, "options": {}})", "ctx"); },
               {"ctx: byte 9: \"type\" must be a string, not an integer"});
  expect_error([] { spec_from_json(R"({"type": "X", "type": "Y", "options": {}})", "ctx"); },
               {"ctx: byte 14: key \"type\" is given twice"});
  expect_error([] { spec_from_json(R"({"type": "X", "options": {"a": "b)", "ctx"); },
               {"ctx: byte 31: string without its closing quote"});
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "[";
  expect_error([&] { spec_from_json(deep, "ctx"); }, {"nested deeper than"});
}

// ---- model files ----

std::unique_ptr<Sequential> small_classifier(std::uint64_t seed) {
  Rng rng(seed);
  auto net = std::make_unique<Sequential>();
  net->add<Unflatten>(1, Shape{1, 4, 4});
  net->add<Conv2d>(1, 2, 3, rng, Conv2dOptions{.padding = 1});
  net->add<BatchNorm2d>(2);
  net->add<ReLU>();
  net->add<Flatten>();
  net->add<Dropout>(0.25f, 9);
  net->add<Dense>(32, 3, rng);
  randomize(*net, seed + 10);
  return net;
}

ModelInfo classifier_info() {
  ModelInfo info;
  info.preprocessing.input_shape = {16};
  info.preprocessing.divisor = 255.0f;
  info.preprocessing.mean = {0.1307f};
  info.preprocessing.stddev = {0.3081f};
  info.task = "classification";
  info.num_classes = 3;
  info.class_names = {"cat", "\"dog\"", "\xc3\xa9l\xc3\xa8ve"};
  return info;
}

Tensor raw_pixels(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  Tensor t = zeros(Shape{n, 16});
  for (float& v : t) v = static_cast<float>(rng.below(256));
  return t;
}

// Softmax of each row, in double, written here rather than taken from the code under test.
Tensor softmax_rows(const Tensor& y) {
  Tensor p = y;
  const std::size_t c = cols(y);
  for (std::size_t r = 0; r < rows(y); ++r) {
    double top = -1e300, sum = 0.0;
    for (std::size_t j = 0; j < c; ++j) top = std::max(top, static_cast<double>(y(r, j)));
    for (std::size_t j = 0; j < c; ++j) sum += std::exp(y(r, j) - top);
    for (std::size_t j = 0; j < c; ++j) p(r, j) = static_cast<float>(std::exp(y(r, j) - top) / sum);
  }
  return p;
}

TEST(ModelFile, SaveAndLoadGiveTheSameModelInfoAndPredictions) {
  TempDir dir;
  auto net = small_classifier(1);
  net->train();
  const ModelInfo info = classifier_info();
  save_model(dir / "m.tgm", *net, info);
  LoadedModel loaded = load_model(dir / "m.tgm");
  EXPECT_EQ(loaded.module->spec(), net->spec());
  EXPECT_FALSE(loaded.module->training());
  EXPECT_EQ(loaded.info.task, "classification");
  EXPECT_EQ(loaded.info.num_classes, 3u);
  EXPECT_EQ(loaded.info.class_names, info.class_names);
  EXPECT_EQ(loaded.info.input_shape(), Shape{16});
  EXPECT_EQ(loaded.info.preprocessing.divisor, 255.0f);
  EXPECT_EQ(loaded.info.preprocessing.mean, info.preprocessing.mean);
  EXPECT_EQ(loaded.info.preprocessing.stddev, info.preprocessing.stddev);
  const StateDict a = model_state(*net), b = model_state(*loaded.module);
  EXPECT_EQ(a.integers, b.integers);  // the dropout RNG's state too
  for (const auto& [name, t] : a.tensors) EXPECT_EQ(t, b.tensors.at(name)) << name;

  // Raw input -> preprocessing -> model -> softmax, against the same steps done by hand.
  const Tensor raw = raw_pixels(7, 5);
  Tensor x = raw;
  for (float& v : x) v = (v / 255.0f - 0.1307f) / 0.3081f;
  const Tensor want = softmax_rows(forward_eval(*net, x));
  const Tensor got = predict(loaded, raw, 3);
  ASSERT_EQ(shape_of(got), (Shape{7, 3}));
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got.data()[i], want.data()[i], 1e-6);
}

TEST(ModelFile, RegressionModelsGiveTheirOutputs) {
  TempDir dir;
  Rng rng(3);
  Sequential net;
  net.add<Dense>(3, 8, rng);
  net.add<Tanh>();
  net.add<Dense>(8, 2, rng);
  ModelInfo info;
  info.task = "regression";
  info.target_names = {"price", "volume"};
  info.preprocessing.input_shape = {3};
  info.preprocessing.mean = {1.0f, 2.0f, 3.0f};
  info.preprocessing.stddev = {0.5f, 2.0f, 4.0f};
  save_model(dir / "r.tgm", net, info);
  LoadedModel loaded = load_model(dir / "r.tgm");
  EXPECT_EQ(loaded.info.target_names, info.target_names);
  const Tensor raw = random_nd({5, 3}, 8, -5.0f, 5.0f);
  Tensor x = raw;
  for (std::size_t r = 0; r < 5; ++r)
    for (std::size_t j = 0; j < 3; ++j)
      x(r, j) = (raw(r, j) - info.preprocessing.mean[j]) / info.preprocessing.stddev[j];
  const Tensor want = forward_eval(net, x), got = predict(loaded, raw);
  ASSERT_EQ(shape_of(got), (Shape{5, 2}));
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got.data()[i], want.data()[i], 1e-6);
}

TEST(ModelFile, SaveRefusesInfoThatDoesNotFitTheModelBeforeWriting) {
  TempDir dir;
  auto net = small_classifier(1);
  ModelInfo info = classifier_info();
  info.num_classes = 4;
  info.class_names.clear();
  expect_error([&] { save_model(dir / "m.tgm", *net, info); },
               {dir / "m.tgm", "the model has 3 outputs but num_classes is 4"});
  info = classifier_info();
  info.preprocessing.input_shape = {15};
  expect_error([&] { save_model(dir / "m.tgm", *net, info); }, {"does not take input_shape 15:"});
  info = classifier_info();
  info.task = "ranking";
  expect_error([&] { save_model(dir / "m.tgm", *net, info); }, {"task 'ranking'"});
  info = classifier_info();
  info.class_names.pop_back();
  expect_error([&] { save_model(dir / "m.tgm", *net, info); }, {"2 class names for 3 classes"});
  struct Custom : Module {
    Var forward(Var x) override { return x; }
    std::string describe() const override { return "Custom"; }
  } custom;
  expect_error([&] { save_model(dir / "m.tgm", custom, classifier_info()); },
               {"Custom cannot be saved as a model file"});
  EXPECT_TRUE(dir.files().empty());
}

// The model file's entries with one changed, as bytes for model_from_state.
StateDict saved_state() {
  auto net = small_classifier(1);
  return model_file_state(*net, classifier_info());
}

TEST(ModelFile, EveryDefectNamesTheFileAndTheEntry) {
  const auto refused = [](const StateDict& s, std::initializer_list<std::string> parts) {
    expect_error([&] { model_from_state(s, "m.tgm"); }, parts);
  };
  StateDict s = saved_state();
  EXPECT_NO_THROW(model_from_state(s, "m.tgm"));

  s = saved_state();
  s.integers["model_file.version"] = 2;
  refused(s, {"m.tgm: entry 'model_file.version': version 2"});
  s = saved_state();
  s.texts["notes"] = "hi";
  refused(s, {"m.tgm: entry 'notes': not an entry of a model file"});
  s = saved_state();
  s.tensors["weights.6.weight"] = zeros(Shape{32, 4});
  refused(s, {"m.tgm: entry 'weights.6.weight': 32x4, but the spec's model has it of 32x3"});
  s = saved_state();
  s.tensors.erase("weights.2.running_var");
  refused(s, {"m.tgm: entry 'weights.2.running_var': missing"});
  s = saved_state();
  s.tensors["weights.7.weight"] = zeros(Shape{2});
  refused(s, {"m.tgm: entry 'weights.7.weight'", "does not have"});
  s = saved_state();
  s.tensors["weights.1.bias"](1) = std::nanf("");
  refused(s, {"m.tgm: entry 'weights.1.bias': element 1 is nan"});
  s = saved_state();
  s.integers.erase("weights.5.rng.2");
  refused(s, {"m.tgm", "weights.5.rng.2"});
  s = saved_state();
  s.texts["model_file.spec"].insert(9, "}");
  refused(s, {"m.tgm: entry 'model_file.spec': byte 9: expected a string"});
  s = saved_state();
  const std::string spec = s.texts["model_file.spec"];
  s.texts["model_file.spec"] = spec.substr(0, spec.find("\"2\"")) + "\"7\"" +
                               spec.substr(spec.find("\"2\"") + 3);  // Conv2d out_channels
  refused(s, {"m.tgm: entry 'weights.1.weight': 2x1x3x3, but the spec's model has it of 7x1x3x3"});
  s = saved_state();
  s.texts["model_file.spec"] =
      "{\"type\": \"Dense\", \"options\": {\"in_features\": \"16777216\", "
      "\"out_features\": \"4096\", \"bias\": \"1\", \"init\": \"zeros\"}}";
  refused(s, {"m.tgm: entry 'model_file.spec': root (Dense)", "cap"});
  s = saved_state();
  s.texts["model_file.info"] = "{\"task\": \"classification\"}";
  refused(s, {"m.tgm: entry 'model_file.info': byte 0: key \"num_classes\" is missing"});
  s = saved_state();
  s.tensors["model_file.preprocessing.stddev"] = zeros(Shape{1});
  refused(s, {"m.tgm: entry 'model_file.info'", "stddev"});
  s = saved_state();
  const std::string info = s.texts["model_file.info"];
  s.texts["model_file.info"].replace(info.find("[16]"), 4, "[2, 8]");
  refused(s, {"m.tgm: entry 'model_file.info': the model does not take input_shape 2x8"});
}

TEST(ModelFile, TrainingCheckpointsAndOtherFilesAreNamedForWhatTheyAre) {
  TempDir dir;
  auto net = small_classifier(1);
  StateDict training;
  training.merge(model_state(*net), "model.");
  training.integers["progress.epochs_done"] = 1;
  save_checkpoint(dir / "run.tg", training);
  expect_error([&] { load_model(dir / "run.tg"); },
               {dir / "run.tg", "a training checkpoint", "not a model file"});
  StateDict other;
  other.reals["x"] = 1.0;
  save_checkpoint(dir / "other.tg", other);
  expect_error([&] { load_model(dir / "other.tg"); }, {dir / "other.tg", ": not a model file"});
  test::write_file(dir / "text.tgm", {'h', 'e', 'l', 'l', 'o'});
  expect_error([&] { load_model(dir / "text.tgm"); }, {dir / "text.tgm"});
}

TEST(ModelFile, MutatedSpecsAndInfosOnlyEverThrowErrors) {
  // Truncations and byte changes of the JSON texts: each loads or throws a tg::Error.
  const StateDict good = saved_state();
  std::size_t refused = 0, tries = 0;
  Rng rng(11);
  for (const char* entry : {"model_file.spec", "model_file.info"}) {
    const std::string text = good.texts.at(entry);
    for (std::size_t cut = 0; cut < text.size(); ++cut) {
      StateDict s = good;
      s.texts[entry] = text.substr(0, cut);
      refused += error_of([&] { model_from_state(s, "f"); }) != "(no error)";
      ++tries;
    }
    const char bytes[] = "{}[]\",:0123456789-x\\ \x01\xff";
    for (int i = 0; i < 400; ++i) {
      StateDict s = good;
      s.texts[entry][rng.below(text.size())] = bytes[rng.below(sizeof bytes - 1)];
      const std::string e = error_of([&] { model_from_state(s, "f"); });
      if (e != "(no error)") {
        EXPECT_EQ(e.rfind("f: ", 0), 0u) << e;
        EXPECT_EQ(e.find('\n'), std::string::npos) << e;
        ++refused;
      }
      ++tries;
    }
  }
  EXPECT_GT(refused, tries / 2);  // most mutations break something, and all of them cleanly
}

// ---- predict ----

TEST(Predict, BatchedPredictEqualsOneForwardAndRestoresTheMode) {
  auto net = small_classifier(2);
  net->train();
  Tensor x = random_nd({10, 16}, 3);
  const Tensor got = predict(*net, x, 3);
  EXPECT_TRUE(net->training());
  const Tensor want = forward_eval(*net, x);
  ASSERT_EQ(shape_of(got), shape_of(want));
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got.data()[i], want.data()[i], 1e-5);
  // The parameters got no gradient: nothing was recorded for a backward.
  for (Parameter* p : net->parameters())
    for (float g : p->grad) EXPECT_EQ(g, 0.0f);
  EXPECT_EQ(shape_of(predict(*net, zeros(Shape{0, 16}))), (Shape{0, 3}));
  expect_error([&] { predict(*net, x, 0); }, {"batch_size"});
  expect_error([&] { predict(*net, scalar(1.0f)); }, {"no batch dimension"});
  net->eval();
  EXPECT_THROW(predict(*net, random_nd({4, 15}, 1)), Error);
  EXPECT_FALSE(net->training());
}

TEST(Predict, ALoadedModelTakesFlatOrShapedRawInputAndRefusesOthers) {
  auto net = small_classifier(4);
  LoadedModel m = model_from_state(model_file_state(*net, classifier_info()), "m");
  const Tensor raw = raw_pixels(4, 2);
  const Tensor p = predict(m, raw);
  for (std::size_t r = 0; r < 4; ++r) {
    double sum = 0.0;
    for (std::size_t j = 0; j < 3; ++j) sum += p(r, j);
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
  expect_error([&] { predict(m, zeros(Shape{4, 15})); }, {"predict: input is 4x15, not N x 16"});
}

// ---- tapegrad-predict ----

struct ProgramRun {
  int status = -1;
  std::string output;
};

ProgramRun run_predict(const std::string& args) {
  ProgramRun r;
  const std::string cmd = std::string(TAPEGRAD_BINARY_DIR) + "/tapegrad-predict " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) r.output += buffer;
  r.status = pclose(pipe);
  return r;
}

bool have_program() {
  return std::filesystem::exists(std::string(TAPEGRAD_BINARY_DIR) + "/tapegrad-predict");
}

TEST(PredictProgram, PrintsTheClassOfEachImageAsPredictDoes) {
  if (!have_program()) GTEST_SKIP() << "tapegrad-predict is not built";
  TempDir dir;
  auto net = small_classifier(6);
  save_model(dir / "m.tgm", *net, classifier_info());
  LoadedModel m = load_model(dir / "m.tgm");
  const Tensor raw = raw_pixels(3, 9);
  std::string args = dir / "m.tgm";
  for (std::size_t i = 0; i < 3; ++i) {
    std::vector<unsigned char> pixels(16);
    for (std::size_t j = 0; j < 16; ++j) pixels[j] = static_cast<unsigned char>(raw(i, j));
    const std::string path = dir / ("digit" + std::to_string(i) + ".png");
    ASSERT_TRUE(stbi_write_png(path.c_str(), 4, 4, 1, pixels.data(), 4));
    args += " " + path;
  }
  const ProgramRun r = run_predict(args);
  ASSERT_EQ(r.status, 0) << r.output;
  const Tensor p = predict(m, raw);
  std::istringstream lines(r.output);
  std::string line;
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(std::getline(lines, line));
    std::size_t best = 0;
    for (std::size_t j = 1; j < 3; ++j)
      if (p(i, j) > p(i, best)) best = j;
    char expected[256];
    std::snprintf(expected, sizeof expected, "%s: class %s (%.4f)  p=[%.4f %.4f %.4f]",
                  (dir / ("digit" + std::to_string(i) + ".png")).c_str(),
                  classifier_info().class_names[best].c_str(), p(i, best), p(i, 0), p(i, 1),
                  p(i, 2));
    EXPECT_EQ(line, expected);
  }

  // An image of another size, a file that is not an image, a training checkpoint: one line.
  std::vector<unsigned char> big(25, 0);
  ASSERT_TRUE(stbi_write_png((dir / "big.png").c_str(), 5, 5, 1, big.data(), 5));
  ProgramRun bad = run_predict(dir / "m.tgm" + " " + dir / "big.png");
  EXPECT_NE(bad.status, 0);
  EXPECT_EQ(bad.output, "tapegrad-predict: " + dir / "big.png" +
                            ": the image is 5 x 5 pixels (width x height) but the model takes "
                            "4 x 4\n");
  test::write_file(dir / "fake.png", {'n', 'o'});
  bad = run_predict(dir / "m.tgm" + " " + dir / "fake.png");
  EXPECT_NE(bad.status, 0);
  EXPECT_EQ(bad.output.rfind("tapegrad-predict: " + dir / "fake.png" + ": not a PNG", 0), 0u)
      << bad.output;
}

TEST(PredictProgram, PrintsOneLinePerCsvRow) {
  if (!have_program()) GTEST_SKIP() << "tapegrad-predict is not built";
  TempDir dir;
  Rng rng(3);
  Sequential net;
  net.add<Dense>(3, 1, rng);
  ModelInfo info;
  info.task = "regression";
  info.preprocessing.input_shape = {3};
  save_model(dir / "r.tgm", net, info);
  {
    std::ofstream csv(dir / "rows.csv");
    csv << "a,b,c\n1,2,3\n-1,0.5,4\n";
  }
  const ProgramRun r = run_predict(dir / "r.tgm" + " " + dir / "rows.csv");
  ASSERT_EQ(r.status, 0) << r.output;
  const Tensor y = forward_eval(net, tensor({{1, 2, 3}, {-1, 0.5f, 4}}));
  char expected[512];
  std::snprintf(expected, sizeof expected, "%s[row 1]: %.7g\n%s[row 2]: %.7g\n",
                (dir / "rows.csv").c_str(), y(0, 0), (dir / "rows.csv").c_str(), y(1, 0));
  EXPECT_EQ(r.output, expected);
  {
    std::ofstream csv(dir / "wide.csv");
    csv << "1,2,3,4\n";
  }
  const ProgramRun bad = run_predict(dir / "r.tgm" + " " + dir / "wide.csv");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("the rows have 4 columns but the model takes 3"), std::string::npos)
      << bad.output;
}

}  // namespace
}  // namespace tg
