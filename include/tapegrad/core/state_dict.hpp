// Named state: what models, optimizers, schedules and RNGs save and load, whatever the file.
#pragma once

#include "tapegrad/core/tensor.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace tg {

// Named state of anything that can be saved (a model, an optimizer, a schedule, an RNG, the
// training progress): tensors plus integer, real and text entries. Names are unique; by
// convention a prefix says who owns the entry ("model.0.weight", "optimizer.step").
struct StateDict {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::int64_t> integers;
  std::map<std::string, double> reals;
  std::map<std::string, std::string> texts;

  // Lookups that throw a tg::Error naming the missing entry (and `context`, e.g. the file).
  const Tensor& tensor(const std::string& name, const std::string& context = {}) const;
  std::int64_t integer(const std::string& name, const std::string& context = {}) const;
  double real(const std::string& name, const std::string& context = {}) const;
  const std::string& text(const std::string& name, const std::string& context = {}) const;
  // Entries whose names start with `prefix`, with the prefix removed.
  StateDict with_prefix_removed(const std::string& prefix) const;
  // Adds every entry of `other` under `prefix`.
  void merge(const StateDict& other, const std::string& prefix);
};

}  // namespace tg
