// A picture of a recorded tape.
#pragma once

#include "tapegrad/autograd/tape.hpp"

#include <string>

namespace tg {

// The recorded tape as a Graphviz DOT digraph (render with `dot -Tsvg`): one node per entry,
// labelled with its op (a parameter's name, e.g. "0.weight") and shape ("dense\n64x256"),
// and an edge from each input to the entry that used it. Constants are grey boxes, variables
// blue boxes, parameters orange boxes, ops that need a gradient white ellipses, ops that need
// none dashed ellipses.
std::string to_dot(const Tape& tape);

}  // namespace tg
