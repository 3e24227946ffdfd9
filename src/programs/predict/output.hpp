// How tapegrad-predict prints a prediction.
#pragma once

#include "tapegrad/io/model_file.hpp"

#include <string>

// One line for row `row` of `outputs` (what tg::predict gave for a LoadedModel):
//   classification  "<label>: class 7 (0.9981)  p=[0.0001 ... ]" (the class name when the model
//                   has class names), probabilities with 4 decimals
//   regression      "<label>: 151.2" (one output), or "<label>: name=1.5 name=2" (several, named
//                   by the model's target names, else t0, t1, ...)
std::string prediction_line(const std::string& label, const tg::Tensor& outputs, std::size_t row,
                            const tg::ModelInfo& info);
