// Data: an in-memory dataset of byte images (from the IDX reader, data/idx.hpp) or of float
// samples (tabular data from the CSV reader), seeded splits, feature standardisation and a
// seeded batch iterator.
//
// Images stay bytes in memory (60000 MNIST images are 47 MB as bytes, 188 MB as floats) and are
// scaled to float only one batch at a time.
#pragma once

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/data/idx.hpp"
#include "tapegrad/data/preprocess.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tg {

// ---- datasets ----

// Pixels are mapped to (pixel / 255 - mean) / stddev. The default is plain pixel / 255.
struct Normalization {
  float mean = 0.0f;
  float stddev = 1.0f;
};

// A data set in memory. Samples are either byte images (`pixels`, scaled to float by
// `normalization` one batch at a time) or float samples of any shape (`values`, taken as they
// are: tabular data, already preprocessed). Targets are either class labels (`labels`,
// classification with `num_classes` classes) or float targets (`targets`, regression, with
// `target_size` values per sample); at most one of the two is filled: a data set with neither
// holds rows to predict.
struct Dataset {
  std::string name;                            // for messages, e.g. the images file
  std::size_t image_rows = 0, image_cols = 0;  // byte images: their size
  std::vector<std::uint8_t> pixels;            // byte images: size() * features() bytes
  Shape sample_shape;                          // float samples: one sample's shape, e.g. {30}
  std::vector<float> values;                   // float samples: size() * features() floats
  std::vector<std::int32_t> labels;            // classification: one per sample
  std::size_t num_classes = 10;
  std::vector<float> targets;  // regression: size() * target_size floats, sample after sample
  std::size_t target_size = 1;
  Normalization normalization;  // byte images: applied when a batch is made
  // Names where the source had them (a CSV header, class names in a column): for messages,
  // model files and printed predictions. Empty when unknown.
  std::vector<std::string> feature_names, target_names, class_names;

  bool is_regression() const { return !targets.empty(); }
  bool is_classification() const { return !labels.empty(); }
  bool has_float_samples() const { return !sample_shape.empty(); }
  // Samples, counted from the samples themselves (so that an unlabeled set has a size too).
  std::size_t size() const;
  // Elements of one sample: image_rows * image_cols, or the product of sample_shape.
  std::size_t features() const;
  // Throws a tg::Error naming the data set, `where` and the field when the fields disagree:
  // samples that are not a whole number of features() long, labels or targets whose count is
  // not size(), a label outside [0, num_classes), labels and targets both filled.
  void check(const std::string& where) const;
  // Samples [begin, begin + count), in order. Throws if the range is out of bounds.
  Dataset subset(std::size_t begin, std::size_t count) const;
  // The first min(n, size()) samples: a limit on the training set for quick runs.
  Dataset take(std::size_t n) const;
  // The samples at `indices`, in that order. Throws on an index out of range.
  Dataset select(const std::vector<std::size_t>& indices) const;
};

// Builds a dataset from an images and a labels file's contents: the counts must agree and
// every label must be below num_classes (the message names the label's byte offset).
Dataset make_dataset(IdxImages images, IdxLabels labels, const std::string& images_name,
                     const std::string& labels_name, std::size_t num_classes = 10);
Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         std::size_t num_classes = 10);

// The path of an MNIST-style file in `dir`. split: "train", or "test" / "t10k";
// kind: "images" or "labels". Looks for, in this order, e.g. train-images-idx3-ubyte, its
// ".gz", train-images.idx3-ubyte, its ".gz"; throws a tg::Error listing every path tried.
std::string find_mnist_file(const std::string& dir, const std::string& split,
                            const std::string& kind);
// load_idx_dataset of the images and labels that find_mnist_file finds.
Dataset load_mnist(const std::string& dir, const std::string& split);

// Mean and standard deviation of every pixel / 255 (in double), to normalise with.
Normalization pixel_statistics(const Dataset& data);

struct Split {
  Dataset train, validation;
};
// The last `validation_count` samples become the validation set, the rest stay for training.
Split split_tail(const Dataset& data, std::size_t validation_count);
// A seeded random choice of `validation_count` samples becomes the validation set; both parts
// keep the original order of their samples. The same seed gives the same split.
Split split_random(const Dataset& data, std::size_t validation_count, std::uint64_t seed);

// A seeded three-way split of the indices 0..n-1: round(n * validation_fraction) for
// validation, round(n * test_fraction) for test, the rest for training; each part in increasing
// order, every index in exactly one part. The same (n, fractions, seed) give the same split.
// Throws unless both fractions are finite, in [0, 1), and leave at least one training sample.
struct SplitIndices {
  std::vector<std::size_t> train, validation, test;
};
SplitIndices split_indices(std::size_t n, double validation_fraction, double test_fraction,
                           std::uint64_t seed);

// Per-feature standardisation learned from a training set of float samples: the mean and the
// population standard deviation of every feature (in double); a constant feature gets stddev 1
// so that it maps to 0. Throws on an empty set, byte images or a value that is not finite.
Preprocessing fit_standardization(const Dataset& train);
// Replaces the samples of `data` by preprocessing.apply of them, in place: the very floats a
// model that keeps `preprocessing` computes from the raw rows later. Throws when the data set
// does not hold float samples of preprocessing's size.
void apply_preprocessing(const Preprocessing& preprocessing, Dataset& data);

// ---- batches ----

struct Batch {
  // Byte images: size() x features(), scaled to float. Float samples: size() x sample_shape...,
  // copied as they are (so a conv model takes N x C x H x W samples directly).
  Tensor images;
  std::vector<std::int32_t> labels;  // size(), classification (empty otherwise)
  Tensor targets;                    // size() x target_size, regression (rank 0 otherwise)
  std::vector<std::size_t> indices;  // which samples of the dataset, in batch order
  std::size_t global_size = 0;       // rows of the whole global batch (all shards together)
  // Where this shard's first row is: its row in the global batch, and its place in the run
  // (epoch * samples_per_epoch + its position in the epoch's order), which keys per-sample
  // randomness such as dropout masks identically for any split over ranks.
  std::size_t global_offset = 0;
  std::uint64_t run_position = 0;
  std::size_t size() const { return indices.size(); }
};

// Walks a dataset in batches, epoch by epoch. With shuffle, the order of epoch e is a
// permutation that depends only on (seed, e): begin_epoch(k) after a restart reproduces the
// order of epoch k exactly. The last partial batch is included unless drop_last.
//
// Sharding for data-parallel training: after set_shard(rank, world_size), every global batch
// (the same batches as without sharding) is cut into world_size contiguous chunks of whole
// blocks of kBatchBlock rows and next() yields chunk `rank` (of the b blocks of a batch, rank r
// gets blocks [r*b/W, (r+1)*b/W)). The shards of one batch are disjoint and cover it. All ranks
// take the same number of steps; a rank's chunk is empty when a batch has fewer blocks than
// there are ranks (a batch of 64 has 4 blocks).
//
// The iterator keeps a reference to `data`, which must outlive it.
class BatchIterator {
 public:
  BatchIterator(const Dataset& data, std::size_t batch_size, bool shuffle, std::uint64_t seed,
                bool drop_last = false);
  // A temporary dataset would be gone before the first batch.
  BatchIterator(Dataset&&, std::size_t, bool, std::uint64_t, bool = false) = delete;

  const Dataset& dataset() const { return data_; }

  void set_shard(std::size_t rank, std::size_t world_size);
  // Starts epoch `epoch` from its first batch.
  void begin_epoch(std::uint64_t epoch);
  // Fills `batch` with the next batch of this epoch (reusing its buffers when the batch size is
  // unchanged); false at the end of the epoch.
  bool next(Batch& batch);

  std::size_t batches_per_epoch() const;
  // Samples per epoch over all shards (what the global batches add up to).
  std::size_t samples_per_epoch() const;
  std::uint64_t epoch() const { return epoch_; }
  // Rows of the batch the last next() gave this rank, and of its whole global batch (0 before
  // the first): what tg::dist::all_reduce_gradients weights this rank's gradients by, for
  // code (a tg::fit callback) that does not see the Batch itself.
  std::size_t last_rows() const { return last_rows_; }
  std::size_t last_global_rows() const { return last_global_rows_; }
  // This epoch's order of the whole dataset (before sharding).
  const std::vector<std::size_t>& order() const { return order_; }

 private:
  const Dataset& data_;
  std::size_t batch_size_;
  bool shuffle_;
  std::uint64_t seed_;
  bool drop_last_;
  std::size_t rank_ = 0, world_size_ = 1;
  std::uint64_t epoch_ = 0;
  std::size_t position_ = 0;  // start of the next global batch in order_
  std::size_t last_rows_ = 0, last_global_rows_ = 0;
  std::vector<std::size_t> order_;
};

}  // namespace tg
