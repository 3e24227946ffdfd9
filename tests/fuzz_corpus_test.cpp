// The fuzzers' seed corpus and every input they ever crashed on, replayed in the normal suite:
// fuzz/corpus/<target>/valid_* must load, every other seed must be refused with a tg::Error,
// and fuzz/regressions/<target>/* (inputs that once crashed a target) must load or be refused
// with a tg::Error, nothing else.
#include "tapegrad/tapegrad.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace tg;
namespace fs = std::filesystem;

namespace {

const fs::path kFuzz = fs::path(TAPEGRAD_SOURCE_DIR) / "fuzz";

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// "loaded", "tg::Error: ..." or "other exception: ..."
std::string outcome(const std::function<void()>& f) {
  try {
    f();
    return "loaded";
  } catch (const Error& e) {
    return std::string("tg::Error: ") + e.what();
  } catch (const std::exception& e) {
    return std::string("other exception: ") + e.what();
  }
}

std::string load_checkpoint_file(const fs::path& p) {
  return outcome([&] { load_checkpoint(p.string()); });
}

// Loads as images and as labels (through the file reader, so gzip seeds count too); "loaded" if
// either kind loads.
std::string load_idx_file(const fs::path& p) {
  const std::string images = outcome([&] { read_idx_images(p.string()); });
  const std::string labels = outcome([&] { read_idx_labels(p.string()); });
  if (images == "loaded" || labels == "loaded") return "loaded";
  return starts_with(images, "tg::Error") ? labels : images;
}

void check_seeds(const std::string& target,
                 const std::function<std::string(const fs::path&)>& load) {
  const auto seeds = files_in(kFuzz / "corpus" / target);
  ASSERT_GE(seeds.size(), 5u) << "no seed corpus in " << (kFuzz / "corpus" / target);
  for (const auto& p : seeds) {
    const std::string got = load(p);
    if (starts_with(p.filename().string(), "valid_"))
      EXPECT_EQ(got, "loaded") << p;
    else
      EXPECT_TRUE(starts_with(got, "tg::Error: ")) << p << ": " << got;
  }
}

void check_regressions(const std::string& target,
                       const std::function<std::string(const fs::path&)>& load) {
  for (const auto& p : files_in(kFuzz / "regressions" / target)) {
    const std::string got = load(p);
    EXPECT_TRUE(got == "loaded" || starts_with(got, "tg::Error: ")) << p << ": " << got;
  }
}

}  // namespace

TEST(FuzzCorpus, ValidCheckpointSeedsLoadAndEveryDefectiveOneIsATgError) {
  check_seeds("checkpoint_fuzz", load_checkpoint_file);
}

TEST(FuzzCorpus, ValidIdxSeedsLoadAndEveryDefectiveOneIsATgError) {
  check_seeds("idx_fuzz", load_idx_file);
}

TEST(FuzzCorpus, InputsThatOnceCrashedAFuzzerLoadOrFailWithATgError) {
  check_regressions("checkpoint_fuzz", load_checkpoint_file);
  check_regressions("idx_fuzz", load_idx_file);
}

// ---- the CSV reader (fuzz/csv_fuzz.cpp): seeds and regressions read by read_csv's defaults ----
#include "tapegrad/data/csv.hpp"

namespace {

std::string load_csv_file(const fs::path& p) {
  return outcome([&] { read_csv(p.string()); });
}

}  // namespace

TEST(FuzzCorpus, ValidCsvSeedsLoadAndEveryDefectiveOneIsATgError) {
  check_seeds("csv_fuzz", load_csv_file);
  check_regressions("csv_fuzz", load_csv_file);
}

// ---- model files (fuzz/model_fuzz.cpp): seeds and regressions through tg::load_model; a valid
// seed must also predict N x outputs for inputs of its input shape ----
#include "tapegrad/io/model_file.hpp"

namespace {

// A model file's tg::Error must also be one line (its names may hold any control byte).
std::string load_model_file(const fs::path& p) {
  const std::string got = outcome([&] {
    LoadedModel m = load_model(p.string());
    Shape shape = m.info.input_shape();
    shape.insert(shape.begin(), 2);
    const Tensor y = predict(m, zeros(shape));  // zeros: valid indices for an Embedding too
    const Shape out = m.module->output_shape(m.info.input_shape());
    if (y.dimension() != 2 || y.shape(0) != 2 || y.shape(1) != out.at(0))
      throw std::runtime_error("predict gave " + shape_str(y) + " for 2 samples");
  });
  return got.find('\n') == std::string::npos ? got : "a message of several lines: " + got;
}

}  // namespace

TEST(FuzzCorpus, ValidModelSeedsLoadAndPredictAndEveryDefectiveOneIsATgError) {
  check_seeds("model_fuzz", load_model_file);
  check_regressions("model_fuzz", load_model_file);
}
