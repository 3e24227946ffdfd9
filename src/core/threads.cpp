#include "core/parallel.hpp"

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/threads.hpp"

#include <cblas.h>
#include <immintrin.h>

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
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

// Linux futex: sleep while *word == expected; wake up to `count` sleepers.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}
void futex_wake(std::atomic<std::uint32_t>& word, int count) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, count, nullptr,
          nullptr, 0);
}

double seconds_now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// True while this thread runs a block: a parallel_for inside one runs inline instead of
// waiting for a pool that is busy with its caller.
thread_local bool t_in_block = false;
// 0 for any thread outside the pool, 1 ... threads-1 for the pool's workers.
thread_local std::size_t t_worker_index = 0;
// The calling thread's last look at its load (Pool::check_load): when, and its run_delay
// (or count of involuntary context switches).
struct LoadCheck {
  double time = 0.0;
  double value = 0.0;
};
thread_local LoadCheck t_load_check;

// Seconds the calling thread has spent runnable but waiting for a CPU (the second field of
// /proc/thread-self/schedstat), or -1 where the kernel does not say. No allocation.
double run_delay_seconds() {
  const int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char text[128];
  const ssize_t size = read(fd, text, sizeof text - 1);
  close(fd);
  if (size <= 0) return -1;
  text[size] = '\0';
  char* end = nullptr;
  std::strtoull(text, &end, 10);  // time on a CPU
  const char* field = end;
  const unsigned long long delay = std::strtoull(field, &end, 10);
  if (end == field) return -1;
  return static_cast<double>(delay) * 1e-9;
}

// The pool's hand-off. A job is one word: the block count (high half) and the next block to
// hand out (low half); any thread, the caller included, takes the next block with one
// fetch_add, so a worker that is late or descheduled costs only the blocks it took, never a
// share fixed in advance. Which thread runs a block never changes what the block computes.
//
// Waiting is a bounded spin then a futex sleep, on both sides. A training step issues
// thousands of small jobs a second with serial work between them, and waking a sleeping vCPU
// costs tens of microseconds, so on an idle machine workers spin through the gaps. On a
// loaded one (more runnable threads than cores) a spin burns CPU that the process's other
// threads need: the scheduler shares CPU between sessions (autogroup) and then between their
// threads, so a spinning worker halved the caller's speed and made 2 threads 2x slower than
// 1. The pool therefore watches how long the caller waits for a CPU, and nobody spins while
// that shows a loaded machine.
class Pool {
 public:
  // How long an idle worker spins for the next job, and the caller for the last blocks of its
  // job, before sleeping.
  static constexpr double kWorkerSpinSeconds = 1e-3;
  static constexpr double kCallerSpinSeconds = 200e-6;
  // How often the caller looks at its load (a read of /proc, a few microseconds), and the
  // share of that time spent waiting for a CPU above which the machine counts as loaded:
  // measured here, a caller alone on its core waits 0-5 %, one on a loaded machine 45-60 %.
  // Looks 10 ms apart saw a single time slice of a low-priority process as load.
  static constexpr double kCheckSeconds = 50e-3;
  static constexpr double kLoadedShare = 0.2;
  // After a look finds the machine loaded, nobody spins for this long (two looks, so that a
  // lasting load keeps spinning off without a gap).
  static constexpr double kNoSpinSeconds = 100e-3;
  // Jobs above this many blocks run in rounds, so the low half never overflows.
  static constexpr std::size_t kMaxBlocksPerJob = std::size_t{1} << 31;

  explicit Pool(std::size_t threads) {
    for (std::size_t i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work(i); });
  }
  ~Pool() {
    stopping_.store(true);
    published_.fetch_add(1);
    futex_wake(published_, std::numeric_limits<int>::max());
    for (auto& w : workers_) w.join();
  }
  std::size_t threads() const { return workers_.size() + 1; }

  void run(std::size_t count, void (*task)(void*, std::size_t), void* context) {
    if (count == 0) return;
    // Inline: no workers, one block, a parallel_for inside a block, or another thread's job
    // in progress (its caller waits for nobody; the blocks are the same either way).
    std::unique_lock<std::mutex> serial(run_mutex_, std::defer_lock);
    if (workers_.empty() || count == 1 || t_in_block || !serial.try_lock())
      return run_inline(count, task, context);
    check_load();
    for (std::size_t base = 0; base < count; base += kMaxBlocksPerJob) {
      task_ = task;
      context_ = context;
      base_ = base;
      mxcsr_ = _mm_getcsr() & ~kMxcsrFlags;
      const auto blocks = static_cast<std::uint32_t>(std::min(kMaxBlocksPerJob, count - base));
      done_.store(0);
      // The (seq_cst) store publishes task_, context_, base_, mxcsr_ and the reset done_ to
      // every thread whose fetch_add then takes a block. No block of the previous job can be
      // taken any more: its word was exhausted before its last block was done.
      job_.store(std::uint64_t{blocks} << 32);
      published_.fetch_add(1);
      if (sleepers_.load() > 0) futex_wake(published_, std::numeric_limits<int>::max());
      drain();
      wait_until_done(blocks);
      if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    }
  }

 private:
  static void run_inline(std::size_t count, void (*task)(void*, std::size_t), void* context) {
    const bool outer = t_in_block;
    t_in_block = true;
    try {
      for (std::size_t i = 0; i < count; ++i) task(context, i);
    } catch (...) {
      t_in_block = outer;
      throw;
    }
    t_in_block = outer;
  }

  static bool has_blocks(std::uint64_t job) {
    return static_cast<std::uint32_t>(job) < static_cast<std::uint32_t>(job >> 32);
  }

  // Takes and runs blocks of the current job until none is left.
  void drain() {
    for (;;) {
      const std::uint64_t job = job_.fetch_add(1);
      if (!has_blocks(job)) return;
      // A block runs in the caller's float mode (denormal flushing, rounding), so what it
      // computes does not depend on which thread runs it.
      if ((_mm_getcsr() & ~kMxcsrFlags) != mxcsr_) _mm_setcsr(mxcsr_);
      t_in_block = true;
      try {
        task_(context_, base_ + static_cast<std::uint32_t>(job));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      t_in_block = false;
      if (done_.fetch_add(1) + 1 == static_cast<std::uint32_t>(job >> 32) &&
          caller_sleeping_.load())
        futex_wake(done_, 1);
    }
  }

  // Called by run's caller, at most every kCheckSeconds: did it spend more than
  // kLoadedShare of the time since its last look runnable but waiting for a CPU? Then the
  // machine is oversubscribed. (The scheduler's run_delay counts exactly that, never the
  // thread's own sleeps; without it, any preemption counts.)
  void check_load() {
    const double now = seconds_now();
    if (now - last_check_ < kCheckSeconds) return;
    last_check_ = now;
    const double delay = run_delay_seconds();
    if (delay >= 0) {
      if (t_load_check.time > 0 &&
          delay - t_load_check.value > kLoadedShare * (now - t_load_check.time))
        stop_spinning(now);
      t_load_check = {now, delay};
      return;
    }
    rusage usage{};
    if (getrusage(RUSAGE_THREAD, &usage) != 0) return;
    const auto switches = static_cast<double>(usage.ru_nivcsw);
    if (t_load_check.time > 0 && switches != t_load_check.value) stop_spinning(now);
    t_load_check = {now, switches};
  }

  void stop_spinning(double now) {
    const double until = now + kNoSpinSeconds;
    double old = no_spin_until_.load(std::memory_order_relaxed);
    while (old < until && !no_spin_until_.compare_exchange_weak(old, until)) {
    }
  }

  // Spins until ready() or for `seconds`, whichever comes first; not at all while spinning is
  // off.
  template <class Ready>
  void spin_for(Ready ready, double seconds) {
    const double now = seconds_now();
    if (now < no_spin_until_.load(std::memory_order_relaxed)) return;
    const double until = now + seconds;
    for (unsigned spin = 1; !ready(); ++spin) {
      _mm_pause();
      if (spin % 32 == 0 && seconds_now() > until) return;
    }
  }

  void wait_until_done(std::uint32_t blocks) {
    spin_for([&] { return done_.load(std::memory_order_acquire) >= blocks; }, kCallerSpinSeconds);
    for (std::uint32_t done; (done = done_.load()) < blocks;) {
      // Seq_cst flag then re-read, against the worker's increment then flag read: either the
      // worker sees the flag and wakes us, or we see its increment here or in the futex.
      caller_sleeping_.store(true);
      done = done_.load();
      if (done < blocks) futex_wait(done_, done);
      caller_sleeping_.store(false);
    }
  }

  void wait_for_job() {
    spin_for(
        [&] {
          return has_blocks(job_.load(std::memory_order_relaxed)) ||
                 stopping_.load(std::memory_order_relaxed);
        },
        kWorkerSpinSeconds);
    for (;;) {
      const std::uint32_t seen = published_.load();
      if (has_blocks(job_.load()) || stopping_.load()) return;
      // Counted as a sleeper before re-reading published_: either the caller's publish comes
      // after and it sees us, or we see its publish (here or in the futex's own check).
      sleepers_.fetch_add(1);
      if (published_.load() == seen) futex_wait(published_, seen);
      sleepers_.fetch_sub(1);
    }
  }

  void work(std::size_t index) {
    t_worker_index = index;
    for (;;) {
      wait_for_job();
      if (stopping_.load()) return;
      drain();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // one job at a time
  // The job word, the futex words and the flags each on their own cache line: the spinning
  // workers read job_ while the caller and workers write done_.
  alignas(64) std::atomic<std::uint64_t> job_{0};
  alignas(64) std::atomic<std::uint32_t> published_{0};  // +1 per job: what sleepers wait on
  std::atomic<std::uint32_t> sleepers_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<double> no_spin_until_{0.0};          // seconds_now() until which nobody spins
  alignas(64) std::atomic<std::uint32_t> done_{0};  // blocks of the current job finished
  std::atomic<bool> caller_sleeping_{false};
  // The job, written by run's caller before it publishes the job word.
  alignas(64) void (*task_)(void*, std::size_t) = nullptr;
  void* context_ = nullptr;
  std::size_t base_ = 0;
  // The caller's float mode: MXCSR without its sticky exception flags (bits 0-5).
  static constexpr unsigned kMxcsrFlags = 0x3Fu;
  unsigned mxcsr_ = 0;
  double last_check_ = 0.0;  // of check_load, under run_mutex_
  std::mutex error_mutex_;
  std::exception_ptr error_;  // the first exception a block threw, rethrown by run
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
                 "OPENBLAS_NUM_THREADS=1 so "
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

std::size_t pool_worker_index() {
  return t_worker_index;
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

void restart_with_single_threaded_blas(char** /*argv*/) {
  // Once re-executed the program with OPENBLAS_NUM_THREADS=1; setting the count at run time
  // does the same without surprising the host program (measured: no difference in epoch time).
  openblas_set_num_threads(1);
}

FlushDenormalsScope::FlushDenormalsScope() : previous_(detail::enable_flush_denormals()) {}
FlushDenormalsScope::~FlushDenormalsScope() {
  detail::restore_float_mode(previous_);
}

}  // namespace tg
