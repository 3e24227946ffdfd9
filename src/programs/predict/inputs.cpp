#include "inputs.hpp"

#include "tapegrad/data/csv.hpp"

#include <stb/stb_image.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>

ImageSize image_size(const tg::ModelInfo& info) {
  const tg::Shape& s = info.input_shape();
  if (s.size() == 2) return {s[0], s[1]};
  if (s.size() == 3 && s[0] == 1) return {s[1], s[2]};
  if (s.size() == 1) {
    const auto side = static_cast<std::size_t>(std::lround(std::sqrt(static_cast<double>(s[0]))));
    if (side * side == s[0]) return {side, side};
  }
  throw tg::Error("the model's input_shape " + tg::shape_str(s) +
                  " is not a grayscale image (H x W, 1 x H x W or a square number of pixels)");
}

tg::Tensor read_image(const std::string& path, const tg::ModelInfo& info) {
  const ImageSize want = image_size(info);
  int width = 0, height = 0, channels = 0;
  // Size first, so that a huge image is refused before it is decoded.
  if (!stbi_info(path.c_str(), &width, &height, &channels))
    throw tg::Error(path + ": not a PNG, JPEG or BMP image (" + stbi_failure_reason() + ")");
  if (static_cast<std::size_t>(height) != want.height ||
      static_cast<std::size_t>(width) != want.width)
    throw tg::Error(path + ": the image is " + std::to_string(width) + " x " +
                    std::to_string(height) + " pixels (width x height) but the model takes " +
                    std::to_string(want.width) + " x " + std::to_string(want.height));
  const std::unique_ptr<unsigned char, void (*)(void*)> pixels(
      stbi_load(path.c_str(), &width, &height, &channels, 1), stbi_image_free);
  if (!pixels) throw tg::Error(path + ": cannot decode the image (" + stbi_failure_reason() + ")");
  tg::Shape shape = info.input_shape();
  shape.insert(shape.begin(), 1);
  tg::Tensor raw = tg::zeros(shape);
  std::copy_n(pixels.get(), raw.size(), raw.data());
  return raw;
}

tg::Tensor read_csv_rows(const std::string& path, const tg::ModelInfo& info) {
  tg::CsvOptions options;
  options.has_target = false;
  const tg::Dataset d = tg::read_csv(path, options);
  const std::size_t want = info.preprocessing.sample_size();
  if (d.features() != want)
    throw tg::Error(path + ": the rows have " + std::to_string(d.features()) +
                    " columns but the model takes " + std::to_string(want) + " features (" +
                    tg::shape_str(info.input_shape()) + ")");
  tg::Tensor raw = tg::zeros(tg::Shape{d.size(), want});
  std::copy(d.values.begin(), d.values.end(), raw.begin());
  return raw;
}

bool is_image_path(const std::string& path) {
  const std::size_t dot = path.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == "png" || ext == "jpg" || ext == "jpeg" || ext == "bmp";
}

tg::IdxImages read_idx_input(const std::string& path, const tg::ModelInfo& info) {
  const ImageSize want = image_size(info);
  tg::IdxImages images = tg::read_idx_images(path);
  if (images.rows != want.height || images.cols != want.width)
    throw tg::Error(path + ": the images are " + std::to_string(images.cols) + " x " +
                    std::to_string(images.rows) + " pixels (width x height) but the model takes " +
                    std::to_string(want.width) + " x " + std::to_string(want.height));
  return images;
}

bool is_idx_file(const std::string& path) {
  // stat, not open: opening a FIFO would wait for a writer. Whatever is not a regular file goes
  // to a reader that refuses it with its own message.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  // gzread passes a file that is not gzip through as it is.
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char head[2] = {1, 1};
  const int got = gzread(f, head, 2);
  gzclose(f);
  return got == 2 && head[0] == 0 && head[1] == 0;
}

Input read_input(const std::string& path, const tg::ModelInfo& info) {
  // Refused here for every kind: fopen on a FIFO (stb, the CSV reader) waits for a writer.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw tg::Error(path + ": not a regular file (" +
                    (S_ISDIR(st.st_mode)    ? "a folder"
                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                                            : "a device or socket") +
                    ")");
  Input input;
  input.path = path;
  if (is_image_path(path)) {
    input.kind = Input::Kind::image;
    input.raw = read_image(path, info);
  } else if (is_idx_file(path)) {
    input.kind = Input::Kind::idx;
    input.idx = read_idx_input(path, info);
  } else {
    input.kind = Input::Kind::csv;
    input.raw = read_csv_rows(path, info);
  }
  return input;
}

std::size_t sample_count(const Input& input) {
  return input.kind == Input::Kind::idx ? input.idx.count : input.raw.shape(0);
}

std::string sample_name(const Input& input, std::size_t i) {
  switch (input.kind) {
    case Input::Kind::image:
      return input.path;
    case Input::Kind::idx:
      return input.path + "[image " + std::to_string(i + 1) + "]";
    case Input::Kind::csv:
      break;
  }
  return input.path + "[row " + std::to_string(i + 1) + "]";
}

tg::Tensor raw_samples(const Input& input, std::size_t first, std::size_t count,
                       const tg::ModelInfo& info) {
  const std::size_t size = info.preprocessing.sample_size();
  tg::Shape shape = input.kind == Input::Kind::csv ? tg::Shape{size} : info.input_shape();
  shape.insert(shape.begin(), count);
  tg::Tensor raw = tg::zeros(shape);
  if (input.kind == Input::Kind::idx)
    std::copy_n(input.idx.pixels.data() + first * size, count * size, raw.data());
  else
    std::copy_n(input.raw.data() + first * size, count * size, raw.data());
  return raw;
}
