// Checkpoints: everything a training run needs to continue, in one versioned,
// little-endian, self-describing, checksummed file.
#pragma once

#include "tapegrad/tensor.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tg {

// Named state of anything that can be saved (a model, an optimizer, a schedule, an RNG, the
// training progress): tensors plus integer, real and text entries. Names are unique; by
// convention a prefix says who owns the entry ("model.0.weight", "optimizer.step").
struct StateDict {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::int64_t> integers;
  std::map<std::string, double> reals;
  std::map<std::string, std::string> texts;

  // Lookups that throw a tg::Error naming the missing entry (and `context`, e.g. the file).
  const Tensor& tensor(const std::string& name, const std::string& context = {}) const;
  std::int64_t integer(const std::string& name, const std::string& context = {}) const;
  double real(const std::string& name, const std::string& context = {}) const;
  const std::string& text(const std::string& name, const std::string& context = {}) const;
  // Entries whose names start with `prefix`, with the prefix removed.
  StateDict with_prefix_removed(const std::string& prefix) const;
  // Adds every entry of `other` under `prefix`.
  void merge(const StateDict& other, const std::string& prefix);
};

// ---- checkpoint files ----
//
// Format (version 1), every number little-endian whatever the host:
//   "TAPEGRAD" (8 bytes), u32 version = 1, u32 flags = 0, u64 entry count,
//   then each entry: u8 kind (0 tensor, 1 integer, 2 real, 3 text), u32 name length,
//   the name (1..4096 bytes of UTF-8), then
//     tensor:  u8 dtype (0 = float32), u32 rank (2), u64 rows, u64 cols (each at most
//              2^63-1, even when the other is 0), rows*cols f32;
//     integer: i64;   real: f64;   text: u64 length (at most 256 MiB), the bytes;
//   then u32 CRC-32 (zlib's) of every byte before it.
// Entries are written tensors, integers, reals, texts, each sorted by name. Names are unique
// across all kinds (save refuses a name used by two kinds).
//
// Loading checks every field against what is left of the file before allocating anything for
// it, refuses unknown versions, flags, kinds and dtypes, duplicate names and a wrong CRC; every
// defect is a tg::Error "<file>: byte <offset>: <field> ...".
//
// Saving is atomic: the bytes go to "<path>.tmp.<pid>" in the same folder, which is fsynced,
// closed and renamed over `path`, and then the folder is fsynced. A failed or interrupted save
// leaves the previous checkpoint at `path` untouched; a failed save removes its temp file.

constexpr std::uint32_t kCheckpointVersion = 1;
constexpr std::size_t kCheckpointMaxName = 4096;
constexpr std::uint64_t kCheckpointMaxText = std::uint64_t{256} << 20;

void save_checkpoint(const std::string& path, const StateDict& state);
StateDict load_checkpoint(const std::string& path);

// The same format in memory; `name` stands for the file in messages. For tests and fuzzing.
std::vector<std::uint8_t> checkpoint_to_bytes(const StateDict& state);
StateDict checkpoint_from_bytes(const std::uint8_t* data, std::size_t size,
                                const std::string& name);

}  // namespace tg
