#include "report.hpp"

#include "tapegrad/tapegrad.hpp"

// stb_easy_font is a header of static functions, not all of which are used here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace tg::demo {

namespace {

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw Error(path + ": could not write the file");
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[32];
  if (v != 0 && (std::fabs(v) < 1e-3 || std::fabs(v) >= 1e5))
    std::snprintf(buf, sizeof buf, "%.2g", v);
  else
    std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

void write_line_charts_svg(const std::string& path, const std::string& title,
                           const std::vector<Panel>& panels) {
  // Each panel: the plot, then its legend in a right-hand margin where it covers nothing.
  const int pw = 540, ph = 300, margin_l = 60, margin_r = 130, margin_t = 40, margin_b = 45;
  const int width = static_cast<int>(panels.size()) * pw, height = ph + 30;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
    << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' "
       "fill='white'/>\n"
    << "<text x='10' y='20' font-size='14' font-weight='bold'>" << escape(title) << "</text>\n";
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const Panel& panel = panels[p];
    const int x0 = static_cast<int>(p) * pw + margin_l, y0 = 30 + margin_t;
    const int w = pw - margin_l - margin_r, h = ph - margin_t - margin_b;
    auto transform = [&](double v) { return panel.log_y ? std::log10(std::max(v, 1e-30)) : v; };
    double lo = 1e300, hi = -1e300;
    std::size_t n = 0;
    for (const Series& se : panel.series)
      for (double v : se.values)
        if (std::isfinite(v)) {
          lo = std::min(lo, transform(v));
          hi = std::max(hi, transform(v));
          n = std::max(n, se.values.size());
        }
    if (n == 0) continue;
    if (hi - lo < 1e-12) {
      lo -= 0.5;
      hi += 0.5;
    }
    const double pad = 0.05 * (hi - lo);
    lo -= pad;
    hi += pad;
    auto px = [&](std::size_t i) {
      return x0 + (n > 1 ? w * static_cast<double>(i) / (n - 1) : w / 2.0);
    };
    auto py = [&](double v) { return y0 + h - h * (transform(v) - lo) / (hi - lo); };
    s << "<text x='" << x0 << "' y='" << y0 - 10 << "' font-weight='bold'>" << escape(panel.title)
      << "</text>\n<rect x='" << x0 << "' y='" << y0 << "' width='" << w << "' height='" << h
      << "' fill='none' stroke='#888'/>\n";
    for (int k = 0; k <= 4; ++k) {  // y ticks
      const double t = lo + (hi - lo) * k / 4.0;
      const double y = y0 + h - h * k / 4.0;
      s << "<line x1='" << x0 << "' x2='" << x0 + w << "' y1='" << y << "' y2='" << y
        << "' stroke='#eee'/><text x='" << x0 - 5 << "' y='" << y + 4 << "' text-anchor='end'>"
        << number(panel.log_y ? std::pow(10.0, t) : t) << "</text>\n";
    }
    for (std::size_t i = 0; i < n; ++i)  // x ticks: epochs
      if (n <= 12 || i % ((n + 9) / 10) == 0)
        s << "<text x='" << px(i) << "' y='" << y0 + h + 15 << "' text-anchor='middle'>" << i + 1
          << "</text>\n";
    s << "<text x='" << x0 + w / 2 << "' y='" << y0 + h + 32
      << "' text-anchor='middle'>epoch</text>\n";
    int legend_y = y0 + 14;
    for (const Series& se : panel.series) {
      s << "<polyline fill='none' stroke='" << se.color << "' stroke-width='2' points='";
      for (std::size_t i = 0; i < se.values.size(); ++i)
        if (std::isfinite(se.values[i])) s << px(i) << "," << py(se.values[i]) << " ";
      s << "'/>\n";
      for (std::size_t i = 0; i < se.values.size(); ++i)
        if (std::isfinite(se.values[i]))
          s << "<circle cx='" << px(i) << "' cy='" << py(se.values[i]) << "' r='2.5' fill='"
            << se.color << "'/>\n";
      s << "<rect x='" << x0 + w + 10 << "' y='" << legend_y - 9
        << "' width='10' height='10' fill='" << se.color << "'/><text x='" << x0 + w + 25 << "' y='"
        << legend_y << "'>" << escape(se.name) << "</text>\n";
      legend_y += 15;
    }
  }
  s << "</svg>\n";
  write_text_file(path, s.str());
}

void write_confusion_svg(const std::string& path,
                         const std::vector<std::vector<std::size_t>>& counts,
                         const std::vector<std::string>& names) {
  const std::size_t k = counts.size();
  const int cell = 44, left = 110, top = 70;
  std::size_t largest_off_diagonal = 1;
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j)
      if (i != j) largest_off_diagonal = std::max(largest_off_diagonal, counts[i][j]);
  std::ostringstream s;
  const int size_w = left + cell * static_cast<int>(k) + 20,
            size_h = top + cell * static_cast<int>(k) + 40;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << size_w << "' height='" << size_h
    << "' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' "
       "fill='white'/>\n"
    << "<text x='10' y='20' font-size='15' font-weight='bold'>Confusion matrix (rows: true, "
       "columns: predicted)</text>\n";
  for (std::size_t i = 0; i < k; ++i) {
    std::size_t row_total = 0;
    for (std::size_t c : counts[i]) row_total += c;
    s << "<text x='" << left - 6 << "' y='" << top + cell * i + cell / 2 + 4
      << "' text-anchor='end'>" << escape(names[i]) << "</text>\n";
    s << "<text x='" << left + cell * i + cell / 2 << "' y='" << top - 8
      << "' text-anchor='middle'>" << escape(names[i].substr(0, 6)) << "</text>\n";
    for (std::size_t j = 0; j < k; ++j) {
      // Diagonal in green by share of the row; mistakes in red by size relative to the worst.
      const double share = row_total ? static_cast<double>(counts[i][j]) / row_total : 0.0;
      const double heat = i == j ? share : static_cast<double>(counts[i][j]) / largest_off_diagonal;
      const int fade = static_cast<int>(255 - 200 * heat);
      char color[32];
      if (i == j)
        std::snprintf(color, sizeof color, "rgb(%d,235,%d)", fade, fade);
      else
        std::snprintf(color, sizeof color, "rgb(255,%d,%d)", fade, fade);
      s << "<rect x='" << left + cell * j << "' y='" << top + cell * i << "' width='" << cell
        << "' height='" << cell << "' fill='" << color << "' stroke='#ccc'/>"
        << "<text x='" << left + cell * j + cell / 2 << "' y='" << top + cell * i + cell / 2 + 4
        << "' text-anchor='middle'>" << counts[i][j] << "</text>\n";
    }
  }
  s << "</svg>\n";
  write_text_file(path, s.str());
}

void write_image_grid_png(const std::string& path, const std::vector<Tile>& tiles,
                          const std::vector<std::string>& names, int columns) {
  const int scale = 2, image = 28 * scale, label_h = 14, pad = 6;
  const int tile_w = std::max(image, 90) + pad, tile_h = image + label_h + pad;
  const int count = static_cast<int>(tiles.size());
  const int grid_rows = std::max(1, (count + columns - 1) / columns);
  const int width = columns * tile_w + pad, height = grid_rows * tile_h + pad;
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(width) * height * 3, 255);
  auto put = [&](int x, int y, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    std::uint8_t* p = &rgb[(static_cast<std::size_t>(y) * width + x) * 3];
    p[0] = r;
    p[1] = g;
    p[2] = b;
  };
  std::vector<char> vertices(64 * 1024);
  for (int t = 0; t < count; ++t) {
    const Tile& tile = tiles[static_cast<std::size_t>(t)];
    const int ox = pad + (t % columns) * tile_w, oy = pad + (t / columns) * tile_h;
    for (int y = 0; y < image; ++y)
      for (int x = 0; x < image; ++x) {
        const std::uint8_t v = 255 - tile.pixels[(y / scale) * 28 + x / scale];  // ink is dark
        put(ox + x, oy + y, v, v, v);
      }
    // The label, rasterised from stb_easy_font's quads (axis-aligned rectangles).
    char label[96];
    std::snprintf(label, sizeof label, "%s>%s %.0f%%",
                  names[static_cast<std::size_t>(tile.true_label)].substr(0, 5).c_str(),
                  names[static_cast<std::size_t>(tile.predicted)].substr(0, 5).c_str(),
                  100.0 * tile.confidence);
    const int quads = stb_easy_font_print(0, 0, label, nullptr, vertices.data(),
                                          static_cast<int>(vertices.size()));
    for (int q = 0; q < quads; ++q) {
      const float* v0 = reinterpret_cast<const float*>(vertices.data() + q * 64);
      const float* v2 = reinterpret_cast<const float*>(vertices.data() + q * 64 + 32);
      for (int y = static_cast<int>(v0[1]); y < static_cast<int>(v2[1]); ++y)
        for (int x = static_cast<int>(v0[0]); x < static_cast<int>(v2[0]); ++x)
          put(ox + x, oy + image + 3 + y, 200, 0, 0);
    }
  }
  if (!stbi_write_png(path.c_str(), width, height, 3, rgb.data(), width * 3))
    throw Error(path + ": could not write the PNG");
}

}  // namespace tg::demo
