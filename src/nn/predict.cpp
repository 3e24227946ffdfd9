#include "tapegrad/nn/predict.hpp"

#include "tapegrad/core/threads.hpp"

#include <algorithm>
#include <cstring>

namespace tg {

namespace {
// Puts a module back into the mode it was in, however the scope ends.
class RestoreMode {
 public:
  explicit RestoreMode(Module& m) : module_(m), training_(m.training()) {}
  ~RestoreMode() { module_.set_training(training_); }
  RestoreMode(const RestoreMode&) = delete;
  RestoreMode& operator=(const RestoreMode&) = delete;

 private:
  Module& module_;
  bool training_;
};
}  // namespace

Tensor predict(Module& model, const Tensor& input, std::size_t batch_size) {
  if (batch_size == 0) throw Error("predict: batch_size must be positive");
  if (input.dimension() < 1)
    throw Error("predict: input is " + shape_str(input) + ", which has no batch dimension");
  const std::size_t n = input.shape(0);
  const Shape sample(input.shape().begin() + 1, input.shape().end());
  const std::size_t sample_size = element_count(sample);
  RestoreMode restore(model);
  model.eval();
  FlushDenormalsScope flush_denormals;
  NoGradGuard no_grad;
  Tape tape;
  Tensor out;
  Tensor batch;
  std::size_t out_sample = 0;
  if (n == 0) {  // some layers refuse an empty batch: the shape alone answers
    Shape out_shape = model.output_shape(sample);
    out_shape.insert(out_shape.begin(), 0);
    return zeros(out_shape);
  }
  for (std::size_t start = 0; start < n; start += batch_size) {
    const std::size_t rows = std::min(batch_size, n - start);
    Shape shape = sample;
    shape.insert(shape.begin(), rows);
    resize(batch, shape);
    std::memcpy(batch.data(), input.data() + start * sample_size,
                rows * sample_size * sizeof(float));
    tape.clear();
    const Tensor& y = model(tape.constant(batch)).value();
    if (y.dimension() < 1 || y.shape(0) != rows)
      throw Error("predict: the model turned a batch of " + shape_str(batch) + " into " +
                  shape_str(y) + ", which does not keep the batch dimension");
    if (start == 0) {
      Shape out_shape(y.shape().begin(), y.shape().end());
      out_shape[0] = n;
      out = zeros(out_shape);
      out_sample = y.size() / rows;
    } else if (y.size() != rows * out_sample) {
      throw Error("predict: the model's output " + shape_str(y) + " for rows " +
                  std::to_string(start) + ".. differs in shape from the first batch's");
    }
    std::copy_n(y.data(), y.size(), out.data() + start * out_sample);
  }
  return out;
}

}  // namespace tg
