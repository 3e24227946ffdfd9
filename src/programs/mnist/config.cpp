#include "config.hpp"

#include "tapegrad/tapegrad.hpp"

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdlib>

void add_options(CLI::App& app, Config& c) {
  // CLI11's ranges let NaN through and its unsigned options wrap "-1": refuse both by text.
  const CLI::Validator finite(
      [](std::string& text) {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        return end != text.c_str() && *end == '\0' && std::isfinite(v)
                   ? std::string()
                   : "'" + text + "' is not a finite number";
      },
      "FINITE");
  const CLI::Validator whole(
      [](std::string& text) {
        return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos
                   ? std::string()
                   : "'" + text + "' is not a whole number >= 0";
      },
      "WHOLE");
  app.option_defaults()->always_capture_default();  // --help shows each option's default
  app.add_option("--data", c.data,
                 "folder with the IDX files (default data/mnist, or the "
                 "Debian Fashion-MNIST folder for --dataset fashion)");
  app.add_option("--dataset", c.dataset, "mnist or fashion")
      ->check(CLI::IsMember({"mnist", "fashion"}));
  app.add_option("--epochs", c.epochs, "total epochs (with --resume: including those done)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--batch", c.batch, "batch size")->check(whole & CLI::Range(1, 1 << 20));
  app.add_option("--lr", c.lr, "learning rate")->check(finite & CLI::PositiveNumber);
  app.add_option("--optimizer", c.optimizer, "sgd|momentum|nesterov|rmsprop|adam|adamw")
      ->check(CLI::IsMember({"sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"}));
  app.add_option("--model", c.model,
                 "mlp (--hidden layers), lenet, cnn (two 3x3 convolutions) or lstm (rows as "
                 "time steps)")
      ->check(CLI::IsMember(model_names()));
  app.add_option("--hidden", c.hidden, "mlp: hidden layer widths, e.g. 256,128");
  app.add_option("--activation", c.activation, "relu|leaky_relu|elu|tanh|sigmoid")
      ->check(CLI::IsMember({"relu", "leaky_relu", "elu", "tanh", "sigmoid"}));
  app.add_option("--init", c.init, "he|xavier|lecun")
      ->check(CLI::IsMember({"he", "xavier", "lecun"}));
  app.add_flag("--batchnorm", c.batchnorm, "batch normalisation after each hidden layer");
  app.add_option("--dropout", c.dropout, "dropout probability after each hidden layer")
      ->check(finite & CLI::Range(0.0f, 0.95f));
  app.add_option("--schedule", c.schedule, "none|step|cosine|plateau (default cosine)")
      ->check(CLI::IsMember({"none", "step", "cosine", "plateau"}));
  app.add_option("--clip", c.clip, "clip the global gradient norm (0 = off)")
      ->check(finite & CLI::NonNegativeNumber);
  app.add_option("--threads", c.threads, "threads for everything, BLAS included (0 = all cores)")
      ->check(whole);
  app.add_option("--seed", c.seed, "seed for initialisation, shuffling and dropout")->check(whole);
  app.add_option("--train-limit", c.train_limit,
                 "use only the first N training images left after --validation (0 = all)")
      ->check(whole);
  app.add_option("--validation", c.validation,
                 "training images held out (seeded) as the validation set for early stopping "
                 "and --schedule plateau (0 = none); the test set is used once, at the end")
      ->check(whole);
  app.add_option("--early-stopping", c.early_stopping,
                 "stop when the validation loss has not improved for this many epochs and keep "
                 "the best epoch's weights (0 = off)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--save", c.save, "write a checkpoint after every epoch (atomically)");
  app.add_option("--save-model", c.save_model,
                 "write the trained model as a model file (tapegrad-predict, tg::load_model)");
  app.add_option("--export-onnx", c.export_onnx,
                 "write the trained model as ONNX: raw pixels 0-255 in, probabilities out");
  app.add_option("--resume", c.resume, "continue from a checkpoint")->check(CLI::ExistingFile);
  app.add_option("--eval", c.eval, "load a checkpoint and report test accuracy")
      ->check(CLI::ExistingFile);
  app.add_option("--out", c.out, "write metrics.json, metrics.csv and pictures to this folder");
  app.add_flag("--quiet", c.quiet, "print only the final figures");
  app.add_option("--graph", c.graph,
                 "write the tape of one training step as a Graphviz DOT "
                 "file (and FILE.svg when graphviz is installed)");
  app.add_flag("--detect-anomaly", c.detect_anomaly,
               "stop at the first NaN or infinity, naming the op, its layer and shapes");
}

void record_given_options(const CLI::App& app, Config& c) {
  for (const CLI::Option* option : app.get_options())
    if (option->count() > 0 && !option->get_lnames().empty())
      c.given.insert("--" + option->get_lnames().front());
}

void resolve_data_folder(Config& c) {
  const bool fashion = c.dataset == "fashion";
  if (!fashion && c.dataset != "mnist")
    throw tg::Error("--dataset: unknown '" + c.dataset + "' (mnist or fashion)");
  if (c.data.empty()) c.data = fashion ? "/usr/share/datasets/fashion-mnist" : "data/mnist";
}

ModelSpec model_spec(const Config& c) {
  return ModelSpec{c.model, c.hidden, c.activation, c.init, c.batchnorm, c.dropout, c.seed};
}
