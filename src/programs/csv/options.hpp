// tapegrad-csv's command line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tapegrad_csv {

struct Options {
  std::string csv;
  std::string target;   // a column name or index (negative from the end); empty: the last
  std::string targets;  // targets in a separate CSV, row-aligned with --csv
  std::string task = "auto";
  std::string header = "auto";
  std::size_t skip_rows = 0;
  std::vector<std::size_t> hidden{64, 32};
  int epochs = 200;
  double lr = 1e-3;
  std::size_t batch = 32;
  std::uint64_t seed = 0;
  double test_fraction = 0.2;
  double validation_fraction = 0.1;
  int patience = 20;
  std::string baseline;  // "ols": also fit ordinary least squares (regression)
  std::string save_model, export_onnx;
  bool quiet = false;
};

// Parses argv. Returns false when the program should exit with `exit_code` (--help, or a
// usage error already printed).
bool parse_options(int argc, char** argv, Options& options, int& exit_code);

}  // namespace tapegrad_csv
