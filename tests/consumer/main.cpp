// A program that only knows tapegrad as an installed package.
#include <tapegrad/tapegrad.hpp>

#include <cmath>
#include <cstdio>

int main() {
  tg::Parameter w(tg::tensor({{0.5f}, {-0.25f}}), "w");
  for (int step = 0; step < 3000; ++step) {
    tg::Tape tape;
    tg::Var x = tape.constant(tg::tensor({{1, 2}, {3, 4}}));
    // A custom loss with operators, from the installed headers: mean((x.w - y)^2).
    tg::Var y = tape.constant(tg::tensor({{1}, {2}}));
    tg::Var loss = tg::mean(tg::pow(tg::matmul(x, tape.param(w)) - y, 2.0f));
    tape.backward(loss);
    w.value -= 0.05f * w.grad;
    w.zero_grad();
  }
  // x . w = [1, 2] is solved by w = [0, 0.5]
  const bool ok = std::fabs(w.value(0, 0)) < 1e-2f && std::fabs(w.value(1, 0) - 0.5f) < 1e-2f;
  std::printf("consumer: w = [%g, %g] %s\n", w.value(0, 0), w.value(1, 0), ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
