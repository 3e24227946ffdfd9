// libFuzzer target for the CSV reader: tg::parse_csv on every input with several option sets
// (detection of everything; a target column that is text, forced classes, no target;
// whitespace delimiter and a header; small limits), and tg::parse_csv_with_targets with the
// input cut in two at its first 0x00 byte (features before, targets after). Inputs that start
// like gzip take the zlib path inside parse_csv itself.
//
// A tg::Error with a one-line message naming the input is the expected answer to a bad file;
// anything else (another exception, a crash, an ASan/UBSan report, a huge allocation caught by
// -malloc_limit_mb) is a finding. A dataset that parses must be consistent: values a whole
// number of samples and all finite, one label below num_classes (or one finite target set) per
// sample, names matching the counts; and what the small limits accept the default ones accept
// with the same result.
#include "tapegrad/data/csv.hpp"

#include "tapegrad/core/tensor.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "csv_fuzz: %s\n", what);
  std::abort();
}

bool starts_with(const std::string& s, const char* prefix) {
  return s.compare(0, std::strlen(prefix), prefix) == 0;
}

void check_dataset(const tg::Dataset& d) {
  if (d.sample_shape.size() != 1 || d.sample_shape[0] == 0) finding("sample_shape is not {f}");
  const std::size_t f = d.sample_shape[0];
  if (d.values.size() % f != 0) finding("values are not a whole number of samples");
  const std::size_t n = d.values.size() / f;
  if (n == 0) finding("a dataset without samples was accepted");
  for (const float v : d.values)
    if (!std::isfinite(v)) finding("a feature value is not finite");
  if (!d.feature_names.empty() && d.feature_names.size() != f)
    finding("feature_names do not match the feature count");
  if (!d.labels.empty() && !d.targets.empty()) finding("both labels and targets");
  if (!d.labels.empty()) {
    if (d.labels.size() != n) finding("label count differs from the sample count");
    for (const std::int32_t l : d.labels)
      if (l < 0 || static_cast<std::size_t>(l) >= d.num_classes)
        finding("a label is outside 0..num_classes-1");
    if (!d.class_names.empty() && d.class_names.size() != d.num_classes)
      finding("class_names do not match num_classes");
  }
  if (!d.targets.empty()) {
    if (d.target_size == 0 || d.targets.size() != n * d.target_size)
      finding("target count differs from samples x target_size");
    for (const float v : d.targets)
      if (!std::isfinite(v)) finding("a target is not finite");
    if (!d.target_names.empty() && d.target_names.size() != d.target_size)
      finding("target_names do not match target_size");
  }
}

bool same(const tg::Dataset& a, const tg::Dataset& b) {
  return a.values == b.values && a.labels == b.labels && a.targets == b.targets &&
         a.num_classes == b.num_classes && a.class_names == b.class_names &&
         a.feature_names == b.feature_names && a.target_names == b.target_names;
}

// Parses; true with `out` filled, false on a well-formed tg::Error.
bool parse(const char* data, std::size_t size, const tg::CsvOptions& options, tg::Dataset& out) {
  try {
    out = tg::parse_csv(data, size, "fuzz.csv", options);
  } catch (const tg::Error& e) {
    const std::string msg = e.what();
    if (msg.find('\n') != std::string::npos) finding("an error message spans several lines");
    if (!starts_with(msg, "fuzz.csv: ")) finding("an error message does not name the input");
    return false;
  }
  check_dataset(out);
  return true;
}

tg::CsvOptions small_limits(tg::CsvOptions o) {
  o.max_bytes = 2048;
  o.max_row_bytes = 64;
  o.max_columns = 8;
  o.max_classes = 4;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const char* data = reinterpret_cast<const char*>(bytes);
  tg::CsvOptions options[5];
  options[1].target_index = 0;
  options[1].task = tg::CsvTask::classification;
  options[2].has_target = false;
  options[3].delimiter = ' ';
  options[3].header = tg::CsvHeader::yes;
  options[3].task = tg::CsvTask::regression;
  options[4].skip_rows = 1;
  options[4].class_names = {"a", "b", "1"};
  for (const tg::CsvOptions& o : options) {
    tg::Dataset small, full;
    if (parse(data, size, small_limits(o), small)) {
      if (!parse(data, size, o, full))
        finding("accepted under the small limits but refused under the default ones");
      if (!same(small, full)) finding("the limits changed an accepted result");
    } else {
      parse(data, size, o, full);
    }
  }
  const void* cut = std::memchr(data, 0, size);
  if (cut) {
    const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(cut) - data);
    try {
      const tg::Dataset d = tg::parse_csv_with_targets(data, at, "fuzz-x.csv", data + at + 1,
                                                       size - at - 1, "fuzz-y.csv");
      check_dataset(d);
    } catch (const tg::Error& e) {
      const std::string msg = e.what();
      if (msg.find('\n') != std::string::npos) finding("an error message spans several lines");
      if (!starts_with(msg, "fuzz-x.csv: ") && !starts_with(msg, "fuzz-y.csv: "))
        finding("an error message does not name the input");
    }
  }
  return 0;
}
