#include "output_paths.hpp"

#include "tapegrad/tapegrad.hpp"

#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace {

// Writes and removes a probe file in `dir`: the real check of permission and free inodes.
void probe(const std::filesystem::path& dir, const char* option) {
  const std::filesystem::path file =
      dir / (".tapegrad-probe." + std::to_string(static_cast<long>(::getpid())));
  std::FILE* f = std::fopen(file.c_str(), "wb");
  if (!f)
    throw tg::Error(std::string(option) + ": cannot write in folder '" + dir.string() +
                    "': " + std::strerror(errno));
  std::fclose(f);
  std::remove(file.c_str());
}

}  // namespace

void prepare_output_folder(const std::string& dir, const char* option) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    throw tg::Error(std::string(option) + ": cannot create folder '" + dir + "'" +
                    (ec ? ": " + ec.message() : ": a file of that name is in the way"));
  probe(dir, option);
}

void check_output_file(const std::string& path, const char* option) {
  const std::filesystem::path p(path);
  if (p.filename().empty() || std::filesystem::is_directory(p))
    throw tg::Error(std::string(option) + ": '" + path + "' names a folder, not a file");
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : ".";
  if (!std::filesystem::is_directory(dir))
    throw tg::Error(std::string(option) + ": folder '" + dir.string() + "' of '" + path +
                    "' does not exist");
  probe(dir, option);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw tg::Error(path + ": could not write the file");
}
