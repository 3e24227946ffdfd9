// tapegrad-inspect: what is in a checkpoint, and how two checkpoints differ.
#include "tapegrad/tapegrad.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <string>

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
bool diff_tensors(const tg::StateDict& a, const tg::StateDict& b, double tolerance) {
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
  return same;
}

// Wall-clock measurements differ from run to run whatever the weights: "train_seconds",
// "wall_seconds", "samples_per_second".
bool is_timing_key(const std::string& key) {
  auto ends_with = [&](const std::string& tail) {
    return key.size() >= tail.size() &&
           key.compare(key.size() - tail.size(), tail.size(), tail) == 0;
  };
  return ends_with("_seconds") || ends_with("_per_second");
}

// JSON nested at most this deep is compared as JSON; deeper text (which nlohmann would walk
// recursively, possibly off the stack) is compared byte for byte.
constexpr int kMaxJsonDepth = 64;

bool shallow_json(const std::string& text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (const char ch : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (ch == '\\')
        escaped = true;
      else if (ch == '"')
        in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if ((ch == '[' || ch == '{') && ++depth > kMaxJsonDepth) {
      return false;
    } else if (ch == ']' || ch == '}') {
      --depth;
    }
  }
  return true;
}

void drop_timings(nlohmann::json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();)
      it = is_timing_key(it.key()) ? j.erase(it) : std::next(it);
    for (auto& v : j) drop_timings(v);
  } else if (j.is_array()) {
    for (auto& v : j) drop_timings(v);
  }
}

// Texts that are both JSON (a training history) are equal when they are equal without their
// timings; other texts must be equal byte for byte.
bool same_text(const std::string& a, const std::string& b) {
  if (a == b) return true;
  if (!shallow_json(a) || !shallow_json(b)) return false;
  nlohmann::json ja = nlohmann::json::parse(a, nullptr, false);
  nlohmann::json jb = nlohmann::json::parse(b, nullptr, false);
  if (ja.is_discarded() || jb.is_discarded()) return false;
  drop_timings(ja);
  drop_timings(jb);
  return ja == jb;
}

std::string shown(std::string text) {
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  std::replace(text.begin(), text.end(), '\n', ' ');
  return "'" + text + "'";
}

// Integers and texts must be equal, reals within tolerance; only differences are listed.
bool diff_entries(const tg::StateDict& a, const tg::StateDict& b, double tolerance) {
  bool same = true;
  auto only = [&](const std::string& name, const char* kind, const char* where) {
    std::printf("%-36s %s only in the %s file\n", name.c_str(), kind, where);
    same = false;
  };
  for (const auto& [name, va] : a.integers) {
    const auto it = b.integers.find(name);
    if (it == b.integers.end()) {
      only(name, "integer", "first");
    } else if (va != it->second) {
      std::printf("%-36s integer %lld vs %lld  DIFFERENT\n", name.c_str(),
                  static_cast<long long>(va), static_cast<long long>(it->second));
      same = false;
    }
  }
  for (const auto& [name, va] : a.reals) {
    const auto it = b.reals.find(name);
    if (it == b.reals.end()) {
      only(name, "real", "first");
      continue;
    }
    const double d = std::fabs(va - it->second);
    const bool equal = va == it->second || (std::isnan(va) && std::isnan(it->second));
    if (!equal && !(d <= tolerance)) {
      std::printf("%-36s real    %.17g vs %.17g  DIFFERENT\n", name.c_str(), va, it->second);
      same = false;
    }
  }
  for (const auto& [name, va] : a.texts) {
    const auto it = b.texts.find(name);
    if (it == b.texts.end()) {
      only(name, "text", "first");
    } else if (!same_text(va, it->second)) {
      std::printf("%-36s text    %s vs %s  DIFFERENT\n", name.c_str(), shown(va).c_str(),
                  shown(it->second).c_str());
      same = false;
    }
  }
  for (const auto& e : b.integers)
    if (!a.integers.count(e.first)) only(e.first, "integer", "second");
  for (const auto& e : b.reals)
    if (!a.reals.count(e.first)) only(e.first, "real", "second");
  for (const auto& e : b.texts)
    if (!a.texts.count(e.first)) only(e.first, "text", "second");
  if (same)
    std::printf("%zu integer, %zu real and %zu text entries agree (timings in JSON texts aside)\n",
                a.integers.size(), a.reals.size(), a.texts.size());
  return same;
}

}  // namespace

int main(int argc, char** argv) {
  std::string file, other;
  double tolerance = 0.0;
  bool tensors_only = false;
  CLI::App app{"tapegrad-inspect: list a checkpoint's tensors, or compare two checkpoints"};
  app.add_option("file", file, "checkpoint")->required()->check(CLI::ExistingFile);
  app.add_option("--diff", other,
                 "compare with this checkpoint: tensors, integers, reals and texts (timings in a "
                 "JSON text aside); exit 0 when they agree")
      ->check(CLI::ExistingFile);
  app.add_option("--tolerance", tolerance, "largest accepted |a - b| for --diff (default 0)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--tensors-only", tensors_only,
               "with --diff: compare the tensors alone, not the integer, real and text entries");
  CLI11_PARSE(app, argc, argv);
  try {
    const tg::StateDict a = tg::load_checkpoint(file);
    if (other.empty()) {
      print(a);
      return 0;
    }
    const tg::StateDict b = tg::load_checkpoint(other);
    bool same = diff_tensors(a, b, tolerance);
    if (!tensors_only) same = diff_entries(a, b, tolerance) && same;
    std::printf("%s\n", same ? "identical within tolerance" : "different");
    return same ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad-inspect: %s\n", e.what());
    return 2;
  }
}
