#include "out_folder.hpp"

#include "output_paths.hpp"
#include "report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace {

using json = nlohmann::json;

json metrics_json(const Config& c, const Data& data, const TrainingRecord& record,
                  const TestResults& r, const tg::dist::CommunicationStats& comm, double wall) {
  json per_class = json::array();
  for (std::size_t i = 0; i < r.eval.confusion.size(); ++i) {
    std::size_t total = 0;
    for (std::size_t v : r.eval.confusion[i]) total += v;
    per_class.push_back(total ? static_cast<double>(r.eval.confusion[i][i]) / total : 0.0);
  }
  return {
      {"config",
       {{"dataset", c.dataset},
        {"data", c.data},
        {"epochs", c.epochs},
        {"batch", c.batch},
        {"lr", c.lr},
        {"optimizer", c.optimizer},
        {"model", c.model},
        {"hidden", c.hidden},
        {"activation", c.activation},
        {"init", c.init},
        {"batchnorm", c.batchnorm},
        {"dropout", c.dropout},
        {"schedule", c.schedule},
        {"clip", c.clip},
        {"threads", tg::num_threads()},
        {"seed", c.seed},
        {"train_limit", c.train_limit},
        {"validation", c.validation},
        {"early_stopping", c.early_stopping},
        {"train_samples", data.train.size()},
        {"validation_samples", data.validation.size()}}},
      {"epochs", record.history},
      {"grad_norm_layers", record.weight_names},
      {"test_loss", r.eval.loss},
      {"test_accuracy", r.eval.accuracy},
      {"per_class_accuracy", per_class},
      {"confusion", r.eval.confusion},
      {"class_names", data.class_names},
      {"wall_seconds", wall},
      {"distributed",
       {{"ranks", tg::dist::size()},
        {"gradient_floats", comm.floats},
        {"allreduce_steps", comm.calls},
        {"allreduce_ms_per_step", comm.calls ? 1e3 * comm.seconds / comm.calls : 0.0},
        {"mpi_allreduce_ms_per_step", comm.calls ? 1e3 * comm.mpi_seconds / comm.calls : 0.0}}}};
}

std::string metrics_csv(const json& history) {
  std::ostringstream csv;
  csv << "epoch,train_loss,train_accuracy,val_loss,val_accuracy,train_seconds,samples_per_"
         "second,lr\n";
  for (const json& e : history)
    csv << e["epoch"] << "," << e["train_loss"] << "," << e["train_accuracy"] << ","
        << e.value("val_loss", 0.0) << "," << e.value("val_accuracy", 0.0) << ","
        << e["train_seconds"] << "," << e["samples_per_second"] << "," << e["lr"] << "\n";
  return csv.str();
}

// training_curves.svg (loss, accuracy and learning rate by epoch) and gradient_norms.svg (one line
// a layer).
void write_charts(const Config& c, const TrainingRecord& record) {
  const json& history = record.history;
  const std::vector<std::string>& weight_names = record.weight_names;
  using tg::demo::series_color;  // colour-blind safe
  tg::demo::Panel loss{"loss",
                       {{"train", series_color(0), {}}, {"validation", series_color(1), {}}}};
  tg::demo::Panel acc{"accuracy",
                      {{"train", series_color(0), {}}, {"validation", series_color(1), {}}}};
  tg::demo::Panel norms{"RMS weight gradient per layer (log scale)", {}, true};
  for (std::size_t i = 0; i < weight_names.size(); ++i)
    norms.series.push_back({"layer " + weight_names[i], series_color(i), {}});
  std::vector<double> lr;
  for (const json& e : history) {
    lr.push_back(e["lr"]);
    loss.series[0].values.push_back(e["train_loss"]);
    loss.series[1].values.push_back(e.value("val_loss", NAN));
    acc.series[0].values.push_back(e["train_accuracy"]);
    acc.series[1].values.push_back(e.value("val_accuracy", NAN));
    for (std::size_t i = 0; i < weight_names.size() && i < e["grad_rms"].size(); ++i)
      norms.series[i].values.push_back(e["grad_rms"][i]);
  }
  const std::string arch = c.model == "mlp" ? c.hidden + " " + c.activation : c.model;
  const std::string title = "tapegrad " + c.dataset + ": " + arch + ", " + c.optimizer +
                            ", batch " + std::to_string(c.batch);
  tg::demo::write_line_charts_svg(c.out + "/training_curves.svg", title,
                                  {loss, acc, tg::demo::learning_rate_panel(lr)});
  tg::demo::write_line_charts_svg(c.out + "/gradient_norms.svg", title, {norms});
}

// The 32 test images the model got wrong with the most confidence.
void write_misclassified(const Config& c, const Data& data, const TestResults& r) {
  const tg::Dataset& test = data.test;
  std::vector<std::size_t> wrong;
  for (std::size_t i = 0; i < r.predicted.size(); ++i)
    if (r.predicted[i] != test.labels[i]) wrong.push_back(i);
  std::stable_sort(wrong.begin(), wrong.end(),
                   [&](std::size_t a, std::size_t b) { return r.confidence[a] > r.confidence[b]; });
  if (wrong.size() > 32) wrong.resize(32);
  std::vector<tg::demo::Tile> tiles;
  for (std::size_t i : wrong)
    tiles.push_back({test.pixels.data() + i * test.features(), test.labels[i], r.predicted[i],
                     r.confidence[i]});
  tg::demo::write_image_grid_png(c.out + "/misclassified.png", tiles, data.class_names);
}

}  // namespace

void write_out_folder(const Config& c, const Data& data, const TrainingRecord& record,
                      const TestResults& r, const tg::dist::CommunicationStats& comm,
                      double wall_seconds) {
  write_file(c.out + "/metrics.json",
             metrics_json(c, data, record, r, comm, wall_seconds).dump(2) + "\n");
  write_file(c.out + "/metrics.csv", metrics_csv(record.history));
  write_charts(c, record);
  tg::demo::write_confusion_svg(c.out + "/confusion_matrix.svg", r.eval.confusion,
                                data.class_names);
  write_misclassified(c, data, r);
  if (!c.quiet)
    std::fprintf(stderr,
                 "wrote metrics.json, metrics.csv, training_curves.svg, "
                 "gradient_norms.svg, confusion_matrix.svg, misclassified.png to %s\n",
                 c.out.c_str());
}
