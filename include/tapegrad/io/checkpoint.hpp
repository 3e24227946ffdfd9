// Checkpoints: everything a training run needs to continue, in one versioned,
// little-endian, self-describing, checksummed file.
#pragma once

#include "tapegrad/core/state_dict.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tg {

// ---- checkpoint files ----
//
// Format (version 2), every number little-endian whatever the host:
//   "TAPEGRAD" (8 bytes), u32 version = 2, u32 flags = 0, u64 entry count,
//   then each entry: u8 kind (0 tensor, 1 integer, 2 real, 3 text), u32 name length,
//   the name (1..4096 bytes of UTF-8), then
//     tensor:  u8 dtype (0 = float32), u32 rank (0..8), rank u64 dims (outermost first), then
//              the product of the dims f32 in row-major order (a rank-0 tensor holds one);
//              each dim is at most 2^63-1 and so is the product of the nonzero dims, even
//              when another dim is 0 (xtensor's strides are signed);
//     integer: i64;   real: f64;   text: u64 length (at most 256 MiB), the bytes;
//   then u32 CRC-32 (zlib's) of every byte before it.
// Entries are written tensors, integers, reals, texts, each sorted by name. Names are unique
// across all kinds (save refuses a name used by two kinds).
//
// Version 1 (rank-2 tensors, written by tapegrad before N-d tensors) is the same layout with
// version = 1 and every tensor's rank exactly 2 (u64 rows, u64 cols); it still loads, as
// rank-2 tensors. Saving always writes version 2. tests/fixtures/checkpoint_v1.tg is a file
// written by the version-1 code.
//
// Loading checks every field against its cap and what is left of the file before allocating
// anything for it (an element count that overflows is refused), refuses unknown versions,
// flags, kinds and dtypes, ranks above the cap, duplicate names, names holding a NUL byte and a
// wrong CRC; every defect is a one-line tg::Error "<file>: byte <offset>: <field> ...". Only a
// regular file is read: a FIFO, a device or a folder is refused without waiting on it.
//
// Saving is atomic: the bytes go to "<path>.tmp.<pid>" in the same folder, which is fsynced,
// closed and renamed over `path`, and then the folder is fsynced. A failed or interrupted save
// leaves the previous checkpoint at `path` untouched; a failed save removes its temp file, and
// each save first removes the "<path>.tmp.<pid>" files of processes that no longer exist (saves
// that were killed).
// A state that would not load again (a tensor of rank above 8, a bad name...) is refused
// before anything is written.

constexpr std::uint32_t kCheckpointVersion = 2;        // what save_checkpoint writes
constexpr std::uint32_t kCheckpointOldestVersion = 1;  // the oldest load_checkpoint reads
constexpr std::uint32_t kCheckpointMaxRank = 8;
constexpr std::size_t kCheckpointMaxName = 4096;
constexpr std::uint64_t kCheckpointMaxText = std::uint64_t{256} << 20;

void save_checkpoint(const std::string& path, const StateDict& state);
StateDict load_checkpoint(const std::string& path);

// The same format in memory; `name` stands for the file in messages. For tests and fuzzing.
std::vector<std::uint8_t> checkpoint_to_bytes(const StateDict& state);
StateDict checkpoint_from_bytes(const std::uint8_t* data, std::size_t size,
                                const std::string& name);

}  // namespace tg
