// tg::dist for a build without MPI (TAPEGRAD_WITH_MPI off): one process, rank 0 of 1. The
// functions keep their single-process meaning so that data-parallel programs build and run
// unchanged; src/distributed.cpp is the MPI implementation.
#include "tapegrad/dist/distributed.hpp"

#include "tapegrad/data/data.hpp"

#include <algorithm>
#include <chrono>
#include <string>

namespace tg::dist {

namespace {
CommunicationStats g_stats;
}

bool compiled_with_mpi() {
  return false;
}
void init(int*, char***) {}
void finalize() {}
bool active() {
  return false;
}
void abort(int) {}
int rank() {
  return 0;
}
int size() {
  return 1;
}
void broadcast_parameters(const std::vector<Parameter*>&, int) {}

void all_reduce_gradients(const std::vector<Parameter*>& params, std::size_t local_rows,
                          std::size_t global_rows) {
  if (global_rows == 0 || local_rows > global_rows)
    throw Error("tg::dist::all_reduce_gradients: " + std::to_string(local_rows) +
                " local rows of a global batch of " + std::to_string(global_rows));
  const auto start = std::chrono::steady_clock::now();
  const float weight =
      static_cast<float>(static_cast<double>(local_rows) / static_cast<double>(global_rows));
  std::size_t n = 0;
  for (Parameter* p : params) {
    if (p->grad.size() != p->value.size())
      throw Error("tg::dist::all_reduce_gradients: parameter '" + p->name + "' is " +
                  shape_str(p->value) + " but its grad is " + shape_str(p->grad));
    if (local_rows == 0)
      std::fill(p->grad.begin(), p->grad.end(), 0.0f);
    else if (local_rows != global_rows)
      for (float& g : p->grad) g *= weight;
    n += p->grad.size();
  }
  g_stats.calls++;
  g_stats.floats = n;
  g_stats.seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void all_reduce_gradients(const std::vector<Parameter*>& params, const Batch& batch) {
  all_reduce_gradients(params, batch.size(), batch.global_size);
}

StepExchange chained_exchange(const std::vector<Parameter*>&) {
  return {[](std::vector<double>&) {}, [](std::vector<double>&) {}};
}

void all_reduce_sum(double*, std::size_t) {}
void barrier() {}
CommunicationStats communication_stats() {
  return g_stats;
}
void reset_communication_stats() {
  g_stats = CommunicationStats{};
}

}  // namespace tg::dist
