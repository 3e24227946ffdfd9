// Checkpoints: a versioned, little-endian, checksummed file that round-trips every entry
// (tensors of rank 0 to 8) bit-exactly, still loads version-1 files (rank 2), refuses every
// defect with the file, the field and the byte offset, never allocates what a tiny file merely
// declares, and is replaced atomically.
#include "fork_util.hpp"
#include "tapegrad/tapegrad.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <string>
#include <vector>

using namespace tg;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;
using test::expect_error;
using test::read_file;
using test::TempDir;
using test::write_file;

// Builds checkpoint bytes by hand, to write files the saver never would.
struct Craft {
  Bytes b;
  Craft& raw(const std::string& s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Craft& u8(std::uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Craft& u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  Craft& u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  Craft& header(std::uint64_t count, std::uint32_t version = kCheckpointVersion,
                std::uint32_t flags = 0) {
    return raw("TAPEGRAD").u32(version).u32(flags).u64(count);
  }
  Craft& name(std::uint8_t kind, const std::string& n) {
    return u8(kind).u32(static_cast<std::uint32_t>(n.size())).raw(n);
  }
  // A float32 tensor entry's header: kind, name, dtype, rank, dims (no data).
  Craft& tensor_head(const std::string& n, std::initializer_list<std::uint64_t> dims) {
    name(0, n).u8(0).u32(static_cast<std::uint32_t>(dims.size()));
    for (std::uint64_t d : dims) u64(d);
    return *this;
  }
  // Appends the CRC-32 of everything so far.
  Bytes sealed() const {
    Craft c = *this;
    c.u32(static_cast<std::uint32_t>(crc32(0L, b.data(), static_cast<uInt>(b.size()))));
    return c.b;
  }
};

StateDict load(const Bytes& b, const std::string& name = "ckpt") {
  return checkpoint_from_bytes(b.data(), b.size(), name);
}

float from_bits(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::uint64_t bits_of(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, 8);
  return u;
}

std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// expect_error, and the message is one line.
void expect_one_line_error(const std::function<void()>& f,
                           std::initializer_list<std::string> parts) {
  expect_error(f, parts);
  const std::string msg = test::error_of(f);
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

// A tensor of any shape with distinct, awkward values: 0.1 * i, with every 3rd negated and
// every 5th a NaN with a payload.
Tensor ramp(const Shape& shape) {
  Tensor t = zeros(shape);
  std::uint32_t i = 0;
  for (float& v : t) {
    v = i % 5 == 4 ? from_bits(0x7FC00000u | i) : (i % 3 == 2 ? -0.1f : 0.1f) * float(i);
    ++i;
  }
  return t;
}

// A state with every kind of entry and awkward values: NaN with a payload, -0, infinities,
// subnormals, an empty tensor, extreme integers, binary text, a non-ASCII name.
StateDict awkward_state() {
  StateDict s;
  s.tensors["model.0.weight"] = tensor({{1.5f, -0.0f, from_bits(0x7FC01234u)},
                                        {std::numeric_limits<float>::infinity(),
                                         std::numeric_limits<float>::denorm_min(), -3.25e-20f}});
  s.tensors["model.0.bias"] = tensor({{0.125f, -7.0f, 1e30f}});
  s.tensors["empty"] = zeros(0, 3);
  s.tensors["conv.weight"] = ramp({2, 3, 2, 2});
  s.tensors["scale"] = scalar(-2.5f);
  s.tensors["embedding.row"] = ramp({5});
  s.integers["optimizer.step"] = 123456789012345LL;
  s.integers["min"] = std::numeric_limits<std::int64_t>::min();
  s.integers["max"] = std::numeric_limits<std::int64_t>::max();
  s.reals["lr"] = 0.1;
  s.reals["nan"] = std::numeric_limits<double>::quiet_NaN();
  s.reals["minus_zero"] = -0.0;
  s.reals["tiny"] = std::numeric_limits<double>::denorm_min();
  s.texts["config"] = "{\"hidden\": [128, 64]}";
  s.texts["binary"] = std::string("a\0b\xff", 4);
  s.texts["empty_text"] = "";
  s.texts["caf\xc3\xa9.\xe2\x82\xac"] = "utf-8 name";
  return s;
}

void expect_bit_exact(const StateDict& a, const StateDict& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    const Tensor& u = b.tensor(name);
    ASSERT_EQ(shape_of(t), shape_of(u)) << name << ": " << shape_str(t) << " vs " << shape_str(u);
    if (t.size() > 0) {
      EXPECT_EQ(std::memcmp(t.data(), u.data(), t.size() * sizeof(float)), 0) << name;
    }
  }
  EXPECT_EQ(a.integers, b.integers);
  ASSERT_EQ(a.reals.size(), b.reals.size());
  for (const auto& [name, v] : a.reals) EXPECT_EQ(bits_of(v), bits_of(b.real(name))) << name;
  EXPECT_EQ(a.texts, b.texts);
}

// A small valid file: one 2x2 tensor, one integer, one text.
Bytes small_checkpoint() {
  StateDict s;
  s.tensors["w"] = tensor({{1, 2}, {3, 4}});
  s.integers["step"] = 7;
  s.texts["note"] = "hi";
  return checkpoint_to_bytes(s);
}

}  // namespace

TEST(Checkpoint, RoundTripsEveryEntryKindBitExactThroughAFile) {
  TempDir dir;
  const StateDict state = awkward_state();
  save_checkpoint(dir / "run.tg", state);
  expect_bit_exact(state, load_checkpoint(dir / "run.tg"));
  EXPECT_EQ(dir.files(), std::vector<std::string>{"run.tg"}) << "no temp file is left";
  // And through memory, the same bytes as on disk.
  EXPECT_EQ(checkpoint_to_bytes(state), read_file(dir / "run.tg"));
}

TEST(Checkpoint, TheBytesAreLittleEndianInTheDocumentedLayout) {
  StateDict s;
  s.integers["n"] = 0x0102030405060708LL;
  s.tensors["t"] = tensor({{1.0f}});
  const Bytes expected = Craft()
                             .header(2)
                             .name(0, "t")
                             .u8(0)   // float32
                             .u32(2)  // rank
                             .u64(1)
                             .u64(1)
                             .u32(0x3F800000u)  // 1.0f
                             .name(1, "n")
                             .u64(0x0102030405060708ull)
                             .sealed();
  EXPECT_EQ(checkpoint_to_bytes(s), expected);
}

TEST(Checkpoint, EveryTruncatedPrefixOfAValidFileIsACleanError) {
  const Bytes full = small_checkpoint();
  ASSERT_NO_THROW(load(full));
  for (std::size_t n = 0; n < full.size(); ++n)
    expect_error([&] { checkpoint_from_bytes(full.data(), n, "cut.tg"); }, {"cut.tg: byte "});
  // The same through a file, cut 2 bytes short: the last entry's text (at byte 24 + 43 for the
  // tensor + 17 for the integer + 17 for the text's header = 101) no longer fits.
  ASSERT_EQ(full.size(), 107u);
  TempDir dir;
  write_file(dir / "cut.tg", Bytes(full.begin(), full.end() - 2));
  expect_error(
      [&] { load_checkpoint(dir / "cut.tg"); },
      {dir / "cut.tg", ": byte 101: text 'note' (entry 2) bytes: needs 2 bytes, only 0 left",
       "truncated", "the CRC-32 does not match either"});
  write_file(dir / "short.tg", Bytes(full.begin(), full.begin() + 50));
  expect_error([&] { load_checkpoint(dir / "short.tg"); },
               {dir / "short.tg", ": byte 16: entry count 3 cannot fit in the 22 bytes left"});
}

TEST(Checkpoint, AFlippedByteInTheDataIsACrcError) {
  Bytes b = small_checkpoint();
  // The first float of tensor 'w': header 24 + kind 1 + len 4 + "w" 1 + dtype 1 + rank 4 +
  // dims 16 = byte 51.
  b[51] ^= 0x01;
  expect_error(
      [&] { load(b, "flip.tg"); },
      {"flip.tg: byte " + std::to_string(b.size() - 4) + ": CRC-32 is 0x", "the file is damaged"});
}

TEST(Checkpoint, FlippingAnySingleByteGivesACleanError) {
  const Bytes good = small_checkpoint();
  for (std::size_t i = 0; i < good.size(); ++i)
    for (std::uint8_t mask : {0x01, 0x80, 0xFF}) {
      Bytes b = good;
      b[i] ^= mask;
      expect_error([&] { load(b, "flip.tg"); }, {"flip.tg: byte "});
    }
}

TEST(Checkpoint, AnUnknownVersionIsRefused) {
  static_assert(kCheckpointVersion == 2 && kCheckpointOldestVersion == 1);
  expect_one_line_error([&] { load(Craft().header(0, 3).sealed(), "v3.tg"); },
                        {"v3.tg: byte 8: format version is 3, this build reads versions 1 to 2"});
  expect_one_line_error([&] { load(Craft().header(0, 0).sealed(), "v0.tg"); },
                        {"v0.tg: byte 8: format version is 0, this build reads versions 1 to 2"});
  EXPECT_NO_THROW(load(Craft().header(0, 1).sealed()));
  EXPECT_NO_THROW(load(Craft().header(0, 2).sealed()));
}

TEST(Checkpoint, UnknownFlagsKindsAndDtypesAreRefused) {
  expect_error([&] { load(Craft().header(0, 1, 4).sealed()); },
               {"ckpt: byte 12: flags are 0x00000004"});
  expect_error([&] { load(Craft().header(1).name(9, "x").u64(0).sealed()); },
               {"ckpt: byte 24: entry 0 kind is 9"});
  expect_error(
      [&] { load(Craft().header(1).name(0, "x").u8(1).u32(2).u64(1).u64(1).u64(0).sealed()); },
      {"ckpt: byte 30: tensor 'x' (entry 0) dtype is 1, expected 0 (float32)"});
}

TEST(Checkpoint, DuplicateAndInvalidNamesAreRefusedOnLoadAndOnSave) {
  expect_error([&] { load(Craft().header(2).name(1, "a").u64(1).name(2, "a").u64(2).sealed()); },
               {"ckpt: byte 43: real 'a' (entry 1): duplicate name"});
  expect_error([&] { load(Craft().header(1).name(1, "\xc3(").u64(1).sealed()); },
               {"ckpt: byte 29: entry 0 name is not valid UTF-8"});
  expect_error([&] { load(Craft().header(1).name(1, "").u64(1).u64(0).sealed()); },
               {"ckpt: byte 25: entry 0 name length is 0, expected 1..4096"});
  StateDict twice;
  twice.integers["a"] = 1;
  twice.reals["a"] = 2.0;
  expect_error([&] { checkpoint_to_bytes(twice); }, {"'a'", "names must be unique"});
  StateDict long_name;
  long_name.integers[std::string(4097, 'x')] = 1;
  expect_error([&] { checkpoint_to_bytes(long_name); }, {"4097 bytes", "limit of 4096"});
  StateDict bad_utf8;
  bad_utf8.integers["\xed\xa0\x80"] = 1;  // a UTF-16 surrogate
  expect_error([&] { checkpoint_to_bytes(bad_utf8); }, {"not valid UTF-8"});
}

TEST(Checkpoint, AnEntryNameWithANulByteIsRefusedOnLoadAndOnSave) {
  // The name "a\0b" starts at byte 29 (24 of header, kind, 4 of length); the NUL is at 30.
  expect_error([&] { load(Craft().header(1).name(1, std::string("a\0b", 3)).u64(1).sealed()); },
               {"ckpt: byte 30: entry 0 name 'a\\0...' holds a NUL byte"});
  StateDict nul;
  nul.tensors[std::string("w\0", 2)] = Tensor({1});
  expect_error([&] { checkpoint_to_bytes(nul); }, {"entry name 'w\\0...' holds a NUL byte"});
}

TEST(Checkpoint, NotACheckpointIsRefusedByItsMagic) {
  const Bytes png = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0};
  expect_error([&] { load(png, "image.png"); }, {"image.png: byte 0: magic is not \"TAPEGRAD\""});
  expect_error([&] { load(Bytes{}, "empty.tg"); }, {"empty.tg: byte 0: file ends after 0 bytes"});
  TempDir dir;
  expect_error([&] { load_checkpoint(dir / "missing.tg"); }, {dir / "missing.tg", "cannot open"});
}

TEST(Checkpoint, HugeDeclaredSizesInATinyFileFailWithoutAllocating) {
  // A 1 GiB tensor, a 2^64-overflowing tensor, a 200 MB text, 2^60 entries and a long name,
  // each declared in a file of about 70 bytes with a valid CRC.
  const Bytes gib = Craft().header(1).name(0, "w").u8(0).u32(2).u64(16384).u64(16384).sealed();
  const Bytes gib4 = Craft().header(1).tensor_head("w", {64, 64, 256, 256}).sealed();
  const Bytes wrap =
      Craft().header(1).name(0, "w").u8(0).u32(2).u64(1ull << 32).u64(1ull << 32).sealed();
  const Bytes text = Craft().header(1).name(3, "t").u64(200u << 20).raw("abc").sealed();
  const Bytes entries = Craft().header(1ull << 60).sealed();
  const Bytes name = Craft().header(1).u8(1).u32(0xFFFFFFFFu).raw(std::string(20, 'n')).sealed();
  const auto load_gib = [&] { load(gib, "gib.tg"); };
  const auto load_wrap = [&] { load(wrap, "wrap.tg"); };
  const auto load_text = [&] { load(text, "text.tg"); };
  const auto load_gib4 = [&] { load(gib4, "gib4.tg"); };
  expect_error(load_gib, {"gib.tg: byte 35: tensor 'w' (entry 0) dims 16384x16384 need more "
                          "than the 0 bytes left before the CRC"});
  expect_error(load_wrap, {"wrap.tg: byte 35: tensor 'w' (entry 0) dims 4294967296x4294967296"});
  expect_error(load_gib4, {"gib4.tg: byte 35: tensor 'w' (entry 0) dims 64x64x256x256 need more "
                           "than the 0 bytes left before the CRC"});
  expect_error(load_text, {"text.tg: byte 38: text 't' (entry 0) bytes: needs 209715200 bytes, "
                           "only 3 left"});
  expect_error([&] { load(entries, "n.tg"); },
               {"n.tg: byte 16: entry count 1152921504606846976 cannot fit in the 0 bytes left"});
  expect_error([&] { load(name, "name.tg"); },
               {"name.tg: byte 25: entry 0 name length is 4294967295, expected 1..4096"});

  if (!test::address_space_limit_works()) GTEST_SKIP() << "no address-space limit under ASan";
  const auto limit = test::limit_address_space_growth(std::size_t{256} << 20);
  const auto alloc = test::run_in_child(limit, [] { Tensor big = zeros(16384, 16384); });
  ASSERT_EQ(alloc.end, test::ChildEnd::threw_bad_alloc) << "the limit does not bite";
  for (const auto& f : {std::function<void()>(load_gib), std::function<void()>(load_wrap),
                        std::function<void()>(load_text), std::function<void()>(load_gib4)}) {
    const auto r = test::run_in_child(limit, f);
    EXPECT_EQ(r.end, test::ChildEnd::threw_tg_error) << r.message;
  }
}

TEST(Checkpoint, ATensorDimensionAbove2To63Minus1IsRefusedEvenWhenTheOtherIsZero) {
  // Found by fuzz/checkpoint_fuzz: a 0 x 2^63 tensor holds no data, but making it was
  // undefined behaviour (signed overflow in xtensor's strides).
  for (const std::uint32_t version : {1u, 2u}) {
    SCOPED_TRACE("format version " + std::to_string(version));
    const auto empty = [&](std::uint64_t r, std::uint64_t c) {
      return Craft().header(1, version).name(0, "w").u8(0).u32(2).u64(r).u64(c).sealed();
    };
    expect_error([&] { load(empty(0, 1ull << 63), "a.tg"); },
                 {"a.tg: byte 35: tensor 'w' (entry 0) dims 0x9223372036854775808: a dimension "
                  "is above the limit of 9223372036854775807"});
    expect_error([&] { load(empty(0, ~0ull), "b.tg"); }, {"b.tg: byte 35: ", "above the limit"});
    expect_error([&] { load(empty(1ull << 63, 0), "c.tg"); },
                 {"c.tg: byte 35: ", "above the limit"});
    const StateDict s = load(empty(0, (1ull << 63) - 1));
    EXPECT_EQ(s.tensor("w").size(), 0u);
    EXPECT_EQ(s.tensor("w").shape(1), (std::size_t{1} << 63) - 1);
  }
}

// ---- N-d tensors (format version 2) and version-1 files ----

TEST(Checkpoint, TensorsOfRank0To8RoundTripWithBitIdenticalShapesAndValues) {
  StateDict s;
  s.tensors["r0"] = scalar(from_bits(0x7FC00001u));  // a NaN with a payload
  s.tensors["r1"] = ramp({7});
  s.tensors["r1_empty"] = ramp({0});
  s.tensors["r2"] = ramp({3, 4});
  s.tensors["r3"] = ramp({2, 3, 4});
  s.tensors["r3_empty"] = ramp({4, 0, 5});
  s.tensors["r4"] = ramp({2, 1, 3, 5});
  s.tensors["r6"] = ramp({2, 1, 2, 3, 1, 2});
  s.tensors["r7"] = ramp({1, 2, 1, 2, 1, 2, 3});
  s.tensors["r8"] = ramp({2, 2, 2, 2, 2, 2, 2, 2});
  ASSERT_EQ(s.tensors["r0"].dimension(), 0u);
  ASSERT_EQ(s.tensors["r0"].size(), 1u);
  TempDir dir;
  save_checkpoint(dir / "nd.tg", s);
  const StateDict back = load_checkpoint(dir / "nd.tg");
  expect_bit_exact(s, back);
  for (const auto& [name, t] : s.tensors) {
    const Tensor& u = back.tensor(name);
    EXPECT_EQ(u.dimension(), t.dimension()) << name;
    EXPECT_EQ(shape_of(u), shape_of(t)) << name;
    EXPECT_EQ(u.size(), t.size()) << name;
    for (std::size_t i = 0; i < t.size(); ++i)
      ASSERT_EQ(bits_of(u.data()[i]), bits_of(t.data()[i])) << name << " element " << i;
  }
  EXPECT_EQ(checkpoint_to_bytes(back), read_file(dir / "nd.tg"));
}

TEST(Checkpoint, NdTensorsAreWrittenAsVersion2InTheDocumentedLayout) {
  StateDict s;
  s.tensors["a"] = scalar(1.0f);
  s.tensors["b"] = tensor(Shape{2, 1, 1}, {2.0f, -2.0f});
  const Bytes expected = Craft()
                             .header(2, 2)
                             .tensor_head("a", {})  // rank 0, no dims
                             .u32(0x3F800000u)      // 1.0f
                             .tensor_head("b", {2, 1, 1})
                             .u32(0x40000000u)  // 2.0f
                             .u32(0xC0000000u)  // -2.0f
                             .sealed();
  EXPECT_EQ(checkpoint_to_bytes(s), expected);
}

// tests/fixtures/checkpoint_v1.tg was written by the rank-2 code (format version 1); see
// tests/fixtures/checkpoint_v1.md for the program and the commit.
TEST(Checkpoint, TheVersion1FixtureLoadsWithTheValuesItWasWrittenWith) {
  const std::string path = std::string(TAPEGRAD_SOURCE_DIR) + "/tests/fixtures/checkpoint_v1.tg";
  const Bytes file = read_file(path);
  ASSERT_EQ(file.size(), 403u);
  ASSERT_EQ(file[8], 1u) << "the fixture is a version-1 file";
  const StateDict s = load_checkpoint(path);

  const auto expect_tensor = [&](const std::string& name, const Shape& shape,
                                 const std::vector<std::uint32_t>& bits) {
    const Tensor& t = s.tensor(name);
    EXPECT_EQ(t.dimension(), 2u) << name;
    EXPECT_EQ(shape_of(t), shape) << name << " is " << shape_str(t);
    ASSERT_EQ(t.size(), bits.size()) << name;
    for (std::size_t i = 0; i < bits.size(); ++i)
      EXPECT_EQ(bits_of(t.data()[i]), bits[i]) << name << " element " << i;
  };
  ASSERT_EQ(s.tensors.size(), 5u);
  expect_tensor(
      "model.0.weight", {2, 3},
      {bits_of(0.5f), bits_of(-1.25f), bits_of(0.1f), bits_of(3.0f), 0x80000000u, bits_of(1e30f)});
  expect_tensor("model.0.bias", {1, 4},
                {bits_of(0.25f), bits_of(-0.75f), bits_of(2.0f), 0x00000001u});  // denorm_min
  expect_tensor("model.1.weight", {3, 1}, {bits_of(1.0f), bits_of(-2.0f), bits_of(1.0f / 3.0f)});
  expect_tensor("model.1.scale", {1, 1}, {0x7F800000u});  // +inf
  expect_tensor("empty", {0, 3}, {});
  EXPECT_EQ(s.integers, (std::map<std::string, std::int64_t>{{"optimizer.step", 1234567890123},
                                                             {"train.offset", -42}}));
  ASSERT_EQ(s.reals.size(), 1u);
  EXPECT_EQ(bits_of(s.real("optimizer.lr")), bits_of(0.001));
  EXPECT_EQ(s.texts, (std::map<std::string, std::string>{
                         {"note", "tapegrad checkpoint v1 fixture, caf\xc3\xa9"}}));

  // A version-1 rank-2 tensor has the layout of a version-2 one: saving what was loaded gives
  // the same bytes but for the version and the CRC.
  const Bytes again = checkpoint_to_bytes(s);
  ASSERT_EQ(again.size(), file.size());
  EXPECT_EQ(again[8], 2u);
  EXPECT_TRUE(std::equal(file.begin() + 12, file.end() - 4, again.begin() + 12));
}

TEST(Checkpoint, Version1HoldsRank2TensorsOnly) {
  const auto v1 = [](std::initializer_list<std::uint64_t> dims) {
    return Craft().header(1, 1).tensor_head("x", dims).u32(0).sealed();
  };
  expect_one_line_error([&] { load(v1({1}), "v1.tg"); },
                        {"v1.tg: byte 31: tensor 'x' (entry 0) rank is 1, expected 2 (format "
                         "version 1 holds rank-2 tensors only)"});
  expect_one_line_error(
      [&] {
        load(v1({1, 1, 1}), "v1.tg");
      },
      {"v1.tg: byte 31: tensor 'x' (entry 0) rank is 3, expected 2"});
  expect_one_line_error([&] { load(v1({}), "v1.tg"); },
                        {"v1.tg: byte 31: tensor 'x' (entry 0) rank is 0, expected 2"});
  EXPECT_EQ(shape_of(load(v1({1, 1})).tensor("x")), (Shape{1, 1}));
  // The same bytes as version 2 load.
  const Bytes v2 = Craft().header(1, 2).tensor_head("x", {1, 1, 1}).u32(0).sealed();
  EXPECT_EQ(shape_of(load(v2).tensor("x")), (Shape{1, 1, 1}));
}

TEST(Checkpoint, ARankAboveTheCapIsRefusedOnLoadAndOnSave) {
  static_assert(kCheckpointMaxRank == 8);
  // Rank 9 with nine dims of 1 and one float: everything is there but the rank is too high.
  const Bytes nine =
      Craft().header(1).tensor_head("x", {1, 1, 1, 1, 1, 1, 1, 1, 1}).u32(0).sealed();
  expect_one_line_error([&] { load(nine, "r9.tg"); },
                        {"r9.tg: byte 31: tensor 'x' (entry 0) rank is 9, expected 0..8"});
  // A huge rank in a tiny file is refused before anything is read or allocated for the dims.
  const Bytes huge = Craft().header(1).name(0, "x").u8(0).u32(0xFFFFFFFFu).u64(0).sealed();
  expect_one_line_error([&] { load(huge, "r.tg"); },
                        {"r.tg: byte 31: tensor 'x' (entry 0) rank is 4294967295, expected 0..8"});
  StateDict s;
  s.tensors["deep"] = zeros(Shape(9, 1));
  expect_one_line_error([&] { checkpoint_to_bytes(s); },
                        {"checkpoint_to_bytes: tensor 'deep' has rank 9, above the limit of 8"});
  TempDir dir;
  expect_error([&] { save_checkpoint(dir / "deep.tg", s); }, {dir / "deep.tg", "rank 9"});
  EXPECT_TRUE(dir.files().empty()) << "a refused state writes nothing";
}

TEST(Checkpoint, DimsWhoseProductOverflowsAreRefusedWithTheByteAndTheField) {
  // Every dim is below 2^63 but the element count is not: 2^32 * 2^32 * 2 = 2^65.
  const auto with = [](std::initializer_list<std::uint64_t> dims) {
    return Craft().header(1).tensor_head("w", dims).sealed();
  };
  expect_one_line_error(
      [&] {
        load(with({1ull << 32, 1ull << 32, 2}), "o.tg");
      },
      {"o.tg: byte 35: tensor 'w' (entry 0) dims 4294967296x4294967296x2: the element count "
       "overflows: the product of the nonzero dimensions is above the limit of "
       "9223372036854775807"});
  // 2^21 cubed is 2^63, one above the limit: no wrap to a small number, but still refused.
  expect_one_line_error(
      [&] {
        load(with({1u << 21, 1u << 21, 1u << 21}), "p.tg");
      },
      {"p.tg: byte 35: ",
       "dims 2097152x2097152x2097152: the element count "
       "overflows"});
  // A product that wraps to exactly 0 mod 2^64 (2^16 * 2^16 * 2^16 * 2^16).
  expect_one_line_error(
      [&] {
        load(with({1u << 16, 1u << 16, 1u << 16, 1u << 16}), "q.tg");
      },
      {"q.tg: byte 35: ", "the element count overflows"});
  // A zero dim makes the tensor empty but the other dims still give xtensor's (signed) strides.
  expect_one_line_error(
      [&] {
        load(with({0, 1ull << 32, 1ull << 32}), "z.tg");
      },
      {"z.tg: byte 35: tensor 'w' (entry 0) dims 0x4294967296x4294967296: "
       "the element count overflows"});
  // At the limit exactly (7 * (2^63-1)/7 = 2^63-1) an empty tensor loads; one more does not.
  const std::uint64_t max = std::numeric_limits<std::int64_t>::max();
  ASSERT_EQ(max % 7, 0u);
  const StateDict ok = load(with({0, 7, max / 7}));
  EXPECT_EQ(shape_of(ok.tensor("w")), (Shape{0, 7, max / 7}));
  EXPECT_EQ(ok.tensor("w").size(), 0u);
  expect_one_line_error(
      [&] {
        load(with({0, 7, max / 7 + 1}), "y.tg");
      },
      {"y.tg: byte 35: ", "the element count overflows"});
  // A dimension above 2^63-1 in a rank-4 tensor, and a rank-4 tensor larger than the file.
  expect_one_line_error(
      [&] {
        load(with({1, 0, 1ull << 63, 1}), "d.tg");
      },
      {"d.tg: byte 35: tensor 'w' (entry 0) dims 1x0x9223372036854775808x1: "
       "a dimension is above the limit of 9223372036854775807"});
  expect_one_line_error(
      [&] {
        load(with({2, 3, 4, 5}), "b.tg");
      },
      {"b.tg: byte 35: tensor 'w' (entry 0) dims 2x3x4x5 need more than the 0 "
       "bytes left before the CRC"});
}

TEST(Checkpoint, ATruncatedVersion2FileIsRefused) {
  StateDict s;
  s.tensors["t"] = ramp({2, 3, 4});
  s.tensors["u"] = scalar(3.0f);
  s.integers["step"] = 5;
  const Bytes full = checkpoint_to_bytes(s);
  ASSERT_EQ(full[8], 2u);
  ASSERT_NO_THROW(load(full));
  for (std::size_t n = 0; n < full.size(); ++n)
    expect_one_line_error([&] { checkpoint_from_bytes(full.data(), n, "cut.tg"); },
                          {"cut.tg: byte "});
  // A file holding only 't', cut inside its dims: header 24 + kind 1 + length 4 + "t" 1 +
  // dtype 1 + rank 4 = 35, dim 0 at 35, dim 1 at 43, dim 2 at 51; keep 55 bytes, the last 4 of
  // which are taken for the CRC.
  StateDict one;
  one.tensors["t"] = s.tensors["t"];
  const Bytes t_only = checkpoint_to_bytes(one);
  ASSERT_EQ(t_only.size(), 59u + 96u + 4u);
  expect_one_line_error([&] { checkpoint_from_bytes(t_only.data(), 55, "cut.tg"); },
                        {"cut.tg: byte 51: tensor 't' (entry 0) dim 2: needs 8 bytes, only 0 left",
                         "truncated", "the CRC-32 does not match either"});
  // Cut in the data through a file: the 24 floats (96 bytes) at 59, 20 bytes short.
  TempDir dir;
  write_file(dir / "cut.tg", Bytes(t_only.begin(), t_only.end() - 20));
  expect_one_line_error([&] { load_checkpoint(dir / "cut.tg"); },
                        {dir / "cut.tg",
                         ": byte 35: tensor 't' (entry 0) dims 2x3x4 need more "
                         "than the 76 bytes left before the CRC"});
}

TEST(Checkpoint, SavingReplacesAnExistingCheckpointAndLeavesNoTempFile) {
  TempDir dir;
  StateDict first, second;
  first.integers["step"] = 1;
  second.integers["step"] = 2;
  save_checkpoint(dir / "run.tg", first);
  save_checkpoint(dir / "run.tg", second);
  EXPECT_EQ(load_checkpoint(dir / "run.tg").integer("step"), 2);
  EXPECT_EQ(dir.files(), std::vector<std::string>{"run.tg"});
}

TEST(Checkpoint, AWriteThatFailsHalfWayKeepsThePreviousCheckpointAndRemovesTheTempFile) {
  TempDir dir;
  const std::string path = dir / "run.tg";
  StateDict previous;
  previous.integers["step"] = 41;
  previous.tensors["w"] = tensor({{1, 2, 3}});
  save_checkpoint(path, previous);
  const Bytes before = read_file(path);

  StateDict big;
  big.integers["step"] = 42;
  big.tensors["w"] = zeros(1024, 1024);  // 4 MiB: more than the child may write
  // Tests run as root, so a read-only folder would not stop the write: a file-size limit does.
  const auto r = test::run_in_child(
      [] {
        std::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG instead of killing us
        struct rlimit rl {
          256 * 1024, 256 * 1024
        };
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) std::abort();
      },
      [&] { save_checkpoint(path, big); });
  ASSERT_EQ(r.end, test::ChildEnd::threw_tg_error) << r.message;
  EXPECT_NE(r.message.find(path + ".tmp."), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("write failed"), std::string::npos) << r.message;
  EXPECT_EQ(read_file(path), before);
  expect_bit_exact(previous, load_checkpoint(path));
  EXPECT_EQ(dir.files(), std::vector<std::string>{"run.tg"}) << "the temp file is removed";
}
