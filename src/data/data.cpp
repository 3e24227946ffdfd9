#include "tapegrad/data/data.hpp"

#include "tapegrad/core/rng.hpp"
#include "tapegrad/core/threads.hpp"

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

void shuffle(std::vector<std::size_t>& v, Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

}  // namespace

namespace {
// A dataset with `d`'s name, sample shape, classes, names and normalization, and no samples yet.
Dataset empty_like(const Dataset& d) {
  Dataset out;
  out.name = d.name;
  out.image_rows = d.image_rows;
  out.image_cols = d.image_cols;
  out.sample_shape = d.sample_shape;
  out.num_classes = d.num_classes;
  out.target_size = d.target_size;
  out.normalization = d.normalization;
  out.feature_names = d.feature_names;
  out.target_names = d.target_names;
  out.class_names = d.class_names;
  return out;
}

// Copies the elements [begin * width, (begin + count) * width) of `from` to the end of `to`.
template <class T>
void append_rows(const std::vector<T>& from, std::size_t begin, std::size_t count,
                 std::size_t width, std::vector<T>& to) {
  to.insert(to.end(), from.begin() + static_cast<std::ptrdiff_t>(begin * width),
            from.begin() + static_cast<std::ptrdiff_t>((begin + count) * width));
}
}  // namespace

std::size_t Dataset::features() const {
  if (!has_float_samples()) return image_rows * image_cols;
  std::size_t n = 1;
  for (std::size_t d : sample_shape) n *= d;
  return n;
}

std::size_t Dataset::size() const {
  const std::size_t f = features();
  if (f == 0)
    return is_regression() ? targets.size() / std::max<std::size_t>(target_size, 1) : labels.size();
  return (has_float_samples() ? values.size() : pixels.size()) / f;
}

void Dataset::check(const std::string& where) const {
  const std::string at = name + ": " + where + ": ";
  const std::size_t f = features();
  if (has_float_samples()) {
    if (f == 0) throw Error(at + "sample_shape " + shape_str(sample_shape) + " has no elements");
    if (!pixels.empty())
      throw Error(at + "holds both float samples (values) and byte images (pixels)");
    if (values.size() % f != 0)
      throw Error(at + std::to_string(values.size()) +
                  " values are not a whole number of samples of " + std::to_string(f) +
                  " (sample_shape " + shape_str(sample_shape) + ")");
  } else if (f == 0) {
    if (!pixels.empty() || !labels.empty() || !targets.empty())
      throw Error(at + "neither image_rows x image_cols nor sample_shape gives a sample size");
  } else if (pixels.size() % f != 0) {
    throw Error(at + std::to_string(pixels.size()) + " pixel bytes are not a whole number of " +
                std::to_string(image_rows) + "x" + std::to_string(image_cols) + " images");
  }
  const std::size_t n = size();
  if (!labels.empty() && !targets.empty())
    throw Error(at + "holds both labels (classification) and targets (regression)");
  if (!labels.empty()) {
    if (labels.size() != n)
      throw Error(at + std::to_string(labels.size()) + " labels for " + std::to_string(n) +
                  " samples");
    if (num_classes == 0) throw Error(at + "num_classes is 0");
    for (std::size_t i = 0; i < n; ++i)
      if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= num_classes)
        throw Error(at + "label of sample " + std::to_string(i) + " is " +
                    std::to_string(labels[i]) + ", expected 0.." + std::to_string(num_classes - 1));
  }
  if (!targets.empty()) {
    if (target_size == 0) throw Error(at + "target_size is 0");
    if (targets.size() != n * target_size)
      throw Error(at + std::to_string(targets.size()) + " targets for " + std::to_string(n) +
                  " samples of " + std::to_string(target_size) + " target(s) each");
  }
}

Dataset Dataset::subset(std::size_t begin, std::size_t count) const {
  check("subset");
  if (begin > size() || count > size() - begin)
    throw Error(name + ": subset [" + std::to_string(begin) + ", " + std::to_string(begin) + " + " +
                std::to_string(count) + ") is out of range for " + std::to_string(size()) +
                " samples");
  Dataset out = empty_like(*this);
  const std::size_t f = features();
  if (has_float_samples())
    append_rows(values, begin, count, f, out.values);
  else
    append_rows(pixels, begin, count, f, out.pixels);
  if (!labels.empty()) append_rows(labels, begin, count, 1, out.labels);
  if (!targets.empty()) append_rows(targets, begin, count, target_size, out.targets);
  return out;
}

Dataset Dataset::take(std::size_t n) const {
  return subset(0, std::min(n, size()));
}

Dataset Dataset::select(const std::vector<std::size_t>& indices) const {
  check("select");
  const std::size_t n = size();
  for (std::size_t k = 0; k < indices.size(); ++k)
    if (indices[k] >= n)
      throw Error(name + ": select: index " + std::to_string(indices[k]) + " (position " +
                  std::to_string(k) + ") is out of range for " + std::to_string(n) + " samples");
  Dataset out = empty_like(*this);
  const std::size_t f = features();
  const bool floats = has_float_samples();
  if (floats)
    out.values.reserve(indices.size() * f);
  else
    out.pixels.reserve(indices.size() * f);
  if (!labels.empty()) out.labels.reserve(indices.size());
  if (!targets.empty()) out.targets.reserve(indices.size() * target_size);
  for (std::size_t i : indices) {
    if (floats)
      append_rows(values, i, 1, f, out.values);
    else
      append_rows(pixels, i, 1, f, out.pixels);
    if (!labels.empty()) out.labels.push_back(labels[i]);
    if (!targets.empty()) append_rows(targets, i, 1, target_size, out.targets);
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
                " validation samples requested of " + std::to_string(data.size()));
  const std::size_t train = data.size() - validation_count;
  return {data.subset(0, train), data.subset(train, validation_count)};
}

Split split_random(const Dataset& data, std::size_t validation_count, std::uint64_t seed) {
  if (validation_count > data.size())
    throw Error(data.name + ": split_random: " + std::to_string(validation_count) +
                " validation samples requested of " + std::to_string(data.size()));
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

SplitIndices split_indices(std::size_t n, double validation_fraction, double test_fraction,
                           std::uint64_t seed) {
  for (const auto& [what, f] : {std::pair{"validation_fraction", validation_fraction},
                                std::pair{"test_fraction", test_fraction}})
    if (!(std::isfinite(f) && f >= 0.0 && f < 1.0))
      throw Error(std::string("split_indices: ") + what + " is " + std::to_string(f) +
                  ", expected a fraction in [0, 1)");
  const auto count = [n](double f) {
    return static_cast<std::size_t>(std::llround(static_cast<double>(n) * f));
  };
  const std::size_t v = count(validation_fraction), t = count(test_fraction);
  if (n == 0 || v + t >= n)
    throw Error("split_indices: " + std::to_string(v) + " validation and " + std::to_string(t) +
                " test samples of " + std::to_string(n) + " leave none for training");
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  Rng rng(seed);
  shuffle(order, rng);
  const auto part = [&](std::size_t begin, std::size_t end) {
    std::vector<std::size_t> p(order.begin() + static_cast<std::ptrdiff_t>(begin),
                               order.begin() + static_cast<std::ptrdiff_t>(end));
    std::sort(p.begin(), p.end());
    return p;
  };
  return {part(v + t, n), part(0, v), part(v, v + t)};
}

Preprocessing fit_standardization(const Dataset& train) {
  train.check("fit_standardization");
  if (!train.has_float_samples())
    throw Error(train.name +
                ": fit_standardization needs float samples (byte images: pixel_statistics)");
  const std::size_t n = train.size(), f = train.features();
  if (n == 0) throw Error(train.name + ": fit_standardization of an empty data set");
  // Two passes in double: the mean, then the squared deviations from it (no cancellation).
  std::vector<double> mean(f, 0.0), squares(f, 0.0);
  std::vector<bool> constant(f, true);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < f; ++j) {
      const float x = train.values[i * f + j];
      if (!std::isfinite(x))
        throw Error(train.name + ": fit_standardization: sample " + std::to_string(i) +
                    ", feature " + std::to_string(j) + " is " + std::to_string(x));
      mean[j] += x;
      constant[j] = constant[j] && x == train.values[j];
    }
  for (double& m : mean) m /= static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < f; ++j) {
      const double d = train.values[i * f + j] - mean[j];
      squares[j] += d * d;
    }
  Preprocessing p;
  p.input_shape = train.sample_shape;
  p.mean.assign(f, 0.0f);
  p.stddev.assign(f, 1.0f);
  for (std::size_t j = 0; j < f; ++j) {
    p.mean[j] = static_cast<float>(mean[j]);
    const auto sd = static_cast<float>(std::sqrt(squares[j] / static_cast<double>(n)));
    // A constant feature carries no information; stddev 1 maps it to 0 instead of 0 / 0.
    if (!constant[j] && sd > 0.0f && std::isfinite(sd)) p.stddev[j] = sd;
  }
  return p;
}

void apply_preprocessing(const Preprocessing& preprocessing, Dataset& data) {
  preprocessing.check();
  data.check("apply_preprocessing");
  if (!data.has_float_samples() || data.features() != preprocessing.sample_size())
    throw Error(data.name + ": apply_preprocessing: samples of " +
                (data.has_float_samples() ? shape_str(data.sample_shape) : "byte images") +
                " do not fit preprocessing for input " + shape_str(preprocessing.input_shape));
  // apply reads each element before it writes the same position: in place is safe.
  preprocessing.apply(data.values.data(), data.values.data(), data.size());
}

// ---- batches ----

BatchIterator::BatchIterator(const Dataset& data, std::size_t batch_size, bool shuffle,
                             std::uint64_t seed, bool drop_last)
    : data_(data), batch_size_(batch_size), shuffle_(shuffle), seed_(seed), drop_last_(drop_last) {
  if (batch_size == 0) throw Error(data.name + ": BatchIterator: batch size must be positive");
  data.check("BatchIterator");
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

namespace {
// `images` as rows x sample_shape..., reshaped only when that differs from what it is: building
// the shape would allocate, and a training step must not.
void resize_samples(Tensor& images, std::size_t rows, const Shape& sample_shape) {
  bool same = images.dimension() == sample_shape.size() + 1 && images.shape(0) == rows;
  for (std::size_t d = 0; same && d < sample_shape.size(); ++d)
    same = images.shape(d + 1) == sample_shape[d];
  if (same) return;
  Shape shape{rows};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  resize(images, shape);
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
  const std::size_t blocks = (global + kBatchBlock - 1) / kBatchBlock;
  const std::size_t offset = std::min(global, rank_ * blocks / world_size_ * kBatchBlock);
  const std::size_t end = std::min(global, (rank_ + 1) * blocks / world_size_ * kBatchBlock);
  const std::size_t lo = position_ + offset, hi = position_ + end;
  batch.global_offset = offset;
  batch.run_position = epoch_ * samples_per_epoch() + lo;
  position_ += global;

  const std::size_t rows = hi - lo, f = data_.features();
  if (data_.has_float_samples())
    resize_samples(batch.images, rows, data_.sample_shape);
  else
    resize(batch.images, rows, f);
  const bool labeled = data_.is_classification(), regression = data_.is_regression();
  batch.labels.resize(labeled ? rows : 0);
  if (regression)
    resize(batch.targets, rows, data_.target_size);
  else if (batch.targets.dimension() != 0)
    batch.targets = Tensor();  // only when one Batch serves data sets of both kinds
  batch.indices.resize(rows);
  batch.global_size = global;
  last_rows_ = rows;
  last_global_rows_ = global;
  float* out = batch.images.data();
  const std::size_t ts = data_.target_size;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t i = order_[lo + r];
    batch.indices[r] = i;
    if (labeled) batch.labels[r] = data_.labels[i];
    if (regression) std::copy_n(data_.targets.data() + i * ts, ts, batch.targets.data() + r * ts);
    if (data_.has_float_samples())
      std::copy_n(data_.values.data() + i * f, f, out + r * f);
    else
      scale_pixels(data_.pixels.data() + i * f, out + r * f, f, data_.normalization);
  }
  return true;
}

}  // namespace tg
