#include "core/parallel.hpp"

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/threads.hpp"

#include <cblas.h>
#include <immintrin.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tg {
namespace detail {

unsigned enable_flush_denormals() {
  const unsigned old = _mm_getcsr();
  _mm_setcsr(old | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
  return old;
}

void restore_float_mode(unsigned mxcsr) {
  _mm_setcsr(mxcsr);
}

namespace {

// Workers spin briefly for the next job (a training step issues thousands of small ones per
// second, and waking a sleeping thread costs more than the job), then sleep.
class Pool {
 public:
  static constexpr std::chrono::milliseconds kSpin{20};
  explicit Pool(std::size_t threads) {
    for (std::size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      generation_.fetch_add(1);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  std::size_t threads() const { return workers_.size() + 1; }

  void run(std::size_t count, void (*task)(void*, std::size_t), void* context) {
    if (count == 0) return;
    if (workers_.empty() || count == 1) {
      for (std::size_t i = 0; i < count; ++i) task(context, i);
      return;
    }
    std::lock_guard<std::mutex> serial(run_mutex_);  // one job at a time
    task_ = task;
    context_ = context;
    count_ = count;
    // done_ first: a worker leaving the previous job's drain() may already take a block of
    // this one through next_, and its done_ increment must not be wiped out.
    done_.store(0);
    next_.store(0);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    drain();
    // The other blocks are nearly done when ours is; spin, but give the core away if a
    // worker was descheduled (a busy machine), instead of burning its time slice.
    for (int spins = 0; done_.load(std::memory_order_acquire) < count; ++spins) {
      if (spins < 4000)
        _mm_pause();
      else
        std::this_thread::yield();
    }
  }

 private:
  void drain() {
    for (std::size_t i; (i = next_.fetch_add(1)) < count_;) {
      task_(context_, i);
      done_.fetch_add(1, std::memory_order_release);
    }
  }

  void work() {
    enable_flush_denormals();
    std::uint64_t seen = 0;
    for (;;) {
      // Spin until the next job or for kSpinSeconds, then sleep until the generation changes.
      // A training step issues jobs a few hundred microseconds apart with serial work in
      // between; waking a sleeping thread costs tens of microseconds on bare metal and far
      // more on a virtual machine (the idle vCPU is descheduled), so the wait must outlast the
      // gaps. An idle pool then costs at most kSpinSeconds of one core before it sleeps.
      bool changed = false;
      const auto spin_until = std::chrono::steady_clock::now() + kSpin;
      for (int spin = 0; !changed; ++spin) {
        changed = generation_.load(std::memory_order_acquire) != seen;
        if (changed) break;
        _mm_pause();
        if ((spin & 255) == 255 && std::chrono::steady_clock::now() > spin_until) break;
      }
      if (!changed) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load() != seen; });
      }
      seen = generation_.load(std::memory_order_acquire);
      if (stopping_) return;
      drain();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_, run_mutex_;
  std::condition_variable wake_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::size_t> next_{0}, done_{0};
  void (*task_)(void*, std::size_t) = nullptr;
  void* context_ = nullptr;
  std::size_t count_ = 0;
  bool stopping_ = false;
};

std::mutex g_pool_mutex;
std::unique_ptr<Pool> g_pool;

// Called with g_pool_mutex held, before the first pool is made.
void take_over_blas_threads(std::size_t requested) {
  static bool warned = false;
  const int blas_threads = openblas_get_num_threads();
  if (blas_threads > 1 && requested > 1 && !warned && !std::getenv("OPENBLAS_NUM_THREADS")) {
    warned = true;
    std::fprintf(stderr,
                 "tapegrad: OpenBLAS started %d threads of its own; run with "
                 "OPENBLAS_NUM_THREADS=1 (or call tg::restart_with_single_threaded_blas) so "
                 "tapegrad's %zu threads do not compete with them\n",
                 blas_threads, requested);
  }
  openblas_set_num_threads(1);  // we split the work; BLAS must not add threads of its own
}

Pool& pool() {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  if (!g_pool) {
    take_over_blas_threads(1);
    g_pool = std::make_unique<Pool>(1);
  }
  return *g_pool;
}

}  // namespace

void parallel_for(std::size_t count, void (*task)(void*, std::size_t), void* context) {
  pool().run(count, task, context);
}

std::size_t pool_threads() {
  return pool().threads();
}

}  // namespace detail

void set_num_threads(std::size_t threads) {
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  if (threads == 0) threads = cores;
  // Checked before any thread starts: more threads than this only oversubscribe the cores,
  // and a huge count (e.g. -1 through an unsigned option) would try to start them all.
  if (threads > kMaxThreadsPerCore * cores)
    throw Error("set_num_threads: " + std::to_string(threads) + " threads for " +
                std::to_string(cores) + " cores; at most " +
                std::to_string(kMaxThreadsPerCore * cores) + " (" +
                std::to_string(kMaxThreadsPerCore) + " per core)");
  std::lock_guard<std::mutex> lock(detail::g_pool_mutex);
  detail::take_over_blas_threads(threads);
  if (!detail::g_pool || detail::g_pool->threads() != threads)
    detail::g_pool = std::make_unique<detail::Pool>(threads);
}

std::size_t num_threads() {
  return detail::pool_threads();
}

void restart_with_single_threaded_blas(char** argv) {
  if (std::getenv("OPENBLAS_NUM_THREADS")) return;
  setenv("OPENBLAS_NUM_THREADS", "1", 1);
  execv("/proc/self/exe", argv);
  // exec failed (no /proc?): carry on; set_num_threads will warn.
}

FlushDenormalsScope::FlushDenormalsScope() : previous_(detail::enable_flush_denormals()) {}
FlushDenormalsScope::~FlushDenormalsScope() {
  detail::restore_float_mode(previous_);
}

}  // namespace tg
