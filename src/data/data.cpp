#include "tapegrad/data/data.hpp"

#include "tapegrad/core/rng.hpp"

#include <zlib.h>

#include <sys/stat.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

namespace tg {
namespace {

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::uint64_t splitmix64(std::uint64_t x) {
  std::uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void shuffle(std::vector<std::size_t>& v, Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

}  // namespace

namespace {
// A dataset with `d`'s name, image shape, classes and normalization, and no images yet.
Dataset empty_like(const Dataset& d) {
  Dataset out;
  out.name = d.name;
  out.image_rows = d.image_rows;
  out.image_cols = d.image_cols;
  out.num_classes = d.num_classes;
  out.normalization = d.normalization;
  return out;
}
}  // namespace

std::size_t Dataset::features() const {
  if (!has_float_samples()) return image_rows * image_cols;
  std::size_t n = 1;
  for (std::size_t d : sample_shape) n *= d;
  return n;
}

Dataset Dataset::subset(std::size_t begin, std::size_t count) const {
  if (begin > size() || count > size() - begin)
    throw Error(name + ": subset [" + std::to_string(begin) + ", " + std::to_string(begin) + " + " +
                std::to_string(count) + ") is out of range for " + std::to_string(size()) +
                " images");
  Dataset out = empty_like(*this);
  const std::size_t f = features();
  out.pixels.assign(pixels.begin() + static_cast<std::ptrdiff_t>(begin * f),
                    pixels.begin() + static_cast<std::ptrdiff_t>((begin + count) * f));
  out.labels.assign(labels.begin() + static_cast<std::ptrdiff_t>(begin),
                    labels.begin() + static_cast<std::ptrdiff_t>(begin + count));
  return out;
}

Dataset Dataset::take(std::size_t n) const {
  return subset(0, std::min(n, size()));
}

Dataset Dataset::select(const std::vector<std::size_t>& indices) const {
  Dataset out = empty_like(*this);
  const std::size_t f = features();
  out.pixels.resize(indices.size() * f);
  out.labels.resize(indices.size());
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const std::size_t i = indices[k];
    if (i >= size())
      throw Error(name + ": select: index " + std::to_string(i) + " is out of range for " +
                  std::to_string(size()) + " images");
    std::copy_n(pixels.data() + i * f, f, out.pixels.data() + k * f);
    out.labels[k] = labels[i];
  }
  return out;
}

Dataset make_dataset(IdxImages images, IdxLabels labels, const std::string& images_name,
                     const std::string& labels_name, std::size_t num_classes) {
  if (images.count != labels.labels.size())
    throw Error(labels_name + ": byte 4: label count " + std::to_string(labels.labels.size()) +
                " does not match the image count " + std::to_string(images.count) + " of " +
                images_name);
  Dataset out;
  out.name = images_name;
  out.image_rows = images.rows;
  out.image_cols = images.cols;
  out.num_classes = num_classes;
  out.labels.resize(labels.labels.size());
  for (std::size_t i = 0; i < labels.labels.size(); ++i) {
    const unsigned label = labels.labels[i];
    if (label >= num_classes)
      throw Error(labels_name + ": byte " + std::to_string(8 + i) + ": label of item " +
                  std::to_string(i) + " is " + std::to_string(label) + ", expected 0.." +
                  std::to_string(num_classes - 1));
    out.labels[i] = static_cast<std::int32_t>(label);
  }
  out.pixels = std::move(images.pixels);
  return out;
}

Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         std::size_t num_classes) {
  IdxLabels labels = read_idx_labels(labels_path);
  IdxImages images = read_idx_images(images_path);
  return make_dataset(std::move(images), std::move(labels), images_path, labels_path, num_classes);
}

std::string find_mnist_file(const std::string& dir, const std::string& split,
                            const std::string& kind) {
  std::string prefix;
  if (split == "train")
    prefix = "train";
  else if (split == "test" || split == "t10k")
    prefix = "t10k";
  else
    throw Error("find_mnist_file: split is '" + split + "', expected 'train' or 'test'");
  std::string idx;
  if (kind == "images")
    idx = "idx3-ubyte";
  else if (kind == "labels")
    idx = "idx1-ubyte";
  else
    throw Error("find_mnist_file: kind is '" + kind + "', expected 'images' or 'labels'");
  const std::string base = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  std::vector<std::string> tried;
  for (const char* sep : {"-", "."})
    for (const char* ext : {"", ".gz"}) {
      tried.push_back(base + prefix + "-" + kind + sep + idx + ext);
      if (file_exists(tried.back())) return tried.back();
    }
  std::string list;
  for (const auto& t : tried) list += "\n  " + t;
  throw Error("no MNIST " + split + " " + kind + " file in '" + dir + "'; looked for:" + list);
}

Dataset load_mnist(const std::string& dir, const std::string& split) {
  const std::string images = find_mnist_file(dir, split, "images");
  const std::string labels = find_mnist_file(dir, split, "labels");
  return load_idx_dataset(images, labels, 10);
}

Normalization pixel_statistics(const Dataset& data) {
  std::uint64_t histogram[256] = {};
  for (std::uint8_t p : data.pixels) ++histogram[p];
  double n = 0, sum = 0, sum_sq = 0;
  for (int v = 0; v < 256; ++v) {
    const double x = v / 255.0, c = static_cast<double>(histogram[v]);
    n += c;
    sum += c * x;
    sum_sq += c * x * x;
  }
  if (n == 0) throw Error(data.name + ": pixel_statistics of an empty dataset");
  const double mean = sum / n;
  const double var = std::max(0.0, sum_sq / n - mean * mean);
  return {static_cast<float>(mean), static_cast<float>(std::sqrt(var))};
}

Split split_tail(const Dataset& data, std::size_t validation_count) {
  if (validation_count > data.size())
    throw Error(data.name + ": split_tail: " + std::to_string(validation_count) +
                " validation images requested of " + std::to_string(data.size()));
  const std::size_t train = data.size() - validation_count;
  return {data.subset(0, train), data.subset(train, validation_count)};
}

Split split_random(const Dataset& data, std::size_t validation_count, std::uint64_t seed) {
  if (validation_count > data.size())
    throw Error(data.name + ": split_random: " + std::to_string(validation_count) +
                " validation images requested of " + std::to_string(data.size()));
  std::vector<std::size_t> order(data.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng rng(seed);
  shuffle(order, rng);
  std::vector<std::size_t> validation(
      order.begin(), order.begin() + static_cast<std::ptrdiff_t>(validation_count));
  std::vector<std::size_t> train(order.begin() + static_cast<std::ptrdiff_t>(validation_count),
                                 order.end());
  std::sort(validation.begin(), validation.end());
  std::sort(train.begin(), train.end());
  return {data.select(train), data.select(validation)};
}

// ---- batches ----

BatchIterator::BatchIterator(const Dataset& data, std::size_t batch_size, bool shuffle,
                             std::uint64_t seed, bool drop_last)
    : data_(data), batch_size_(batch_size), shuffle_(shuffle), seed_(seed), drop_last_(drop_last) {
  if (batch_size == 0) throw Error(data.name + ": BatchIterator: batch size must be positive");
  if (data.pixels.size() != data.size() * data.features())
    throw Error(data.name + ": BatchIterator: " + std::to_string(data.pixels.size()) +
                " pixel bytes for " + std::to_string(data.size()) + " images of " +
                std::to_string(data.features()) + " pixels");
  const Normalization& norm = data.normalization;
  if (!(norm.stddev > 0.0f) || !std::isfinite(norm.stddev) || !std::isfinite(norm.mean))
    throw Error(data.name +
                ": BatchIterator: normalization needs a finite mean and a positive "
                "finite stddev, got mean " +
                std::to_string(norm.mean) + ", stddev " + std::to_string(norm.stddev));
  begin_epoch(0);
}

void BatchIterator::set_shard(std::size_t rank, std::size_t world_size) {
  if (world_size == 0 || rank >= world_size)
    throw Error("BatchIterator::set_shard: rank " + std::to_string(rank) +
                " is not in [0, world_size = " + std::to_string(world_size) + ")");
  rank_ = rank;
  world_size_ = world_size;
}

void BatchIterator::begin_epoch(std::uint64_t epoch) {
  epoch_ = epoch;
  position_ = 0;
  order_.resize(data_.size());
  for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  if (shuffle_) {
    Rng rng(splitmix64(splitmix64(seed_) ^ epoch));
    shuffle(order_, rng);
  }
}

std::size_t BatchIterator::batches_per_epoch() const {
  const std::size_t n = data_.size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

namespace {
// pixel / 255, then (x - mean) / stddev unless that is the identity: the same arithmetic as a
// lookup table of the 256 values would hold, but as a loop the compiler vectorizes.
void scale_pixels(const std::uint8_t* px, float* out, std::size_t n, const Normalization& norm) {
  if (norm.mean == 0.0f && norm.stddev == 1.0f) {
    for (std::size_t j = 0; j < n; ++j) out[j] = static_cast<float>(px[j]) / 255.0f;
  } else {
    for (std::size_t j = 0; j < n; ++j)
      out[j] = (static_cast<float>(px[j]) / 255.0f - norm.mean) / norm.stddev;
  }
}
}  // namespace

std::size_t BatchIterator::samples_per_epoch() const {
  return drop_last_ ? data_.size() / batch_size_ * batch_size_ : data_.size();
}

bool BatchIterator::next(Batch& batch) {
  const std::size_t n = order_.size();
  if (position_ >= n) return false;
  const std::size_t global = std::min(batch_size_, n - position_);
  if (drop_last_ && global < batch_size_) {
    position_ = n;
    return false;
  }
  const std::size_t lo = position_ + rank_ * global / world_size_;
  const std::size_t hi = position_ + (rank_ + 1) * global / world_size_;
  position_ += global;

  const std::size_t rows = hi - lo, f = data_.features();
  resize(batch.images, rows, f);
  batch.labels.resize(rows);
  batch.indices.resize(rows);
  batch.global_size = global;
  last_rows_ = rows;
  last_global_rows_ = global;
  float* out = batch.images.data();
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t i = order_[lo + r];
    batch.indices[r] = i;
    batch.labels[r] = data_.labels[i];
    scale_pixels(data_.pixels.data() + i * f, out + r * f, f, data_.normalization);
  }
  return true;
}

}  // namespace tg
