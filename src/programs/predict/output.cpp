#include "output.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace {
std::string number(const char* format, double v) {
  char s[64];
  std::snprintf(s, sizeof s, format, v);
  return s;
}

std::string class_name(std::size_t c, const tg::ModelInfo& info) {
  return info.class_names.empty() ? std::to_string(c) : info.class_names[c];
}
}  // namespace

std::string prediction_line(const std::string& label, const tg::Tensor& outputs, std::size_t row,
                            const tg::ModelInfo& info) {
  const std::size_t width = tg::cols(outputs);
  const float* y = outputs.data() + row * width;
  std::string line = label + ":";
  if (info.is_classification()) {
    const std::size_t best = predicted_class(outputs, row);
    line += " class " + class_name(best, info);
    line += " (" + number("%.4f", y[best]) + ")  p=[";
    for (std::size_t j = 0; j < width; ++j) line += (j ? " " : "") + number("%.4f", y[j]);
    return line + "]";
  }
  if (width == 1) return line + " " + number("%.7g", y[0]);
  for (std::size_t j = 0; j < width; ++j) {
    const std::string name =
        info.target_names.empty() ? "t" + std::to_string(j) : info.target_names[j];
    line += " " + name + "=" + number("%.7g", y[j]);
  }
  return line;
}

std::size_t predicted_class(const tg::Tensor& outputs, std::size_t row) {
  const std::size_t width = tg::cols(outputs);
  const float* y = outputs.data() + row * width;
  return static_cast<std::size_t>(std::max_element(y, y + width) - y);
}

std::string label_mark(std::size_t predicted, std::uint32_t label, const tg::ModelInfo& info) {
  return "  label " + class_name(label, info) + (predicted == label ? " right" : " wrong");
}

std::string accuracy_line(std::size_t correct, std::size_t total, const char* samples_word) {
  const double accuracy = total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
  return "accuracy=" + number("%.4f", accuracy) + " (" + std::to_string(total) + " " +
         samples_word + ")";
}

RawFloatFile::~RawFloatFile() {
  if (!file) return;
  std::fclose(file);
  std::remove(tmp.c_str());
}

void open_raw_floats(RawFloatFile& out, const std::string& path) {
  // Checked now: rename would only refuse a folder after every prediction was made.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw tg::Error(path + ": is a folder, not a file to write the probabilities to");
  out.path = path;
  out.tmp = path + ".tmp." + std::to_string(::getpid());
  out.file = std::fopen(out.tmp.c_str(), "wb");
  if (!out.file)
    throw tg::Error(path + ": cannot create the temp file " + out.tmp + ": " +
                    std::strerror(errno));
}

void write_raw_floats(RawFloatFile& out, const float* values, std::size_t count) {
  if (std::fwrite(values, sizeof(float), count, out.file) != count)
    throw tg::Error(out.tmp + ": write failed: " + std::strerror(errno));
}

void finish_raw_floats(RawFloatFile& out) {
  const bool closed = std::fclose(out.file) == 0;
  out.file = nullptr;
  if (!closed) {
    const std::string why = std::strerror(errno);
    std::remove(out.tmp.c_str());
    throw tg::Error(out.tmp + ": write failed: " + why);
  }
  if (std::rename(out.tmp.c_str(), out.path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(out.tmp.c_str());
    throw tg::Error(out.path + ": cannot rename " + out.tmp + " to it: " + why);
  }
}
