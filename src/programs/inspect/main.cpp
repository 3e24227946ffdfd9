// tapegrad-inspect: what is in a checkpoint, and how two checkpoints differ.
#include "tapegrad/tapegrad.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace {

void print(const tg::StateDict& s) {
  std::printf("%-36s %-12s %12s %12s %12s %12s\n", "tensor", "shape", "min", "max", "mean", "std");
  for (const auto& [name, t] : s.tensors) {
    double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0;
    for (float v : t) {
      lo = std::min(lo, static_cast<double>(v));
      hi = std::max(hi, static_cast<double>(v));
      sum += v;
    }
    const double n = static_cast<double>(std::max<std::size_t>(t.size(), 1));
    const double mean = sum / n;
    for (float v : t) sq += (v - mean) * (v - mean);
    std::printf("%-36s %-12s %12.5g %12.5g %12.5g %12.5g\n", name.c_str(), tg::shape_str(t).c_str(),
                lo, hi, mean, std::sqrt(sq / n));
  }
  for (const auto& [name, v] : s.integers)
    std::printf("%-36s integer %lld\n", name.c_str(), static_cast<long long>(v));
  for (const auto& [name, v] : s.reals) std::printf("%-36s real    %.17g\n", name.c_str(), v);
  for (const auto& [name, v] : s.texts) {
    std::string shown = v.size() > 60 ? v.substr(0, 57) + "..." : v;
    std::replace(shown.begin(), shown.end(), '\n', ' ');
    std::printf("%-36s text    %s\n", name.c_str(), shown.c_str());
  }
}

// Largest absolute difference per tensor; true when every one is within tolerance.
bool diff(const tg::StateDict& a, const tg::StateDict& b, double tolerance) {
  bool same = true;
  std::printf("%-36s %14s\n", "tensor", "max |a - b|");
  for (const auto& [name, ta] : a.tensors) {
    auto it = b.tensors.find(name);
    if (it == b.tensors.end()) {
      std::printf("%-36s only in the first file\n", name.c_str());
      same = false;
      continue;
    }
    const tg::Tensor& tb = it->second;
    if (ta.shape() != tb.shape()) {
      std::printf("%-36s shapes differ: %s vs %s\n", name.c_str(), tg::shape_str(ta).c_str(),
                  tg::shape_str(tb).c_str());
      same = false;
      continue;
    }
    double worst = 0;
    for (std::size_t i = 0; i < ta.size(); ++i) {
      const double d = std::fabs(static_cast<double>(ta.data()[i]) - tb.data()[i]);
      worst = std::isnan(d) ? INFINITY : std::max(worst, d);
    }
    std::printf("%-36s %14.6g%s\n", name.c_str(), worst, worst > tolerance ? "  DIFFERENT" : "");
    same = same && worst <= tolerance;
  }
  for (const auto& [name, tb] : b.tensors)
    if (!a.tensors.count(name)) {
      std::printf("%-36s only in the second file\n", name.c_str());
      same = false;
    }
  std::printf("%s\n", same ? "identical within tolerance" : "different");
  return same;
}

}  // namespace

int main(int argc, char** argv) {
  std::string file, other;
  double tolerance = 0.0;
  CLI::App app{"tapegrad-inspect: list a checkpoint's tensors, or compare two checkpoints"};
  app.add_option("file", file, "checkpoint")->required()->check(CLI::ExistingFile);
  app.add_option("--diff", other, "compare with this checkpoint; exit 0 when they agree")
      ->check(CLI::ExistingFile);
  app.add_option("--tolerance", tolerance, "largest accepted |a - b| for --diff (default 0)")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    const tg::StateDict a = tg::load_checkpoint(file);
    if (other.empty()) {
      print(a);
      return 0;
    }
    return diff(a, tg::load_checkpoint(other), tolerance) ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad-inspect: %s\n", e.what());
    return 2;
  }
}
