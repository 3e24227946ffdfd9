// Checks a backward against central differences. Use it on every op and layer you write.
#pragma once

#include "tapegrad/autograd/tape.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tg {

struct GradcheckOptions {
  double epsilon = 1e-2;    // step of the central difference (float forward passes: not too small)
  double tolerance = 1e-2;  // largest accepted relative error per element
  // An element's error is |analytic - numeric| / max(|analytic|, |numeric|, floor), with
  // floor = floor_fraction * (largest |numeric| of that tensor): elements far below the
  // tensor's gradient scale are compared against that scale, not against float noise.
  double floor_fraction = 1e-2;
  // A tensor whose gradients are all below this (analytic and numeric) is "zero everywhere":
  // the check fails, because agreeing zeros prove nothing.
  double zero_threshold = 1e-6;
  std::uint64_t seed = 0;  // for the random projection of non-scalar outputs
};

struct GradcheckResult {
  bool ok = false;
  double max_relative_error = 0.0;
  std::string message;  // what failed, where (tensor, element, both values); or a summary
  explicit operator bool() const { return ok; }
};

// f records a computation on `tape` from the data inputs (given as variables, in order) and
// any of `params`, and returns its output. Non-scalar outputs are reduced to a scalar with a
// fixed random projection, so every output element matters. f must be deterministic.
using GradcheckFunction = std::function<Var(Tape& tape, const std::vector<Var>& inputs)>;

GradcheckResult gradcheck(const GradcheckFunction& f, std::vector<Tensor> inputs,
                          const std::vector<Parameter*>& params = {},
                          const GradcheckOptions& options = {});

}  // namespace tg
