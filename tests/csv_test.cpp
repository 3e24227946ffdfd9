// The CSV reader (data/csv.hpp): every option, every error with its line and column, quoted
// fields, gzip, targets in a second file, and scikit-learn's real breast_cancer and diabetes
// files.
#include "tapegrad/data/csv.hpp"

#include "test_util.hpp"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace tg;
using test::TempDir;

namespace {

Dataset parse(const std::string& text, const CsvOptions& options = {}) {
  return parse_csv(text.data(), text.size(), "t.csv", options);
}

// The message of the tg::Error that parsing `text` throws; "(no error)" if it parses.
std::string error(const std::string& text, const CsvOptions& options = {}) {
  return test::error_of([&] { parse(text, options); });
}

// Expects parsing to fail with "t.csv: line L, column C: ..." mentioning `what`, on one line.
void expect_cell_error(const std::string& text, const CsvOptions& options, std::size_t line,
                       std::size_t column, const std::string& what) {
  const std::string msg = error(text, options);
  const std::string where =
      "t.csv: line " + std::to_string(line) + ", column " + std::to_string(column) + ": ";
  EXPECT_EQ(msg.rfind(where, 0), 0u) << "message: " << msg << "\nexpected start: " << where;
  EXPECT_NE(msg.find(what), std::string::npos) << "message: " << msg << "\nmissing: " << what;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

// gzip (RFC 1952) bytes of `text`, written with zlib.
std::string gzip(const std::string& text) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, text.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

const std::string kIris =  // a header, text classes, 3 features
    "sepal length,sepal width,petal length,species\n"
    "5.1,3.5,1.4,setosa\n"
    "7.0,3.2,4.7,versicolor\n"
    "4.9,3.0,1.4,setosa\n"
    "6.3,3.3,6.0,virginica\n";

}  // namespace

// ---- results ----

TEST(Csv, ReadsFeaturesHeaderAndTextClassesInOrderOfFirstAppearance) {
  const Dataset d = parse(kIris);
  EXPECT_EQ(d.name, "t.csv");
  EXPECT_EQ(d.sample_shape, Shape({3}));
  EXPECT_EQ(d.values, std::vector<float>({5.1f, 3.5f, 1.4f, 7.0f, 3.2f, 4.7f, 4.9f, 3.0f, 1.4f,
                                          6.3f, 3.3f, 6.0f}));
  EXPECT_EQ(d.labels, std::vector<std::int32_t>({0, 1, 0, 2}));
  EXPECT_EQ(d.num_classes, 3u);
  EXPECT_EQ(d.class_names, std::vector<std::string>({"setosa", "versicolor", "virginica"}));
  EXPECT_EQ(d.feature_names,
            std::vector<std::string>({"sepal length", "sepal width", "petal length"}));
  EXPECT_EQ(d.target_names, std::vector<std::string>({"species"}));
  EXPECT_TRUE(d.targets.empty());
}

TEST(Csv, NumbersAreReadAsDoubleThenRoundedToFloat) {
  // 0.1 + 2^-28 lies between two floats; strtod to double then float gives what numpy's
  // loadtxt followed by astype(float32) gives.
  const Dataset d = parse("x,y\n 1e-3 ,+2.5E2\n-.5,7.\n0.30000001192092896,1e-320\n", [] {
    CsvOptions o;
    o.has_target = false;
    return o;
  }());
  ASSERT_EQ(d.values.size(), 6u);
  EXPECT_EQ(d.values[0], static_cast<float>(std::strtod("1e-3", nullptr)));
  EXPECT_EQ(d.values[1], 250.0f);
  EXPECT_EQ(d.values[2], -0.5f);
  EXPECT_EQ(d.values[3], 7.0f);
  EXPECT_EQ(d.values[4], static_cast<float>(std::strtod("0.30000001192092896", nullptr)));
  EXPECT_EQ(d.values[5], 0.0f);  // a double subnormal is a float 0, not an error
}

TEST(Csv, WithoutTargetEveryColumnIsAFeature) {
  CsvOptions o;
  o.has_target = false;
  const Dataset d = parse("1,2,3\n4,5,6\n", o);
  EXPECT_EQ(d.sample_shape, Shape({3}));
  EXPECT_EQ(d.values, std::vector<float>({1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(d.labels.empty());
  EXPECT_TRUE(d.targets.empty());
  EXPECT_TRUE(d.feature_names.empty());
  EXPECT_EQ(d.num_classes, 0u);
  // Text in any column is then a feature that is not a number.
  expect_cell_error(kIris, o, 2, 4, "'setosa' in feature 'species' is not a number");
}

// ---- header ----

TEST(Csv, HeaderAutoDetection) {
  // All numbers: no header, and no names.
  Dataset d = parse("1,2,0\n3,4,1\n");
  EXPECT_EQ(d.values, std::vector<float>({1, 2, 3, 4}));
  EXPECT_TRUE(d.feature_names.empty());
  // A text target column ("setosa" above "setosa") is data, not a header.
  d = parse("5.1,3.5,setosa\n4.9,3.0,virginica\n");
  EXPECT_EQ(d.labels, std::vector<std::int32_t>({0, 1}));
  EXPECT_EQ(d.values.size(), 4u);
  // Names over numbers are a header; an empty name (an index column's) alone is not evidence.
  d = parse(",a,b\n1,2,3\n");
  EXPECT_EQ(d.feature_names, std::vector<std::string>({"", "a"}));
  EXPECT_EQ(d.size(), 1u);
  // nan and inf are numbers to the detection (and then refused as features).
  expect_cell_error("nan,2,3\n1,2,3\n", {}, 1, 1, "NaN in feature column 1");
}

TEST(Csv, HeaderYesAndNoOverrideTheDetection) {
  CsvOptions yes;
  yes.header = CsvHeader::yes;
  const Dataset d = parse("10,20,30\n1,2,0\n", yes);
  EXPECT_EQ(d.feature_names, std::vector<std::string>({"10", "20"}));
  EXPECT_EQ(d.target_names, std::vector<std::string>({"30"}));
  EXPECT_EQ(d.values, std::vector<float>({1, 2}));
  CsvOptions no;
  no.header = CsvHeader::no;
  expect_cell_error(kIris, no, 1, 1, "'sepal length' in feature column 1 is not a number");
}

TEST(Csv, SkipRowsSkipsMetadataLinesWhateverTheyHold) {
  CsvOptions o;
  o.skip_rows = 2;
  const Dataset d = parse("569,30,\"malignant\n# anything \"\" at all\n1,2,0\n3,4,1\n", o);
  EXPECT_EQ(d.values, std::vector<float>({1, 2, 3, 4}));
  EXPECT_EQ(d.labels, std::vector<std::int32_t>({0, 1}));
  // Lines keep their numbers in messages.
  expect_cell_error(
      "meta\n1,2,0\n3,x,1\n",
      [] {
        CsvOptions s;
        s.skip_rows = 1;
        return s;
      }(),
      3, 2, "'x' in feature column 2 is not a number");
  o.skip_rows = 5;
  expect_cell_error("a\nb\n", o, 3, 1, "CsvOptions::skip_rows is 5 but the file has only 2 lines");
  o.skip_rows = 2;
  expect_cell_error("a\nb\n", o, 3, 1, "no rows (only skipped or blank lines)");
}

// ---- delimiters ----

TEST(Csv, DelimiterDetection) {
  EXPECT_EQ(parse("1;2;0\n3;4;1\n").values, std::vector<float>({1, 2, 3, 4}));
  EXPECT_EQ(parse("1\t2\t0\n3\t4\t1\n").values, std::vector<float>({1, 2, 3, 4}));
  // Runs of spaces and tabs, leading and trailing ones ignored (diabetes_data_raw's layout).
  EXPECT_EQ(parse("  1  2   0 \n3\t4 1\n").values, std::vector<float>({1, 2, 3, 4}));
  // The most frequent of , ; tab wins; commas inside quotes do not count.
  EXPECT_EQ(parse("\"x,y\";a;b\n1;2;0\n3;4;1\n").feature_names,
            std::vector<std::string>({"x,y", "a"}));
  // One column: no delimiter at all.
  CsvOptions none;
  none.has_target = false;
  EXPECT_EQ(parse("1.5\n2.5\n", none).values, std::vector<float>({1.5f, 2.5f}));
}

TEST(Csv, ExplicitDelimiter) {
  CsvOptions o;
  o.delimiter = '|';
  EXPECT_EQ(parse("a|b|c\n1.5|2|0\n", o).feature_names, std::vector<std::string>({"a", "b"}));
  expect_cell_error("a|b|c\n1,5|2|0\n", o, 2, 1, "'1,5' in feature 'a' is not a number");
  o.delimiter = '\t';  // a tab delimiter: spaces around fields are still dropped
  EXPECT_EQ(parse(" 1 \t 2 \t0\n", o).values, std::vector<float>({1, 2}));
  o.delimiter = ' ';
  EXPECT_EQ(parse("1\t2  3\n", o).values, std::vector<float>({1, 2}));
}

TEST(Csv, AWhitespaceDelimitedRowWithADifferentFieldCountIsAnError) {
  CsvOptions o;
  o.delimiter = ' ';
  expect_cell_error("1 2 3\n4  5\n", o, 2, 3, "the row has 2 fields, expected 3 (as on line 1)");
}

// ---- the target column ----

TEST(Csv, TargetByNameByIndexAndFromTheEnd) {
  CsvOptions o;
  o.target = "b";
  o.task = CsvTask::regression;
  Dataset d = parse("a,b,c\n1,2,3\n4,5,6\n", o);
  EXPECT_EQ(d.targets, std::vector<float>({2, 5}));
  EXPECT_EQ(d.target_size, 1u);
  EXPECT_EQ(d.target_names, std::vector<std::string>({"b"}));
  EXPECT_EQ(d.feature_names, std::vector<std::string>({"a", "c"}));
  EXPECT_EQ(d.values, std::vector<float>({1, 3, 4, 6}));
  // The other columns are features, text ones too (and then refused).
  o.target = "sepal width";
  expect_cell_error(kIris, o, 2, 4, "'setosa' in feature 'species' is not a number");

  o = CsvOptions();
  o.target_index = 0;
  d = parse("1,1.5,2.5\n0,3.5,4.5\n", o);
  EXPECT_EQ(d.labels, std::vector<std::int32_t>({1, 0}));
  EXPECT_EQ(d.values, std::vector<float>({1.5f, 2.5f, 3.5f, 4.5f}));
  o.target_index = -2;
  d = parse("1.5,1,2.5\n3.5,0,4.5\n", o);
  EXPECT_EQ(d.labels, std::vector<std::int32_t>({1, 0}));
  EXPECT_EQ(d.values, std::vector<float>({1.5f, 2.5f, 3.5f, 4.5f}));
}

TEST(Csv, TargetErrorsNameTheHeaderLine) {
  CsvOptions o;
  o.target = "colour";
  expect_cell_error(kIris, o, 1, 1,
                    "no column is named 'colour' (CsvOptions::target); columns: 'sepal length'");
  expect_cell_error("1,2\n3,4\n", o, 1, 1, "names a column, but the file has no header row");
  o.target = "a";
  expect_cell_error("a,b,a\n1,2,3\n", o, 1, 3, "a second column named 'a'");
  o = CsvOptions();
  o.target_index = 3;
  expect_cell_error("1,2,3\n", o, 1, 1, "CsvOptions::target_index 3 is out of range for 3 columns");
  o.target_index = -4;
  expect_cell_error("1,2,3\n", o, 1, 1, "target_index -4 is out of range for 3 columns");
  expect_cell_error("x\n1\n2\n", {}, 1, 1, "the only column is the target: no feature columns");
}

// ---- classification or regression ----

TEST(Csv, TaskAutoDetection) {
  // Integers written as integers, at most 20 distinct: classes, used as they are (0..K-1).
  Dataset d = parse("0.5,2\n1.5,0\n2.5,2\n3.5,1\n");
  EXPECT_EQ(d.labels, std::vector<std::int32_t>({2, 0, 2, 1}));
  EXPECT_EQ(d.num_classes, 3u);
  EXPECT_TRUE(d.class_names.empty());
  // A decimal point or an exponent makes them regression targets.
  d = parse("0.5,2.0\n1.5,0\n");
  EXPECT_EQ(d.targets, std::vector<float>({2, 0}));
  d = parse("0.5,1.51e+02\n1.5,75\n");
  EXPECT_EQ(d.targets, std::vector<float>({151, 75}));
  // 21 distinct integers: regression; 20: classes.
  std::string many, twenty;
  for (int i = 0; i < 21; ++i) many += "1," + std::to_string(i) + "\n";
  for (int i = 0; i < 20; ++i) twenty += "1," + std::to_string(i) + "\n";
  EXPECT_TRUE(parse(many).is_regression());
  EXPECT_EQ(parse(twenty).num_classes, 20u);
}

TEST(Csv, ForcedClassificationAndRegression) {
  CsvOptions c;
  c.task = CsvTask::classification;
  // Integral values ("2.0") are labels; 30 distinct ones too.
  std::string text = "1,2.0\n1,0\n";
  for (int i = 1; i < 30; ++i) text += "1," + std::to_string(i) + "\n";
  const Dataset d = parse(text, c);
  EXPECT_EQ(d.labels[0], 2);
  EXPECT_EQ(d.num_classes, 30u);
  expect_cell_error("1,2\n1,0\n1,0.5\n", c, 3, 2,
                    "class label '0.5' is not an integer (the task is classification)");
  CsvOptions r;
  r.task = CsvTask::regression;
  expect_cell_error(kIris, r, 2, 4, "'setosa' in target 'species' is not a number");
  EXPECT_EQ(parse("1,2\n3,4\n", r).targets, std::vector<float>({2, 4}));
}

TEST(Csv, IntegerLabelsOtherThan0ToKMinus1AreRemappedInIncreasingOrder) {
  Dataset d = parse("1,1\n2,-1\n3,1\n4,5\n");
  EXPECT_EQ(d.labels, std::vector<std::int32_t>({1, 0, 1, 2}));
  EXPECT_EQ(d.num_classes, 3u);
  EXPECT_EQ(d.class_names, std::vector<std::string>({"-1", "1", "5"}));
  d = parse("1,3\n2,1\n3,2\n");  // 1-based
  EXPECT_EQ(d.labels, std::vector<std::int32_t>({2, 0, 1}));
  EXPECT_EQ(d.class_names, std::vector<std::string>({"1", "2", "3"}));
  d = parse("1,0\n2,2\n");  // a gap
  EXPECT_EQ(d.labels, std::vector<std::int32_t>({0, 1}));
  EXPECT_EQ(d.class_names, std::vector<std::string>({"0", "2"}));
  // A small class limit refuses them rather than changing their meaning.
  CsvOptions o;
  o.max_classes = 2;
  EXPECT_EQ(error("1,0\n2,1\n3,7\n", o),
            "t.csv: more than 2 distinct classes in the target (the limit of 2 "
            "(CsvOptions::max_classes))");
}

TEST(Csv, NumClassesAndClassNamesOptions) {
  CsvOptions o;
  o.num_classes = 10;  // a test file that lacks some classes: labels as they are
  Dataset d = parse("1,2\n1,0\n", o);
  EXPECT_EQ(d.labels, std::vector<std::int32_t>({2, 0}));
  EXPECT_EQ(d.num_classes, 10u);
  EXPECT_EQ(parse("1,2.0\n1,0\n", o).labels, std::vector<std::int32_t>({2, 0}));  // not regression
  o.num_classes = 2;
  expect_cell_error("1,1\n1,0\n1,2\n", o, 3, 2,
                    "class label 2 is outside 0..1 (CsvOptions::num_classes 2)");
  expect_cell_error("1,1\n1,-1\n", o, 2, 2, "class label -1 is outside 0..1");
  expect_cell_error("1,1\n1,1e300\n", o, 2, 2, "class label '1e300' is not an integer");
  // class_names fixes the mapping (e.g. the training file's), also for numbers as text.
  o = CsvOptions();
  o.class_names = {"virginica", "setosa", "versicolor"};
  d = parse(kIris, o);
  EXPECT_EQ(d.labels, std::vector<std::int32_t>({1, 2, 1, 0}));
  EXPECT_EQ(d.class_names, o.class_names);
  EXPECT_EQ(d.num_classes, 3u);
  o.class_names = {"setosa", "versicolor"};
  expect_cell_error(kIris, o, 5, 4,
                    "class 'virginica' is not one of the 2 CsvOptions::class_names");
  o.class_names = {"-1", "1"};
  EXPECT_EQ(parse("5,1\n6,-1\n", o).labels, std::vector<std::int32_t>({1, 0}));
}

TEST(Csv, ClassCountLimit) {
  CsvOptions o;
  o.max_classes = 2;
  expect_cell_error("1,a\n2,b\n3,a\n4,c\n", o, 4, 2, "class 'c' is one more than the limit of 2");
  o.task = CsvTask::classification;
  EXPECT_EQ(error("1,5\n2,6\n3,7\n", o),
            "t.csv: more than 2 distinct classes in the target (the limit of 2 "
            "(CsvOptions::max_classes))");
}

// ---- the format ----

TEST(Csv, QuotedFieldsPerRfc4180) {
  const std::string text =
      "\"a, quoted\",\"b \"\"x\"\"\",class\n"
      "\"1.5\",2,\"one, two\"\n"
      "3,4,\"multi\nline\"\n"
      "5,6,\"say \"\"hi\"\"\"\n"
      "7,x,\"z\"\n";
  CsvOptions o;
  const std::string msg = error(text, o);
  // Line 6 (the multi-line field counts twice), column 2.
  EXPECT_EQ(msg, "t.csv: line 6, column 2: 'x' in feature 'b \"x\"' is not a number");
  const Dataset d = parse(text.substr(0, text.rfind("7,x")), o);
  EXPECT_EQ(d.feature_names, std::vector<std::string>({"a, quoted", "b \"x\""}));
  EXPECT_EQ(d.class_names, std::vector<std::string>({"one, two", "multi\nline", "say \"hi\""}));
  EXPECT_EQ(d.values, std::vector<float>({1.5f, 2, 3, 4, 5, 6}));
  // An empty quoted target is an empty cell.
  expect_cell_error("1,\"a\"\n2,\"\"\n", o, 2, 2, "empty cell in the target");
}

TEST(Csv, QuoteErrors) {
  expect_cell_error("1,2,0\n3,4\"5,1\n", {}, 2, 2, "a quote inside an unquoted field");
  expect_cell_error("1,2,0\n3,\"4\"5,1\n", {}, 2, 2, "'5' after the closing quote of a field");
  expect_cell_error("1,2,0\n3,4,1\n5,\"6,0\n7,8,1\n", {}, 3, 2,
                    "a quoted field opens here and is not closed before the end of the file");
}

TEST(Csv, LineEndsBomAndBlankLines) {
  const std::vector<float> expected({1, 2, 3, 4});
  EXPECT_EQ(parse("a,b,c\r\n1,2,0\r\n3,4,1\r\n").values, expected);
  EXPECT_EQ(parse("a,b,c\n1,2,0\n3,4,1").values, expected);  // no final line end
  EXPECT_EQ(parse("a,b,c\n1,2,0\n3,4,1\n\n \r\n\n").values, expected);
  EXPECT_EQ(parse("\xEF\xBB\xBF"
                  "a,b,c\n1,2,0\n3,4,1\n")
                .feature_names,
            std::vector<std::string>({"a", "b"}));
  expect_cell_error("a,b,c\n1,2,0\n\n3,4,1\n", {}, 3, 1, "blank line inside the data");
  expect_cell_error("a,b,c\n1,2,0\r3,4,1\n", {}, 2, 3,
                    "a carriage return not followed by a line feed");
}

// ---- errors in cells and rows ----

TEST(Csv, BadFeatureCellsAreNamedByLineAndColumn) {
  const std::string head = "a,b,c\n1,2,0\n";
  expect_cell_error(head + "3,,1\n", {}, 3, 2,
                    "empty cell in feature 'b' (missing values are not supported)");
  expect_cell_error(head + "3,NaN,1\n", {}, 3, 2, "NaN in feature 'b' (values must be finite)");
  expect_cell_error(head + "-inf,4,1\n", {}, 3, 1, "infinity '-inf' in feature 'a'");
  expect_cell_error(head + "3,Infinity,1\n", {}, 3, 2, "infinity 'Infinity' in feature 'b'");
  expect_cell_error(head + "3,4x,1\n", {}, 3, 2, "'4x' in feature 'b' is not a number");
  expect_cell_error(head + "3,0x10,1\n", {}, 3, 2, "'0x10' in feature 'b' is not a number");
  expect_cell_error(head + "1e999,4,1\n", {}, 3, 1, "'1e999' in feature 'a' is out of the double");
  expect_cell_error(head + "3,1e39,1\n", {}, 3, 2, "'1e39' in feature 'b' is out of the float");
  expect_cell_error(head + "3,\x01\xff,1\n", {}, 3, 2, "'\\x01\\xFF' in feature 'b'");
  expect_cell_error(head + "3,4,\n", {}, 3, 3, "empty cell in the target");
  CsvOptions r;
  r.task = CsvTask::regression;
  expect_cell_error(head + "3,4,nan\n", r, 3, 3, "NaN in target 'c'");
}

TEST(Csv, RowsWithTheWrongFieldCount) {
  expect_cell_error("a,b,c\n1,2,0\n3,4\n", {}, 3, 3,
                    "the row has 2 fields, expected 3 (as on line 1)");
  expect_cell_error("a,b,c\n1,2,0\n3,4,1,5\n", {}, 3, 4,
                    "the row has 4 fields, expected 3 (as on line 1)");
  expect_cell_error("a,b,c\n1,2,0,\n", {}, 2, 4, "the row has 4 fields");  // a trailing comma
}

TEST(Csv, EmptyInputs) {
  expect_cell_error("", {}, 1, 1, "empty file");
  expect_cell_error("\n\n", {}, 1, 1, "no rows (only skipped or blank lines)");
  expect_cell_error("a,b,c\n", {}, 2, 1, "no data rows");
}

TEST(Csv, LimitsAreCheckedBeforeLargeAllocations) {
  CsvOptions o;
  o.max_columns = 4;
  expect_cell_error("1,2,3,4,5\n", o, 1, 5,
                    "more than the limit of 4 (CsvOptions::max_columns) columns");
  o = CsvOptions();
  o.max_row_bytes = 16;
  EXPECT_EQ(parse("1,2,3\n4,5,6\n", o).size(), 2u);
  expect_cell_error("1,2,3\n4,5,6666666666666666\n", o, 2, 3, "the row is longer than");
  expect_cell_error("1,2,3\n4,\"5\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\",6\n", o, 18, 2,
                    "the row is longer than the limit of 16 (CsvOptions::max_row_bytes)");
  o = CsvOptions();
  o.max_bytes = 10;
  EXPECT_EQ(error("1,2,3\n4,5,6\n", o),
            "t.csv: 12 bytes exceed the limit of 10 (CsvOptions::max_bytes) bytes");
}

TEST(Csv, InvalidOptionsAreRefused) {
  const auto refused = [](const CsvOptions& o, const std::string& what) {
    test::expect_error([&] { parse("1,2\n", o); }, {what});
  };
  CsvOptions o;
  o.delimiter = '"';
  refused(o, "CsvOptions::delimiter cannot be a quote");
  o = CsvOptions();
  o.max_columns = 0;
  refused(o, "must be > 0");
  o = CsvOptions();
  o.has_target = false;
  o.target = "y";
  refused(o, "has_target is false but target");
  o = CsvOptions();
  o.targets_path = "y.csv";
  refused(o, "targets_path is for read_csv");
  o = CsvOptions();
  o.task = CsvTask::regression;
  o.class_names = {"a"};
  refused(o, "class_names or num_classes are given but task is regression");
  o = CsvOptions();
  o.num_classes = 5;
  o.max_classes = 4;
  refused(o, "num_classes 5 exceeds the limit of 4");
  o = CsvOptions();
  o.class_names = {"a", "b", "a"};
  refused(o, "class_names holds 'a' twice");
  o.class_names = {"a", "b"};
  o.num_classes = 3;
  refused(o, "num_classes 3 differs from the 2 class_names");
}

// ---- gzip and files ----

TEST(Csv, GzipIsDetectedByItsMagicAndReadsAsThePlainText) {
  TempDir dir;
  write_text(dir / "iris.data", gzip(kIris));  // no .gz in the name
  write_text(dir / "iris.csv", kIris);
  const Dataset z = read_csv(dir / "iris.data"), p = read_csv(dir / "iris.csv");
  EXPECT_EQ(z.values, p.values);
  EXPECT_EQ(z.labels, p.labels);
  EXPECT_EQ(z.class_names, p.class_names);
  EXPECT_EQ(z.feature_names, p.feature_names);
  EXPECT_EQ(z.name, dir / "iris.data");
  // Two gzip members (as `cat a.gz b.gz`) are one text.
  const std::string two = gzip(kIris.substr(0, 60)) + gzip(kIris.substr(60));
  EXPECT_EQ(parse(two).values, p.values);
  // Lines in messages are those of the decompressed text.
  const std::string msg = error(gzip(kIris + "1,2,3,setosa,4\n"));
  EXPECT_EQ(msg.rfind("t.csv: line 6, column 5: the row has 5 fields", 0), 0u) << msg;
}

TEST(Csv, TruncatedOrCorruptedGzipIsRefused) {
  const std::string z = gzip(kIris);
  // Cut inside the deflate data, and cut inside the 8-byte CRC/length trailer.
  for (const std::size_t keep : {z.size() / 2, z.size() - 3}) {
    const std::string msg = error(z.substr(0, keep));
    EXPECT_EQ(msg.rfind("t.csv: gzip: the stream is truncated after " + std::to_string(keep) +
                            " compressed bytes",
                        0),
              0u)
        << msg;
  }
  std::string bad_crc = z;
  bad_crc[bad_crc.size() - 8] ^= 1;
  EXPECT_EQ(error(bad_crc).rfind("t.csv: gzip: corrupt data near compressed byte", 0), 0u);
  EXPECT_NE(error(bad_crc).find("incorrect data check"), std::string::npos) << error(bad_crc);
  std::string bad_length = z;
  bad_length[bad_length.size() - 1] ^= 1;
  EXPECT_NE(error(bad_length).find("incorrect length check"), std::string::npos);
  EXPECT_EQ(error(z + "xy"),
            "t.csv: gzip: 2 bytes after the end of the gzip stream (compressed "
            "byte " +
                std::to_string(z.size()) + ")");
  EXPECT_EQ(error(std::string("\x1f\x8b", 2)).rfind("t.csv: gzip: ", 0), 0u);
}

TEST(Csv, AGzipBombStopsAtTheTextLimit) {
  const std::string z = gzip("1,2,3\n" + std::string(1 << 20, '\n'));
  CsvOptions o;
  o.max_bytes = 1 << 16;
  EXPECT_LT(z.size(), o.max_bytes);
  EXPECT_EQ(error(z, o),
            "t.csv: gzip: the decompressed text exceeds the limit of 65536 "
            "(CsvOptions::max_bytes) bytes");
}

TEST(Csv, FileErrors) {
  TempDir dir;
  test::expect_error([&] { read_csv(dir / "missing.csv"); }, {dir / "missing.csv", "cannot open"});
  test::expect_error([&] { read_csv(dir.str()); }, {dir.str(), "not a regular file"});
  write_text(dir / "big.csv", "1,2,3\n4,5,6\n");
  CsvOptions o;
  o.max_bytes = 5;
  EXPECT_EQ(test::error_of([&] { read_csv(dir / "big.csv", o); }),
            dir / "big.csv" + ": 12 bytes exceed the limit of 5 (CsvOptions::max_bytes) bytes");
}

TEST(Csv, TargetsFromASeparateFile) {
  TempDir dir;
  write_text(dir / "x.csv", "age sex\n59 2\n48 1\n72 2\n");
  write_text(dir / "y.csv.gz", gzip("1.510000000000000000e+02\n7.5e+01\n141\n"));
  CsvOptions o;
  o.targets_path = dir / "y.csv.gz";
  Dataset d = read_csv(dir / "x.csv", o);
  EXPECT_EQ(d.name, dir / "x.csv");
  EXPECT_EQ(d.values, std::vector<float>({59, 2, 48, 1, 72, 2}));
  EXPECT_EQ(d.feature_names, std::vector<std::string>({"age", "sex"}));
  EXPECT_EQ(d.targets, std::vector<float>({151, 75, 141}));
  EXPECT_EQ(d.target_size, 1u);
  EXPECT_TRUE(d.labels.empty());
  // Several target columns are a multi-output regression.
  const std::string x = "1,2\n3,4\n", y = "a,b\n0.5,1.5\n2.5,3.5\n";
  d = parse_csv_with_targets(x.data(), x.size(), "x.csv", y.data(), y.size(), "y.csv");
  EXPECT_EQ(d.target_size, 2u);
  EXPECT_EQ(d.targets, std::vector<float>({0.5f, 1.5f, 2.5f, 3.5f}));
  EXPECT_EQ(d.target_names, std::vector<std::string>({"a", "b"}));
  // One column of names: classes.
  const std::string names = "cat\ndog\n";
  d = parse_csv_with_targets(x.data(), x.size(), "x.csv", names.data(), names.size(), "y.csv");
  EXPECT_EQ(d.labels, std::vector<std::int32_t>({0, 1}));
  EXPECT_EQ(d.class_names, std::vector<std::string>({"cat", "dog"}));
  // Errors.
  const std::string short_y = "1\n";
  EXPECT_EQ(test::error_of([&] {
              parse_csv_with_targets(x.data(), x.size(), "x.csv", short_y.data(), short_y.size(),
                                     "y.csv");
            }),
            "y.csv: 1 rows of targets for the 2 rows of x.csv");
  CsvOptions c;
  c.task = CsvTask::classification;
  EXPECT_EQ(test::error_of([&] {
              parse_csv_with_targets(x.data(), x.size(), "x.csv", y.data(), y.size(), "y.csv", c);
            }),
            "y.csv: line 1, column 2: classification takes one target column, this targets "
            "file has 2");
  const std::string bad_y = "1\n2,3\n";
  EXPECT_EQ(test::error_of([&] {
              CsvOptions r;
              r.task = CsvTask::regression;
              parse_csv_with_targets(x.data(), x.size(), "x.csv", bad_y.data(), bad_y.size(),
                                     "y.csv", r);
            }),
            "y.csv: line 2, column 2: the row has 2 fields, expected 1 (as on line 1)");
  o.target_index = 0;
  test::expect_error([&] { read_csv(dir / "x.csv", o); }, {"leave target and target_index unset"});
}

// A seeded stream of mutations of valid files (plain and gzip): each parses or is refused with a
// one-line tg::Error; nothing else. The fuzz target (fuzz/csv_fuzz.cpp) does this at length.
TEST(Csv, MutatedInputsParseOrFailWithOneLineErrors) {
  const std::string seeds[] = {kIris, "1 2 0\n3 4 1\n", "\"a,b\",c\r\n\"1\"\"\",2\r\n",
                               gzip("1,2,0\n3,4,1\n")};
  Rng rng(7);
  const char alphabet[] = ",;\t \"\r\n0123456789.-+eEnaif\x1f\x8b";
  std::size_t parsed = 0, refused = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string text = seeds[rng.below(4)];
    const std::size_t edits = 1 + rng.below(4);
    for (std::size_t e = 0; e < edits && !text.empty(); ++e) {
      const std::size_t at = rng.below(text.size());
      const char c = alphabet[rng.below(sizeof alphabet - 1)];
      switch (rng.below(3)) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          text.erase(at, 1);
      }
    }
    CsvOptions o;
    o.has_target = rng.below(4) != 0;
    o.max_bytes = 1 << 16;
    try {
      const Dataset d = parse(text, o);
      ++parsed;
      ASSERT_FALSE(d.sample_shape.empty());
      EXPECT_EQ(d.values.size() % d.sample_shape[0], 0u);
      for (const std::int32_t l : d.labels) ASSERT_LT(static_cast<std::size_t>(l), d.num_classes);
    } catch (const Error& e) {
      ++refused;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(parsed, 100u);  // the mutations exercise both outcomes
  EXPECT_GT(refused, 100u);
}

// ---- scikit-learn's real files ----

namespace {

const std::string kSklearnData = "/usr/lib/python3/dist-packages/sklearn/datasets/data";

// Line `index` (0-based) of a plain text file, split at `delimiter` (' ': runs of blanks) and
// read with strtod: an independent reading of the file to check the reader against.
std::vector<double> line_values(const std::string& text, std::size_t index, char delimiter) {
  std::istringstream in(text);
  std::string line;
  for (std::size_t i = 0; i <= index; ++i) std::getline(in, line);
  std::vector<double> out;
  const char* p = line.c_str();
  char* end = nullptr;
  for (;;) {
    while (*p == delimiter || (delimiter == ' ' && *p == '\t')) ++p;
    if (!*p) break;
    out.push_back(std::strtod(p, &end));
    if (end == p) break;
    p = end;
  }
  return out;
}

std::string gunzip_file(const std::string& path) {
  gzFile g = gzopen(path.c_str(), "rb");
  std::string out;
  char buf[1 << 14];
  int n;
  while (g && (n = gzread(g, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  if (g) gzclose(g);
  return out;
}

}  // namespace

TEST(Csv, SklearnBreastCancer) {
  const std::string path = kSklearnData + "/breast_cancer.csv";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing (python3-sklearn)";
  // Line 1 ("569,30,malignant,benign") is metadata: without skip_rows it reads as a 4-column
  // header that the data rows do not match.
  EXPECT_EQ(test::error_of([&] { read_csv(path); }),
            path + ": line 2, column 5: the row has 31 fields, expected 4 (as on line 1)");
  CsvOptions o;
  o.skip_rows = 1;
  const Dataset d = read_csv(path, o);
  ASSERT_EQ(d.size(), 569u);
  EXPECT_EQ(d.sample_shape, Shape({30}));
  EXPECT_EQ(d.num_classes, 2u);
  EXPECT_TRUE(d.class_names.empty());  // integer labels 0/1, used as they are
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  std::size_t ones = 0;
  for (std::size_t row = 0; row < 569; ++row) {
    const std::vector<double> expected = line_values(text, row + 1, ',');
    ASSERT_EQ(expected.size(), 31u) << row;
    for (std::size_t j = 0; j < 30; ++j)
      ASSERT_EQ(d.values[row * 30 + j], static_cast<float>(expected[j])) << row << "," << j;
    ASSERT_EQ(d.labels[row], static_cast<std::int32_t>(expected[30])) << row;
    ones += d.labels[row] == 1;
  }
  EXPECT_EQ(d.values[0], 17.99f);  // the file's first value, as printed in it
  EXPECT_EQ(ones, 357u);           // benign, as scikit-learn's documentation counts them
}

TEST(Csv, SklearnDiabetesWithTargetsInASeparateGzipFile) {
  const std::string x = kSklearnData + "/diabetes_data_raw.csv.gz",
                    y = kSklearnData + "/diabetes_target.csv.gz";
  if (!std::filesystem::exists(x) || !std::filesystem::exists(y))
    GTEST_SKIP() << x << " or " << y << " is missing (python3-sklearn)";
  CsvOptions o;
  o.targets_path = y;
  const Dataset d = read_csv(x, o);
  ASSERT_EQ(d.size(), 442u);
  EXPECT_EQ(d.sample_shape, Shape({10}));
  ASSERT_EQ(d.targets.size(), 442u);
  EXPECT_EQ(d.target_size, 1u);
  EXPECT_TRUE(d.labels.empty());
  EXPECT_TRUE(d.feature_names.empty());
  const std::string xt = gunzip_file(x), yt = gunzip_file(y);
  for (std::size_t row = 0; row < 442; ++row) {
    const std::vector<double> expected = line_values(xt, row, ' ');
    ASSERT_EQ(expected.size(), 10u) << row;
    for (std::size_t j = 0; j < 10; ++j)
      ASSERT_EQ(d.values[row * 10 + j], static_cast<float>(expected[j])) << row << "," << j;
    ASSERT_EQ(d.targets[row], static_cast<float>(line_values(yt, row, ' ').at(0))) << row;
  }
  // The first row and target as the files print them.
  EXPECT_EQ(std::vector<float>(d.values.begin(), d.values.begin() + 3),
            std::vector<float>({59, 2, 32.1f}));
  EXPECT_EQ(d.targets[0], 151.0f);
}
