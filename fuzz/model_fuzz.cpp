// libFuzzer target for model files: bytes -> tg::checkpoint_from_bytes -> tg::model_from_state,
// and a model that loads is run by tg::predict on 1 or 2 samples of its input shape.
//
// A tg::Error with a one-line message naming the file is the expected answer to a bad file;
// anything else (another exception, a crash, an ASan/UBSan report or leak, a huge allocation
// caught by -malloc_limit_mb, a timeout) is a finding. As in checkpoint_fuzz, every input is
// also tried with its last 4 bytes replaced by the right CRC-32, so that mutations reach the
// model loader instead of stopping at the checksum.
//
// Each checkpoint is also loaded a second time with its tensors replaced by ones that fit its
// spec, so that spec and info mutations reach make_module and predict.
//
// A model that loads must be usable and consistent: in evaluation mode; its output for the
// info's input shape one row of num_classes (or the model's width for regression); saving it
// again (tg::model_file_state) and loading that gives the same spec, info and weights bit for
// bit; and predict gives N x outputs. The loader bounds every layer's output for one sample
// (kSpecMaxElements); predict runs here only on models far below that bound (kMaxActivation),
// so that each input stays fast and under -malloc_limit_mb.
#include "tapegrad/tapegrad.hpp"

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "model_fuzz: %s\n", what);
  std::abort();
}

// Predict runs only when one sample's input is at most this many elements, every layer's
// output at most kMaxActivation elements and all of them together at most kMaxWork, so that
// the target stays fast and far below -malloc_limit_mb.
constexpr std::size_t kMaxInput = std::size_t{1} << 16;
constexpr std::size_t kMaxActivation = std::size_t{1} << 20;
constexpr std::size_t kMaxWork = std::size_t{1} << 23;

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

void check_message(const tg::Error& e, const char* name) {
  const std::string msg = e.what();
  const bool one_line = msg.find('\n') == std::string::npos;
  if (!one_line || !starts_with(msg, std::string(name) + ": ")) {
    std::fprintf(stderr, "model_fuzz: the message: %s\n", msg.c_str());
    finding(one_line ? "an error message does not name the file"
                     : "an error message spans several lines");
  }
}

bool same_bits(const tg::Tensor& a, const tg::Tensor& b) {
  return a.shape() == b.shape() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

bool same_state(const tg::StateDict& a, const tg::StateDict& b) {
  if (a.tensors.size() != b.tensors.size() || a.integers != b.integers) return false;
  for (const auto& [name, t] : a.tensors) {
    auto it = b.tensors.find(name);
    if (it == b.tensors.end() || !same_bits(t, it->second)) return false;
  }
  return true;
}

bool same_info(const tg::ModelInfo& a, const tg::ModelInfo& b) {
  const tg::Preprocessing &p = a.preprocessing, &q = b.preprocessing;
  return a.task == b.task && a.num_classes == b.num_classes && a.class_names == b.class_names &&
         a.target_names == b.target_names && p.input_shape == q.input_shape &&
         std::memcmp(&p.divisor, &q.divisor, sizeof p.divisor) == 0 && p.mean == q.mean &&
         p.stddev == q.stddev;
}

bool has_type(const tg::ModuleSpec& spec, const char* type) {
  if (spec.type == type) return true;
  for (const tg::ModuleSpec& c : spec.children)
    if (has_type(c, type)) return true;
  return false;
}

// Walks the layers (into nested Sequentials) from one sample's shape, adding each output's
// size to `work`; false when a shape has too many elements to run here.
bool small_enough(tg::Module& m, tg::Shape& shape, std::size_t& work) {
  if (auto* seq = dynamic_cast<tg::Sequential*>(&m)) {
    for (std::size_t i = 0; i < seq->size(); ++i)
      if (!small_enough((*seq)[i], shape, work)) return false;
    return true;
  }
  // The loader has already asked every layer for its output shape; a tg::Error here (a size
  // that overflows) would mean it accepted a model whose shapes do not add up.
  try {
    shape = m.output_shape(shape);
    const std::size_t n = tg::element_count(shape);
    work += n;
    return n <= kMaxActivation && work <= kMaxWork;
  } catch (const tg::Error&) {
    finding("a loaded model's layer shapes overflow for its own input_shape");
  }
}

void run_predict(tg::LoadedModel& model, std::size_t width, std::size_t samples,
                 std::size_t batch_size) {
  const tg::ModelInfo& info = model.info;
  const tg::Shape& in = info.input_shape();
  tg::Shape shape = in;
  std::size_t work = tg::element_count(in);
  if (work > kMaxInput || !small_enough(*model.module, shape, work)) return;

  // Raw values that the preprocessing turns into 0 for an embedding (mean 0 gives a valid
  // index), and a spread of values otherwise.
  const bool indices = has_type(model.module->spec(), "Embedding");
  tg::Shape batch = in;
  batch.insert(batch.begin(), samples);
  tg::Tensor raw = tg::zeros(batch);
  if (!indices)
    for (std::size_t i = 0; i < raw.size(); ++i)
      raw.data()[i] = static_cast<float>(std::sin(0.7 * static_cast<double>(i)) * 3.0);
  tg::Tensor y;
  try {
    y = tg::predict(model, raw, batch_size);
  } catch (const tg::Error& e) {
    // An embedding refuses inputs that are no indices (a preprocessing with a nonzero mean);
    // anything else a loaded model must run.
    if (!indices) {
      std::fprintf(stderr, "model_fuzz: the message: %s\n", e.what());
      finding("a loaded model refused an input of its own input_shape");
    }
    if (std::string(e.what()).find('\n') != std::string::npos)
      finding("an error message spans several lines");
    return;
  }
  if (y.dimension() != 2 || y.shape(0) != samples || y.shape(1) != width)
    finding("predict's output is not N x outputs");
}

// Loads `state` as a model file and, if it loads, checks the model (see the top).
void check_model(const tg::StateDict& state) {
  tg::LoadedModel model;
  try {
    model = tg::model_from_state(state, "fuzz.tg");
  } catch (const tg::Error& e) {
    check_message(e, "fuzz.tg");
    return;  // refused cleanly: the expected outcome for almost every input
  }
  if (!model.module) finding("a loaded model has no module");
  if (model.module->training()) finding("a loaded model is in training mode");

  const tg::Shape out = model.module->output_shape(model.info.input_shape());
  if (out.size() != 1) finding("a loaded model's output is not one row per sample");
  const std::size_t width = out[0];
  if (model.info.is_classification() && width != model.info.num_classes)
    finding("a loaded classifier's width is not num_classes");

  // Saving what was loaded must work and load back the same.
  tg::StateDict again;
  try {
    again = tg::model_file_state(*model.module, model.info);
  } catch (const tg::Error& e) {
    std::fprintf(stderr, "model_fuzz: the message: %s\n", e.what());
    finding("a loaded model cannot be saved again");
  }
  tg::LoadedModel back;
  try {
    back = tg::model_from_state(again, "again.tg");
  } catch (const tg::Error& e) {
    std::fprintf(stderr, "model_fuzz: the message: %s\n", e.what());
    finding("a re-saved model does not load");
  }
  if (back.module->spec() != model.module->spec()) finding("a re-saved model has another spec");
  if (!same_info(back.info, model.info)) finding("a re-saved model has another info");
  if (!same_state(tg::model_state(*back.module), tg::model_state(*model.module)))
    finding("a re-saved model has other weights");

  // 1 or 2 samples, 2 of them in one batch or in two.
  const std::size_t h =
      state.texts.count("model_file.spec") ? state.texts.at("model_file.spec").size() : 0;
  run_predict(model, width, 1 + h % 2, 1 + (h / 2) % 2);
}

// The input's spec and info with the weights the spec asks for (small deterministic values)
// and nothing else: a mutated spec then reaches make_module and predict even though the
// stored tensors no longer fit it.
void check_with_fitting_weights(const tg::StateDict& state) {
  const auto spec_text = state.texts.find("model_file.spec");
  const auto info_text = state.texts.find("model_file.info");
  if (spec_text == state.texts.end() || info_text == state.texts.end()) return;
  tg::ModuleSpec spec;
  tg::SpecState needs;
  try {
    spec = tg::spec_from_json(spec_text->second, "fuzz.tg");
  } catch (const tg::Error& e) {
    check_message(e, "fuzz.tg");
    return;
  }
  try {
    needs = tg::spec_state(spec);
  } catch (const tg::Error&) {
    return;  // model_from_state has refused it too, with a checked message
  }
  if (needs.elements > (std::size_t{1} << 16)) return;  // its file would be larger than 4 KiB
  tg::StateDict fitted;
  fitted.integers["model_file.version"] = tg::kModelFileVersion;
  fitted.texts["model_file.spec"] = spec_text->second;
  fitted.texts["model_file.info"] = info_text->second;
  const auto divisor = state.reals.find("model_file.preprocessing.divisor");
  fitted.reals["model_file.preprocessing.divisor"] =
      divisor == state.reals.end() ? 1.0 : divisor->second;
  for (const char* e : {"model_file.preprocessing.mean", "model_file.preprocessing.stddev"}) {
    const auto t = state.tensors.find(e);
    fitted.tensors[e] = t != state.tensors.end() ? t->second : tg::ones({1});
  }
  std::size_t k = 0;
  for (const auto& [name, shape] : needs.tensors) {
    tg::Tensor t = tg::zeros(shape);
    const bool variance =
        name.size() >= 11 && name.compare(name.size() - 11, 11, "running_var") == 0;
    for (std::size_t i = 0; i < t.size(); ++i, ++k)
      t.data()[i] = static_cast<float>(0.3 * std::sin(0.37 * static_cast<double>(k))) +
                    (variance ? 1.0f : 0.0f);
    fitted.tensors["weights." + name] = std::move(t);
  }
  for (const std::string& rng : needs.rngs)
    for (int i = 0; i < 4; ++i)
      fitted.integers["weights." + rng + "." + std::to_string(i)] = 0x5DEECE66D + i;
  check_model(fitted);
}

void load(const std::uint8_t* data, std::size_t size) {
  tg::StateDict state;
  try {
    state = tg::checkpoint_from_bytes(data, size, "fuzz.tg");
  } catch (const tg::Error&) {
    return;  // not a checkpoint: checkpoint_fuzz's ground
  }
  check_model(state);
  check_with_fitting_weights(state);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  load(data, size);
  if (size >= 8 + 4 + 4 + 8 + 4) {
    std::vector<std::uint8_t> fixed(data, data + size);
    const std::size_t body = size - 4;
    const auto crc = static_cast<std::uint32_t>(crc32(0L, fixed.data(), static_cast<uInt>(body)));
    for (int i = 0; i < 4; ++i) fixed[body + i] = static_cast<std::uint8_t>(crc >> (8 * i));
    if (std::memcmp(fixed.data() + body, data + body, 4) != 0) load(fixed.data(), fixed.size());
  }
  return 0;
}
