// The IDX reader is strict (every defect is an error naming the file, the field and the byte
// offset); datasets keep bytes; the batch iterator is seeded, complete and shardable.
#include "fork_util.hpp"
#include "tapegrad/tapegrad.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <set>
#include <string>
#include <vector>

using namespace tg;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;
using test::expect_error;
using test::read_file;
using test::TempDir;
using test::write_file;

void put_be32(Bytes& b, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// A valid IDX images file: pixel (i, r, c) = (7 * i + 3 * r + c) mod 256.
Bytes idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols) {
  Bytes b;
  put_be32(b, 0x00000803);
  put_be32(b, count);
  put_be32(b, rows);
  put_be32(b, cols);
  for (std::uint32_t i = 0; i < count; ++i)
    for (std::uint32_t r = 0; r < rows; ++r)
      for (std::uint32_t c = 0; c < cols; ++c)
        b.push_back(static_cast<std::uint8_t>(7 * i + 3 * r + c));
  return b;
}

Bytes idx_labels(const std::vector<std::uint8_t>& labels) {
  Bytes b;
  put_be32(b, 0x00000801);
  put_be32(b, static_cast<std::uint32_t>(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

// A header that declares a size, with no data behind it.
Bytes idx_images_header(std::uint32_t count, std::uint32_t rows, std::uint32_t cols) {
  Bytes b;
  put_be32(b, 0x00000803);
  put_be32(b, count);
  put_be32(b, rows);
  put_be32(b, cols);
  return b;
}

void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile g = gzopen(path.c_str(), "wb");
  ASSERT_NE(g, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(g, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
  }
  ASSERT_EQ(gzclose(g), Z_OK);
}

std::vector<std::uint8_t> some_labels(std::size_t n) {
  std::vector<std::uint8_t> l(n);
  for (std::size_t i = 0; i < n; ++i) l[i] = static_cast<std::uint8_t>((i * 3) % 10);
  return l;
}

// A dataset of n 2x3 images whose first pixel is the image's index (n <= 256) and whose
// label is index mod 10: a batch tells which images it holds by its pixels alone.
Dataset numbered_dataset(std::size_t n) {
  Dataset d;
  d.name = "numbered";
  d.image_rows = 2;
  d.image_cols = 3;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < 6; ++j)
      d.pixels.push_back(static_cast<std::uint8_t>(j == 0 ? i : (i * 5 + j * 40) % 256));
    d.labels.push_back(static_cast<std::int32_t>(i % 10));
  }
  return d;
}

// n float samples of `shape` whose element j of sample i is 1000 i + j, and (target_size > 0)
// regression targets -(10 i + t), or (target_size 0) labels i mod 3: every value tells its
// sample and position.
Dataset float_dataset(std::size_t n, const Shape& shape, std::size_t target_size) {
  Dataset d;
  d.name = "floats";
  d.sample_shape = shape;
  const std::size_t f = d.features();
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < f; ++j) d.values.push_back(static_cast<float>(1000 * i + j));
    if (target_size == 0) d.labels.push_back(static_cast<std::int32_t>(i % 3));
    for (std::size_t t = 0; t < target_size; ++t)
      d.targets.push_back(-static_cast<float>(10 * i + t));
  }
  d.num_classes = 3;
  d.target_size = std::max<std::size_t>(target_size, 1);
  return d;
}

// The sample index that float_dataset wrote into a sample's first value.
std::size_t sample_of(float first_value) {
  return static_cast<std::size_t>(first_value) / 1000;
}

std::vector<std::size_t> epoch_order(BatchIterator& it, std::uint64_t epoch) {
  it.begin_epoch(epoch);
  std::vector<std::size_t> order;
  Batch b;
  while (it.next(b)) order.insert(order.end(), b.indices.begin(), b.indices.end());
  return order;
}

}  // namespace

// ---- IDX files ----

TEST(IdxReader, ReadsBackTheImagesAndLabelsItWasGiven) {
  TempDir dir;
  const Bytes images = idx_images(5, 3, 4);
  write_file(dir / "img", images);
  write_file(dir / "lbl", idx_labels(some_labels(5)));
  const IdxImages got = read_idx_images(dir / "img");
  EXPECT_EQ(got.count, 5u);
  EXPECT_EQ(got.rows, 3u);
  EXPECT_EQ(got.cols, 4u);
  EXPECT_EQ(got.pixels, Bytes(images.begin() + 16, images.end()));
  EXPECT_EQ(read_idx_labels(dir / "lbl").labels, some_labels(5));
}

TEST(IdxReader, ReadsGzipCompressedFilesTheSameAsPlainOnes) {
  TempDir dir;
  const Bytes images = idx_images(40, 5, 7);
  write_gz(dir / "img.gz", images);
  write_gz(dir / "lbl.gz", idx_labels(some_labels(40)));
  const IdxImages got = read_idx_images(dir / "img.gz");
  EXPECT_EQ(got.count, 40u);
  EXPECT_EQ(got.pixels, Bytes(images.begin() + 16, images.end()));
  EXPECT_EQ(read_idx_labels(dir / "lbl.gz").labels, some_labels(40));
}

TEST(IdxReader, AnEmptySetOfImagesIsValid) {
  const Bytes b = idx_images(0, 28, 28);
  const IdxImages got = parse_idx_images(b.data(), b.size(), "empty");
  EXPECT_EQ(got.count, 0u);
  EXPECT_TRUE(got.pixels.empty());
}

TEST(IdxReader, AWrongMagicNamesTheFileByteZeroAndTheExpectedMagic) {
  TempDir dir;
  Bytes b = idx_images(2, 2, 2);
  b[0] = 0x12;
  write_file(dir / "train-images-idx3-ubyte", b);
  expect_error([&] { read_idx_images(dir / "train-images-idx3-ubyte"); },
               {dir / "train-images-idx3-ubyte", ": byte 0: magic is 0x12000803",
                "expected 0x00000803 (IDX images)"});
}

TEST(IdxReader, ALabelsFileReadAsImagesIsRefusedByItsRank) {
  const Bytes labels = idx_labels(some_labels(4));
  expect_error([&] { parse_idx_images(labels.data(), labels.size(), "t10k-labels"); },
               {"t10k-labels: byte 3: rank is 1, expected 3", "magic is 0x00000801"});
  const Bytes images = idx_images(2, 2, 2);
  expect_error([&] { parse_idx_labels(images.data(), images.size(), "imgs"); },
               {"imgs: byte 3: rank is 3, expected 1", "IDX labels"});
}

TEST(IdxReader, AnotherDataTypeThanUnsignedBytesIsRefused) {
  Bytes b = idx_images(1, 2, 2);
  b[2] = 0x0D;  // float
  expect_error([&] { parse_idx_images(b.data(), b.size(), "floats"); },
               {"floats: byte 2: data type is 0x0D, expected 0x08"});
}

TEST(IdxReader, ZeroRowsOrColumnsAreRefused) {
  const Bytes b = idx_images_header(3, 0, 28);
  expect_error([&] { parse_idx_images(b.data(), b.size(), "zero"); },
               {"zero: byte 8: image rows (dimension 1) is 0"});
}

TEST(IdxReader, ATruncatedHeaderNamesTheFieldAndTheByteOffset) {
  TempDir dir;
  const Bytes full = idx_images(2, 3, 3);
  write_file(dir / "h", Bytes(full.begin(), full.begin() + 10));
  expect_error([&] { read_idx_images(dir / "h"); },
               {dir / "h", ": byte 8: file ends inside the header's image rows"});
  write_file(dir / "empty", {});
  expect_error([&] { read_idx_images(dir / "empty"); },
               {": byte 0: file ends inside the header's magic number"});
}

TEST(IdxReader, ATruncatedFileNamesTheFileTheFieldAndTheByteOffset) {
  TempDir dir;
  const Bytes full = idx_images(3, 2, 4);  // 24 image bytes after a 16-byte header
  write_file(dir / "train-images-idx3-ubyte", Bytes(full.begin(), full.end() - 14));
  expect_error([&] { read_idx_images(dir / "train-images-idx3-ubyte"); },
               {"train-images-idx3-ubyte: byte 16: file ends after 10 of 24 image bytes"});
  const Bytes labels = idx_labels(some_labels(9));
  write_file(dir / "lbl", Bytes(labels.begin(), labels.end() - 1));
  expect_error([&] { read_idx_labels(dir / "lbl"); },
               {"lbl: byte 8: file ends after 8 of 9 label bytes"});
}

TEST(IdxReader, TrailingBytesAfterTheLastItemAreRefused) {
  TempDir dir;
  Bytes b = idx_images(3, 2, 4);
  b.insert(b.end(), {1, 2, 3});
  write_file(dir / "img", b);
  expect_error([&] { read_idx_images(dir / "img"); },
               {dir / "img", ": byte 40: 3 trailing bytes after the last image"});
}

TEST(IdxReader, TruncatedOrTooLongGzipStreamsAreRefusedWithTheDecompressedOffset) {
  TempDir dir;
  const Bytes full = idx_images(50, 10, 10);  // 5000 image bytes
  write_gz(dir / "short.gz", Bytes(full.begin(), full.end() - 1000));
  expect_error([&] { read_idx_images(dir / "short.gz"); },
               {"short.gz: byte 16: file ends after 4000 of 5000 image bytes (decompressed)"});
  Bytes longer = full;
  longer.push_back(0);
  write_gz(dir / "long.gz", longer);
  expect_error([&] { read_idx_images(dir / "long.gz"); },
               {"long.gz: byte 5016: unexpected data after the last image (decompressed)"});
  // A gzip file cut short (the compressed stream itself ends early).
  write_gz(dir / "whole.gz", full);
  const Bytes gz = read_file(dir / "whole.gz");
  write_file(dir / "cut.gz", Bytes(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2)));
  expect_error([&] { read_idx_images(dir / "cut.gz"); }, {"cut.gz: byte ", "decompressed"});
  // Not gzip after the gzip magic.
  write_file(dir / "junk.gz", {0x1f, 0x8b, 0x08, 0x00, 0x42, 0x42, 0x42});
  expect_error([&] { read_idx_images(dir / "junk.gz"); }, {"junk.gz: byte 0"});
}

TEST(IdxReader, EveryPrefixOfAValidFileIsRefusedCleanly) {
  const Bytes full = idx_images(3, 2, 2);
  for (std::size_t n = 0; n < full.size(); ++n)
    expect_error([&] { parse_idx_images(full.data(), n, "prefix"); }, {"prefix: byte "});
}

TEST(IdxReader, DimensionsWhoseProductOverflowsOrExceedsTheLimitAreRefusedFromTheHeader) {
  // Each dimension is checked as the product grows, so no product can overflow 64 bits.
  const Bytes rows = idx_images_header(1, 0xFFFFFFFF, 0xFFFFFFFF);
  expect_error([&] { parse_idx_images(rows.data(), rows.size(), "rows"); },
               {"rows: byte 8: image size 4294967295 bytes exceeds the limit of 2147483648 bytes"});
  const Bytes square = idx_images_header(0xFFFFFFFF, 0x10000, 0x10000);
  expect_error([&] { parse_idx_images(square.data(), square.size(), "big"); },
               {"big: byte 12: image size 4294967296 bytes exceeds the limit of 2147483648 bytes"});
  const Bytes many = idx_images_header(3000000, 28, 28);  // 2.35 GB
  expect_error([&] { parse_idx_images(many.data(), many.size(), "many"); },
               {"many: byte 4: image count (dimension 0) 3000000 x 784 bytes per image exceeds "
                "the limit of 2147483648 bytes"});
  expect_error([&] { parse_idx_images(many.data(), many.size(), "cap", 1000); },
               {"cap: byte 4:", "limit of 1000 bytes"});
}

TEST(IdxReader, AHugeDeclaredSizeInATinyFileFailsWithoutAllocatingIt) {
  TempDir dir;
  // 1.1 GB declared (under the 2 GiB cap) by files of 20 bytes, plain and gzip.
  Bytes header = idx_images_header(1400000, 28, 28);
  header.insert(header.end(), {1, 2, 3, 4});
  write_file(dir / "huge", header);
  write_gz(dir / "huge.gz", header);
  const auto read_plain = [&] { read_idx_images(dir / "huge"); };
  const auto read_gz = [&] { read_idx_images(dir / "huge.gz"); };
  expect_error(read_plain, {"huge: byte 16: file ends after 4 of 1097600000 image bytes"});
  expect_error(read_gz, {"huge.gz: byte 16: file ends after 4 of 1097600000 image bytes"});
  if (!test::address_space_limit_works()) GTEST_SKIP() << "no address-space limit under ASan";
  // In a child that cannot map 256 MB more, the same reads must still end in a tg::Error.
  const auto limit = test::limit_address_space_growth(std::size_t{256} << 20);
  const auto alloc = test::run_in_child(limit, [] { Bytes big(std::size_t{1} << 30, 1); });
  ASSERT_EQ(alloc.end, test::ChildEnd::threw_bad_alloc) << "the limit does not bite";
  for (const auto& read : {std::function<void()>(read_plain), std::function<void()>(read_gz)}) {
    const auto r = test::run_in_child(limit, read);
    EXPECT_EQ(r.end, test::ChildEnd::threw_tg_error) << r.message;
    EXPECT_NE(r.message.find("file ends after 4 of"), std::string::npos) << r.message;
  }
}

// ---- datasets from IDX files ----

TEST(IdxDataset, ImageAndLabelCountsMustAgree) {
  TempDir dir;
  write_file(dir / "img", idx_images(5, 2, 2));
  write_file(dir / "lbl", idx_labels(some_labels(4)));
  expect_error(
      [&] { load_idx_dataset(dir / "img", dir / "lbl"); },
      {dir / "lbl", ": byte 4: label count 4 does not match the image count 5 of", dir / "img"});
}

TEST(IdxDataset, ALabelOutsideZeroToNineIsRefusedWithItsByteOffset) {
  TempDir dir;
  auto labels = some_labels(6);
  labels[4] = 10;
  write_file(dir / "img", idx_images(6, 2, 2));
  write_file(dir / "lbl", idx_labels(labels));
  expect_error([&] { load_idx_dataset(dir / "img", dir / "lbl"); },
               {dir / "lbl", ": byte 12: label of item 4 is 10, expected 0..9"});
}

TEST(IdxDataset, KeepsImagesAsBytesAndLabelsAsInt32) {
  TempDir dir;
  write_file(dir / "img", idx_images(6, 2, 3));
  write_file(dir / "lbl", idx_labels(some_labels(6)));
  const Dataset d = load_idx_dataset(dir / "img", dir / "lbl");
  EXPECT_EQ(d.size(), 6u);
  EXPECT_EQ(d.features(), 6u);
  EXPECT_EQ(d.pixels.size(), 36u);
  EXPECT_EQ(d.pixels[6 * 5 + 4], static_cast<std::uint8_t>(7 * 5 + 3 * 1 + 1));
  EXPECT_EQ(d.labels[5], 5);  // (5 * 3) % 10
}

TEST(MnistFiles, BothFileNameSpellingsAndTheirGzipVariantsAreFound) {
  TempDir dir;
  write_file(dir / "train-images-idx3-ubyte", idx_images(4, 2, 2));
  write_file(dir / "train-labels.idx1-ubyte", idx_labels(some_labels(4)));
  write_gz(dir / "t10k-images.idx3-ubyte.gz", idx_images(3, 2, 2));
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_labels(some_labels(3)));
  EXPECT_EQ(find_mnist_file(dir.str(), "train", "labels"), dir / "train-labels.idx1-ubyte");
  EXPECT_EQ(find_mnist_file(dir.str(), "test", "images"), dir / "t10k-images.idx3-ubyte.gz");
  EXPECT_EQ(load_mnist(dir.str(), "train").size(), 4u);
  EXPECT_EQ(load_mnist(dir.str(), "test").size(), 3u);
  EXPECT_EQ(load_mnist(dir.str(), "t10k").size(), 3u);
}

TEST(MnistFiles, AMissingFileListsEveryPathThatWasTried) {
  TempDir dir;
  expect_error([&] { load_mnist(dir.str(), "train"); },
               {"no MNIST train images file", dir / "train-images-idx3-ubyte",
                dir / "train-images.idx3-ubyte", dir / "train-images-idx3-ubyte.gz",
                dir / "train-images.idx3-ubyte.gz"});
  expect_error([&] { load_mnist(dir.str(), "validation"); }, {"'validation'", "'train' or 'test'"});
}

TEST(MnistFiles, RealMnistHas60000TrainingAnd10000TestImagesWithLabels0To9) {
  const std::string dir = TAPEGRAD_SOURCE_DIR "/data/mnist";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " is absent";
  const Dataset train = load_mnist(dir, "train");
  const Dataset test = load_mnist(dir, "test");
  EXPECT_EQ(train.size(), 60000u);
  EXPECT_EQ(test.size(), 10000u);
  EXPECT_EQ(train.image_rows, 28u);
  EXPECT_EQ(train.image_cols, 28u);
  for (const Dataset* d : {&train, &test}) {
    std::set<std::int32_t> seen(d->labels.begin(), d->labels.end());
    EXPECT_EQ(seen, (std::set<std::int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  }
  // The well-known statistics of MNIST's training pixels.
  const Normalization n = pixel_statistics(train);
  EXPECT_NEAR(n.mean, 0.1307, 1e-4);
  EXPECT_NEAR(n.stddev, 0.3081, 1e-4);
}

TEST(MnistFiles, FashionMnistLoadsFromItsGzipFiles) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " is absent";
  const Dataset train = load_mnist(dir, "train");
  const Dataset test = load_mnist(dir, "test");
  EXPECT_EQ(train.size(), 60000u);
  EXPECT_EQ(test.size(), 10000u);
  EXPECT_EQ(train.features(), 784u);
  std::set<std::int32_t> seen(test.labels.begin(), test.labels.end());
  EXPECT_EQ(seen.size(), 10u);
}

// ---- subsets and splits ----

TEST(Dataset, SubsetTakeAndSplitTailKeepEachImageWithItsLabel) {
  const Dataset d = numbered_dataset(20);
  const Dataset s = d.subset(5, 3);
  ASSERT_EQ(s.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(s.pixels[k * 6], static_cast<std::uint8_t>(5 + k));
    EXPECT_EQ(s.labels[k], static_cast<std::int32_t>((5 + k) % 10));
  }
  EXPECT_EQ(d.take(7).size(), 7u);
  EXPECT_EQ(d.take(1000).size(), 20u);
  const Split split = split_tail(d, 4);
  EXPECT_EQ(split.train.size(), 16u);
  EXPECT_EQ(split.validation.size(), 4u);
  EXPECT_EQ(split.validation.pixels[0], 16);
  expect_error([&] { d.subset(18, 3); }, {"numbered: subset", "out of range for 20 samples"});
  expect_error([&] { split_tail(d, 21); }, {"21 validation samples requested of 20"});
}

TEST(Dataset, SplitRandomIsSeededDisjointAndCoversEveryImage) {
  const Dataset d = numbered_dataset(100);
  const Split a = split_random(d, 30, 7), b = split_random(d, 30, 7), c = split_random(d, 30, 8);
  EXPECT_EQ(a.validation.pixels, b.validation.pixels);
  EXPECT_NE(a.validation.pixels, c.validation.pixels);
  ASSERT_EQ(a.train.size(), 70u);
  ASSERT_EQ(a.validation.size(), 30u);
  std::vector<int> seen(100, 0);
  for (const Dataset* part : {&a.train, &a.validation})
    for (std::size_t k = 0; k < part->size(); ++k) {
      const int i = part->pixels[k * 6];
      ++seen[static_cast<std::size_t>(i)];
      EXPECT_EQ(part->labels[k], i % 10);
      if (k > 0) {
        EXPECT_LT(part->pixels[(k - 1) * 6], i) << "original order kept";
      }
    }
  EXPECT_EQ(seen, std::vector<int>(100, 1));
}

TEST(Dataset, PixelStatisticsAreTheMeanAndStddevOfPixelOver255) {
  Dataset d;
  d.name = "two";
  d.image_rows = 1;
  d.image_cols = 2;
  d.pixels = {0, 255, 0, 255};
  d.labels = {0, 1};
  const Normalization n = pixel_statistics(d);
  EXPECT_FLOAT_EQ(n.mean, 0.5f);
  EXPECT_FLOAT_EQ(n.stddev, 0.5f);
}

// ---- batches ----

TEST(BatchIterator, EverySampleAppearsExactlyOncePerEpochIncludingTheLastPartialBatch) {
  const Dataset d = numbered_dataset(103);
  BatchIterator it(d, 10, true, 42);
  EXPECT_EQ(it.batches_per_epoch(), 11u);
  for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
    it.begin_epoch(epoch);
    std::vector<int> seen(103, 0);
    std::size_t batches = 0;
    Batch b;
    while (it.next(b)) {
      ++batches;
      EXPECT_EQ(b.size(), batches == 11 ? 3u : 10u);
      for (std::size_t i : b.indices) ++seen[i];
    }
    EXPECT_EQ(batches, 11u);
    EXPECT_EQ(seen, std::vector<int>(103, 1)) << "epoch " << epoch;
    EXPECT_FALSE(it.next(b)) << "stays at the end until the next begin_epoch";
  }
}

TEST(BatchIterator, DropLastSkipsThePartialBatch) {
  const Dataset d = numbered_dataset(103);
  BatchIterator it(d, 10, true, 42, /*drop_last=*/true);
  EXPECT_EQ(it.batches_per_epoch(), 10u);
  std::size_t batches = 0;
  Batch b;
  while (it.next(b)) {
    EXPECT_EQ(b.size(), 10u);
    ++batches;
  }
  EXPECT_EQ(batches, 10u);
}

TEST(BatchIterator, TheSameSeedAndEpochGiveTheSameOrderEvenAfterARestart) {
  const Dataset d = numbered_dataset(200);
  BatchIterator first(d, 16, true, 1234);
  epoch_order(first, 0);
  epoch_order(first, 1);
  const auto epoch2 = epoch_order(first, 2);
  BatchIterator resumed(d, 16, true, 1234);  // a restarted run that resumes at epoch 2
  EXPECT_EQ(epoch_order(resumed, 2), epoch2);
}

TEST(BatchIterator, DifferentEpochsAndSeedsGiveDifferentOrders) {
  const Dataset d = numbered_dataset(200);
  BatchIterator a(d, 16, true, 1234), b(d, 16, true, 1235);
  const auto a0 = epoch_order(a, 0), a1 = epoch_order(a, 1), b0 = epoch_order(b, 0);
  EXPECT_NE(a0, a1);
  EXPECT_NE(a0, b0);
  std::vector<std::size_t> identity(200);
  for (std::size_t i = 0; i < 200; ++i) identity[i] = i;
  EXPECT_NE(a0, identity);
}

TEST(BatchIterator, WithoutShuffleTheOrderIsTheDatasetOrder) {
  const Dataset d = numbered_dataset(25);
  BatchIterator it(d, 7, false, 99);
  std::vector<std::size_t> identity(25);
  for (std::size_t i = 0; i < 25; ++i) identity[i] = i;
  EXPECT_EQ(epoch_order(it, 0), identity);
  EXPECT_EQ(epoch_order(it, 5), identity);
}

TEST(BatchIterator, ImagesArePixelOver255AndRowsMatchTheirLabels) {
  const Dataset d = numbered_dataset(50);
  BatchIterator it(d, 8, true, 3);
  Batch b;
  ASSERT_TRUE(it.next(b));
  ASSERT_EQ(rows(b.images), 8u);
  ASSERT_EQ(cols(b.images), 6u);
  for (std::size_t r = 0; r < 8; ++r) {
    const std::size_t i = b.indices[r];
    EXPECT_EQ(b.labels[r], d.labels[i]);
    for (std::size_t j = 0; j < 6; ++j)
      EXPECT_EQ(b.images(r, j), static_cast<float>(d.pixels[i * 6 + j]) / 255.0f);
  }
}

TEST(BatchIterator, NormalizationSubtractsTheMeanAndDividesByTheStddev) {
  Dataset d = numbered_dataset(10);
  d.normalization = {0.25f, 0.5f};
  BatchIterator it(d, 10, false, 0);
  Batch b;
  ASSERT_TRUE(it.next(b));
  for (std::size_t r = 0; r < 10; ++r)
    for (std::size_t j = 0; j < 6; ++j)
      EXPECT_FLOAT_EQ(b.images(r, j),
                      (static_cast<float>(d.pixels[r * 6 + j]) / 255.0f - 0.25f) / 0.5f);
  d.normalization = {0.0f, 0.0f};
  expect_error([&] { BatchIterator bad(d, 4, false, 0); }, {"positive finite stddev"});
}

TEST(BatchIterator, ReusesTheBatchBuffersWhileTheBatchSizeIsUnchanged) {
  const Dataset d = numbered_dataset(40);
  BatchIterator it(d, 8, true, 5);
  Batch b;
  ASSERT_TRUE(it.next(b));
  const float* images = b.images.data();
  const std::int32_t* labels = b.labels.data();
  const std::size_t* indices = b.indices.data();
  while (it.next(b)) {
    EXPECT_EQ(b.images.data(), images);
    EXPECT_EQ(b.labels.data(), labels);
    EXPECT_EQ(b.indices.data(), indices);
  }
}

TEST(BatchIterator, ShardsOfEveryGlobalBatchAreDisjointAndCoverIt) {
  const Dataset d = numbered_dataset(103);
  for (std::size_t world : {1u, 2u, 3u, 4u, 11u}) {
    // The global batches, without sharding.
    BatchIterator whole(d, 10, true, 77);
    whole.begin_epoch(4);
    std::vector<std::vector<std::size_t>> global;
    Batch b;
    while (whole.next(b)) global.push_back(b.indices);

    std::vector<BatchIterator> ranks;
    for (std::size_t r = 0; r < world; ++r) {
      ranks.emplace_back(d, 10, true, 77);
      ranks.back().set_shard(r, world);
      ranks.back().begin_epoch(4);
    }
    for (std::size_t k = 0; k < global.size(); ++k) {
      std::vector<std::size_t> joined;
      for (std::size_t r = 0; r < world; ++r) {
        ASSERT_TRUE(ranks[r].next(b)) << "every rank takes the same number of steps";
        EXPECT_EQ(b.global_size, global[k].size());
        joined.insert(joined.end(), b.indices.begin(), b.indices.end());
      }
      // Contiguous chunks in rank order: joined is exactly the global batch.
      EXPECT_EQ(joined, global[k]) << "world " << world << ", batch " << k;
    }
    for (std::size_t r = 0; r < world; ++r) EXPECT_FALSE(ranks[r].next(b));
  }
  BatchIterator it(d, 10, true, 77);
  expect_error([&] { it.set_shard(2, 2); }, {"rank 2 is not in [0, world_size = 2)"});
}

// ---- float samples, regression targets, unlabeled data ----

TEST(FloatDataset, SubsetTakeSelectAndSplitsKeepEverySampleWithItsTargets) {
  const Dataset d = float_dataset(20, {2, 3}, 2);
  ASSERT_EQ(d.size(), 20u);
  ASSERT_EQ(d.features(), 6u);
  const Dataset s = d.subset(5, 3);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s.sample_shape, (Shape{2, 3}));
  EXPECT_EQ(s.target_size, 2u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(s.values[k * 6 + 4], 1000.0f * (5 + k) + 4);
    EXPECT_EQ(s.targets[k * 2 + 1], -(10.0f * (5 + k) + 1));
  }
  EXPECT_EQ(d.take(100).values, d.values);
  const Dataset picked = d.select({7, 2, 7});
  ASSERT_EQ(picked.size(), 3u);
  EXPECT_EQ(picked.targets, (std::vector<float>{-70, -71, -20, -21, -70, -71}));
  EXPECT_EQ(sample_of(picked.values[6]), 2u);
  expect_error([&] { d.select({1, 20}); }, {"floats: select: index 20 (position 1)", "20 samples"});

  const Split r = split_random(d, 6, 3);
  ASSERT_EQ(r.validation.size(), 6u);
  for (const Dataset* part : {&r.train, &r.validation})
    for (std::size_t k = 0; k < part->size(); ++k) {
      const std::size_t i = sample_of(part->values[k * 6]);
      EXPECT_EQ(part->targets[k * 2], -10.0f * static_cast<float>(i));
    }
  const Split t = split_tail(d, 4);
  EXPECT_EQ(t.validation.targets.front(), -160.0f);
}

TEST(FloatDataset, SizeCountsSamplesSoAnUnlabeledSetHasOneAndBatches) {
  Dataset d = float_dataset(7, {4}, 1);
  d.targets.clear();  // rows to predict: no labels, no targets
  EXPECT_EQ(d.size(), 7u);
  EXPECT_FALSE(d.is_regression());
  EXPECT_FALSE(d.is_classification());
  BatchIterator it(d, 5, false, 0);
  Batch b;
  ASSERT_TRUE(it.next(b));
  EXPECT_EQ(b.size(), 5u);
  EXPECT_TRUE(b.labels.empty());
  EXPECT_EQ(b.targets.dimension(), 0u);
  ASSERT_TRUE(it.next(b));
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(b.images(1, 3), 6003.0f);
  // Byte images count by their pixels too.
  Dataset images = numbered_dataset(9);
  images.labels.clear();
  EXPECT_EQ(images.size(), 9u);
}

TEST(FloatDataset, BatchesHoldTheSamplesInTheirShapeAndTheTargetsOfTheSameRows) {
  const Dataset d = float_dataset(11, {2, 1, 3}, 2);
  BatchIterator it(d, 4, true, 9);
  Batch b;
  std::size_t seen = 0;
  while (it.next(b)) {
    const std::size_t n = b.size();
    ASSERT_EQ(b.images.dimension(), 4u);
    EXPECT_EQ(b.images.shape(0), n);
    EXPECT_EQ(b.images.shape(1), 2u);
    EXPECT_EQ(b.images.shape(2), 1u);
    EXPECT_EQ(b.images.shape(3), 3u);
    ASSERT_EQ(b.targets.shape(0), n);
    ASSERT_EQ(b.targets.shape(1), 2u);
    EXPECT_TRUE(b.labels.empty());
    for (std::size_t r = 0; r < n; ++r) {
      const std::size_t i = b.indices[r];
      for (std::size_t j = 0; j < 6; ++j)
        EXPECT_EQ(b.images.data()[r * 6 + j], d.values[i * 6 + j]) << "copied as they are";
      EXPECT_EQ(b.targets(r, 0), d.targets[i * 2]);
      EXPECT_EQ(b.targets(r, 1), d.targets[i * 2 + 1]);
    }
    seen += n;
  }
  EXPECT_EQ(seen, 11u);
  // Labels of float samples come through as well.
  const Dataset labeled = float_dataset(5, {3}, 0);
  BatchIterator lit(labeled, 5, false, 0);
  ASSERT_TRUE(lit.next(b));
  EXPECT_EQ(b.labels, (std::vector<std::int32_t>{0, 1, 2, 0, 1}));
  EXPECT_EQ(b.targets.dimension(), 0u) << "the regression batch's targets are gone";
}

TEST(FloatDataset, BatchBuffersAreReusedWhileTheBatchSizeIsUnchanged) {
  const Dataset d = float_dataset(40, {2, 3}, 1);
  BatchIterator it(d, 8, true, 5);
  Batch b;
  ASSERT_TRUE(it.next(b));
  const float* images = b.images.data();
  const float* targets = b.targets.data();
  while (it.next(b)) {
    EXPECT_EQ(b.images.data(), images);
    EXPECT_EQ(b.targets.data(), targets);
  }
}

TEST(FloatDataset, InconsistentFieldsAreRefusedNamingTheFieldAndTheCounts) {
  Dataset d = float_dataset(6, {4}, 1);
  d.values.pop_back();
  expect_error([&] { BatchIterator it(d, 2, false, 0); },
               {"floats: BatchIterator: 23 values are not a whole number of samples of 4"});
  d = float_dataset(6, {4}, 1);
  d.targets.pop_back();
  expect_error([&] { d.subset(0, 1); }, {"floats: subset: 5 targets for 6 samples"});
  d = float_dataset(6, {4}, 0);
  d.labels.pop_back();
  expect_error([&] { d.select({0}); }, {"floats: select: 5 labels for 6 samples"});
  d = float_dataset(6, {4}, 0);
  d.labels[4] = 3;
  expect_error([&] { BatchIterator it(d, 2, false, 0); },
               {"label of sample 4 is 3, expected 0..2"});
  d = float_dataset(6, {4}, 0);
  d.targets = std::vector<float>(6, 1.0f);
  expect_error([&] { d.check("here"); }, {"floats: here: holds both labels"});
  d = float_dataset(6, {4}, 0);
  d.pixels = {1, 2};
  expect_error([&] { d.check("here"); }, {"both float samples (values) and byte images"});
}

TEST(SplitIndices, IsSeededAndPutsEveryIndexInExactlyOnePart) {
  const SplitIndices a = split_indices(101, 0.1, 0.2, 5), b = split_indices(101, 0.1, 0.2, 5);
  const SplitIndices c = split_indices(101, 0.1, 0.2, 6);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.validation, b.validation);
  EXPECT_EQ(a.test, b.test);
  EXPECT_NE(a.test, c.test);
  EXPECT_EQ(a.validation.size(), 10u);  // round(10.1)
  EXPECT_EQ(a.test.size(), 20u);        // round(20.2)
  EXPECT_EQ(a.train.size(), 71u);
  std::vector<int> seen(101, 0);
  for (const auto* part : {&a.train, &a.validation, &a.test}) {
    EXPECT_TRUE(std::is_sorted(part->begin(), part->end()));
    for (std::size_t i : *part) ++seen.at(i);
  }
  EXPECT_EQ(seen, std::vector<int>(101, 1));
  // Not the first indices in order: the parts are drawn at random.
  std::vector<std::size_t> first20(20);
  for (std::size_t i = 0; i < 20; ++i) first20[i] = i;
  EXPECT_NE(a.test, first20);
  const SplitIndices none = split_indices(10, 0.0, 0.0, 1);
  EXPECT_EQ(none.train.size(), 10u);
  EXPECT_TRUE(none.validation.empty() && none.test.empty());
}

TEST(SplitIndices, FractionsOutsideZeroToOneOrLeavingNoTrainingSetAreRefused) {
  expect_error([&] { split_indices(10, -0.1, 0.2, 0); }, {"validation_fraction is -0.1"});
  expect_error([&] { split_indices(10, 0.1, 1.0, 0); }, {"test_fraction is 1.0"});
  expect_error([&] { split_indices(10, std::nan(""), 0.1, 0); }, {"validation_fraction is nan"});
  expect_error([&] { split_indices(10, 0.5, 0.5, 0); }, {"5 validation and 5 test samples of 10"});
  expect_error([&] { split_indices(0, 0.1, 0.1, 0); }, {"of 0 leave none for training"});
}

TEST(Standardization, IsThePerFeatureMeanAndPopulationStddevAndAConstantFeatureGetsOne) {
  Dataset d;
  d.name = "table";
  d.sample_shape = {3};
  // Columns: 1 2 3 4 (mean 2.5, population variance 1.25), constant 7, and -2 2 -2 2.
  d.values = {1, 7, -2, 2, 7, 2, 3, 7, -2, 4, 7, 2};
  d.targets = {0, 0, 0, 0};
  const Preprocessing p = fit_standardization(d);
  EXPECT_EQ(p.input_shape, (Shape{3}));
  EXPECT_EQ(p.divisor, 1.0f);
  ASSERT_EQ(p.mean.size(), 3u);
  ASSERT_EQ(p.stddev.size(), 3u);
  EXPECT_FLOAT_EQ(p.mean[0], 2.5f);
  EXPECT_FLOAT_EQ(p.stddev[0], static_cast<float>(std::sqrt(1.25)));
  EXPECT_FLOAT_EQ(p.mean[1], 7.0f);
  EXPECT_EQ(p.stddev[1], 1.0f);
  EXPECT_FLOAT_EQ(p.mean[2], 0.0f);
  EXPECT_FLOAT_EQ(p.stddev[2], 2.0f);

  // In place, the same floats as Preprocessing::apply gives a model's raw input later.
  const Tensor raw = tensor(Shape{4, 3}, d.values);
  Dataset standardized = d;
  apply_preprocessing(p, standardized);
  const Tensor expected = p.apply(raw);
  EXPECT_EQ(standardized.values, std::vector<float>(expected.begin(), expected.end()));
  EXPECT_EQ(standardized.values[1], 0.0f);  // the constant column
  EXPECT_FLOAT_EQ(standardized.values[0], -1.5f / std::sqrt(1.25f));
  EXPECT_EQ(standardized.targets, d.targets);  // targets untouched
}

TEST(Standardization, EmptySetsByteImagesBadValuesAndWrongSizesAreRefused) {
  Dataset empty;
  empty.name = "none";
  empty.sample_shape = {3};
  expect_error([&] { fit_standardization(empty); }, {"none: fit_standardization of an empty"});
  expect_error([&] { fit_standardization(numbered_dataset(4)); }, {"needs float samples"});
  Dataset d = float_dataset(3, {2}, 1);
  d.values[3] = std::numeric_limits<float>::infinity();
  expect_error([&] { fit_standardization(d); }, {"sample 1, feature 1 is inf"});
  Dataset wide = float_dataset(3, {5}, 1);
  const Preprocessing p = fit_standardization(float_dataset(3, {2}, 1));
  expect_error([&] { apply_preprocessing(p, wide); },
               {"floats: apply_preprocessing: samples of 5 do not fit", "input 2"});
}

TEST(Preprocessing, AnInputShapeWhoseElementCountWouldOverflowIsRefused) {
  Preprocessing p;
  p.input_shape = {std::size_t{1} << 24, std::size_t{1} << 24, (std::size_t{1} << 16) + 1};
  expect_error([&] { p.check(); }, {"preprocessing: input_shape", "more than 2^48 elements"});
  p.input_shape = {std::size_t{1} << 25, std::size_t{1} << 24};
  expect_error([&] { p.check(); }, {"more than 2^48 elements"});
  p.input_shape = {3, 4};
  p.check();
}
