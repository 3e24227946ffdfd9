// Runs a piece of code in a forked child, e.g. under a resource limit, and reports how it ended.
#pragma once

#include "tapegrad/tapegrad.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <new>
#include <string>

namespace tg::test {

enum class ChildEnd { returned, threw_tg_error, threw_bad_alloc, threw_other, crashed };

struct ChildResult {
  ChildEnd end = ChildEnd::crashed;
  std::string message;  // the exception's what(), if any
};

// Forks; the child runs setup() (e.g. setrlimit) then body(), and sends back how body ended.
inline ChildResult run_in_child(const std::function<void()>& setup,
                                const std::function<void()>& body) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) std::abort();
  if (pid == 0) {
    close(fds[0]);
    int code = 0;
    std::string message;
    try {
      setup();
      body();
    } catch (const tg::Error& e) {
      code = 1, message = e.what();
    } catch (const std::bad_alloc& e) {
      code = 2, message = e.what();
    } catch (const std::exception& e) {
      code = 3, message = e.what();
    }
    for (std::size_t done = 0; done < message.size();) {
      const ssize_t n = write(fds[1], message.data() + done, message.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    close(fds[1]);
    _exit(code);  // no atexit handlers, no gtest teardown in the child
  }
  close(fds[1]);
  ChildResult result;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0)
    result.message.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) {
    switch (WEXITSTATUS(status)) {
      case 0:
        result.end = ChildEnd::returned;
        break;
      case 1:
        result.end = ChildEnd::threw_tg_error;
        break;
      case 2:
        result.end = ChildEnd::threw_bad_alloc;
        break;
      default:
        result.end = ChildEnd::threw_other;
        break;
    }
  }
  return result;
}

// True when the address-space limit trick below can work (not under AddressSanitizer, which
// reserves terabytes of shadow memory up front).
inline bool address_space_limit_works() {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return false;
#else
  return true;
#endif
#else
  return true;
#endif
}

// A setup for run_in_child: the child may map at most `extra` bytes more than it has now, so
// allocating a large declared size throws std::bad_alloc instead of succeeding quietly.
inline std::function<void()> limit_address_space_growth(std::size_t extra) {
  return [extra] {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f || std::fscanf(f, "%lu", &pages) != 1) std::abort();
    std::fclose(f);
    const rlim_t now = static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE));
    struct rlimit rl {
      now + extra, now + extra
    };
    if (setrlimit(RLIMIT_AS, &rl) != 0) std::abort();
  };
}

}  // namespace tg::test
