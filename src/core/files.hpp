// Opening input files safely: shared by every reader (IDX, CSV, checkpoints, model files).
#pragma once

#include <cstdint>
#include <string>

namespace tg::detail {

struct RegularFile {
  int fd = -1;             // open for reading, blocking; the caller closes it
  std::uint64_t size = 0;  // the file's size when it was opened
};

// Opens `path` for reading if it is a regular file. O_NONBLOCK on open: a FIFO would otherwise
// wait for a writer forever; anything but a regular file (FIFO, folder, device, socket) is
// refused before a byte is read. Errors are one line:
//   "<path>: cannot open[ <kind>]: <reason>"
//   "<path>: not a regular file (a FIFO); <a kind> must be one"
// `kind` names the expected file ("checkpoint" or empty), `a_kind` the same with its article
// ("a checkpoint", "an IDX file").
RegularFile open_regular_file(const std::string& path, const std::string& kind,
                              const std::string& a_kind);

}  // namespace tg::detail
