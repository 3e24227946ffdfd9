// tg::to_dot: the tape as a Graphviz digraph, for looking at what a forward pass recorded.
#include "tapegrad/autograd/dot.hpp"

#include <sstream>

namespace tg {

namespace {

// A DOT double-quoted string: quotes and backslashes escaped, newlines as DOT's "\n".
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char ch : text) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

const char* style_of(const Node& n) {
  if (n.param) return "shape=box, style=filled, fillcolor=orange";
  if (n.inputs.empty())
    return n.requires_grad ? "shape=box, style=filled, fillcolor=lightblue"   // variable
                           : "shape=box, style=filled, fillcolor=lightgrey";  // constant, data
  return n.requires_grad ? "shape=ellipse, style=filled, fillcolor=white"
                         : "shape=ellipse, style=dashed";
}

}  // namespace

std::string to_dot(const Tape& tape) {
  std::ostringstream out;
  out << "digraph tape {\n";
  out << "  node [fontname=\"Helvetica\"];\n";
  for (std::size_t i = 0; i < tape.size(); ++i) {
    const Node& n = tape.node(i);
    const std::string label =
        std::string(n.op) + "\n" + shape_str(tape.value_at(static_cast<std::uint32_t>(i)));
    out << "  n" << i << " [label=" << quoted(label) << ", " << style_of(n) << "];\n";
  }
  for (std::size_t i = 0; i < tape.size(); ++i) {
    const Node& n = tape.node(i);
    for (std::size_t k = 0; k < n.inputs.size(); ++k)
      out << "  n" << n.inputs[k] << " -> n" << i << ";\n";
  }
  out << "}\n";
  return out.str();
}

}  // namespace tg
