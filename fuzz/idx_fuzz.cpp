// libFuzzer target for the IDX reader: tg::parse_idx_images and tg::parse_idx_labels on every
// input, each with the default 2 GiB limit and with a small one; inputs that start like gzip are
// also read from a memory file through read_idx_images / read_idx_labels (the zlib path).
//
// A tg::Error is the expected answer to a bad file; anything else (another exception, a crash,
// an ASan/UBSan report, a huge allocation caught by -malloc_limit_mb) is a finding. A plain file
// that parses must be exactly its header followed by the items (the reader is strict), and the
// small limit may only refuse what the default limit accepts.
#include "tapegrad/tapegrad.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "idx_fuzz: %s\n", what);
  std::abort();
}

constexpr std::uint64_t kSmallLimit = 1000;

void be32(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

void check_images(const std::uint8_t* data, std::size_t size, std::uint64_t limit) {
  tg::IdxImages img;
  try {
    img = tg::parse_idx_images(data, size, "fuzz-images", limit);
  } catch (const tg::Error&) {
    return;
  }
  if (img.pixels.size() != img.count * img.rows * img.cols)
    finding("images: pixel count differs from count*rows*cols");
  std::vector<std::uint8_t> enc{0, 0, 8, 3};
  be32(enc, img.count), be32(enc, img.rows), be32(enc, img.cols);
  enc.insert(enc.end(), img.pixels.begin(), img.pixels.end());
  if (enc.size() != size || std::memcmp(enc.data(), data, size) != 0)
    finding("images: accepted bytes are not header + pixels exactly");
  if (limit == kSmallLimit) {
    try {
      tg::parse_idx_images(data, size, "fuzz-images");
    } catch (const tg::Error&) {
      finding("images: accepted under the small limit but refused under the default one");
    }
  }
}

void check_labels(const std::uint8_t* data, std::size_t size, std::uint64_t limit) {
  tg::IdxLabels lab;
  try {
    lab = tg::parse_idx_labels(data, size, "fuzz-labels", limit);
  } catch (const tg::Error&) {
    return;
  }
  std::vector<std::uint8_t> enc{0, 0, 8, 1};
  be32(enc, lab.labels.size());
  enc.insert(enc.end(), lab.labels.begin(), lab.labels.end());
  if (enc.size() != size || std::memcmp(enc.data(), data, size) != 0)
    finding("labels: accepted bytes are not header + labels exactly");
}

// The file readers, through an in-memory file (no disk), for gzip-looking inputs only: plain
// files take the same code path as parse_idx_* apart from stdio.
void check_gzip_file(const std::uint8_t* data, std::size_t size) {
  static const int fd = memfd_create("idx_fuzz", 0);
  if (fd < 0) finding("memfd_create failed");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))
    finding("writing the memory file failed");
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    tg::read_idx_images(path, kSmallLimit * 64);
  } catch (const tg::Error&) {
  }
  try {
    tg::read_idx_labels(path, kSmallLimit * 64);
  } catch (const tg::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  for (const std::uint64_t limit : {tg::kIdxMaxBytes, kSmallLimit}) {
    check_images(data, size, limit);
    check_labels(data, size, limit);
  }
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) check_gzip_file(data, size);
  return 0;
}
