// Internal: anomaly mode's checks. Each throws a tg::Error naming the op, its tape entry, its
// layer and its inputs' shapes, and where the first NaN or infinity is.
#pragma once

#include "tapegrad/autograd/tape.hpp"

namespace tg::detail {

// Entry i's output.
void check_output_finite(const Tape& tape, std::size_t i);
// The gradients of entry i's inputs, after its backward ran.
void check_input_grads_finite(const Tape& tape, std::size_t i);

}  // namespace tg::detail
