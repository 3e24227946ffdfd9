#include "run.hpp"

#include "checkpoint_config.hpp"
#include "data.hpp"
#include "evaluation.hpp"
#include "model_checks.hpp"
#include "models.hpp"
#include "out_folder.hpp"
#include "output_paths.hpp"
#include "training.hpp"

#include "tapegrad/tapegrad.hpp"

#include <chrono>
#include <cstdio>
#include <utility>

namespace {

// Under mpirun every rank trains on its shard of each global batch; rank 0 alone reports.
void keep_outputs_to_root(Config& c) {
  if (!tg::dist::is_root())
    c.quiet = true, c.out.clear(), c.save.clear(), c.graph.clear(), c.save_model.clear(),
    c.export_onnx.clear();
}

// Output paths are checked before any training, so a typo cannot lose a finished run.
void check_output_paths(const Config& c) {
  if (!c.out.empty()) prepare_output_folder(c.out, "--out");
  if (!c.save.empty()) check_output_file(c.save, "--save");
  if (!c.graph.empty()) check_output_file(c.graph, "--graph");
  if (!c.save_model.empty()) check_output_file(c.save_model, "--save-model");
  if (!c.export_onnx.empty()) check_output_file(c.export_onnx, "--export-onnx");
}

void print_summary(const Config& c, const Data& data, tg::Module& model) {
  if (c.quiet) return;
  std::fprintf(stderr,
               "tapegrad-mnist: %s, %zu training, %zu validation and %zu test images from %s\n",
               c.dataset.c_str(), data.train.size(), data.validation.size(), data.test.size(),
               c.data.c_str());
  std::fprintf(stderr, "%s", tg::summary(model, data.train.features()).c_str());
}

// --save-model and --export-onnx, from training or (with --eval) from a checkpoint.
void save_model_files(const Config& c, tg::Module& model, const Data& data) {
  if (!c.save_model.empty())
    save_demo_model(c.save_model, model, data.train.normalization, data.train.features(),
                    data.class_names);
  if (!c.export_onnx.empty())
    export_demo_onnx(c.export_onnx, model, data.train.normalization, data.train.features());
}

void print_communication(const Config& c, const tg::dist::CommunicationStats& comm) {
  if (!c.quiet && tg::dist::size() > 1)
    std::fprintf(stderr,
                 "%d ranks: all-reduce of %zu gradient floats %.3f ms a step (MPI %.3f ms)\n",
                 tg::dist::size(), comm.floats, comm.calls ? 1e3 * comm.seconds / comm.calls : 0.0,
                 comm.calls ? 1e3 * comm.mpi_seconds / comm.calls : 0.0);
}

// The figures scripts read from stdout, printed by rank 0 alone.
void print_test_figures(const TestResults& r) {
  if (tg::dist::is_root())
    std::printf("test_loss=%.4f\ntest_accuracy=%.4f\n", r.eval.loss, r.eval.accuracy);
}

}  // namespace

int run(Config c) {
  const auto wall_start = std::chrono::steady_clock::now();
  tg::set_num_threads(c.threads);
  keep_outputs_to_root(c);
  check_output_paths(c);

  // Everything is read and checked before the model is built.
  const Checkpoint checkpoint = load_checkpoint_settings(c);
  resolve_data_folder(c);
  Data data = load_data(c, checkpoint);
  const tg::StateDict model_entries = checkpoint.entries.with_prefix_removed("model.");
  check_model(c, data.train, checkpoint, model_entries);
  hold_out_validation(c, data);
  Progress progress = load_progress(c, checkpoint);

  Learner learner = build_or_resume(c, data.train, checkpoint, model_entries);
  print_summary(c, data, *learner.model);

  if (!c.eval.empty()) {
    const TestResults r = run_test(*learner.model, data.test, 256);
    // --eval with --save-model / --export-onnx turns a training checkpoint into either.
    save_model_files(c, *learner.model, data);
    if (!c.quiet) std::printf("%s", format_confusion(r.eval, data.class_names).c_str());
    print_test_figures(r);
    return 0;
  }

  // Training, then the test set, used once.
  const TrainingRecord record = train(c, data, learner, checkpoint, std::move(progress));
  const tg::dist::CommunicationStats comm = tg::dist::communication_stats();
  print_communication(c, comm);
  const TestResults r = run_test(*learner.model, data.test, 256);
  save_model_files(c, *learner.model, data);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  if (!c.quiet) std::printf("%s", format_confusion(r.eval, data.class_names).c_str());
  if (!c.out.empty()) write_out_folder(c, data, record, r, comm, wall);
  print_test_figures(r);
  return 0;
}
