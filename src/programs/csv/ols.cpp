#include "ols.hpp"

#include <cmath>
#include <string>
#include <utility>

namespace tapegrad_csv {

LinearModel fit_ols(const tg::Dataset& train) {
  train.check("fit_ols");
  if (!train.is_regression() || !train.has_float_samples())
    throw tg::Error(train.name + ": fit_ols needs float samples with regression targets");
  const std::size_t n = train.size(), f = train.features(), k = train.target_size, m = f + 1;
  if (n < m)
    throw tg::Error(train.name + ": fit_ols: " + std::to_string(n) + " samples for " +
                    std::to_string(m) + " coefficients");
  // a = [1 X]^T [1 X] (m x m), b = [1 X]^T y (m x k).
  std::vector<double> a(m * m, 0.0), b(m * k, 0.0), row(m);
  for (std::size_t i = 0; i < n; ++i) {
    row[0] = 1.0;
    for (std::size_t j = 0; j < f; ++j) row[j + 1] = train.values[i * f + j];
    for (std::size_t r = 0; r < m; ++r) {
      for (std::size_t c = 0; c < m; ++c) a[r * m + c] += row[r] * row[c];
      for (std::size_t t = 0; t < k; ++t) b[r * k + t] += row[r] * train.targets[i * k + t];
    }
  }
  double scale = 0.0;
  for (double v : a) scale = std::max(scale, std::fabs(v));
  for (std::size_t col = 0; col < m; ++col) {
    std::size_t pivot = col;
    for (std::size_t r = col + 1; r < m; ++r)
      if (std::fabs(a[r * m + col]) > std::fabs(a[pivot * m + col])) pivot = r;
    if (std::fabs(a[pivot * m + col]) <= 1e-12 * scale)
      throw tg::Error(train.name + ": fit_ols: the features are collinear (coefficient " +
                      std::to_string(col) + " is not determined)");
    if (pivot != col) {
      for (std::size_t c = 0; c < m; ++c) std::swap(a[col * m + c], a[pivot * m + c]);
      for (std::size_t t = 0; t < k; ++t) std::swap(b[col * k + t], b[pivot * k + t]);
    }
    for (std::size_t r = col + 1; r < m; ++r) {
      const double factor = a[r * m + col] / a[col * m + col];
      for (std::size_t c = col; c < m; ++c) a[r * m + c] -= factor * a[col * m + c];
      for (std::size_t t = 0; t < k; ++t) b[r * k + t] -= factor * b[col * k + t];
    }
  }
  LinearModel model{f, k, std::vector<double>(m * k, 0.0)};
  for (std::size_t r = m; r-- > 0;)
    for (std::size_t t = 0; t < k; ++t) {
      double sum = b[r * k + t];
      for (std::size_t c = r + 1; c < m; ++c) sum -= a[r * m + c] * model.coefficients[c * k + t];
      model.coefficients[r * k + t] = sum / a[r * m + r];
    }
  return model;
}

tg::Tensor predict(const LinearModel& model, const tg::Dataset& data) {
  if (!data.has_float_samples() || data.features() != model.features)
    throw tg::Error(data.name + ": the linear model takes " + std::to_string(model.features) +
                    " features, the data set has " + std::to_string(data.features()));
  const std::size_t n = data.size(), f = model.features, k = model.targets;
  tg::Tensor out = tg::zeros(n, k);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t t = 0; t < k; ++t) {
      double y = model.coefficients[t];
      for (std::size_t j = 0; j < f; ++j)
        y += data.values[i * f + j] * model.coefficients[(j + 1) * k + t];
      out.data()[i * k + t] = static_cast<float>(y);
    }
  return out;
}

}  // namespace tapegrad_csv
