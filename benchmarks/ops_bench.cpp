// Each op forward + backward at the MNIST MLP's shapes, the tape's cost per op, and each
// dense layer's GEMMs against bare cblas_sgemm calls of the same shapes.
//   build/tapegrad_bench --benchmark_filter=Dense
#include "tapegrad/tapegrad.hpp"

#include <benchmark/benchmark.h>
#include <cblas.h>
#include <optional>

namespace {

tg::Tensor filled(std::size_t r, std::size_t c, std::uint64_t seed) {
  tg::Rng rng(seed);
  tg::Tensor t = tg::zeros(r, c);
  for (float& v : t) v = rng.uniform(-1.0f, 1.0f);
  return t;
}

// The MLP's three dense layers at batch 64: (batch, in, out).
constexpr long kLayers[][2] = {{784, 256}, {256, 128}, {128, 10}};

void threads_arg(benchmark::State& state, int index) {
  tg::set_num_threads(static_cast<std::size_t>(state.range(index)));
}

// dense forward + backward (dX, dW, db): three GEMMs and a column sum.
void BM_DenseForwardBackward(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const auto in = static_cast<std::size_t>(state.range(1));
  const auto out = static_cast<std::size_t>(state.range(2));
  threads_arg(state, 3);
  tg::Tensor x = filled(batch, in, 1), seed = filled(batch, out, 4);
  tg::Parameter W(filled(in, out, 2)), b(filled(1, out, 3));
  tg::Tape tape;
  for (auto _ : state) {
    tape.clear();
    tg::Var h = tape.variable(x);  // a hidden layer's input needs its gradient too
    tg::Var y = tg::dense(h, tape.param(W), tape.param(b));
    tape.backward(y, seed);
    benchmark::DoNotOptimize(W.grad.data());
  }
  const double flops = 2.0 * 3 * batch * in * out;
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

// The same three GEMMs as bare cblas_sgemm calls, OpenBLAS at the same thread count: the
// ceiling the dense op is measured against.
void BM_BareSgemmForwardBackward(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0)), in = static_cast<int>(state.range(1)),
            out = static_cast<int>(state.range(2));
  tg::Tensor x = filled(batch, in, 1), W = filled(in, out, 2), g = filled(batch, out, 4);
  tg::Tensor y = tg::zeros(static_cast<std::size_t>(batch), static_cast<std::size_t>(out));
  tg::Tensor dx = tg::zeros(static_cast<std::size_t>(batch), static_cast<std::size_t>(in));
  tg::Tensor dW = tg::zeros(static_cast<std::size_t>(in), static_cast<std::size_t>(out));
  tg::set_num_threads(1);
  openblas_set_num_threads(static_cast<int>(state.range(3)));
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, out, in, 1, x.data(), in,
                W.data(), out, 0, y.data(), out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, in, out, 1, g.data(), out, W.data(),
                out, 0, dx.data(), in);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, batch, 1, x.data(), in, g.data(),
                out, 0, dW.data(), out);
    benchmark::DoNotOptimize(dW.data());
  }
  openblas_set_num_threads(1);
  const double flops = 2.0 * 3 * batch * in * out;
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void mlp_shapes(benchmark::internal::Benchmark* b) {
  for (long threads : {1, 2})
    for (const auto& l : kLayers) b->Args({64, l[0], l[1], threads});
  b->Args({256, 784, 256, 2});
}
BENCHMARK(BM_DenseForwardBackward)->Apply(mlp_shapes)->ArgNames({"batch", "in", "out", "threads"});
BENCHMARK(BM_BareSgemmForwardBackward)
    ->Apply(mlp_shapes)
    ->ArgNames({"batch", "in", "out", "threads"});

// Recording one op on tiny (1x1) tensors: the tape's bookkeeping, not arithmetic. With
// anomaly:1 the same inside a tg::DetectAnomaly scope (every output checked); anomaly:0 is
// the normal cost, which includes the one branch the mode costs when off.
void BM_TapeRecordOneTinyOp(benchmark::State& state) {
  tg::set_num_threads(1);
  std::optional<tg::DetectAnomaly> anomaly;
  if (state.range(0)) anomaly.emplace();
  tg::Tape tape;
  const std::int64_t ops = 1000;
  for (auto _ : state) {
    tape.clear();
    tg::Var x = tape.constant(tg::full(1, 1, 0.5f));
    for (std::int64_t i = 0; i < ops; ++i) x = tg::scale(x, 1.0f);
    benchmark::DoNotOptimize(x);
  }
  state.SetItemsProcessed(state.iterations() * ops);
  state.counters["ns_per_op"] = benchmark::Counter(
      static_cast<double>(ops),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert,
      benchmark::Counter::kIs1000);
}
BENCHMARK(BM_TapeRecordOneTinyOp)->ArgName("anomaly")->Arg(0)->Arg(1);

// A training step of the MNIST MLP (batch 64, 1 thread) with anomaly mode off and on.
void BM_MlpTrainingStep(benchmark::State& state) {
  tg::set_num_threads(1);
  std::optional<tg::DetectAnomaly> anomaly;
  if (state.range(0)) anomaly.emplace();
  tg::Rng rng(0);
  tg::Sequential model;
  model.add<tg::Dense>(784, 256, rng);
  model.add<tg::ReLU>();
  model.add<tg::Dense>(256, 128, rng);
  model.add<tg::ReLU>();
  model.add<tg::Dense>(128, 10, rng);
  tg::Adam optimizer(model.parameters());
  const tg::Tensor x = filled(64, 784, 10);
  std::vector<std::int32_t> labels(64);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(i % 10);
  tg::Tape tape;
  for (auto _ : state) {
    tape.clear();
    optimizer.zero_grad();
    tape.backward(tg::softmax_cross_entropy(model(tape.constant(x)), labels));
    optimizer.step();
  }
}
BENCHMARK(BM_MlpTrainingStep)->ArgName("anomaly")->Arg(0)->Arg(1);

// max_pool2d forward + backward at the cnn's shape (N=64, C=64, 24x24, kernel 2, stride 2),
// 1 thread. The input is a parameter so that no step copies it; its gradient accumulates.
void BM_MaxPool2dForwardBackward(benchmark::State& state) {
  tg::set_num_threads(1);
  tg::Rng rng(0);
  tg::Parameter input(tg::zeros(tg::Shape{64, 64, 24, 24}));
  for (float& v : input.value) v = rng.uniform(-1.0f, 1.0f);
  const tg::Tensor dy = tg::ones(tg::Shape{64, 64, 12, 12});
  tg::Tape tape;
  for (auto _ : state) {
    tape.clear();
    tape.backward(tg::max_pool2d(tape.param(input), 2), dy);
    benchmark::DoNotOptimize(input.grad.data());
  }
}
BENCHMARK(BM_MaxPool2dForwardBackward)->Name("BM_MaxPool2dForwardBackward/64x64x24x24/k2s2");

// conv2d forward + backward (weight, bias and input gradients) at the cnn's two convolutions
// (batch 64, 3x3): 1 -> 32 channels at 28x28 and 32 -> 64 at 26x26, 1 thread.
void BM_Conv2dForwardBackward(benchmark::State& state) {
  tg::set_num_threads(1);
  const auto c_in = static_cast<std::size_t>(state.range(0));
  const auto c_out = static_cast<std::size_t>(state.range(1));
  const auto hw = static_cast<std::size_t>(state.range(2));
  tg::Rng rng(0);
  auto random = [&](const tg::Shape& shape) {
    tg::Tensor t = tg::zeros(shape);
    for (float& v : t) v = rng.uniform(-1.0f, 1.0f);
    return t;
  };
  tg::Parameter input(random({64, c_in, hw, hw})), weight(random({c_out, c_in, 3, 3})),
      bias(random({c_out}));
  tg::Tape tape;
  for (auto _ : state) {
    tape.clear();
    tape.backward(tg::sum(tg::conv2d(tape.param(input), tape.param(weight), tape.param(bias))));
    benchmark::DoNotOptimize(weight.grad.data());
  }
}
BENCHMARK(BM_Conv2dForwardBackward)
    ->ArgNames({"in", "out", "hw"})
    ->Args({1, 32, 28})
    ->Args({32, 64, 26})
    ->Unit(benchmark::kMillisecond);

// Elementwise activations and the fused loss at the MLP's shapes, forward + backward.
template <tg::Var (*Op)(tg::Var)>
void BM_Activation(benchmark::State& state) {
  tg::set_num_threads(1);
  tg::Tensor x = filled(64, 256, 5), g = filled(64, 256, 6);
  tg::Tape tape;
  for (auto _ : state) {
    tape.clear();
    tg::Var v = tape.variable(x);
    tape.backward(Op(v), g);
    benchmark::DoNotOptimize(v);
  }
}
tg::Var relu_op(tg::Var x) {
  return tg::relu(x);
}
tg::Var tanh_op(tg::Var x) {
  return tg::tanh(x);
}
tg::Var sigmoid_op(tg::Var x) {
  return tg::sigmoid(x);
}
tg::Var elu_op(tg::Var x) {
  return tg::elu(x);
}
BENCHMARK(BM_Activation<relu_op>)->Name("BM_Activation/relu/64x256");
BENCHMARK(BM_Activation<tanh_op>)->Name("BM_Activation/tanh/64x256");
BENCHMARK(BM_Activation<sigmoid_op>)->Name("BM_Activation/sigmoid/64x256");
BENCHMARK(BM_Activation<elu_op>)->Name("BM_Activation/elu/64x256");

void BM_SoftmaxCrossEntropy(benchmark::State& state) {
  tg::set_num_threads(1);
  tg::Tensor logits = filled(64, 10, 7);
  std::vector<std::int32_t> labels(64);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(i % 10);
  tg::Tape tape;
  for (auto _ : state) {
    tape.clear();
    tg::Var z = tape.variable(logits);
    tape.backward(tg::softmax_cross_entropy(z, labels));
    benchmark::DoNotOptimize(z);
  }
}
BENCHMARK(BM_SoftmaxCrossEntropy);

// One Adam / SGD-momentum step over `count` parameters (one tensor), per thread count.
template <class Optimizer, class Options>
void optimizer_step(benchmark::State& state, Options options) {
  const auto count = static_cast<std::size_t>(state.range(0));
  tg::set_num_threads(static_cast<std::size_t>(state.range(1)));
  tg::Parameter p(filled(1, count, 8));
  p.grad = filled(1, count, 9);
  Optimizer optimizer({&p}, options);
  for (auto _ : state) {
    optimizer.step();
    benchmark::DoNotOptimize(p.value.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));
  tg::set_num_threads(1);
}
void BM_AdamStep(benchmark::State& state) {
  optimizer_step<tg::Adam>(state, tg::AdamOptions{});
}
void BM_SgdMomentumStep(benchmark::State& state) {
  optimizer_step<tg::SGD>(state, tg::SGDOptions{.lr = 0.01, .momentum = 0.9});
}
void parameter_counts(benchmark::internal::Benchmark* b) {
  for (long threads : {1, 2})
    for (long count : {1290L, 32896L, 235146L, 1L << 22}) b->Args({count, threads});
}
BENCHMARK(BM_AdamStep)->Apply(parameter_counts)->ArgNames({"params", "threads"});
BENCHMARK(BM_SgdMomentumStep)->Apply(parameter_counts)->ArgNames({"params", "threads"});

}  // namespace

int main(int argc, char** argv) {
  tg::restart_with_single_threaded_blas(argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
