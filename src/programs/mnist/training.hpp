// Training: the model with its optimizer and schedule, built new or resumed from a checkpoint,
// then trained by tg::fit with early stopping, a checkpoint after every epoch and the
// gradient norms that --out draws.
#pragma once

#include "checkpoint_config.hpp"
#include "config.hpp"
#include "data.hpp"

#include "tapegrad/tapegrad.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

struct Schedules {
  std::unique_ptr<tg::LrSchedule> schedule;
  std::unique_ptr<tg::ReduceOnPlateau> plateau;
};

// The model and what updates it: what a checkpoint stores and --resume restores.
struct Learner {
  std::unique_ptr<tg::Sequential> model;
  std::unique_ptr<tg::Optimizer> optimizer;
  Schedules schedules;
};

// The model of the settings in `c`, with the checkpoint's weights (`model_entries`) under
// --eval and --resume, and its optimizer and schedule state under --resume; every rank then
// starts from rank 0's weights.
Learner build_or_resume(const Config& c, const tg::Dataset& train, const Checkpoint& checkpoint,
                        const tg::StateDict& model_entries);

struct TrainingRecord {
  nlohmann::json history;                 // one object per epoch, those resumed from included
  std::vector<std::string> weight_names;  // the layers of each epoch's "grad_norms"
};

// Trains from progress.epochs_done to c.epochs (or until early stopping, whose best epoch's
// weights the model then holds), saving a checkpoint after every epoch with --save.
TrainingRecord train(const Config& c, const Data& data, Learner& learner,
                     const Checkpoint& checkpoint, Progress progress);
