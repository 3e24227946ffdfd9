// How tapegrad-predict reports predictions: lines, the accuracy against labels, raw floats.
#pragma once

#include "tapegrad/io/model_file.hpp"

#include <cstdint>
#include <cstdio>
#include <string>

// One line for row `row` of `outputs` (what tg::predict gave for a LoadedModel):
//   classification  "<label>: class 7 (0.9981)  p=[0.0001 ... ]" (the class name when the model
//                   has class names), probabilities with 4 decimals
//   regression      "<label>: 151.2" (one output), or "<label>: name=1.5 name=2" (several, named
//                   by the model's target names, else t0, t1, ...)
std::string prediction_line(const std::string& label, const tg::Tensor& outputs, std::size_t row,
                            const tg::ModelInfo& info);

// The class of row `row` of classification outputs: the first of the highest (as tg::evaluate).
std::size_t predicted_class(const tg::Tensor& outputs, std::size_t row);
// What a prediction line gets with --labels: "  label 7 right" or "  label 7 wrong".
std::string label_mark(std::size_t predicted, std::uint32_t label, const tg::ModelInfo& info);
// "accuracy=0.9812 (10000 images)": 4 decimals, as tapegrad-mnist prints test_accuracy.
std::string accuracy_line(std::size_t correct, std::size_t total, const char* samples_word);

// A file of raw float32 values (little-endian, as the machine's floats), written to
// "<path>.tmp.<pid>" and renamed to `path` by finish_raw_floats, so that a run that fails leaves
// no partial file: the destructor removes the temp file when finish was not reached.
struct RawFloatFile {
  std::string path, tmp;
  std::FILE* file = nullptr;
  RawFloatFile() = default;
  RawFloatFile(const RawFloatFile&) = delete;
  RawFloatFile& operator=(const RawFloatFile&) = delete;
  ~RawFloatFile();
};
// Creates the temp file now, so that an unwritable path is refused before any prediction.
void open_raw_floats(RawFloatFile& out, const std::string& path);
void write_raw_floats(RawFloatFile& out, const float* values, std::size_t count);
void finish_raw_floats(RawFloatFile& out);
