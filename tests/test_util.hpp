// Helpers shared by the tests.
#pragma once

#include "tapegrad/tapegrad.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <string>
#include <vector>

namespace tg::test {

// Uniform values in [lo, hi], reproducible (splitmix64). With min_magnitude > 0, values are
// pushed at least that far from 0, so a central difference never straddles a kink at 0.
inline Tensor random_tensor(std::size_t r, std::size_t c, std::uint64_t seed, float lo = -2.0f,
                            float hi = 2.0f, float min_magnitude = 0.0f) {
  Tensor t = zeros(r, c);
  std::uint64_t s = seed * 0x2545F4914F6CDD1Dull + 0x9E3779B97F4A7C15ull;
  for (float& v : t) {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const double u = static_cast<double>(z >> 11) / 9007199254740992.0;
    v = static_cast<float>(lo + (hi - lo) * u);
    if (std::fabs(v) < min_magnitude) v = v < 0 ? -min_magnitude - std::fabs(v) : min_magnitude + v;
  }
  return t;
}

// random_tensor's values in any shape, rank 0 included.
inline Tensor random_nd(const Shape& shape, std::uint64_t seed, float lo = -2.0f, float hi = 2.0f,
                        float min_magnitude = 0.0f) {
  const Tensor flat = random_tensor(1, element_count(shape), seed, lo, hi, min_magnitude);
  return tensor(shape, std::vector<float>(flat.begin(), flat.end()));
}

// 0, 1, 2, ... in row-major order: x[i][j][k] of a 2x3x4 is 12i + 4j + k.
inline Tensor iota(const Shape& shape) {
  std::vector<float> v(element_count(shape));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return tensor(shape, v);
}

// The message of the tg::Error that f throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// n random 28x28 byte images with labels 0-9: MNIST's shapes without its content.
inline Dataset random_digit_images(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  Dataset d;
  d.name = "random digits";
  d.image_rows = d.image_cols = 28;
  for (std::size_t i = 0; i < n * 784; ++i)
    d.pixels.push_back(static_cast<std::uint8_t>(rng.below(256)));
  for (std::size_t i = 0; i < n; ++i) d.labels.push_back(static_cast<std::int32_t>(rng.below(10)));
  return d;
}

// Runs f, expects a tg::Error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no tg::Error thrown; expected one mentioning '" << *parts.begin() << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
  }
}

// `bad` throws a tg::Error naming every one of `parts`; the tape keeps its size and a later
// backward through it still works.
inline void expect_rejected(const std::function<Var(Var)>& bad, const Tensor& x,
                            std::initializer_list<std::string> parts) {
  Tape tape;
  Var v = tape.variable(x);
  const std::size_t before = tape.size();
  expect_error([&] { bad(v); }, parts);
  EXPECT_EQ(tape.size(), before);
  tape.backward(sum(v));
  for (float g : v.grad()) EXPECT_FLOAT_EQ(g, 1.0f);
}

// The same for an op of two inputs, both recorded before the call.
inline void expect_rejected(const std::function<Var(Var, Var)>& bad, const Tensor& x,
                            const Tensor& y, std::initializer_list<std::string> parts) {
  Tape tape;
  Var v = tape.variable(x);
  Var w = tape.constant(y);
  const std::size_t before = tape.size();
  expect_error([&] { bad(v, w); }, parts);
  EXPECT_EQ(tape.size(), before);
  tape.backward(sum(v));
  for (float g : v.grad()) EXPECT_FLOAT_EQ(g, 1.0f);
}

// A fresh folder under the system's temp directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tapegrad-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path_))
      names.push_back(e.path().filename());
    return names;
  }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The lines between "// README: <name> begin" and "// README: <name> end" of a test source
// (tests/<file>), without the two-space indentation they have inside the test, followed by the
// end of the README's code block: what README.md must contain word for word.
inline std::string readme_snippet(const std::string& file, const std::string& name) {
  const std::string text = read_text(std::string(TAPEGRAD_SOURCE_DIR) + "/tests/" + file);
  const std::string begin = "// README: " + name + " begin\n", end = "// README: " + name + " end";
  const std::size_t a = text.find(begin), b = text.find(end);
  if (a == std::string::npos || b == std::string::npos) return "(markers not found)";
  std::string out;
  std::size_t pos = a + begin.size();
  while (pos < b) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos || eol > b) eol = b;
    const std::string line = text.substr(pos, eol - pos);
    out += (line.rfind("  ", 0) == 0 ? line.substr(2) : line) + "\n";
    pos = eol + 1;
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out + "\n```";
}

}  // namespace tg::test
