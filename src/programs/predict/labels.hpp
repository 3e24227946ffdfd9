// The true classes that tapegrad-predict --labels compares its predictions with.
#pragma once

#include "tapegrad/io/model_file.hpp"

#include <cstdint>
#include <string>
#include <vector>

// At most this many labels (and a text file of at most kMaxLabelFileBytes), so that a huge
// file is refused before it is held in memory.
constexpr std::size_t kMaxLabels = std::size_t{1} << 28;
constexpr std::uint64_t kMaxLabelFileBytes = std::uint64_t{1} << 30;

// One class index per sample, from an IDX label file (plain or gzip, told apart from text by
// its first bytes) or a text file with one label a line: a class name of the model, else a
// class index 0..C-1 (surrounding blanks and trailing empty lines are ignored). Throws a
// tg::Error naming the file and the line (text) or byte (IDX) of the first label that is not
// a class of `info`, or when the model is not a classifier.
std::vector<std::uint32_t> read_labels(const std::string& path, const tg::ModelInfo& info);
