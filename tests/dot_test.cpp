// tg::to_dot: the recorded tape as a Graphviz digraph.
#include "tapegrad/tapegrad.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace tg;
using test::random_tensor;

namespace {

struct DotNode {
  std::string label;  // unescaped: "dense\n5x4"
  std::string attributes;
  std::string cluster;  // the title of the cluster it sits in; empty outside any
};

struct ParsedDot {
  std::map<std::string, DotNode> nodes;
  std::vector<std::pair<std::string, std::string>> edges;
  std::vector<std::string> clusters;  // titles, in the order written
};

std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      ++i;
      out += s[i] == 'n' ? '\n' : s[i];
    } else {
      out += s[i];
    }
  }
  return out;
}

// A strict reader for the subset of DOT that to_dot writes: fails the test on any line it
// does not recognise, on unbalanced braces, on nested or untitled clusters and on an edge to an
// undeclared node.
ParsedDot parse(const std::string& dot) {
  ParsedDot g;
  std::istringstream in(dot);
  std::string line;
  const std::regex node_re(R"re(^(  |    )(n\d+) \[label="((?:[^"\\]|\\.)*)", ([^\]]*)\];$)re");
  const std::regex edge_re(R"re(^  (n\d+) -> (n\d+);$)re");
  const std::regex cluster_re(R"re(^  subgraph cluster_(\d+) \{$)re");
  const std::regex title_re(R"re(^    label="((?:[^"\\]|\\.)*)";$)re");
  const std::string cluster_style = "    style=rounded; color=\"#888888\"; fontname=\"Helvetica\";";
  std::string last;
  int depth = 0, lines = 0;
  bool in_cluster = false, titled = false;
  for (char ch : dot) {
    depth += ch == '{' ? 1 : ch == '}' ? -1 : 0;
    EXPECT_GE(depth, 0);
  }
  EXPECT_EQ(depth, 0) << "unbalanced braces";
  while (std::getline(in, line)) {
    std::smatch m;
    last = line;
    if (lines++ == 0) {
      EXPECT_EQ(line, "digraph tape {");
    } else if (line == "}" || line == "  node [fontname=\"Helvetica\"];") {
      EXPECT_FALSE(in_cluster) << line;
    } else if (std::regex_match(line, m, cluster_re)) {
      EXPECT_FALSE(in_cluster) << "nested cluster: " << line;
      EXPECT_EQ(m[1], std::to_string(g.clusters.size())) << line;
      in_cluster = true;
      titled = false;
    } else if (in_cluster && std::regex_match(line, m, title_re)) {
      EXPECT_FALSE(titled) << "titled twice: " << line;
      g.clusters.push_back(unescape(m[1]));
      titled = true;
    } else if (in_cluster && line == cluster_style) {
    } else if (in_cluster && line == "  }") {
      EXPECT_TRUE(titled) << "a cluster without a title";
      in_cluster = false;
    } else if (std::regex_match(line, m, node_re)) {
      EXPECT_EQ(m[1].length() == 4, in_cluster) << "indented wrongly: " << line;
      EXPECT_TRUE(!in_cluster || titled) << "node before the cluster's title: " << line;
      EXPECT_EQ(g.nodes.count(m[2]), 0u) << "declared twice: " << line;
      g.nodes[m[2]] = {unescape(m[3]), m[4], in_cluster ? g.clusters.back() : ""};
    } else if (!in_cluster && std::regex_match(line, m, edge_re)) {
      g.edges.emplace_back(m[1], m[2]);
    } else {
      ADD_FAILURE() << "unexpected line: " << line;
    }
  }
  EXPECT_FALSE(in_cluster) << "unclosed cluster";
  EXPECT_EQ(last, "}");
  for (auto& [from, to] : g.edges) {
    EXPECT_EQ(g.nodes.count(from), 1u) << "undeclared edge source " << from;
    EXPECT_EQ(g.nodes.count(to), 1u) << "undeclared edge target " << to;
  }
  return g;
}

// Records Dense(3, 4) + ReLU + Dense(4, 2) + softmax cross-entropy on a batch of 5.
struct SmallNet {
  Rng rng{1};
  Sequential net;
  Tape tape;
  SmallNet() {
    net.add<Dense>(3, 4, rng);
    net.add<ReLU>();
    net.add<Dense>(4, 2, rng);
    Var loss = softmax_cross_entropy(net(tape.constant(random_tensor(5, 3, 2))), {0, 1, 1, 0, 1});
    tape.backward(loss);
  }
};

bool has_label(const ParsedDot& g, const std::string& label) {
  for (auto& [id, node] : g.nodes)
    if (node.label == label) return true;
  return false;
}

// The title of the cluster holding the one node labelled `label` ("" outside any).
std::string cluster_of(const ParsedDot& g, const std::string& label) {
  std::vector<std::string> found;
  for (auto& [id, node] : g.nodes)
    if (node.label == label) found.push_back(node.cluster);
  EXPECT_EQ(found.size(), 1u) << "nodes labelled " << label;
  return found.empty() ? "(none)" : found[0];
}

}  // namespace

TEST(Dot, ASmallNetHasOneNodePerTapeEntryAndOneEdgePerInput) {
  SmallNet s;
  ParsedDot g = parse(to_dot(s.tape));
  // x, 0.weight, 0.bias, dense, relu, 2.weight, 2.bias, dense, softmax_cross_entropy
  ASSERT_EQ(s.tape.size(), 9u);
  EXPECT_EQ(g.nodes.size(), 9u);
  // dense <- x, W, b; relu <- dense; dense <- relu, W, b; loss <- dense
  EXPECT_EQ(g.edges.size(), 8u);
  for (const char* label :
       {"constant\n5x3", "0.weight\n3x4", "0.bias\n1x4", "dense\n5x4", "relu\n5x4", "2.weight\n4x2",
        "2.bias\n1x2", "dense\n5x2", "softmax_cross_entropy\n1x1"})
    EXPECT_TRUE(has_label(g, label)) << "missing " << label << " in " << to_dot(s.tape);

  // Edges follow the tape: each entry's inputs point at it.
  std::set<std::pair<std::string, std::string>> edges(g.edges.begin(), g.edges.end());
  for (std::size_t i = 0; i < s.tape.size(); ++i) {
    const Node& n = s.tape.node(i);
    for (std::size_t k = 0; k < n.inputs.size(); ++k)
      EXPECT_EQ(edges.count({"n" + std::to_string(n.inputs[k]), "n" + std::to_string(i)}), 1u);
  }
}

TEST(Dot, EachLayersEntriesSitInAClusterTitledWithTheLayersLabel) {
  SmallNet s;
  ParsedDot g = parse(to_dot(s.tape));
  // Sequential labels its layers "<index>: <describe()>".
  const std::string dense0 = s.net[0].label(), relu1 = s.net[1].label(), dense2 = s.net[2].label();
  EXPECT_EQ(dense0.rfind("0: Dense(3 -> 4", 0), 0u) << dense0;
  EXPECT_EQ(relu1.rfind("1: ", 0), 0u) << relu1;
  EXPECT_EQ(dense2.rfind("2: Dense(4 -> 2", 0), 0u) << dense2;
  EXPECT_EQ(g.clusters, (std::vector<std::string>{dense0, relu1, dense2}));
  for (const char* label : {"0.weight\n3x4", "0.bias\n1x4", "dense\n5x4"})
    EXPECT_EQ(cluster_of(g, label), dense0) << label;
  EXPECT_EQ(cluster_of(g, "relu\n5x4"), relu1);
  for (const char* label : {"2.weight\n4x2", "2.bias\n1x2", "dense\n5x2"})
    EXPECT_EQ(cluster_of(g, label), dense2) << label;
  // The data and the loss were recorded outside the network.
  EXPECT_EQ(cluster_of(g, "constant\n5x3"), "");
  EXPECT_EQ(cluster_of(g, "softmax_cross_entropy\n1x1"), "");
}

TEST(Dot, AModuleCalledTwiceKeepsOneClusterAndQuotesInItsLabelAreEscaped) {
  Rng rng(3);
  Sequential net;
  net.add<Dense>(2, 2, rng);
  Tape tape;
  Var x = tape.constant(random_tensor(1, 2, 6));
  Var y = net(net(x));  // the same layer on the tape twice
  (void)y;
  ParsedDot g = parse(to_dot(tape));
  ASSERT_EQ(g.clusters.size(), 1u);
  EXPECT_EQ(g.clusters[0], net[0].label());
  std::size_t inside = 0;
  for (auto& [id, node] : g.nodes) inside += node.cluster == net[0].label();
  EXPECT_EQ(inside, 6u);  // weight, bias and dense, twice
  EXPECT_EQ(g.nodes.size(), 7u);

  const std::string odd = "say \"hi\" \\ here";
  Tape other;
  {
    LayerScope scope(&odd);
    (void)relu(other.constant(zeros(1, 1)));
  }
  ParsedDot h = parse(to_dot(other));
  EXPECT_EQ(h.clusters, std::vector<std::string>{odd});
}

TEST(Dot, NodesAreStyledByKind) {
  Tape tape;
  Parameter w(random_tensor(2, 2, 3), "w");
  Var x = tape.constant(random_tensor(3, 2, 4));
  Var v = tape.variable(random_tensor(3, 2, 5));
  Var no_grad = relu(x);                     // constants only: needs no gradient
  Var y = add(matmul(x, tape.param(w)), v);  // needs one
  (void)no_grad;
  (void)y;
  ParsedDot g = parse(to_dot(tape));
  auto attributes = [&](const std::string& label) {
    for (auto& [id, node] : g.nodes)
      if (node.label == label) return node.attributes;
    ADD_FAILURE() << "no node " << label;
    return std::string();
  };
  EXPECT_NE(attributes("constant\n3x2").find("box"), std::string::npos);
  EXPECT_NE(attributes("constant\n3x2").find("lightgrey"), std::string::npos);
  EXPECT_NE(attributes("variable\n3x2").find("box"), std::string::npos);
  EXPECT_NE(attributes("w\n2x2").find("orange"), std::string::npos);
  EXPECT_NE(attributes("relu\n3x2").find("dashed"), std::string::npos);
  EXPECT_NE(attributes("matmul\n3x2").find("ellipse"), std::string::npos);
  EXPECT_EQ(attributes("matmul\n3x2").find("dashed"), std::string::npos);
  EXPECT_EQ(attributes("add\n3x2").find("dashed"), std::string::npos);
}

TEST(Dot, QuotesAndBackslashesInNamesAreEscaped) {
  Tape tape;
  Parameter p(zeros(1, 1), "say \"hi\" \\ bye");
  tape.param(p);
  ParsedDot g = parse(to_dot(tape));
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes.begin()->second.label, "say \"hi\" \\ bye\n1x1");
}

TEST(Dot, AnEmptyTapeIsAnEmptyDigraph) {
  Tape tape;
  ParsedDot g = parse(to_dot(tape));
  EXPECT_TRUE(g.clusters.empty());
  EXPECT_TRUE(g.nodes.empty());
  EXPECT_TRUE(g.edges.empty());
}

TEST(Dot, GraphvizRendersTheSmallNetToSvg) {
  if (std::system("command -v dot >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "Graphviz `dot` is not installed";
  SmallNet s;
  const std::string base = std::string(TAPEGRAD_BINARY_DIR) + "/dot_test_small_net";
  { std::ofstream(base + ".dot") << to_dot(s.tape); }
  const std::string command = "dot -Tsvg '" + base + ".dot' -o '" + base + ".svg' 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::ifstream svg(base + ".svg");
  const std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("0.weight"), std::string::npos);
  EXPECT_NE(text.find("softmax_cross_entropy"), std::string::npos);
  // The layers' titles (Graphviz writes "->" as "&#45;&gt;").
  EXPECT_NE(text.find("0: Dense(3 "), std::string::npos);
  EXPECT_NE(text.find("2: Dense(4 "), std::string::npos);
  EXPECT_NE(text.find("class=\"cluster\""), std::string::npos);
}
