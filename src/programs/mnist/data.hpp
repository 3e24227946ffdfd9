// The images a run trains, validates and tests on, checked before anything is built from them.
#pragma once

#include "checkpoint_config.hpp"
#include "config.hpp"

#include "tapegrad/tapegrad.hpp"

#include <string>
#include <vector>

struct Data {
  tg::Dataset train, validation, test;
  std::vector<std::string> class_names;
};

// Loads the training and test sets of c.data and checks them: neither empty, the same image
// size in both, and the size the checkpoint's model was trained on. No validation split yet.
Data load_data(const Config& c, const Checkpoint& checkpoint);

// Holds the validation images out of the training set (not for --eval), then keeps the first
// --train-limit of the rest.
void hold_out_validation(const Config& c, Data& data);
