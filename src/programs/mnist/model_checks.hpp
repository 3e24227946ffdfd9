// The model the settings describe, checked before it is built: a typo in --hidden or a
// forged checkpoint must not allocate gigabytes first.
#pragma once

#include "checkpoint_config.hpp"
#include "config.hpp"

#include "tapegrad/tapegrad.hpp"

// Refuses, before anything is allocated, images the chosen model cannot take and models too
// big to be meant; and for an MLP read from `checkpoint`, tensors (`model_entries`, its
// "model." ones) other than exactly those its settings give (a config.hidden of "1000000"
// would otherwise allocate gigabytes first).
void check_model(const Config& c, const tg::Dataset& train, const Checkpoint& checkpoint,
                 const tg::StateDict& model_entries);
