// tg::dist over MPI. Compiled only with TAPEGRAD_WITH_MPI; src/distributed_serial.cpp is the
// single-process stand-in otherwise.
#include "tapegrad/dist/distributed.hpp"

#include "tapegrad/data/data.hpp"

// The C API only: no deprecated MPI C++ bindings (they need libmpi_cxx).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

namespace tg::dist {

namespace {

bool g_started = false;  // this library called MPI_Init
bool g_joined = false;   // init() found MPI running (started by us or by the program)
int g_rank = 0, g_size = 1;
std::vector<float> g_buffer;  // the fused gradient buffer, reused step after step
CommunicationStats g_stats;

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Started by mpirun/mpiexec (Open MPI, MPICH, Slurm's PMI)?
bool under_launcher() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(std::string("tg::dist: ") + what + " failed: " + std::string(text, length));
}

bool mpi_running() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

std::size_t total_floats(const std::vector<Parameter*>& params, bool grads, const char* op) {
  std::size_t n = 0;
  for (const Parameter* p : params) {
    if (grads && p->grad.size() != p->value.size())
      throw Error(std::string("tg::dist::") + op + ": parameter '" + p->name + "' is " +
                  shape_str(p->value) + " but its grad is " + shape_str(p->grad));
    n += grads ? p->grad.size() : p->value.size();
  }
  return n;
}

float weight_of(std::size_t local_rows, std::size_t global_rows) {
  return static_cast<float>(static_cast<double>(local_rows) / static_cast<double>(global_rows));
}

}  // namespace

bool compiled_with_mpi() {
  return true;
}

void init(int* argc, char*** argv) {
  if (g_started || mpi_running()) {
    if (mpi_running()) {  // someone else (or we) started it: just take our place in it
      MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
      MPI_Comm_size(MPI_COMM_WORLD, &g_size);
      g_joined = true;
    }
    return;
  }
  if (!under_launcher()) return;  // a plain single process: leave MPI alone
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  g_started = g_joined = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
}

void finalize() {
  if (g_started && mpi_running()) MPI_Finalize();
  g_started = g_joined = false;
  g_rank = 0;
  g_size = 1;
}

bool active() {
  return g_joined && mpi_running();
}

void abort(int code) {
  if (active()) MPI_Abort(MPI_COMM_WORLD, code);
}

int rank() {
  return g_rank;
}
int size() {
  return g_size;
}

void broadcast_parameters(const std::vector<Parameter*>& params, int root) {
  if (!active() || g_size == 1) return;
  const std::size_t n = total_floats(params, false, "broadcast_parameters");
  std::vector<float> buffer(n);
  if (g_rank == root) {
    float* out = buffer.data();
    for (const Parameter* p : params) out = std::copy(p->value.begin(), p->value.end(), out);
  }
  check(MPI_Bcast(buffer.data(), static_cast<int>(n), MPI_FLOAT, root, MPI_COMM_WORLD),
        "MPI_Bcast");
  const float* in = buffer.data();
  for (Parameter* p : params) {
    std::copy(in, in + p->value.size(), p->value.begin());
    in += p->value.size();
  }
}

void all_reduce_gradients(const std::vector<Parameter*>& params, std::size_t local_rows,
                          std::size_t global_rows) {
  if (global_rows == 0 || local_rows > global_rows)
    throw Error("tg::dist::all_reduce_gradients: " + std::to_string(local_rows) +
                " local rows of a global batch of " + std::to_string(global_rows));
  const double start = now_seconds();
  const std::size_t n = total_floats(params, true, "all_reduce_gradients");
  if (!active() || g_size == 1) {  // one process: only the weighting, in place
    for (Parameter* p : params) {
      if (local_rows == 0)
        std::fill(p->grad.begin(), p->grad.end(), 0.0f);
      else if (local_rows != global_rows)
        for (float& g : p->grad) g *= weight_of(local_rows, global_rows);
    }
    g_stats.calls++;
    g_stats.floats = n;
    g_stats.seconds += now_seconds() - start;
    return;
  }
  // Each rank's grads are the mean over its rows; weighting by its share of the global batch
  // and summing gives the mean over the global batch. An empty shard adds exact zeros (its
  // grads may be NaN: the mean of nothing).
  const float weight = weight_of(local_rows, global_rows);
  g_buffer.resize(n);
  float* out = g_buffer.data();
  for (const Parameter* p : params) {
    const float* g = p->grad.data();
    const std::size_t m = p->grad.size();
    if (local_rows == 0)
      std::fill(out, out + m, 0.0f);
    else
      for (std::size_t i = 0; i < m; ++i) out[i] = g[i] * weight;
    out += m;
  }
  if (n > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw Error("tg::dist::all_reduce_gradients: more than 2^31 - 1 gradient floats");
  const double t = now_seconds();
  check(MPI_Allreduce(MPI_IN_PLACE, g_buffer.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                      MPI_COMM_WORLD),
        "MPI_Allreduce");
  const double mpi_seconds = now_seconds() - t;
  const float* in = g_buffer.data();
  for (Parameter* p : params) {
    std::copy(in, in + p->grad.size(), p->grad.begin());
    in += p->grad.size();
  }
  g_stats.calls++;
  g_stats.floats = n;
  g_stats.mpi_seconds += mpi_seconds;
  g_stats.seconds += now_seconds() - start;
}

void all_reduce_gradients(const std::vector<Parameter*>& params, const Batch& batch) {
  all_reduce_gradients(params, batch.size(), batch.global_size);
}

namespace {
// One message of the chain: every gradient, then the step's sums (doubles), as bytes.
struct ChainBuffer {
  std::vector<Parameter*> params;
  std::size_t floats = 0;
  std::vector<unsigned char> bytes;

  int pack(const std::vector<double>& sums) {
    const int count = size_of(sums);
    unsigned char* out = bytes.data();
    for (const Parameter* p : params) {
      std::memcpy(out, p->grad.data(), p->grad.size() * sizeof(float));
      out += p->grad.size() * sizeof(float);
    }
    std::memcpy(out, sums.data(), sums.size() * sizeof(double));
    return count;
  }
  void unpack(std::vector<double>& sums) const {
    const unsigned char* in = bytes.data();
    for (Parameter* p : params) {
      std::memcpy(p->grad.data(), in, p->grad.size() * sizeof(float));
      in += p->grad.size() * sizeof(float);
    }
    std::memcpy(sums.data(), in, sums.size() * sizeof(double));
  }
  int size_of(const std::vector<double>& sums) {
    const std::size_t n = floats * sizeof(float) + sums.size() * sizeof(double);
    if (n > static_cast<std::size_t>(std::numeric_limits<int>::max()))
      throw Error("tg::dist::chained_exchange: more than 2^31 - 1 bytes of gradients");
    bytes.resize(n);
    return static_cast<int>(n);
  }
};
}  // namespace

StepExchange chained_exchange(const std::vector<Parameter*>& params) {
  auto buffer = std::make_shared<ChainBuffer>();
  buffer->params = params;
  buffer->floats = total_floats(params, true, "chained_exchange");
  StepExchange e;
  e.receive = [buffer](std::vector<double>& sums) {
    if (!active() || g_size == 1 || g_rank == 0) return;
    const double start = now_seconds();
    const int count = buffer->size_of(sums);
    check(MPI_Recv(buffer->bytes.data(), count, MPI_BYTE, g_rank - 1, 0, MPI_COMM_WORLD,
                   MPI_STATUS_IGNORE),
          "MPI_Recv");
    buffer->unpack(sums);
    g_stats.mpi_seconds += now_seconds() - start;
  };
  e.pass_on = [buffer](std::vector<double>& sums) {
    if (!active() || g_size == 1) return;
    const double start = now_seconds();
    const int count = buffer->pack(sums);
    if (g_rank + 1 < g_size)
      check(MPI_Send(buffer->bytes.data(), count, MPI_BYTE, g_rank + 1, 0, MPI_COMM_WORLD),
            "MPI_Send");
    // The last rank's sums are the global batch's.
    check(MPI_Bcast(buffer->bytes.data(), count, MPI_BYTE, g_size - 1, MPI_COMM_WORLD),
          "MPI_Bcast");
    if (g_rank != g_size - 1) buffer->unpack(sums);
    g_stats.calls++;
    g_stats.floats = buffer->floats;
    g_stats.mpi_seconds += now_seconds() - start;
    g_stats.seconds += now_seconds() - start;
  };
  return e;
}

void all_reduce_sum(double* values, std::size_t count) {
  if (!active() || g_size == 1 || count == 0) return;
  check(MPI_Allreduce(MPI_IN_PLACE, values, static_cast<int>(count), MPI_DOUBLE, MPI_SUM,
                      MPI_COMM_WORLD),
        "MPI_Allreduce");
}

void barrier() {
  if (active() && g_size > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

CommunicationStats communication_stats() {
  return g_stats;
}
void reset_communication_stats() {
  g_stats = CommunicationStats{};
}

}  // namespace tg::dist
