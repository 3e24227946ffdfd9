#include "tapegrad/autograd/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace tg {

namespace {

// A fixed projection in [-1, 1] (splitmix64), so the check is reproducible everywhere.
Tensor projection(const Tensor& like, std::uint64_t seed) {
  Tensor out = zeros(shape_of(like));
  if (out.size() == 1) {
    out.data()[0] = 1.0f;
    return out;
  }
  std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
  for (float& v : out) {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    v = static_cast<float>(static_cast<double>(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  }
  return out;
}

struct Target {
  std::string name;
  Tensor* value;    // the tensor we perturb
  Tensor analytic;  // its gradient from backward()
};

}  // namespace

GradcheckResult gradcheck(const GradcheckFunction& f, std::vector<Tensor> inputs,
                          const std::vector<Parameter*>& params, const GradcheckOptions& opt) {
  GradcheckResult result;
  Tape tape;
  Tensor weights;

  // The scalar being differentiated: sum(weights * f(...)), accumulated in double.
  auto evaluate = [&]() -> double {
    NoGradGuard no_grad;  // forward only: nothing to record
    tape.clear();
    std::vector<Var> vars;
    for (const Tensor& x : inputs) vars.push_back(tape.constant(x));
    const Tensor& out = f(tape, vars).value();
    double total = 0.0;
    for (std::size_t i = 0; i < out.size(); ++i)
      total += static_cast<double>(weights.data()[i]) * out.data()[i];
    return total;
  };

  // Analytic gradients: one backward pass.
  std::vector<Target> targets;
  {
    for (Parameter* p : params) p->zero_grad();
    std::vector<Var> vars;
    for (const Tensor& x : inputs) vars.push_back(tape.variable(x));
    Var out = f(tape, vars);
    weights = projection(out.value(), opt.seed);
    tape.backward(out, weights);
    for (std::size_t i = 0; i < inputs.size(); ++i)
      targets.push_back({"input " + std::to_string(i), &inputs[i], vars[i].grad()});
    for (std::size_t j = 0; j < params.size(); ++j)
      targets.push_back({params[j]->name.empty() ? "parameter " + std::to_string(j)
                                                 : "parameter '" + params[j]->name + "'",
                         &params[j]->value, params[j]->grad});
  }
  if (targets.empty()) {
    result.message = "gradcheck: nothing to check (no inputs and no parameters)";
    return result;
  }

  std::ostringstream summary;
  for (Target& target : targets) {
    Tensor& x = *target.value;
    std::vector<double> numeric(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      const float original = x.data()[i];
      x.data()[i] = static_cast<float>(original + opt.epsilon);
      const double plus = evaluate();
      x.data()[i] = static_cast<float>(original - opt.epsilon);
      const double minus = evaluate();
      x.data()[i] = original;
      // Divide by the step actually taken in float, not the nominal one.
      const double h = static_cast<double>(static_cast<float>(original + opt.epsilon)) -
                       static_cast<float>(original - opt.epsilon);
      numeric[i] = (plus - minus) / h;
    }
    double largest_numeric = 0.0, largest_analytic = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      largest_numeric = std::max(largest_numeric, std::fabs(numeric[i]));
      largest_analytic =
          std::max(largest_analytic, std::fabs(static_cast<double>(target.analytic.data()[i])));
    }
    if (largest_numeric < opt.zero_threshold && largest_analytic < opt.zero_threshold) {
      result.message = "gradcheck: " + target.name + " (" + shape_str(x) +
                       ") has a zero gradient everywhere, analytic and numeric: a check of "
                       "zeros against zeros proves nothing";
      return result;
    }
    const double floor = std::max(opt.floor_fraction * largest_numeric, 1e-12);
    double worst = 0.0;
    std::size_t worst_at = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double a = target.analytic.data()[i];
      const double n = numeric[i];
      const double err = std::fabs(a - n) / std::max({std::fabs(a), std::fabs(n), floor});
      if (err > worst) {
        worst = err;
        worst_at = i;
      }
    }
    result.max_relative_error = std::max(result.max_relative_error, worst);
    if (worst > opt.tolerance) {
      std::ostringstream m;
      m << "gradcheck: " << target.name << " (" << shape_str(x) << ") element ";
      if (x.dimension() == 2)
        m << "(" << worst_at / cols(x) << ", " << worst_at % cols(x) << ")";
      else
        m << worst_at << " (row-major)";
      m << ": analytic " << target.analytic.data()[worst_at] << " vs numeric " << numeric[worst_at]
        << ", relative error " << worst << " > tolerance " << opt.tolerance;
      result.message = m.str();
      return result;
    }
    summary << target.name << " max relative error " << worst << "; ";
  }
  result.ok = true;
  result.message = summary.str();
  return result;
}

}  // namespace tg
