// tg::to_dot: the tape as a Graphviz digraph, for looking at what a forward pass recorded.
#include "tapegrad/autograd/dot.hpp"

#include <algorithm>
#include <sstream>
#include <vector>

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
  // Clusters in the order their layers first recorded something; a layer called twice (a
  // shared module) keeps one cluster.
  std::vector<const std::string*> layers;
  std::vector<std::vector<std::size_t>> members;
  std::vector<std::size_t> outside;
  for (std::size_t i = 0; i < tape.size(); ++i) {
    const std::string* layer = tape.node(i).layer;
    if (!layer) {
      outside.push_back(i);
      continue;
    }
    const auto at = std::find(layers.begin(), layers.end(), layer);
    if (at == layers.end()) {
      layers.push_back(layer);
      members.push_back({i});
    } else {
      members[static_cast<std::size_t>(at - layers.begin())].push_back(i);
    }
  }
  auto write_node = [&](std::ostringstream& out, std::size_t i, const char* indent) {
    const Node& n = tape.node(i);
    const std::string label =
        std::string(n.op) + "\n" + shape_str(tape.value_at(static_cast<std::uint32_t>(i)));
    out << indent << "n" << i << " [label=" << quoted(label) << ", " << style_of(n) << "];\n";
  };

  std::ostringstream out;
  out << "digraph tape {\n";
  out << "  node [fontname=\"Helvetica\"];\n";
  for (std::size_t i : outside) write_node(out, i, "  ");
  for (std::size_t c = 0; c < layers.size(); ++c) {
    out << "  subgraph cluster_" << c << " {\n";
    out << "    label=" << quoted(*layers[c]) << ";\n";
    out << "    style=rounded; color=\"#888888\"; fontname=\"Helvetica\";\n";
    for (std::size_t i : members[c]) write_node(out, i, "    ");
    out << "  }\n";
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
