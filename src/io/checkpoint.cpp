#include "tapegrad/io/checkpoint.hpp"

#include "core/files.hpp"

#include <zlib.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

namespace tg {

// ---- checkpoint files ----

namespace {

constexpr char kMagic[8] = {'T', 'A', 'P', 'E', 'G', 'R', 'A', 'D'};
constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 8;
constexpr std::size_t kTrailerBytes = 4;
// The smallest entry: kind, name length, a 1-byte name, an 8-byte integer.
constexpr std::size_t kMinEntryBytes = 1 + 4 + 1 + 8;
enum Kind : std::uint8_t { kTensor = 0, kInteger = 1, kReal = 2, kText = 3 };
constexpr std::uint8_t kFloat32 = 0;
// A tensor's strides are signed: a dimension above 2^63-1 is undefined behaviour in xtensor
// even when another one is 0 (found by fuzz/checkpoint_fuzz), and so is a product of the
// trailing dimensions above it. Refusing a product of the nonzero dimensions above it covers
// every stride.
constexpr std::uint64_t kMaxDim = std::numeric_limits<std::ptrdiff_t>::max();

const char* kind_name(unsigned kind) {
  switch (kind) {
    case kTensor:
      return "tensor";
    case kInteger:
      return "integer";
    case kReal:
      return "real";
    case kText:
      return "text";
  }
  return "?";
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

// "2x3x4"; "scalar" for rank 0.
std::string dims_str(const std::vector<std::uint64_t>& dims) {
  if (dims.empty()) return "scalar";
  std::string s;
  for (std::size_t d = 0; d < dims.size(); ++d) s += (d ? "x" : "") + std::to_string(dims[d]);
  return s;
}

// Why `dims` cannot be the shape of a tensor in a checkpoint, or "" when it can. Never
// overflows: the product is checked by division before each multiplication.
std::string dims_defect(const std::vector<std::uint64_t>& dims) {
  for (std::uint64_t d : dims)
    if (d > kMaxDim) return "a dimension is above the limit of " + std::to_string(kMaxDim);
  std::uint64_t product = 1;
  for (std::uint64_t d : dims) {
    if (d == 0) continue;
    if (product > kMaxDim / d)
      return "the element count overflows: the product of the nonzero dimensions is above "
             "the limit of " +
             std::to_string(kMaxDim);
    product *= d;
  }
  return {};
}

// The number of elements of a shape that passed dims_defect.
std::uint64_t element_count_of(const std::vector<std::uint64_t>& dims) {
  std::uint64_t n = 1;
  for (std::uint64_t d : dims) n *= d;
  return n;
}

// Well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned c = *p;
    std::size_t n;
    std::uint32_t cp, min;
    if (c < 0x80) {
      ++p;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((p[k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

void check_name(const std::string& name, const std::string& where) {
  if (name.empty()) throw Error(where + ": an entry name is empty");
  if (name.size() > kCheckpointMaxName)
    throw Error(where + ": entry name of " + std::to_string(name.size()) +
                " bytes is longer than the limit of " + std::to_string(kCheckpointMaxName));
  if (!valid_utf8(name)) throw Error(where + ": entry name '" + name + "' is not valid UTF-8");
  // A NUL byte would cut the name short in every C string it reaches (messages, file names).
  if (name.find('\0') != std::string::npos)
    throw Error(where + ": entry name '" + name.substr(0, name.find('\0')) +
                "\\0...' holds a NUL byte");
}

// Checks a state before any byte is written, so a refused state leaves no partial file.
void check_savable(const StateDict& state, const std::string& where) {
  std::set<std::string> names;
  auto add = [&](const std::string& name, const char* kind) {
    check_name(name, where);
    if (!names.insert(name).second)
      throw Error(where + ": entry name '" + name + "' is used by a " + kind +
                  " and by another kind; names must be unique");
  };
  for (const auto& [name, t] : state.tensors) {
    add(name, "tensor");
    if (t.dimension() > kCheckpointMaxRank)
      throw Error(where + ": tensor '" + name + "' has rank " + std::to_string(t.dimension()) +
                  ", above the limit of " + std::to_string(kCheckpointMaxRank));
    const std::vector<std::uint64_t> dims(t.shape().begin(), t.shape().end());
    const std::string defect = dims_defect(dims);
    if (!defect.empty())
      throw Error(where + ": tensor '" + name + "' dims " + dims_str(dims) + ": " + defect);
  }
  for (const auto& e : state.integers) add(e.first, "integer");
  for (const auto& e : state.reals) add(e.first, "real");
  for (const auto& [name, text] : state.texts) {
    add(name, "text");
    if (text.size() > kCheckpointMaxText)
      throw Error(where + ": text '" + name + "' of " + std::to_string(text.size()) +
                  " bytes is longer than the limit of " + std::to_string(kCheckpointMaxText));
  }
}

// Where serialized bytes go; keeps the running CRC-32.
class Sink {
 public:
  virtual ~Sink() = default;
  void put(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t done = 0; done < n;) {  // crc32 takes a uInt length
      const std::size_t chunk = std::min<std::size_t>(n - done, 1u << 30);
      crc_ = crc32(crc_, p + done, static_cast<uInt>(chunk));
      done += chunk;
    }
    write(p, n);
  }
  void u8(std::uint8_t v) { put(&v, 1); }
  void u32(std::uint32_t v) {
    unsigned char b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    put(b, 4);
  }
  void u64(std::uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    put(b, 8);
  }
  std::uint32_t crc() const { return static_cast<std::uint32_t>(crc_); }

 protected:
  virtual void write(const unsigned char* p, std::size_t n) = 0;

 private:
  uLong crc_ = crc32(0L, Z_NULL, 0);
};

class VectorSink : public Sink {
 public:
  std::vector<std::uint8_t> bytes;

 protected:
  void write(const unsigned char* p, std::size_t n) override {
    bytes.insert(bytes.end(), p, p + n);
  }
};

// Buffered writes to a file descriptor; every write's result is checked.
class FdSink : public Sink {
 public:
  FdSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) { buffer_.reserve(kBuffer); }
  void flush() {
    std::size_t done = 0;
    while (done < buffer_.size()) {
      const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        throw Error(name_ + ": write failed after " + std::to_string(written_ + done) +
                    " bytes: " + (n < 0 ? std::strerror(errno) : "wrote nothing"));
      done += static_cast<std::size_t>(n);
    }
    written_ += done;
    buffer_.clear();
  }

 protected:
  void write(const unsigned char* p, std::size_t n) override {
    while (n > 0) {
      const std::size_t chunk = std::min(n, kBuffer - buffer_.size());
      buffer_.insert(buffer_.end(), p, p + chunk);
      p += chunk;
      n -= chunk;
      if (buffer_.size() == kBuffer) flush();
    }
  }

 private:
  static constexpr std::size_t kBuffer = std::size_t{1} << 20;
  int fd_;
  std::string name_;
  std::vector<unsigned char> buffer_;
  std::uint64_t written_ = 0;
};

void put_name(Sink& out, Kind kind, const std::string& name) {
  out.u8(kind);
  out.u32(static_cast<std::uint32_t>(name.size()));
  out.put(name.data(), name.size());
}

void serialize(const StateDict& state, Sink& out) {
  out.put(kMagic, sizeof kMagic);
  out.u32(kCheckpointVersion);
  out.u32(0);  // flags
  out.u64(state.tensors.size() + state.integers.size() + state.reals.size() + state.texts.size());
  for (const auto& [name, t] : state.tensors) {
    put_name(out, kTensor, name);
    out.u8(kFloat32);
    out.u32(static_cast<std::uint32_t>(t.dimension()));
    for (std::size_t d = 0; d < t.dimension(); ++d) out.u64(t.shape(d));
    // Explicit little-endian bytes, a block at a time.
    unsigned char block[4096];
    const float* v = t.data();
    const std::size_t n = t.size();
    for (std::size_t i = 0; i < n;) {
      const std::size_t m = std::min<std::size_t>(n - i, sizeof block / 4);
      for (std::size_t k = 0; k < m; ++k) {
        std::uint32_t bits;
        std::memcpy(&bits, v + i + k, 4);
        for (int b = 0; b < 4; ++b) block[4 * k + b] = static_cast<unsigned char>(bits >> (8 * b));
      }
      out.put(block, 4 * m);
      i += m;
    }
  }
  for (const auto& [name, value] : state.integers) {
    put_name(out, kInteger, name);
    out.u64(static_cast<std::uint64_t>(value));
  }
  for (const auto& [name, value] : state.reals) {
    put_name(out, kReal, name);
    std::uint64_t bits;
    std::memcpy(&bits, &value, 8);
    out.u64(bits);
  }
  for (const auto& [name, text] : state.texts) {
    put_name(out, kText, name);
    out.u64(text.size());
    out.put(text.data(), text.size());
  }
  out.u32(out.crc());
}

// Bounds-checked little-endian reads from a buffer; `end` excludes the CRC trailer.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t end, std::string name)
      : data_(data), end_(end), name_(std::move(name)) {}
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return end_ - pos_; }
  [[noreturn]] void fail(std::size_t at, const std::string& what) const {
    throw Error(name_ + ": byte " + std::to_string(at) + ": " + what);
  }
  void need(std::uint64_t n, const std::string& field) const {
    if (n > left())
      fail(pos_, field + ": needs " + std::to_string(n) + " bytes, only " + std::to_string(left()) +
                     " left before the 4-byte CRC at the end (is the file truncated?)");
  }
  const std::uint8_t* take(std::size_t n, const std::string& field) {
    need(n, field);
    const std::uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  std::uint8_t u8(const std::string& field) { return *take(1, field); }
  std::uint32_t u32(const std::string& field) {
    const std::uint8_t* p = take(4, field);
    return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
           (std::uint32_t{p[3]} << 24);
  }
  std::uint64_t u64(const std::string& field) {
    const std::uint8_t* p = take(8, field);
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }

 private:
  const std::uint8_t* data_;
  std::size_t end_;
  std::size_t pos_ = 0;
  std::string name_;
};

std::uint32_t crc_of(const std::uint8_t* data, std::size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (std::size_t done = 0; done < n;) {
    const std::size_t chunk = std::min<std::size_t>(n - done, 1u << 30);
    crc = crc32(crc, data + done, static_cast<uInt>(chunk));
    done += chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

StateDict parse_entries(Reader& in, std::size_t body_end, std::uint32_t version) {
  const std::uint32_t flags = in.u32("flags");
  if (flags != 0)
    in.fail(12, "flags are " + hex32(flags) + ", expected 0 (this build knows no flags)");
  const std::size_t count_at = in.pos();
  const std::uint64_t count = in.u64("entry count");
  if (count > in.left() / kMinEntryBytes)
    in.fail(count_at, "entry count " + std::to_string(count) + " cannot fit in the " +
                          std::to_string(in.left()) + " bytes left (an entry takes at least " +
                          std::to_string(kMinEntryBytes) + "; is the file truncated?)");
  StateDict state;
  std::set<std::string> names;
  for (std::uint64_t e = 0; e < count; ++e) {
    const std::string entry = "entry " + std::to_string(e);
    const std::size_t kind_at = in.pos();
    const unsigned kind = in.u8(entry + " kind");
    if (kind > kText)
      in.fail(kind_at, entry + " kind is " + std::to_string(kind) +
                           ", expected 0 (tensor), 1 (integer), 2 (real) or 3 (text)");
    const std::size_t len_at = in.pos();
    const std::uint32_t name_len = in.u32(entry + " name length");
    if (name_len == 0 || name_len > kCheckpointMaxName)
      in.fail(len_at, entry + " name length is " + std::to_string(name_len) + ", expected 1.." +
                          std::to_string(kCheckpointMaxName));
    const std::size_t name_at = in.pos();
    const std::uint8_t* np = in.take(name_len, entry + " name");
    std::string name(reinterpret_cast<const char*>(np), name_len);
    if (!valid_utf8(name)) in.fail(name_at, entry + " name is not valid UTF-8");
    const std::size_t nul = name.find('\0');
    if (nul != std::string::npos)
      in.fail(name_at + nul, entry + " name '" + name.substr(0, nul) + "\\0...' holds a NUL byte");
    const std::string field = std::string(kind_name(kind)) + " '" + name + "' (" + entry + ")";
    if (!names.insert(name).second) in.fail(name_at, field + ": duplicate name");
    switch (kind) {
      case kTensor: {
        const std::size_t dtype_at = in.pos();
        const unsigned dtype = in.u8(field + " dtype");
        if (dtype != kFloat32)
          in.fail(dtype_at,
                  field + " dtype is " + std::to_string(dtype) + ", expected 0 (float32)");
        const std::size_t rank_at = in.pos();
        const std::uint32_t rank = in.u32(field + " rank");
        if (version == 1 && rank != 2)
          in.fail(rank_at, field + " rank is " + std::to_string(rank) +
                               ", expected 2 (format version 1 holds rank-2 tensors only)");
        if (rank > kCheckpointMaxRank)
          in.fail(rank_at, field + " rank is " + std::to_string(rank) + ", expected 0.." +
                               std::to_string(kCheckpointMaxRank));
        const std::size_t dims_at = in.pos();
        std::vector<std::uint64_t> dims(rank);
        for (std::uint32_t d = 0; d < rank; ++d)
          dims[d] = in.u64(field + " dim " + std::to_string(d));
        const std::string defect = dims_defect(dims);
        if (!defect.empty()) in.fail(dims_at, field + " dims " + dims_str(dims) + ": " + defect);
        // count * 4 must fit in what is left; checked by division, before allocating.
        const std::uint64_t count = element_count_of(dims);
        if (count > in.left() / 4)
          in.fail(dims_at, field + " dims " + dims_str(dims) + " need more than the " +
                               std::to_string(in.left()) + " bytes left before the CRC");
        const std::size_t n = static_cast<std::size_t>(count);
        const std::uint8_t* p = in.take(4 * n, field + " data");
        const Tensor::shape_type shape(dims.begin(), dims.end());
        Tensor t(shape);
        float* out = t.data();
        for (std::size_t i = 0; i < n; ++i, p += 4) {
          const std::uint32_t bits = std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) |
                                     (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
          std::memcpy(out + i, &bits, 4);
        }
        state.tensors.emplace(std::move(name), std::move(t));
        break;
      }
      case kInteger:
        state.integers.emplace(std::move(name), static_cast<std::int64_t>(in.u64(field)));
        break;
      case kReal: {
        const std::uint64_t bits = in.u64(field);
        double v;
        std::memcpy(&v, &bits, 8);
        state.reals.emplace(std::move(name), v);
        break;
      }
      case kText: {
        const std::size_t len_at2 = in.pos();
        const std::uint64_t len = in.u64(field + " length");
        if (len > kCheckpointMaxText)
          in.fail(len_at2, field + " length " + std::to_string(len) +
                               " is more than the limit of " + std::to_string(kCheckpointMaxText));
        const std::uint8_t* p = in.take(static_cast<std::size_t>(len), field + " bytes");
        state.texts.emplace(std::move(name), std::string(reinterpret_cast<const char*>(p),
                                                         static_cast<std::size_t>(len)));
        break;
      }
    }
  }
  if (in.pos() != body_end)
    in.fail(in.pos(), std::to_string(body_end - in.pos()) +
                          " unexpected bytes after the last entry, before the CRC");
  return state;
}

std::string errno_text() {
  return std::strerror(errno);
}

std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Removes "<path>.tmp.<pid>" files left by saves that were killed: those whose process is
// gone. A live process's temp file (another run saving to the same path) is left alone.
// Best effort: a file that cannot be removed is no reason to fail the save.
void remove_stale_temp_files(const std::string& path) {
  const std::string dir = parent_dir(path);
  const auto slash = path.find_last_of('/');
  const std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp.";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto pid = static_cast<pid_t>(std::stol(digits));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) ::unlink((dir + "/" + name).c_str());
  }
  ::closedir(d);
}

}  // namespace

std::vector<std::uint8_t> checkpoint_to_bytes(const StateDict& state) {
  check_savable(state, "checkpoint_to_bytes");
  VectorSink sink;
  serialize(state, sink);
  return std::move(sink.bytes);
}

StateDict checkpoint_from_bytes(const std::uint8_t* data, std::size_t size,
                                const std::string& name) {
  auto fail = [&](std::size_t at, const std::string& what) -> void {
    throw Error(name + ": byte " + std::to_string(at) + ": " + what);
  };
  const std::size_t magic_bytes = std::min(size, sizeof kMagic);
  if (magic_bytes > 0 && std::memcmp(data, kMagic, magic_bytes) != 0)
    fail(0, "magic is not \"TAPEGRAD\": not a tapegrad checkpoint");
  if (size < kHeaderBytes + kTrailerBytes)
    fail(size, "file ends after " + std::to_string(size) + " bytes; a checkpoint has at least " +
                   std::to_string(kHeaderBytes + kTrailerBytes) +
                   " (magic, version, flags, entry count, CRC)");
  const std::size_t body_end = size - kTrailerBytes;
  Reader in(data, body_end, name);
  in.take(sizeof kMagic, "magic");
  const std::uint32_t version = in.u32("version");
  if (version < kCheckpointOldestVersion || version > kCheckpointVersion)
    fail(8, "format version is " + std::to_string(version) + ", this build reads versions " +
                std::to_string(kCheckpointOldestVersion) + " to " +
                std::to_string(kCheckpointVersion));
  const std::uint32_t stored =
      std::uint32_t{data[body_end]} | (std::uint32_t{data[body_end + 1]} << 8) |
      (std::uint32_t{data[body_end + 2]} << 16) | (std::uint32_t{data[body_end + 3]} << 24);
  const std::uint32_t computed = crc_of(data, body_end);
  StateDict state;
  try {
    state = parse_entries(in, body_end, version);
  } catch (const Error& e) {
    if (stored == computed) throw;
    throw Error(std::string(e.what()) +
                "; the CRC-32 does not match either: the file is damaged or truncated");
  }
  if (stored != computed)
    fail(body_end, "CRC-32 is " + hex32(stored) + " but the bytes before it give " +
                       hex32(computed) + ": the file is damaged");
  return state;
}

StateDict load_checkpoint(const std::string& path) {
  const int fd = detail::open_regular_file(path, "checkpoint", "a checkpoint").fd;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) throw Error(path + ": cannot stat: " + errno_text());
  // The buffer is the file's actual size; every size inside is checked against it.
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (true) {
    unsigned char probe;
    unsigned char* dst = got < bytes.size() ? bytes.data() + got : &probe;
    const std::size_t want = got < bytes.size() ? bytes.size() - got : 1;
    const ssize_t n = ::read(fd, dst, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      throw Error(path + ": byte " + std::to_string(got) + ": read failed: " + errno_text());
    if (n == 0) break;
    if (got >= bytes.size()) throw Error(path + ": the file grew while it was being read");
    got += static_cast<std::size_t>(n);
  }
  if (got != bytes.size())
    throw Error(path + ": byte " + std::to_string(got) + ": the file shrank while being read");
  return checkpoint_from_bytes(bytes.data(), bytes.size(), path);
}

void save_checkpoint(const std::string& path, const StateDict& state) {
  check_savable(state, path);
  remove_stale_temp_files(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path + ": cannot create the temp file " + tmp + ": " + errno_text());
  try {
    FdSink sink(fd, tmp);
    serialize(state, sink);
    sink.flush();
    if (::fsync(fd) != 0) throw Error(tmp + ": fsync failed: " + errno_text());
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw Error(tmp + ": close failed: " + why);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw Error(path + ": cannot rename " + tmp + " over it: " + why);
  }
  // Make the rename itself durable. Some file systems cannot fsync a directory (EINVAL).
  const std::string dir = parent_dir(path);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    throw Error(path + ": saved, but cannot open its folder to sync it: " + errno_text());
  if (::fsync(dfd) != 0 && errno != EINVAL) {
    const std::string why = errno_text();
    ::close(dfd);
    throw Error(path + ": saved, but syncing its folder failed: " + why);
  }
  ::close(dfd);
}

}  // namespace tg
