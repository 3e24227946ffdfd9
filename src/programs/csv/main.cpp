// tapegrad-csv: trains an MLP on a CSV file (regression or classification) and prints the
// held-out test metrics, test_r2= or test_accuracy= last.
#include "options.hpp"
#include "train_csv.hpp"

#include "tapegrad/core/tensor.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  tapegrad_csv::Options options;
  int exit_code = 0;
  if (!tapegrad_csv::parse_options(argc, argv, options, exit_code)) return exit_code;
  try {
    tapegrad_csv::train_csv(options);
  } catch (const tg::Error& e) {
    std::fprintf(stderr, "tapegrad-csv: %s\n", e.what());
    return 1;
  }
  return 0;
}
