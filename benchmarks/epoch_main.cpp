// tapegrad_epoch_bench: the tapegrad side of benchmarks/epoch_vs_pytorch.
//
// Trains the demo's MLP (784-h1-...-10, ReLU, He-normal init, Adam 1e-3, softmax cross-entropy,
// shuffled batches) with tg::fit exactly as tapegrad-mnist does, but without the demo's extras
// that run inside the timed loop (the per-batch gradient-norm callback behind --out, the
// progress bar) and without its pictures. Prints one JSON object: per-epoch train_seconds
// (tg::fit's own figure: training only, evaluation excluded) and test accuracy.
//
//   OPENBLAS_NUM_THREADS=1 build/tapegrad_epoch_bench --epochs 3 --batch 64 --threads 2
//
// --breakdown N adds one more epoch (untimed by fit, not in "epochs") run by a hand-written
// copy of fit's loop with a clock around each phase: batch assembly, forward + loss, backward,
// zero_grad + optimizer step, bookkeeping, and the time inside GEMMs (gemm_seconds, gemm_share).
// It is reported as "breakdown" (seconds per phase).
#include "tapegrad/tapegrad.hpp"

#include "core/blas.hpp"  // internal: time spent in GEMMs

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

double now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::vector<std::size_t> parse_hidden(const std::string& text) {
  std::vector<std::size_t> sizes;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) sizes.push_back(std::stoul(item));
  return sizes;
}

std::unique_ptr<tg::Sequential> build_model(const std::vector<std::size_t>& hidden,
                                            std::uint64_t seed) {
  tg::Rng rng(seed);
  auto net = std::make_unique<tg::Sequential>();
  std::size_t width = 784;
  for (std::size_t h : hidden) {
    net->add<tg::Dense>(width, h, rng, tg::DenseOptions{true, tg::Init::he_normal});
    net->add<tg::ActivationLayer>(tg::Activation::relu);
    width = h;
  }
  net->add<tg::Dense>(width, 10, rng, tg::DenseOptions{true, tg::Init::he_normal});
  return net;
}

int usage() {
  std::fprintf(
      stderr,
      "usage: tapegrad_epoch_bench [--data DIR] [--epochs N] [--batch B] [--hidden 256,128]\n"
      "                            [--threads T] [--seed S] [--train-limit N] [--breakdown 0|1]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data = "data/mnist", hidden = "256,128";
  int epochs = 3;
  std::size_t batch = 64, threads = 1, train_limit = 0;
  std::uint64_t seed = 0;
  bool breakdown = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    const char* v = argv[++i];
    if (a == "--data")
      data = v;
    else if (a == "--epochs")
      epochs = std::atoi(v);
    else if (a == "--batch")
      batch = std::strtoul(v, nullptr, 10);
    else if (a == "--hidden")
      hidden = v;
    else if (a == "--threads")
      threads = std::strtoul(v, nullptr, 10);
    else if (a == "--seed")
      seed = std::strtoull(v, nullptr, 10);
    else if (a == "--train-limit")
      train_limit = std::strtoul(v, nullptr, 10);
    else if (a == "--breakdown")
      breakdown = std::atoi(v) != 0;
    else
      return usage();
  }
  if (epochs < 1 || batch == 0) return usage();
  try {
    tg::set_num_threads(threads);
    tg::Dataset train = tg::load_mnist(data, "train");
    const tg::Dataset test = tg::load_mnist(data, "test");
    if (train_limit > 0) train = train.take(train_limit);
    auto model = build_model(parse_hidden(hidden), seed);
    tg::Adam optimizer(model->parameters(), tg::AdamOptions{1e-3});
    tg::BatchIterator train_batches(train, batch, true, seed);
    tg::BatchIterator test_batches(test, 256, false, 0);
    tg::FitOptions options;
    options.epochs = epochs;
    options.progress = false;
    options.log_epochs = false;
    const tg::FitResult result = tg::fit(*model, optimizer, train_batches, &test_batches, options);

    std::printf(
        "{\n  \"library\": \"tapegrad\",\n  \"config\": {\"batch\": %zu, \"hidden\": \"%s\", "
        "\"threads\": %zu, \"epochs\": %d, \"seed\": %llu, \"train_samples\": %zu},\n"
        "  \"epochs\": [",
        batch, hidden.c_str(), tg::num_threads(), epochs, static_cast<unsigned long long>(seed),
        train.size());
    for (std::size_t i = 0; i < result.history.size(); ++i) {
      const tg::EpochMetrics& m = result.history[i];
      std::printf(
          "%s\n    {\"epoch\": %d, \"train_seconds\": %.6f, \"samples_per_second\": %.1f, "
          "\"train_loss\": %.6f, \"train_accuracy\": %.6f, \"test_loss\": %.6f, "
          "\"test_accuracy\": %.6f}",
          i ? "," : "", m.epoch + 1, m.train_seconds, m.samples_per_second, m.train_loss,
          m.train_accuracy, m.validation_loss.value_or(0.0), m.validation_accuracy.value_or(0.0));
    }
    std::printf(
        "\n  ],\n  \"test_accuracy\": %.6f",
        result.history.empty() ? 0.0 : result.history.back().validation_accuracy.value_or(0.0));

    if (breakdown) {
      // A copy of tg::fit's inner loop (train.cpp) with a clock around each phase.
      tg::FlushDenormalsScope flush_denormals;
      const std::vector<tg::Parameter*> params = model->parameters();
      tg::Tape tape;
      tg::Batch b;
      double t_data = 0, t_forward = 0, t_backward = 0, t_step = 0, t_book = 0;
      std::size_t steps = 0, correct = 0;
      double loss_sum = 0;
      model->train();
      train_batches.begin_epoch(static_cast<std::uint64_t>(epochs));
      tg::detail::reset_gemm_seconds();
      const double start = now();
      for (;;) {
        double t0 = now();
        if (!train_batches.next(b)) break;
        double t1 = now();
        tape.clear();
        optimizer.zero_grad();
        double t2 = now();
        tg::Var output = (*model)(tape.constant(b.images));
        tg::Var loss = tg::softmax_cross_entropy(output, b.labels);
        double t3 = now();
        tape.backward(loss);
        double t4 = now();
        optimizer.step();
        double t5 = now();
        loss_sum += loss.item() * static_cast<double>(b.labels.size());
        const std::vector<std::int32_t> predicted = tg::argmax_rows(output.value());
        for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == b.labels[i];
        double t6 = now();
        t_data += t1 - t0;
        t_step += (t2 - t1) + (t5 - t4);
        t_forward += t3 - t2;
        t_backward += t4 - t3;
        t_book += t6 - t5;
        ++steps;
      }
      const double total = now() - start;
      std::printf(
          ",\n  \"breakdown\": {\"steps\": %zu, \"total_seconds\": %.6f, \"batch_seconds\": %.6f, "
          "\"forward_loss_seconds\": %.6f, \"backward_seconds\": %.6f, "
          "\"zero_grad_and_step_seconds\": %.6f, \"bookkeeping_seconds\": %.6f, "
          "\"gemm_seconds\": %.6f, \"gemm_share\": %.3f, \"train_accuracy\": %.6f}",
          steps, total, t_data, t_forward, t_backward, t_step, t_book, tg::detail::gemm_seconds(),
          tg::detail::gemm_seconds() / total,
          static_cast<double>(correct) /
              static_cast<double>(std::max<std::size_t>(1, train.size())));
    }
    std::printf("\n}\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad_epoch_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
