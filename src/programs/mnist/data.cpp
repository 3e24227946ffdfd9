#include "data.hpp"

#include <utility>

namespace {

const std::vector<std::string> kMnistClasses = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
const std::vector<std::string> kFashionClasses = {
    "T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"};

// The data every run checks before it trains: neither set empty, the same image size in both,
// and the size the checkpoint's model was trained on.
void check_data(const tg::Dataset& train, const tg::Dataset& test, const tg::StateDict& checkpoint,
                const std::string& loaded_from) {
  if (train.size() == 0) throw tg::Error(train.name + ": the training set is empty");
  if (test.size() == 0) throw tg::Error(test.name + ": the test set is empty");
  auto size = [](const tg::Dataset& d) {
    return std::to_string(d.image_rows) + "x" + std::to_string(d.image_cols);
  };
  if (test.image_rows != train.image_rows || test.image_cols != train.image_cols)
    throw tg::Error(test.name + ": test images are " + size(test) + " pixels, but the training " +
                    "images of " + train.name + " are " + size(train));
  if (loaded_from.empty() || !checkpoint.integers.count("config.image_rows")) return;
  const auto rows = checked_integer(checkpoint, "config.image_rows", 1, 1 << 16, loaded_from);
  const auto cols = checked_integer(checkpoint, "config.image_cols", 1, 1 << 16, loaded_from);
  if (static_cast<std::size_t>(rows) != train.image_rows ||
      static_cast<std::size_t>(cols) != train.image_cols)
    throw tg::Error(loaded_from + ": the model was trained on " + std::to_string(rows) + "x" +
                    std::to_string(cols) + " images, but " + train.name + " holds " + size(train));
}

}  // namespace

Data load_data(const Config& c, const Checkpoint& checkpoint) {
  Data data;
  data.class_names = c.dataset == "fashion" ? kFashionClasses : kMnistClasses;
  data.train = tg::load_mnist(c.data, "train");
  data.test = tg::load_mnist(c.data, "test");
  check_data(data.train, data.test, checkpoint.entries, checkpoint.file);
  return data;
}

void hold_out_validation(const Config& c, Data& data) {
  // The validation images are held out first, by the seed alone, so that --train-limit and
  // --resume see the same training images; --train-limit then keeps the first N of the rest.
  if (c.eval.empty() && c.validation > 0) {
    if (c.validation >= data.train.size())
      throw tg::Error("--validation " + std::to_string(c.validation) + " leaves no training " +
                      "images of the " + std::to_string(data.train.size()) + " in " +
                      data.train.name);
    tg::Split split = tg::split_random(data.train, c.validation, c.seed);
    data.train = std::move(split.train);
    data.validation = std::move(split.validation);
  }
  if (c.train_limit > 0) data.train = data.train.take(c.train_limit);
}
