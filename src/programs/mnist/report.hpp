// Pictures of a training run: SVG charts written directly, PNG through stb_image_write.
// Everything but the file writing is inline here, so tests/report_test.cpp can check the
// pictures without the program (report.cpp belongs to tapegrad-mnist, not the library).
#pragma once

#include "tapegrad/core/tensor.hpp"  // tg::Error

// stb_easy_font is a header of static functions, not all of which are used here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace tg::demo {

struct Series {
  std::string name;
  std::string color;
  std::vector<double> values;  // one per epoch
};

// A line chart per panel, x = epoch (1-based); log_y for quantities spanning decades.
struct Panel {
  std::string title;
  std::vector<Series> series;
  bool log_y = false;
};

// ---- colours ----

// Okabe & Ito's eight colours, told apart with every common colour-vision deficiency; the
// order puts the most distinct first (blue, orange, bluish green).
inline const char* series_color(std::size_t i) {
  static const char* const colors[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                       "#56B4E9", "#D55E00", "#F0E442", "#000000"};
  return colors[i % 8];
}

// A single-hue sequential ramp (ColorBrewer's "Blues"), t in [0, 1] from near white to dark
// blue: it encodes by lightness alone, so no reader depends on telling red from green.
inline std::string sequential_color(double t) {
  static const unsigned char anchors[9][3] = {{247, 251, 255}, {222, 235, 247}, {198, 219, 239},
                                              {158, 202, 225}, {107, 174, 214}, {66, 146, 198},
                                              {33, 113, 181},  {8, 81, 156},    {8, 48, 107}};
  t = std::isfinite(t) ? std::clamp(t, 0.0, 1.0) : 0.0;
  const double at = t * 8;
  const int lo = std::min(7, static_cast<int>(at));
  const double f = at - lo;
  char out[8];
  int rgb[3];
  for (int c = 0; c < 3; ++c)
    rgb[c] =
        static_cast<int>(std::lround(anchors[lo][c] + f * (anchors[lo + 1][c] - anchors[lo][c])));
  std::snprintf(out, sizeof out, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return out;
}

// Dash patterns that tell a panel's series apart without colour.
inline const char* series_dash(std::size_t i) {
  static const char* const dashes[] = {"", "7,4", "2,3", "9,3,2,3"};
  return dashes[i % 4];
}

// ---- axis ticks ----

// Round tick values for an axis: multiples of `step`, which is 1, 2 or 5 x 10^k, from the
// largest at or below the data's lowest value to the smallest at or above its highest.
struct Ticks {
  std::vector<double> values;
  double step = 1;
};

// About `intervals` steps across [lo, hi]; a single value gets a range around it.
inline Ticks linear_ticks(double lo, double hi, int intervals = 5) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi < lo)
    throw Error("linear_ticks: the range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                "] is not a finite interval");
  if (hi - lo <= 1e-12 * std::max(1.0, std::fabs(hi))) {
    const double spread = lo != 0 ? 0.1 * std::fabs(lo) : 1.0;
    lo -= spread;
    hi += spread;
  }
  const double raw = (hi - lo) / std::max(1, intervals);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  Ticks t;
  t.step = 10 * magnitude;
  for (double m : {1.0, 2.0, 5.0})
    if (m * magnitude >= raw * (1 - 1e-9)) {
      t.step = m * magnitude;
      break;
    }
  // Counted in whole steps so that no tick drifts off its round value.
  const double first = std::floor(lo / t.step + 1e-9), last = std::ceil(hi / t.step - 1e-9);
  for (double k = first; k <= last; ++k) t.values.push_back(k == 0 ? 0.0 : k * t.step);
  return t;
}

// For a log axis over positive [lo, hi]: powers of ten, with 2x and 5x between them when
// the range spans fewer than three decades, every other power when it spans more than eight.
// `step` is the ratio of decades between powers of ten (1 or 2).
inline Ticks log_ticks(double lo, double hi) {
  if (!(lo > 0) || !std::isfinite(hi) || hi < lo)
    throw Error("log_ticks: the range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                "] is not a positive finite interval");
  int first = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
  int last = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  if (last == first) ++last;
  Ticks t;
  t.step = last - first > 8 ? 2 : 1;
  if (t.step == 2) {
    if ((first % 2 + 2) % 2) --first;
    if ((last % 2 + 2) % 2) ++last;
  }
  const bool between = last - first < 3;
  for (int k = first; k <= last; k += static_cast<int>(t.step)) {
    const double decade = std::pow(10.0, k);
    t.values.push_back(decade);
    if (between && k < last) {
      t.values.push_back(2 * decade);
      t.values.push_back(5 * decade);
    }
  }
  return t;
}

// A tick's text with just the digits its step needs: 0.98 (step 0.02), 15 (step 5).
inline std::string tick_label(double value, double step) {
  char out[32];
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  if (decimals > 4)
    std::snprintf(out, sizeof out, "%g", value);
  else
    std::snprintf(out, sizeof out, "%.*f", decimals, std::fabs(value) < 1e-6 * step ? 0.0 : value);
  return out;
}

// The per-epoch learning rate as a panel, on a log scale when it spans more than 10x.
inline Panel learning_rate_panel(const std::vector<double>& lr) {
  double lo = 1e300, hi = -1e300;
  for (double v : lr)
    if (std::isfinite(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  const bool log_y = lo > 0 && hi > 10 * lo;
  return {
      log_y ? "learning rate (log scale)" : "learning rate", {{"lr", series_color(2), lr}}, log_y};
}

// ---- SVG ----

namespace detail {

inline std::string escape_xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '\'')
      out += "&apos;";
    else
      out += c;
  }
  return out;
}

inline std::string percent(std::size_t part, std::size_t whole) {
  if (whole == 0) return "n/a";
  char out[16];
  std::snprintf(out, sizeof out, "%.1f%%", 100.0 * static_cast<double>(part) / whole);
  return out;
}

}  // namespace detail

// The panels side by side. Y ticks are round values (linear_ticks or log_ticks); x ticks
// are epochs.
inline std::string line_charts_svg(const std::string& title, const std::vector<Panel>& panels) {
  using detail::escape_xml;
  // Each panel: the plot, then its legend in a right-hand margin where it covers nothing.
  const int pw = 540, ph = 300, margin_l = 60, margin_r = 130, margin_t = 40, margin_b = 45;
  const int width = static_cast<int>(panels.size()) * pw, height = ph + 30;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
    << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' "
       "fill='white'/>\n"
    << "<text x='10' y='20' font-size='14' font-weight='bold'>" << escape_xml(title) << "</text>\n";
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const Panel& panel = panels[p];
    const int x0 = static_cast<int>(p) * pw + margin_l, y0 = 30 + margin_t;
    const int w = pw - margin_l - margin_r, h = ph - margin_t - margin_b;
    // A log axis shows only positive values; anything else is left out as missing.
    auto shown = [&](double v) { return std::isfinite(v) && (!panel.log_y || v > 0); };
    double lo = 1e300, hi = -1e300;
    std::size_t n = 0;
    for (const Series& se : panel.series)
      for (std::size_t i = 0; i < se.values.size(); ++i)
        if (shown(se.values[i])) {
          lo = std::min(lo, se.values[i]);
          hi = std::max(hi, se.values[i]);
          n = std::max(n, i + 1);
        }
    s << "<text x='" << x0 << "' y='" << y0 - 10 << "' font-weight='bold'>"
      << escape_xml(panel.title) << "</text>\n<rect x='" << x0 << "' y='" << y0 << "' width='" << w
      << "' height='" << h << "' fill='none' stroke='#888'/>\n";
    if (n == 0) continue;
    const Ticks ticks = panel.log_y ? log_ticks(lo, hi) : linear_ticks(lo, hi);
    auto transform = [&](double v) { return panel.log_y ? std::log10(v) : v; };
    const double axis_lo = transform(ticks.values.front()),
                 axis_hi = transform(ticks.values.back());
    auto px = [&](std::size_t i) {
      return x0 + (n > 1 ? w * static_cast<double>(i) / (n - 1) : w / 2.0);
    };
    auto py = [&](double v) { return y0 + h - h * (transform(v) - axis_lo) / (axis_hi - axis_lo); };
    for (double t : ticks.values) {
      const double y = py(t);
      s << "<line x1='" << x0 << "' x2='" << x0 + w << "' y1='" << y << "' y2='" << y
        << "' stroke='#eee'/><text class='ytick' data-panel='" << p << "' x='" << x0 - 5 << "' y='"
        << y + 4 << "' text-anchor='end'>" << tick_label(t, panel.log_y ? t : ticks.step)
        << "</text>\n";
    }
    // Epoch ticks: every epoch up to ten, else round multiples.
    std::vector<std::size_t> epochs;
    if (n <= 10) {
      for (std::size_t e = 1; e <= n; ++e) epochs.push_back(e);
    } else {
      const double step = linear_ticks(1, static_cast<double>(n), 8).step;
      for (double e = step; e <= static_cast<double>(n) + 1e-9; e += step)
        epochs.push_back(static_cast<std::size_t>(std::lround(e)));
    }
    for (std::size_t e : epochs)
      s << "<text class='xtick' x='" << px(e - 1) << "' y='" << y0 + h + 15
        << "' text-anchor='middle'>" << e << "</text>\n";
    s << "<text x='" << x0 + w / 2 << "' y='" << y0 + h + 32
      << "' text-anchor='middle'>epoch</text>\n";
    int legend_y = y0 + 14;
    for (std::size_t k = 0; k < panel.series.size(); ++k) {
      const Series& se = panel.series[k];
      const std::string dash =
          *series_dash(k) ? std::string(" stroke-dasharray='") + series_dash(k) + "'" : "";
      s << "<polyline fill='none' stroke='" << se.color << "' stroke-width='2'" << dash
        << " points='";
      for (std::size_t i = 0; i < se.values.size(); ++i)
        if (shown(se.values[i])) s << px(i) << "," << py(se.values[i]) << " ";
      s << "'/>\n";
      for (std::size_t i = 0; i < se.values.size(); ++i)
        if (shown(se.values[i]))
          s << "<circle cx='" << px(i) << "' cy='" << py(se.values[i]) << "' r='2.5' fill='"
            << se.color << "'/>\n";
      s << "<line x1='" << x0 + w + 8 << "' x2='" << x0 + w + 30 << "' y1='" << legend_y - 4
        << "' y2='" << legend_y - 4 << "' stroke='" << se.color << "' stroke-width='2'" << dash
        << "/><text x='" << x0 + w + 35 << "' y='" << legend_y << "'>" << escape_xml(se.name)
        << "</text>\n";
      legend_y += 15;
    }
  }
  s << "</svg>\n";
  return s.str();
}

// counts[true][predicted] as a heat map with the numbers written in, axis titles, and each
// class's accuracy (its diagonal count over its row's total) beside its row. Cells are shaded
// by log(1 + count) on sequential_color, so a handful of mistakes still shows.
inline std::string confusion_svg(const std::vector<std::vector<std::size_t>>& counts,
                                 const std::vector<std::string>& names) {
  using detail::escape_xml;
  const std::size_t k = counts.size();
  if (names.size() != k)
    throw Error("confusion_svg: " + std::to_string(k) + " rows of counts but " +
                std::to_string(names.size()) + " class names");
  std::size_t largest = 0, total = 0, correct = 0;
  for (std::size_t i = 0; i < k; ++i) {
    if (counts[i].size() != k)
      throw Error("confusion_svg: row " + std::to_string(i) + " has " +
                  std::to_string(counts[i].size()) + " counts, expected " + std::to_string(k));
    for (std::size_t c : counts[i]) {
      largest = std::max(largest, c);
      total += c;
    }
    correct += counts[i][i];
  }
  const int cell = 44, left = 130, top = 90, right = 80, bar_h = 12;
  const int grid = cell * static_cast<int>(k);
  const int size_w = left + grid + right, size_h = top + grid + 75;
  const double scale = std::log1p(static_cast<double>(largest));
  auto shade = [&](std::size_t c) {
    return scale > 0 ? std::log1p(static_cast<double>(c)) / scale : 0.0;
  };
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << size_w << "' height='" << size_h
    << "' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' "
       "fill='white'/>\n"
    << "<text x='10' y='20' font-size='15' font-weight='bold'>Confusion matrix: " << total
    << " test images, accuracy " << detail::percent(correct, total) << "</text>\n"
    << "<text class='axis-title' x='" << left + grid / 2 << "' y='" << top - 30
    << "' text-anchor='middle' font-size='13' font-weight='bold'>predicted class</text>\n"
    << "<text class='axis-title' x='18' y='" << top + grid / 2 << "' transform='rotate(-90 18 "
    << top + grid / 2
    << ")' text-anchor='middle' font-size='13' font-weight='bold'>true class</text>\n"
    << "<text x='" << left + grid + right / 2 << "' y='" << top - 8
    << "' text-anchor='middle' font-weight='bold'>accuracy</text>\n";
  for (std::size_t i = 0; i < k; ++i) {
    std::size_t row_total = 0;
    for (std::size_t c : counts[i]) row_total += c;
    const int row_y = top + cell * static_cast<int>(i);
    s << "<text x='" << left - 6 << "' y='" << row_y + cell / 2 + 4 << "' text-anchor='end'>"
      << escape_xml(names[i]) << "</text>\n";
    s << "<text x='" << left + cell * static_cast<int>(i) + cell / 2 << "' y='" << top - 8
      << "' text-anchor='middle'>" << escape_xml(names[i].substr(0, 6)) << "</text>\n";
    for (std::size_t j = 0; j < k; ++j) {
      const double t = shade(counts[i][j]);
      const int x = left + cell * static_cast<int>(j);
      s << "<rect class='cell' data-true='" << i << "' data-predicted='" << j << "' x='" << x
        << "' y='" << row_y << "' width='" << cell << "' height='" << cell << "' fill='"
        << sequential_color(t) << "' stroke='#ccc'/>"
        << "<text x='" << x + cell / 2 << "' y='" << row_y + cell / 2 + 4
        << "' text-anchor='middle' fill='" << (t > 0.55 ? "white" : "black") << "'"
        << (i == j ? " font-weight='bold'" : "") << ">" << counts[i][j] << "</text>\n";
    }
    s << "<text class='row-accuracy' data-true='" << i << "' x='" << left + grid + right / 2
      << "' y='" << row_y + cell / 2 + 4 << "' text-anchor='middle'>"
      << detail::percent(counts[i][i], row_total) << "</text>\n";
  }
  // The colour scale, with counts at powers of ten where they fall on it.
  const int bar_y = top + grid + 22, bar_w = grid, steps = 40;
  for (int b = 0; b < steps; ++b)
    s << "<rect x='" << left + bar_w * b / steps << "' y='" << bar_y << "' width='"
      << bar_w / steps + 1 << "' height='" << bar_h << "' fill='"
      << sequential_color((b + 0.5) / steps) << "'/>\n";
  s << "<rect x='" << left << "' y='" << bar_y << "' width='" << bar_w << "' height='" << bar_h
    << "' fill='none' stroke='#888'/>\n";
  std::vector<std::size_t> marks = {0};
  // A power of ten too close to the largest count would print over it.
  for (std::size_t c = 1; c <= largest; c *= 10)
    if (shade(largest) - shade(c) > 0.08 || c == largest) marks.push_back(c);
  if (marks.back() != largest) marks.push_back(largest);
  for (std::size_t c : marks)
    s << "<text x='" << left + bar_w * shade(c) << "' y='" << bar_y + bar_h + 13
      << "' text-anchor='middle'>" << c << "</text>\n";
  s << "<text x='" << left + bar_w / 2 << "' y='" << bar_y + bar_h + 28
    << "' text-anchor='middle'>images (colour on a log scale)</text>\n";
  s << "</svg>\n";
  return s.str();
}

// ---- the grid of misclassified images ----

struct Tile {
  const std::uint8_t* pixels;  // 28 x 28 grey bytes
  int true_label;
  int predicted;
  float confidence;
};

// The line above the grid that says how to read each caption.
inline std::string grid_legend() {
  return "Most confident mistakes on the test set. Caption: true -> predicted (confidence)";
}

// "7 -> 2 (93%)"; class names cut to 5 characters so that a caption fits under its image.
// The confidence is rounded down, so a mistake never reads as "100%".
inline std::string grid_caption(const Tile& tile, const std::vector<std::string>& names) {
  auto name = [&](int label) {
    if (label < 0 || static_cast<std::size_t>(label) >= names.size())
      throw Error("grid_caption: class " + std::to_string(label) + " is not among the " +
                  std::to_string(names.size()) + " class names");
    return names[static_cast<std::size_t>(label)].substr(0, 5);
  };
  char out[64];
  std::snprintf(out, sizeof out, "%s -> %s (%.0f%%)", name(tile.true_label).c_str(),
                name(tile.predicted).c_str(), std::floor(100.0 * tile.confidence));
  return out;
}

struct RgbImage {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;  // row-major, 3 bytes a pixel
};

// The legend line, then the images (scaled x2, ink dark) with their captions under them.
inline RgbImage render_image_grid(const std::vector<Tile>& tiles,
                                  const std::vector<std::string>& names, int columns = 8) {
  if (columns < 1) throw Error("render_image_grid: columns must be at least 1");
  const int scale = 2, image = 28 * scale, label_h = 14, pad = 6, legend_h = 20;
  auto text_width = [](const std::string& line) {
    return stb_easy_font_width(const_cast<char*>(line.c_str()));
  };
  std::vector<std::string> captions;
  int caption_w = 0;
  for (const Tile& tile : tiles) {
    captions.push_back(grid_caption(tile, names));
    caption_w = std::max(caption_w, text_width(captions.back()));
  }
  const int tile_w = std::max(image, caption_w + 4) + pad, tile_h = image + label_h + pad;
  const int count = static_cast<int>(tiles.size());
  const int grid_rows = std::max(1, (count + columns - 1) / columns);
  RgbImage img;
  img.width = std::max(columns * tile_w, text_width(grid_legend()) + pad) + pad;
  img.height = legend_h + grid_rows * tile_h + pad;
  img.rgb.assign(static_cast<std::size_t>(img.width) * img.height * 3, 255);
  auto put = [&](int x, int y, std::uint8_t v) {
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
    std::uint8_t* p = &img.rgb[(static_cast<std::size_t>(y) * img.width + x) * 3];
    p[0] = p[1] = p[2] = v;
  };
  std::vector<char> vertices(64 * 1024);
  // Text rasterised from stb_easy_font's quads (axis-aligned rectangles), in near black.
  auto text = [&](const std::string& line, int ox, int oy) {
    const int quads = stb_easy_font_print(0, 0, const_cast<char*>(line.c_str()), nullptr,
                                          vertices.data(), static_cast<int>(vertices.size()));
    for (int q = 0; q < quads; ++q) {
      float v0[2], v2[2];
      std::copy_n(reinterpret_cast<const char*>(vertices.data() + q * 64), sizeof v0,
                  reinterpret_cast<char*>(v0));
      std::copy_n(reinterpret_cast<const char*>(vertices.data() + q * 64 + 32), sizeof v2,
                  reinterpret_cast<char*>(v2));
      for (int y = static_cast<int>(v0[1]); y < static_cast<int>(v2[1]); ++y)
        for (int x = static_cast<int>(v0[0]); x < static_cast<int>(v2[0]); ++x)
          put(ox + x, oy + y, 30);
    }
  };
  text(grid_legend(), pad, pad);
  for (int t = 0; t < count; ++t) {
    const Tile& tile = tiles[static_cast<std::size_t>(t)];
    const int ox = pad + (t % columns) * tile_w, oy = legend_h + pad + (t / columns) * tile_h;
    for (int y = 0; y < image; ++y)
      for (int x = 0; x < image; ++x)
        put(ox + x, oy + y,
            static_cast<std::uint8_t>(255 - tile.pixels[(y / scale) * 28 + x / scale]));
    text(captions[static_cast<std::size_t>(t)], ox, oy + image + 3);
  }
  return img;
}

// ---- files (report.cpp) ----

void write_line_charts_svg(const std::string& path, const std::string& title,
                           const std::vector<Panel>& panels);
void write_confusion_svg(const std::string& path,
                         const std::vector<std::vector<std::size_t>>& counts,
                         const std::vector<std::string>& class_names);
void write_image_grid_png(const std::string& path, const std::vector<Tile>& tiles,
                          const std::vector<std::string>& class_names, int columns = 8);

}  // namespace tg::demo
