#include "report.hpp"

#include <stb/stb_image_write.h>

#include <fstream>

namespace tg::demo {

namespace {

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw Error(path + ": could not write the file");
}

}  // namespace

void write_line_charts_svg(const std::string& path, const std::string& title,
                           const std::vector<Panel>& panels) {
  write_text_file(path, line_charts_svg(title, panels));
}

void write_confusion_svg(const std::string& path,
                         const std::vector<std::vector<std::size_t>>& counts,
                         const std::vector<std::string>& class_names) {
  write_text_file(path, confusion_svg(counts, class_names));
}

void write_image_grid_png(const std::string& path, const std::vector<Tile>& tiles,
                          const std::vector<std::string>& class_names, int columns) {
  const RgbImage image = render_image_grid(tiles, class_names, columns);
  if (!stbi_write_png(path.c_str(), image.width, image.height, 3, image.rgb.data(),
                      image.width * 3))
    throw Error(path + ": could not write the PNG");
}

}  // namespace tg::demo
