// The CSV reader: plain or gzip text, RFC 4180 records, into a Dataset of float samples.
#include "tapegrad/data/csv.hpp"

#include "core/files.hpp"

#include "tapegrad/core/tensor.hpp"

#include <zlib.h>

#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace tg {

namespace {

using std::string_view;

[[noreturn]] void fail_cell(const std::string& file, std::size_t line, std::size_t column,
                            const std::string& what) {
  throw Error(file + ": line " + std::to_string(line) + ", column " + std::to_string(column) +
              ": " + what);
}

[[noreturn]] void fail_file(const std::string& file, const std::string& what) {
  throw Error(file + ": " + what);
}

// A cell's text for a message: quoted, at most 40 bytes, control and non-ASCII bytes escaped so
// the message stays one printable line.
std::string shown(string_view s) {
  std::string out = "'";
  const std::size_t n = std::min<std::size_t>(s.size(), 40);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  if (s.size() > n) out += "...";
  return out + "'";
}

std::string limit_note(std::uint64_t limit, const char* field) {
  return "the limit of " + std::to_string(limit) + " (CsvOptions::" + field + ")";
}

// ---- bytes to text ----

bool is_gzip(const char* data, std::size_t size) {
  return size >= 2 && static_cast<unsigned char>(data[0]) == 0x1f &&
         static_cast<unsigned char>(data[1]) == 0x8b;
}

// Decompresses a whole gzip file (one or more members), checking each member's CRC and length
// trailer; at most max_bytes of output, so a small file cannot expand without bound.
std::string gunzip(const char* data, std::size_t size, const std::string& name,
                   std::uint64_t max_bytes) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) fail_file(name, "gzip: cannot start zlib");
  const std::unique_ptr<z_stream, int (*)(z_streamp)> guard(&zs, inflateEnd);
  const auto* in = reinterpret_cast<const unsigned char*>(data);
  std::string out;
  std::size_t in_pos = 0, used = 0;
  const std::uint64_t cap = max_bytes + 1;  // one byte more tells "too large" from "exactly"
  for (;;) {
    if (used == out.size()) {
      if (out.size() >= cap)
        fail_file(name, "gzip: the decompressed text exceeds " +
                            limit_note(max_bytes, "max_bytes") + " bytes");
      const std::uint64_t grown = std::min<std::uint64_t>(
          cap, std::max<std::uint64_t>(std::uint64_t{1} << 16, std::uint64_t{out.size()} * 2));
      out.resize(static_cast<std::size_t>(grown));
    }
    const std::size_t in_chunk = std::min<std::size_t>(size - in_pos, 1u << 30);
    const std::size_t out_chunk = std::min<std::size_t>(out.size() - used, 1u << 30);
    zs.next_in = const_cast<unsigned char*>(in + in_pos);
    zs.avail_in = static_cast<uInt>(in_chunk);
    zs.next_out = reinterpret_cast<unsigned char*>(&out[used]);
    zs.avail_out = static_cast<uInt>(out_chunk);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const std::size_t consumed = in_chunk - zs.avail_in, produced = out_chunk - zs.avail_out;
    in_pos += consumed;
    used += produced;
    if (rc == Z_STREAM_END) {
      if (in_pos == size) break;
      if (!is_gzip(data + in_pos, size - in_pos))
        fail_file(name, "gzip: " + std::to_string(size - in_pos) +
                            " bytes after the end of the gzip stream (compressed byte " +
                            std::to_string(in_pos) + ")");
      inflateReset(&zs);  // a further gzip member, as gzip -c a b > ab writes
      continue;
    }
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_MEM_ERROR || rc == Z_STREAM_ERROR)
      fail_file(name, "gzip: corrupt data near compressed byte " + std::to_string(in_pos) + ": " +
                          (zs.msg ? zs.msg : "zlib error " + std::to_string(rc)));
    if (consumed == 0 && produced == 0 && out_chunk > 0) {
      if (in_pos == size)
        fail_file(name, "gzip: the stream is truncated after " + std::to_string(size) +
                            " compressed bytes (" + std::to_string(used) +
                            " decompressed), before its end and CRC trailer");
      fail_file(name, "gzip: zlib made no progress at compressed byte " + std::to_string(in_pos));
    }
  }
  out.resize(used);
  return out;
}

// The text of a file: decompressed when it is gzip, without a UTF-8 byte order mark.
string_view prepare_text(const char* data, std::size_t size, const std::string& name,
                         const CsvOptions& options, std::string& storage) {
  if (size > options.max_bytes)
    fail_file(name, std::to_string(size) + " bytes exceed " +
                        limit_note(options.max_bytes, "max_bytes") + " bytes");
  string_view text(data, size);
  if (is_gzip(data, size)) {
    storage = gunzip(data, size, name, options.max_bytes);
    text = storage;
  }
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return text;
}

// ---- numbers ----

enum class Number { ok, empty, text, nan, inf, out_of_range };

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

string_view trimmed(string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

bool equals_lower(string_view s, string_view lower) {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (static_cast<char>(std::tolower(static_cast<unsigned char>(s[i]))) != lower[i]) return false;
  return true;
}

// A decimal number as Python's float() reads one (an optional sign, digits with an optional
// point and exponent); no hex, no locale. `integer_text`: written as digits only.
Number parse_number(string_view s, double& value, bool* integer_text = nullptr) {
  s = trimmed(s);
  if (s.empty()) return Number::empty;
  const bool negative = s.front() == '-';
  if (s.front() == '-' || s.front() == '+') s.remove_prefix(1);
  if (equals_lower(s, "nan")) return Number::nan;
  if (equals_lower(s, "inf") || equals_lower(s, "infinity")) return Number::inf;
  if (s.empty() || !(std::isdigit(static_cast<unsigned char>(s.front())) || s.front() == '.'))
    return Number::text;
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::invalid_argument || end != s.data() + s.size()) return Number::text;
  if (ec == std::errc::result_out_of_range) {
    // Underflow reads as its nearest double (0 or a subnormal), overflow is refused.
    const std::string copy(s);
    v = std::strtod(copy.c_str(), nullptr);
    if (!(std::fabs(v) < 1.0)) return Number::out_of_range;
  }
  if (integer_text)
    *integer_text = std::all_of(s.begin(), s.end(),
                                [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  value = negative ? -v : v;
  return Number::ok;
}

// Numbers and their nan/inf spellings: what auto-detection counts as "a number".
bool number_like(string_view s) {
  double v;
  const Number n = parse_number(s, v);
  return n == Number::ok || n == Number::nan || n == Number::inf || n == Number::out_of_range;
}

// A finite float from a cell, or an error naming the cell. `what` says whose cell it is, e.g.
// "feature 'radius'".
float finite_value(string_view cell, const std::string& file, std::size_t line, std::size_t column,
                   const std::string& what) {
  double v = 0;
  switch (parse_number(cell, v)) {
    case Number::ok:
      break;
    case Number::empty:
      fail_cell(file, line, column,
                "empty cell in " + what + " (missing values are not supported)");
    case Number::text:
      fail_cell(file, line, column, shown(cell) + " in " + what + " is not a number");
    case Number::nan:
      fail_cell(file, line, column, "NaN in " + what + " (values must be finite)");
    case Number::inf:
      fail_cell(file, line, column,
                "infinity " + shown(trimmed(cell)) + " in " + what + " (values must be finite)");
    case Number::out_of_range:
      fail_cell(file, line, column, shown(cell) + " in " + what + " is out of the double range");
  }
  const float f = static_cast<float>(v);
  if (!std::isfinite(f))
    fail_cell(file, line, column, shown(cell) + " in " + what + " is out of the float range");
  return f;
}

// ---- records ----

struct Cell {
  std::size_t begin = 0, end = 0;  // in the text, or in Record::scratch
  bool in_scratch = false;         // a quoted field with "" escapes, unescaped
  std::size_t line = 0;            // where the field starts
};

struct Record {
  std::vector<Cell> cells;  // the first `count` are this record's (capacity is reused)
  std::size_t count = 0;
  std::size_t line = 0;
  std::string scratch;
  string_view text(std::size_t i, string_view text) const {
    const Cell& c = cells[i];
    return (c.in_scratch ? string_view(scratch) : text).substr(c.begin, c.end - c.begin);
  }
};

// Splits text into records from a given position; the caller checks the cell counts.
class Tokenizer {
 public:
  Tokenizer(string_view text, std::size_t pos, std::size_t line, char delimiter,
            const std::string& name, const CsvOptions& options)
      : text_(text),
        pos_(pos),
        line_(line),
        delimiter_(delimiter),
        whitespace_(delimiter == ' '),
        name_(name),
        options_(options) {}

  std::size_t pos() const { return pos_; }
  std::size_t line() const { return line_; }

  // The next record, or false at the end of the text (blank lines may end it).
  bool next(Record& r) {
    const std::size_t n = text_.size();
    if (pos_ >= n) return false;
    std::size_t p = pos_;
    while (p < n && is_blank(text_[p])) ++p;
    if (p == n || text_[p] == '\n' || text_[p] == '\r') {
      const auto rest_blank =
          std::all_of(text_.begin() + static_cast<std::ptrdiff_t>(p), text_.end(),
                      [](char c) { return is_blank(c) || c == '\r' || c == '\n'; });
      if (rest_blank) {
        pos_ = n;
        return false;
      }
      fail_cell(name_, line_, 1, "blank line inside the data (an empty row or a missing value?)");
    }
    r.count = 0;
    r.line = line_;
    r.scratch.clear();
    const std::size_t start = pos_;
    if (whitespace_) pos_ = p;
    for (;;) {
      const std::size_t column = r.count + 1;
      if (column > options_.max_columns)
        fail_cell(name_, line_, column,
                  "more than " + limit_note(options_.max_columns, "max_columns") + " columns");
      Cell c;
      c.line = line_;
      while (pos_ < n && is_pad(text_[pos_])) ++pos_;
      if (pos_ < n && text_[pos_] == '"') {
        read_quoted(r, c, start, column);
      } else {
        c.begin = pos_;
        while (pos_ < n && !ends_field(text_[pos_])) {
          if (text_[pos_] == '"')
            fail_cell(name_, line_, column,
                      "a quote inside an unquoted field (quote the whole field and double the "
                      "quote)");
          ++pos_;
        }
        c.end = pos_;
        while (c.end > c.begin && is_pad(text_[c.end - 1])) --c.end;
      }
      check_row_length(start, column);
      if (r.cells.size() <= r.count) r.cells.emplace_back();
      r.cells[r.count++] = c;
      if (at_record_end(column)) return true;
      ++pos_;  // the delimiter
      if (whitespace_) {
        while (pos_ < n && is_blank(text_[pos_])) ++pos_;
        if (at_record_end(column)) return true;  // trailing blanks end the row, not a field
      }
    }
  }

 private:
  bool is_pad(char c) const { return !whitespace_ && is_blank(c) && c != delimiter_; }
  bool is_separator(char c) const { return whitespace_ ? is_blank(c) : c == delimiter_; }
  bool ends_field(char c) const { return c == '\n' || c == '\r' || is_separator(c); }

  // At the end of the text or a line: consumes the line end and says true.
  bool at_record_end(std::size_t column) {
    if (pos_ == text_.size()) return true;
    if (text_[pos_] == '\n') {
      ++pos_;
      ++line_;
      return true;
    }
    if (text_[pos_] == '\r') {
      if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') {
        pos_ += 2;
        ++line_;
        return true;
      }
      fail_cell(name_, line_, column, "a carriage return not followed by a line feed");
    }
    return false;
  }

  void check_row_length(std::size_t start, std::size_t column) const {
    if (pos_ - start > options_.max_row_bytes)
      fail_cell(name_, line_, column,
                "the row is longer than " + limit_note(options_.max_row_bytes, "max_row_bytes") +
                    " bytes");
  }

  void read_quoted(Record& r, Cell& c, std::size_t start, std::size_t column) {
    const std::size_t n = text_.size();
    ++pos_;  // the opening quote
    std::size_t segment = pos_;
    const std::size_t scratch_begin = r.scratch.size();
    bool escaped = false;
    for (;;) {
      const void* found = std::memchr(text_.data() + pos_, '"', n - pos_);
      if (!found)
        fail_cell(name_, c.line, column,
                  "a quoted field opens here and is not closed before the end of the file");
      const std::size_t quote =
          static_cast<std::size_t>(static_cast<const char*>(found) - text_.data());
      line_ += static_cast<std::size_t>(
          std::count(text_.begin() + static_cast<std::ptrdiff_t>(pos_),
                     text_.begin() + static_cast<std::ptrdiff_t>(quote), '\n'));
      pos_ = quote;
      check_row_length(start, column);
      if (quote + 1 < n && text_[quote + 1] == '"') {  // "" stands for one quote
        r.scratch.append(text_.data() + segment, quote + 1 - segment);
        escaped = true;
        pos_ = segment = quote + 2;
        continue;
      }
      if (escaped) {
        r.scratch.append(text_.data() + segment, quote - segment);
        c.in_scratch = true;
        c.begin = scratch_begin;
        c.end = r.scratch.size();
      } else {
        c.begin = segment;
        c.end = quote;
      }
      pos_ = quote + 1;
      while (pos_ < n && is_pad(text_[pos_])) ++pos_;
      if (pos_ < n && !ends_field(text_[pos_]))
        fail_cell(name_, line_, column,
                  shown(string_view(&text_[pos_], 1)) + " after the closing quote of a field");
      return;
    }
  }

  string_view text_;
  std::size_t pos_, line_;
  char delimiter_;
  bool whitespace_;
  const std::string& name_;
  const CsvOptions& options_;
};

// ---- one file: its text, header and layout ----

struct TextFile {
  std::string name;
  std::string storage;  // the decompressed text of a gzip file
  string_view text;
  char delimiter = ',';
  std::size_t first_row_line = 1;  // the header's line, or the first data row's
  std::size_t data_pos = 0, data_line = 1;
  std::vector<std::string> header;  // empty without one
  std::size_t columns = 0;
};

// The delimiter the first line (from pos) suggests; see the header comment of csv.hpp.
char detect_delimiter(string_view text, std::size_t pos) {
  std::size_t commas = 0, semicolons = 0, tabs = 0;
  bool quoted = false, inner_blank = false, seen_content = false, pending_blank = false;
  for (std::size_t i = pos; i < text.size() && (quoted || text[i] != '\n'); ++i) {
    const char c = text[i];
    if (c == '"') quoted = !quoted;
    if (quoted) continue;
    if (c == ',') ++commas;
    if (c == ';') ++semicolons;
    if (c == '\t') ++tabs;
    if (is_blank(c)) {
      pending_blank = seen_content;
    } else if (c != '\r') {
      inner_blank = inner_blank || pending_blank;
      seen_content = true;
    }
  }
  if (commas == 0 && semicolons == 0 && tabs == 0) return inner_blank ? ' ' : ',';
  if (commas >= semicolons && commas >= tabs) return ',';
  return semicolons >= tabs ? ';' : '\t';
}

void open_text(TextFile& f, const char* data, std::size_t size, const CsvOptions& options) {
  f.text = prepare_text(data, size, f.name, options, f.storage);
  std::size_t pos = 0, line = 1;
  for (std::size_t i = 0; i < options.skip_rows; ++i) {
    if (pos >= f.text.size())
      fail_cell(f.name, line, 1,
                "CsvOptions::skip_rows is " + std::to_string(options.skip_rows) +
                    " but the file has only " + std::to_string(i) + " lines");
    const std::size_t eol = f.text.find('\n', pos);
    pos = eol == string_view::npos ? f.text.size() : eol + 1;
    ++line;
  }
  f.delimiter = options.delimiter ? options.delimiter : detect_delimiter(f.text, pos);
  Tokenizer tok(f.text, pos, line, f.delimiter, f.name, options);
  Record first;
  if (!tok.next(first))
    fail_cell(f.name, line, 1,
              f.text.empty() ? "empty file" : "no rows (only skipped or blank lines)");
  f.columns = first.count;
  f.first_row_line = first.line;
  bool header = options.header == CsvHeader::yes;
  if (options.header == CsvHeader::auto_detect) {
    Tokenizer peek = tok;
    Record second;
    const bool has_second = peek.next(second);
    for (std::size_t i = 0; i < first.count && !header; ++i) {
      const string_view cell = trimmed(first.text(i, f.text));
      if (cell.empty() || number_like(cell)) continue;
      header = !has_second || (i < second.count && number_like(second.text(i, f.text)));
    }
  }
  if (header) {
    for (std::size_t i = 0; i < first.count; ++i)
      f.header.emplace_back(trimmed(first.text(i, f.text)));
    f.data_pos = tok.pos();
    f.data_line = tok.line();
  } else {
    f.data_pos = pos;
    f.data_line = line;
  }
}

// Calls fn(record) for every data row, after checking its cell count.
template <typename Fn>
std::size_t for_each_row(const TextFile& f, const CsvOptions& options, Fn&& fn) {
  Tokenizer tok(f.text, f.data_pos, f.data_line, f.delimiter, f.name, options);
  Record r;
  std::size_t rows = 0;
  while (tok.next(r)) {
    if (r.count != f.columns)
      fail_cell(f.name, r.line, std::min(r.count, f.columns) + 1,
                "the row has " + std::to_string(r.count) + " fields, expected " +
                    std::to_string(f.columns) + " (as on line " + std::to_string(f.first_row_line) +
                    ")");
    fn(r);
    ++rows;
  }
  if (rows == 0) fail_cell(f.name, f.data_line, 1, "no data rows");
  return rows;
}

std::string column_label(const TextFile& f, std::size_t column, const char* kind) {
  if (f.header.empty()) return std::string(kind) + " column " + std::to_string(column + 1);
  return std::string(kind) + " " + shown(f.header[column]);
}

// ---- targets ----

enum class LabelMode { regression, names, given_names, integers, remapped_integers };

// What the target column holds, from a first pass over it.
struct TargetSurvey {
  bool any_text = false, all_integer_text = true, all_integral = true;
  std::size_t non_integral_line = 0;
  std::string non_integral_text;
  std::set<double> distinct;  // up to max(max_classes, kCsvAutoMaxClasses) + 1 values
};

constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

bool integral(double v) {
  return v == std::floor(v) && std::fabs(v) <= kMaxExactInteger;
}

TargetSurvey survey_target(const TextFile& f, std::size_t column, const CsvOptions& options) {
  TargetSurvey s;
  for_each_row(f, options, [&](const Record& r) {
    const string_view cell = r.text(column, f.text);
    if (s.any_text) return;  // names: nothing more to learn here
    double v = 0;
    bool integer_text = false;
    const Number kind = parse_number(cell, v, &integer_text);
    if (kind == Number::empty)
      fail_cell(f.name, r.cells[column].line, column + 1,
                "empty cell in the target (missing values are not supported)");
    if (kind != Number::ok) {
      s.any_text = true;
      return;
    }
    s.all_integer_text = s.all_integer_text && integer_text;
    if (s.all_integral && !integral(v)) {
      s.all_integral = false;
      s.non_integral_line = r.cells[column].line;
      s.non_integral_text = std::string(trimmed(cell));
    }
    // Enough values to tell both the auto rule and the class limit.
    if (s.distinct.size() <= std::max(options.max_classes, kCsvAutoMaxClasses))
      s.distinct.insert(v);
  });
  return s;
}

LabelMode choose_mode(const TextFile& f, std::size_t column, const CsvOptions& options,
                      TargetSurvey& survey) {
  if (options.task == CsvTask::regression) return LabelMode::regression;
  if (!options.class_names.empty()) return LabelMode::given_names;
  survey = survey_target(f, column, options);
  if (survey.any_text) return LabelMode::names;
  const bool classes = options.task == CsvTask::classification || options.num_classes != 0 ||
                       (survey.all_integer_text && survey.distinct.size() <= kCsvAutoMaxClasses);
  if (!classes) return LabelMode::regression;
  if (!survey.all_integral)
    fail_cell(f.name, survey.non_integral_line, column + 1,
              "class label " + shown(survey.non_integral_text) +
                  " is not an integer (the task is classification)");
  if (survey.distinct.size() > options.max_classes)
    fail_file(f.name, "more than " + std::to_string(options.max_classes) +
                          " distinct classes in the target (" +
                          limit_note(options.max_classes, "max_classes") + ")");
  const double lowest = *survey.distinct.begin(), highest = *survey.distinct.rbegin();
  // Exactly 0..K-1 (or a class count given): labels as they are; otherwise remapped.
  const bool as_they_are =
      options.num_classes != 0 ||
      (lowest == 0 && highest == static_cast<double>(survey.distinct.size() - 1));
  return as_they_are ? LabelMode::integers : LabelMode::remapped_integers;
}

std::string integer_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

// Turns target cells into labels or targets, row by row, in the chosen mode.
class TargetReader {
 public:
  TargetReader(const TextFile& f, LabelMode mode, const TargetSurvey& survey,
               const CsvOptions& options, Dataset& out)
      : f_(f), mode_(mode), options_(options), out_(out) {
    if (mode == LabelMode::given_names) {
      for (std::size_t i = 0; i < options.class_names.size(); ++i)
        index_.emplace(options.class_names[i], static_cast<std::int32_t>(i));
      out.class_names = options.class_names;
    }
    if (mode == LabelMode::remapped_integers) {
      sorted_.assign(survey.distinct.begin(), survey.distinct.end());
      for (const double v : sorted_) out.class_names.push_back(integer_text(v));
    }
  }

  void add(const Record& r, std::size_t column) {
    const string_view cell = r.text(column, f_.text);
    const std::size_t line = r.cells[column].line;
    if (mode_ == LabelMode::regression) {
      out_.targets.push_back(
          finite_value(cell, f_.name, line, column + 1, column_label(f_, column, "target")));
      return;
    }
    const string_view name = trimmed(cell);
    if (name.empty())
      fail_cell(f_.name, line, column + 1,
                "empty cell in the target (missing values are not supported)");
    std::int32_t label = 0;
    if (mode_ == LabelMode::given_names) {
      const auto it = index_.find(std::string(name));
      if (it == index_.end())
        fail_cell(f_.name, line, column + 1,
                  "class " + shown(name) + " is not one of the " +
                      std::to_string(options_.class_names.size()) + " CsvOptions::class_names");
      label = it->second;
    } else if (mode_ == LabelMode::names) {
      const auto it = index_.find(std::string(name));
      if (it != index_.end()) {
        label = it->second;
      } else {
        if (out_.class_names.size() >= options_.max_classes)
          fail_cell(f_.name, line, column + 1,
                    "class " + shown(name) + " is one more than " +
                        limit_note(options_.max_classes, "max_classes") + " classes");
        label = static_cast<std::int32_t>(out_.class_names.size());
        index_.emplace(std::string(name), label);
        out_.class_names.emplace_back(name);
      }
    } else {
      double v = 0;
      parse_number(cell, v);  // the survey checked every cell
      if (mode_ == LabelMode::remapped_integers) {
        label = static_cast<std::int32_t>(std::lower_bound(sorted_.begin(), sorted_.end(), v) -
                                          sorted_.begin());
      } else {
        if (options_.num_classes && (v < 0 || v >= static_cast<double>(options_.num_classes)))
          fail_cell(f_.name, line, column + 1,
                    "class label " + integer_text(v) + " is outside 0.." +
                        std::to_string(options_.num_classes - 1) + " (CsvOptions::num_classes " +
                        std::to_string(options_.num_classes) + ")");
        label = static_cast<std::int32_t>(v);
      }
    }
    out_.labels.push_back(label);
  }

  void finish() {
    if (mode_ == LabelMode::regression) return;
    if (mode_ == LabelMode::integers) {
      std::int32_t highest = 0;
      for (const std::int32_t l : out_.labels) highest = std::max(highest, l);
      out_.num_classes =
          options_.num_classes ? options_.num_classes : static_cast<std::size_t>(highest) + 1;
    } else {
      out_.num_classes = out_.class_names.size();
    }
  }

 private:
  const TextFile& f_;
  LabelMode mode_;
  const CsvOptions& options_;
  Dataset& out_;
  std::unordered_map<std::string, std::int32_t> index_;
  std::vector<double> sorted_;
};

// ---- whole files ----

enum class TargetColumns { none, one, all };

void check_options(const CsvOptions& o) {
  if (o.delimiter == '"' || o.delimiter == '\r' || o.delimiter == '\n')
    throw Error("CsvOptions::delimiter cannot be a quote, CR or LF");
  if (o.max_bytes == 0 || o.max_row_bytes == 0 || o.max_columns == 0 || o.max_classes == 0)
    throw Error("CsvOptions: max_bytes, max_row_bytes, max_columns and max_classes must be > 0");
  if (!o.has_target && (!o.targets_path.empty() || !o.target.empty()))
    throw Error("CsvOptions: has_target is false but target or targets_path is set");
  if (!o.targets_path.empty() && (!o.target.empty() || o.target_index != -1))
    throw Error(
        "CsvOptions: with targets_path every column of the main file is a feature; "
        "leave target and target_index unset");
  if (o.task == CsvTask::regression && (!o.class_names.empty() || o.num_classes != 0))
    throw Error("CsvOptions: class_names or num_classes are given but task is regression");
  if (o.num_classes > o.max_classes)
    throw Error("CsvOptions: num_classes " + std::to_string(o.num_classes) + " exceeds " +
                limit_note(o.max_classes, "max_classes"));
  if (o.class_names.size() > o.max_classes)
    throw Error("CsvOptions: " + std::to_string(o.class_names.size()) + " class_names exceed " +
                limit_note(o.max_classes, "max_classes"));
  if (!o.class_names.empty() && o.num_classes != 0 && o.num_classes != o.class_names.size())
    throw Error("CsvOptions: num_classes " + std::to_string(o.num_classes) + " differs from the " +
                std::to_string(o.class_names.size()) + " class_names");
  std::set<string_view> seen;
  for (const std::string& c : o.class_names)
    if (!seen.insert(c).second) throw Error("CsvOptions::class_names holds " + shown(c) + " twice");
}

std::size_t resolve_target(const TextFile& f, const CsvOptions& o) {
  if (!o.target.empty()) {
    if (f.header.empty())
      fail_cell(f.name, f.first_row_line, 1,
                "CsvOptions::target " + shown(o.target) +
                    " names a column, but the file has no header row (CsvOptions::header)");
    std::size_t found = f.columns;
    for (std::size_t i = 0; i < f.columns; ++i) {
      if (f.header[i] != o.target) continue;
      if (found != f.columns)
        fail_cell(f.name, f.first_row_line, i + 1,
                  "a second column named " + shown(o.target) + " (CsvOptions::target)");
      found = i;
    }
    if (found == f.columns) {
      std::string names;
      for (std::size_t i = 0; i < std::min<std::size_t>(f.columns, 8); ++i)
        names += (i ? ", " : "") + shown(f.header[i]);
      if (f.columns > 8) names += ", ...";
      fail_cell(
          f.name, f.first_row_line, 1,
          "no column is named " + shown(o.target) + " (CsvOptions::target); columns: " + names);
    }
    return found;
  }
  const auto columns = static_cast<std::int64_t>(f.columns);
  const std::int64_t t = o.target_index < 0 ? columns + o.target_index : o.target_index;
  if (t < 0 || t >= columns)
    fail_cell(f.name, f.first_row_line, 1,
              "CsvOptions::target_index " + std::to_string(o.target_index) +
                  " is out of range for " + std::to_string(columns) + " columns");
  return static_cast<std::size_t>(t);
}

// Reads one file's rows: features from every column but the target ones, and the targets.
Dataset read_table(const TextFile& f, TargetColumns targets, const CsvOptions& options) {
  Dataset out;
  out.name = f.name;
  out.num_classes = 0;
  std::size_t target = f.columns;  // TargetColumns::one: its index
  if (targets == TargetColumns::one) {
    target = resolve_target(f, options);
    if (f.columns == 1)
      fail_cell(f.name, f.first_row_line, 1,
                "the only column is the target: no feature columns (CsvOptions::has_target)");
  }
  const bool is_target_column_all = targets == TargetColumns::all;
  const bool classification_asked = options.task == CsvTask::classification ||
                                    !options.class_names.empty() || options.num_classes != 0;
  if (is_target_column_all && f.columns > 1 && classification_asked)
    fail_cell(f.name, f.first_row_line, 2,
              "classification takes one target column, this targets file has " +
                  std::to_string(f.columns));
  // Several target columns are regression targets (auto_detect included).
  TargetSurvey survey;
  LabelMode mode = LabelMode::regression;
  if (targets == TargetColumns::one || (is_target_column_all && f.columns == 1))
    mode = choose_mode(f, targets == TargetColumns::one ? target : 0, options, survey);
  TargetReader reader(f, mode, survey, options, out);

  std::vector<std::string> labels(f.columns);
  for (std::size_t c = 0; c < f.columns; ++c) labels[c] = column_label(f, c, "feature");
  const std::size_t features = is_target_column_all ? 0 : f.columns - (target < f.columns);
  for_each_row(f, options, [&](const Record& r) {
    for (std::size_t c = 0; c < f.columns; ++c) {
      if (is_target_column_all || c == target)
        reader.add(r, c);
      else
        out.values.push_back(
            finite_value(r.text(c, f.text), f.name, r.cells[c].line, c + 1, labels[c]));
    }
  });
  reader.finish();
  if (features) out.sample_shape = {features};
  for (std::size_t c = 0; c < f.header.size(); ++c)
    (is_target_column_all || c == target ? out.target_names : out.feature_names)
        .push_back(f.header[c]);
  if (mode == LabelMode::regression && targets != TargetColumns::none)
    out.target_size = is_target_column_all ? f.columns : 1;
  return out;
}

Dataset parse_one(const char* data, std::size_t size, const std::string& name,
                  const CsvOptions& options) {
  TextFile f;
  f.name = name;
  open_text(f, data, size, options);
  return read_table(f, options.has_target ? TargetColumns::one : TargetColumns::none, options);
}

Dataset join_targets(Dataset features, Dataset targets) {
  const std::size_t rows = features.values.size() / features.sample_shape[0];
  const std::size_t target_rows =
      targets.labels.empty() ? targets.targets.size() / targets.target_size : targets.labels.size();
  if (rows != target_rows)
    fail_file(targets.name, std::to_string(target_rows) + " rows of targets for the " +
                                std::to_string(rows) + " rows of " + features.name);
  features.labels = std::move(targets.labels);
  features.num_classes = targets.num_classes;
  features.class_names = std::move(targets.class_names);
  features.targets = std::move(targets.targets);
  features.target_size = targets.target_size;
  features.target_names = std::move(targets.target_names);
  return features;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

std::string read_file(const std::string& path, std::uint64_t max_bytes) {
  const detail::RegularFile file = detail::open_regular_file(path, "", "a CSV file");
  const std::unique_ptr<std::FILE, FileCloser> f(::fdopen(file.fd, "rb"));
  if (!f) {
    ::close(file.fd);
    fail_file(path, std::string("cannot open: ") + std::strerror(errno));
  }
  const std::uint64_t size = file.size;
  if (size > max_bytes)
    fail_file(path, std::to_string(size) + " bytes exceed " + limit_note(max_bytes, "max_bytes") +
                        " bytes");
  std::string data(static_cast<std::size_t>(size), '\0');
  if (size && std::fread(&data[0], 1, data.size(), f.get()) != data.size())
    fail_file(path, std::string("read error: ") +
                        (std::ferror(f.get()) ? std::strerror(errno) : "the file shrank"));
  return data;
}

}  // namespace

Dataset parse_csv(const char* data, std::size_t size, const std::string& name,
                  const CsvOptions& options) {
  check_options(options);
  if (!options.targets_path.empty())
    throw Error(name +
                ": CsvOptions::targets_path is for read_csv; parse_csv_with_targets "
                "takes the targets' bytes");
  return parse_one(data, size, name, options);
}

Dataset parse_csv_with_targets(const char* data, std::size_t size, const std::string& name,
                               const char* targets_data, std::size_t targets_size,
                               const std::string& targets_name, const CsvOptions& options) {
  check_options(options);
  if (!options.has_target) throw Error("CsvOptions: has_target is false but targets are given");
  if (!options.target.empty() || options.target_index != -1)
    throw Error(
        "CsvOptions: with a targets file every column of the main file is a feature; "
        "leave target and target_index unset");
  TextFile f;
  f.name = name;
  open_text(f, data, size, options);
  Dataset features = read_table(f, TargetColumns::none, options);
  f = TextFile{};  // the features' text is no longer needed
  TextFile t;
  t.name = targets_name;
  open_text(t, targets_data, targets_size, options);
  return join_targets(std::move(features), read_table(t, TargetColumns::all, options));
}

Dataset read_csv(const std::string& path, const CsvOptions& options) {
  check_options(options);
  const std::string data = read_file(path, options.max_bytes);
  if (options.targets_path.empty()) return parse_one(data.data(), data.size(), path, options);
  const std::string targets = read_file(options.targets_path, options.max_bytes);
  return parse_csv_with_targets(data.data(), data.size(), path, targets.data(), targets.size(),
                                options.targets_path, [&] {
                                  CsvOptions o = options;
                                  o.targets_path.clear();
                                  return o;
                                }());
}

}  // namespace tg
