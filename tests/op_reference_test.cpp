// Every op against PyTorch 1.13: values and gradients on stored reference cases.
//
// tests/fixtures/op_reference.txt, made by scripts/make_op_reference.py, holds one case per op
// and variant (broadcast shapes, dims, reductions): float32 inputs, the output PyTorch computes
// in float64 from them, a random upstream gradient (the seed) and the vector-Jacobian product
// of the output with that seed for every input, all rounded to float32. Here each case name maps
// to a lambda that records the same op with tapegrad; the test compares the output, runs
// backward(output, seed) and compares every input's gradient, each element to
// |tapegrad - torch| <= 1e-5 + 1e-4 |torch|.
//
// The op's arguments other than its tensors (dims, exponents, reductions) live in the lambda,
// named by the case (the script lists them beside each case). Every case in the fixture must
// have a lambda and every lambda a case, so nothing is skipped silently.
//
// One convention differs from PyTorch by design: a full reduction and a reduced loss return a
// 1x1 tensor in tapegrad and a rank-0 one in PyTorch. A rank-0 reference therefore matches a
// tapegrad output of shape 1x1 (and the seed is given that shape); every other shape must be
// equal.
#include "tapegrad/tapegrad.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace tg;

namespace {

constexpr double kAbsTolerance = 1e-5;
constexpr double kRelTolerance = 1e-4;

// ---- the fixture ----

struct RefCase {
  std::string name;
  int line = 0;  // of the "case" line, for messages
  std::vector<Tensor> inputs;
  std::vector<std::int64_t> ints;
  bool has_target = false, has_weight = false;
  Tensor target, weight;
  Tensor output, seed;
  std::vector<Tensor> grads;

  Shape output_shape() const { return shape_of(output); }
  const Tensor& target_tensor() const {
    if (!has_target) throw Error(name + ": the fixture gives no target");
    return target;
  }
  const Tensor& weight_tensor() const {
    if (!has_weight) throw Error(name + ": the fixture gives no weight");
    return weight;
  }
  // The ints as a 0/1 mask of the output's shape (for where).
  Tensor mask() const {
    Tensor m = zeros(output_shape());
    if (m.size() != ints.size()) throw Error(name + ": mask size differs from the output's");
    for (std::size_t i = 0; i < ints.size(); ++i) m.data()[i] = ints[i] != 0 ? 1.0f : 0.0f;
    return m;
  }
  std::vector<float> weight_vector() const {
    const Tensor& w = weight_tensor();
    return std::vector<float>(w.data(), w.data() + w.size());
  }
};

// RANK DIMS... VALUES... Floats go through strtod (operator>> fails on subnormals).
Tensor read_tensor(std::istringstream& in, const std::string& where) {
  std::size_t rank = 0;
  if (!(in >> rank) || rank > 8) throw Error("bad rank in " + where);
  Shape shape(rank);
  for (std::size_t& d : shape)
    if (!(in >> d)) throw Error("bad dimension in " + where);
  Tensor t = zeros(shape);
  for (std::size_t i = 0; i < t.size(); ++i) {
    std::string word;
    if (!(in >> word)) throw Error("too few values in " + where);
    char* end = nullptr;
    const double v = std::strtod(word.c_str(), &end);
    if (end == word.c_str() || *end != '\0') throw Error("bad value '" + word + "' in " + where);
    t.data()[i] = static_cast<float>(v);
  }
  std::string extra;
  if (in >> extra) throw Error("too many values in " + where);
  return t;
}

std::vector<RefCase> parse_fixture() {
  const std::string path = std::string(TAPEGRAD_SOURCE_DIR) + "/tests/fixtures/op_reference.txt";
  std::ifstream file(path);
  if (!file) throw Error("cannot open " + path);
  std::vector<RefCase> cases;
  RefCase* current = nullptr;
  bool has_output = false, has_seed = false;
  std::string line;
  int number = 0;
  while (std::getline(file, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    const std::string where = path + ":" + std::to_string(number);
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    if (kind == "case") {
      if (current) throw Error("case without end before " + where);
      cases.emplace_back();
      current = &cases.back();
      in >> current->name;
      current->line = number;
      has_output = has_seed = false;
      continue;
    }
    if (!current) throw Error("'" + kind + "' outside a case at " + where);
    if (kind == "input") {
      current->inputs.push_back(read_tensor(in, where));
    } else if (kind == "ints") {
      std::size_t count = 0;
      in >> count;
      current->ints.resize(count);
      for (std::int64_t& v : current->ints) in >> v;
      std::string extra;
      if (!in || (in >> extra)) throw Error("bad ints line at " + where);
    } else if (kind == "target") {
      current->target = read_tensor(in, where);
      current->has_target = true;
    } else if (kind == "weight") {
      current->weight = read_tensor(in, where);
      current->has_weight = true;
    } else if (kind == "output") {
      current->output = read_tensor(in, where);
      has_output = true;
    } else if (kind == "seed") {
      current->seed = read_tensor(in, where);
      has_seed = true;
    } else if (kind == "grad") {
      std::size_t k = 0;
      in >> k;
      if (k != current->grads.size()) throw Error("grads out of order at " + where);
      current->grads.push_back(read_tensor(in, where));
    } else if (kind == "end") {
      if (!has_output || !has_seed || current->inputs.empty() ||
          current->grads.size() != current->inputs.size())
        throw Error("incomplete case " + current->name + " ending at " + where);
      current = nullptr;
    } else {
      throw Error("unknown line at " + where + ": " + line);
    }
  }
  if (current) throw Error("the last case of " + path + " has no end");
  return cases;
}

const std::vector<RefCase>& fixture() {
  static const std::vector<RefCase> cases = parse_fixture();
  return cases;
}

// ---- the ops, one lambda per case ----

using OpFn = std::function<Var(const std::vector<Var>& in, const RefCase& c)>;
using Ops = std::map<std::string, OpFn>;

Ops arith_ops() {
  Ops ops;
  const char* binary_shapes[] = {"same",        "bcast_3x1",       "bcast_vec",  "bcast_1x1",
                                 "bcast_rank0", "bcast_rank0_lhs", "bcast_both", "nchw"};
  for (const std::string suffix : binary_shapes) {
    ops["add_" + suffix] = [](auto& in, auto&) { return tg::add(in.at(0), in.at(1)); };
    ops["sub_" + suffix] = [](auto& in, auto&) { return tg::sub(in.at(0), in.at(1)); };
    ops["mul_" + suffix] = [](auto& in, auto&) { return tg::mul(in.at(0), in.at(1)); };
    ops["div_" + suffix] = [](auto& in, auto&) { return tg::div(in.at(0), in.at(1)); };
  }
  ops["neg"] = [](auto& in, auto&) { return tg::neg(in.at(0)); };
  ops["scale"] = [](auto& in, auto&) { return tg::scale(in.at(0), -1.5f); };
  ops["add_scalar"] = [](auto& in, auto&) { return tg::add_scalar(in.at(0), 0.75f); };
  ops["pow_scalar_2_5"] = [](auto& in, auto&) { return tg::pow(in.at(0), 2.5f); };
  ops["pow_scalar_m1_5"] = [](auto& in, auto&) { return tg::pow(in.at(0), -1.5f); };
  ops["pow_scalar_2"] = [](auto& in, auto&) { return tg::pow(in.at(0), 2.0f); };
  ops["pow_tensor_same"] = [](auto& in, auto&) { return tg::pow(in.at(0), in.at(1)); };
  ops["pow_tensor_bcast"] = [](auto& in, auto&) { return tg::pow(in.at(0), in.at(1)); };
  ops["pow_tensor_both_bcast"] = [](auto& in, auto&) { return tg::pow(in.at(0), in.at(1)); };
  ops["pow_base"] = [](auto& in, auto&) { return tg::pow(2.0f, in.at(0)); };
  ops["sqrt"] = [](auto& in, auto&) { return tg::sqrt(in.at(0)); };
  ops["abs"] = [](auto& in, auto&) { return tg::abs(in.at(0)); };
  ops["square"] = [](auto& in, auto&) { return tg::square(in.at(0)); };
  ops["exp"] = [](auto& in, auto&) { return tg::exp(in.at(0)); };
  ops["log"] = [](auto& in, auto&) { return tg::log(in.at(0)); };
  ops["log1p"] = [](auto& in, auto&) { return tg::log1p(in.at(0)); };
  ops["clamp"] = [](auto& in, auto&) { return tg::clamp(in.at(0), -0.5f, 0.5f); };
  ops["clamp_min"] = [](auto& in, auto&) { return tg::clamp_min(in.at(0), -0.25f); };
  ops["clamp_max"] = [](auto& in, auto&) { return tg::clamp_max(in.at(0), 0.25f); };
  for (const std::string suffix : {"same", "bcast", "bcast_rank0"}) {
    ops["maximum_" + suffix] = [](auto& in, auto&) { return tg::maximum(in.at(0), in.at(1)); };
    ops["minimum_" + suffix] = [](auto& in, auto&) { return tg::minimum(in.at(0), in.at(1)); };
  }
  ops["where"] = [](auto& in, auto& c) { return tg::where(c.mask(), in.at(0), in.at(1)); };
  ops["where_bcast"] = [](auto& in, auto& c) { return tg::where(c.mask(), in.at(0), in.at(1)); };
  return ops;
}

Ops reduce_ops() {
  Ops ops;
  ops["sum_all"] = [](auto& in, auto&) { return tg::sum(in.at(0)); };
  ops["sum_all_nchw"] = [](auto& in, auto&) { return tg::sum(in.at(0)); };
  ops["mean_all"] = [](auto& in, auto&) { return tg::mean(in.at(0)); };
  ops["sum_dims_0_2"] = [](auto& in, auto&) { return tg::sum(in.at(0), {0, 2}, false); };
  ops["sum_dims_last_keepdim"] = [](auto& in, auto&) { return tg::sum(in.at(0), {-1}, true); };
  ops["sum_dims_nchw_keepdim"] = [](auto& in, auto&) { return tg::sum(in.at(0), {0, 2, 3}, true); };
  ops["mean_dims_0_2"] = [](auto& in, auto&) { return tg::mean(in.at(0), {0, 2}, false); };
  ops["mean_dims_last_keepdim"] = [](auto& in, auto&) { return tg::mean(in.at(0), {-1}, true); };
  ops["max_dim"] = [](auto& in, auto&) { return tg::max(in.at(0), 1, false); };
  ops["max_dim_last_keepdim"] = [](auto& in, auto&) { return tg::max(in.at(0), -1, true); };
  ops["min_dim"] = [](auto& in, auto&) { return tg::min(in.at(0), 1, false); };
  ops["min_dim_last_keepdim"] = [](auto& in, auto&) { return tg::min(in.at(0), -1, true); };
  ops["max_all"] = [](auto& in, auto&) { return tg::max(in.at(0)); };
  ops["min_all"] = [](auto& in, auto&) { return tg::min(in.at(0)); };
  ops["var_unbiased"] = [](auto& in, auto&) { return tg::var(in.at(0), {1}, true, false); };
  ops["var_biased"] = [](auto& in, auto&) { return tg::var(in.at(0), {0, 2}, false, false); };
  ops["var_unbiased_last_keepdim"] = [](auto& in, auto&) {
    return tg::var(in.at(0), {-1}, true, true);
  };
  ops["logsumexp"] = [](auto& in, auto&) { return tg::logsumexp(in.at(0), 1, false); };
  ops["logsumexp_last_keepdim"] = [](auto& in, auto&) { return tg::logsumexp(in.at(0), -1, true); };
  return ops;
}

Ops shape_ops() {
  Ops ops;
  ops["reshape"] = [](auto& in, auto&) { return tg::reshape(in.at(0), {4, 6}); };
  ops["reshape_rank1"] = [](auto& in, auto&) { return tg::reshape(in.at(0), {24}); };
  ops["flatten"] = [](auto& in, auto&) { return tg::flatten(in.at(0)); };
  ops["flatten_from_1"] = [](auto& in, auto&) { return tg::flatten(in.at(0), 1); };
  ops["squeeze_dim"] = [](auto& in, auto&) { return tg::squeeze(in.at(0), 1); };
  ops["squeeze_all"] = [](auto& in, auto&) { return tg::squeeze(in.at(0)); };
  ops["unsqueeze"] = [](auto& in, auto&) { return tg::unsqueeze(in.at(0), 1); };
  ops["unsqueeze_last"] = [](auto& in, auto&) { return tg::unsqueeze(in.at(0), -1); };
  ops["transpose"] = [](auto& in, auto&) { return tg::transpose(in.at(0), 0, 2); };
  ops["transpose_2d"] = [](auto& in, auto&) { return tg::transpose(in.at(0), 0, 1); };
  ops["permute"] = [](auto& in, auto&) { return tg::permute(in.at(0), {0, 2, 3, 1}); };
  ops["permute_3d"] = [](auto& in, auto&) { return tg::permute(in.at(0), {2, 0, 1}); };
  ops["slice"] = [](auto& in, auto&) { return tg::slice(in.at(0), 1, 1, 4); };
  ops["slice_last"] = [](auto& in, auto&) { return tg::slice(in.at(0), -1, 2, 5); };
  ops["cat"] = [](auto& in, auto&) { return tg::cat({in.at(0), in.at(1), in.at(2)}, 1); };
  ops["cat_dim0"] = [](auto& in, auto&) { return tg::cat({in.at(0), in.at(1)}, 0); };
  ops["cat_last"] = [](auto& in, auto&) { return tg::cat({in.at(0), in.at(1)}, -1); };
  ops["stack"] = [](auto& in, auto&) { return tg::stack({in.at(0), in.at(1), in.at(2)}, 0); };
  ops["stack_dim1"] = [](auto& in, auto&) { return tg::stack({in.at(0), in.at(1)}, 1); };
  ops["stack_last"] = [](auto& in, auto&) { return tg::stack({in.at(0), in.at(1)}, -1); };
  ops["index_select"] = [](auto& in, auto& c) { return tg::index_select(in.at(0), 0, c.ints); };
  ops["index_select_dim1"] = [](auto& in, auto& c) {
    return tg::index_select(in.at(0), 1, c.ints);
  };
  ops["gather"] = [](auto& in, auto& c) {
    return tg::gather(in.at(0), 1, c.ints, c.output_shape());
  };
  ops["gather_dim0"] = [](auto& in, auto& c) {
    return tg::gather(in.at(0), 0, c.ints, c.output_shape());
  };
  ops["gather_3d"] = [](auto& in, auto& c) {
    return tg::gather(in.at(0), -1, c.ints, c.output_shape());
  };
  ops["pad"] = [](auto& in, auto&) { return tg::pad(in.at(0), {1, 2}); };
  ops["pad_two_dims_value"] = [](auto& in, auto&) { return tg::pad(in.at(0), {1, 0, 2, 1}, 0.5f); };
  ops["pad_nchw"] = [](auto& in, auto&) { return tg::pad(in.at(0), {1, 1, 1, 1}); };
  return ops;
}

Ops linalg_ops() {
  Ops ops;
  for (const std::string name : {"matmul_2d", "matmul_batched", "matmul_broadcast",
                                 "matmul_broadcast_lhs", "matmul_batch_broadcast"})
    ops[name] = [](auto& in, auto&) { return tg::matmul(in.at(0), in.at(1)); };
  ops["dense"] = [](auto& in, auto&) { return tg::dense(in.at(0), in.at(1), in.at(2)); };
  ops["dense_no_bias"] = [](auto& in, auto&) { return tg::dense(in.at(0), in.at(1)); };
  ops["dense_3d"] = [](auto& in, auto&) { return tg::dense(in.at(0), in.at(1), in.at(2)); };
  return ops;
}

Ops activation_ops() {
  Ops ops;
  ops["sigmoid"] = [](auto& in, auto&) { return tg::sigmoid(in.at(0)); };
  ops["tanh"] = [](auto& in, auto&) { return tg::tanh(in.at(0)); };
  ops["relu"] = [](auto& in, auto&) { return tg::relu(in.at(0)); };
  ops["relu_nchw"] = [](auto& in, auto&) { return tg::relu(in.at(0)); };
  ops["leaky_relu"] = [](auto& in, auto&) { return tg::leaky_relu(in.at(0), 0.1f); };
  ops["elu"] = [](auto& in, auto&) { return tg::elu(in.at(0), 1.0f); };
  ops["elu_alpha"] = [](auto& in, auto&) { return tg::elu(in.at(0), 0.5f); };
  ops["softmax"] = [](auto& in, auto&) { return tg::softmax(in.at(0), 1); };
  ops["softmax_last"] = [](auto& in, auto&) { return tg::softmax(in.at(0), -1); };
  ops["softmax_nchw"] = [](auto& in, auto&) { return tg::softmax(in.at(0), 1); };
  ops["log_softmax"] = [](auto& in, auto&) { return tg::log_softmax(in.at(0), -1); };
  ops["log_softmax_dim0"] = [](auto& in, auto&) { return tg::log_softmax(in.at(0), 0); };
  return ops;
}

Ops normalization_ops() {
  Ops ops;
  ops["batch_norm"] = [](auto& in, auto&) {
    return tg::batch_norm(in.at(0), in.at(1), in.at(2), 1e-5f);
  };
  ops["batch_norm_eps"] = [](auto& in, auto&) {
    return tg::batch_norm(in.at(0), in.at(1), in.at(2), 0.1f);
  };
  return ops;
}

Ops loss_ops() {
  Ops ops;
  const std::pair<const char*, Reduction> reductions[] = {
      {"mean", Reduction::mean}, {"sum", Reduction::sum}, {"none", Reduction::none}};
  // cross_entropy with class-index labels (the ints); -100 marks an ignored label.
  auto ce = [](Reduction r, bool weighted, float smoothing) {
    return [=](const std::vector<Var>& in, const RefCase& c) {
      CrossEntropyOptions o;
      if (weighted) o.weight = c.weight_vector();
      o.ignore_index = -100;
      o.label_smoothing = smoothing;
      o.reduction = r;
      return tg::cross_entropy(in.at(0), c.ints, o);
    };
  };
  // cross_entropy against class probabilities (the target), classes in dimension 1.
  auto soft_ce = [](Reduction r, bool weighted, float smoothing) {
    return [=](const std::vector<Var>& in, const RefCase& c) {
      CrossEntropyOptions o;
      if (weighted) o.weight = c.weight_vector();
      o.label_smoothing = smoothing;
      o.reduction = r;
      return tg::cross_entropy(in.at(0), c.target_tensor(), o);
    };
  };
  for (const auto& [tag, r] : reductions) {
    const std::string s = tag;
    ops["cross_entropy_" + s] = ce(r, false, 0.0f);
    ops["cross_entropy_weight_" + s] = ce(r, true, 0.0f);
    ops["cross_entropy_ignore_" + s] = ce(r, false, 0.0f);
    ops["cross_entropy_smoothing_" + s] = ce(r, false, 0.1f);
    ops["softmax_cross_entropy_labels_" + s] = [r = r](auto& in, auto& c) {
      return tg::softmax_cross_entropy(in.at(0),
                                       std::vector<std::int32_t>(c.ints.begin(), c.ints.end()), r);
    };
    ops["cross_entropy_probs_" + s] = [r = r](auto& in, auto& c) {
      return tg::softmax_cross_entropy(in.at(0), c.target_tensor(), r);
    };
    ops["categorical_cross_entropy_" + s] = [r = r](auto& in, auto& c) {
      return tg::categorical_cross_entropy(in.at(0), c.target_tensor(), r);
    };
    ops["bce_with_logits_" + s] = [r = r](auto& in, auto& c) {
      return tg::binary_cross_entropy_with_logits(in.at(0), c.target_tensor(), r, nullptr);
    };
    ops["bce_with_logits_pos_weight_" + s] = [r = r](auto& in, auto& c) {
      return tg::binary_cross_entropy_with_logits(in.at(0), c.target_tensor(), r,
                                                  &c.weight_tensor());
    };
    ops["bce_" + s] = [r = r](auto& in, auto& c) {
      return tg::binary_cross_entropy(in.at(0), c.target_tensor(), r);
    };
    ops["mse_" + s] = [r = r](auto& in, auto& c) {
      return tg::mse(in.at(0), c.target_tensor(), r);
    };
    ops["mae_" + s] = [r = r](auto& in, auto& c) {
      return tg::mae(in.at(0), c.target_tensor(), r);
    };
    for (const auto& [dtag, delta] : {std::pair<const char*, float>{"1", 1.0f}, {"0_5", 0.5f}}) {
      const std::string d = dtag;
      ops["huber_" + d + "_" + s] = [r = r, delta = delta](auto& in, auto& c) {
        return tg::huber_loss(in.at(0), c.target_tensor(), r, delta);
      };
      ops["smooth_l1_" + d + "_" + s] = [r = r, delta = delta](auto& in, auto& c) {
        return tg::smooth_l1_loss(in.at(0), c.target_tensor(), r, delta);
      };
    }
    if (r != Reduction::none) {
      ops["cross_entropy_all_" + s] = ce(r, true, 0.1f);
      ops["rmse_" + s] = [r = r](auto& in, auto& c) {
        return tg::rmse(in.at(0), c.target_tensor(), r);
      };
    }
  }
  ops["cross_entropy_nchw_mean"] = ce(Reduction::mean, false, 0.0f);
  ops["cross_entropy_nchw_none"] = ce(Reduction::none, false, 0.0f);
  ops["cross_entropy_nchw_all_mean"] = ce(Reduction::mean, true, 0.1f);
  ops["cross_entropy_one_sample"] = ce(Reduction::mean, false, 0.0f);
  ops["cross_entropy_soft_mean"] = soft_ce(Reduction::mean, false, 0.0f);
  ops["cross_entropy_soft_none"] = soft_ce(Reduction::none, false, 0.0f);
  ops["cross_entropy_soft_all_mean"] = soft_ce(Reduction::mean, true, 0.1f);
  ops["cross_entropy_soft_all_sum"] = soft_ce(Reduction::sum, true, 0.1f);
  ops["cross_entropy_soft_all_none"] = soft_ce(Reduction::none, true, 0.1f);
  ops["cross_entropy_soft_nchw_mean"] = soft_ce(Reduction::mean, true, 0.1f);
  ops["bce_with_logits_pos_weight_nchw_mean"] = [](auto& in, auto& c) {
    return tg::binary_cross_entropy_with_logits(in.at(0), c.target_tensor(), Reduction::mean,
                                                &c.weight_tensor());
  };
  ops["mse_nchw_mean"] = [](auto& in, auto& c) {
    return tg::mse(in.at(0), c.target_tensor(), Reduction::mean);
  };
  const std::pair<const char*, Reduction> kl_reductions[] = {{"batchmean", Reduction::batchmean},
                                                             {"sum", Reduction::sum},
                                                             {"mean", Reduction::mean},
                                                             {"none", Reduction::none}};
  for (const auto& [tag, r] : kl_reductions) {
    const std::string s = tag;
    ops["kl_div_" + s] = [r = r](auto& in, auto& c) {
      return tg::kl_div(in.at(0), c.target_tensor(), r, false);
    };
    ops["kl_div_log_target_" + s] = [r = r](auto& in, auto& c) {
      return tg::kl_div(in.at(0), c.target_tensor(), r, true);
    };
  }
  return ops;
}

Ops conv_ops() {
  Ops ops;
  // Inputs: x, weight and (when the case has one) bias.
  auto conv2d_case = [](Conv2dOptions o) {
    return [o](const std::vector<Var>& in, const RefCase&) {
      return in.size() == 3 ? tg::conv2d(in.at(0), in.at(1), in.at(2), o)
                            : tg::conv2d(in.at(0), in.at(1), o);
    };
  };
  auto conv1d_case = [](Conv1dOptions o) {
    return [o](const std::vector<Var>& in, const RefCase&) {
      return in.size() == 3 ? tg::conv1d(in.at(0), in.at(1), in.at(2), o)
                            : tg::conv1d(in.at(0), in.at(1), o);
    };
  };
  ops["conv2d"] = conv2d_case({});
  ops["conv2d_stride_padding"] = conv2d_case({.stride = 2, .padding = 1});
  ops["conv2d_asymmetric"] = conv2d_case({.stride = {1, 2}, .padding = {2, 1}});
  ops["conv2d_dilation"] = conv2d_case({.padding = 1, .dilation = 2});
  ops["conv2d_groups"] = conv2d_case({.groups = 2});
  ops["conv2d_no_bias"] = conv2d_case({});
  ops["conv2d_all_options"] = conv2d_case({.stride = 2, .padding = 1, .dilation = 2, .groups = 2});
  ops["conv1d"] = conv1d_case({});
  ops["conv1d_all_options"] = conv1d_case({.stride = 2, .padding = 1, .dilation = 2, .groups = 2});
  ops["conv1d_no_bias"] = conv1d_case({});
  ops["max_pool2d"] = [](auto& in, auto&) { return tg::max_pool2d(in.at(0), 2); };
  ops["max_pool2d_stride_padding"] = [](auto& in, auto&) {
    return tg::max_pool2d(in.at(0), 3, 2, 1);
  };
  ops["max_pool2d_rect"] = [](auto& in, auto&) { return tg::max_pool2d(in.at(0), {2, 3}, 1); };
  ops["avg_pool2d"] = [](auto& in, auto&) { return tg::avg_pool2d(in.at(0), 2); };
  ops["avg_pool2d_stride_padding"] = [](auto& in, auto&) {
    return tg::avg_pool2d(in.at(0), 3, 2, 1);
  };
  ops["adaptive_avg_pool2d"] = [](auto& in, auto&) {
    return tg::adaptive_avg_pool2d(in.at(0), {3, 4});
  };
  ops["adaptive_avg_pool2d_global"] = [](auto& in, auto&) {
    return tg::adaptive_avg_pool2d(in.at(0), 1);
  };
  return ops;
}

const std::map<std::string, Ops>& families() {
  static const std::map<std::string, Ops> all = {{"Arith", arith_ops()},
                                                 {"Reduce", reduce_ops()},
                                                 {"Shape", shape_ops()},
                                                 {"Linalg", linalg_ops()},
                                                 {"Activation", activation_ops()},
                                                 {"Normalization", normalization_ops()},
                                                 {"Loss", loss_ops()},
                                                 {"Conv", conv_ops()}};
  return all;
}

// ---- comparing ----

// A rank-0 reference matches a 1x1 tapegrad result (see the top of the file).
bool same_shape(const Tensor& ours, const Tensor& ref) {
  if (shape_of(ours) == shape_of(ref)) return true;
  return ref.dimension() == 0 && ours.dimension() <= 2 && ours.size() == 1;
}

// "" when `ours` matches `ref` in shape and every element within tolerance; else what differs.
// `used` becomes the largest fraction of the tolerance any element used (1 = at the limit).
std::string compare(const std::string& what, const Tensor& ours, const Tensor& ref, double& used) {
  std::ostringstream msg;
  msg.precision(9);
  if (!same_shape(ours, ref)) {
    msg << what << ": shape " << shape_str(ours) << ", PyTorch " << shape_str(ref);
    return msg.str();
  }
  std::size_t bad = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double a = ours.data()[i], b = ref.data()[i];
    const double err = std::fabs(a - b);
    const double tolerance = kAbsTolerance + kRelTolerance * std::fabs(b);
    used = std::isnan(err) ? err : std::max(used, err / tolerance);
    if (err <= tolerance) continue;  // false for NaN
    worst = std::isnan(err) ? err : std::max(worst, err);
    if (bad++ < 6)
      msg << "\n    element " << i << ": tapegrad " << a << ", PyTorch " << b << " (diff " << a - b
          << ")";
  }
  if (bad == 0) return "";
  std::ostringstream head;
  head << what << ": " << bad << " of " << ref.size() << " elements differ, largest |diff| "
       << worst;
  return head.str() + msg.str();
}

// Records case `c` with `fn` on a fresh tape, checks the output, backpropagates the seed and
// checks every input's gradient. Returns every difference found ("" when it all matches).
std::string run_case(const RefCase& c, const OpFn& fn, double& used) {
  std::string failures;
  auto note = [&](const std::string& s) {
    if (!s.empty()) failures += "\n  " + s;
  };
  try {
    Tape t;
    std::vector<Var> in;
    for (const Tensor& x : c.inputs) in.push_back(t.variable(x));
    const Var out = fn(in, c);
    note(compare("output", out.value(), c.output, used));
    if (!same_shape(out.value(), c.output)) return failures;
    Tensor seed = c.seed;
    if (seed.dimension() == 0) seed = tensor(out.sizes(), {c.seed.data()[0]});
    t.backward(out, seed);
    for (std::size_t k = 0; k < in.size(); ++k)
      note(compare("grad of input " + std::to_string(k) + " (" + shape_str(c.inputs[k]) + ")",
                   in[k].grad(), c.grads.at(k), used));
  } catch (const std::exception& e) {
    note(std::string("threw: ") + e.what());
  }
  return failures;
}

// Runs every case of `family` in the fixture and expects each to match.
void run_family(const std::string& family) {
  const Ops& ops = families().at(family);
  std::size_t ran = 0;
  std::vector<std::string> failed;
  double worst = 0.0;
  std::string worst_case;
  for (const RefCase& c : fixture()) {
    const auto it = ops.find(c.name);
    if (it == ops.end()) continue;  // another family's (coverage is checked on its own)
    ++ran;
    double used = 0.0;
    const std::string failures = run_case(c, it->second, used);
    if (!std::isnan(worst) && !(used <= worst)) {  // a NaN is the worst
      worst = used;
      worst_case = c.name;
    }
    EXPECT_TRUE(failures.empty()) << "case " << c.name << " (op_reference.txt:" << c.line
                                  << ") disagrees with PyTorch:" << failures;
    if (!failures.empty()) failed.push_back(c.name);
  }
  EXPECT_EQ(ran, ops.size()) << family << ": some lambdas have no case in the fixture";
  std::string list;
  for (const std::string& name : failed) list += " " + name;
  std::printf("    %s: %zu of %zu cases match PyTorch%s%s\n", family.c_str(), ran - failed.size(),
              ran, failed.empty() ? "" : "; failing:", list.c_str());
  if (!worst_case.empty())
    std::printf("    %s: closest to the tolerance: %s, at %.3g of it\n", family.c_str(),
                worst_case.c_str(), worst);
  else
    std::printf("    %s: every value bit-identical to the rounded reference\n", family.c_str());
}

}  // namespace

TEST(OpReference, FixtureParsesAndEveryCaseHasALambdaAndEveryLambdaACase) {
  const std::vector<RefCase>& cases = fixture();
  EXPECT_GE(cases.size(), 150u);
  std::set<std::string> in_fixture;
  for (const RefCase& c : cases) {
    EXPECT_TRUE(in_fixture.insert(c.name).second) << "case " << c.name << " appears twice";
    EXPECT_EQ(c.seed.size(), c.output.size()) << c.name;
    for (std::size_t k = 0; k < c.inputs.size(); ++k)
      EXPECT_EQ(shape_of(c.grads[k]), shape_of(c.inputs[k])) << c.name << " grad " << k;
  }
  std::set<std::string> with_lambda;
  for (const auto& [family, ops] : families())
    for (const auto& [name, fn] : ops)
      EXPECT_TRUE(with_lambda.insert(name).second)
          << "case " << name << " has lambdas in two families (" << family << ")";
  for (const std::string& name : in_fixture)
    EXPECT_TRUE(with_lambda.count(name)) << "fixture case " << name << " has no lambda";
  for (const std::string& name : with_lambda)
    EXPECT_TRUE(in_fixture.count(name)) << "lambda " << name << " has no case in the fixture";
}

TEST(OpReference, Arith) {
  run_family("Arith");
}
TEST(OpReference, Reduce) {
  run_family("Reduce");
}
TEST(OpReference, Shape) {
  run_family("Shape");
}
TEST(OpReference, Linalg) {
  run_family("Linalg");
}
TEST(OpReference, Activation) {
  run_family("Activation");
}
TEST(OpReference, Normalization) {
  run_family("Normalization");
}
TEST(OpReference, Loss) {
  run_family("Loss");
}
TEST(OpReference, Conv) {
  run_family("Conv");
}
