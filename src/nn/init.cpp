#include "tapegrad/nn/init.hpp"

#include <cmath>

namespace tg {

// ---- initializers ----

double init_variance(Init kind, std::size_t fan_in, std::size_t fan_out) {
  const double in = static_cast<double>(fan_in), out = static_cast<double>(fan_out);
  switch (kind) {
    case Init::xavier_uniform:
    case Init::xavier_normal:
      return 2.0 / (in + out);
    case Init::he_uniform:
    case Init::he_normal:
      return 2.0 / in;
    case Init::lecun_uniform:
    case Init::lecun_normal:
      return 1.0 / in;
    case Init::zeros:
    case Init::constant:
      return 0.0;
  }
  return 0.0;
}

Tensor initialize(Init kind, std::size_t r, std::size_t c, Rng& rng, float value) {
  if (kind == Init::zeros) return tg::zeros(r, c);
  if (kind == Init::constant) return full(r, c, value);
  if (r == 0) throw Error(std::string("initialize: ") + init_name(kind) + " needs fan_in > 0");
  Tensor t = zeros(r, c);
  const double variance = init_variance(kind, r, c);
  const bool uniform =
      kind == Init::xavier_uniform || kind == Init::he_uniform || kind == Init::lecun_uniform;
  if (uniform) {
    const float a = static_cast<float>(std::sqrt(3.0 * variance));  // U(-a, a) has variance a^2/3
    for (float& v : t) v = rng.uniform(-a, a);
  } else {
    const float sd = static_cast<float>(std::sqrt(variance));
    for (float& v : t) v = sd * rng.normal();
  }
  return t;
}

const char* init_name(Init kind) {
  switch (kind) {
    case Init::xavier_uniform:
      return "xavier_uniform";
    case Init::xavier_normal:
      return "xavier_normal";
    case Init::he_uniform:
      return "he_uniform";
    case Init::he_normal:
      return "he_normal";
    case Init::lecun_uniform:
      return "lecun_uniform";
    case Init::lecun_normal:
      return "lecun_normal";
    case Init::zeros:
      return "zeros";
    case Init::constant:
      return "constant";
  }
  return "?";
}

Init init_from_name(const std::string& name) {
  if (name == "he") return Init::he_normal;
  if (name == "xavier" || name == "glorot") return Init::xavier_uniform;
  if (name == "lecun") return Init::lecun_normal;
  for (Init k : {Init::xavier_uniform, Init::xavier_normal, Init::he_uniform, Init::he_normal,
                 Init::lecun_uniform, Init::lecun_normal, Init::zeros, Init::constant})
    if (name == init_name(k)) return k;
  throw Error("init: unknown name '" + name +
              "' (known: he, xavier, lecun, or xavier_uniform, xavier_normal, he_uniform, "
              "he_normal, lecun_uniform, lecun_normal, zeros, constant)");
}

}  // namespace tg
