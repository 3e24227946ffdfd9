// One run of tapegrad-mnist, from checked settings to the printed test figures.
#pragma once

#include "config.hpp"

// Trains (or with --eval, evaluates) as `c` says and prints the test loss and accuracy;
// returns the exit status. Throws a tg::Error on bad input, before any work it would waste.
int run(Config c);
