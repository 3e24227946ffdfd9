// What --out holds after a training run: metrics.json, metrics.csv and the pictures.
#pragma once

#include "config.hpp"
#include "data.hpp"
#include "evaluation.hpp"
#include "training.hpp"

#include "tapegrad/tapegrad.hpp"

// Writes the run's metrics and pictures to c.out (which prepare_output_folder made).
void write_out_folder(const Config& c, const Data& data, const TrainingRecord& record,
                      const TestResults& r, const tg::dist::CommunicationStats& comm,
                      double wall_seconds);
