// What a checkpoint stores about the run (the settings that rebuild the model, the epochs done
// and their history) and the checks on reading it back: a checkpoint is untrusted input.
#pragma once

#include "config.hpp"

#include "tapegrad/tapegrad.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

// The checkpoint that --eval or --resume names, read once; `file` is empty without either.
struct Checkpoint {
  std::string file;
  tg::StateDict entries;
};

// --eval and --resume take the architecture from the checkpoint: reads it into `c` and refuses
// an architecture option given on the command line that disagrees with it.
Checkpoint load_checkpoint_settings(Config& c);

// The architecture lives in the checkpoint as text, so --eval and --resume rebuild it.
void save_architecture(const Config& c, const tg::Dataset& train, tg::StateDict& s);

// The integer `name` of `s`, refused unless within lo..hi (a wrapped epoch count would train
// for 2^31 epochs); `file` names the checkpoint in the message.
std::int64_t checked_integer(const tg::StateDict& s, const std::string& name, std::int64_t lo,
                             std::int64_t hi, const std::string& file);

// Where --resume goes on: the epochs done and one history object for each.
struct Progress {
  int epochs_done = 0;
  nlohmann::json history = nlohmann::json::array();
};

// The progress stored in a --resume checkpoint; none for a new run or --eval.
Progress load_progress(const Config& c, const Checkpoint& checkpoint);
