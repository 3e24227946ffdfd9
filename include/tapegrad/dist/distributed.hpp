// Data-parallel training over MPI: every process (rank) holds the whole model, trains on its
// shard of each global batch (whole blocks of kBatchBlock rows), and the ranks combine their
// gradients once per step. docs/distributed.md has the whole story.
//
//   int main(int argc, char** argv) {
//     tg::dist::Session session(argc, argv);          // MPI_Init when started by mpirun
//     ...
//     train_batches.set_shard(tg::dist::rank(), tg::dist::size());
//     tg::dist::broadcast_parameters(model.parameters());  // every rank starts from rank 0's
//     options.exchange = tg::dist::chained_exchange(model.parameters());
//
// With the exchange, tg::fit ends with the bits of one process with the same global batch,
// for any number of ranks (see chained_exchange). all_reduce_gradients (one MPI_Allreduce,
// for tg::fit's after_backward or hand-written loops) is faster with many ranks and equal to
// one process up to float rounding: each rank's loss is the mean over its own rows, its
// gradients are scaled by (its rows / the global batch's rows) and summed over ranks.
//
// Builds: with TAPEGRAD_WITH_MPI (CMake option, on when MPI is found) the functions use MPI;
// without it every function here is still there, acting for a single process (rank 0 of 1,
// the reductions only scale), so code written for tg::dist builds and runs either way.
// tg::dist::compiled_with_mpi() says which. A Session started without an MPI launcher in the
// environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK) does not initialise MPI at all and
// is also a single process.
#pragma once

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/train/train.hpp"

#include <cstddef>
#include <vector>

namespace tg {
struct Batch;
}

namespace tg::dist {

// True when this build of the library has MPI (TAPEGRAD_WITH_MPI).
bool compiled_with_mpi();

// Initialises MPI (MPI_Init_thread, MPI_THREAD_FUNNELED: only the thread that called init
// calls MPI) when the process was started by an MPI launcher; otherwise does nothing and the
// process is rank 0 of 1. Safe to call twice. finalize() ends MPI if init started it.
void init(int* argc, char*** argv);
void finalize();
// Whether init() started MPI (false for a single process or a build without MPI).
bool active();

// RAII: init() in the constructor, finalize() in the destructor.
class Session {
 public:
  Session(int& argc, char**& argv) { init(&argc, &argv); }
  ~Session() { finalize(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

// Ends every rank now (MPI_Abort) when MPI is active; otherwise does nothing and returns.
// For errors on one rank: returning normally would leave the others waiting in a collective.
void abort(int code);

int rank();  // 0 for a single process
int size();  // 1 for a single process
inline bool is_root() {
  return rank() == 0;
}

// Copies rank `root`'s parameter values to every rank (one MPI_Bcast of one fused buffer).
// Every rank must pass parameters of the same shapes in the same order.
void broadcast_parameters(const std::vector<Parameter*>& params, int root = 0);

// Sums the gradients over ranks after scaling each rank's by local_rows / global_rows, in
// one fused buffer with one MPI_Allreduce; every parameter's grad then holds the global-batch
// gradient. A rank with local_rows == 0 (an empty shard of a short last batch) contributes
// zeros, whatever its grads hold. Single process: grads are scaled by local/global (1 when
// they are equal). Throws tg::Error if global_rows == 0 or local_rows > global_rows.
void all_reduce_gradients(const std::vector<Parameter*>& params, std::size_t local_rows,
                          std::size_t global_rows);
// The same with the rows of `batch` (batch.size() of batch.global_size).
void all_reduce_gradients(const std::vector<Parameter*>& params, const Batch& batch);

// Data parallelism with the bits of one process: for FitOptions::exchange. The ranks take
// turns, in rank order, at adding their shard onto the gradients: rank r's backward starts
// from the sums ranks 0..r-1 reached (received before its backward) and passes its own on
// (after it), and the last rank's sums, the global batch's, reach every rank. Since shards
// are whole blocks of kBatchBlock rows and every sum over the batch goes block after block
// (core/threads.hpp), the gradients, losses and weights have the same bits as one process
// with the same global batch, for any number of ranks. Each parameter must be used once per
// forward (no weight sharing), and BatchNorm normalises with each shard's statistics (not
// covered). The price: the backward passes run one rank after another.
// Single process: both do nothing.
StepExchange chained_exchange(const std::vector<Parameter*>& params);

// Sums `values` element-wise over ranks in place (doubles; for metrics such as loss sums).
void all_reduce_sum(double* values, std::size_t count);
void barrier();

// Time spent inside all_reduce_gradients (packing, MPI_Allreduce and unpacking) since the
// start or the last reset, for benchmarks.
struct CommunicationStats {
  std::size_t calls = 0;
  std::size_t floats = 0;    // of the last fused buffer
  double seconds = 0.0;      // all of all_reduce_gradients
  double mpi_seconds = 0.0;  // inside MPI_Allreduce alone
};
CommunicationStats communication_stats();
void reset_communication_stats();

}  // namespace tg::dist
