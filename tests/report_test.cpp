// The demo's pictures (src/programs/mnist/report.hpp): round axis ticks, the learning-rate
// panel, a confusion matrix with axis titles, per-class accuracy and a colour-blind-safe
// palette, and a misclassified grid that explains its captions.
#include "../src/programs/mnist/report.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <random>
#include <regex>
#include <string>
#include <vector>

using namespace tg::demo;

namespace {

// True when `step` is 1, 2 or 5 times a power of ten.
bool is_round_step(double step) {
  if (!(step > 0)) return false;
  const double mantissa = step / std::pow(10.0, std::floor(std::log10(step) + 1e-12));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (std::fabs(mantissa - m) < 1e-9 * m) return true;
  return false;
}

// Checks the properties every linear axis must have for data in [lo, hi].
// `tight`: no whole step of empty axis at either end (a single value is widened first).
void expect_round_cover(const Ticks& t, double lo, double hi, bool tight = true) {
  ASSERT_GE(t.values.size(), 3u) << lo << ".." << hi;
  EXPECT_LE(t.values.size(), 8u) << lo << ".." << hi;
  EXPECT_TRUE(is_round_step(t.step)) << t.step;
  EXPECT_LE(t.values.front(), lo);
  EXPECT_GE(t.values.back(), hi);
  if (tight) {
    EXPECT_GT(t.values.front(), lo - t.step * (1 + 1e-9));
    EXPECT_LT(t.values.back(), hi + t.step * (1 + 1e-9));
  }
  for (std::size_t i = 0; i < t.values.size(); ++i) {
    const double k = t.values[i] / t.step;
    EXPECT_NEAR(k, std::round(k), 1e-6) << t.values[i] << " is not a multiple of " << t.step;
    if (i) {
      EXPECT_NEAR(t.values[i] - t.values[i - 1], t.step, 1e-9 * t.step);
    }
  }
}

// ---- colour science, written here independently of the code under test ----

using Rgb = std::array<double, 3>;  // sRGB, 0..255

Rgb parse_hex(const std::string& hex) {
  unsigned r = 0, g = 0, b = 0;
  EXPECT_EQ(std::sscanf(hex.c_str(), "#%02x%02x%02x", &r, &g, &b), 3) << hex;
  return {double(r), double(g), double(b)};
}

double to_linear(double c) {
  c /= 255;
  return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
}

enum class Vision { normal, deuteranopia, protanopia };

// CIELAB of a colour as seen with `vision` (Viénot, Brettel & Mollon 1999, in linear RGB).
Rgb lab(const Rgb& srgb, Vision vision) {
  Rgb l = {to_linear(srgb[0]), to_linear(srgb[1]), to_linear(srgb[2])};
  if (vision != Vision::normal) {
    const double a = vision == Vision::deuteranopia ? 0.29275 : 0.11238;
    const double bb = vision == Vision::deuteranopia ? 0.02234 : -0.00401;
    const double rg = a * l[0] + (1 - a) * l[1];
    l = {rg, rg, std::clamp(-bb * l[0] + bb * l[1] + l[2], 0.0, 1.0)};
  }
  const double x = 0.4124 * l[0] + 0.3576 * l[1] + 0.1805 * l[2];
  const double y = 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
  const double z = 0.0193 * l[0] + 0.1192 * l[1] + 0.9505 * l[2];
  auto f = [](double t) { return t > 0.008856 ? std::cbrt(t) : 7.787 * t + 16.0 / 116; };
  const double fx = f(x / 0.95047), fy = f(y), fz = f(z / 1.08883);
  return {116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)};
}

double delta_e(const Rgb& a, const Rgb& b, Vision vision) {
  const Rgb p = lab(a, vision), q = lab(b, vision);
  return std::sqrt((p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1]) +
                   (p[2] - q[2]) * (p[2] - q[2]));
}

// Two colours a reader with deuteranopia or protanopia can still tell apart.
constexpr double kDistinct = 15;  // CIELAB delta E
bool distinct_for_everyone(const Rgb& a, const Rgb& b) {
  for (Vision v : {Vision::normal, Vision::deuteranopia, Vision::protanopia})
    if (delta_e(a, b, v) < kDistinct) return false;
  return true;
}

// ---- reading the SVG back ----

std::vector<std::string> texts_of_class(const std::string& svg, const std::string& cls) {
  std::vector<std::string> out;
  const std::regex re("<text class='" + cls + "'[^>]*>([^<]*)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator();
       ++it)
    out.push_back((*it)[1]);
  return out;
}

// Checks that the y tick labels of one chart are round and evenly stepped; returns them.
std::vector<double> expect_round_labels(const std::vector<std::string>& labels) {
  std::vector<double> values;
  for (const std::string& s : labels) {
    EXPECT_LE(s.size(), 6u) << "a long tick label: " << s;
    values.push_back(std::stod(s));
  }
  if (values.size() < 3) {
    ADD_FAILURE() << "only " << values.size() << " ticks";
    return values;
  }
  const double step = values[1] - values[0];
  EXPECT_TRUE(is_round_step(step)) << step;
  for (std::size_t i = 1; i < values.size(); ++i) {
    EXPECT_NEAR(values[i] - values[i - 1], step, 1e-9 + 1e-6 * step) << labels[i];
    EXPECT_NEAR(values[i] / step, std::round(values[i] / step), 1e-6) << labels[i];
  }
  return values;
}

}  // namespace

TEST(ReportTicks, LinearTicksAreRoundValuesThatCoverTheRange) {
  // Hand-worked: accuracy 0.93..0.99 goes in steps of 0.02 from 0.92 to 1.
  const Ticks acc = linear_ticks(0.93, 0.99);
  std::vector<std::string> labels;
  for (double v : acc.values) labels.push_back(tick_label(v, acc.step));
  EXPECT_EQ(labels, (std::vector<std::string>{"0.92", "0.94", "0.96", "0.98", "1.00"}));
  const Ticks loss = linear_ticks(0.0, 2.3);
  labels.clear();
  for (double v : loss.values) labels.push_back(tick_label(v, loss.step));
  EXPECT_EQ(labels, (std::vector<std::string>{"0.0", "0.5", "1.0", "1.5", "2.0", "2.5"}));

  std::mt19937 gen(14);
  std::uniform_real_distribution<double> unit(0, 1);
  for (int trial = 0; trial < 2000; ++trial) {
    const double scale = std::pow(10.0, -6 + 12 * unit(gen));
    const double a = (unit(gen) - 0.3) * scale, b = a + unit(gen) * scale + 1e-3 * scale;
    expect_round_cover(linear_ticks(a, b), a, b);
    if (HasFailure()) FAIL() << "range " << a << " .. " << b;
  }
}

TEST(ReportTicks, ASingleValueGetsRoundTicksAroundIt) {
  for (double v : {0.01, 0.0, -3.0, 1e-5, 123.0}) {
    const Ticks t = linear_ticks(v, v);
    expect_round_cover(t, v, v, false);
    // Room on both sides, but not a hundredfold zoom-out.
    EXPECT_LT(t.values.front(), v);
    EXPECT_GT(t.values.back(), v);
    EXPECT_LE(t.values.back() - t.values.front(), v != 0 ? std::fabs(v) : 10.0);
  }
}

TEST(ReportTicks, BadRangesAreRefused) {
  EXPECT_THROW(linear_ticks(1, 0), tg::Error);
  EXPECT_THROW(linear_ticks(NAN, 1), tg::Error);
  EXPECT_THROW(linear_ticks(0, INFINITY), tg::Error);
  EXPECT_THROW(log_ticks(0, 1), tg::Error);
  EXPECT_THROW(log_ticks(-1, 1), tg::Error);
  EXPECT_THROW(log_ticks(2, 1), tg::Error);
}

TEST(ReportTicks, LogTicksArePowersOfTenWithTwoAndFiveOnNarrowRanges) {
  const Ticks narrow = log_ticks(0.003, 0.04);
  EXPECT_EQ(narrow.values.size(), 7u);
  const std::vector<double> expected = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1};
  for (std::size_t i = 0; i < expected.size() && i < narrow.values.size(); ++i)
    EXPECT_NEAR(narrow.values[i], expected[i], 1e-12);

  const Ticks wide = log_ticks(3e-9, 5e2);  // 12 decades: every other power of ten
  for (std::size_t i = 0; i < wide.values.size(); ++i) {
    const double k = std::log10(wide.values[i]);
    EXPECT_NEAR(k, std::round(k), 1e-9);
    EXPECT_EQ(static_cast<long>(std::lround(k)) % 2, 0) << wide.values[i];
  }
  EXPECT_LE(wide.values.front(), 3e-9);
  EXPECT_GE(wide.values.back(), 5e2);
  EXPECT_LE(wide.values.size(), 8u);

  std::mt19937 gen(7);
  std::uniform_real_distribution<double> exponent(-12, 6), span(0, 10);
  for (int trial = 0; trial < 1000; ++trial) {
    const double lo = std::pow(10.0, exponent(gen)), hi = lo * std::pow(10.0, span(gen));
    const Ticks t = log_ticks(lo, hi);
    ASSERT_GE(t.values.size(), 2u);
    EXPECT_LE(t.values.front(), lo * (1 + 1e-12));
    EXPECT_GE(t.values.back(), hi * (1 - 1e-12));
    for (std::size_t i = 0; i < t.values.size(); ++i) {
      EXPECT_TRUE(is_round_step(t.values[i])) << t.values[i];
      if (i) {
        EXPECT_GT(t.values[i], t.values[i - 1]);
      }
    }
    if (HasFailure()) FAIL() << "range " << lo << " .. " << hi;
  }
}

TEST(ReportTicks, LabelsCarryTheDigitsTheStepNeedsAndNoMore) {
  EXPECT_EQ(tick_label(0.98, 0.02), "0.98");
  EXPECT_EQ(tick_label(0.1 * 3, 0.1), "0.3");  // 0.30000000000000004
  EXPECT_EQ(tick_label(15, 5), "15");
  EXPECT_EQ(tick_label(-1e-17, 0.5), "0.0");  // no "-0.0"
  EXPECT_EQ(tick_label(2e-5, 2e-5), "2e-05");
  EXPECT_EQ(tick_label(0.0005, 0.0005), "0.0005");
}

TEST(ReportCharts, TheYAxisOfEveryPanelHasRoundTicksAroundTheData) {
  Panel loss{"loss", {{"train", series_color(0), {}}, {"validation", series_color(1), {}}}};
  Panel acc{"accuracy", {{"train", series_color(0), {}}, {"validation", series_color(1), {}}}};
  std::mt19937 gen(3);
  std::uniform_real_distribution<double> unit(0, 1);
  for (int e = 0; e < 25; ++e) {
    loss.series[0].values.push_back(0.4 / (e + 1) + 0.01 * unit(gen));
    loss.series[1].values.push_back(0.45 / (e + 1) + 0.01 * unit(gen));
    acc.series[0].values.push_back(0.9817 + 0.0005 * e + 0.0003 * unit(gen));
    acc.series[1].values.push_back(e == 0 ? NAN : 0.9801 + 0.0004 * e);  // a missing epoch
  }
  const std::string svg = line_charts_svg("run", {loss, acc});
  const std::vector<double> l = expect_round_labels(texts_of_class(svg, "ytick' data-panel='0")),
                            a = expect_round_labels(texts_of_class(svg, "ytick' data-panel='1"));
  auto range = [](const Panel& p) {
    double lo = 1e300, hi = -1e300;
    for (const Series& s : p.series)
      for (double v : s.values)
        if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    return std::make_pair(lo, hi);
  };
  ASSERT_FALSE(l.empty());
  ASSERT_FALSE(a.empty());
  EXPECT_LE(l.front(), range(loss).first);
  EXPECT_GE(l.back(), range(loss).second);
  EXPECT_LE(a.front(), range(acc).first);
  EXPECT_GE(a.back(), range(acc).second);
  EXPECT_EQ(svg.find("0.9817"), std::string::npos);

  // 25 epochs: x ticks at round multiples, none past the last epoch.
  const std::vector<std::string> x = texts_of_class(svg, "xtick");
  ASSERT_GE(x.size(), 6u);  // two panels
  for (const std::string& e : x) {
    EXPECT_GE(std::stoi(e), 1);
    EXPECT_LE(std::stoi(e), 25);
    EXPECT_EQ(std::stoi(e) % 5, 0) << e;
  }
}

TEST(ReportCharts, TheLearningRatePanelTurnsLogarithmicBeyondTenfold) {
  const Panel flat = learning_rate_panel({0.01, 0.01, 0.005});
  EXPECT_FALSE(flat.log_y);
  EXPECT_EQ(flat.title, "learning rate");
  const Panel cosine = learning_rate_panel({0.1, 0.05, 0.01, 0.002, 0.0004});
  EXPECT_TRUE(cosine.log_y);
  EXPECT_EQ(cosine.title, "learning rate (log scale)");
  ASSERT_EQ(cosine.series.size(), 1u);
  EXPECT_EQ(cosine.series[0].values.size(), 5u);
  // A schedule that ends at zero has no log scale to show it on.
  EXPECT_FALSE(learning_rate_panel({0.1, 0.05, 0.0}).log_y);

  const std::string svg = line_charts_svg("run", {cosine});
  EXPECT_NE(svg.find(">learning rate (log scale)<"), std::string::npos);
  const std::vector<std::string> labels = texts_of_class(svg, "ytick");
  ASSERT_GE(labels.size(), 3u);
  for (const std::string& s : labels) EXPECT_TRUE(is_round_step(std::stod(s))) << s;
  EXPECT_LE(std::stod(labels.front()), 0.0004);
  EXPECT_GE(std::stod(labels.back()), 0.1);

  const std::string constant = line_charts_svg("run", {learning_rate_panel({0.01, 0.01})});
  const std::vector<double> v = expect_round_labels(texts_of_class(constant, "ytick"));
  ASSERT_FALSE(v.empty());
  EXPECT_LT(v.front(), 0.01);
  EXPECT_GT(v.back(), 0.01);
}

TEST(ReportColours, TheCountRampDarkensSteadilyForEveryReaderAndStaysBlue) {
  for (Vision vision : {Vision::normal, Vision::deuteranopia, Vision::protanopia}) {
    double previous = 1e9;
    for (int i = 0; i <= 20; ++i) {
      const Rgb c = parse_hex(sequential_color(i / 20.0));
      const double lightness = lab(c, vision)[0];
      EXPECT_LT(lightness, previous - 1.0) << "step " << i << ": " << sequential_color(i / 20.0);
      previous = lightness;
      // A single blue hue: never a colour where red or green leads.
      EXPECT_GE(c[2], c[0]);
      EXPECT_GE(c[2], c[1]);
    }
    EXPECT_GT(lab(parse_hex(sequential_color(0)), vision)[0] -
                  lab(parse_hex(sequential_color(1)), vision)[0],
              60);
  }
  EXPECT_EQ(sequential_color(-1), sequential_color(0));
  EXPECT_EQ(sequential_color(2), sequential_color(1));
  EXPECT_EQ(sequential_color(NAN), sequential_color(0));
}

TEST(ReportColours, SeriesColoursStayDistinctWithRedGreenColourBlindness) {
  // The rule can fail: matplotlib's red and green (tab10) look alike to a deuteranope.
  EXPECT_FALSE(distinct_for_everyone(parse_hex("#d62728"), parse_hex("#2ca02c")));
  EXPECT_TRUE(distinct_for_everyone(parse_hex("#1f77b4"), parse_hex("#ff7f0e")));
  for (std::size_t i = 0; i < 8; ++i)
    for (std::size_t j = i + 1; j < 8; ++j)
      EXPECT_TRUE(distinct_for_everyone(parse_hex(series_color(i)), parse_hex(series_color(j))))
          << series_color(i) << " vs " << series_color(j);
}

TEST(ReportConfusion, AxisTitlesPerClassAccuracyAndShadingFollowTheCounts) {
  const std::size_t k = 10;
  std::mt19937 gen(5);
  std::uniform_int_distribution<std::size_t> mistakes(0, 12), hits(800, 1100);
  std::vector<std::vector<std::size_t>> counts(k, std::vector<std::size_t>(k));
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j) counts[i][j] = i == j ? hits(gen) : mistakes(gen);
  counts[4].assign(k, 0);  // a class without test images
  std::vector<std::string> names;
  for (std::size_t i = 0; i < k; ++i) names.push_back("c" + std::to_string(i));
  const std::string svg = confusion_svg(counts, names);

  const std::vector<std::string> titles = texts_of_class(svg, "axis-title");
  EXPECT_EQ(titles, (std::vector<std::string>{"predicted class", "true class"}));

  std::size_t total = 0, correct = 0;
  std::vector<std::string> expected;
  for (std::size_t i = 0; i < k; ++i) {
    std::size_t row = 0;
    for (std::size_t c : counts[i]) row += c;
    total += row;
    correct += counts[i][i];
    char text[16];
    std::snprintf(text, sizeof text, "%.1f%%", row ? 100.0 * counts[i][i] / row : 0.0);
    expected.push_back(row ? text : "n/a");
  }
  EXPECT_EQ(texts_of_class(svg, "row-accuracy"), expected);
  char overall[64];
  std::snprintf(overall, sizeof overall, "%zu test images, accuracy %.1f%%", total,
                100.0 * correct / total);
  EXPECT_NE(svg.find(overall), std::string::npos) << overall;

  // Every cell is there once; a larger count is never lighter.
  const std::regex cell_re(
      "<rect class='cell' data-true='(\\d+)' data-predicted='(\\d+)'[^>]* fill='(#[0-9a-f]{6})'");
  std::vector<std::pair<std::size_t, double>> shading;  // count, lightness
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), cell_re);
       it != std::sregex_iterator(); ++it) {
    const std::size_t i = std::stoul((*it)[1]), j = std::stoul((*it)[2]);
    ASSERT_LT(i, k);
    ASSERT_LT(j, k);
    shading.emplace_back(counts[i][j], lab(parse_hex((*it)[3]), Vision::normal)[0]);
  }
  ASSERT_EQ(shading.size(), k * k);
  for (auto& [a, la] : shading)
    for (auto& [b, lb] : shading)
      if (a < b) {
        EXPECT_GE(la, lb) << a << " vs " << b;
      }
  std::sort(shading.begin(), shading.end());
  EXPECT_GT(shading.front().second - shading.back().second, 60);
  // A single mistake is visibly shaded, not left white.
  for (auto& [count, lightness] : shading)
    if (count == 1) {
      EXPECT_LT(lightness, lab(parse_hex("#ffffff"), Vision::normal)[0] - 5);
    }

  // No colour anywhere in the picture where red or green leads.
  const std::regex fill_re("fill='(#[0-9a-fA-F]{6})'");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), fill_re);
       it != std::sregex_iterator(); ++it) {
    const Rgb c = parse_hex((*it)[1]);
    EXPECT_TRUE(c[2] >= c[0] && c[2] >= c[1]) << (*it)[1];
  }
}

TEST(ReportConfusion, MismatchedShapesAreRefused) {
  const std::vector<std::vector<std::size_t>> square = {{1, 2}, {3, 4}};
  EXPECT_THROW(confusion_svg(square, {"a"}), tg::Error);
  EXPECT_THROW(confusion_svg({{1, 2}, {3}}, {"a", "b"}), tg::Error);
}

TEST(ReportGrid, TheLegendExplainsTheCaptions) {
  EXPECT_NE(grid_legend().find("true -> predicted (confidence)"), std::string::npos);
  const std::vector<std::string> digits = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  std::vector<std::uint8_t> ink(28 * 28, 255);
  EXPECT_EQ(grid_caption({ink.data(), 7, 2, 0.934f}, digits), "7 -> 2 (93%)");
  EXPECT_EQ(grid_caption({ink.data(), 3, 7, 0.9996f}, digits), "3 -> 7 (99%)");
  const std::vector<std::string> fashion = {"T-shirt/top", "Trouser", "Pullover"};
  EXPECT_EQ(grid_caption({ink.data(), 0, 2, 0.5f}, fashion), "T-shi -> Pullo (50%)");
  EXPECT_THROW(grid_caption({ink.data(), 3, 0, 0.5f}, fashion), tg::Error);

  // Two full-ink tiles: the legend band has text, each tile is dark where its image is.
  const RgbImage img =
      render_image_grid({{ink.data(), 7, 2, 0.9f}, {ink.data(), 1, 7, 0.8f}}, digits, 8);
  ASSERT_EQ(img.rgb.size(), static_cast<std::size_t>(img.width) * img.height * 3);
  auto grey = [&](int x, int y) {
    return img.rgb[(static_cast<std::size_t>(y) * img.width + x) * 3];
  };
  int legend_ink = 0;
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < img.width; ++x) legend_ink += grey(x, y) < 128;
  EXPECT_GT(legend_ink, 100);
  EXPECT_LT(grey(6 + 28, 26 + 28), 16);  // inside the first image
  EXPECT_GE(img.width, stb_easy_font_width(const_cast<char*>(grid_legend().c_str())));
  EXPECT_THROW(render_image_grid({}, digits, 0), tg::Error);
}
