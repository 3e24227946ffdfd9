// Differentiable ops. Each records one tape entry: its forward result and the function that
// sends the gradient back (both live side by side in src/ops.cpp).
// Shapes are rows x cols; a mismatch throws tg::Error naming the op and both shapes.
#pragma once

#include "tapegrad/init.hpp"
#include "tapegrad/tape.hpp"

namespace tg {

// ---- compute settings ----
// The one thread budget: tapegrad's pool and BLAS together use `threads` threads (0 = one per
// core). Default 1. Work is split so that results are bit-identical for any thread count.
void set_num_threads(std::size_t threads);
std::size_t num_threads();
// OpenBLAS starts threads of its own when a program loads, unless OPENBLAS_NUM_THREADS=1;
// those make tapegrad's concurrent single-threaded GEMM calls several times slower. Call this
// first thing in main(): when the variable is unset it sets it to 1 and re-executes the
// program (Linux), so everything after runs with one BLAS thread per tapegrad thread.
void restart_with_single_threaded_blas(char** argv);
// Within this scope the calling thread flushes denormal floats to zero (FTZ/DAZ). Denormals
// appear in late training and can make every float operation ~100x slower; tg::fit and
// tg::evaluate use this scope, and pool threads always run this way.
class FlushDenormalsScope {
 public:
  FlushDenormalsScope();
  ~FlushDenormalsScope();
  FlushDenormalsScope(const FlushDenormalsScope&) = delete;
  FlushDenormalsScope& operator=(const FlushDenormalsScope&) = delete;

 private:
  unsigned previous_;
};

// ---- linear algebra ----
Var matmul(Var a, Var b);  // (m x k) . (k x n)
Var add(Var a, Var b);     // same shape, or b is 1 x cols(a) (broadcast over rows: a bias)
Var sub(Var a, Var b);     // same broadcasting as add
Var mul(Var a, Var b);     // elementwise, same shape
Var scale(Var a, float factor);
Var sum(Var a);   // 1x1
Var mean(Var a);  // 1x1
// x . W + b in one op (GEMM through cblas_sgemm; the backward uses transpose flags, no copies).
// x is batch x in, W is in x out, b is 1 x out.
Var dense(Var x, Var W, Var b);
Var dense(Var x, Var W);

// ---- elementwise ----
Var exp(Var x);
Var log(Var x);  // natural log; log(0) = -inf (see the anomaly mode for catching it)

// ---- activations ----
Var sigmoid(Var x);
Var tanh(Var x);
// Forward: 1 where x >= 0 else 0. Its true gradient is 0 everywhere (nothing can learn
// through it); straight_through passes the incoming gradient where |x| <= 1 instead.
enum class StepGradient { none, straight_through };
Var step(Var x, StepGradient gradient = StepGradient::none);
Var relu(Var x);
Var leaky_relu(Var x, float alpha = 0.01f);
Var elu(Var x, float alpha = 1.0f);
Var softmax(Var x);      // row-wise, stable (subtracts each row's max)
Var log_softmax(Var x);  // row-wise, x - logsumexp(x)

// ---- normalisation and regularisation (the ops behind BatchNorm1d and Dropout) ----
// Batch normalisation of each column: y = gamma * (x - mean) / sqrt(var + eps) + beta, with
// gamma and beta 1 x features. With fixed_mean/fixed_var null it normalises with the batch's
// own statistics (training; needs more than one row) and writes them to batch_mean and
// batch_var (biased variance) when those are given; otherwise it uses the fixed statistics
// (evaluation).
Var batch_norm(Var x, Var gamma, Var beta, float eps, const Tensor* fixed_mean = nullptr,
               const Tensor* fixed_var = nullptr, Tensor* batch_mean = nullptr,
               Tensor* batch_var = nullptr);
// Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p),
// so the expected value is unchanged; the mask comes from rng.
Var dropout(Var x, float p, Rng& rng);

// Activations by name, for layers and command lines.
enum class Activation {
  identity,
  sigmoid,
  tanh,
  step,
  relu,
  leaky_relu,
  elu,
  softmax,
  log_softmax
};
Var activate(Var x, Activation activation, float alpha = 0.0f);  // alpha 0 = the op's default
const char* activation_name(Activation activation);
Activation activation_from_name(const std::string& name);  // throws on an unknown name

}  // namespace tg
