// What tapegrad-predict reads: images, CSV files and IDX image files, turned into raw model
// inputs (the values as the file holds them: pixels 0..255, CSV numbers).
#pragma once

#include "tapegrad/data/idx.hpp"
#include "tapegrad/io/model_file.hpp"

#include <string>

// The image geometry a model takes: {H, W}, {1, H, W} or {side * side} (flat square images).
// Throws a tg::Error when its input_shape is none of these.
struct ImageSize {
  std::size_t height = 0, width = 0;
};
ImageSize image_size(const tg::ModelInfo& info);

// A PNG, JPEG or BMP file as one raw sample, 1 x input_shape, pixels 0..255 (colour images are
// turned grayscale). Throws a tg::Error naming the file when it does not decode or its size is
// not the model's.
tg::Tensor read_image(const std::string& path, const tg::ModelInfo& info);

// A CSV file whose columns are all features (a header is detected): rows x sample_size.
// Throws a tg::Error naming the file when a row does not have sample_size values.
tg::Tensor read_csv_rows(const std::string& path, const tg::ModelInfo& info);

// An IDX image file (plain or gzip, as tapegrad-mnist reads) whose images are the model's
// size. Throws a tg::Error naming the file (and the byte, for a defect of the file).
tg::IdxImages read_idx_input(const std::string& path, const tg::ModelInfo& info);

// Whether `path` is read as an image (by its extension, case-insensitive: png, jpg, jpeg, bmp).
bool is_image_path(const std::string& path);
// Whether `path` is a regular file whose data (decompressed, for gzip) starts with the two zero
// bytes of every IDX magic number; text files (CSV, label lists) never do.
bool is_idx_file(const std::string& path);

// One INPUT, read and checked before any prediction is made.
struct Input {
  enum class Kind { image, csv, idx };
  std::string path;
  Kind kind = Kind::csv;
  tg::Tensor raw;     // image and CSV: samples x input_shape (CSV: samples x sample_size)
  tg::IdxImages idx;  // IDX: bytes, turned into floats a chunk at a time (see raw_samples)
};
// Reads `path` by its kind: an image by its extension, else IDX by its first bytes, else CSV.
Input read_input(const std::string& path, const tg::ModelInfo& info);
std::size_t sample_count(const Input& input);
// How the output line names sample i: "file", "file[row 3]" or "file[image 12]" (from 1).
std::string sample_name(const Input& input, std::size_t i);
// Samples [first, first + count) as raw floats, count x input_shape.
tg::Tensor raw_samples(const Input& input, std::size_t first, std::size_t count,
                       const tg::ModelInfo& info);
