// What tapegrad-predict reads: images and CSV files turned into raw model inputs.
#pragma once

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

// Whether `path` is read as an image (by its extension, case-insensitive: png, jpg, jpeg, bmp).
bool is_image_path(const std::string& path);
