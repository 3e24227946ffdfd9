// The IDX (MNIST) reader: plain or gzip files, strict about every field.
#include "tapegrad/data/idx.hpp"

#include "core/files.hpp"

#include "tapegrad/core/tensor.hpp"

#include <zlib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

namespace tg {

namespace {

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

std::string hex8(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", v);
  return buf;
}

[[noreturn]] void fail(const std::string& file, std::uint64_t offset, const std::string& what) {
  throw Error(file + ": byte " + std::to_string(offset) + ": " + what);
}

// Where the bytes come from: a plain file, a gzip stream or memory.
class Source {
 public:
  virtual ~Source() = default;
  // Reads up to n bytes; fewer only at the end of the data. Throws on a read error.
  virtual std::size_t read(void* dst, std::size_t n) = 0;
  // The number of bytes left, if known without reading them (plain files and memory).
  virtual bool remaining(std::uint64_t& left) const = 0;
  // Appended to offsets in messages, e.g. " (decompressed)".
  virtual const char* offset_note() const { return ""; }
  std::uint64_t offset = 0;  // bytes read so far
};

class MemorySource : public Source {
 public:
  MemorySource(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::size_t read(void* dst, std::size_t n) override {
    n = std::min<std::size_t>(n, size_ - static_cast<std::size_t>(offset));
    if (n) std::memcpy(dst, data_ + offset, n);
    offset += n;
    return n;
  }
  bool remaining(std::uint64_t& left) const override {
    left = size_ - offset;
    return true;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

class FileSource : public Source {
 public:
  FileSource(std::FILE* f, std::uint64_t size, std::string name)
      : f_(f), size_(size), name_(std::move(name)) {}
  ~FileSource() override { std::fclose(f_); }
  std::size_t read(void* dst, std::size_t n) override {
    const std::size_t got = std::fread(dst, 1, n, f_);
    if (got < n && std::ferror(f_))
      fail(name_, offset + got, std::string("read error: ") + std::strerror(errno));
    offset += got;
    return got;
  }
  bool remaining(std::uint64_t& left) const override {
    left = offset <= size_ ? size_ - offset : 0;
    return true;
  }

 private:
  std::FILE* f_;
  std::uint64_t size_;
  std::string name_;
};

// A gzip file inflated by zlib directly (not gzread, which takes a file that ends without its
// 8-byte CRC and length trailer for a complete one): every member must end with a trailer that
// matches, and errors name the byte of the compressed file where inflating stopped. Several
// members one after the other (as `cat a.gz b.gz` makes) are one stream, as for gzip(1).
class GzSource : public Source {
 public:
  GzSource(std::FILE* f, std::string name) : f_(f), name_(std::move(name)) {
    std::memset(&zs_, 0, sizeof zs_);
    if (inflateInit2(&zs_, 15 + 16) != Z_OK) {  // 16: a gzip wrapper, checked by zlib
      std::fclose(f_);
      throw Error(name_ + ": cannot start zlib's inflate (out of memory?)");
    }
  }
  ~GzSource() override {
    inflateEnd(&zs_);
    std::fclose(f_);
  }
  std::size_t read(void* dst, std::size_t n) override {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t total = 0;
    while (total < n) {
      if (zs_.avail_in == 0) {
        const std::size_t got = std::fread(in_, 1, sizeof in_, f_);
        if (got == 0 && std::ferror(f_))
          fail(name_, file_bytes_, std::string("read error: ") + std::strerror(errno));
        file_bytes_ += got;
        zs_.next_in = in_;
        zs_.avail_in = static_cast<uInt>(got);
        if (got == 0) {
          if (!in_member_) break;  // the end of the last member is the end of the data
          cut_short(offset + total);
        }
      }
      if (!in_member_) start_member();
      zs_.next_out = out + total;
      zs_.avail_out = static_cast<uInt>(std::min<std::size_t>(n - total, 1u << 30));
      const uInt room = zs_.avail_out;
      const int ret = inflate(&zs_, Z_NO_FLUSH);
      total += room - zs_.avail_out;
      if (ret == Z_STREAM_END) {
        in_member_ = false;  // CRC and length matched (zlib checks both)
        continue;
      }
      if (ret == Z_OK || ret == Z_BUF_ERROR) continue;  // Z_BUF_ERROR: it needs more input
      data_error(ret, offset + total);
    }
    offset += total;
    return total;
  }
  bool remaining(std::uint64_t&) const override { return false; }
  const char* offset_note() const override { return " (decompressed)"; }

 private:
  std::uint64_t compressed_offset() const { return file_bytes_ - zs_.avail_in; }
  void start_member() {
    if (members_ > 0 && inflateReset(&zs_) != Z_OK)
      fail(name_, compressed_offset(), "cannot restart zlib's inflate");
    std::memset(&header_, 0, sizeof header_);
    inflateGetHeader(&zs_, &header_);  // header_.done tells whether the header was complete
    member_start_ = compressed_offset();
    in_member_ = true;
    ++members_;
  }
  // zlib has read the 4 bytes of a trailer field when it finds it wrong: name their start.
  [[noreturn]] void data_error(int ret, std::uint64_t decompressed) const {
    const std::string msg = zs_.msg ? zs_.msg : "zlib code " + std::to_string(ret);
    std::uint64_t at = compressed_offset();
    std::string what = "gzip error at this byte of the compressed file";
    if (msg == "incorrect data check" || msg == "incorrect length check") {
      at -= 4;
      what = msg == "incorrect data check"
                 ? "the CRC-32 in the gzip trailer does not match the decompressed data"
                 : "the length in the gzip trailer does not match the decompressed data";
    }
    fail(name_, at,
         what + (members_ > 1 ? " (member " + std::to_string(members_) + ")" : "") + ", after " +
             std::to_string(decompressed) + " decompressed bytes: " + msg);
  }
  [[noreturn]] void cut_short(std::uint64_t decompressed) const {
    if (header_.done == 0)
      fail(name_, member_start_,
           "the gzip header starting here is cut short: the file ends at byte " +
               std::to_string(file_bytes_));
    fail(name_, file_bytes_,
         "the gzip stream ends here, after " + std::to_string(decompressed) +
             " decompressed bytes, before its end: the file is cut short or lacks the 8-byte CRC "
             "and length trailer");
  }

  std::FILE* f_;
  std::string name_;
  z_stream zs_;
  gz_header header_{};
  unsigned char in_[1u << 16];
  std::uint64_t file_bytes_ = 0;  // compressed bytes read from the file so far
  std::uint64_t member_start_ = 0;
  bool in_member_ = false;
  int members_ = 0;
};

// Opens a file as a plain or a gzip source, by its first two bytes (0x1f 0x8b is gzip; IDX
// starts with two zero bytes). O_NONBLOCK: opening a FIFO would otherwise wait for a writer
// forever; anything but a regular file is refused before a byte is read.
std::unique_ptr<Source> open_source(const std::string& path) {
  const detail::RegularFile file = detail::open_regular_file(path, "", "an IDX file");
  const int fd = file.fd;
  std::FILE* f = ::fdopen(fd, "rb");
  if (!f) {
    ::close(fd);
    throw Error(path + ": cannot open: " + std::strerror(errno));
  }
  unsigned char head[2] = {0, 0};
  const std::size_t got = std::fread(head, 1, 2, f);
  std::rewind(f);
  if (got == 2 && head[0] == 0x1f && head[1] == 0x8b) return std::make_unique<GzSource>(f, path);
  return std::make_unique<FileSource>(f, file.size, path);
}

struct IdxHeader {
  std::vector<std::uint32_t> dims;
};

const char* kind_name(unsigned rank) {
  return rank == 3 ? "IDX images" : "IDX labels";
}

std::uint32_t read_be32(Source& src, const std::string& name, const char* field) {
  unsigned char b[4];
  const std::uint64_t at = src.offset;
  const std::size_t got = src.read(b, 4);
  if (got < 4)
    fail(name, at,
         std::string("file ends inside the header's ") + field + " (" + std::to_string(at + got) +
             " bytes" + src.offset_note() + ", the header needs " + std::to_string(at + 4) + ")");
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

// Reads and checks the header of an IDX file of unsigned bytes with `rank` dimensions, then the
// data; `dim_names` names each dimension, `item` what one item is called in messages.
std::vector<std::uint8_t> read_idx(Source& src, const std::string& name, unsigned rank,
                                   const char* const* dim_names, const char* item,
                                   std::uint64_t max_bytes, std::vector<std::uint32_t>& dims) {
  const std::uint32_t expected_magic = 0x0800u | rank;
  const std::uint32_t magic = read_be32(src, name, "magic number");
  if ((magic & 0xFFFF0000u) != 0)
    fail(name, 0,
         "magic is " + hex32(magic) + ", expected " + hex32(expected_magic) + " (" +
             kind_name(rank) + "); not an IDX file");
  if (((magic >> 8) & 0xFF) != 0x08)
    fail(name, 2,
         "data type is " + hex8((magic >> 8) & 0xFF) +
             ", expected 0x08 (unsigned byte); magic is " + hex32(magic) + ", expected " +
             hex32(expected_magic) + " (" + kind_name(rank) + ")");
  if ((magic & 0xFF) != rank)
    fail(name, 3,
         "rank is " + std::to_string(magic & 0xFF) + ", expected " + std::to_string(rank) +
             "; magic is " + hex32(magic) + ", expected " + hex32(expected_magic) + " (" +
             kind_name(rank) + ")");
  dims.assign(rank, 0);
  std::uint64_t item_bytes = 1;
  for (unsigned d = 0; d < rank; ++d) {
    const std::uint64_t at = src.offset;
    dims[d] = read_be32(src, name, dim_names[d]);
    if (d > 0) {
      if (dims[d] == 0) fail(name, at, std::string(dim_names[d]) + " is 0");
      item_bytes *= dims[d];  // at most (2^32-1)^2: no overflow in 64 bits
      if (item_bytes > max_bytes)
        fail(name, at,
             std::string(item) + " size " + std::to_string(item_bytes) +
                 " bytes exceeds the limit of " + std::to_string(max_bytes) + " bytes");
    }
  }
  const std::uint64_t header_bytes = src.offset;
  const std::uint64_t count = dims[0];
  if (count > max_bytes / item_bytes)
    fail(name, 4,
         std::string(dim_names[0]) + " " + std::to_string(count) + " x " +
             std::to_string(item_bytes) + " bytes per " + item + " exceeds the limit of " +
             std::to_string(max_bytes) + " bytes");
  const std::uint64_t need = count * item_bytes;
  std::uint64_t left = 0;
  const bool known = src.remaining(left);
  const std::string what = std::string(item) + " bytes";
  if (known && left < need)
    fail(name, header_bytes,
         "file ends after " + std::to_string(left) + " of " + std::to_string(need) + " " + what +
             " (header: " + std::to_string(count) + " " + item + "s of " +
             std::to_string(item_bytes) + " bytes)");
  if (known && left > need)
    fail(name, header_bytes + need,
         std::to_string(left - need) + " trailing bytes after the last " + item + " (header: " +
             std::to_string(count) + " " + item + "s of " + std::to_string(item_bytes) + " bytes)");

  std::vector<std::uint8_t> data;
  // A gzip stream's length is only known by reading it: grow as the bytes arrive, so a small
  // file that declares a huge size fails at its end instead of allocating the declared size.
  data.reserve(known ? need : std::min<std::uint64_t>(need, std::uint64_t{8} << 20));
  std::uint64_t got = 0;
  while (got < need) {
    const std::size_t chunk =
        static_cast<std::size_t>(std::min<std::uint64_t>(need - got, 1u << 22));
    data.resize(static_cast<std::size_t>(got) + chunk);
    const std::size_t n = src.read(data.data() + got, chunk);
    got += n;
    if (n < chunk)
      fail(name, header_bytes,
           "file ends after " + std::to_string(got) + " of " + std::to_string(need) + " " + what +
               src.offset_note() + " (header: " + std::to_string(count) + " " + item + "s of " +
               std::to_string(item_bytes) + " bytes)");
  }
  unsigned char extra;
  if (src.read(&extra, 1) != 0)
    fail(name, header_bytes + need,
         std::string("unexpected data after the last ") + item + src.offset_note() + " (header: " +
             std::to_string(count) + " " + item + "s of " + std::to_string(item_bytes) + " bytes)");
  return data;
}

const char* const kImageDims[] = {"image count (dimension 0)", "image rows (dimension 1)",
                                  "image columns (dimension 2)"};
const char* const kLabelDims[] = {"label count (dimension 0)"};

IdxImages read_images(Source& src, const std::string& name, std::uint64_t max_bytes) {
  std::vector<std::uint32_t> dims;
  IdxImages out;
  out.pixels = read_idx(src, name, 3, kImageDims, "image", max_bytes, dims);
  out.count = dims[0];
  out.rows = dims[1];
  out.cols = dims[2];
  return out;
}

IdxLabels read_labels(Source& src, const std::string& name, std::uint64_t max_bytes) {
  std::vector<std::uint32_t> dims;
  IdxLabels out;
  out.labels = read_idx(src, name, 1, kLabelDims, "label", max_bytes, dims);
  return out;
}

}  // namespace

IdxImages read_idx_images(const std::string& path, std::uint64_t max_bytes) {
  auto src = open_source(path);
  return read_images(*src, path, max_bytes);
}

IdxLabels read_idx_labels(const std::string& path, std::uint64_t max_bytes) {
  auto src = open_source(path);
  return read_labels(*src, path, max_bytes);
}

IdxImages parse_idx_images(const std::uint8_t* data, std::size_t size, const std::string& name,
                           std::uint64_t max_bytes) {
  MemorySource src(data, size);
  return read_images(src, name, max_bytes);
}

IdxLabels parse_idx_labels(const std::uint8_t* data, std::size_t size, const std::string& name,
                           std::uint64_t max_bytes) {
  MemorySource src(data, size);
  return read_labels(src, name, max_bytes);
}

// ---- datasets ----

}  // namespace tg
