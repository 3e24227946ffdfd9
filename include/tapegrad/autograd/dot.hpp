// A picture of a recorded tape.
#pragma once

#include "tapegrad/autograd/tape.hpp"

#include <string>

namespace tg {

// The recorded tape as a Graphviz DOT digraph (render with `dot -Tsvg`): one node per entry,
// labelled with its op (a parameter's name, e.g. "0.weight") and shape ("dense\n64x256"),
// and an edge from each input to the entry that used it. Constants are grey boxes, variables
// blue boxes, parameters orange boxes, ops that need a gradient white ellipses, ops that need
// none dashed ellipses. The entries a layer recorded (Sequential names each layer, see
// LayerScope) sit in one cluster per layer, titled with the layer's label ("2: Dense(4 -> 2,
// bias, he_uniform)"); entries recorded outside any layer (the input, the loss) sit outside.
std::string to_dot(const Tape& tape);

}  // namespace tg
