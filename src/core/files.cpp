#include "core/files.hpp"

#include "tapegrad/core/tensor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <sys/stat.h>
#include <cerrno>
#include <cstring>

namespace tg::detail {

namespace {

const char* file_type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a plain file";
}

}  // namespace

RegularFile open_regular_file(const std::string& path, const std::string& kind,
                              const std::string& a_kind) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    throw Error(path + ": cannot open" + (kind.empty() ? "" : " " + kind) + ": " +
                std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw Error(path + ": cannot stat: " + why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file (" + file_type_name(st.st_mode) + "); " + a_kind +
                " must be one");
  }
  // Regular files never block; clear the flag so later reads behave as usual.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return {fd, static_cast<std::uint64_t>(st.st_size)};
}

}  // namespace tg::detail
