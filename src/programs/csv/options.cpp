#include "options.hpp"

#include <CLI/CLI.hpp>

namespace tapegrad_csv {

bool parse_options(int argc, char** argv, Options& o, int& exit_code) {
  CLI::App app{
      "tapegrad-csv: trains an MLP (Dense + ReLU, Adam, early stopping) on a CSV file and "
      "reports the held-out test metrics last"};
  app.option_defaults()->always_capture_default();
  app.add_option("--csv", o.csv, "the data: plain or gzip CSV, one sample per row")->required();
  app.add_option("--target", o.target,
                 "target column: a header name or an index, negative from the end (default: "
                 "the last column)");
  app.add_option("--targets", o.targets,
                 "targets in a separate CSV, row-aligned with --csv (every --csv column is then "
                 "a feature)");
  app.add_option("--task", o.task, "regression, classification or auto (from the target column)")
      ->check(CLI::IsMember({"auto", "regression", "classification"}));
  app.add_option("--header", o.header, "whether the first row names the columns")
      ->check(CLI::IsMember({"auto", "yes", "no"}));
  app.add_option("--skip-rows", o.skip_rows, "lines to skip before the header or data");
  app.add_option("--hidden", o.hidden, "hidden layer widths")->delimiter(',');
  app.add_option("--epochs", o.epochs, "at most this many epochs")->check(CLI::PositiveNumber);
  app.add_option("--lr", o.lr, "Adam's learning rate")->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--seed", o.seed, "seeds the split, the weights and the batch order");
  app.add_option("--test-fraction", o.test_fraction, "share of the rows held out for the test")
      ->check(CLI::Range(0.0, 0.99));
  app.add_option("--validation-fraction", o.validation_fraction,
                 "share of the rows for early stopping")
      ->check(CLI::Range(0.0, 0.99));
  app.add_option("--patience", o.patience,
                 "stop after this many epochs without a better validation loss (0: off)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--baseline", o.baseline,
                 "also fit ordinary least squares on the same split (regression)")
      ->check(CLI::IsMember({"", "ols"}));
  app.add_option("--save-model", o.save_model, "write the trained model (with its preprocessing)");
  app.add_option("--export-onnx", o.export_onnx, "write the trained model as ONNX");
  app.add_flag("--quiet", o.quiet, "no per-epoch lines");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    exit_code = app.exit(e);
    return false;
  }
  for (std::size_t width : o.hidden)
    if (width == 0) {
      std::fprintf(stderr, "tapegrad-csv: --hidden: a layer of width 0\n");
      exit_code = 2;
      return false;
    }
  return true;
}

}  // namespace tapegrad_csv
