// Ordinary least squares, the baseline a network on tabular data has to beat.
#pragma once

#include "tapegrad/data/data.hpp"

#include <vector>

namespace tapegrad_csv {

// y = b + x . W for every target column, minimising the squared error over `train`: the normal
// equations [1 X]^T [1 X] beta = [1 X]^T y, solved in double by Gaussian elimination with
// partial pivoting. Throws a tg::Error when the features are collinear (a singular system).
struct LinearModel {
  std::size_t features = 0, targets = 0;
  std::vector<double> coefficients;  // (1 + features) x targets, the intercept row first
};
LinearModel fit_ols(const tg::Dataset& train);
// The model's predictions for every sample of `data`: N x targets.
tg::Tensor predict(const LinearModel& model, const tg::Dataset& data);

}  // namespace tapegrad_csv
