// Output paths are checked before any training, so a typo cannot lose a finished run.
#pragma once

#include <string>

// Creates `dir` (and its parents) if needed and checks that a file can be written in it;
// throws a tg::Error naming `option`, the folder and the reason.
void prepare_output_folder(const std::string& dir, const char* option);
// Checks that `path`'s folder exists and takes a new file (it is not created).
void check_output_file(const std::string& path, const char* option);
// Writes `text` to `path` (replacing it); throws a tg::Error naming the path when it cannot.
void write_file(const std::string& path, const std::string& text);
