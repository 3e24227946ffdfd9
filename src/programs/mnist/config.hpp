// tapegrad-mnist's settings: what the command line sets, checked as it is read.
#pragma once

#include "models.hpp"

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

namespace CLI {
class App;
}

struct Config {
  std::string data;
  std::string dataset = "mnist";
  int epochs = 5;
  std::size_t batch = 64;
  double lr = 1e-3;
  std::string optimizer = "adam";
  std::string model = "mlp";
  std::string hidden = "256,128";
  std::string activation = "relu";
  std::string init = "he";
  bool batchnorm = false;
  float dropout = 0.0f;
  std::string schedule = "cosine";  // lr annealed to 1% over the run: the last epochs settle
  float clip = 0.0f;
  std::size_t threads = 0;
  std::uint64_t seed = 0;
  std::size_t train_limit = 0;
  std::size_t validation = 5000;  // held out of the training images (seeded); 0 = none
  int early_stopping = 0;         // patience in epochs; 0 = off
  std::string save, resume, eval, out, graph, save_model, export_onnx;
  bool quiet = false;
  bool detect_anomaly = false;
  std::set<std::string> given;  // the options on the command line, e.g. "--hidden"
};

// The limits of the options, which a checkpoint's settings must respect too.
constexpr std::size_t kMaxHiddenLayers = 100;
constexpr int kMaxEpochs = 100000;  // as --epochs
constexpr std::int64_t kMaxBatch = 1 << 20;

// Adds every option of the program to `app`, each with its checks, writing into `c`.
void add_options(CLI::App& app, Config& c);
// Records in c.given the options that `app` found on the command line.
void record_given_options(const CLI::App& app, Config& c);
// Checks --dataset and fills in its default --data folder.
void resolve_data_folder(Config& c);
ModelSpec model_spec(const Config& c);
