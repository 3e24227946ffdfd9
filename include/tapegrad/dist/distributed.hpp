// Data-parallel training over MPI: every process (rank) holds the whole model, trains on its
// shard of each global batch, and the ranks sum their gradients once per step.
//
//   int main(int argc, char** argv) {
//     tg::dist::Session session(argc, argv);          // MPI_Init when started by mpirun
//     ...
//     train_batches.set_shard(tg::dist::rank(), tg::dist::size());
//     tg::dist::broadcast_parameters(model.parameters());  // every rank starts from rank 0's
//     options.after_backward = [&](const tg::Tape&, std::size_t) {
//       tg::dist::all_reduce_gradients(params, train_batches.last_rows(),
//                                      train_batches.last_global_rows());
//     };
//
// Loss scaling: each rank's loss is the mean over its own rows, so each rank's gradients are
// scaled by (its rows / the global batch's rows) and then summed over ranks. The result is
// the gradient of the mean loss over the whole global batch, exactly as one process with that
// batch would compute it up to float reassociation, uneven and empty shards included. With
// every rank starting from the same parameters and applying the same summed gradient, the
// ranks stay identical and equal (to ~1e-6) to a one-process run with the same global batch.
//
// Not covered: BatchNorm1d normalises with each rank's shard statistics (not the global
// batch's) and keeps per-rank running statistics; Dropout draws its masks per rank. Both
// train fine but do not reproduce a one-process run.
//
// Builds: with TAPEGRAD_WITH_MPI (CMake option, on when MPI is found) the functions use MPI;
// without it every function here is still there, acting for a single process (rank 0 of 1,
// the reductions only scale), so code written for tg::dist builds and runs either way.
// tg::dist::compiled_with_mpi() says which. A Session started without an MPI launcher in the
// environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK) does not initialise MPI at all and
// is also a single process.
#pragma once

#include "tapegrad/autograd/tape.hpp"

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
