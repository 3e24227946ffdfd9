// Pictures of a training run: SVG charts written directly, PNG through stb_image_write.
#pragma once

#include <cstdint>
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
void write_line_charts_svg(const std::string& path, const std::string& title,
                           const std::vector<Panel>& panels);

// counts[true][predicted] as a heat map with the numbers written in.
void write_confusion_svg(const std::string& path,
                         const std::vector<std::vector<std::size_t>>& counts,
                         const std::vector<std::string>& class_names);

struct Tile {
  const std::uint8_t* pixels;  // 28 x 28 grey bytes
  int true_label;
  int predicted;
  float confidence;
};
// A grid of images (scaled x2) with "true -> predicted (confidence)" under each.
void write_image_grid_png(const std::string& path, const std::vector<Tile>& tiles,
                          const std::vector<std::string>& class_names, int columns = 8);

}  // namespace tg::demo
