#include "evaluation.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

TestResults run_test(tg::Module& model, const tg::Dataset& test, std::size_t batch) {
  TestResults r;
  tg::BatchIterator it(test, batch, false, 0);
  r.eval = tg::evaluate(model, it);
  const bool was_training = model.training();
  model.eval();
  tg::NoGradGuard no_grad;
  tg::Tape tape;
  tg::Batch b;
  it.begin_epoch(0);
  while (it.next(b)) {
    tape.clear();
    const tg::Tensor& p = tg::softmax(model(tape.constant(b.images))).value();
    for (std::size_t i = 0; i < tg::rows(p); ++i) {
      const float* row = p.data() + i * tg::cols(p);
      const auto best = std::max_element(row, row + tg::cols(p)) - row;
      r.predicted.push_back(static_cast<int>(best));
      r.confidence.push_back(row[best]);
    }
  }
  model.set_training(was_training);
  return r;
}

std::string format_confusion(const tg::Evaluation& e, const std::vector<std::string>& names) {
  std::ostringstream s;
  char cell[32];
  s << "confusion matrix (rows: true, columns: predicted)\n         ";
  for (std::size_t j = 0; j < names.size(); ++j) {
    std::snprintf(cell, sizeof cell, "%6zu", j);
    s << cell;
  }
  s << "   accuracy\n";
  for (std::size_t i = 0; i < e.confusion.size(); ++i) {
    std::snprintf(cell, sizeof cell, "%-9s", names[i].substr(0, 8).c_str());
    s << cell;
    std::size_t total = 0;
    for (std::size_t v : e.confusion[i]) {
      std::snprintf(cell, sizeof cell, "%6zu", v);
      s << cell;
      total += v;
    }
    std::snprintf(cell, sizeof cell, "   %.4f\n",
                  total ? static_cast<double>(e.confusion[i][i]) / total : 0.0);
    s << cell;
  }
  return s.str();
}
