// After the first step, a training step allocates nothing on the heap: the tape, every
// intermediate buffer, the batch and the optimizer state are made once and reused.
#include "tapegrad/tapegrad.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
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

TEST(Allocations, TheCounterSeesAnAllocationWhenThereIsOne) {
  g_allocations = 0;
  g_counting = true;
  auto* p = new std::vector<int>(100);
  g_counting = false;
  delete p;
  EXPECT_GE(g_allocations.load(), 2);  // the vector and its buffer
}
