// tapegrad-csv's work: read, split, standardise, train, report.
#pragma once

#include "options.hpp"

namespace tapegrad_csv {

// Runs the whole program: per-epoch lines on stderr, the results on stdout with test_r2= or
// test_accuracy= as the last line. Throws tg::Error on bad input or options.
void train_csv(const Options& options);

}  // namespace tapegrad_csv
