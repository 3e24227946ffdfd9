// The IDX (MNIST) file reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tg {

// ---- IDX files ----
//
// The IDX format: a big-endian header (magic 0x00000803 for images = unsigned bytes, 3 dims;
// 0x00000801 for labels = unsigned bytes, 1 dim), one u32 per dimension, then the items.
// The reader is strict: the magic, data type and rank must match, the dimensions must be
// non-zero (the item count may be 0) and their product at most `max_bytes` (checked before
// anything is allocated), and the data must fill the rest of the file exactly: no short read,
// no trailing bytes. Plain and gzip-compressed files are accepted (told apart by their first
// bytes, not by their name). A gzip file must be whole: every member ends with its 8-byte
// trailer, whose CRC-32 and length must match, and nothing but another member may follow.
// Defects of the IDX contents of a gzip file are at offsets of the decompressed stream (marked
// "(decompressed)"); defects of the gzip data itself at the byte of the compressed file where
// zlib stopped (a wrong trailer field at that field's first byte). Only regular files are read:
// a FIFO, a device or a folder is refused without waiting on it. Every defect is a tg::Error
// "<file>: byte <offset>: <field> ...".

constexpr std::uint64_t kIdxMaxBytes = std::uint64_t{1} << 31;

struct IdxImages {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count * rows * cols bytes, image after image, row-major
};

struct IdxLabels {
  std::vector<std::uint8_t> labels;
};

IdxImages read_idx_images(const std::string& path, std::uint64_t max_bytes = kIdxMaxBytes);
IdxLabels read_idx_labels(const std::string& path, std::uint64_t max_bytes = kIdxMaxBytes);
// The same checks on bytes already in memory (plain IDX only); `name` stands for the file in
// messages. For tests and fuzzing.
IdxImages parse_idx_images(const std::uint8_t* data, std::size_t size, const std::string& name,
                           std::uint64_t max_bytes = kIdxMaxBytes);
IdxLabels parse_idx_labels(const std::uint8_t* data, std::size_t size, const std::string& name,
                           std::uint64_t max_bytes = kIdxMaxBytes);

}  // namespace tg
