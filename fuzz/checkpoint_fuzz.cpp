// libFuzzer target for the checkpoint loader, tg::checkpoint_from_bytes.
//
// A tg::Error is the expected answer to a bad file; anything else (another exception, a crash,
// an ASan/UBSan report, a huge allocation caught by -malloc_limit_mb) is a finding.
//
// Every input is parsed twice: as it is, and with its last 4 bytes replaced by the right CRC-32,
// so that mutated files also reach the end of the loader instead of mostly stopping at the
// checksum. A file that loads must round-trip: saving what was loaded and loading that again
// gives the same entries bit for bit.
#include "tapegrad/tapegrad.hpp"

#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "checkpoint_fuzz: %s\n", what);
  std::abort();
}

bool same_bits(const tg::StateDict& a, const tg::StateDict& b) {
  if (a.tensors.size() != b.tensors.size() || a.integers != b.integers ||
      a.reals.size() != b.reals.size() || a.texts != b.texts)
    return false;
  for (const auto& [name, t] : a.tensors) {
    auto it = b.tensors.find(name);
    if (it == b.tensors.end() || it->second.shape() != t.shape()) return false;
    if (t.size() && std::memcmp(t.data(), it->second.data(), t.size() * sizeof(float)) != 0)
      return false;
  }
  for (const auto& [name, v] : a.reals) {
    auto it = b.reals.find(name);
    if (it == b.reals.end() || std::memcmp(&v, &it->second, sizeof v) != 0) return false;
  }
  return true;
}

void load(const std::uint8_t* data, std::size_t size) {
  tg::StateDict state;
  try {
    state = tg::checkpoint_from_bytes(data, size, "fuzz.tg");
  } catch (const tg::Error&) {
    return;  // refused cleanly: the expected outcome for almost every input
  }
  // Accepted: what was loaded must save (the saver's checks agree with the loader's) and load
  // back identically.
  std::vector<std::uint8_t> again;
  try {
    again = tg::checkpoint_to_bytes(state);
  } catch (const tg::Error&) {
    finding("a loaded checkpoint cannot be saved again");
  }
  if (again.size() != size) finding("saving a loaded checkpoint changes its size");
  tg::StateDict back;
  try {
    back = tg::checkpoint_from_bytes(again.data(), again.size(), "again.tg");
  } catch (const tg::Error&) {
    finding("a re-saved checkpoint does not load");
  }
  if (!same_bits(state, back)) finding("a re-saved checkpoint loads with other entries");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  load(data, size);
  if (size >= 8 + 4 + 4 + 8 + 4) {
    std::vector<std::uint8_t> fixed(data, data + size);
    const std::size_t body = size - 4;
    const auto crc = static_cast<std::uint32_t>(crc32(0L, fixed.data(), static_cast<uInt>(body)));
    for (int i = 0; i < 4; ++i) fixed[body + i] = static_cast<std::uint8_t>(crc >> (8 * i));
    if (std::memcmp(fixed.data() + body, data + body, 4) != 0) load(fixed.data(), fixed.size());
  }
  return 0;
}
