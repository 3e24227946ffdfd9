// Model files (see tapegrad/io/model_file.hpp). The spec and the info are JSON written and read
// here by hand: the library does not link a JSON library, and these texts need only strings,
// integers, arrays and objects.
#include "tapegrad/io/model_file.hpp"

#include "tapegrad/io/checkpoint.hpp"
#include "tapegrad/nn/predict.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

namespace tg {

namespace {

const std::string kVersionEntry = "model_file.version";
const std::string kSpecEntry = "model_file.spec";
const std::string kInfoEntry = "model_file.info";
const std::string kDivisorEntry = "model_file.preprocessing.divisor";
const std::string kMeanEntry = "model_file.preprocessing.mean";
const std::string kStddevEntry = "model_file.preprocessing.stddev";
const std::string kWeightsPrefix = "weights.";

constexpr std::size_t kMaxJsonDepth = 2 * kSpecMaxDepth + 8;  // a spec nests two levels a child
constexpr std::size_t kMaxNames = std::size_t{1} << 20;       // class or target names
constexpr std::size_t kMaxRank = 8;

// ---- JSON: strings, integers, arrays and objects ----

struct Json {
  enum Kind { string, integer, array, object } kind = string;
  std::string text;
  std::int64_t number = 0;
  std::vector<std::string> keys;  // object: keys[i] names items[i]
  std::vector<Json> items;        // array elements or object values
  std::size_t offset = 0;         // where the value starts in the text, for messages
};

void write_string(std::string& out, const std::string& s) {
  out += '"';
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
      out += esc;
    } else {
      out += c;
    }
  }
  out += '"';
}

void write_strings(std::string& out, const std::vector<std::string>& list) {
  out += '[';
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i) out += ", ";
    write_string(out, list[i]);
  }
  out += ']';
}

class JsonReader {
 public:
  JsonReader(const std::string& text, std::string context)
      : s_(text), context_(std::move(context)) {}

  Json document() {
    Json v = value(0);
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after the JSON value");
    return v;
  }

  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(std::size_t at, const std::string& what) const {
    throw Error(context_ + ": byte " + std::to_string(at) + ": " + what);
  }

 private:
  void skip_space() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (pos_ >= s_.size() || s_[pos_] != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  Json value(std::size_t depth) {
    if (depth > kMaxJsonDepth)
      fail("nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    skip_space();
    if (pos_ >= s_.size()) fail("unexpected end of the text");
    Json v;
    v.offset = pos_;
    const char c = s_[pos_];
    if (c == '"') {
      v.kind = Json::string;
      v.text = string();
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = Json::integer;
      v.number = integer();
    } else if (c == '[') {
      v.kind = Json::array;
      ++pos_;
      skip_space();
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return v;
      }
      for (;;) {
        v.items.push_back(value(depth + 1));
        skip_space();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        expect(']');
        return v;
      }
    } else if (c == '{') {
      v.kind = Json::object;
      ++pos_;
      skip_space();
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return v;
      }
      for (;;) {
        skip_space();
        if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a key in quotes");
        const std::size_t key_at = pos_;
        std::string key = string();
        if (std::find(v.keys.begin(), v.keys.end(), key) != v.keys.end())
          fail_at(key_at, "key \"" + key + "\" is given twice");
        expect(':');
        v.keys.push_back(std::move(key));
        v.items.push_back(value(depth + 1));
        skip_space();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        expect('}');
        return v;
      }
    } else {
      fail(std::string("expected a string, an integer, '[' or '{', not '") + c + "'");
    }
    return v;
  }

  std::int64_t integer() {
    const std::size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    const std::size_t digits = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    if (pos_ == digits) fail("expected digits");
    if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E'))
      fail_at(start, "numbers here are integers");
    if (pos_ - digits > 18) fail_at(start, "integer too long");
    return std::stoll(s_.substr(start, pos_ - start));
  }

  unsigned hex4() {
    if (s_.size() - pos_ < 4) fail("incomplete \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<unsigned>(c - 'A' + 10);
      else
        fail("bad hex digit in a \\u escape");
    }
    return v;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string string() {
    const std::size_t start = pos_;
    ++pos_;  // the opening quote
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail_at(start, "string without its closing quote");
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail_at(pos_ - 1, "control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) fail("string without its closing quote");
      const char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {  // a surrogate pair
            if (s_.compare(pos_, 2, "\\u") != 0) fail("unpaired surrogate in a \\u escape");
            pos_ += 2;
            const unsigned low = hex4();
            if (low < 0xDC00 || low >= 0xE000) fail("unpaired surrogate in a \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("unpaired surrogate in a \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          fail_at(pos_ - 2, std::string("unknown escape '\\") + e + "'");
      }
    }
  }

  const std::string& s_;
  std::string context_;
  std::size_t pos_ = 0;
};

const char* kind_name(Json::Kind k) {
  switch (k) {
    case Json::string:
      return "a string";
    case Json::integer:
      return "an integer";
    case Json::array:
      return "an array";
    case Json::object:
      return "an object";
  }
  return "?";
}

// The members of a JSON object, each of an expected kind; unknown keys are refused.
class JsonObject {
 public:
  JsonObject(const Json& v, const JsonReader& reader, const std::string& what,
             std::initializer_list<const char*> known)
      : v_(v), reader_(reader) {
    if (v.kind != Json::object)
      reader.fail_at(v.offset, what + " must be an object, not " + kind_name(v.kind));
    for (std::size_t i = 0; i < v.keys.size(); ++i) {
      bool ok = false;
      for (const char* k : known) ok = ok || v.keys[i] == k;
      if (!ok)
        reader.fail_at(v.items[i].offset, what + " has an unknown key \"" + v.keys[i] + "\"");
    }
  }
  const Json* find(const char* key) const {
    for (std::size_t i = 0; i < v_.keys.size(); ++i)
      if (v_.keys[i] == key) return &v_.items[i];
    return nullptr;
  }
  const Json& get(const char* key, Json::Kind kind) const {
    const Json* m = find(key);
    if (!m) reader_.fail_at(v_.offset, std::string("key \"") + key + "\" is missing");
    check_kind(*m, key, kind);
    return *m;
  }
  void check_kind(const Json& m, const std::string& what, Json::Kind kind) const {
    if (m.kind != kind)
      reader_.fail_at(m.offset,
                      "\"" + what + "\" must be " + kind_name(kind) + ", not " + kind_name(m.kind));
  }

 private:
  const Json& v_;
  const JsonReader& reader_;
};

void write_spec(std::string& out, const ModuleSpec& spec) {
  out += "{\"type\": ";
  write_string(out, spec.type);
  out += ", \"options\": {";
  for (std::size_t i = 0; i < spec.options.size(); ++i) {
    if (i) out += ", ";
    write_string(out, spec.options[i].first);
    out += ": ";
    write_string(out, spec.options[i].second);
  }
  out += '}';
  if (!spec.children.empty() || spec.type == "Sequential") {
    out += ", \"children\": [";
    for (std::size_t i = 0; i < spec.children.size(); ++i) {
      if (i) out += ", ";
      write_spec(out, spec.children[i]);
    }
    out += ']';
  }
  out += '}';
}

ModuleSpec read_spec(const Json& v, const JsonReader& reader) {
  const JsonObject o(v, reader, "a module", {"type", "options", "children"});
  ModuleSpec spec;
  spec.type = o.get("type", Json::string).text;
  const Json& options = o.get("options", Json::object);
  for (std::size_t i = 0; i < options.keys.size(); ++i) {
    o.check_kind(options.items[i], options.keys[i], Json::string);
    spec.options.emplace_back(options.keys[i], options.items[i].text);
  }
  if (const Json* children = o.find("children")) {
    o.check_kind(*children, "children", Json::array);
    if (children->items.size() > kSpecMaxChildren)
      reader.fail_at(children->offset,
                     "more than " + std::to_string(kSpecMaxChildren) + " children");
    for (const Json& c : children->items) spec.children.push_back(read_spec(c, reader));
  }
  return spec;
}

// ---- the info ----

std::string info_to_json(const ModelInfo& info) {
  std::string out = "{\"task\": ";
  write_string(out, info.task);
  out += ", \"num_classes\": " + std::to_string(info.num_classes) + ", \"class_names\": ";
  write_strings(out, info.class_names);
  out += ", \"target_names\": ";
  write_strings(out, info.target_names);
  out += ", \"input_shape\": [";
  for (std::size_t i = 0; i < info.input_shape().size(); ++i)
    out += (i ? ", " : "") + std::to_string(info.input_shape()[i]);
  return out + "]}";
}

void info_from_json(const std::string& text, const std::string& context, ModelInfo& info) {
  JsonReader reader(text, context);
  const Json v = reader.document();
  const JsonObject o(v, reader, "the info",
                     {"task", "num_classes", "class_names", "target_names", "input_shape"});
  info.task = o.get("task", Json::string).text;
  const Json& classes = o.get("num_classes", Json::integer);
  if (classes.number < 0 || classes.number > static_cast<std::int64_t>(kMaxNames))
    reader.fail_at(classes.offset, "num_classes " + std::to_string(classes.number) +
                                       " is not in [0, " + std::to_string(kMaxNames) + "]");
  info.num_classes = static_cast<std::size_t>(classes.number);
  for (const char* key : {"class_names", "target_names"}) {
    const Json& list = o.get(key, Json::array);
    if (list.items.size() > kMaxNames)
      reader.fail_at(list.offset,
                     std::string(key) + " holds more than " + std::to_string(kMaxNames) + " names");
    auto& names = std::string(key) == "class_names" ? info.class_names : info.target_names;
    names.clear();
    for (const Json& name : list.items) {
      o.check_kind(name, key, Json::string);
      names.push_back(name.text);
    }
  }
  const Json& shape = o.get("input_shape", Json::array);
  if (shape.items.empty() || shape.items.size() > kMaxRank)
    reader.fail_at(shape.offset, "input_shape has " + std::to_string(shape.items.size()) +
                                     " dimensions, not 1 to " + std::to_string(kMaxRank));
  info.preprocessing.input_shape.clear();
  // Each dimension under kSpecMaxSize and their product under kSpecMaxElements, so that the
  // sample size and every layer's shape arithmetic stay far from overflowing (fuzz finding:
  // 2^24 x 2^24 x (2^16 + 1) wrapped to 2^48 and loaded).
  std::size_t elements = 1;
  for (const Json& d : shape.items) {
    o.check_kind(d, "input_shape", Json::integer);
    if (d.number < 1 || d.number > kSpecMaxSize)
      reader.fail_at(d.offset, "input_shape holds " + std::to_string(d.number) + ", not in [1, " +
                                   std::to_string(kSpecMaxSize) + "]");
    elements *= static_cast<std::size_t>(d.number);  // at most 2^24 times at most 2^27
    if (elements > kSpecMaxElements)
      reader.fail_at(shape.offset,
                     "input_shape has more than " + std::to_string(kSpecMaxElements) + " elements");
    info.preprocessing.input_shape.push_back(static_cast<std::size_t>(d.number));
  }
}

// The model's output width for the info's input shape; throws (naming `context`) when the model
// does not take that shape or does not give one row of outputs per sample.
std::size_t output_width(const Module& model, const ModelInfo& info, const std::string& context) {
  Shape out;
  try {
    out = model.output_shape(info.input_shape());
  } catch (const Error& e) {
    throw Error(context + ": the model does not take input_shape " + shape_str(info.input_shape()) +
                ": " + e.what());
  }
  if (out.size() != 1)
    throw Error(context + ": the model's output for input_shape " + shape_str(info.input_shape()) +
                " is batch x " + shape_str(out) + ", not batch x outputs");
  const std::size_t width = out[0];
  if (info.is_classification() && width != info.num_classes)
    throw Error(context + ": the model has " + std::to_string(width) +
                " outputs but num_classes is " + std::to_string(info.num_classes));
  if (!info.is_classification() && !info.target_names.empty() && width != info.target_names.size())
    throw Error(context + ": the model has " + std::to_string(width) + " outputs but " +
                std::to_string(info.target_names.size()) + " target names");
  return width;
}

// Each layer's output for one sample of the info's input shape must stay under
// kSpecMaxElements, as the weights do: otherwise a few bytes of spec (e.g. a Conv2d
// padded by 2^24 on a 1x1x1 input) make the first predict allocate petabytes.
void check_activations(Module& m, Shape& shape, const std::string& path,
                       const std::string& context) {
  if (auto* seq = dynamic_cast<Sequential*>(&m)) {
    for (std::size_t i = 0; i < seq->size(); ++i)
      check_activations((*seq)[i], shape,
                        (path == "root" ? "" : path + ".") + "children[" + std::to_string(i) + "]",
                        context);
    return;
  }
  shape = m.output_shape(shape);
  std::size_t elements = kSpecMaxElements + 1;
  try {
    elements = element_count(shape);
  } catch (const Error&) {  // more than 2^64: far above the cap too
  }
  if (elements > kSpecMaxElements)
    throw Error(context + ": " + path + " (" + m.describe() + ") gives batch x " +
                shape_str(shape) + ", more than " + std::to_string(kSpecMaxElements) +
                " elements a sample");
}

Tensor vector_tensor(const std::vector<float>& v) {
  Tensor t = zeros(Shape{v.size()});
  std::copy(v.begin(), v.end(), t.begin());
  return t;
}

// A message with its control bytes escaped (\x0A): names, types and options come from the
// file and may hold any of them, and a tg::Error stays one line (fuzz finding: a '\n' in an
// option name split the message).
std::string one_line(const std::string& msg) {
  std::string out;
  for (const char c : msg) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b != 0x7f) {
      out += c;
    } else {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02X", b);
      out += esc;
    }
  }
  return out;
}

}  // namespace

// ---- public ----

void ModelInfo::check(const std::string& context) const {
  const std::string where = context.empty() ? "model info" : context;
  if (task != "classification" && task != "regression")
    throw Error(where + ": task '" + task + "' is not classification or regression");
  if (is_classification()) {
    if (num_classes == 0) throw Error(where + ": num_classes is 0 for classification");
    if (!class_names.empty() && class_names.size() != num_classes)
      throw Error(where + ": " + std::to_string(class_names.size()) + " class names for " +
                  std::to_string(num_classes) + " classes");
    if (!target_names.empty()) throw Error(where + ": target names for classification");
  } else {
    if (num_classes != 0 || !class_names.empty())
      throw Error(where + ": num_classes or class names for regression");
  }
  try {
    preprocessing.check();
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
}

std::string spec_to_json(const ModuleSpec& spec) {
  std::string out;
  write_spec(out, spec);
  return out;
}

ModuleSpec spec_from_json(const std::string& json, const std::string& context) {
  try {
    JsonReader reader(json, context);
    const Json v = reader.document();
    return read_spec(v, reader);
  } catch (const Error& e) {
    throw Error(one_line(e.what()));
  }
}

StateDict model_file_state(Module& model, const ModelInfo& info) {
  info.check("save_model");
  const ModuleSpec spec = model.spec();
  // The spec must rebuild this very model: the same tensors, name for name and shape for shape.
  const SpecState expected = spec_state(spec);
  const StateDict weights = model_state(model);
  for (const auto& [name, shape] : expected.tensors) {
    auto it = weights.tensors.find(name);
    if (it == weights.tensors.end() || shape_of(it->second) != shape)
      throw Error("save_model: the model's spec() does not describe its state: the spec needs '" +
                  name + "' of " + shape_str(shape) + ", the model " +
                  (it == weights.tensors.end() ? "has none" : "has " + shape_str(it->second)));
  }
  if (expected.tensors.size() != weights.tensors.size() ||
      4 * expected.rngs.size() != weights.integers.size())
    throw Error("save_model: the model's spec() does not describe its state (" +
                std::to_string(weights.tensors.size()) + " tensors, the spec " +
                std::to_string(expected.tensors.size()) + ")");
  output_width(model, info, "save_model");

  StateDict s;
  s.integers[kVersionEntry] = kModelFileVersion;
  s.texts[kSpecEntry] = spec_to_json(spec);
  s.texts[kInfoEntry] = info_to_json(info);
  s.reals[kDivisorEntry] = info.preprocessing.divisor;
  s.tensors[kMeanEntry] = vector_tensor(info.preprocessing.mean);
  s.tensors[kStddevEntry] = vector_tensor(info.preprocessing.stddev);
  s.merge(weights, kWeightsPrefix);
  return s;
}

void save_model(const std::string& path, Module& model, const ModelInfo& info) {
  StateDict s;
  try {
    s = model_file_state(model, info);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  save_checkpoint(path, s);
}

namespace {

LoadedModel load_from_state(const StateDict& state, const std::string& name) {
  const auto entry = [&](const std::string& e) { return name + ": entry '" + e + "'"; };
  if (!state.integers.count(kVersionEntry)) {
    const bool training = state.integers.count("progress.epochs_done") ||
                          std::any_of(state.tensors.begin(), state.tensors.end(),
                                      [](auto& t) { return t.first.compare(0, 6, "model.") == 0; });
    if (training)
      throw Error(name +
                  ": a training checkpoint (as tapegrad-mnist --save writes), not a model file: "
                  "it has no entry '" +
                  kVersionEntry +
                  "'; write a model file with tg::save_model (tapegrad-mnist --save-model)");
    throw Error(name + ": not a model file: it has no entry '" + kVersionEntry + "'");
  }
  const std::int64_t version = state.integers.at(kVersionEntry);
  if (version != kModelFileVersion)
    throw Error(entry(kVersionEntry) + ": version " + std::to_string(version) +
                " is not one this tapegrad reads (" + std::to_string(kModelFileVersion) + ")");

  // Every entry must be one of the format's.
  const std::set<std::string> fixed = {kVersionEntry, kSpecEntry, kInfoEntry,
                                       kDivisorEntry, kMeanEntry, kStddevEntry};
  const auto check_known = [&](const auto& entries) {
    for (const auto& e : entries)
      if (!fixed.count(e.first) && e.first.compare(0, kWeightsPrefix.size(), kWeightsPrefix) != 0)
        throw Error(entry(e.first) + ": not an entry of a model file");
  };
  check_known(state.tensors);
  check_known(state.integers);
  check_known(state.reals);
  check_known(state.texts);

  // The architecture, checked against the caps, then against the stored tensors.
  ModuleSpec spec;
  SpecState expected;
  try {
    spec = spec_from_json(state.text(kSpecEntry, name), entry(kSpecEntry));
    expected = spec_state(spec);
  } catch (const Error& e) {
    const std::string what = e.what();
    throw Error(what.compare(0, name.size(), name) == 0 ? what : entry(kSpecEntry) + ": " + what);
  }
  const StateDict weights = state.with_prefix_removed(kWeightsPrefix);
  for (const auto& [tensor, shape] : expected.tensors) {
    auto it = weights.tensors.find(tensor);
    if (it == weights.tensors.end())
      throw Error(entry(kWeightsPrefix + tensor) + ": missing; the spec's model has it, of " +
                  shape_str(shape));
    if (shape_of(it->second) != shape)
      throw Error(entry(kWeightsPrefix + tensor) + ": " + shape_str(it->second) +
                  ", but the spec's model has it of " + shape_str(shape));
    const float* v = it->second.data();
    for (std::size_t i = 0; i < it->second.size(); ++i)
      if (!std::isfinite(v[i]))
        throw Error(entry(kWeightsPrefix + tensor) + ": element " + std::to_string(i) + " is " +
                    std::to_string(v[i]));
  }
  for (const auto& [tensor, t] : weights.tensors) {
    const bool known = std::any_of(expected.tensors.begin(), expected.tensors.end(),
                                   [&name = tensor](const auto& e) { return e.first == name; });
    if (!known)
      throw Error(entry(kWeightsPrefix + tensor) + ": " + shape_str(t) +
                  ", a tensor the spec's model does not have");
  }
  for (const auto& [integer, value] : weights.integers) {
    const std::size_t dot = integer.rfind('.');
    const bool known =
        dot != std::string::npos && integer.size() == dot + 2 && integer[dot + 1] >= '0' &&
        integer[dot + 1] <= '3' &&
        std::count(expected.rngs.begin(), expected.rngs.end(), integer.substr(0, dot));
    if (!known) throw Error(entry(kWeightsPrefix + integer) + ": not a state of the spec's model");
  }
  if (!weights.reals.empty() || !weights.texts.empty())
    throw Error(entry(kWeightsPrefix + (weights.reals.empty() ? weights.texts.begin()->first
                                                              : weights.reals.begin()->first)) +
                ": not a state of the spec's model");
  for (const std::string& rng : expected.rngs)
    for (int i = 0; i < 4; ++i) state.integer(kWeightsPrefix + rng + "." + std::to_string(i), name);

  // What the model is for.
  LoadedModel out;
  ModelInfo& info = out.info;
  info_from_json(state.text(kInfoEntry, name), entry(kInfoEntry), info);
  info.preprocessing.divisor = static_cast<float>(state.real(kDivisorEntry, name));
  for (const auto* e : {&kMeanEntry, &kStddevEntry}) {
    const Tensor& t = state.tensor(*e, name);
    if (t.dimension() != 1) throw Error(entry(*e) + ": " + shape_str(t) + ", not a list of values");
    (e == &kMeanEntry ? info.preprocessing.mean : info.preprocessing.stddev)
        .assign(t.begin(), t.end());
  }
  info.check(entry(kInfoEntry));

  out.module = make_module(spec);
  load_model_state(*out.module, weights, name);
  output_width(*out.module, info, entry(kInfoEntry));
  Shape shape = info.input_shape();
  check_activations(*out.module, shape, "root", entry(kInfoEntry));
  out.module->eval();
  return out;
}

}  // namespace

LoadedModel model_from_state(const StateDict& state, const std::string& name) {
  try {
    return load_from_state(state, name);
  } catch (const Error& e) {
    throw Error(one_line(e.what()));
  }
}

LoadedModel load_model(const std::string& path) {
  return model_from_state(load_checkpoint(path), path);
}

Tensor predict(LoadedModel& model, const Tensor& raw, std::size_t batch_size) {
  if (!model.module) throw Error("predict: the LoadedModel holds no module");
  const ModelInfo& info = model.info;
  const Shape& in = info.input_shape();
  const std::size_t n = raw.dimension() >= 1 ? raw.shape(0) : 0;
  const bool full_shape =
      raw.dimension() == in.size() + 1 && std::equal(in.begin(), in.end(), raw.shape().begin() + 1);
  const bool flat = raw.dimension() == 2 && raw.shape(1) == info.preprocessing.sample_size();
  if (!full_shape && !flat)
    throw Error(
        "predict: input is " + shape_str(raw) + ", not N x " + shape_str(in) +
        (in.size() == 1 ? "" : " or N x " + std::to_string(info.preprocessing.sample_size())));
  Tensor x = info.preprocessing.apply(raw);
  Shape shape = in;
  shape.insert(shape.begin(), n);
  x.reshape(Tensor::shape_type(shape.begin(), shape.end()));
  Tensor y = predict(*model.module, x, batch_size);
  if (!info.is_classification()) return y;

  // Probabilities: a model's last layer may already give them (Softmax) or their logs.
  const ModuleSpec spec = model.module->spec();
  const ModuleSpec& last = spec.children.empty() ? spec : spec.children.back();
  if (last.type == "Softmax") return y;
  const std::size_t classes = cols(y);
  for (std::size_t r = 0; r < n; ++r) {
    float* row = y.data() + r * classes;
    if (last.type == "LogSoftmax") {
      for (std::size_t j = 0; j < classes; ++j) row[j] = std::exp(row[j]);
      continue;
    }
    const float top = *std::max_element(row, row + classes);
    double sum = 0.0;
    for (std::size_t j = 0; j < classes; ++j) sum += std::exp(static_cast<double>(row[j] - top));
    for (std::size_t j = 0; j < classes; ++j)
      row[j] = static_cast<float>(std::exp(static_cast<double>(row[j] - top)) / sum);
  }
  return y;
}

}  // namespace tg
