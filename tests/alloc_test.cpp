// After the first step, a training step allocates nothing on the heap: the tape, every
// intermediate buffer, the batch and the optimizer state are made once and reused.
#include "tapegrad/tapegrad.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>

// This file replaces the global allocator (malloc underneath) to count allocations.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<long> g_allocations{0};
std::atomic<bool> g_counting{false};
}  // namespace

// Counts every heap allocation of this test program while g_counting is set.
void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  return operator new(size);
}
void* operator new(std::size_t size, std::align_val_t align) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  const std::size_t a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return operator new(size, align);
}
// Tensor buffers come from xsimd's aligned allocator, which calls posix_memalign rather than
// operator new: counted too, or a tensor buffer reallocated every step would go unseen.
extern "C" int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  void* p = memalign(alignment, size ? size : 1);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}

using namespace tg;

namespace {
// Steps 2..n of the hand-written loop on the MNIST MLP; returns the allocations they made.
long allocations_after_the_first_step(Sequential& model, Optimizer& optimizer, int threads) {
  set_num_threads(static_cast<std::size_t>(threads));
  Dataset data = test::random_digit_images(64 * 6, 1);
  BatchIterator batches(data, 64, true, 0, /*drop_last=*/true);
  Tape tape;
  Batch batch;
  batches.begin_epoch(0);
  long counted = 0;
  for (int step = 0; batches.next(batch); ++step) {
    g_allocations = 0;
    g_counting = step > 0;
    tape.clear();
    optimizer.zero_grad();
    Var loss = softmax_cross_entropy(model(tape.constant(batch.images)), batch.labels);
    tape.backward(loss);
    clip_grad_norm(optimizer.params(), 1.0f);
    optimizer.step();
    g_counting = false;
    counted += g_allocations;
  }
  set_num_threads(1);
  return counted;
}
}  // namespace

TEST(Allocations, ATrainingStepOfTheMnistMlpAllocatesNothingAfterTheFirst) {
  for (int threads : {1, 2}) {
    Rng rng(0);
    Sequential model;
    model.add<Dense>(784, 256, rng);
    model.add<ReLU>();
    model.add<Dense>(256, 128, rng);
    model.add<ReLU>();
    model.add<Dense>(128, 10, rng);
    Adam optimizer(model.parameters());
    EXPECT_EQ(allocations_after_the_first_step(model, optimizer, threads), 0)
        << threads << " threads";
  }
}

TEST(Allocations, BatchNormDropoutAndEveryOptimizerAllocateNothingAfterTheFirstStep) {
  Rng rng(0);
  Sequential model;
  model.add<Dense>(784, 64, rng);
  model.add<BatchNorm1d>(64);
  model.add<ELU>();
  model.add<Dropout>(0.2f, 1);
  model.add<Dense>(64, 10, rng);
  std::vector<std::unique_ptr<Optimizer>> optimizers;
  optimizers.push_back(
      std::make_unique<SGD>(model.parameters(), SGDOptions{.momentum = 0.9, .nesterov = true}));
  optimizers.push_back(std::make_unique<RMSprop>(
      model.parameters(), RMSpropOptions{.momentum = 0.9, .centered = true}));
  optimizers.push_back(std::make_unique<AdamW>(model.parameters(), AdamWOptions{.amsgrad = true}));
  for (auto& optimizer : optimizers)
    EXPECT_EQ(allocations_after_the_first_step(model, *optimizer, 1), 0) << optimizer->type();
}

TEST(Allocations, ALeNetTrainingStepAllocatesNothingAfterTheFirst) {
  for (int threads : {1, 2}) {
    Rng rng(0);
    Sequential model;
    model.add<Unflatten>(1, Shape{1, 28, 28});
    model.add<Conv2d>(1, 6, 5, rng, Conv2dOptions{.padding = 2});
    model.add<ReLU>();
    model.add<MaxPool2d>(2);
    model.add<Conv2d>(6, 16, 5, rng);
    model.add<ReLU>();
    model.add<AvgPool2d>(2);
    model.add<Flatten>();
    model.add<Dense>(400, 10, rng);
    Adam optimizer(model.parameters());
    EXPECT_EQ(allocations_after_the_first_step(model, optimizer, threads), 0)
        << threads << " threads";
  }
}

TEST(Allocations, AnLstmTrainingStepAllocatesNothingAfterTheFirst) {
  for (int threads : {1, 2}) {
    Rng rng(0);
    Sequential model;
    model.add<Unflatten>(1, Shape{28, 28});
    model.add<LSTM>(28, 32, rng, RecurrentOptions{.num_layers = 2, .batch_first = true});
    model.add<Flatten>();
    model.add<Dense>(28 * 32, 10, rng);
    Adam optimizer(model.parameters());
    EXPECT_EQ(allocations_after_the_first_step(model, optimizer, threads), 0)
        << threads << " threads";
  }
}

TEST(Allocations, TheCounterSeesAnAllocationWhenThereIsOne) {
  g_allocations = 0;
  g_counting = true;
  auto* p = new std::vector<int>(100);
  g_counting = false;
  delete p;
  EXPECT_GE(g_allocations.load(), 2);  // the vector and its buffer
}

TEST(Allocations, TheCounterSeesATensorBufferAllocatedThroughTheAlignedAllocator) {
  // The shape is kept inline in the tensor: the buffer is its only allocation.
  const Shape shape{1000};
  g_allocations = 0;
  g_counting = true;
  { Tensor t = zeros(shape); }
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 1);
}

// ---- every op of include/tapegrad/ops/*.hpp, recorded again and again on one tape ----
// Each family records a computation from the same inputs and returns a scalar; a step records
// families, adds their scalars and backpropagates. Steps 2-4 must allocate nothing.
//
// Every argument that is a std::vector (dims, shapes, indices, pads, the vector<Var> of
// cat/stack, labels, class weights) is built here, before the counted steps, or keeps its
// capacity across them (clear() then push_back): those are the caller's allocations, not the
// library's. Left out: the functions that return a std::vector or a Shape by their contract
// (argmax, argmax_rows, broadcast_shapes) and activation_from_name, which takes a string.
namespace {

// Away from 0 by at least 0.1, so no op meets a kink.
Tensor random_nd(const Shape& shape, std::uint64_t seed, float lo = -2.0f, float hi = 2.0f) {
  return test::random_nd(shape, seed, lo, hi, 0.1f);
}

// Rows of probabilities along `dim` (each slice along it sums to 1).
Tensor probabilities(const Shape& shape, int dim, std::uint64_t seed) {
  Tape tape;
  return softmax(tape.constant(random_nd(shape, seed)), dim).value();
}

struct EveryOpInputs {
  // Data: x is N x C x L = 2 x 3 x 4; c is one positive value per channel.
  Tensor x = random_nd({2, 3, 4}, 1);
  Tensor positive = random_nd({2, 3, 4}, 2, 0.5f, 2.0f);
  Tensor c = random_nd({1, 3, 1}, 3, 0.5f, 1.5f);
  Tensor mask = tensor({2, 1, 4}, {1, 0, 0, 1, 0, 1, 1, 0});
  Parameter W{random_nd({4, 5}, 5, -1.0f, 1.0f), "W"};
  Parameter b{random_nd({1, 5}, 6), "b"};
  Parameter W3{random_nd({2, 4, 2}, 7, -1.0f, 1.0f), "W3"};
  Parameter gamma{random_nd({1, 5}, 8, 0.5f, 1.5f), "gamma"};
  Parameter beta{random_nd({1, 5}, 9), "beta"};
  Tensor fixed_mean = random_nd({1, 5}, 10);
  Tensor fixed_var = random_nd({1, 5}, 11, 0.5f, 2.0f);
  Tensor batch_mean, batch_var;  // written by batch_norm (sized on the first step)
  Rng rng{12};

  // Arguments of the reduce and shape ops.
  std::vector<int> dims_0_2{0, 2}, dims_1{1}, all_dims{}, permutation{2, 0, 1};
  Shape rows_shape{6, 4}, view_shape{4, 6}, leading_one{1, 2, 3, 4};
  std::vector<std::int64_t> indices{2, 0, 2};
  std::vector<std::int64_t> gather_index{0, 3, 1, 1, 2, 0, 3, 3, 0, 2, 1, 0};
  Shape gather_shape{2, 3, 2};
  std::vector<std::size_t> pads{1, 2, 0, 1};
  std::vector<Var> parts;  // cat/stack inputs: cleared and refilled, capacity kept

  // Loss targets. Labels of the N x C x L logits (one per (n, l); one ignored), of the
  // 6 x 4 rows; probabilities along the class dim of each.
  std::vector<std::int64_t> labels{0, 2, 1, -100, 2, 2, 0, 1};
  std::vector<std::int64_t> labels_ignoring_1{0, 1, 2, 1, 2, 2, 0, 1};
  std::vector<std::int32_t> row_labels{3, 0, 1, 2, 2, 1};
  CrossEntropyOptions weighted_smoothed_sum{{0.5f, 1.0f, 2.0f}, -100, 0.1f, Reduction::sum};
  CrossEntropyOptions ignore_1_none{{}, 1, 0.0f, Reduction::none};
  CrossEntropyOptions weighted_mean{{1.0f, 2.0f, 0.5f}, -100, 0.2f, Reduction::mean};
  Tensor class_probs = probabilities({2, 3, 4}, 1, 13);
  Tensor row_probs = probabilities({6, 4}, -1, 14);
  Tensor row_log_probs = [this] {
    Tensor l = row_probs;
    for (float& v : l) v = std::log(v);
    return l;
  }();
  Tensor binary = [] {
    Tensor t = random_nd({2, 3, 4}, 15);
    for (float& v : t) v = v > 0.0f ? 1.0f : 0.0f;
    return t;
  }();
  Tensor pos_weight = random_nd({4}, 16, 0.5f, 3.0f);
  Tensor target = random_nd({2, 3, 4}, 17);
};

Var arith_family(Tape& tape, EveryOpInputs& in) {
  Var x = tape.variable(in.x);
  Var p = tape.variable(in.positive);
  Var c = tape.variable(in.c);
  Var y = div(mul(sub(add(x, c), c), c), c);
  y = add_scalar(scale(neg(y), 0.5f), 0.1f);
  Var q = pow(p, 2.0f) + pow(p, c) + pow(2.0f, x) + sqrt(p) + abs(x) + square(x) + exp(x) + log(p) +
          log1p(p);
  q = q + clamp(x, -1.0f, 1.0f) + clamp_min(x, 0.0f) + clamp_max(x, 0.5f);
  q = q + maximum(x, c) + minimum(x, c) + tg::where(in.mask, x, c);
  q = (q - y) * y / p;
  q = -q + 1.0f;
  q = 1.0f + q - 1.0f;
  q = 1.0f - q * 2.0f;
  q = 2.0f * q / 2.0f + 2.0f / p;
  return mean(q);
}

Var reduce_family(Tape& tape, EveryOpInputs& in) {
  Var x = tape.variable(in.x);
  Var r = sum(x) + mean(x) + max(x) + min(x);
  r = r + sum(sum(x, in.dims_0_2, true)) + sum(mean(x, in.dims_1)) + sum(x, in.all_dims);
  r = r + mean(x, in.all_dims, true);
  r = r + sum(max(x, 2, true)) + sum(min(x, 0)) + sum(max(x, -1)) + sum(min(x, 1, true));
  r = r + sum(var(x, in.dims_1)) + sum(var(x, in.dims_0_2, false, true)) + var(x, in.all_dims);
  r = r + sum(logsumexp(x, 1)) + sum(logsumexp(x, -1, true));
  return r;
}

Var shape_family(Tape& tape, EveryOpInputs& in) {
  Var x = tape.variable(in.x);
  Var r = sum(square(reshape(x, in.rows_shape))) + sum(view(x, in.view_shape));
  r = r + sum(square(flatten(x, 1, 2))) + sum(flatten(x));
  r = r + sum(squeeze(unsqueeze(x, 1), 1)) + sum(squeeze(reshape(x, in.leading_one)));
  r = r + sum(square(transpose(x, 0, 2))) + sum(square(permute(x, in.permutation)));
  r = r + sum(square(slice(x, 2, 1, 3)));
  in.parts.clear();
  in.parts.push_back(x);
  in.parts.push_back(square(x));
  r = r + sum(square(cat(in.parts, 1)));
  r = r + sum(square(stack(in.parts, 0)));
  r = r + sum(square(index_select(x, 2, in.indices)));
  r = r + sum(square(gather(x, 2, in.gather_index, in.gather_shape)));
  r = r + sum(square(pad(x, in.pads, 0.5f)));
  return r;
}

Var linalg_family(Tape& tape, EveryOpInputs& in) {
  Var x = tape.variable(in.x);
  Var W = tape.param(in.W), b = tape.param(in.b), W3 = tape.param(in.W3);
  Var r = sum(square(matmul(x, W))) + sum(square(matmul(x, W3)));
  r = r + sum(square(dense(x, W, b))) + sum(square(dense(reshape(x, in.rows_shape), W)));
  return r;
}

Var activation_family(Tape& tape, EveryOpInputs& in) {
  Var x = tape.variable(in.x);
  Var y = sigmoid(x) + tg::tanh(x) + step(x) + step(x, StepGradient::straight_through) + relu(x) +
          leaky_relu(x, 0.2f) + elu(x, 0.5f);
  y = y + softmax(x, 1) + log_softmax(x, 0) + softmax(x) + log_softmax(x, -1);
  y = y + activate(x, Activation::leaky_relu) + activate(x, Activation::softmax);
  return sum(square(y));
}

Var normalization_family(Tape& tape, EveryOpInputs& in) {
  Var x = tape.variable(in.x);
  Var W = tape.param(in.W), b = tape.param(in.b);
  Var gamma = tape.param(in.gamma), beta = tape.param(in.beta);
  Var h = dense(reshape(x, in.rows_shape), W, b);
  Var train = batch_norm(h, gamma, beta, 1e-5f, nullptr, nullptr, &in.batch_mean, &in.batch_var);
  Var eval = batch_norm(h, gamma, beta, 1e-5f, &in.fixed_mean, &in.fixed_var);
  return sum(square(train)) + sum(square(eval)) + sum(square(dropout(x, 0.3f, in.rng)));
}

Var loss_family(Tape& tape, EveryOpInputs& in) {
  Var x = tape.variable(in.x);  // N x C x L logits, classes in dim 1
  Var rows = reshape(x, in.rows_shape);
  Var l = cross_entropy(x, in.labels) + cross_entropy(x, in.labels, in.weighted_smoothed_sum);
  l = l + sum(cross_entropy(x, in.labels_ignoring_1, in.ignore_1_none));
  l = l + cross_entropy(x, in.class_probs, in.weighted_mean);
  l = l + softmax_cross_entropy(rows, in.row_labels) +
      sum(softmax_cross_entropy(rows, in.row_labels, Reduction::none));
  l = l + softmax_cross_entropy(rows, in.row_probs, Reduction::sum);
  l = l + binary_cross_entropy(sigmoid(x), in.binary) +
      sum(binary_cross_entropy(sigmoid(x), in.binary, Reduction::none));
  l = l + binary_cross_entropy_with_logits(x, in.binary, Reduction::sum) +
      binary_cross_entropy_with_logits(x, in.binary, Reduction::mean, &in.pos_weight);
  l = l + sum(binary_cross_entropy_with_logits(x, in.binary, Reduction::none, &in.pos_weight));
  l = l + categorical_cross_entropy(softmax(rows), in.row_probs) +
      sum(categorical_cross_entropy(softmax(rows), in.row_probs, Reduction::none));
  l = l + mse(x, in.target) + sum(mse(x, in.target, Reduction::none)) +
      rmse(x, in.target, Reduction::sum) + rmse(x, in.target);
  l = l + mae(x, in.target) + sum(mae(x, in.target, Reduction::none));
  l = l + huber_loss(x, in.target, Reduction::mean, 0.5f) +
      sum(huber_loss(x, in.target, Reduction::none));
  l = l + smooth_l1_loss(x, in.target, Reduction::sum, 0.7f) + smooth_l1_loss(x, in.target);
  Var log_probs = log_softmax(rows);
  l = l + kl_div(log_probs, in.row_probs, Reduction::batchmean) +
      kl_div(log_probs, in.row_log_probs, Reduction::mean, true) +
      sum(kl_div(log_probs, in.row_probs, Reduction::none)) +
      kl_div(log_probs, in.row_log_probs, Reduction::sum, true);
  return l;
}

using Family = Var (*)(Tape&, EveryOpInputs&);

// Records the families on one tape for 4 steps (clear() between) and backpropagates their sum;
// returns the allocations of steps 2-4.
long allocations_of_steps_2_to_4(const std::vector<Family>& families, std::size_t threads) {
  set_num_threads(threads);
  EveryOpInputs in;
  in.parts.reserve(2);
  Tape tape;
  long counted = 0;
  for (int step = 0; step < 4; ++step) {
    g_allocations = 0;
    g_counting = step > 0;
    tape.clear();
    Var total = families[0](tape, in);
    for (std::size_t f = 1; f < families.size(); ++f) total = total + families[f](tape, in);
    tape.backward(total);
    g_counting = false;
    counted += g_allocations;
  }
  set_num_threads(1);
  return counted;
}

}  // namespace

TEST(Allocations, ArithOpsOperatorsAndWhereAllocateNothingAfterTheFirstStep) {
  EXPECT_EQ(allocations_of_steps_2_to_4({arith_family}, 1), 0);
}

TEST(Allocations, ReduceOpsWithDimsKeepdimMaxVarAndLogsumexpAllocateNothingAfterTheFirstStep) {
  EXPECT_EQ(allocations_of_steps_2_to_4({reduce_family}, 1), 0);
}

TEST(Allocations,
     ShapeOpsIncludingCatStackIndexSelectGatherAndPadAllocateNothingAfterTheFirstStep) {
  EXPECT_EQ(allocations_of_steps_2_to_4({shape_family}, 1), 0);
}

TEST(Allocations, BatchedMatmulAndNdDenseAllocateNothingAfterTheFirstStep) {
  EXPECT_EQ(allocations_of_steps_2_to_4({linalg_family}, 1), 0);
}

TEST(Allocations, ActivationsAndSoftmaxAlongAnyDimAllocateNothingAfterTheFirstStep) {
  EXPECT_EQ(allocations_of_steps_2_to_4({activation_family}, 1), 0);
}

TEST(Allocations, BatchNormInBothModesAndDropoutAllocateNothingAfterTheFirstStep) {
  EXPECT_EQ(allocations_of_steps_2_to_4({normalization_family}, 1), 0);
}

TEST(Allocations, EveryLossWithItsOptionsAllocatesNothingAfterTheFirstStep) {
  EXPECT_EQ(allocations_of_steps_2_to_4({loss_family}, 1), 0);
}

TEST(Allocations, EveryOpAllocatesNothingAfterTheFirstStep) {
  // All families on one tape, with one thread and with two (GEMMs and kernels split).
  const std::vector<Family> all = {arith_family,  reduce_family,     shape_family,
                                   linalg_family, activation_family, normalization_family,
                                   loss_family};
  for (std::size_t threads : {1u, 2u})
    EXPECT_EQ(allocations_of_steps_2_to_4(all, threads), 0) << threads << " threads";
}
