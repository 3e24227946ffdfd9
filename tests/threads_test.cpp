// The thread pool's hand-off (src/core/threads.cpp): every block of a parallel region runs
// exactly once whatever the thread count and however the threads wake (spinning or from a
// futex sleep), a block computes the same bits whichever thread runs it, small or nested
// regions run inline, and GEMM's blocks depend on the shape alone.
//
// No timing is asserted. Where a test needs two threads inside one region at once it waits
// for that with a generous deadline, so a broken pool fails instead of hanging.
#include "../src/core/blas.hpp"
#include "../src/core/parallel.hpp"

#include "test_util.hpp"

#include <cblas.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xmmintrin.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace tg {
namespace {

using detail::parallel_for;
using detail::pool_worker_index;

// Spins (yielding) until done() or the deadline; false when the deadline passed.
template <class Done>
bool wait_for(Done done, double seconds = 30.0) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Sets the thread count for the scope, back to 1 after.
struct Threads {
  explicit Threads(std::size_t n) { set_num_threads(n); }
  ~Threads() { set_num_threads(1); }
};

// Runs a 2-block region in which each block waits until both have started, so the caller
// runs one and a worker the other; body(block) runs after that. Returns the pool thread index
// of each block's runner (both entries 1 when no second thread took part in time).
template <class Body>
std::vector<std::size_t> run_on_two_threads(Body body) {
  std::atomic<int> started{0};
  std::vector<std::size_t> runner(2, 1);
  auto task = [&](std::size_t block) {
    started.fetch_add(1);
    if (!wait_for([&] { return started.load() == 2; })) return;
    runner[block] = pool_worker_index();
    body(block);
  };
  parallel_for(2, task);
  return runner;
}

TEST(Threads, EveryBlockRunsExactlyOnceForAnyCountAndThreadCount) {
  for (std::size_t threads : {1u, 2u, 3u, 4u}) {
    Threads scope(threads);
    for (std::size_t count : {0u, 1u, 2u, 3u, 7u, 8u, 9u, 64u, 1000u}) {
      // Many regions back to back: the hand-off between consecutive jobs is what can go wrong.
      for (int repeat = 0; repeat < 200; ++repeat) {
        std::vector<std::atomic<int>> runs(count);
        auto task = [&](std::size_t i) { runs[i].fetch_add(1); };
        parallel_for(count, task);
        for (std::size_t i = 0; i < count; ++i)
          ASSERT_EQ(runs[i].load(), 1) << "block " << i << " of " << count << ", " << threads
                                       << " threads, repeat " << repeat;
      }
    }
  }
}

TEST(Threads, WorkersWokenFromSleepTakeBlocksAndTheCallerWaitsForASlowOne) {
  Threads scope(2);
  for (int round = 0; round < 5; ++round) {
    // Longer than any spin: the worker is asleep in its futex when the region starts.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::atomic<int> finished{0};
    const std::vector<std::size_t> runner = run_on_two_threads([&](std::size_t) {
      // The worker's block outlasts the caller's spin, so the caller sleeps until it ends.
      if (pool_worker_index() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      finished.fetch_add(1);
    });
    EXPECT_EQ(std::set<std::size_t>(runner.begin(), runner.end()), (std::set<std::size_t>{0, 1}))
        << "round " << round << ": the worker did not take a block";
    EXPECT_EQ(finished.load(), 2) << "round " << round << ": returned before every block ended";
  }
}

// x * 2^-10 for a small normal x gives a denormal: flushed to 0 in FTZ mode, kept otherwise.
float scaled_down(float x) {
  volatile float scale = 1.0f / 1024.0f;  // volatile: computed at run time, in the mode in force
  return x * scale;
}

TEST(Threads, ABlockComputesTheSameBitsWhicheverThreadRunsItInTheCallersFloatMode) {
  const float small = 1e-36f;
  const float kept = scaled_down(small);  // this thread does not flush denormals here
  ASSERT_NE(kept, 0.0f);
  Threads scope(2);
  for (bool flush : {false, true}) {
    const unsigned old_mode = _mm_getcsr();
    if (flush) _mm_setcsr(old_mode | 0x8040u);
    float result[2] = {-1.0f, -1.0f};
    const std::vector<std::size_t> runner =
        run_on_two_threads([&](std::size_t block) { result[block] = scaled_down(small); });
    _mm_setcsr(old_mode);
    ASSERT_EQ(std::set<std::size_t>(runner.begin(), runner.end()), (std::set<std::size_t>{0, 1}));
    for (int block = 0; block < 2; ++block)
      EXPECT_EQ(result[block], flush ? 0.0f : kept)
          << "block " << block << " run by pool thread " << runner[block]
          << (flush ? " with" : " without") << " the caller flushing denormals";
  }
}

TEST(Threads, ARegionOfOneBlockOrWithOneThreadRunsInlineOnTheCallingThreadInOrder) {
  for (std::size_t threads : {1u, 2u}) {
    Threads scope(threads);
    const std::size_t count = threads == 1 ? 50 : 1;
    std::vector<std::size_t> order;
    std::vector<std::thread::id> who;
    auto task = [&](std::size_t i) {
      order.push_back(i);  // unsynchronized on purpose: inline means one thread
      who.push_back(std::this_thread::get_id());
    };
    parallel_for(count, task);
    ASSERT_EQ(order.size(), count);
    for (std::size_t i = 0; i < count; ++i) {
      EXPECT_EQ(order[i], i);
      EXPECT_EQ(who[i], std::this_thread::get_id());
    }
  }
}

TEST(Threads, ARegionInsideABlockRunsInlineInsteadOfWaitingForTheBusyPool) {
  Threads scope(2);
  std::vector<std::atomic<int>> runs(8 * 8);
  auto outer = [&](std::size_t i) {
    const std::thread::id self = std::this_thread::get_id();
    bool same_thread = true;
    auto inner = [&](std::size_t j) {
      same_thread = same_thread && std::this_thread::get_id() == self;
      runs[i * 8 + j].fetch_add(1);
    };
    parallel_for(8, inner);
    EXPECT_TRUE(same_thread) << "inner region of block " << i;
  };
  parallel_for(8, outer);
  for (std::size_t i = 0; i < runs.size(); ++i) EXPECT_EQ(runs[i].load(), 1) << i;
}

TEST(Threads, TwoCallingThreadsShareThePoolAndBothGetEveryBlock) {
  Threads scope(2);
  auto caller = [](std::vector<int>* runs) {
    for (int repeat = 0; repeat < 300; ++repeat) {
      auto task = [&](std::size_t i) { ++(*runs)[i]; };  // each block once: no race
      parallel_for(runs->size(), task);
    }
  };
  std::vector<int> a(16, 0), b(16, 0);
  std::thread other(caller, &b);
  caller(&a);
  other.join();
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i], 300) << i;
    EXPECT_EQ(b[i], 300) << i;
  }
}

TEST(Threads, AnExceptionInABlockReachesTheCallerAfterEveryOtherBlockRan) {
  for (std::size_t threads : {1u, 2u}) {
    Threads scope(threads);
    std::vector<std::atomic<int>> runs(32);
    auto task = [&](std::size_t i) {
      runs[i].fetch_add(1);
      if (i == 5) throw std::runtime_error("block 5 failed");
    };
    std::string message;
    try {
      parallel_for(runs.size(), task);
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
    EXPECT_EQ(message, "block 5 failed") << threads << " threads";
    // With one thread the loop stops at the throw; with the pool every block still runs.
    for (std::size_t i = 0; i < runs.size(); ++i)
      EXPECT_EQ(runs[i].load(), threads == 1 && i > 5 ? 0 : 1) << threads << " threads, " << i;
    // The pool is intact afterwards.
    std::vector<std::atomic<int>> again(32);
    auto count = [&](std::size_t i) { again[i].fetch_add(1); };
    parallel_for(again.size(), count);
    for (std::size_t i = 0; i < again.size(); ++i) EXPECT_EQ(again[i].load(), 1) << i;
  }
}

TEST(Threads, GemmBlocksCoverTheOutputOnceAreAlignedAndSmallProductsAreOneBlock) {
  const std::size_t shapes[][3] = {{64, 784, 256},  {64, 256, 784}, {784, 256, 64},
                                   {256, 128, 64},  {64, 256, 128}, {64, 128, 10},
                                   {128, 10, 64},   {50, 784, 256}, {1, 1, 1},
                                   {4096, 4096, 1}, {17, 1000, 3},  {1000, 17, 300}};
  for (const auto& s : shapes) {
    const detail::GemmBlocks blocks = detail::gemm_blocks(s[0], s[1], s[2]);
    const std::string where =
        std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" + std::to_string(s[2]);
    const std::size_t extent = blocks.columns ? s[1] : s[0];
    ASSERT_GE(blocks.count, 1u) << where;
    EXPECT_GE(blocks.count * blocks.size, extent) << where;
    EXPECT_LT((blocks.count - 1) * blocks.size, extent) << where;  // no empty block
    if (blocks.count > 1) {
      EXPECT_EQ(blocks.size % (blocks.columns ? 64 : 16), 0u) << where;  // whole kernel tiles
    }
    // Fewer multiply-adds than one block's worth of hand-off: a single call.
    if (s[0] * s[1] * s[2] < (std::size_t{1} << 18)) {
      EXPECT_EQ(blocks.count, 1u) << where;
    }
  }
}

TEST(Threads, GemmGivesTheSameBitsForAnyThreadCountAndAnyRunOfTheHandOff) {
  const std::size_t shapes[][3] = {{64, 784, 256}, {64, 256, 784}, {784, 256, 64},
                                   {64, 256, 128}, {256, 64, 128}, {200, 300, 100}};
  for (const auto& s : shapes) {
    const std::size_t m = s[0], n = s[1], k = s[2];
    const Tensor a = test::random_tensor(m, k, 11), b = test::random_tensor(k, n, 12);
    std::vector<float> reference(m * n), c(m * n);
    set_num_threads(1);
    detail::gemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, reference.data(), n);
    for (std::size_t threads : {2u, 3u, 4u}) {
      Threads scope(threads);
      for (int repeat = 0; repeat < 20; ++repeat) {
        std::fill(c.begin(), c.end(), -1.0f);
        detail::gemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
        ASSERT_EQ(std::memcmp(c.data(), reference.data(), c.size() * sizeof(float)), 0)
            << m << "x" << n << "x" << k << ", " << threads << " threads, repeat " << repeat;
      }
    }
  }
}

// The program is not re-executed (which used to replace the host program with a fresh copy of
// itself): a child that calls it with OPENBLAS_NUM_THREADS unset carries on to its own exit
// code, with OpenBLAS set to one thread.
TEST(Threads, RestartWithSingleThreadedBlasKeepsTheProgramRunningWithOneBlasThread) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    unsetenv("OPENBLAS_NUM_THREADS");
    char name[] = "not-this-test";
    char* argv[] = {name, nullptr};
    restart_with_single_threaded_blas(argv);
    _exit(openblas_get_num_threads() == 1 ? 42 : 43);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42);
}

}  // namespace
}  // namespace tg
