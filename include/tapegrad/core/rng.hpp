// Seeded randomness: every random thing in tapegrad takes one of these.
#pragma once

#include "tapegrad/core/tensor.hpp"

#include <array>
#include <cstdint>

namespace tg {

// One step of splitmix64 from state x: a well-mixed 64-bit hash of x (seeds and keys).
std::uint64_t splitmix64(std::uint64_t x);

// xoshiro256** seeded through splitmix64: the same seed gives the same numbers on every
// machine and standard library (unlike std::normal_distribution, whose output differs).
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0);
  std::uint64_t next();                  // 64 random bits
  std::uint64_t below(std::uint64_t n);  // uniform in [0, n), unbiased; n > 0
  float uniform();                       // [0, 1)
  float uniform(float lo, float hi);     // [lo, hi)
  float normal();                        // standard normal (Box-Muller, no caching)
  float normal(float mean, float stddev);
  // A child generator for an independent stream, e.g. one per layer.
  Rng split();

  using State = std::array<std::uint64_t, 4>;
  State state() const { return s_; }
  void set_state(const State& s);  // throws on the all-zero state, which xoshiro cannot leave

 private:
  State s_{};
};

}  // namespace tg
