#include "tapegrad/io/onnx.hpp"

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <vector>

namespace tg {
namespace {

constexpr std::int64_t kMinOpset = 14;  // Squeeze's axes as an input, Relu etc. on any type
constexpr std::int64_t kMaxOpset = 17;  // the newest ONNX 1.12's checker knows

// A value of the graph: its name and its shape without the batch dimension.
struct Value {
  std::string name;
  Shape shape;
};

// One layer being exported: its spec, where its weights are in the StateDict, how errors and
// graph names call it.
struct Layer {
  const ModuleSpec& spec;
  std::string prefix;  // "3." (weights "3.weight"); "" for a model that is one layer
  std::string where;   // "layer 3 (LSTM)", "layer 2.1 (Dense)", "model (Dense)"
  std::string tag;     // "3": the prefix of the layer's value names in the graph
};

[[noreturn]] void fail(const Layer& l, const std::string& what) {
  throw Error("export_onnx: " + l.where + ": " + what);
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// "N x 28 x 28": a shape with the batch dimension in front.
std::string batch_shape(const Shape& shape) {
  std::string s = "N";
  for (std::size_t d : shape) s += " x " + std::to_string(d);
  return s;
}

// The graph under construction: unique names, nodes, initializers.
struct Graph {
  onnx::GraphProto& proto;
  const StateDict& weights;
  std::int64_t opset;
  std::set<std::string> used;

  std::string fresh(const std::string& hint) {
    std::string name = hint;
    for (int i = 2; used.count(name); ++i) name = hint + "_" + std::to_string(i);
    used.insert(name);
    return name;
  }

  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::string& output_hint) {
    onnx::NodeProto& n = *proto.add_node();
    n.set_op_type(op);
    for (const std::string& in : inputs) n.add_input(in);
    const std::string out = fresh(output_hint);
    n.add_output(out);
    n.set_name(out);
    return n;
  }

  std::string floats(const std::string& hint, const Shape& dims, const float* data) {
    onnx::TensorProto& t = *proto.add_initializer();
    const std::string name = fresh(hint);
    t.set_name(name);
    t.set_data_type(onnx::TensorProto::FLOAT);
    for (std::size_t d : dims) t.add_dims(static_cast<std::int64_t>(d));
    // raw_data is little-endian, as tapegrad's own files; so are the machines it builds for.
    t.set_raw_data(data, element_count(dims) * sizeof(float));
    return name;
  }
  std::string floats(const std::string& hint, const Shape& dims, const std::vector<float>& v) {
    return floats(hint, dims, v.data());
  }
  std::string scalar(const std::string& hint, float v) { return floats(hint, {}, &v); }

  std::string int64s(const std::string& hint, const std::vector<std::int64_t>& values,
                     bool as_scalar = false) {
    onnx::TensorProto& t = *proto.add_initializer();
    const std::string name = fresh(hint);
    t.set_name(name);
    t.set_data_type(onnx::TensorProto::INT64);
    if (!as_scalar) t.add_dims(static_cast<std::int64_t>(values.size()));
    t.set_raw_data(values.data(), values.size() * sizeof(std::int64_t));
    return name;
  }

  // The layer's state entry `name`, whose shape must be `expected` up to dimensions of size 1
  // (BatchNorm1d keeps 1 x F where BatchNorm2d keeps C): a transposed or mis-sized weight is
  // refused rather than exported wrong.
  const Tensor& weight(const Layer& l, const std::string& name, const Shape& expected) const {
    const auto it = weights.tensors.find(l.prefix + name);
    if (it == weights.tensors.end()) fail(l, "the weights have no '" + l.prefix + name + "'");
    const Shape got = shape_of(it->second);
    Shape a, b;
    for (std::size_t d : got)
      if (d != 1) a.push_back(d);
    for (std::size_t d : expected)
      if (d != 1) b.push_back(d);
    if (a != b)
      fail(l, "'" + l.prefix + name + "' is " + shape_str(got) + ", the spec says " +
                  shape_str(expected));
    return it->second;
  }
};

void attr_int(onnx::NodeProto& n, const std::string& name, std::int64_t v) {
  onnx::AttributeProto& a = *n.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INT);
  a.set_i(v);
}
void attr_float(onnx::NodeProto& n, const std::string& name, float v) {
  onnx::AttributeProto& a = *n.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto::FLOAT);
  a.set_f(v);
}
void attr_ints(onnx::NodeProto& n, const std::string& name, const std::vector<std::int64_t>& v) {
  onnx::AttributeProto& a = *n.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INTS);
  for (std::int64_t x : v) a.add_ints(x);
}
void attr_strings(onnx::NodeProto& n, const std::string& name, const std::vector<std::string>& v) {
  onnx::AttributeProto& a = *n.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto::STRINGS);
  for (const std::string& x : v) a.add_strings(x);
}

std::int64_t positive(const Layer& l, const std::string& key) {
  const std::int64_t v = l.spec.integer(key);
  if (v <= 0) fail(l, key + " is " + std::to_string(v) + ", not positive");
  return v;
}

// An "h,w" option; a single number means both, as torch's ExpandingArray.
std::array<std::int64_t, 2> pair_option(const Layer& l, const std::string& key, std::int64_t min) {
  const std::vector<std::int64_t> v = l.spec.integers(key);
  if (v.size() != 1 && v.size() != 2)
    fail(l, key + " has " + std::to_string(v.size()) + " values, not 1 or 2 (h,w)");
  const std::array<std::int64_t, 2> p{v[0], v.back()};
  for (std::int64_t x : p)
    if (x < min) fail(l, key + " holds " + std::to_string(x) + ", below " + std::to_string(min));
  return p;
}

std::int64_t single_option(const Layer& l, const std::string& key, std::int64_t min) {
  const std::vector<std::int64_t> v = l.spec.integers(key);
  if (v.size() != 1) fail(l, key + " has " + std::to_string(v.size()) + " values, not 1");
  if (v[0] < min) fail(l, key + " is " + std::to_string(v[0]) + ", below " + std::to_string(min));
  return v[0];
}

// Output length of a convolution or pool along one dimension; refuses an empty output.
std::size_t window_out(const Layer& l, std::size_t in, std::int64_t kernel, std::int64_t stride,
                       std::int64_t pad, std::int64_t dilation) {
  const std::int64_t span = dilation * (kernel - 1) + 1;
  const std::int64_t padded = static_cast<std::int64_t>(in) + 2 * pad;
  if (padded < span)
    fail(l, "an input of " + std::to_string(in) + " padded by " + std::to_string(pad) +
                " is smaller than the window of " + std::to_string(span));
  return static_cast<std::size_t>((padded - span) / stride + 1);
}

Value unary(Graph& g, const Layer& l, const Value& x, const std::string& op) {
  return {g.node(op, {x.name}, l.tag + "." + op).output(0), x.shape};
}

Value export_dense(Graph& g, const Layer& l, const Value& x) {
  const auto in = static_cast<std::size_t>(positive(l, "in_features"));
  const auto out = static_cast<std::size_t>(positive(l, "out_features"));
  if (x.shape.empty() || x.shape.back() != in)
    fail(l, "input is " + batch_shape(x.shape) + ", not ... x " + std::to_string(in));
  // tapegrad's weight is in x out, what MatMul wants: no transpose.
  const Tensor& w = g.weight(l, "weight", {in, out});
  const std::string wn = g.floats(l.prefix + "weight", {in, out}, w.data());
  Value y{g.node("MatMul", {x.name, wn}, l.tag + ".matmul").output(0), x.shape};
  y.shape.back() = out;
  if (l.spec.boolean("bias")) {
    const Tensor& b = g.weight(l, "bias", {out});
    const std::string bn = g.floats(l.prefix + "bias", {out}, b.data());
    y.name = g.node("Add", {y.name, bn}, l.tag + ".add").output(0);
  }
  return y;
}

Value export_leaky_relu(Graph& g, const Layer& l, const Value& x) {
  auto slope = static_cast<float>(l.spec.real("negative_slope"));
  // tg::activate reads a slope of 0 as the default 0.01: the graph does what the layer does.
  if (slope == 0.0f) slope = 0.01f;
  onnx::NodeProto& n = g.node("LeakyRelu", {x.name}, l.tag + ".LeakyRelu");
  attr_float(n, "alpha", slope);
  return {n.output(0), x.shape};
}

Value export_elu(Graph& g, const Layer& l, const Value& x) {
  auto alpha = static_cast<float>(l.spec.real("alpha"));
  if (alpha == 0.0f) alpha = 1.0f;  // as tg::activate
  onnx::NodeProto& n = g.node("Elu", {x.name}, l.tag + ".Elu");
  attr_float(n, "alpha", alpha);
  return {n.output(0), x.shape};
}

// tapegrad's step is 1 for x >= 0, else 0 (NaN included).
Value export_step(Graph& g, const Layer& l, const Value& x) {
  const std::string zero = g.scalar(l.tag + ".zero", 0.0f);
  const std::string ge = g.node("GreaterOrEqual", {x.name, zero}, l.tag + ".ge").output(0);
  onnx::NodeProto& cast = g.node("Cast", {ge}, l.tag + ".step");
  attr_int(cast, "to", onnx::TensorProto::FLOAT);
  return {cast.output(0), x.shape};
}

Value export_softmax(Graph& g, const Layer& l, const Value& x, const std::string& op) {
  onnx::NodeProto& n = g.node(op, {x.name}, l.tag + "." + op);
  attr_int(n, "axis", -1);
  return {n.output(0), x.shape};
}

// Reshape keeping the batch dimension (0 copies it) and giving the rest `shape`.
Value reshape(Graph& g, const Layer& l, const Value& x, const Shape& shape) {
  std::vector<std::int64_t> dims{0};
  for (std::size_t d : shape) dims.push_back(static_cast<std::int64_t>(d));
  const std::string s = g.int64s(l.tag + ".shape", dims);
  return {g.node("Reshape", {x.name, s}, l.tag + ".reshape").output(0), shape};
}

// A dim counting the batch dimension, negative from the end, as tapegrad's Flatten/Unflatten.
std::size_t batch_dim(const Layer& l, const std::string& key, std::size_t rank) {
  const std::int64_t d = l.spec.integer(key);
  const std::int64_t r = static_cast<std::int64_t>(rank);
  if (d < -r || d >= r)
    fail(l,
         key + " " + std::to_string(d) + " is outside a rank-" + std::to_string(rank) + " input");
  return static_cast<std::size_t>(d < 0 ? d + r : d);
}

Value export_flatten(Graph& g, const Layer& l, const Value& x) {
  const std::size_t rank = x.shape.size() + 1;
  const std::size_t start = batch_dim(l, "start_dim", rank);
  const std::size_t end = batch_dim(l, "end_dim", rank);
  if (start == 0) fail(l, "start_dim 0 would merge the batch dimension");
  if (start > end) return unary(g, l, x, "Identity");
  Shape out(x.shape.begin(), x.shape.begin() + static_cast<std::ptrdiff_t>(start - 1));
  Shape merged_dims(x.shape.begin() + static_cast<std::ptrdiff_t>(start - 1),
                    x.shape.begin() + static_cast<std::ptrdiff_t>(end));
  out.push_back(element_count(merged_dims));
  out.insert(out.end(), x.shape.begin() + static_cast<std::ptrdiff_t>(end), x.shape.end());
  return reshape(g, l, x, out);
}

Value export_unflatten(Graph& g, const Layer& l, const Value& x) {
  const std::size_t d = batch_dim(l, "dim", x.shape.size() + 1);
  if (d == 0) fail(l, "dim 0 is the batch dimension");
  Shape sizes;
  for (std::int64_t s : l.spec.integers("sizes")) {
    if (s <= 0) fail(l, "sizes holds " + std::to_string(s) + ", not a positive size");
    sizes.push_back(static_cast<std::size_t>(s));
  }
  if (sizes.empty() || element_count(sizes) != x.shape[d - 1])
    fail(l, "dimension " + std::to_string(d) + " of " + batch_shape(x.shape) + " is not the " +
                std::to_string(element_count(sizes)) + " elements of " + shape_str(sizes));
  Shape out(x.shape.begin(), x.shape.begin() + static_cast<std::ptrdiff_t>(d - 1));
  out.insert(out.end(), sizes.begin(), sizes.end());
  out.insert(out.end(), x.shape.begin() + static_cast<std::ptrdiff_t>(d), x.shape.end());
  return reshape(g, l, x, out);
}

// BatchNorm1d (N x F) and BatchNorm2d (N x C x H x W) alike: ONNX's BatchNormalization
// normalises dimension 1 with the running statistics.
Value export_batch_norm(Graph& g, const Layer& l, const Value& x, std::size_t rank) {
  const auto c = static_cast<std::size_t>(positive(l, "num_features"));
  if (x.shape.size() != rank || x.shape[0] != c)
    fail(l, "input is " + batch_shape(x.shape) + ", not N x " + std::to_string(c) +
                (rank == 3 ? " x H x W" : ""));
  std::vector<std::string> inputs{x.name};
  for (const char* name : {"weight", "bias", "running_mean", "running_var"})
    inputs.push_back(g.floats(l.prefix + name, {c}, g.weight(l, name, {c}).data()));
  onnx::NodeProto& n = g.node("BatchNormalization", inputs, l.tag + ".batch_norm");
  attr_float(n, "epsilon", static_cast<float>(l.spec.real("eps")));
  return {n.output(0), x.shape};
}

Value export_layer_norm(Graph& g, const Layer& l, const Value& x) {
  Shape normalized;
  for (std::int64_t d : l.spec.integers("normalized_shape")) {
    if (d <= 0) fail(l, "normalized_shape holds " + std::to_string(d));
    normalized.push_back(static_cast<std::size_t>(d));
  }
  const std::size_t k = normalized.size();
  // tapegrad lets normalized_shape cover the batch dimension too; the graph's batch is N.
  if (k == x.shape.size() + 1)
    fail(l, "normalized_shape " + shape_str(normalized) +
                " covers the batch dimension, which is symbolic in the graph");
  if (k == 0 || x.shape.size() < k ||
      !std::equal(normalized.begin(), normalized.end(), x.shape.end() - static_cast<long>(k)))
    fail(l, "input " + batch_shape(x.shape) + " does not end in normalized_shape " +
                shape_str(normalized));
  const auto eps = static_cast<float>(l.spec.real("eps"));
  const bool affine = l.spec.boolean("elementwise_affine");
  std::string scale, bias;
  if (affine) {
    scale = g.floats(l.prefix + "weight", normalized, g.weight(l, "weight", normalized).data());
    bias = g.floats(l.prefix + "bias", normalized, g.weight(l, "bias", normalized).data());
  }
  if (g.opset >= 17) {
    if (!affine)  // Scale is not optional in LayerNormalization
      scale = g.floats(l.tag + ".ones", normalized,
                       std::vector<float>(element_count(normalized), 1.0f));
    std::vector<std::string> inputs{x.name, scale};
    if (affine) inputs.push_back(bias);
    onnx::NodeProto& n = g.node("LayerNormalization", inputs, l.tag + ".layer_norm");
    attr_int(n, "axis", -static_cast<std::int64_t>(k));
    attr_float(n, "epsilon", eps);
    return {n.output(0), x.shape};
  }
  // Before opset 17: (x - mean) / sqrt(biased variance + eps), then the affine transform.
  std::vector<std::int64_t> axes;
  for (std::size_t i = k; i > 0; --i) axes.push_back(-static_cast<std::int64_t>(i));
  auto reduce_mean = [&](const std::string& in, const std::string& hint) {
    onnx::NodeProto& n = g.node("ReduceMean", {in}, hint);
    attr_ints(n, "axes", axes);
    attr_int(n, "keepdims", 1);
    return n.output(0);
  };
  const std::string mean = reduce_mean(x.name, l.tag + ".mean");
  const std::string d = g.node("Sub", {x.name, mean}, l.tag + ".centered").output(0);
  const std::string sq = g.node("Mul", {d, d}, l.tag + ".squared").output(0);
  const std::string var = reduce_mean(sq, l.tag + ".variance");
  const std::string e = g.scalar(l.tag + ".eps", eps);
  const std::string ve = g.node("Add", {var, e}, l.tag + ".variance_eps").output(0);
  const std::string sd = g.node("Sqrt", {ve}, l.tag + ".stddev").output(0);
  std::string y = g.node("Div", {d, sd}, l.tag + ".normalized").output(0);
  if (affine) {
    y = g.node("Mul", {y, scale}, l.tag + ".scaled").output(0);
    y = g.node("Add", {y, bias}, l.tag + ".shifted").output(0);
  }
  return {y, x.shape};
}

// Conv1d (spatial 1) and Conv2d (spatial 2).
Value export_conv(Graph& g, const Layer& l, const Value& x, std::size_t spatial) {
  const auto cin = static_cast<std::size_t>(positive(l, "in_channels"));
  const auto cout = static_cast<std::size_t>(positive(l, "out_channels"));
  const std::int64_t groups = positive(l, "groups");
  if (cin % static_cast<std::size_t>(groups) || cout % static_cast<std::size_t>(groups))
    fail(l, "groups " + std::to_string(groups) + " does not divide the channels " +
                std::to_string(cin) + " -> " + std::to_string(cout));
  std::array<std::int64_t, 2> kernel{}, stride{}, pad{}, dilation{};
  if (spatial == 2) {
    kernel = pair_option(l, "kernel_size", 1);
    stride = pair_option(l, "stride", 1);
    pad = pair_option(l, "padding", 0);
    dilation = pair_option(l, "dilation", 1);
  } else {
    kernel[0] = single_option(l, "kernel_size", 1);
    stride[0] = single_option(l, "stride", 1);
    pad[0] = single_option(l, "padding", 0);
    dilation[0] = single_option(l, "dilation", 1);
  }
  if (x.shape.size() != spatial + 1 || x.shape[0] != cin)
    fail(l, "input is " + batch_shape(x.shape) + ", not N x " + std::to_string(cin) +
                (spatial == 2 ? " x H x W" : " x L"));
  Shape wshape{cout, cin / static_cast<std::size_t>(groups)};
  Shape out{cout};
  std::vector<std::int64_t> kernel_shape, strides, pads, dilations;
  for (std::size_t i = 0; i < spatial; ++i) {
    wshape.push_back(static_cast<std::size_t>(kernel[i]));
    out.push_back(window_out(l, x.shape[i + 1], kernel[i], stride[i], pad[i], dilation[i]));
    kernel_shape.push_back(kernel[i]);
    strides.push_back(stride[i]);
    dilations.push_back(dilation[i]);
    pads.push_back(pad[i]);
  }
  pads.insert(pads.end(), pads.begin(), pads.end());  // begins, then ends
  std::vector<std::string> inputs{
      x.name, g.floats(l.prefix + "weight", wshape, g.weight(l, "weight", wshape).data())};
  if (l.spec.boolean("bias"))
    inputs.push_back(g.floats(l.prefix + "bias", {cout}, g.weight(l, "bias", {cout}).data()));
  onnx::NodeProto& n = g.node("Conv", inputs, l.tag + ".conv");
  attr_ints(n, "kernel_shape", kernel_shape);
  attr_ints(n, "strides", strides);
  attr_ints(n, "pads", pads);
  attr_ints(n, "dilations", dilations);
  attr_int(n, "group", groups);
  return {n.output(0), out};
}

void check_image(const Layer& l, const Value& x) {
  if (x.shape.size() != 3) fail(l, "input is " + batch_shape(x.shape) + ", not N x C x H x W");
}

// MaxPool2d and AvgPool2d; a stride of 0 is the kernel size, as tapegrad's.
Value export_pool(Graph& g, const Layer& l, const Value& x, const std::string& op) {
  check_image(l, x);
  const auto kernel = pair_option(l, "kernel_size", 1);
  auto stride = pair_option(l, "stride", 0);
  const auto pad = pair_option(l, "padding", 0);
  Shape out{x.shape[0]};
  for (std::size_t i = 0; i < 2; ++i) {
    if (stride[i] == 0) stride[i] = kernel[i];
    if (2 * pad[i] > kernel[i])
      fail(l, "padding " + std::to_string(pad[i]) + " is more than half the kernel " +
                  std::to_string(kernel[i]));
    out.push_back(window_out(l, x.shape[i + 1], kernel[i], stride[i], pad[i], 1));
  }
  onnx::NodeProto& n = g.node(op, {x.name}, l.tag + "." + op);
  attr_ints(n, "kernel_shape", {kernel[0], kernel[1]});
  attr_ints(n, "strides", {stride[0], stride[1]});
  attr_ints(n, "pads", {pad[0], pad[1], pad[0], pad[1]});
  // tapegrad's avg_pool2d divides by the whole window, padding included.
  if (op == "AveragePool") attr_int(n, "count_include_pad", 1);
  return {n.output(0), out};
}

Value export_adaptive_avg_pool(Graph& g, const Layer& l, const Value& x) {
  check_image(l, x);
  const auto size = pair_option(l, "output_size", 1);
  const auto oh = static_cast<std::size_t>(size[0]), ow = static_cast<std::size_t>(size[1]);
  const std::size_t h = x.shape[1], w = x.shape[2];
  if (oh == 1 && ow == 1)
    return {g.node("GlobalAveragePool", {x.name}, l.tag + ".global_average_pool").output(0),
            {x.shape[0], 1, 1}};
  // Cells of an output that divides the input are plain windows of input/output.
  if (h % oh != 0 || w % ow != 0)
    fail(l, "output " + shape_str(Shape{oh, ow}) + " does not divide the input " +
                shape_str(Shape{h, w}) +
                ": ONNX has no adaptive pooling, only 1x1 or a dividing size can be exported");
  const auto kh = static_cast<std::int64_t>(h / oh), kw = static_cast<std::int64_t>(w / ow);
  onnx::NodeProto& n = g.node("AveragePool", {x.name}, l.tag + ".average_pool");
  attr_ints(n, "kernel_shape", {kh, kw});
  attr_ints(n, "strides", {kh, kw});
  return {n.output(0), {x.shape[0], oh, ow}};
}

// Gather of rows; the input holds the indices as floats (what tapegrad's Embedding reads).
Value export_embedding(Graph& g, const Layer& l, const Value& x) {
  const auto num = static_cast<std::size_t>(positive(l, "num_embeddings"));
  const auto dim = static_cast<std::size_t>(positive(l, "embedding_dim"));
  const std::string w =
      g.floats(l.prefix + "weight", {num, dim}, g.weight(l, "weight", {num, dim}).data());
  onnx::NodeProto& cast = g.node("Cast", {x.name}, l.tag + ".indices");
  attr_int(cast, "to", onnx::TensorProto::INT64);
  onnx::NodeProto& gather = g.node("Gather", {w, cast.output(0)}, l.tag + ".gather");
  attr_int(gather, "axis", 0);
  Shape out = x.shape;
  out.push_back(dim);
  return {gather.output(0), out};
}

// RNN, LSTM, GRU: one ONNX op per layer on a time-major sequence. ONNX orders the gates
// LSTM i o f c and GRU z r h, where tapegrad (as torch) has LSTM i f g o and GRU r z n; its
// W is G*H x in (tapegrad's weight_ih transposed) and its B the two biases one after the other.
Value export_recurrent(Graph& g, const Layer& l, const Value& x) {
  const std::string& type = l.spec.type;
  const std::vector<std::size_t> order = type == "LSTM"  ? std::vector<std::size_t>{0, 3, 1, 2}
                                         : type == "GRU" ? std::vector<std::size_t>{1, 0, 2}
                                                         : std::vector<std::size_t>{0};
  const std::size_t gates = order.size();
  const auto f = static_cast<std::size_t>(positive(l, "input_size"));
  const auto h = static_cast<std::size_t>(positive(l, "hidden_size"));
  const auto layers = static_cast<std::size_t>(positive(l, "num_layers"));
  const bool bias = l.spec.boolean("bias");
  std::string activation;
  if (type == "RNN") {
    const std::string& nl = l.spec.text("nonlinearity");
    if (nl != "tanh" && nl != "relu") fail(l, "nonlinearity '" + nl + "' is not tanh or relu");
    activation = nl == "tanh" ? "Tanh" : "Relu";
  }
  // The graph's first dimension is the batch: a time-major layer would read it as time.
  if (!l.spec.boolean("batch_first"))
    fail(l, "batch_first is false: only batch-first (N x T x F) recurrent layers are exported");
  if (x.shape.size() != 2 || x.shape[1] != f)
    fail(l, "input is " + batch_shape(x.shape) + ", not N x T x " + std::to_string(f));
  const std::size_t gh = gates * h;

  onnx::NodeProto& to_time_major = g.node("Transpose", {x.name}, l.tag + ".time_major");
  attr_ints(to_time_major, "perm", {1, 0, 2});
  std::string seq = to_time_major.output(0);
  const std::string squeeze_axes = g.int64s(l.tag + ".direction_axis", {1});
  for (std::size_t k = 0; k < layers; ++k) {
    const std::string ks = std::to_string(k);
    const std::size_t in = k == 0 ? f : h;
    // ONNX row j*H + r of gate j is column order[j]*H + r of tapegrad's in x G*H weight.
    auto onnx_weight = [&](const std::string& name, std::size_t rows_in) {
      const float* w = g.weight(l, name, {rows_in, gh}).data();
      std::vector<float> out(gh * rows_in);
      for (std::size_t j = 0; j < gates; ++j)
        for (std::size_t r = 0; r < h; ++r)
          for (std::size_t c = 0; c < rows_in; ++c)
            out[(j * h + r) * rows_in + c] = w[c * gh + order[j] * h + r];
      return out;
    };
    std::vector<std::string> inputs{
        seq, g.floats(l.tag + ".W_l" + ks, {1, gh, in}, onnx_weight("weight_ih_l" + ks, in)),
        g.floats(l.tag + ".R_l" + ks, {1, gh, h}, onnx_weight("weight_hh_l" + ks, h))};
    if (bias) {
      const float* bih = g.weight(l, "bias_ih_l" + ks, {gh}).data();
      const float* bhh = g.weight(l, "bias_hh_l" + ks, {gh}).data();
      std::vector<float> b(2 * gh);
      for (std::size_t j = 0; j < gates; ++j)
        for (std::size_t r = 0; r < h; ++r) {
          b[j * h + r] = bih[order[j] * h + r];
          b[gh + j * h + r] = bhh[order[j] * h + r];
        }
      inputs.push_back(g.floats(l.tag + ".B_l" + ks, {1, 2 * gh}, b));
    }
    onnx::NodeProto& n = g.node(type, inputs, l.tag + ".y_l" + ks);
    attr_int(n, "hidden_size", static_cast<std::int64_t>(h));
    if (type == "RNN") attr_strings(n, "activations", {activation});
    // torch's GRU applies r to (h W_hn + b_hn), ONNX's default to h before the product.
    if (type == "GRU") attr_int(n, "linear_before_reset", 1);
    // Y is T x 1 x N x H (one direction): drop the direction for the next layer.
    seq = g.node("Squeeze", {n.output(0), squeeze_axes}, l.tag + ".h_l" + ks).output(0);
  }
  onnx::NodeProto& to_batch_major = g.node("Transpose", {seq}, l.tag + ".output");
  attr_ints(to_batch_major, "perm", {1, 0, 2});
  return {to_batch_major.output(0), {x.shape[0], h}};
}

Value export_last_time_step(Graph& g, const Layer& l, const Value& x) {
  if (x.shape.size() != 2 || x.shape[0] == 0)
    fail(l, "input is " + batch_shape(x.shape) + ", not N x T x H");
  const std::string last =
      g.int64s(l.tag + ".last_step", {static_cast<std::int64_t>(x.shape[0] - 1)}, true);
  onnx::NodeProto& n = g.node("Gather", {x.name, last}, l.tag + ".last_time_step");
  attr_int(n, "axis", 1);
  return {n.output(0), {x.shape[1]}};
}

Value export_module(Graph& g, const Layer& l, const Value& x);

Value export_sequential(Graph& g, const Layer& l, const Value& x) {
  Value v = x;
  for (std::size_t i = 0; i < l.spec.children.size(); ++i) {
    const ModuleSpec& child = l.spec.children[i];
    const std::string path = l.prefix + std::to_string(i);
    v = export_module(g, Layer{child, path + ".", "layer " + path + " (" + child.type + ")", path},
                      v);
  }
  return v;
}

using Exporter = std::function<Value(Graph&, const Layer&, const Value&)>;

const std::map<std::string, Exporter>& exporters() {
  static const std::map<std::string, Exporter> table = [] {
    std::map<std::string, Exporter> t;
    auto same = [](const std::string& op) {
      return [op](Graph& g, const Layer& l, const Value& x) { return unary(g, l, x, op); };
    };
    t["Sequential"] = export_sequential;
    t["Dense"] = export_dense;
    t["ReLU"] = same("Relu");
    t["Sigmoid"] = same("Sigmoid");
    t["Tanh"] = same("Tanh");
    t["Identity"] = same("Identity");
    t["Step"] = export_step;
    t["LeakyReLU"] = export_leaky_relu;
    t["ELU"] = export_elu;
    t["Softmax"] = [](Graph& g, const Layer& l, const Value& x) {
      return export_softmax(g, l, x, "Softmax");
    };
    t["LogSoftmax"] = [](Graph& g, const Layer& l, const Value& x) {
      return export_softmax(g, l, x, "LogSoftmax");
    };
    t["Dropout"] = same("Identity");  // evaluation mode
    t["Flatten"] = export_flatten;
    t["Unflatten"] = export_unflatten;
    t["BatchNorm1d"] = [](Graph& g, const Layer& l, const Value& x) {
      return export_batch_norm(g, l, x, 1);
    };
    t["BatchNorm2d"] = [](Graph& g, const Layer& l, const Value& x) {
      return export_batch_norm(g, l, x, 3);
    };
    t["LayerNorm"] = export_layer_norm;
    t["Conv1d"] = [](Graph& g, const Layer& l, const Value& x) { return export_conv(g, l, x, 1); };
    t["Conv2d"] = [](Graph& g, const Layer& l, const Value& x) { return export_conv(g, l, x, 2); };
    t["MaxPool2d"] = [](Graph& g, const Layer& l, const Value& x) {
      return export_pool(g, l, x, "MaxPool");
    };
    t["AvgPool2d"] = [](Graph& g, const Layer& l, const Value& x) {
      return export_pool(g, l, x, "AveragePool");
    };
    t["AdaptiveAvgPool2d"] = export_adaptive_avg_pool;
    t["Embedding"] = export_embedding;
    t["RNN"] = export_recurrent;
    t["LSTM"] = export_recurrent;
    t["GRU"] = export_recurrent;
    t["LastTimeStep"] = export_last_time_step;
    return t;
  }();
  return table;
}

Value export_module(Graph& g, const Layer& l, const Value& x) {
  const auto it = exporters().find(l.spec.type);
  if (it == exporters().end()) {
    std::string known;
    for (const auto& [name, exporter] : exporters()) known += (known.empty() ? "" : ", ") + name;
    fail(l, "no ONNX exporter for the type '" + l.spec.type + "' (exported: " + known + ")");
  }
  try {
    return it->second(g, l, x);
  } catch (const Error& e) {
    // The spec's own accessors name the type and key but not the layer.
    const std::string message = e.what();
    if (message.rfind("export_onnx: ", 0) == 0) throw;
    fail(l, message);
  }
}

// The innermost last module: whether the model already ends with Softmax.
const ModuleSpec& last_module(const ModuleSpec& spec) {
  if (spec.type == "Sequential" && !spec.children.empty()) return last_module(spec.children.back());
  return spec;
}

void set_tensor_type(onnx::ValueInfoProto& info, const std::string& name, const Shape& shape,
                     const std::string& batch_name) {
  info.set_name(name);
  onnx::TypeProto_Tensor& t = *info.mutable_type()->mutable_tensor_type();
  t.set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto& s = *t.mutable_shape();
  s.add_dim()->set_dim_param(batch_name);
  for (std::size_t d : shape) s.add_dim()->set_dim_value(static_cast<std::int64_t>(d));
}

onnx::ModelProto build_model(const ModuleSpec& spec, const StateDict& weights,
                             const Preprocessing& pre, const OnnxOptions& options) {
  pre.check();
  if (options.opset < kMinOpset || options.opset > kMaxOpset)
    throw Error("export_onnx: opset " + std::to_string(options.opset) + " is outside " +
                std::to_string(kMinOpset) + ".." + std::to_string(kMaxOpset));
  for (const std::string* name : {&options.input_name, &options.output_name, &options.batch_name})
    if (name->empty()) throw Error("export_onnx: an input, output or batch name is empty");
  if (options.input_name == options.output_name)
    throw Error("export_onnx: input and output are both named '" + options.input_name + "'");

  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("tapegrad");
  onnx::OperatorSetIdProto& opset = *model.add_opset_import();
  opset.set_domain("");
  opset.set_version(options.opset);
  onnx::GraphProto& graph_proto = *model.mutable_graph();
  graph_proto.set_name("tapegrad");
  Graph g{graph_proto, weights, options.opset, {options.input_name, options.output_name}};

  set_tensor_type(*graph_proto.add_input(), options.input_name, pre.input_shape,
                  options.batch_name);
  // (x / divisor - mean) / stddev, the order Preprocessing::apply rounds in.
  auto per_element = [&](const std::vector<float>& v) {
    return v.size() == 1 ? Shape{} : pre.input_shape;
  };
  const std::string divisor = g.scalar("preprocess.divisor", pre.divisor);
  const std::string mean = g.floats("preprocess.mean", per_element(pre.mean), pre.mean);
  const std::string stddev = g.floats("preprocess.stddev", per_element(pre.stddev), pre.stddev);
  std::string v = g.node("Div", {options.input_name, divisor}, "preprocess.scaled").output(0);
  v = g.node("Sub", {v, mean}, "preprocess.centered").output(0);
  v = g.node("Div", {v, stddev}, "preprocess.normalized").output(0);

  const bool sequential = spec.type == "Sequential";
  Value y =
      export_module(g, Layer{spec, "", sequential ? "model" : "model (" + spec.type + ")", "model"},
                    Value{v, pre.input_shape});
  if (options.softmax_output && last_module(spec).type != "Softmax") {
    onnx::NodeProto& n = g.node("Softmax", {y.name}, "probabilities");
    attr_int(n, "axis", -1);
    y.name = n.output(0);
  }
  // The last node's output becomes the graph's output.
  onnx::NodeProto& last = *graph_proto.mutable_node(graph_proto.node_size() - 1);
  if (last.output(0) == y.name)
    last.set_output(0, options.output_name);
  else
    g.node("Identity", {y.name}, "output").set_output(0, options.output_name);
  set_tensor_type(*graph_proto.add_output(), options.output_name, y.shape, options.batch_name);

  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error("export_onnx: ONNX's checker rejects the graph: " + one_line(e.what()));
  }
  // Strict shape inference: a declared output shape that disagrees with what the ops give is
  // an exporter bug, caught here rather than by whoever deploys the file.
  onnx::ModelProto inferred = model;
  try {
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    throw Error("export_onnx: ONNX's shape inference rejects the graph: " + one_line(e.what()));
  }
  return model;
}

std::string errno_text() {
  return std::strerror(errno);
}

// Writes to "<path>.tmp.<pid>" and renames it over `path`: a reader never sees half a file.
void write_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path + ": cannot create the temp file " + tmp + ": " + errno_text());
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(tmp + ": write failed at byte " + std::to_string(done) + ": " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw Error(tmp + ": fsync or close failed: " + why);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw Error(path + ": cannot rename " + tmp + " over it: " + why);
  }
}

}  // namespace

std::string onnx_model_bytes(const ModuleSpec& spec, const StateDict& weights,
                             const Preprocessing& preprocessing, const OnnxOptions& options) {
  const onnx::ModelProto model = build_model(spec, weights, preprocessing, options);
  // protobuf refuses to serialize a message of 2 GiB or more.
  if (model.ByteSizeLong() > static_cast<std::size_t>(INT_MAX))
    throw Error("export_onnx: the model is " + std::to_string(model.ByteSizeLong()) +
                " bytes, beyond protobuf's 2 GiB");
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw Error("export_onnx: protobuf serialization failed");
  return bytes;
}

void export_onnx(const ModuleSpec& spec, const StateDict& weights,
                 const Preprocessing& preprocessing, const std::string& path,
                 const OnnxOptions& options) {
  write_atomically(path, onnx_model_bytes(spec, weights, preprocessing, options));
}

void export_onnx(Module& model, const Preprocessing& preprocessing, const std::string& path,
                 const OnnxOptions& options) {
  ModuleSpec spec;
  try {
    spec = model.spec();
  } catch (const Error& e) {
    throw Error(std::string("export_onnx: ") + e.what());
  }
  export_onnx(spec, model_state(model), preprocessing, path, options);
}

void check_onnx(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error("check_onnx: " + path + ": " + errno_text());
  if (!S_ISREG(st.st_mode)) throw Error("check_onnx: " + path + " is not a regular file");
  try {
    onnx::checker::check_model(path);
  } catch (const std::exception& e) {
    throw Error("check_onnx: " + path + ": " + one_line(e.what()));
  }
}

}  // namespace tg
