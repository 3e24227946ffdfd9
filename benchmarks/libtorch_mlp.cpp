// tapegrad-libtorch-mlp-bench: the libtorch C++ side of benchmarks/epoch_vs_pytorch.
//
// The same problem as tapegrad_epoch_bench and benchmarks/torch_mlp.py, written against
// libtorch's C++ frontend (Debian libtorch-dev 1.13.1): a 784-h1-...-10 ReLU MLP of
// torch::nn::Linear with He-normal weights (kaiming_normal_, fan_in, ReLU gain) and zero biases,
// torch::optim::Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8), softmax cross-entropy (mean over the
// batch), a fresh shuffle every epoch, the last partial batch kept. Pixels scaled to [0, 1] and
// standardised with the training set's mean and standard deviation; the whole data set is
// preloaded as float tensors before any timing. Only the training loop is timed; the test-set
// evaluation after each epoch is not. Prints the same JSON as tapegrad_epoch_bench.
//
//   build/tapegrad-libtorch-mlp-bench --epochs 3 --batch 64 --threads 1 --blas-threads 2
//
// --threads is torch::set_num_threads (intra-op pool). The products inside Linear go to
// Debian's OpenBLAS, whose thread count is fixed when the library loads: --blas-threads sets
// OPENBLAS_NUM_THREADS and re-executes the program when the environment differs.
#include <torch/torch.h>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

double now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// An unsigned-byte IDX file as a uint8 tensor of its dimensions; every size is checked against
// the file's length before the tensor is made.
torch::Tensor read_idx(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open (run scripts/setup for MNIST)");
  const std::vector<unsigned char> raw((std::istreambuf_iterator<char>(in)),
                                       std::istreambuf_iterator<char>());
  if (raw.size() < 4 || raw[0] != 0 || raw[1] != 0 || raw[2] != 0x08 || raw[3] == 0 || raw[3] > 4)
    throw std::runtime_error(path + ": byte 0: not an unsigned-byte IDX file of 1-4 dimensions");
  const std::size_t ndim = raw[3];
  if (raw.size() < 4 + 4 * ndim) throw std::runtime_error(path + ": byte 4: header cut short");
  std::vector<std::int64_t> dims;
  std::uint64_t count = 1;
  for (std::size_t d = 0; d < ndim; ++d) {
    const unsigned char* p = raw.data() + 4 + 4 * d;
    const std::uint64_t n = (std::uint64_t{p[0]} << 24) | (std::uint64_t{p[1]} << 16) |
                            (std::uint64_t{p[2]} << 8) | std::uint64_t{p[3]};
    count *= n;
    if (count > raw.size())
      throw std::runtime_error(path + ": byte " + std::to_string(4 + 4 * d) +
                               ": dimensions exceed the file's " + std::to_string(raw.size()) +
                               " bytes");
    dims.push_back(static_cast<std::int64_t>(n));
  }
  const std::size_t offset = 4 + 4 * ndim;
  if (raw.size() - offset != count)
    throw std::runtime_error(path + ": " + std::to_string(raw.size() - offset) +
                             " data bytes but the header says " + std::to_string(count));
  torch::Tensor t = torch::empty(dims, torch::kUInt8);
  std::copy(raw.begin() + static_cast<std::ptrdiff_t>(offset), raw.end(), t.data_ptr<uint8_t>());
  return t;
}

struct Data {
  torch::Tensor x_train, y_train, x_test, y_test;
};

Data load(const std::string& folder, std::int64_t train_limit) {
  Data d;
  d.x_train =
      read_idx(folder + "/train-images-idx3-ubyte").reshape({-1, 784}).to(torch::kFloat) / 255.0;
  d.y_train = read_idx(folder + "/train-labels-idx1-ubyte").to(torch::kLong);
  d.x_test =
      read_idx(folder + "/t10k-images-idx3-ubyte").reshape({-1, 784}).to(torch::kFloat) / 255.0;
  d.y_test = read_idx(folder + "/t10k-labels-idx1-ubyte").to(torch::kLong);
  if (d.x_train.size(0) != d.y_train.size(0) || d.x_test.size(0) != d.y_test.size(0))
    throw std::runtime_error(folder + ": image and label counts differ");
  const torch::Tensor mean = d.x_train.mean(), std = d.x_train.std(/*unbiased=*/false);
  d.x_train = ((d.x_train - mean) / std).contiguous();
  d.x_test = ((d.x_test - mean) / std).contiguous();
  if (train_limit > 0 && train_limit < d.x_train.size(0)) {
    d.x_train = d.x_train.slice(0, 0, train_limit).contiguous();
    d.y_train = d.y_train.slice(0, 0, train_limit).contiguous();
  }
  return d;
}

torch::nn::Sequential build(const std::vector<std::int64_t>& hidden) {
  torch::nn::Sequential model;
  std::int64_t width = 784;
  for (std::int64_t h : hidden) {
    model->push_back(torch::nn::Linear(width, h));
    model->push_back(torch::nn::ReLU());
    width = h;
  }
  model->push_back(torch::nn::Linear(width, 10));
  torch::NoGradGuard no_grad;
  for (auto& module : model->modules(/*include_self=*/false))
    if (auto* linear = module->as<torch::nn::Linear>()) {
      torch::nn::init::kaiming_normal_(linear->weight, 0.0, torch::kFanIn, torch::kReLU);
      torch::nn::init::zeros_(linear->bias);
    }
  return model;
}

std::vector<std::int64_t> parse_hidden(const std::string& text) {
  std::vector<std::int64_t> sizes;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    std::size_t used = 0;
    const long long n = std::stoll(item, &used);
    if (used != item.size() || n <= 0 || n > 65536)
      throw std::invalid_argument("--hidden: '" + item + "' is not a width in 1..65536");
    sizes.push_back(n);
  }
  if (sizes.empty()) throw std::invalid_argument("--hidden: no widths in '" + text + "'");
  return sizes;
}

long long parse_int(const std::string& flag, const char* text, long long lo, long long hi) {
  char* end = nullptr;
  const long long n = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || n < lo || n > hi)
    throw std::invalid_argument(flag + ": '" + text + "' is not an integer in " +
                                std::to_string(lo) + ".." + std::to_string(hi));
  return n;
}

int usage() {
  std::fprintf(stderr,
               "usage: tapegrad-libtorch-mlp-bench [--data DIR] [--epochs N] [--batch B]\n"
               "         [--hidden 256,128] [--threads T] [--blas-threads B]\n"
               "         [--flush-denormal on|off] [--seed S] [--train-limit N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data = "data/mnist", hidden_text = "256,128", flush = "on";
  long long epochs = 3, batch = 64, threads = 1, blas_threads = 0, seed = 0, train_limit = 0;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (i + 1 >= argc) return usage();
      const char* v = argv[++i];
      if (a == "--data")
        data = v;
      else if (a == "--epochs")
        epochs = parse_int(a, v, 1, 1000);
      else if (a == "--batch")
        batch = parse_int(a, v, 1, 1 << 20);
      else if (a == "--hidden")
        hidden_text = v;
      else if (a == "--threads")
        threads = parse_int(a, v, 1, 256);
      else if (a == "--blas-threads")
        blas_threads = parse_int(a, v, 1, 256);
      else if (a == "--flush-denormal" && (std::string(v) == "on" || std::string(v) == "off"))
        flush = v;
      else if (a == "--seed")
        seed = parse_int(a, v, 0, (1LL << 62));
      else if (a == "--train-limit")
        train_limit = parse_int(a, v, 0, 1LL << 40);
      else
        return usage();
    }
    const std::vector<std::int64_t> hidden = parse_hidden(hidden_text);

    if (blas_threads > 0) {
      // OpenBLAS reads its thread count once, when it loads: re-execute with it set.
      const std::string want = std::to_string(blas_threads);
      const char* have = std::getenv("OPENBLAS_NUM_THREADS");
      if (!have || want != have) {
        setenv("OPENBLAS_NUM_THREADS", want.c_str(), 1);
        execv("/proc/self/exe", argv);
        throw std::runtime_error("cannot re-execute /proc/self/exe to set OPENBLAS_NUM_THREADS");
      }
    }

    torch::set_num_threads(static_cast<int>(threads));
    at::globalContext().setFlushDenormal(flush == "on");
    torch::manual_seed(static_cast<std::uint64_t>(seed));
    const Data d = load(data, train_limit);
    torch::nn::Sequential model = build(hidden);
    torch::optim::Adam optimizer(
        model->parameters(),
        torch::optim::AdamOptions(1e-3).betas(std::make_tuple(0.9, 0.999)).eps(1e-8));
    std::vector<torch::Tensor> params = model->parameters();
    const std::int64_t n = d.x_train.size(0);

    std::string epochs_json;
    double last_accuracy = 0.0;
    for (long long epoch = 0; epoch < epochs; ++epoch) {
      model->train();
      const double start = now();
      const torch::Tensor order = torch::randperm(n, torch::kLong);
      torch::Tensor loss_sum = torch::zeros({});
      std::int64_t correct = 0;
      for (std::int64_t lo = 0; lo < n; lo += batch) {
        const torch::Tensor idx = order.slice(0, lo, std::min<std::int64_t>(n, lo + batch));
        const torch::Tensor xb = d.x_train.index_select(0, idx);
        const torch::Tensor yb = d.y_train.index_select(0, idx);
        // zero_grad(set_to_none=True) as torch_mlp.py; 1.13's C++ zero_grad() only zeroes.
        for (torch::Tensor& p : params) p.mutable_grad().reset();
        const torch::Tensor out = model->forward(xb);
        const torch::Tensor loss = torch::nn::functional::cross_entropy(out, yb);
        loss.backward();
        optimizer.step();
        torch::NoGradGuard no_grad;  // the same per-batch bookkeeping as tg::fit
        loss_sum += loss.detach() * yb.size(0);
        correct += out.argmax(1).eq(yb).sum().item<std::int64_t>();
      }
      const double seconds = now() - start;
      model->eval();
      torch::NoGradGuard no_grad;  // not timed
      std::vector<torch::Tensor> parts;
      for (std::int64_t i = 0; i < d.x_test.size(0); i += 1000)
        parts.push_back(model->forward(d.x_test.slice(0, i, i + 1000)));
      const torch::Tensor test_out = torch::cat(parts);
      const double test_loss =
          torch::nn::functional::cross_entropy(test_out, d.y_test).item<double>();
      last_accuracy = test_out.argmax(1).eq(d.y_test).to(torch::kDouble).mean().item<double>();
      char line[400];
      std::snprintf(line, sizeof line,
                    "%s\n    {\"epoch\": %lld, \"train_seconds\": %.6f, \"samples_per_second\": "
                    "%.1f, \"train_loss\": %.6f, \"train_accuracy\": %.6f, \"test_loss\": %.6f, "
                    "\"test_accuracy\": %.6f}",
                    epoch ? "," : "", epoch + 1, seconds, static_cast<double>(n) / seconds,
                    loss_sum.item<double>() / static_cast<double>(n),
                    static_cast<double>(correct) / static_cast<double>(n), test_loss,
                    last_accuracy);
      epochs_json += line;
      std::fprintf(stderr, "libtorch epoch %lld/%lld: %.2f s, test accuracy %.4f\n", epoch + 1,
                   epochs, seconds, last_accuracy);
    }
    const char* blas_env = std::getenv("OPENBLAS_NUM_THREADS");
    std::printf(
        "{\n  \"library\": \"libtorch\",\n  \"torch_version\": \"%d.%d.%d\",\n"
        "  \"config\": {\"batch\": %lld, \"hidden\": \"%s\", \"threads\": %d, "
        "\"openblas_num_threads\": \"%s\", \"flush_denormal\": \"%s\", \"epochs\": %lld, "
        "\"seed\": %lld, \"train_samples\": %lld},\n  \"epochs\": [%s\n  ],\n"
        "  \"test_accuracy\": %.6f\n}\n",
        TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH, batch, hidden_text.c_str(),
        torch::get_num_threads(), blas_env ? blas_env : "", flush.c_str(), epochs, seed,
        static_cast<long long>(n), epochs_json.c_str(), last_accuracy);
  } catch (const std::exception& e) {
    // c10::Error's what() carries a backtrace over many lines: keep its first.
    std::string message = e.what();
    message = message.substr(0, message.find('\n'));
    std::fprintf(stderr, "tapegrad-libtorch-mlp-bench: %s\n", message.c_str());
    return 1;
  }
  return 0;
}
