// The CSV reader: tabular data (features in columns, one sample per row) into a tg::Dataset of
// float samples with class labels or regression targets.
//
// The format: RFC 4180 records (quoted fields with "" for a quote, delimiters and line breaks
// inside quotes; LF or CRLF line ends, a CR must be followed by LF), a UTF-8 byte order mark is
// skipped, blank lines may end the file but not interrupt the data. Plain or gzip files are
// accepted, told apart by their first two bytes (0x1f 0x8b), not by their name; a gzip file must
// be complete: its CRC and length trailer are checked, a truncated or corrupted one is refused.
// Spaces and tabs around an unquoted field are dropped. Numbers are read as double (C locale,
// an optional sign, decimal or exponent form, as Python's float()) and rounded to float, as
// numpy.loadtxt followed by a float32 cast would.
//
// Every defect is a one-line tg::Error "<file>: line L, column C: <what>", L being the 1-based
// line of the text (of the decompressed text for a gzip file; the line where a quoted field
// starts) and C the 1-based index of the field in its row (not a byte column). Errors that
// belong to no cell ("<file>: gzip: ...", "<file>: N bytes exceed ...") name the file. Sizes are
// checked against CsvOptions' limits before anything large is allocated; memory stays below
// about 4 x max_bytes whatever the input (file, text, and at most 2 floats per 2 bytes of it).
// The limits only refuse: an input accepted under smaller limits reads the same under larger.
//
// Choices the reader makes (each can be overridden in CsvOptions):
// - header (auto_detect): the first row is a header when one of its cells is a non-empty text
//   that is not a number (nor nan/inf) while the cell below it is a number (or there is no
//   second row). So a text target column ("setosa" above "setosa") is not mistaken for a header.
// - delimiter (auto_detect): whichever of ',' ';' '\t' occurs most often outside quotes in the
//   first line read (ties in that order); when none occurs, runs of spaces and tabs if the line
//   has any, else ',' (a single column).
// - task (auto_detect): classification when some target cell is not a number, or when every
//   target cell is written as an integer (optional sign, digits only) and there are at most
//   kCsvAutoMaxClasses distinct values; regression otherwise. "1.0" or "1.51e+02" (as in
//   scikit-learn's diabetes targets) are therefore regression targets unless task says otherwise.
// - class labels: with class_names given, each target cell must be one of them (by its text) and
//   gets that index. Otherwise, when some target cell is not a number, the texts are classes in
//   order of first appearance (as pandas.factorize) and become class_names. When every target
//   cell is an integer (by value: "1.0" counts), the labels are used as they are if they are
//   exactly 0..K-1 (every one present; class_names stays empty) or if num_classes is given (then
//   each must be in 0..num_classes-1); otherwise (1-based, negative, gaps) they are remapped to
//   0..K-1 in increasing order of value, with their values as class_names. Give the training
//   file's class_names or num_classes when reading a test file that may lack some class. A
//   non-integer number in a classification target is an error. Setting class_names or
//   num_classes makes the task classification.
// - features must be finite numbers: an empty cell, NaN or inf is an error naming its cell.
#pragma once

#include "tapegrad/data/data.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tg {

enum class CsvHeader { auto_detect, yes, no };
enum class CsvTask { auto_detect, classification, regression };

constexpr std::uint64_t kCsvMaxBytes = std::uint64_t{1} << 30;  // of text (after gunzip)
constexpr std::size_t kCsvMaxRowBytes = std::size_t{1} << 24;
constexpr std::size_t kCsvMaxColumns = 100000;
constexpr std::size_t kCsvMaxClasses = 100000;
constexpr std::size_t kCsvAutoMaxClasses = 20;

// Names follow pandas.read_csv where it has one (header, skip_rows ~ skiprows, delimiter).
struct CsvOptions {
  CsvHeader header = CsvHeader::auto_detect;
  // Lines skipped before the header or the data, whatever they hold (not parsed as CSV): e.g. 1
  // for scikit-learn's breast_cancer.csv, whose first line "569,30,malignant,benign" is metadata.
  std::size_t skip_rows = 0;
  // 0: detect (see above); ' ': runs of spaces and tabs (leading and trailing ones ignored), as
  // in scikit-learn's diabetes_data_raw.csv.gz; any other byte but '"', CR and LF: that byte.
  char delimiter = 0;
  // The target column: `target` names it (then the file needs a header); when `target` is
  // empty, `target_index` picks it: 0-based, negative counts from the end (-1: the last column).
  std::string target;
  std::int64_t target_index = -1;
  // false: every column is a feature and the dataset has no labels or targets (inputs to
  // predict on).
  bool has_target = true;
  // Targets in a separate file (as scikit-learn's diabetes_target.csv.gz): every column of the
  // main file is then a feature and every column of this file a target (target_size columns for
  // regression, exactly one for classification), row i going with row i. Both files are read
  // with the same header, skip_rows, delimiter and limits; `target` and `target_index` must be
  // left as they are.
  std::string targets_path;
  CsvTask task = CsvTask::auto_detect;
  // Classification: the classes in label order. Give the training file's class_names when
  // reading a test file so that both map names to the same labels.
  std::vector<std::string> class_names;
  // Classification with integer labels used as they are: the class count (0: from the labels).
  std::size_t num_classes = 0;
  // Limits that keep a hostile file from exhausting memory.
  std::uint64_t max_bytes = kCsvMaxBytes;  // file size, and text size after gunzip
  std::size_t max_row_bytes = kCsvMaxRowBytes;
  std::size_t max_columns = kCsvMaxColumns;
  std::size_t max_classes = kCsvMaxClasses;
};

// Reads a CSV file (plain or gzip) into float samples of sample_shape {features}, row-major,
// feature_names from the header; labels, num_classes and class_names (classification) or
// targets (target_size 1, or the targets file's column count) and target_names (regression).
// name is the path. Throws tg::Error on any defect (see above).
Dataset read_csv(const std::string& path, const CsvOptions& options = {});

// The same on bytes in memory (plain or gzip); `name` stands for the file in messages. For tests
// and fuzzing; options.targets_path must be empty (see parse_csv_with_targets).
Dataset parse_csv(const char* data, std::size_t size, const std::string& name,
                  const CsvOptions& options = {});

// read_csv with options.targets_path, on bytes in memory: features from one text, targets from
// the other.
Dataset parse_csv_with_targets(const char* data, std::size_t size, const std::string& name,
                               const char* targets_data, std::size_t targets_size,
                               const std::string& targets_name, const CsvOptions& options = {});

}  // namespace tg
