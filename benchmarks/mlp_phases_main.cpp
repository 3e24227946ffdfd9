// tapegrad-mlp-phases-bench: where one training step of the MNIST MLP spends its time.
//
// Trains the same 784-h1-h2-10 ReLU MLP as tapegrad_epoch_bench (He-normal, Adam 1e-3, softmax
// cross-entropy, shuffled batches, flush-denormal on) with tg::fit's inner loop written out,
// and a clock around every phase: batch assembly, the input's copy onto the tape, zeroing,
// each layer's forward GEMM and bias copy, activation, loss, each backward product (data and
// weight gradients separately), the bias gradient, the rest of tape.backward, the optimizer and
// the bookkeeping. The backward is timed per tape entry by swapping each entry's backward
// function for a timed one; for the dense entries that is a copy of dense_backward (ops/linalg)
// with a clock around each of its products. To show that the copy does exactly the library's
// work, a second model trains on the same batches through the unmodified tape, epochs
// alternating with the instrumented one, and the two models' parameters must stay bit-identical
// (the program fails otherwise); its epoch time is the uninstrumented reference. After a
// warm-up epoch the instrumented epochs alternate between the wall clock and the calling
// thread's CPU clock: on a shared machine wall time includes time spent descheduled.
//
// Then each product's shape alone, hot in cache (median of --reps calls): tapegrad's gemm
// (split over its pool) and one single-threaded cblas_sgemm call; and the peak GFLOP/s (the
// fastest of --reps calls) of one 512^3 cblas_sgemm call (one OpenBLAS thread) and of
// tapegrad's gemm on that size with its threads. Prints one JSON object;
// benchmarks/epoch_vs_pytorch turns it into tables.
//
//   OPENBLAS_NUM_THREADS=1 build/tapegrad-mlp-phases-bench --batch 64 --threads 2 --epochs 3
#include "tapegrad/tapegrad.hpp"

#include "core/blas.hpp"  // internal: gemm (the library's one product) and its GEMM clock

#include <cblas.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

double now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// CPU seconds of the calling thread. On a shared machine a phase's wall time includes the
// time the thread was descheduled; its CPU time does not (one clock read costs ~1 us here).
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// The clock of the phases: now or thread_cpu_seconds, one per measured epoch.
double (*g_clock)() = now;

// CPU seconds of the whole process (all threads): against the wall time it shows how much of
// an epoch the process actually ran on a machine shared with other work.
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

constexpr std::size_t kMaxLayers = 8;

// Seconds per phase, summed over the measured epochs.
struct Phases {
  double batch = 0, input = 0, zero = 0, activation_forward = 0, loss_forward = 0;
  double loss_backward = 0, activation_backward = 0, bias_grad = 0, tape_backward = 0;
  double optimizer = 0, bookkeeping = 0, total = 0;
  double forward_gemm[kMaxLayers] = {}, forward_bias[kMaxLayers] = {};
  double data_gemm[kMaxLayers] = {}, weight_gemm[kMaxLayers] = {};
  std::size_t steps = 0, epochs = 0;
};

// The backward hooks find their phase and layer through these (one instrumented tape at a time).
Phases* g_phases = nullptr;
const tg::Node* g_dense_nodes[kMaxLayers] = {};
tg::BackwardFn g_activation_backward = nullptr, g_loss_backward = nullptr;

std::size_t dense_layer_of(const tg::Node& n) {
  for (std::size_t l = 0; l < kMaxLayers; ++l)
    if (g_dense_nodes[l] == &n) return l;
  throw std::logic_error("phases: a dense entry that the forward did not register");
}

// dense_backward of src/ops/linalg.cpp, the same calls in the same order, each one timed.
void timed_dense_backward(tg::Tape& t, const tg::Node& n) {
  const std::size_t layer = dense_layer_of(n);
  const tg::Tensor& x = t.value_at(n.inputs[0]);
  const tg::Tensor& w = t.value_at(n.inputs[1]);
  const std::size_t m = tg::rows(x), k = tg::cols(x), c = tg::cols(w);
  double t0 = g_clock();
  if (tg::Tensor* dx = t.grad_at(n.inputs[0]))
    tg::detail::gemm_batch_rows(true, m, k, c, n.grad.data(), c, w.data(), c, 1.0f, dx->data(), k);
  double t1 = g_clock();
  if (tg::Tensor* dw = t.grad_at(n.inputs[1]))
    tg::detail::gemm_sum_batch_rows(m, k, c, x.data(), k, n.grad.data(), c, dw->data(), c);
  double t2 = g_clock();
  if (n.inputs.size() == 3)
    if (tg::Tensor* db = t.grad_at(n.inputs[2])) {
      float* out = db->data();
      for (std::size_t i = 0; i < m; ++i) {
        const float* row = n.grad.data() + i * c;
        for (std::size_t j = 0; j < c; ++j) out[j] += row[j];
      }
    }
  double t3 = g_clock();
  g_phases->data_gemm[layer] += t1 - t0;
  g_phases->weight_gemm[layer] += t2 - t1;
  g_phases->bias_grad += t3 - t2;
}

void timed_activation_backward(tg::Tape& t, const tg::Node& n) {
  const double t0 = g_clock();
  g_activation_backward(t, n);
  g_phases->activation_backward += g_clock() - t0;
}

void timed_loss_backward(tg::Tape& t, const tg::Node& n) {
  const double t0 = g_clock();
  g_loss_backward(t, n);
  g_phases->loss_backward += g_clock() - t0;
}

struct Model {
  std::vector<std::unique_ptr<tg::Dense>> dense;
  tg::ActivationLayer relu{tg::Activation::relu};
  std::unique_ptr<tg::Adam> optimizer;
  tg::Tape tape;
  tg::Batch batch;

  Model(std::size_t in, const std::vector<std::size_t>& hidden, std::uint64_t seed) {
    tg::Rng rng(seed);  // the same draws as tapegrad_epoch_bench's Sequential
    std::size_t width = in;
    for (std::size_t h : hidden) {
      dense.push_back(
          std::make_unique<tg::Dense>(width, h, rng, tg::DenseOptions{true, tg::Init::he_normal}));
      width = h;
    }
    dense.push_back(
        std::make_unique<tg::Dense>(width, 10, rng, tg::DenseOptions{true, tg::Init::he_normal}));
    std::vector<tg::Parameter*> params;
    for (auto& d : dense)
      for (tg::Parameter* p : d->parameters()) params.push_back(p);
    optimizer = std::make_unique<tg::Adam>(params, tg::AdamOptions{1e-3});
  }
};

// One epoch of tg::fit's loop; with `phases`, every phase timed and the backward instrumented.
double run_epoch(Model& model, tg::BatchIterator& batches, std::uint64_t epoch, Phases* phases) {
  tg::FlushDenormalsScope flush_denormals;
  batches.begin_epoch(epoch);
  tg::Tape& tape = model.tape;
  std::size_t correct = 0;
  double loss_sum = 0;
  const bool wall = g_clock == now;
  const double start = g_clock();
  for (;;) {
    const double t0 = g_clock();
    if (!batches.next(model.batch)) break;
    const double t1 = g_clock();
    tape.clear();
    model.optimizer->zero_grad();
    const double t2 = g_clock();
    tg::Var x = tape.constant(model.batch.images);
    const double t3 = g_clock();
    double t_act = 0;
    for (std::size_t l = 0; l < model.dense.size(); ++l) {
      const double a = g_clock(), g = tg::detail::gemm_seconds();
      x = (*model.dense[l])(x);
      const double b = g_clock(), gemm = tg::detail::gemm_seconds() - g;
      if (phases) {
        // The GEMM clock is a wall clock: on CPU time the bias copy stays in the GEMM's row.
        phases->forward_gemm[l] += wall ? gemm : b - a;
        phases->forward_bias[l] += wall ? (b - a) - gemm : 0.0;
        tg::Node& node = tape.node(x);
        node.backward = timed_dense_backward;
        g_dense_nodes[l] = &node;
      }
      if (l + 1 < model.dense.size()) {
        x = model.relu(x);
        t_act += g_clock() - b;
        if (phases) {
          tg::Node& node = tape.node(x);
          g_activation_backward = node.backward;
          node.backward = timed_activation_backward;
        }
      }
    }
    const double t4 = g_clock();
    tg::Var loss = tg::softmax_cross_entropy(x, model.batch.labels);
    const double t5 = g_clock();
    if (phases) {
      tg::Node& node = tape.node(loss);
      g_loss_backward = node.backward;
      node.backward = timed_loss_backward;
    }
    const double t6 = g_clock();
    tape.backward(loss);
    const double t7 = g_clock();
    model.optimizer->step();
    const double t8 = g_clock();
    loss_sum += loss.item() * static_cast<double>(model.batch.size());
    const std::vector<std::int32_t> predicted = tg::argmax_rows(x.value());
    for (std::size_t i = 0; i < predicted.size(); ++i)
      correct += predicted[i] == model.batch.labels[i];
    const double t9 = g_clock();
    if (phases) {
      phases->batch += t1 - t0;
      phases->zero += t2 - t1;
      phases->input += t3 - t2;
      phases->activation_forward += t_act;
      phases->loss_forward += t5 - t4;
      phases->tape_backward += t7 - t6;  // the node backwards are taken out in report()
      phases->optimizer += t8 - t7;
      phases->bookkeeping += t9 - t8;
      ++phases->steps;
    }
  }
  const double seconds = g_clock() - start;
  if (phases) {
    phases->total += seconds;
    ++phases->epochs;
  }
  if (loss_sum != loss_sum) throw std::runtime_error("phases: the loss became NaN");
  return seconds;
}

bool same_parameters(const Model& a, const Model& b) {
  for (std::size_t l = 0; l < a.dense.size(); ++l) {
    const tg::Tensor* pa[] = {&a.dense[l]->weight.value, &a.dense[l]->bias.value};
    const tg::Tensor* pb[] = {&b.dense[l]->weight.value, &b.dense[l]->bias.value};
    for (int i = 0; i < 2; ++i)
      if (pa[i]->size() != pb[i]->size() ||
          std::memcmp(pa[i]->data(), pb[i]->data(), pa[i]->size() * sizeof(float)) != 0)
        return false;
  }
  return true;
}

// One product of the step: C (m x n) = op(A) (m x k) . op(B) (k x n), with the library's
// transpose flags and leading dimensions.
struct GemmShape {
  std::string name;
  bool ta, tb;
  std::size_t m, n, k;
  double in_step_seconds;      // per wall-clock epoch
  double in_step_cpu_seconds;  // per CPU-clock epoch (the calling thread's)
};

// Seconds of one call, hot in cache: tapegrad's gemm or a single cblas_sgemm; the median of
// `reps` calls, or with `best` the fastest (a peak: the calls least disturbed by other work).
double time_gemm(const GemmShape& s, bool library, int reps, bool best = false) {
  std::mt19937 gen(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> a(s.m * s.k), b(s.k * s.n), c(s.m * s.n, 0.0f);
  for (float& v : a) v = dist(gen);
  for (float& v : b) v = dist(gen);
  const std::size_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
  std::vector<double> times;
  for (int r = 0; r < reps + 3; ++r) {
    const double t0 = now();
    if (library)
      tg::detail::gemm(s.ta, s.tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f,
                       c.data(), s.n);
    else
      cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans,
                  static_cast<int>(s.m), static_cast<int>(s.n), static_cast<int>(s.k), 1.0f,
                  a.data(), static_cast<int>(lda), b.data(), static_cast<int>(ldb), 0.0f, c.data(),
                  static_cast<int>(s.n));
    if (r >= 3) times.push_back(now() - t0);  // the first calls warm caches and the pool
  }
  if (best) return *std::min_element(times.begin(), times.end());
  std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2),
                   times.end());
  return times[times.size() / 2];
}

// One clock's phases as a JSON object, seconds per epoch.
std::string phases_json(const Phases& p, std::size_t layers) {
  const double n = static_cast<double>(std::max<std::size_t>(1, p.epochs));
  double forward_gemm = 0, forward_bias = 0, data_gemm = 0, weight_gemm = 0;
  for (std::size_t l = 0; l < layers; ++l) {
    forward_gemm += p.forward_gemm[l];
    forward_bias += p.forward_bias[l];
    data_gemm += p.data_gemm[l];
    weight_gemm += p.weight_gemm[l];
  }
  // tape.backward's time less the entries' own backwards: seeding, the walk, grad buffers.
  const double node_backward =
      p.loss_backward + p.activation_backward + data_gemm + weight_gemm + p.bias_grad;
  const double named = p.batch + p.input + p.zero + forward_gemm + forward_bias +
                       p.activation_forward + p.loss_forward + p.tape_backward + p.optimizer +
                       p.bookkeeping;
  char text[1024];
  std::snprintf(
      text, sizeof text,
      "{\"batch_assembly\": %.6f, \"input_to_tape\": %.6f, \"zeroing\": %.6f, "
      "\"forward_gemm\": %.6f, \"forward_bias_copy\": %.6f, \"activation_forward\": %.6f, "
      "\"loss_forward\": %.6f, \"loss_backward\": %.6f, \"activation_backward\": %.6f, "
      "\"data_grad_gemm\": %.6f, \"weight_grad_gemm\": %.6f, \"bias_grad\": %.6f, "
      "\"tape_backward_rest\": %.6f, \"optimizer\": %.6f, \"bookkeeping\": %.6f, "
      "\"loop_rest\": %.6f, \"total\": %.6f}",
      p.batch / n, p.input / n, p.zero / n, forward_gemm / n, forward_bias / n,
      p.activation_forward / n, p.loss_forward / n, p.loss_backward / n, p.activation_backward / n,
      data_gemm / n, weight_gemm / n, p.bias_grad / n, (p.tape_backward - node_backward) / n,
      p.optimizer / n, p.bookkeeping / n, (p.total - named) / n, p.total / n);
  return text;
}

std::vector<std::size_t> parse_hidden(const std::string& text) {
  std::vector<std::size_t> sizes;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    std::size_t used = 0;
    const unsigned long n = std::stoul(item, &used);
    if (used != item.size() || n == 0 || n > 65536)
      throw std::invalid_argument("--hidden: '" + item + "' is not a width in 1..65536");
    sizes.push_back(n);
  }
  if (sizes.empty() || sizes.size() + 1 > kMaxLayers)
    throw std::invalid_argument("--hidden: 1 to " + std::to_string(kMaxLayers - 1) +
                                " widths, got '" + text + "'");
  return sizes;
}

std::size_t parse_count(const std::string& flag, const char* text, std::size_t lo, std::size_t hi) {
  char* end = nullptr;
  const unsigned long long n = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || text[0] == '-' || n < lo || n > hi)
    throw std::invalid_argument(flag + ": '" + text + "' is not an integer in " +
                                std::to_string(lo) + ".." + std::to_string(hi));
  return static_cast<std::size_t>(n);
}

int usage() {
  std::fprintf(stderr,
               "usage: tapegrad-mlp-phases-bench [--data DIR] [--batch B] [--hidden 256,128]\n"
               "         [--threads T] [--epochs N (>= 3: warm-up, wall clock, CPU clock, ...)]\n"
               "         [--seed S] [--train-limit N] [--reps R]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  tg::restart_with_single_threaded_blas(argv);
  std::string data = "data/mnist", hidden_text = "256,128";
  std::size_t batch = 64, threads = 1, epochs = 3, seed = 0, train_limit = 0, reps = 200;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (i + 1 >= argc) return usage();
      const char* v = argv[++i];
      if (a == "--data")
        data = v;
      else if (a == "--batch")
        batch = parse_count(a, v, 1, 1 << 16);
      else if (a == "--hidden")
        hidden_text = v;
      else if (a == "--threads")
        threads = parse_count(a, v, 1, 64);
      else if (a == "--epochs")
        epochs = parse_count(a, v, 3, 100);
      else if (a == "--seed")
        seed = parse_count(a, v, 0, ~std::size_t{0} >> 1);
      else if (a == "--train-limit")
        train_limit = parse_count(a, v, 0, ~std::size_t{0} >> 1);
      else if (a == "--reps")
        reps = parse_count(a, v, 1, 100000);
      else
        return usage();
    }
    const std::vector<std::size_t> hidden = parse_hidden(hidden_text);
    tg::set_num_threads(threads);
    tg::Dataset train = tg::load_mnist(data, "train");
    if (train_limit > 0) train = train.take(train_limit);

    // Two identical models on the same batches: `plain` through the library's own backward,
    // `timed` instrumented. Epochs alternate between them so that both see the same machine
    // load; the timed model's measured epochs alternate between the wall and the CPU clock.
    Model plain(784, hidden, seed), timed(784, hidden, seed);
    tg::BatchIterator plain_batches(train, batch, true, seed),
        timed_batches(train, batch, true, seed);
    Phases warmup, wall, cpu;
    std::vector<double> plain_seconds;
    double plain_cpu = 0;
    for (std::size_t e = 0; e < epochs; ++e) {
      g_clock = now;
      const double c0 = process_cpu_seconds();
      const double p = run_epoch(plain, plain_batches, e, nullptr);
      if (e > 0) {
        plain_seconds.push_back(p);
        plain_cpu += process_cpu_seconds() - c0;
      }
      g_phases = e == 0 ? &warmup : e % 2 == 1 ? &wall : &cpu;
      if (g_phases == &cpu) g_clock = thread_cpu_seconds;
      run_epoch(timed, timed_batches, e, g_phases);
      g_clock = now;
      if (!same_parameters(plain, timed))
        throw std::runtime_error(
            "phases: the instrumented step's parameters differ from the library's after epoch " +
            std::to_string(e + 1) + " (dense_backward changed? update timed_dense_backward)");
    }
    std::sort(plain_seconds.begin(), plain_seconds.end());

    // The products of one step, in the library's calls (dense forward; dense_backward).
    std::vector<std::size_t> widths = {784};
    widths.insert(widths.end(), hidden.begin(), hidden.end());
    widths.push_back(10);
    const std::size_t layers = widths.size() - 1;
    const double we = static_cast<double>(wall.epochs), ce = static_cast<double>(cpu.epochs);
    std::vector<GemmShape> shapes;
    for (std::size_t l = 0; l < layers; ++l)
      shapes.push_back({"forward L" + std::to_string(l + 1), false, false, batch, widths[l + 1],
                        widths[l], wall.forward_gemm[l] / we, cpu.forward_gemm[l] / ce});
    for (std::size_t l = layers; l-- > 1;)  // the first layer's input needs no gradient
      shapes.push_back({"data grad L" + std::to_string(l + 1), false, true, batch, widths[l],
                        widths[l + 1], wall.data_gemm[l] / we, cpu.data_gemm[l] / ce});
    for (std::size_t l = layers; l-- > 0;)
      shapes.push_back({"weight grad L" + std::to_string(l + 1), true, false, widths[l],
                        widths[l + 1], batch, wall.weight_gemm[l] / we, cpu.weight_gemm[l] / ce});

    // Per shape, hot in cache; then the peaks on a square product.
    const int r = static_cast<int>(reps);
    std::string gemm_json;
    for (const GemmShape& s : shapes) {
      const double lib = time_gemm(s, true, r), blas = time_gemm(s, false, r);
      char line[640];
      std::snprintf(
          line, sizeof line,
          "%s\n    {\"name\": \"%s\", \"m\": %zu, \"n\": %zu, \"k\": %zu, "
          "\"trans_a\": %s, \"trans_b\": %s, \"flop\": %.0f, "
          "\"in_step_seconds_per_epoch\": %.6f, \"in_step_cpu_seconds_per_epoch\": %.6f, "
          "\"isolated_tapegrad_seconds\": %.9f, \"isolated_cblas_1thread_seconds\": %.9f}",
          gemm_json.empty() ? "" : ",", s.name.c_str(), s.m, s.n, s.k, s.ta ? "true" : "false",
          s.tb ? "true" : "false", 2.0 * static_cast<double>(s.m * s.n * s.k), s.in_step_seconds,
          s.in_step_cpu_seconds, lib, blas);
      gemm_json += line;
    }
    const std::size_t side = 512;
    const GemmShape square{"peak", false, false, side, side, side, 0, 0};
    const double peak_flop = 2.0 * static_cast<double>(side * side * side);
    const double peak_blas = peak_flop / time_gemm(square, false, r, true) * 1e-9;
    const double peak_lib = peak_flop / time_gemm(square, true, r, true) * 1e-9;

    std::printf(
        "{\n  \"library\": \"tapegrad\",\n  \"config\": {\"batch\": %zu, \"hidden\": \"%s\", "
        "\"threads\": %zu, \"epochs\": %zu, \"seed\": %zu, \"train_samples\": %zu, "
        "\"steps_per_epoch\": %.0f},\n"
        "  \"plain_epoch_seconds\": %.6f, \"plain_cpu_seconds_per_epoch\": %.6f, "
        "\"bit_identical\": true,\n"
        "  \"phases_seconds_per_epoch\": %s,\n  \"phases_cpu_seconds_per_epoch\": %s,\n"
        "  \"gemms\": [%s\n  ],\n"
        "  \"peak\": {\"shape\": \"%zux%zux%zu\", \"cblas_1thread_gflops\": %.2f, "
        "\"tapegrad_gemm_gflops\": %.2f}\n}\n",
        batch, hidden_text.c_str(), tg::num_threads(), epochs, seed, train.size(),
        static_cast<double>(wall.steps) / we, plain_seconds[plain_seconds.size() / 2],
        plain_cpu / static_cast<double>(epochs - 1), phases_json(wall, layers).c_str(),
        phases_json(cpu, layers).c_str(), gemm_json.c_str(), side, side, side, peak_blas, peak_lib);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad-mlp-phases-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
