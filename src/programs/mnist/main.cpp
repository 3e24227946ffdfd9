// tapegrad-mnist: trains a model on real MNIST or Fashion-MNIST and reports how it went. A
// validation split held out of the training images steers early stopping and the plateau
// schedule; the test set is used once, at the end.
//
// How one run reads: config.cpp (the options) -> run.cpp (the steps, in order) -> data.cpp,
// checkpoint_config.cpp and model_checks.cpp (what is loaded and checked first) -> training.cpp
// (tg::fit and what it calls back) -> evaluation.cpp and out_folder.cpp (the results).
#include "config.hpp"
#include "run.hpp"

#include "tapegrad/tapegrad.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  tg::restart_with_single_threaded_blas(argv);
  Config c;
  CLI::App app{"tapegrad-mnist: train a model on MNIST or Fashion-MNIST with tapegrad"};
  add_options(app, c);
  tg::dist::Session mpi(argc, argv);  // MPI_Init under mpirun; nothing otherwise
  CLI11_PARSE(app, argc, argv);
  record_given_options(app, c);
  try {
    return run(c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad-mnist: %s\n", e.what());
    if (tg::dist::size() > 1) tg::dist::abort(1);  // the other ranks would wait forever
    return 1;
  }
}
