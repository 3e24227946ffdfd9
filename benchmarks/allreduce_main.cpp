// tapegrad-allreduce-bench: the time of tg::dist::all_reduce_gradients alone (pack, one
// MPI_Allreduce, unpack) for a model of P parameters, with the ranks in step (a barrier before
// each call), so that waiting for a slower rank is not counted. Run under mpirun:
//   mpirun -np 2 build/tapegrad-allreduce-bench [PARAMS=235146] [STEPS=500]
#include "tapegrad/tapegrad.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  tg::dist::Session session(argc, argv);
  const std::size_t params = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 235146;
  const int steps = argc > 2 ? std::atoi(argv[2]) : 500;
  // The demo's 784-256-128-10 MLP: 235146 parameters in 6 tensors; here one tensor of P.
  tg::Parameter p(tg::full(1, params, 1.0f));
  std::vector<double> times;
  for (int s = 0; s < steps + 20; ++s) {
    std::fill(p.grad.begin(), p.grad.end(), 1.0f);
    tg::dist::barrier();
    const auto t = std::chrono::steady_clock::now();
    tg::dist::all_reduce_gradients({&p}, 1, static_cast<std::size_t>(tg::dist::size()));
    if (s >= 20)  // after warm-up
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
  }
  std::sort(times.begin(), times.end());
  if (tg::dist::is_root())
    std::printf(
        "%d ranks, %zu floats (%.2f MB): all_reduce_gradients median %.3f ms, "
        "p10 %.3f ms, p90 %.3f ms over %d steps\n",
        tg::dist::size(), params, params * 4 / 1e6, 1e3 * times[times.size() / 2],
        1e3 * times[times.size() / 10], 1e3 * times[times.size() * 9 / 10], steps);
  return 0;
}
