#include "labels.hpp"

#include "inputs.hpp"
#include "tapegrad/data/idx.hpp"

#include <sys/stat.h>
#include <charconv>
#include <fstream>
#include <iterator>

namespace {

std::vector<std::uint32_t> idx_labels(const std::string& path, const tg::ModelInfo& info) {
  const tg::IdxLabels read = tg::read_idx_labels(path, kMaxLabels);
  std::vector<std::uint32_t> labels(read.labels.begin(), read.labels.end());
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= info.num_classes)
      throw tg::Error(path + ": byte " + std::to_string(8 + i) + ": label " +
                      std::to_string(i + 1) + " is " + std::to_string(labels[i]) +
                      ", not a class of the model (0.." + std::to_string(info.num_classes - 1) +
                      ")");
  return labels;
}

std::string quoted_token(const std::string& token) {
  return "'" + (token.size() > 40 ? token.substr(0, 40) + "..." : token) + "'";
}

std::uint32_t text_label(const std::string& token, const tg::ModelInfo& info,
                         const std::string& where) {
  for (std::size_t c = 0; c < info.class_names.size(); ++c)
    if (info.class_names[c] == token) return static_cast<std::uint32_t>(c);
  std::size_t index = 0;
  const char* end = token.data() + token.size();
  const auto [stop, error] = std::from_chars(token.data(), end, index);
  if (token.empty() || error != std::errc() || stop != end || index >= info.num_classes)
    throw tg::Error(where + ": " + quoted_token(token) + " is not a class of the model (0.." +
                    std::to_string(info.num_classes - 1) +
                    (info.class_names.empty() ? "" : " or a class name") + ")");
  return static_cast<std::uint32_t>(index);
}

std::vector<std::uint32_t> text_labels(const std::string& path, const tg::ModelInfo& info) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw tg::Error(path + ": cannot open the labels file");
  if (!S_ISREG(st.st_mode)) throw tg::Error(path + ": the labels file is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxLabelFileBytes)
    throw tg::Error(path + ": the labels file has " + std::to_string(st.st_size) +
                    " bytes, more than the " + std::to_string(kMaxLabelFileBytes) + " allowed");
  std::ifstream file(path, std::ios::binary);
  if (!file) throw tg::Error(path + ": cannot open the labels file");
  const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  if (file.bad()) throw tg::Error(path + ": read error");

  std::vector<std::uint32_t> labels;
  std::size_t line = 0, blank_line = 0;  // blank_line: the first blank line since the last label
  for (std::size_t start = 0; start < text.size();) {
    std::size_t stop = text.find('\n', start);
    if (stop == std::string::npos) stop = text.size();
    ++line;
    std::size_t b = start, e = stop;
    while (b < e && (text[b] == ' ' || text[b] == '\t')) ++b;
    while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\t' || text[e - 1] == '\r')) --e;
    start = stop + 1;
    if (b == e) {
      if (!blank_line) blank_line = line;
      continue;
    }
    const std::string where = path + ": line " + std::to_string(line);
    // Only trailing blank lines are ignored: one between labels would shift every label after it.
    if (blank_line)
      throw tg::Error(path + ": line " + std::to_string(blank_line) +
                      ": an empty line between labels");
    if (labels.size() == kMaxLabels)
      throw tg::Error(where + ": more than " + std::to_string(kMaxLabels) + " labels");
    labels.push_back(text_label(text.substr(b, e - b), info, where));
  }
  if (labels.empty()) throw tg::Error(path + ": no labels");
  return labels;
}

}  // namespace

std::vector<std::uint32_t> read_labels(const std::string& path, const tg::ModelInfo& info) {
  if (!info.is_classification())
    throw tg::Error("--labels " + path + ": the model is a " + info.task +
                    " model; labels need a classification model");
  return is_idx_file(path) ? idx_labels(path, info) : text_labels(path, info);
}
